#!/usr/bin/env bash
# The kernel suites outside SwiftPM: under AddressSanitizer + UndefinedBehaviorSanitizer
# on this machine, then cross-compiled for ARM and run under qemu-user on the CPUs of the
# Raspberry Pi family. Same test sources as `swift test` (Tests/KernelTester).
#   scripts/test-kernels-native.sh [sanitize|qemu|all]
# LOTR_TEST_SEED=<n> replays a run.
set -euo pipefail
cd "$(dirname "$0")/.."
K=Sources/CLOTRKernels
T=Tests/KernelTester
OUT=${BUILD_DIR:-.build-kernels}
mkdir -p "$OUT"
SRC=($K/*.c $K/ref/*.c $K/arm/*.c $K/x86/*.c $T/*.c $T/main/run_kernel_tests.c)
CFLAGS=(-O2 -std=gnu11 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Werror -I$K/include -I$K -I$T/include)
status=0
total_passed=0
total_failed=0

run() { # name, command...
  local name=$1; shift
  echo "== $name"
  local log="$OUT/$name.log"
  if "$@" >"$log" 2>&1; then :; else status=1; fi
  grep -E "^(FAIL|kernel tests:)|passed, [0-9]+ failed$" "$log" | grep -v "^  " || true
  local line
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$log" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "   no summary: see $log"; tail -5 "$log"; status=1; total_failed=$((total_failed + 1))
  else
    total_passed=$((total_passed + ${line%% *}))
    local f=${line#* passed, }; total_failed=$((total_failed + ${f%% *}))
  fi
}

sanitize() {
  gcc "${CFLAGS[@]}" -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    "${SRC[@]}" -lm -lpthread -o "$OUT/kernels-asan"
  run asan-ubsan-x86_64 env ASAN_OPTIONS=detect_leaks=1 "$OUT/kernels-asan"
}

qemu() {
  aarch64-linux-gnu-gcc "${CFLAGS[@]}" -static "${SRC[@]}" -lm -lpthread -o "$OUT/kernels-aarch64"
  arm-linux-gnueabihf-gcc "${CFLAGS[@]}" -static -march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard \
    "${SRC[@]}" -lm -lpthread -o "$OUT/kernels-armv7"
  # Pi 3 (A53) and Pi 4 (A72) lack SDOT: dispatch must choose neon. Pi 5 (A76) has it.
  run qemu-cortex-a53 qemu-aarch64 -cpu cortex-a53 "$OUT/kernels-aarch64" --expect-default neon
  run qemu-cortex-a72 qemu-aarch64 -cpu cortex-a72 "$OUT/kernels-aarch64" --expect-default neon
  run qemu-cortex-a76 qemu-aarch64 -cpu cortex-a76 "$OUT/kernels-aarch64" --expect-default neondot
  run qemu-cortex-a7 qemu-arm -cpu cortex-a7 "$OUT/kernels-armv7" --expect-default armv7
}

case "${1:-all}" in
  sanitize) sanitize ;;
  qemu) qemu ;;
  all) sanitize; qemu ;;
  *) echo "usage: $0 [sanitize|qemu|all]" >&2; exit 2 ;;
esac
echo "kernels (sanitizers, qemu): $total_passed passed, $total_failed failed"
exit $status
