#!/bin/sh
# Fetch QEMU 10.0 from bookworm-backports and unpack it into DEST (default
# .qemu/10.0), with a private apt state: nothing is installed, /etc/apt is not
# touched.  Needs QEMU 7.2 installed first (its libraries are shared), see
# docs/real-qemu.md, Getting QEMU 7.2 and 10.0.
set -eu
DEST=${1:-.qemu/10.0}
if [ -x "$DEST/usr/bin/qemu-system-x86_64" ]; then exit 0; fi
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lists/partial" "$TMP/archives/partial" "$TMP/etc" "$DEST"
echo "deb $MIRROR bookworm main" > "$TMP/etc/sources.list"
echo "deb $MIRROR bookworm-backports main" >> "$TMP/etc/sources.list"
APT="-o APT::Sandbox::User=root -o Dir::State::Lists=$TMP/lists -o Dir::Cache::Archives=$TMP/archives -o Dir::Etc::SourceList=$TMP/etc/sources.list -o Dir::Etc::SourceParts=/dev/null -o APT::Default-Release=bookworm-backports"
apt-get $APT -qq update
cd "$TMP"
# shellcheck disable=SC2086
apt-get $APT -qq download qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports \
    qemu-system-data/bookworm-backports seabios/bookworm-backports
cd - >/dev/null
for deb in "$TMP"/*.deb; do dpkg -x "$deb" "$DEST"; done
"$DEST/usr/bin/qemu-system-x86_64" --version | head -1
