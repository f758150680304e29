#!/bin/sh
# Build QEMU 10.0.2 with the series in patches/ (docs/upstream.md) into DEST (default
# .qemu/10.0-patched): Debian's upstream tarball (checked against its sha256), the series
# applied with `git am`, a TCG-only x86_64 build with the `log` trace backend the harness
# reads.  Firmware comes from the unpacked 10.0 (make qemu).  Rebuilds only when the
# series changed.  Needs root for apt (build dependencies), about 9 min on 2 cores.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.qemu/10.0-patched}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TARBALL=qemu_10.0.2+ds.orig.tar.xz
SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
DEPS="libglib2.0-dev libpixman-1-dev flex bison ninja-build pkg-config git"

PATCHES=$(ls "$ROOT"/patches/*.patch | grep -v cover-letter)
series=$(cat $PATCHES | sha256sum | cut -d' ' -f1)
if [ -x "$DEST/qemu-system-x86_64" ] && [ "$(cat "$DEST/series.sha256" 2>/dev/null)" = "$series" ]
then
    "$DEST/qemu-system-x86_64" --version | head -1
    exit 0
fi

missing=""
for pkg in $DEPS; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "build-patched-qemu: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
        >/dev/null
fi

mkdir -p "$DEST"
if [ ! -f "$DEST/$TARBALL" ]; then
    curl -sSf -o "$DEST/$TARBALL.part" "$MIRROR/pool/main/q/qemu/$TARBALL"
    mv "$DEST/$TARBALL.part" "$DEST/$TARBALL"
fi
echo "$SHA256  $DEST/$TARBALL" | sha256sum -c --quiet

rm -rf "$DEST/src" "$DEST/qemu-system-x86_64" "$DEST/series.sha256"
tar -C "$DEST" -xf "$DEST/$TARBALL"
mv "$DEST/qemu-10.0.2" "$DEST/src"
cd "$DEST/src"
GIT="git -c user.name=build -c user.email=build@localhost -c safe.directory=*"
$GIT init -q
$GIT add -A
$GIT commit -q -m "QEMU 10.0.2 ($TARBALL)"
# shellcheck disable=SC2086
$GIT am -q $PATCHES
$GIT log --oneline | head -n "$(echo "$PATCHES" | wc -l)"

# Not part of the series: the +ds tarball has no edk2 blobs to unpack.
sed -i 's/^    unpack_edk2_blobs = bzip2.found()$/    unpack_edk2_blobs = false/' meson.build
mkdir -p python/wheels
"$PYTHON" -m pip download -q meson==1.5.0 pycotap==1.3.1 -d python/wheels 2>/dev/null
mkdir build
cd build
../configure --target-list=x86_64-softmmu --without-default-features --enable-tcg \
    --enable-trace-backends=log --disable-docs --disable-werror --disable-tools \
    --disable-install-blobs --python=/usr/bin/python3 --disable-download >../../configure.log
nice ninja -j"$(nproc)" qemu-system-x86_64 >../../ninja.log
cp qemu-system-x86_64 "$DEST/qemu-system-x86_64"
echo "$series" > "$DEST/series.sha256"
"$DEST/qemu-system-x86_64" --version | head -1
