#!/usr/bin/env bash
# Builds the Linux packages of the agent (driftwatch) or of the fleet server
# (driftwatch-server): a .deb (dpkg-deb) and an .rpm (rpmbuild), each with
# the binary, its systemd unit, its configuration file under /etc/driftwatch
# (kept across upgrades), the man pages and the bash, zsh and fish
# completions (both made by the binary from its own command-line definition).
# The agent's service is enabled on install, not started; the server's is
# neither (it needs a database and a certificate first).
#
#   bash packaging/linux/build-packages.sh [--package driftwatch|driftwatch-server] [--binary FILE]
#                                          [--version V] [--release N] [--out DIR] [--only deb|rpm]
#
# Without --binary it builds target/release/PACKAGE first. Needs dpkg-deb,
# rpmbuild (Debian: apt install rpm), binutils (strip, objdump) and gzip; the
# packages are for this machine's architecture, which the binary must match.
# Prints the packages' paths, the .deb first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

package=driftwatch binary="" version="" release=1 out="$repo/target/packages" only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --package) package=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --release) release=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-packages.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
# What differs between the two: the unit, and the configuration file
# (source, installed name, mode).
case "$package" in
    driftwatch)
        unit="$repo/host/dist/driftwatch.service"
        config=("$repo/host/src/manifest/defaults/builtin.toml" manifest.toml 0644) ;;
    driftwatch-server)
        unit="$repo/server/dist/driftwatch-server.service"
        config=("$repo/server/dist/server.env" server.env 0600) ;;
    *) echo "build-packages.sh: no package $package (driftwatch or driftwatch-server)" >&2; exit 2 ;;
esac
if [ -z "$binary" ]; then
    (cd "$repo" && cargo build --release -p "$package")
    binary="$repo/target/release/$package"
fi
[ -x "$binary" ] || { echo "build-packages.sh: $binary is not an executable" >&2; exit 1; }
if [ -z "$version" ]; then
    version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Made once for both packages: the stripped binary, the unit with the
# packaged binary's path, the man pages (gzipped) and the completions.
common="$work/common"
mkdir -p "$common/man"
install -m 0755 "$binary" "$common/$package"
strip --strip-unneeded "$common/$package" 2> /dev/null || true
sed -e "s|/usr/local/bin/$package |/usr/bin/$package |" \
    -e "1s|^\(# systemd unit for .*\)\. Install: see README.md.*|\1, installed by the $package package.|" \
    "$unit" > "$common/$package.service"
"$binary" man "$common/man" > /dev/null
gzip -9n "$common"/man/*.1
for shell in bash zsh fish; do
    "$binary" completions "$shell" > "$common/completion.$shell"
done

# What both packages hold, laid out from /. The systemd unit's folder and
# zsh's differ between the two families.
stage() {
    local root=$1 unit_dir=$2 zsh_dir=$3
    install -D -m 0755 "$common/$package" "$root/usr/bin/$package"
    install -D -m "${config[2]}" "${config[0]}" "$root/etc/driftwatch/${config[1]}"
    install -D -m 0644 "$common/$package.service" "$root$unit_dir/$package.service"
    install -d "$root/usr/share/man/man1"
    install -m 0644 "$common"/man/*.1.gz "$root/usr/share/man/man1/"
    install -D -m 0644 "$common/completion.bash" "$root/usr/share/bash-completion/completions/$package"
    install -D -m 0644 "$common/completion.zsh" "$root$zsh_dir/_$package"
    install -D -m 0644 "$common/completion.fish" "$root/usr/share/fish/vendor_completions.d/$package.fish"
}

# The .deb's Depends, from the shared libraries the binary links: the C
# library at the newest symbol version it uses, and libgcc's unwinder.
# Runs in a command substitution, where set -e does not reach: every
# failure is checked.
deb_depends() {
    local file=$1 depends=() library headers symbols glibc
    headers=$(objdump -p "$file") || { echo "build-packages.sh: objdump cannot read $file" >&2; return 1; }
    for library in $(awk '$1 == "NEEDED" { print $2 }' <<< "$headers"); do
        case "$library" in
            libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*)
                symbols=$(objdump -T "$file") || return 1
                glibc=$(grep -o 'GLIBC_[0-9.]*' <<< "$symbols" | sed 's/GLIBC_//' | sort -V | tail -1)
                [ -n "$glibc" ] || { echo "build-packages.sh: $file names no GLIBC symbol version" >&2; return 1; }
                depends+=("libc6 (>= $glibc)") ;;
            libgcc_s.so.1) depends+=("libgcc-s1 (>= 3.0)") ;;
            *) echo "build-packages.sh: $file links $library, which no package is known for" >&2; return 1 ;;
        esac
    done
    [ ${#depends[@]} -gt 0 ] || { echo "build-packages.sh: $file links no shared library: not a build for these packages" >&2; return 1; }
    printf '%s\n' "${depends[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

deb() {
    local root="$work/deb"
    stage "$root" /lib/systemd/system /usr/share/zsh/vendor-completions
    local doc="$root/usr/share/doc/$package"
    install -d "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
    install -m 0644 "$here/debian/copyright" "$doc/copyright"
    {
        echo "$package ($version-$release) unstable; urgency=medium"
        echo
        echo "  * Release $version."
        echo
        echo " -- driftwatch maintainers <maintainers@driftwatch.invalid>  $(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2> /dev/null || date +%s)}")"
    } | gzip -9n > "$doc/changelog.Debian.gz"
    chmod 0644 "$doc/changelog.Debian.gz"
    local scripts="$here/debian/$package"
    install -m 0644 "$scripts/lintian-overrides" "$root/usr/share/lintian/overrides/$package"
    local size depends
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    depends=$(deb_depends "$root/usr/bin/$package")
    sed -e "s/@VERSION@/$version-$release/" -e "s/@ARCH@/$(dpkg --print-architecture)/" \
        -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" "$scripts/control" > "$root/DEBIAN/control"
    echo "/etc/driftwatch/${config[1]}" > "$root/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "$scripts/$script" "$root/DEBIAN/$script"
    done
    (cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
        > "$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
    local file="$out/${package}_${version}-${release}_$(dpkg --print-architecture).deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$file" > /dev/null
    echo "$file"
}

rpm_package() {
    local root="$work/rpm-root"
    stage "$root" /usr/lib/systemd/system /usr/share/zsh/site-functions
    install -d "$root/usr/share/licenses/$package"
    install -m 0644 "$here/debian/copyright" "$root/usr/share/licenses/$package/COPYRIGHT"
    if [ "$package" = driftwatch ]; then
        install -d "$root/var/lib/driftwatch"
    fi
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
        "$here/$package.spec" > /dev/null
    echo "$out/$package-$version-$release.$(uname -m).rpm"
}

[ "$only" = rpm ] || deb
[ "$only" = deb ] || rpm_package
