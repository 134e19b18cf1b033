#!/usr/bin/env bash
# The Windows test suite, under Wine: builds driftwatch.exe (mingw-w64),
# makes a fresh Wine prefix, runs the agent's unit tests built for Windows
# under Wine, then tests/wine/main.rs against the exe (seeded registry,
# Wine's services and Service Control Manager, a C:\ tree).
#
#   bash tests/wine/run.sh
#
# Then the MSI (packaging/windows/build-msi.sh, and a newer one to upgrade
# to) installed by Wine's msiexec: the agent as a service.
#
# Needs: the x86_64-pc-windows-gnu target, gcc-mingw-w64-x86-64, wine64 + wine, wixl.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
started=$(date +%s)

cargo build --release --target "$target" -p driftwatch
out="target/$target/release"
# Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), which Rust's standard
# library calls: a stand-in next to the exe, for Wine only (see the .c file).
x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" tests/wine/bcryptprimitives.c -ladvapi32

work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all
trap 'wineserver -k 2>/dev/null || true; rm -rf "$work"' EXIT
wineboot --init > /dev/null 2>&1
wineserver -w
# Also where any exe of the prefix finds it (the installed service's, say).
cp "$out/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
echo "wine prefix ready in $(( $(date +%s) - started )) s (build included)"

# The agent's unit tests, built for Windows, run by Wine.
cp "$out/bcryptprimitives.dll" "$out/deps/"
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
    cargo test --release --target "$target" -p driftwatch --lib

# The installer, and a newer one (patch version + 1) for the upgrade.
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
msi=$(bash packaging/windows/build-msi.sh "$out/driftwatch.exe" "$work/msi" 2> "$work/wixl.log") \
    || { cat "$work/wixl.log"; exit 1; }
msi_next=$(VERSION="${version%.*}.$(( ${version##*.} + 1 ))" \
    bash packaging/windows/build-msi.sh "$out/driftwatch.exe" "$work/msi" 2> "$work/wixl.log") \
    || { cat "$work/wixl.log"; exit 1; }

# End to end: driftwatch.exe on the live (Wine) registry, services and files,
# and installed as a service.
DRIFTWATCH_EXE="$PWD/$out/driftwatch.exe" DRIFTWATCH_MSI="$msi" DRIFTWATCH_MSI_NEXT="$msi_next" \
    cargo test --release -p driftwatch --test wine -- --ignored --test-threads=1 --nocapture
echo "wine suite: $(( $(date +%s) - started )) s in all"
