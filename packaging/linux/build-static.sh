#!/usr/bin/env bash
# Builds the agent as one static executable (musl, x86_64) that runs on any
# x86_64 Linux, whatever its C library: for machines no package fits.
#
#   bash packaging/linux/build-static.sh [--out DIR]
#
# Needs the Rust target (rustup target add x86_64-unknown-linux-musl) and
# musl's C compiler for the bundled SQLite (Debian: apt install musl-tools).
# Prints the file's path: DIR/driftwatch-VERSION-x86_64-linux-static
# (DIR defaults to target/packages).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
target=x86_64-unknown-linux-musl

out="$repo/target/packages"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-static.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v musl-gcc > /dev/null \
    || { echo "build-static.sh: musl-gcc is needed (Debian: apt install musl-tools)" >&2; exit 1; }
rustup target list --installed | grep -qx "$target" \
    || { echo "build-static.sh: the Rust target is needed (rustup target add $target)" >&2; exit 1; }

cd "$repo"
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --target "$target" -p driftwatch >&2
binary="target/$target/release/driftwatch"
# Static means no interpreter and no shared library to load.
headers=$(objdump -p "$binary")
if dynamic=$(grep -E '^ *(NEEDED|INTERP)' <<< "$headers"); then
    echo "build-static.sh: $binary is not static:" >&2
    echo "$dynamic" >&2
    exit 1
fi
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
mkdir -p "$out"
file="$(cd "$out" && pwd)/driftwatch-$version-x86_64-linux-static"
install -m 0755 "$binary" "$file"
strip --strip-unneeded "$file"
echo "$file"
