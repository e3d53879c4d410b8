#!/usr/bin/env bash
# Every test of the project, each part's result summarised at the end:
#   swift test (kernels on ref + the native optimized path, runtime), the kernel suites
#   under ASan/UBSan and under qemu for each ARM path, training/'s pytest, the V4L2 VM, the
#   Debian package in a throwaway root, and lotr-mqtt against a real broker.
# A part that cannot run here (no VM, say) exits 77 and is counted as skipped, not passed.
#   scripts/run-tests.sh                  everything; ends with "N passed, M skipped, K failed"
#   scripts/run-tests.sh --check-summary  only checks this script's own counting
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
SKIPPED=77
results=()
passed=0
skipped=0
failed=0

step() { # name, command...: exit 0 passed, 77 skipped, anything else failed
  local name=$1; shift
  echo "=================== $name"
  local start=$SECONDS status=0
  "$@" || status=$?
  local took="$((SECONDS - start)) s"
  case $status in
    0) results+=("ok    $name ($took)"); passed=$((passed + 1)) ;;
    "$SKIPPED") results+=("skip  $name ($took)"); skipped=$((skipped + 1)) ;;
    *) results+=("FAIL  $name ($took, exit $status)"); failed=$((failed + 1)) ;;
  esac
}

summary() {
  echo "=================== summary"
  printf '%s\n' "${results[@]}"
  echo "$passed passed, $skipped skipped, $failed failed"
}

if [[ ${1:-} == --check-summary ]]; then
  step "a part that passes" true
  step "a part that cannot run here" sh -c "exit $SKIPPED"
  step "a part that fails" false
  out=$(summary)
  echo "$out"
  expected="ok    a part that passes (0 s)
skip  a part that cannot run here (0 s)
FAIL  a part that fails (0 s, exit 1)
1 passed, 1 skipped, 1 failed"
  [[ $out == *"$expected" ]] || { echo "run-tests.sh: the summary logic is wrong" >&2; exit 1; }
  echo "run-tests.sh: summary logic ok"
  exit 0
fi

step "swift test" swift test
step "kernels: sanitizers + qemu" scripts/test-kernels-native.sh all
step "training: pytest" .venv/bin/python -m pytest -q training/tests
step "v4l2: vivid in a VM" scripts/test-v4l2-vm.sh
step "deb: package built, installed in a throwaway root" scripts/test-deb.sh
step "lotr-mqtt: real mosquitto broker" sh -c 'swift build --product lotrd >/dev/null && swift build --product lotr-mqtt >/dev/null && LOTR_BIN=$(swift build --show-bin-path) python3 -m unittest Tests/MQTTBridge/test_lotr_mqtt.py'
step "lotrd: python client + golden check" sh -c 'python3 -m unittest -q clients/python/test_lotr_client.py && python3 Tests/Fixtures/lotrd/check_golden.py'
step "LOTRClient: an outside package builds on it" scripts/test-client-package.sh
step "python client: pip-installable" sh -c 'd=$(mktemp -d) && trap "rm -rf $d" EXIT && cp -r clients/python "$d/src" && .venv/bin/pip install -q --no-build-isolation --no-deps --target "$d/site" "$d/src" && cd / && PYTHONPATH="$d/site" python3 -c "import lotr_client, sys; assert lotr_client.__file__.startswith(sys.argv[1]), lotr_client.__file__" "$d/site"'

summary
exit $(( failed > 0 ))
