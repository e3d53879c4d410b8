#!/bin/sh
# Installs lotrd, lotr, lotr-quantize, lotr-mqtt and the systemd integration.
#
#   deploy/install.sh                       # into /usr/local, then activates (as root)
#   PREFIX=/usr deploy/install.sh
#   DESTDIR=/tmp/stage deploy/install.sh    # staged (packaging): nothing is activated
#
# Builds the release binaries first unless LOTR_BIN_DIR points at built ones.
# Layout: $PREFIX/bin/{lotrd,lotr,lotr-quantize,lotr-mqtt}, $PREFIX/share/lotr/{models,clients/python},
# $PREFIX/share/doc/lotr/{PROTOCOL,MQTT}.md, $PREFIX/lib/systemd/system/lotrd@.{service,socket},
# $PREFIX/lib/systemd/system/lotr-mqtt@.service,
# $PREFIX/lib/sysusers.d/lotrd.conf, $PREFIX/lib/tmpfiles.d/lotrd.conf,
# /etc/udev/rules.d/70-lotrd.rules (commented), /etc/default/{lotrd,lotr-mqtt} (kept if present).
set -eu
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

case "$PREFIX" in /*) ;; *) echo "install.sh: PREFIX must be absolute: $PREFIX" >&2; exit 2 ;; esac

bin=${LOTR_BIN_DIR:-}
if [ -z "$bin" ]; then
  (cd "$repo" && swift build -c release --product lotrd && swift build -c release --product lotr &&
    swift build -c release --product lotr-quantize && swift build -c release --product lotr-mqtt)
  bin=$repo/.build/release
fi
for b in lotrd lotr lotr-quantize lotr-mqtt; do
  [ -x "$bin/$b" ] || { echo "install.sh: $bin/$b is missing (build first or set LOTR_BIN_DIR)" >&2; exit 1; }
done

subst() { sed "s|@PREFIX@|$PREFIX|g" "$1"; }
put() { # put MODE SRC DEST [subst]
  mkdir -p "$(dirname "$DESTDIR$3")"
  if [ "${4:-}" = subst ]; then subst "$2" > "$DESTDIR$3.tmp"; else cp "$2" "$DESTDIR$3.tmp"; fi
  chmod "$1" "$DESTDIR$3.tmp"
  mv -f "$DESTDIR$3.tmp" "$DESTDIR$3"
  echo "  $3"
}

echo "installing into ${DESTDIR}${PREFIX} (DESTDIR='${DESTDIR}')"
put 0755 "$bin/lotrd" "$PREFIX/bin/lotrd"
put 0755 "$bin/lotr" "$PREFIX/bin/lotr"
put 0755 "$bin/lotr-quantize" "$PREFIX/bin/lotr-quantize"
put 0755 "$bin/lotr-mqtt" "$PREFIX/bin/lotr-mqtt"
for m in "$repo"/models/*.lotr; do
  [ -e "$m" ] && put 0644 "$m" "$PREFIX/share/lotr/models/$(basename "$m")"
done
put 0644 "$repo/clients/python/lotr_client.py" "$PREFIX/share/lotr/clients/python/lotr_client.py"
put 0644 "$repo/clients/python/pyproject.toml" "$PREFIX/share/lotr/clients/python/pyproject.toml"
put 0644 "$repo/clients/python/README.md" "$PREFIX/share/lotr/clients/python/README.md"
put 0755 "$repo/clients/python/examples/blink_and_pose.py" "$PREFIX/share/lotr/clients/python/examples/blink_and_pose.py"
put 0644 "$repo/docs/PROTOCOL.md" "$PREFIX/share/doc/lotr/PROTOCOL.md"
put 0644 "$repo/docs/MQTT.md" "$PREFIX/share/doc/lotr/MQTT.md"
put 0644 "$here/lotrd@.service" "$UNITDIR/lotrd@.service" subst
put 0644 "$here/lotrd@.socket" "$UNITDIR/lotrd@.socket" subst
put 0644 "$here/lotr-mqtt@.service" "$UNITDIR/lotr-mqtt@.service" subst
put 0644 "$here/lotrd.sysusers.conf" "$PREFIX/lib/sysusers.d/lotrd.conf"
put 0644 "$here/lotrd.tmpfiles.conf" "$PREFIX/lib/tmpfiles.d/lotrd.conf"
put 0644 "$here/70-lotrd.rules" "$SYSCONFDIR/udev/rules.d/70-lotrd.rules"
for d in lotrd lotr-mqtt; do
  if [ -e "$DESTDIR$SYSCONFDIR/default/$d" ]; then
    echo "  $SYSCONFDIR/default/$d kept (new defaults in $SYSCONFDIR/default/$d.new)"
    put 0644 "$here/$d.default" "$SYSCONFDIR/default/$d.new" subst
  else
    put 0644 "$here/$d.default" "$SYSCONFDIR/default/$d" subst
  fi
done

if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
  systemd-sysusers "$PREFIX/lib/sysusers.d/lotrd.conf"
  systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/lotrd.conf"
  systemctl daemon-reload
  udevadm control --reload 2>/dev/null || true
  echo "done. Start a camera's socket:  systemctl enable --now lotrd@video0.socket"
  echo "      then watch:                lotr watch --socket /run/lotrd/video0.sock -n 30"
  echo "      to an MQTT broker:         set LOTR_MQTT_BROKER in $SYSCONFDIR/default/lotr-mqtt, then"
  echo "                                 systemctl enable --now lotr-mqtt@video0"
else
  echo "done (not activated: DESTDIR set, not root, or no systemd running)."
fi
