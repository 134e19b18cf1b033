#!/usr/bin/env bash
# The state directory's file system fills up mid-collection: the scan must
# fail with a clear error, the database must stay sound, and the next scan
# after space returns must record everything, once.
#
#   sudo tests/scripts/full-disk.sh [FILES]      (default 30000; needs root for a tmpfs mount)
#
# Needs: a release build (target/release/driftwatch), python3, mount.
set -euo pipefail
files=${1:-30000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${DRIFTWATCH:-$here/../../target/release/driftwatch}
work=$(mktemp -d)
state="$work/state"
mkdir -p "$state"
mount -t tmpfs -o size=2m tmpfs "$state"
trap 'umount "$state" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 "$here/make-tree.py" "$work/root/data" "$files" 1000 64
cat > "$work/manifest.toml" <<'TOML'
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/data"
  recurse = true
TOML
dw() { "$bin" --state "$state" --root "$work/root" --manifest "$work/manifest.toml" "$@"; }
check() {
    python3 - "$state/driftwatch.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("  integrity:", db.execute("PRAGMA integrity_check").fetchone()[0],
      "| items:", db.execute("SELECT count(*) FROM ConfigurationData").fetchone()[0],
      "| runs:", db.execute("SELECT group_concat(Outcome) FROM CollectorRun").fetchone()[0])
PY
}

echo "1. scan with a 2 MiB state file system ($files files)"
set +e
dw scan > "$work/out1" 2> "$work/err1"; code=$?
set -e
echo "  exit code $code; what it said:"
sed 's/^/    /' "$work/out1" "$work/err1" | grep -v '^    $' | head -8
df -h "$state" | tail -1 | sed 's/^/  /'
check

echo "2. space returns (remounted at 256 MiB); scan again"
mount -o remount,size=256m "$state"
dw scan > /dev/null
check
echo "3. one file changed; scan again"
echo changed >> "$(find "$work/root/data" -type f | head -1)"
dw scan --json | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print("  changes:", r[0]["Changes"])'
check
n=$(dw changes --json | wc -l)
echo "  change rows: $n (expected 1)"
test "$n" = 1
