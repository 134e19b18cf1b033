#!/usr/bin/env bash
# File-scanning benchmark: driftwatch's files collector (MD5) against
# `find | xargs md5sum` (and `md5deep -r` when installed), and its unchanged
# rescan against the floor of listing and stat'ing the same tree, all
# measured in the same run.
#
#   tests/scripts/bench-files.sh [WORKDIR]            (a) and (b)
#   BENCH_MILLION=1 tests/scripts/bench-files.sh      (c) as well
#
#   (a) 100,000 files of 1 KiB in 1,000 directories: first scan, unchanged
#       rescan, `scan --full`
#   (b) 20 files of 50 MiB: throughput
#   (c) 1,000,000 files of 200 bytes in 10,000 directories: first scan,
#       rescan, peak RSS, size of the store
#
# Figures are medians of 5 runs (3 for (c)) with the page cache warm (every
# tool reads the same cached files). "first" starts from an empty state
# database with the plugin already compiled (once per installation); "fresh"
# from an empty state directory, compile included. The floors: `find
# -printf` (one core) and `examples/stat_walk.rs` (every core), which only
# list and stat. Needs a release build, python3 and GNU time; md5deep
# (Debian package hashdeep) is optional.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${DRIFTWATCH:-$top/target/release/driftwatch}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
(cd "$top" && cargo build --release --quiet --example stat_walk)
stat_walk=$top/target/release/examples/stat_walk

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
timed() { # prints wall seconds of a command
    local start end
    sync   # the previous run's database writes must not compete with this one
    start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}
runs=5
repeat() { for _ in $(seq "$runs"); do timed "$@"; done | median; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
line() { printf '%-38s %8.3f s%s\n' "$1" "$2" "${3:+   ($3)}"; }

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

dw() { "$bin" --state "$work/state-$1" --root "$work/$1" --manifest "$work/$1.toml" scan "${@:2}"; }
dw_first() { rm -f "$work/state-$1"/driftwatch.db*; dw "$1"; }
dw_fresh() { rm -rf "$work/state-$1"; dw "$1"; }
md5sum_tree() { find "$work/$1/data" -type f -print0 | xargs -0 md5sum; }
md5deep_tree() { md5deep -r "$work/$1/data"; }
find_stat() { find "$work/$1/data" -printf '%s %T@\n'; }
walk_stat() { "$stat_walk" "$work/$1/data"; }
rss_kib() { /usr/bin/time -f %M "$@" 2>&1 > /dev/null | tail -n 1; }

first_scan() { # name: prints the comparisons of a first scan, sets FIRST and MD5
    local t=$1 md5 deep="" first fresh
    md5sum_tree "$t" > /dev/null                       # warm the page cache
    dw_fresh "$t" > /dev/null                           # and compile the plugin once
    md5=$(repeat md5sum_tree "$t")
    line "find | xargs md5sum" "$md5"
    if command -v md5deep > /dev/null; then
        deep=$(repeat md5deep_tree "$t")
        line "md5deep -r" "$deep"
    fi
    first=$(repeat dw_first "$t")
    line "driftwatch scan, first" "$first" "$(ratio "$first" "$md5")x md5sum${deep:+, $(ratio "$first" "$deep")x md5deep}"
    fresh=$(repeat dw_fresh "$t")
    line "driftwatch scan, fresh state dir" "$fresh" "$(ratio "$fresh" "$md5")x md5sum, plugin compile included"
    dw_first "$t" > /dev/null
    FIRST=$first MD5=$md5
}

rescan() { # name: the unchanged rescan against the stat-only floors
    local t=$1 again floor walk
    floor=$(repeat find_stat "$t")
    walk=$(repeat walk_stat "$t")
    line "floor: find -printf (1 core)" "$floor"
    line "floor: stat_walk (every core)" "$walk"
    again=$(repeat dw "$t")
    line "driftwatch scan, nothing changed" "$again" "$(ratio "$again" "$floor")x find -printf, $(ratio "$again" "$walk")x stat_walk"
}

echo "== (a) 100,000 files x 1 KiB in 1,000 directories"
tree small 100000 1000 1024
first_scan small
rescan small
full=$(repeat dw small --full)
line "driftwatch scan --full, unchanged" "$full" "$(ratio "$full" "$MD5")x md5sum"

echo "== (b) 20 files x 50 MiB"
tree big 20 1 $((50 << 20))
first_scan big
bytes=$((20 * 50 << 20))
echo "throughput: md5sum $(python3 -c "print(int($bytes / $MD5 / 1048576))") MiB/s, driftwatch $(python3 -c "print(int($bytes / $FIRST / 1048576))") MiB/s"

if [ "${BENCH_MILLION:-}" = 1 ]; then
    runs=3
    echo "== (c) 1,000,000 files x 200 bytes in 10,000 directories"
    tree huge 1000000 10000 200
    first_scan huge
    dw_args=(--state "$work/state-huge" --root "$work/huge" --manifest "$work/huge.toml" scan)
    rm -f "$work/state-huge"/driftwatch.db*
    echo "peak RSS, first scan: $(( $(rss_kib "$bin" "${dw_args[@]}") / 1024 )) MiB"
    echo "store: $(du -ch "$work"/state-huge/driftwatch.db* | tail -n 1 | cut -f1)"
    rescan huge
    echo "peak RSS, rescan: $(( $(rss_kib "$bin" "${dw_args[@]}") / 1024 )) MiB"
fi
