#!/usr/bin/env bash
# Installs what lotr-edge needs on Debian 12, idempotently and quietly when all is there:
#   scripts/setup.sh system   Debian packages (with sudo when not root)
#   scripts/setup.sh python   the training/ venv at .venv (PyTorch from PyPI)
# Swift itself is expected on PATH (the official toolchain, e.g. /opt/swift/usr/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  build-essential pkg-config python3 python3-venv
  libopenblas-dev          # float reference path, SGEMM baseline
  libv4l-dev               # V4L2 cameras through libv4l2
  libjpeg62-turbo-dev libpng-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  qemu-user                # ARM kernel tests: qemu-aarch64 / qemu-arm
  llvm-19                  # llvm-mca for bench/arm_cost_model.py: 19 has a Neoverse N1 (= Cortex-A76) model, the default llvm 14 none
  libmosquitto-dev         # lotr-mqtt's MQTT client library
  mosquitto mosquitto-clients  # lotr-mqtt's tests: a private broker on a loopback port, mosquitto_sub
)

system() {
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    [[ "$p" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    # Waits for another apt run (unattended upgrades, a second setup) instead of failing.
    local wait_lock=(-o DPkg::Lock::Timeout=600)
    $sudo apt-get "${wait_lock[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The package enables a system broker on port 1883; the tests start their own on a
    # free loopback port, so one that we just installed is switched off again.
    if [[ " ${missing[*]} " == *" mosquitto "* && -d /run/systemd/system ]]; then
      $sudo systemctl disable --now mosquitto.service >/dev/null 2>&1 || true
    fi
  fi
  if ! command -v swift >/dev/null; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
      echo "setup: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
      echo "setup: no Swift toolchain on PATH: install Swift 6 for Debian 12 from swift.org" >&2
      exit 1
    fi
  fi
}

python_env() {
  local stamp=.venv/.lotr-installed
  if [[ -f $stamp && $stamp -nt training/pyproject.toml ]] && .venv/bin/python -c 'import torch' 2>/dev/null; then
    return
  fi
  echo "setup: creating .venv with training/ and PyTorch (a few minutes the first time)"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e 'training[dev]'
  touch "$stamp"
}

case "${1:-all}" in
  system) system ;;
  python) python_env ;;
  all) system; python_env ;;
  *) echo "usage: $0 [system|python|all]" >&2; exit 2 ;;
esac
