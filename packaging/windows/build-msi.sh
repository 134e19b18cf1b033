#!/usr/bin/env bash
# Builds the Windows installer (driftwatch-<version>-x64.msi) from a built
# driftwatch.exe, with wixl (Debian: apt-get install wixl).
#
#   cargo build --release --target x86_64-pc-windows-gnu -p driftwatch
#   bash packaging/windows/build-msi.sh [EXE] [OUT_DIR]
#
# EXE defaults to target/x86_64-pc-windows-gnu/release/driftwatch.exe and
# OUT_DIR to the folder it is in. Prints the MSI's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exe="${1:-$repo/target/x86_64-pc-windows-gnu/release/driftwatch.exe}"
out="${2:-$(dirname "$exe")}"
[ -f "$exe" ] || { echo "no $exe: build it first (see above)" >&2; exit 1; }
command -v wixl > /dev/null || { echo "wixl is missing (Debian: apt-get install wixl)" >&2; exit 1; }

# VERSION overrides the workspace's (an upgrade test builds a newer one).
version="${VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)}"
mkdir -p "$out"
msi="$(cd "$out" && pwd)/driftwatch-$version-x64.msi"
# wixl finds sources relative to where it runs.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$exe" "$stage/driftwatch.exe"
cp "$here/driftwatch.wxs" "$stage/"
(cd "$stage" && wixl --arch x64 -D Version="$version" -o "$msi" driftwatch.wxs)
echo "$msi"
