#!/usr/bin/env bash
# Builds the agent's Linux packages: a .deb (dpkg-deb) and an .rpm (rpmbuild),
# each with the binary, the systemd unit (enabled on install, not started),
# the default manifest as a configuration file kept across upgrades, the man
# pages and the bash, zsh and fish completions (both made by the binary from
# its own command-line definition).
#
#   bash packaging/linux/build-packages.sh [--binary FILE] [--version V] [--release N] [--out DIR] [--only deb|rpm]
#
# Without --binary it builds target/release/driftwatch first. Needs dpkg-deb,
# rpmbuild (Debian: apt install rpm), binutils (strip, objdump) and gzip; the
# packages are for this machine's architecture, which the binary must match.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

binary="" version="" release=1 out="$repo/target/packages" only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --release) release=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-packages.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    (cd "$repo" && cargo build --release -p driftwatch)
    binary="$repo/target/release/driftwatch"
fi
[ -x "$binary" ] || { echo "build-packages.sh: $binary is not an executable" >&2; exit 1; }
if [ -z "$version" ]; then
    version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What both packages hold, laid out from /. The systemd unit's folder and
# zsh's differ between the two families: placed per package below.
stage() {
    local root=$1 unit_dir=$2 zsh_dir=$3
    install -d "$root/usr/bin" "$root/etc/driftwatch" "$root$unit_dir" "$root/usr/share/man/man1" \
        "$root/usr/share/bash-completion/completions" "$root$zsh_dir" "$root/usr/share/fish/vendor_completions.d"
    install -m 0755 "$binary" "$root/usr/bin/driftwatch"
    strip --strip-unneeded "$root/usr/bin/driftwatch" 2> /dev/null || true
    install -m 0644 "$repo/host/src/manifest/defaults/builtin.toml" "$root/etc/driftwatch/manifest.toml"
    sed 's|^ExecStart=/usr/local/bin/driftwatch |ExecStart=/usr/bin/driftwatch |; s|^# Install: see README.md.*|# Installed by the driftwatch package.|' \
        "$repo/host/dist/driftwatch.service" > "$root$unit_dir/driftwatch.service"
    chmod 0644 "$root$unit_dir/driftwatch.service"
    "$binary" man "$work/man" > /dev/null
    for page in "$work"/man/*.1; do
        gzip -9n < "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
    done
    rm -rf "$work/man"
    "$binary" completions bash > "$root/usr/share/bash-completion/completions/driftwatch"
    "$binary" completions zsh > "$root$zsh_dir/_driftwatch"
    "$binary" completions fish > "$root/usr/share/fish/vendor_completions.d/driftwatch.fish"
    chmod 0644 "$root/usr/share/bash-completion/completions/driftwatch" "$root$zsh_dir/_driftwatch" \
        "$root/usr/share/fish/vendor_completions.d/driftwatch.fish" "$root"/usr/share/man/man1/*
}

deb() {
    local root="$work/deb"
    stage "$root" /lib/systemd/system /usr/share/zsh/vendor-completions
    local doc="$root/usr/share/doc/driftwatch"
    install -d "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
    install -m 0644 "$here/debian/copyright" "$doc/copyright"
    {
        echo "driftwatch ($version-$release) unstable; urgency=medium"
        echo
        echo "  * Release $version."
        echo
        echo " -- driftwatch maintainers <maintainers@driftwatch.invalid>  $(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2> /dev/null || date +%s)}")"
    } | gzip -9n > "$doc/changelog.Debian.gz"
    install -m 0644 "$here/debian/lintian-overrides" "$root/usr/share/lintian/overrides/driftwatch"
    chmod 0644 "$doc/changelog.Debian.gz"
    # The C library version the binary needs: the newest symbol version it uses.
    local glibc
    glibc=$(objdump -T "$root/usr/bin/driftwatch" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
    local size
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    sed -e "s/@VERSION@/$version-$release/" -e "s/@ARCH@/$(dpkg --print-architecture)/" \
        -e "s/@SIZE@/$size/" -e "s/@GLIBC@/$glibc/" "$here/debian/control" > "$root/DEBIAN/control"
    echo /etc/driftwatch/manifest.toml > "$root/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "$here/debian/$script" "$root/DEBIAN/$script"
    done
    (cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
        > "$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
    local file="$out/driftwatch_${version}-${release}_$(dpkg --print-architecture).deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$file" > /dev/null
    echo "$file"
}

rpm_package() {
    local root="$work/rpm-root"
    stage "$root" /usr/lib/systemd/system /usr/share/zsh/site-functions
    install -d "$root/var/lib/driftwatch" "$root/usr/share/licenses/driftwatch"
    install -m 0644 "$here/debian/copyright" "$root/usr/share/licenses/driftwatch/COPYRIGHT"
    local top="$work/rpmbuild"
    mkdir -p "$top"
    rpmbuild -bb --quiet \
        --define "_topdir $top" \
        --define "_rpmdir $out" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --define "driftwatch_version $version" \
        --define "driftwatch_release $release" \
        --define "driftwatch_stage $root" \
        --target "$(uname -m)" \
        "$here/driftwatch.spec" > /dev/null
    echo "$out/driftwatch-$version-$release.$(uname -m).rpm"
}

[ "$only" = rpm ] || deb
[ "$only" = deb ] || rpm_package
