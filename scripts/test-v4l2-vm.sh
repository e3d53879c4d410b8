#!/usr/bin/env bash
# The capture code against a real V4L2 driver: boots Debian's kernel under
# qemu-system-x86_64 (TCG, no KVM needed) with a small initramfs holding busybox, the vivid
# test driver and its dependencies, and lotr-v4l2-check (Sources/lotr-v4l2-check, built
# with --static-swift-stdlib, plus the shared libraries ldd names). The check enumerates
# vivid, negotiates formats, sizes and a frame rate, captures frames, and survives an
# unplug (vivid's Disconnect control) and a driver removal (rmmod, then reload).
# Then the daemon end to end (issue 7): lotrd (also static Swift stdlib) runs on the vivid
# camera with the tiny int8 test model, and lotr-v4l2-check --lotrd-client watches it over
# the socket: LANDMARKS arrive, the unplug reaches it as DEVICE lost, the replug (rmmod,
# insmod) as DEVICE recovered, and LANDMARKS resume with increasing seq; SIGTERM stops lotrd.
# Last, v4l2loopback (built here for the VM's kernel with v4l2loopback-dkms and that kernel's
# headers, when missing): lotr-v4l2-check --loopback-feed writes the 300-W face crops of
# Tests/Fixtures/vision (letterboxed to 320x240, YUYV) to its OUTPUT side and captures them
# with V4L2Camera: the pixels and the tiny model's landmarks must match the fed frames'.
# Without the module (no dkms build, or insmod refused) that part is a "skip" line.
#   scripts/test-v4l2-vm.sh            ends with "v4l2-vm: N passed, N failed"
# Installs qemu-system-x86, linux-image-amd64, busybox-static, cpio and kmod when missing, and
# v4l2loopback-dkms with linux-headers-<the VM's kernel> when the module is missing.
# Exits 77 (skipped, for scripts/run-tests.sh) with a "skipped" line when the VM cannot be
# built or booted here (said why); 0 only when the VM ran and every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
start=$SECONDS
WORK=${V4L2_VM_DIR:-.build/v4l2-vm}
TIMEOUT=${V4L2_VM_TIMEOUT:-150}

skip() { echo "v4l2-vm: skipped: $*"; echo "v4l2-vm: 0 passed, 0 failed, 1 skipped"; exit 77; }
die() { echo "v4l2-vm: FAIL: $*"; echo "v4l2-vm: 0 passed, 1 failed"; exit 1; }

PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static cpio kmod)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "v4l2-vm: installing ${missing[*]}"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/dev/null 2>&1 || skip "could not install ${missing[*]} (apt-get failed)"
fi

# The newest installed kernel that has vivid.
KVER=""
for k in $(ls -1 /lib/modules 2>/dev/null | sort -V -r); do
  if [[ -r /boot/vmlinuz-$k ]] && modprobe -S "$k" --show-depends vivid >/dev/null 2>&1; then KVER=$k; break; fi
done
[[ -n $KVER ]] || skip "no /boot/vmlinuz-* with a vivid module (linux-image-amd64 not installed?)"
[[ -r /boot/vmlinuz-$KVER ]] || skip "/boot/vmlinuz-$KVER is not readable"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found"

# v4l2loopback for $KVER: the dkms package builds it for every kernel whose headers are installed.
loopback_ko() { modinfo -k "$KVER" -F filename v4l2loopback 2>/dev/null | head -1; }
LOOPBACK_KO=$(loopback_ko)
LOOPBACK_SKIP=""
if [[ -z $LOOPBACK_KO ]]; then
  echo "v4l2-vm: building v4l2loopback for $KVER (v4l2loopback-dkms, linux-headers-$KVER)"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  lb_log=$(dirname "$WORK")/v4l2loopback-build.log
  mkdir -p "$(dirname "$WORK")"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive nice -n 19 $sudo apt-get install -y -qq --no-install-recommends \
      v4l2loopback-dkms "linux-headers-$KVER"; } >"$lb_log" 2>&1
  LOOPBACK_KO=$(loopback_ko)
  if [[ -z $LOOPBACK_KO ]] && command -v dkms >/dev/null; then
    nice -n 19 $sudo dkms autoinstall -k "$KVER" >>"$lb_log" 2>&1
    LOOPBACK_KO=$(loopback_ko)
  fi
  [[ -n $LOOPBACK_KO ]] || LOOPBACK_SKIP="no v4l2loopback module for $KVER (dkms build failed or packages missing; see $lb_log)"
fi

mkdir -p "$(dirname "$WORK")"
MODEL=Tests/Fixtures/models/lotr-tiny-int8.lotr
[[ -r $MODEL ]] || die "$MODEL is missing"
echo "v4l2-vm: building lotr-v4l2-check and lotrd (release, static Swift stdlib)"
: >"$WORK.build.log"
for product in lotr-v4l2-check lotrd; do
  swift build -c release --static-swift-stdlib --product "$product" >>"$WORK.build.log" 2>&1 \
    || { tail -20 "$WORK.build.log"; die "swift build of $product failed (see $WORK.build.log)"; }
done
BINDIR=$(swift build -c release --static-swift-stdlib --show-bin-path)

rm -rf "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,mods,lib64}
cp /bin/busybox "$ROOT/bin/busybox"
for tool in sh mount insmod rmmod poweroff echo cat ls sleep mkdir kill sed dmesg grep; do ln -s busybox "$ROOT/bin/$tool"; done
ln -s ../bin/busybox "$ROOT/sbin/poweroff"

# vivid and what it needs, in load order, decompressed for busybox insmod.
: >"$ROOT/mods/order"
while read -r cmd path _; do
  [[ $cmd == insmod ]] || continue
  name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
  case "$path" in
    *.xz) xz -dc "$path" >"$ROOT/mods/$name" ;;
    *.zst) zstd -qdc "$path" >"$ROOT/mods/$name" ;;
    *) cp "$path" "$ROOT/mods/$name" ;;
  esac
  echo "$name" >>"$ROOT/mods/order"
done < <(modprobe -S "$KVER" --show-depends vivid)
grep -qx vivid.ko "$ROOT/mods/order" || die "modprobe --show-depends vivid listed no vivid.ko"

# v4l2loopback and what it needs beyond vivid's modules (those stay loaded), in load order.
: >"$ROOT/mods/loopback.order"
if [[ -n $LOOPBACK_KO ]]; then
  while read -r cmd path _; do
    [[ $cmd == insmod ]] || continue
    name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
    grep -qx "$name" "$ROOT/mods/order" && continue
    case "$path" in
      *.xz) xz -dc "$path" >"$ROOT/mods/$name" ;;
      *.zst) zstd -qdc "$path" >"$ROOT/mods/$name" ;;
      *) cp "$path" "$ROOT/mods/$name" ;;
    esac
    echo "$name" >>"$ROOT/mods/loopback.order"
  done < <(modprobe -S "$KVER" --show-depends v4l2loopback 2>/dev/null)
  grep -qx v4l2loopback.ko "$ROOT/mods/loopback.order" || LOOPBACK_SKIP="modprobe --show-depends v4l2loopback listed no v4l2loopback.ko"
fi
[[ -z $LOOPBACK_SKIP ]] || : >"$ROOT/mods/loopback.order"
# The face frames to feed it: the 300-W crops and their annotations (for the face boxes).
mkdir -p "$ROOT/faces/images"
cp Tests/Fixtures/vision/images/*.jpg "$ROOT/faces/images/"
cp Tests/Fixtures/vision/landmarks.csv "$ROOT/faces/"

# The check program, lotrd, the shared libraries they still need, and the model.
for prog in lotr-v4l2-check lotrd; do
  cp "$BINDIR/$prog" "$ROOT/bin/$prog"
  strip "$ROOT/bin/$prog" 2>/dev/null || true
  ldd "$BINDIR/$prog" | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | while read -r lib; do
    [[ -e $ROOT$lib ]] && continue
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
done
cp "$MODEL" "$ROOT/model.lotr"
[[ -e $ROOT/lib64/ld-linux-x86-64.so.2 ]] || cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/"

VIVID_ARGS="n_devs=1 node_types=0x1"
cat >"$ROOT/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in \$(cat /mods/order); do
  if [ "\$m" = vivid.ko ]; then insmod /mods/\$m $VIVID_ARGS; else insmod /mods/\$m; fi
done
sleep 1
echo "== lotr-v4l2-check (kernel \$(cat /proc/sys/kernel/osrelease))"
/bin/lotr-v4l2-check --device /dev/video0 --frames 8 --unload "rmmod vivid" --reload "insmod /mods/vivid.ko $VIVID_ARGS"
echo "LOTR_CHECK_EXIT=\$?"
echo "== lotrd on /dev/video0, a client watching through unplug and replug"
/bin/lotrd --source /dev/video0 --model /model.lotr --socket /tmp/l.sock --detector none --width 320 --height 180 2>/tmp/lotrd.log &
lotrd=\$!
/bin/lotr-v4l2-check --lotrd-client /tmp/l.sock --device /dev/video0 --unload "rmmod vivid" --reload "insmod /mods/vivid.ko $VIVID_ARGS"
echo "LOTRD_CHECK_EXIT=\$?"
kill -TERM \$lotrd
wait \$lotrd
status=\$?
if [ \$status = 0 ] && [ ! -e /tmp/l.sock ]; then echo "ok    lotrd: SIGTERM: exit 0, socket file removed"
else echo "FAIL  lotrd: SIGTERM: exit \$status, socket file \$(ls /tmp/l.sock 2>/dev/null || echo removed)"; fi
echo "      lotrd's log:"
sed 's/^/      | /' /tmp/lotrd.log
if [ -s /mods/loopback.order ]; then
  echo "== v4l2loopback fed with known face frames"
  lb_ok=1
  for m in \$(cat /mods/loopback.order); do
    if [ "\$m" = v4l2loopback.ko ]; then args="devices=1 exclusive_caps=1 video_nr=9 card_label=lotr-loopback"; else args=""; fi
    if ! out=\$(insmod /mods/\$m \$args 2>&1); then echo "skip  v4l2loopback: insmod \$m failed: \$out"; lb_ok=0; break; fi
  done
  if [ \$lb_ok = 1 ]; then
    /bin/lotr-v4l2-check --loopback-feed /dev/video9 --faces /faces --model /model.lotr
    echo "LOOPBACK_CHECK_EXIT=\$?"
  fi
fi
dmesg | grep -E "traps:|segfault|invalid opcode" | sed 's/^/      kernel: /'
echo "== done"
poweroff -f
INIT
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"
echo "v4l2-vm: initramfs $(du -h "$WORK/initrd.gz" | cut -f1), kernel $KVER, booting (TCG) after $((SECONDS - start)) s"

boot=$SECONDS
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 768 -smp 1 -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$KVER" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" </dev/null >"$WORK/console.log" 2>&1
qemu_status=$?
console=$(tr -d '\r' <"$WORK/console.log")
sed -n '/== lotr-v4l2-check/,/^== done/p' <<<"$console"
echo "v4l2-vm: VM ran $((SECONDS - boot)) s, $((SECONDS - start)) s in all"
# Two summaries (the capture check, the lotrd client) and the shell's lotrd stop check.
summaries=$(grep -E "^[0-9]+ passed, [0-9]+ failed" <<<"$console")
if [[ $(grep -c . <<<"$summaries") -lt 2 ]] || ! grep -q "^== done" <<<"$console"; then
  tail -30 <<<"$console"
  [[ $qemu_status -eq 124 ]] && die "the VM did not finish within ${TIMEOUT} s"
  die "the checks did not both finish (qemu exit $qemu_status; console in $WORK/console.log)"
fi
if [[ -n $LOOPBACK_SKIP ]]; then echo "skip  v4l2loopback: $LOOPBACK_SKIP"
elif ! grep -q "^LOOPBACK_CHECK_EXIT=" <<<"$console" && ! grep -q "^skip  v4l2loopback" <<<"$console"; then
  echo "FAIL  v4l2loopback: the loopback check did not run to its end"
fi
read -r npass nfail nskip < <(awk -F'[ ,]+' '{p += $1; f += $3; if ($5 ~ /^[0-9]+$/) s += $5} END {print p + 0, f + 0, s + 0}' <<<"$summaries")
npass=$((npass + $(grep -c "^ok    lotrd: SIGTERM" <<<"$console")))
nfail=$((nfail + $(grep -c "^FAIL  lotrd: SIGTERM" <<<"$console")))
# The loopback part: skipped when the module is missing or refused; its own summary otherwise.
if [[ -n $LOOPBACK_SKIP ]] || grep -q "^skip  v4l2loopback" <<<"$console"; then
  nskip=$((nskip + 1))
elif ! grep -q "^LOOPBACK_CHECK_EXIT=" <<<"$console"; then
  nfail=$((nfail + 1))
fi
ok=1
grep -q "^LOTR_CHECK_EXIT=0$" <<<"$console" || ok=0
grep -q "^LOTRD_CHECK_EXIT=0$" <<<"$console" || ok=0
grep -q "^LOOPBACK_CHECK_EXIT=[1-9]" <<<"$console" && ok=0
((nfail == 0)) || ok=0
((ok)) || ((nfail > 0)) || nfail=1
echo "v4l2-vm: $npass passed, $nfail failed$( ((nskip)) && echo ", $nskip skipped")"
((ok))
