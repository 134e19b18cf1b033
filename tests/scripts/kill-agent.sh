#!/usr/bin/env bash
# Kills the agent with SIGKILL in the middle of large collections, again and
# again, changing one file before each start, then checks that the store is
# sound and that every change was recorded exactly once.
#
#   tests/scripts/kill-agent.sh [ROUNDS] [FILES]     (defaults: 20 rounds, 100000 files)
#   KILL_FULL=1 tests/scripts/kill-agent.sh ...      every run a full collection,
#                                                    streamed into the store as it goes
#
# Needs: a release build (target/release/driftwatch), python3.
set -euo pipefail
rounds=${1:-20}
files=${2:-100000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${DRIFTWATCH:-$here/../../target/release/driftwatch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$here/make-tree.py" "$work/root/data" "$files" 1000 1024
cat > "$work/manifest.toml" <<'TOML'
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
interval = "2s"
incremental = INCREMENTAL
  [[collector.paths]]
  path = "/data"
  recurse = true
  checksum = "md5"
TOML
incremental=true
[ "${KILL_FULL:-}" = 1 ] && incremental=false
sed -i "s/INCREMENTAL/$incremental/" "$work/manifest.toml"
dw() { "$bin" --state "$work/state" --root "$work/root" --manifest "$work/manifest.toml" "$@"; }
dw scan > /dev/null
echo "baseline: $(dw inventory --json | wc -l) files"

for round in $(seq 1 "$rounds"); do
    # One change per round, made while the agent is down.
    printf 'round %s\n' "$round" >> "$work/root/data/d$(printf %04d "$round")/f000000"
    RUST_LOG=info "$bin" --state "$work/state" --root "$work/root" --manifest "$work/manifest.toml" run \
        2>> "$work/agent.log" &
    pid=$!
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 2.5), 2))')"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$work/state/driftwatch.db" "$round" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
check = db.execute("PRAGMA integrity_check").fetchone()[0]
runs = db.execute("SELECT count(*) FROM CollectorRun").fetchone()[0]
changes = db.execute("SELECT count(*) FROM ConfigurationChange").fetchone()[0]
print(f"round {sys.argv[2]:>2}: integrity {check}, {runs} runs, {changes} change rows so far")
assert check == "ok", check
PY
    dw status --json > /dev/null   # the store opens cleanly for the CLI too
done

# Whatever the last kill interrupted is picked up by one more collection.
dw scan > /dev/null
python3 - "$work/state/driftwatch.db" "$rounds" "$work/root/data" <<'PY'
import hashlib, sqlite3, sys
db, rounds, data = sqlite3.connect(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rows = db.execute(
    "SELECT FileSystemPath, ChangeCategory, FieldsChanged, PreviousFileContentChecksum, FileContentChecksum "
    "FROM ConfigurationChange ORDER BY ChangeId").fetchall()
per_file = {}
for path, category, fields, previous, current in rows:
    per_file.setdefault(path, []).append((category, previous, current))
problems = []
for round in range(1, rounds + 1):
    path = f"/data/d{round:04}/f000000"
    with open(f"{data}/d{round:04}/f000000", "rb") as f:
        now = hashlib.md5(f.read()).hexdigest()
    found = per_file.pop(path, [])
    if len(found) != 1 or found[0][0] != "Modified" or found[0][2] != now:
        problems.append(f"{path}: {found}")
problems += [f"unexpected: {p} {c}" for p, c in per_file.items()]
duplicates = db.execute(
    "SELECT count(*) FROM (SELECT ItemKey, FileContentChecksum FROM ConfigurationChange "
    "GROUP BY ItemKey, FileContentChecksum HAVING count(*) > 1)").fetchone()[0]
print(f"{len(rows)} change rows for {rounds} changed files; duplicates: {duplicates}; problems: {len(problems)}")
for p in problems:
    print("  " + p)
sys.exit(1 if problems or duplicates else 0)
PY
committed=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM CollectorRun').fetchone()[0] - 2)" "$work/state/driftwatch.db")
echo "$rounds agent starts, each ended by SIGKILL: $committed collections committed in all; the rest were cut short and redone"
