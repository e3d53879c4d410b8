#!/usr/bin/env bash
# Builds the Debian package of lotr-edge for this machine's architecture with Debian's own
# tools (dpkg-shlibdeps for the dependencies, dpkg-deb for the archive):
#   deploy/build-deb.sh              # -> .build/deb/lotr-edge_<version>_<arch>.deb
#   deploy/build-deb.sh OUTDIR
# What it holds: lotrd, lotr, lotr-quantize and lotr-mqtt in /usr/bin, built in release with
# the Swift standard library linked in (--static-swift-stdlib: the device needs no Swift
# runtime, only the Debian libraries named in Depends); the shipped models and the sample
# clip in /usr/share/lotr; the units in /usr/lib/systemd/system, sysusers.d and tmpfiles.d
# files in /usr/lib; /etc/default/{lotrd,lotr-mqtt} and the (commented) udev rule as
# conffiles. The maintainer scripts create the lotrd user and reload units only where
# systemd runs (elsewhere systemd-sysusers creates the user at the next boot).
# On a Raspberry Pi with 64-bit Raspberry Pi OS (Debian 12) the same command builds the
# arm64 package natively; the Swift toolchain is needed for the build only (docs/CAMERAS.md,
# README "Raspberry Pi").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
OUT=${1:-.build/deb}
VERSION=$(sed -n 's/.*static let release = "\(.*\)".*/\1/p' Sources/LOTRProtocol/Protocol.swift)
ARCH=$(dpkg --print-architecture)
[[ -n $VERSION ]] || { echo "build-deb: no release version in Sources/LOTRProtocol/Protocol.swift" >&2; exit 1; }
command -v dpkg-shlibdeps >/dev/null || { echo "build-deb: dpkg-shlibdeps is missing: apt-get install dpkg-dev" >&2; exit 1; }

products=(lotrd lotr lotr-quantize lotr-mqtt)
echo "build-deb: building ${products[*]} (release, static Swift stdlib)"
for p in "${products[@]}"; do
  swift build -c release --static-swift-stdlib --product "$p" >/dev/null
done
BIN=$(swift build -c release --static-swift-stdlib --show-bin-path)

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/lotr-edge
DESTDIR=$ROOT PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/usr/lib/systemd/system LOTR_BIN_DIR=$BIN \
  deploy/install.sh >"$STAGE/install.log" || { cat "$STAGE/install.log"; exit 1; }
install -D -m 0644 samples/face-clip.lclip "$ROOT/usr/share/lotr/samples/face-clip.lclip"
install -D -m 0644 models/MODEL_CARD.md "$ROOT/usr/share/doc/lotr-edge/MODEL_CARD.md"
install -D -m 0644 models/MODEL_CARD-blazeface-short.md "$ROOT/usr/share/doc/lotr-edge/MODEL_CARD-blazeface-short.md"
cat >"$ROOT/usr/share/doc/lotr-edge/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: lotr-edge
Comment: The lotr-edge source declares no licence yet. The shipped landmark models are
 trained on the 300-W training faces, which are for research use only: the models inherit
 that restriction (MODEL_CARD.md beside this file). Their backbone starts from an ImageNet
 MobileNetV2 released under the Apache License 2.0 (/usr/share/common-licenses/Apache-2.0).
 The face detector (models/blazeface-short.lotr) is MediaPipe's BlazeFace short-range,
 converted and quantized, Apache License 2.0 (MODEL_CARD-blazeface-short.md).
COPYRIGHT

# Depends from the binaries' shared libraries (dpkg-shlibdeps wants a debian/control).
mkdir -p "$STAGE/src/debian"
printf 'Source: lotr-edge\n\nPackage: lotr-edge\nArchitecture: any\n' >"$STAGE/src/debian/control"
depends=$(cd "$STAGE/src" && dpkg-shlibdeps -O "${products[@]/#/$ROOT/usr/bin/}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
if ldd "$ROOT"/usr/bin/* | grep -q 'libswift\|libFoundation\|libdispatch'; then
  echo "build-deb: a binary still links the Swift runtime dynamically" >&2; exit 1
fi

mkdir -p "$ROOT/DEBIAN"
cat >"$ROOT/DEBIAN/control" <<EOF
Package: lotr-edge
Version: $VERSION
Architecture: $ARCH
Maintainer: lotr-edge developers <lotr-edge@localhost>
Section: video
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
Depends: $depends
Recommends: systemd
Suggests: rpicam-apps, libcamera-v4l2, mosquitto
Description: face landmarks from a camera, on the device
 lotrd streams 68 facial landmarks, head pose and eye openness from a V4L2 camera (or a
 Raspberry Pi Camera Module through rpicam-vid) to any number of local clients over a UNIX
 socket, running LOTR (a Localization Transformer) as an int8 model on NEON/AVX2 kernels.
 Includes lotr (run, watch, bench), lotr-quantize (ONNX to .lotr), lotr-mqtt and the
 shipped models.
EOF
cat >"$ROOT/DEBIAN/conffiles" <<EOF
/etc/default/lotrd
/etc/default/lotr-mqtt
/etc/udev/rules.d/70-lotrd.rules
EOF
# install.sh left no .new files: a fresh stage has no defaults to keep.
cat >"$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemd-sysusers lotrd.conf
  systemd-tmpfiles --create lotrd.conf
  systemctl daemon-reload
  udevadm control --reload 2>/dev/null || true
fi
exit 0
EOF
cat >"$ROOT/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop 'lotr-mqtt@*.service' 'lotrd@*.service' 'lotrd@*.socket' 2>/dev/null || true
fi
exit 0
EOF
cat >"$ROOT/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
EOF
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

mkdir -p "$OUT"
deb=$OUT/lotr-edge_${VERSION}_${ARCH}.deb
dpkg-deb --build --root-owner-group -Zxz "$ROOT" "$deb.tmp" >/dev/null
mv -f "$deb.tmp" "$deb"
echo "build-deb: $deb ($(du -h "$deb" | cut -f1)); Depends: $depends"
