#!/usr/bin/env bash
# The capture code against a real V4L2 driver: boots Debian's kernel under
# qemu-system-x86_64 (TCG, no KVM needed) with a small initramfs holding busybox, the vivid
# test driver and its dependencies, and lotr-v4l2-check (Sources/lotr-v4l2-check, built
# with --static-swift-stdlib, plus the shared libraries ldd names). The check enumerates
# vivid, negotiates formats, sizes and a frame rate, captures frames, and survives an
# unplug (vivid's Disconnect control) and a driver removal (rmmod, then reload).
#   scripts/test-v4l2-vm.sh            ends with "v4l2-vm: N passed, N failed"
# Installs qemu-system-x86, linux-image-amd64, busybox-static, cpio and kmod when missing.
# Exits 0 with a "skipped" line when the VM cannot be built or booted here (said why).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
start=$SECONDS
WORK=${V4L2_VM_DIR:-.build/v4l2-vm}
TIMEOUT=${V4L2_VM_TIMEOUT:-150}

skip() { echo "v4l2-vm: skipped: $*"; echo "v4l2-vm: 0 passed, 0 failed, 1 skipped"; exit 0; }
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

mkdir -p "$(dirname "$WORK")"
echo "v4l2-vm: building lotr-v4l2-check (release, static Swift stdlib)"
swift build -c release --static-swift-stdlib --product lotr-v4l2-check >"$WORK.build.log" 2>&1 \
  || { tail -20 "$WORK.build.log"; die "swift build failed (see $WORK.build.log)"; }
BIN=$(swift build -c release --static-swift-stdlib --show-bin-path)/lotr-v4l2-check

rm -rf "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,mods,lib64}
cp /bin/busybox "$ROOT/bin/busybox"
for tool in sh mount insmod rmmod poweroff echo cat ls sleep mkdir; do ln -s busybox "$ROOT/bin/$tool"; done
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

# The check program and the shared libraries it still needs.
cp "$BIN" "$ROOT/bin/lotr-v4l2-check"
strip "$ROOT/bin/lotr-v4l2-check" 2>/dev/null || true
ldd "$BIN" | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | while read -r lib; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
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
poweroff -f
INIT
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"
echo "v4l2-vm: initramfs $(du -h "$WORK/initrd.gz" | cut -f1), kernel $KVER, booting (TCG) after $((SECONDS - start)) s"

boot=$SECONDS
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$KVER" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" </dev/null >"$WORK/console.log" 2>&1
qemu_status=$?
tr -d '\r' <"$WORK/console.log" | sed -n '/^== lotr-v4l2-check/,/^LOTR_CHECK_EXIT/p'
echo "v4l2-vm: VM ran $((SECONDS - boot)) s, $((SECONDS - start)) s in all"
summary=$(tr -d '\r' <"$WORK/console.log" | grep -E "^[0-9]+ passed, [0-9]+ failed" | tail -1)
exit_line=$(tr -d '\r' <"$WORK/console.log" | grep -E "^LOTR_CHECK_EXIT=" | tail -1)
if [[ -z $summary ]]; then
  tail -30 "$WORK/console.log"
  [[ $qemu_status -eq 124 ]] && die "the VM did not finish within ${TIMEOUT} s"
  die "the check printed no summary (qemu exit $qemu_status; console in $WORK/console.log)"
fi
echo "v4l2-vm: $summary"
[[ $exit_line == "LOTR_CHECK_EXIT=0" ]]
