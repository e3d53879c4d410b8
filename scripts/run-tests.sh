#!/usr/bin/env bash
# Every test of the project, each part's result summarised at the end:
#   swift test (kernels on ref + the native optimized path, runtime), the kernel suites
#   under ASan/UBSan and under qemu for each ARM path, training/'s pytest, and lotr-mqtt
#   against a real broker.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
results=()
failed=0

step() { # name, command...
  local name=$1; shift
  echo "=================== $name"
  local start=$SECONDS
  if "$@"; then results+=("ok    $name ($((SECONDS - start)) s)")
  else results+=("FAIL  $name ($((SECONDS - start)) s)"); failed=$((failed + 1)); fi
}

step "swift test" swift test
step "kernels: sanitizers + qemu" scripts/test-kernels-native.sh all
step "training: pytest" .venv/bin/python -m pytest -q training/tests
step "v4l2: vivid in a VM" scripts/test-v4l2-vm.sh
step "lotr-mqtt: real mosquitto broker" sh -c 'swift build --product lotrd >/dev/null && swift build --product lotr-mqtt >/dev/null && LOTR_BIN=$(swift build --show-bin-path) python3 -m unittest Tests/MQTTBridge/test_lotr_mqtt.py'
step "lotrd: python client + golden check" sh -c 'python3 -m unittest -q clients/python/test_lotr_client.py && python3 Tests/Fixtures/lotrd/check_golden.py'
step "LOTRClient: an outside package builds on it" scripts/test-client-package.sh
step "python client: pip-installable" sh -c 'd=$(mktemp -d) && trap "rm -rf $d" EXIT && cp -r clients/python "$d/src" && .venv/bin/pip install -q --no-build-isolation --no-deps --target "$d/site" "$d/src" && cd / && PYTHONPATH="$d/site" python3 -c "import lotr_client, sys; assert lotr_client.__file__.startswith(sys.argv[1]), lotr_client.__file__" "$d/site"'

echo "=================== summary"
printf '%s\n' "${results[@]}"
echo "$(( ${#results[@]} - failed )) passed, $failed failed"
exit $(( failed > 0 ))
