#!/usr/bin/env bash
# File-scanning benchmark: driftwatch's files collector (MD5) against
# `find | xargs md5sum` and `md5deep -r`, measured in the same run.
#
#   tests/scripts/bench-files.sh [WORKDIR]
#
#   (a) 100,000 files of 1 KiB in 1,000 directories
#   (b) 20 files of 50 MiB
#   (c) a second driftwatch scan of (a) with nothing changed
#
# Each figure is the median of 5 runs with the page cache warm (every tool
# reads the same cached files). The first driftwatch scan starts from an empty
# state database but an already compiled plugin (compiling happens once per
# installation, not once per tree); `--full` forces a rescan to read
# everything again. Needs a release build, python3, and md5deep (Debian
# package hashdeep; without it that column is skipped).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${DRIFTWATCH:-$here/../../target/release/driftwatch}
work=${1:-$(mktemp -d)}
mkdir -p "$work"

median() { sort -n | sed -n '3p'; }
timed() { # prints wall seconds of a command
    local start end
    sync   # the previous run's database writes must not compete with this one
    start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}
five() { for _ in 1 2 3 4 5; do timed "$@"; done | median; }

tree() { # name, files, dirs, size
    [ -d "$work/$1/data" ] || python3 "$here/make-tree.py" "$work/$1/data" "$2" "$3" "$4"
    cat > "$work/$1.toml" <<TOML
[[collector]]
name = "bench"
kind = "files"
plugin = "files-posix"
timeout = "30m"
max_items = 10000000
  [[collector.paths]]
  path = "/data"
  recurse = true
  checksum = "md5"
TOML
}

dw_first() { rm -f "$work/state-$1"/driftwatch.db*; "$bin" --state "$work/state-$1" --root "$work/$1" --manifest "$work/$1.toml" scan; }
dw_again() { "$bin" --state "$work/state-$1" --root "$work/$1" --manifest "$work/$1.toml" scan; }
md5sum_tree() { find "$work/$1/data" -type f -print0 | xargs -0 md5sum; }
md5deep_tree() { md5deep -r "$work/$1/data"; }

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

report() { # name
    local t=$1
    md5sum_tree "$t" > /dev/null                       # warm the page cache
    dw_first "$t" > /dev/null                           # and compile the plugin once
    local find first deep=""
    find=$(five md5sum_tree "$t")
    first=$(five dw_first "$t")
    printf '%-34s %8.3f s\n' "find | xargs md5sum" "$find"
    if command -v md5deep > /dev/null; then
        deep=$(five md5deep_tree "$t")
        printf '%-34s %8.3f s\n' "md5deep -r" "$deep"
    fi
    printf '%-34s %8.3f s   (%sx find|md5sum%s)\n' "driftwatch scan, first" "$first" "$(ratio "$first" "$find")" \
        "${deep:+, $(ratio "$first" "$deep")x md5deep}"
    FIRST=$first
}

echo "== (a) 100,000 files x 1 KiB in 1,000 directories"
tree small 100000 1000 1024
report small
again=$(five dw_again small)
printf '%-34s %8.3f s   (first / rescan = %sx)\n' "driftwatch scan, nothing changed" "$again" "$(ratio "$FIRST" "$again")"
full=$(five "$bin" --state "$work/state-small" --root "$work/small" --manifest "$work/small.toml" scan --full)
printf '%-34s %8.3f s\n' "driftwatch scan --full, unchanged" "$full"

echo "== (b) 20 files x 50 MiB"
tree big 20 1 $((50 << 20))
report big
bytes=$((20 * 50 << 20))
echo "throughput: driftwatch $(python3 -c "print(int($bytes / $FIRST / 1048576))") MiB/s"
