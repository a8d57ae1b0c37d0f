#!/usr/bin/env bash
# Builds the Debian package tesseras_<version>_amd64.deb: tesd and tes, the
# systemd unit tesd.service (user tesseras, StateDirectory=tesseras), the
# system user (sysusers.d), man pages tes(1) and tesd(8) made by help2man from
# the binaries' own --help, bash completion for tes, /etc/tesseras/tesd.toml
# with every key commented (from tesd --print-config), /etc/default/tesd, the
# docs and the Grafana dashboard. Then packaging/check-package.sh checks it.
#
#   scripts/package.sh [--build-dir DIR] [--out DIR] [--no-check]
#     --build-dir  take tesd and tes from DIR/src/... instead of building the
#                  hardened release flavour (build/package); the tests use it
#     --out        where the .deb goes (default build/package)
#     --no-check   do not run packaging/check-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=""
OUT=build/package
CHECK=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --no-check) CHECK=0 ;;
    *) echo "usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--no-check]" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$BUILD_DIR" ]; then
  ./scripts/build.sh package tesd tes
  BUILD_DIR=build/package
fi
TESD="$BUILD_DIR/src/daemon/tesd"
TES="$BUILD_DIR/src/cli/tes"
[ -x "$TESD" ] && [ -x "$TES" ] || { echo "package: no tesd/tes in $BUILD_DIR" >&2; exit 2; }

VERSION=$("$TESD" --version | awk '{print $2}')
ARCH=$(dpkg --print-architecture)
MAINTAINER="Tesseras developers <tesseras@maintainers.invalid>"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tesseras-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"

# Files are installed with their final modes; dpkg-deb --root-owner-group
# makes root own them.
umask 022
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/lib/systemd/system" "$ROOT/usr/lib/sysusers.d" \
  "$ROOT/etc/tesseras" "$ROOT/etc/default" "$ROOT/usr/share/bash-completion/completions" \
  "$ROOT/usr/share/man/man1" "$ROOT/usr/share/man/man8" "$ROOT/usr/share/doc/tesseras/examples"
for b in "$TESD" "$TES"; do
  install -m 0755 "$b" "$ROOT/usr/bin/"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/$(basename "$b")"
done
install -m 0644 packaging/tesd.service "$ROOT/lib/systemd/system/tesd.service"
install -m 0644 packaging/tesseras.sysusers "$ROOT/usr/lib/sysusers.d/tesseras.conf"
install -m 0644 packaging/tesd.default "$ROOT/etc/default/tesd"
install -m 0644 packaging/tes.bash-completion "$ROOT/usr/share/bash-completion/completions/tes"

# The default configuration: every key, commented out, with its meaning and range.
{
  echo "# tesd configuration (TOML), read by tesd.service."
  echo "# Every key is optional and shown commented out with its default; remove"
  echo "# the '#' to change one. docs: /usr/share/doc/tesseras/DAEMON.md.gz"
  echo
  "$TESD" --print-config | sed -E 's/^([a-z_]+ = )/# \1/'
} > "$ROOT/etc/tesseras/tesd.toml"
chmod 0644 "$ROOT/etc/tesseras/tesd.toml"
# It must parse, and give the defaults.
diff <("$TESD" --config "$ROOT/etc/tesseras/tesd.toml" --print-config) <("$TESD" --print-config) >/dev/null \
  || { echo "package: the commented default config does not give the defaults" >&2; exit 1; }

# Man pages from the real --help and --version.
help2man --no-info --section 8 --name "the Tesseras node daemon" \
  --include packaging/man/tesd.h2m --output "$WORK/tesd.8" "$TESD"
help2man --no-info --section 1 --name "the command line of a Tesseras node" \
  --include packaging/man/tes.h2m --output "$WORK/tes.1" "$TES"
gzip -9n -c "$WORK/tesd.8" > "$ROOT/usr/share/man/man8/tesd.8.gz"
gzip -9n -c "$WORK/tes.1" > "$ROOT/usr/share/man/man1/tes.1.gz"

# Docs: copyright, a changelog, the reference and the Grafana dashboard.
DOC="$ROOT/usr/share/doc/tesseras"
install -m 0644 packaging/debian/copyright "$DOC/copyright"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
printf 'tesseras (%s) unstable; urgency=medium\n\n  * Built from the Tesseras repository, commit %s.\n\n -- %s  %s\n' \
  "$VERSION" "$COMMIT" "$MAINTAINER" "$DATE" | gzip -9n > "$DOC/changelog.gz"
gzip -9n -c docs/DAEMON.md > "$DOC/DAEMON.md.gz"
gzip -9n -c README.md > "$DOC/README.md.gz"
install -m 0644 packaging/grafana-dashboard.json "$DOC/examples/grafana-dashboard.json"

# Maintainer scripts and control data.
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ROOT/DEBIAN/"
printf '/etc/default/tesd\n/etc/tesseras/tesd.toml\n' > "$ROOT/DEBIAN/conffiles"
# dpkg-shlibdeps reads debian/control of a source tree: give it a minimal one.
mkdir -p "$WORK/src/debian"
printf 'Source: tesseras\n\nPackage: tesseras\nArchitecture: any\n' > "$WORK/src/debian/control"
DEPENDS=$(cd "$WORK/src" && dpkg-shlibdeps -O "$ROOT/usr/bin/tesd" "$ROOT/usr/bin/tes" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$SIZE/" -e "s|@DEPENDS@|$DEPENDS|" \
  -e "s|@MAINTAINER@|$MAINTAINER|" -e "/^Homepage: @HOMEPAGE@$/d" \
  packaging/debian/control.in > "$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f ! -path './etc/*' -printf '%P\0' \
  | sort -z | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"

DEB="$OUT/tesseras_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "package: $DEB ($(du -h "$DEB" | cut -f1))"

if [ "$CHECK" = 1 ]; then
  exec packaging/check-package.sh "$DEB"
fi
