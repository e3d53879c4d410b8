#!/usr/bin/env bash
# The Debian package end to end: builds it (deploy/build-deb.sh, reusing the release build
# of the v4l2 VM test), checks with ldd that no binary needs the Swift runtime, then installs
# it with dpkg into a throwaway root (an overlay of this machine's / in a private mount
# namespace, with /opt/swift hidden, so only Debian's libraries are there) and checks the
# installed command line there: versions, the default model beside the binaries, lotrd
# --check, a short lotrd run on the packaged sample clip watched with lotr, the sysusers
# file, then dpkg -r / -P leave no binary behind.
#   scripts/test-deb.sh          ends with "deb: N passed, N failed"
# Needs root (mount namespaces); exits 77 with a "skipped" line otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
passed=0; failed=0
ok() { echo "deb: ok    $*"; passed=$((passed + 1)); }
bad() { echo "deb: FAIL  $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() { echo "deb: $passed passed, $failed failed"; exit $(( failed > 0 )); }

[[ $(id -u) -eq 0 ]] || { echo "deb: skipped: needs root for the throwaway root's mount namespace"; exit 77; }
unshare -m true 2>/dev/null || { echo "deb: skipped: unshare -m is not allowed here"; exit 77; }

OUT=.build/deb
if ! deploy/build-deb.sh "$OUT"; then bad "deploy/build-deb.sh builds the package"; finish; fi
deb=$(ls -t "$OUT"/lotr-edge_*.deb | head -1)
ok "deploy/build-deb.sh builds $(basename "$deb")"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$deb" "$WORK/x"
check "no binary links the Swift runtime (ldd)" \
  sh -c "! ldd '$WORK'/x/usr/bin/* | grep -E 'libswift|libFoundation|libdispatch|/opt/swift'"
check "the package holds the units, sysusers/tmpfiles, models and the sample clip" test -f "$WORK/x/usr/lib/systemd/system/lotrd@.service" \
  -a -f "$WORK/x/usr/lib/sysusers.d/lotrd.conf" -a -f "$WORK/x/usr/lib/tmpfiles.d/lotrd.conf" \
  -a -f "$WORK/x/usr/share/lotr/models/lotr-m-68.lotr" -a -f "$WORK/x/usr/share/lotr/models/blazeface-short.lotr" -a -f "$WORK/x/usr/share/lotr/samples/face-clip.lclip"
check "conffiles: /etc/default/lotrd, lotr-mqtt, the udev rule" \
  sh -c "[ \"\$(dpkg-deb -I '$deb' conffiles | sort | tr '\n' ' ')\" = '/etc/default/lotr-mqtt /etc/default/lotrd /etc/udev/rules.d/70-lotrd.rules ' ]"

# The throwaway root: / as the lower layer of an overlay, the package installed into it.
mkdir -p "$WORK"/{upper,work,root}
cp "$deb" "$WORK/upper.deb"
cat >"$WORK/inside.sh" <<'INSIDE'
set -u
step() { local what=$1; shift; if "$@" >/tmp/step.log 2>&1; then echo "IN ok    $what"; else echo "IN FAIL  $what"; sed 's/^/    /' /tmp/step.log | tail -15; fi; }
[ ! -e /usr/bin/lotrd ] || { echo "IN FAIL  /usr/bin/lotrd exists before the install"; exit 0; }
step "dpkg -i installs the package" dpkg -i /tmp/lotr-edge.deb
step "the installed binaries run without /opt/swift" sh -c '[ ! -e /opt/swift/usr ] && lotr --version && lotrd --version && lotr-quantize --help >/dev/null && lotr-mqtt --help >/dev/null'
step "lotr info reads the installed default model" lotr info /usr/share/lotr/models/lotr-m-68.lotr
step "lotrd --check passes with the default model on the sample clip" lotrd --check --source /usr/share/lotr/samples/face-clip.lclip
step "lotrd streams landmarks from the sample clip to lotr watch" sh -c '
  lotrd --source /usr/share/lotr/samples/face-clip.lclip --socket /tmp/lotrd.sock --fps 30 >/tmp/lotrd.log 2>&1 &
  pid=$!
  i=0; while [ ! -S /tmp/lotrd.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  n=$(lotr watch --socket /tmp/lotrd.sock -n 5 --timeout 30 | grep -c "\"class\":\"LANDMARKS\"")
  kill -TERM $pid; wait $pid
  [ "$n" -eq 5 ] || { cat /tmp/lotrd.log; echo "got $n LANDMARKS of 5"; exit 1; }'
step "the sysusers file creates the lotrd user (in the video group)" sh -c 'systemd-sysusers /usr/lib/sysusers.d/lotrd.conf && id lotrd | grep -q video'
step "dpkg -r removes the binaries, keeps the conffiles" sh -c 'dpkg -r lotr-edge && [ ! -e /usr/bin/lotrd ] && [ -e /etc/default/lotrd ]'
step "dpkg -P purges the conffiles" sh -c 'dpkg -P lotr-edge && [ ! -e /etc/default/lotrd ]'
INSIDE
unshare -m sh -c "
  mount -t overlay overlay -o lowerdir=/,upperdir='$WORK/upper',workdir='$WORK/work' '$WORK/root' &&
  mount -t tmpfs tmpfs '$WORK/root/opt' && mount -t tmpfs tmpfs '$WORK/root/tmp' &&
  mount -t proc proc '$WORK/root/proc' && mount --rbind /dev '$WORK/root/dev' &&
  cp '$deb' '$WORK/root/tmp/lotr-edge.deb' && cp '$WORK/inside.sh' '$WORK/root/tmp/inside.sh' &&
  chroot '$WORK/root' env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root sh /tmp/inside.sh
" >"$WORK/inside.log" 2>&1
cat "$WORK/inside.log"
ins_ok=$(grep -c '^IN ok' "$WORK/inside.log"); ins_bad=$(grep -c '^IN FAIL' "$WORK/inside.log")
passed=$((passed + ins_ok)); failed=$((failed + ins_bad))
[[ $ins_ok -ge 8 ]] || { bad "the throwaway root ran all its checks ($ins_ok ok)"; }
[[ ! -e /usr/bin/lotrd ]] || bad "the install leaked out of the throwaway root"
finish
