"""bench/arm_cost_model.py runs and its figures are sane: the ARM kernels' inner loops under
llvm-mca (skipped where llvm-mca is missing), the tile arithmetic of the latency model, and
the whole-model latency where a lotr binary is built."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "bench", "arm_cost_model.py")
LOTR = os.path.join(ROOT, ".build", "release", "lotr")


def load_module():
    spec = importlib.util.spec_from_file_location("arm_cost_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["arm_cost_model"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


acm = load_module()


def needs_tools():
    if acm.find_llvm_mca(None) is None:
        pytest.skip("skipped: llvm-mca missing (scripts/setup.sh system installs llvm-19)")
    if acm.find_tool(None, ["/opt/swift/usr/bin/clang", "clang"], "clang") is None:
        pytest.skip("skipped: clang missing (the Swift toolchain's)")


def run_script(*args):
    out = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_gemm_cost_counts_tile_edges_and_k_padding():
    kernel = {"tile": {"mr": 2, "nr": 8, "kr": 8, "kstep": 16}, "cycles_per_iteration": 32.0, "overhead_cycles": 10.0}
    consts = {"gemm_parallel_min_macs": 1 << 20, "gemm_tasks_per_thread": 6}
    a = acm.Assumptions(0.85, 0.25, 20.0, {})
    r = acm.gemm_cost(3, 9, 17, kernel, 1, consts, a)
    # 2 row tiles x 2 column blocks, each one 16-k step (32 cycles), one 8-k tail group (its
    # half share: 16) and the 10-cycle epilogue; K = 17 is padded to 24.
    assert r["cycles_1"] == 2 * 2 * (32 + 16 + 10)
    assert r["tile_use"] == pytest.approx(3 * 9 * 17 / (4 * 16 * 24))
    big = acm.gemm_cost(256, 64, 256, kernel, 4, consts, a)
    assert big["tasks"] > 1 and big["cycles_t"] < big["cycles_1"]


def test_dwconv_cost_pays_per_step_of_pixels():
    # Two output pixels share one load of a channel block: a 5-pixel row is 2 steps of 2 and
    # one lone pixel at half a step; 40 channels are 3 blocks of 16.
    kernel = {"tile": {"channels": 16, "taps": 9, "pixels": 2}, "cycles_per_iteration": 80.0,
              "overhead_cycles": 40.0, "per_call_cycles": 30.0}
    consts = {"dwconv_parallel_min_macs": 1 << 19}
    a = acm.Assumptions(0.85, 0.25, 20.0, {})
    r = acm.dwconv_cost(3, 5, 40, kernel, 1, consts, a)
    assert r["cycles_1"] == pytest.approx(3 * (2.5 * (3 * 80 + 40) + 30))
    assert r["tile_use"] == pytest.approx(40 / 48)


def test_the_depthwise_tile_is_read_from_the_kernel_source():
    kernel = next(k for k in acm.KERNELS if k.kind == "dwconv" and k.arch == "aarch64")
    tile = acm.tile_of(kernel)
    assert tile == {"channels": 16, "taps": 9, "pixels": 2}
    assert acm.macs_per_iteration(kernel, tile) == 16 * 9 * 2


def test_runtime_constants_are_read_from_the_c_sources():
    consts = acm.runtime_constants()
    assert consts["gemm_parallel_min_macs"] > 0 and consts["gemm_tasks_per_thread"] > 0
    assert consts["dwconv_parallel_min_macs"] > 0
    assert consts["warp_parallel_min_pixels"] == 4096 and consts["warp_bands_per_thread"] > 0


@pytest.fixture(scope="module")
def kernels_report():
    needs_tools()
    return json.loads(run_script("--kernels-only", "--json"))


def test_kernels_under_llvm_mca(kernels_report):
    report = kernels_report
    limits = {(l["core"], l["arch"]): l for l in report["limits"]}
    # SDOT's two pipes give the A76 more int8 MACs per cycle than SMLAL gives the A72.
    assert limits[("a76", "aarch64")]["limit_macs_per_cycle"] > limits[("a72", "aarch64")]["limit_macs_per_cycle"]
    dispatched = [k for k in report["kernels"] if k["dispatched"] and k["arch"] == "aarch64"]
    assert {(k["kernel"].split("__")[0], k["core"]) for k in dispatched} >= {
        ("qs8_gemm_2x8c8", "a53"), ("qs8_gemm_2x8c8", "a72"), ("qs8_gemm_4x8c4", "a76"), ("qs8_dwconv3x3_16c", "a72")}
    for k in dispatched:
        assert "error" not in k, k
        assert k["cycles_per_iteration"] > 0 and k["overhead_cycles"] >= 0
        # A whole tile's path calls nothing (a library memcpy there would spill every
        # accumulator, and llvm-mca could not cost it).
        assert k["full_tile_calls"] == [], k
        # No kernel beats its core's limit, and every one reaches some of it.
        assert 0 < k["percent_of_limit"] <= 100.5, k
    for w in report["warp"]:
        # One NEON loop per camera layout; each costs more than nothing and less than the
        # scalar reference row it replaces.
        assert w["layouts"] == 5, w
        assert 0 < w["cycles_per_pixel_cheapest_layout"] <= w["cycles_per_pixel"] < w["ref_cycles_per_pixel"], w


def test_the_method_reads_this_machines_x86_kernel():
    # --check-host holds the method against this machine's measured kernels; here only its reading of
    # the AVX2 kernel (the measuring takes lotr bench-kernels' time).
    needs_tools()
    tools = acm.Toolchain(acm.find_tool(None, ["/opt/swift/usr/bin/clang", "clang"], "clang"), acm.find_llvm_mca(None))
    path, kernel = acm.HOST_KERNELS["x86_64"][0]
    r = acm.analyse_kernel(tools, kernel, acm.Core("host", "znver4", False, (), ""))
    assert "error" not in r, r
    assert r["macs_per_iteration"] == 4 * 16 * 2 and r["cycles_per_iteration"] > 0
    assert r["full_tile_calls"] == [] and r["per_call_cycles"] > 0


def test_tables_print(kernels_report, capsys):
    acm.print_tables(kernels_report, per_layer=False)
    out = capsys.readouterr().out
    assert "| qs8_gemm_2x8c8__neon | a72 |" in out and not out.lstrip().startswith("{")


def test_model_latency_of_a_shipped_model():
    needs_tools()
    if not os.path.isfile(LOTR):
        pytest.skip("skipped: no .build/release/lotr (swift build -c release --product lotr)")
    report = json.loads(run_script("--json", "--models", "models/lotr-s-68.lotr"))
    (model,) = report["models"]
    totals = {}
    for b in model["boards"]:
        one, four = b["threads"]["1"], b["threads"]["4"]
        assert 0 < four["total_ms"] <= one["total_ms"]
        assert one["total_ms"] == pytest.approx(one["network_ms"] + one["crop_ms"])
        totals[b["board"]] = one["total_ms"]
    # Faster cores, higher clocks: Pi 5 < Pi 4 < Pi 3 < Zero 2 W.
    assert totals["pi5"] < totals["pi4"] < totals["pi3"] < totals["zero2w"]
    assert any(t["target"].startswith("qs8_gemm_2x8c8__neon on a72") for t in report["targets"])
