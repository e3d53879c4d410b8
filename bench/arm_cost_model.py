#!/usr/bin/env python3
"""ARM on paper: llvm-mca on the inner loop of every ARM int8 micro-kernel, and from that
a modeled whole-model latency for Raspberry Pi 3, Zero 2 W, 4 and 5.

    .venv/bin/python bench/arm_cost_model.py              # tables
    .venv/bin/python bench/arm_cost_model.py --json       # JSON only
    .venv/bin/python bench/arm_cost_model.py --kernels-only

Method (docs/PERFORMANCE.md, "ARM on paper"):
  1. Each kernel source is compiled with clang --target=aarch64-linux-gnu -O2 -S (armv7:
     --target=armv7a-linux-gnueabihf -mfpu=neon) for -mcpu=cortex-a53 / a72 / a76.
  2. Its inner loop is found in the assembly by its backward branch: a label that a
     branch after it (in the same function) jumps back to is a loop; the innermost loop
     with the most multiply-accumulate instructions is the kernel's hot loop. No marker
     goes into the kernel source, so the code measured is the code shipped (an inline-asm
     LLVM-MCA-BEGIN comment is a volatile asm statement and can change scheduling and
     unrolling around it).
  3. llvm-mca simulates that loop body repeated (-iterations) on the core's scheduling
     model: cycles per iteration = total cycles / iterations. MACs per iteration are
     counted from the loop's instructions (SMULL/SMLAL: 8, SDOT: 16, VMLAL.S16: 4) and
     must equal the tile's MR x NR x k-step (a wrong loop is an error, not a figure).
  4. The core's MAC/cycle limit comes from the same model: llvm-mca on a block of
     independent MAC instructions of each form (SMLAL, SMLAL2, SDOT, ...), best form wins.
  5. The per-tile epilogue (bias, reduction, requantization, stores) is llvm-mca of the
     enclosing loop's instructions outside the inner loops, minus its cold paths (blocks
     that call a function: the partial-tile copies) and the K-tail blocks.
  6. Whole model: per node of `lotr info --json` (the model file's own graph), GEMM-shaped
     work costs ceil(M/MR) x ceil(N/NR) tiles x (ceil(K/kstep) x loop + epilogue) cycles;
     depthwise OH x OW x ceil(C/16) blocks x loop; everything else is bytes over a stated
     bandwidth (or per-call costs where the runtime loops in small calls); float attention
     runs at a stated fraction of the FMLA peak from the same model; threads split work as
     the runtime's split() does, at a stated efficiency.
Only the standard library is used; clang and llvm-mca are found on PATH (newest
llvm-mca-NN first) or given with --clang / --llvm-mca.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS_DIR = ROOT / "Sources" / "CLOTRKernels"


class ModelError(RuntimeError):
    """A tool missing or an output the script cannot read: stop with this message."""


# --------------------------------------------------------------------------- cores ---

@dataclasses.dataclass(frozen=True)
class Core:
    key: str
    cpu: str                 # -mcpu for clang, and the llvm-mca model wanted
    dotprod: bool
    mca_substitutes: tuple   # llvm-mca CPUs to try when `cpu` has no model of its own
    model_prefix: str        # resource-name prefix of the core's own scheduling model


CORES = {
    "a53": Core("a53", "cortex-a53", False, (), "A53"),
    "a72": Core("a72", "cortex-a72", False, (), "A57"),  # LLVM models the A72 with the A57's tables
    # The Cortex-A76's LLVM entry reuses the Cortex-A57 model; the Neoverse N1 is the
    # A76's server derivative (same pipelines: two ASIMD pipes V0/V1, two loads).
    "a76": Core("a76", "cortex-a76", True, ("neoverse-n1",), "N1"),
}


@dataclasses.dataclass(frozen=True)
class Board:
    key: str
    name: str
    core: str
    cores: int
    ghz: float
    bandwidth_gbs: float     # stated sustained copy bandwidth (assumption, see --bandwidth)


# Sustained memcpy-class bandwidth per board: stated assumptions (public STREAM/tinymembench
# figures are in this range), not measurements of this project. A Pi owner replaces them
# with `--bandwidth pi4=5.1` from their own measurement.
BOARDS = {
    "pi3": Board("pi3", "Raspberry Pi 3 (4x Cortex-A53 1.2 GHz)", "a53", 4, 1.2, 2.0),
    "zero2w": Board("zero2w", "Raspberry Pi Zero 2 W (4x Cortex-A53 1.0 GHz)", "a53", 4, 1.0, 1.5),
    "pi4": Board("pi4", "Raspberry Pi 4 (4x Cortex-A72 1.8 GHz)", "a72", 4, 1.8, 4.0),
    "pi5": Board("pi5", "Raspberry Pi 5 (4x Cortex-A76 2.4 GHz)", "a76", 4, 2.4, 10.0),
}


# ------------------------------------------------------------------------- kernels ---

@dataclasses.dataclass(frozen=True)
class Kernel:
    name: str
    source: str              # relative to Sources/CLOTRKernels
    function: str
    arch: str                # "aarch64" or "armv7"
    kind: str                # "gemm" or "dwconv"
    cores: tuple             # cores it is modeled on
    dispatched: tuple        # cores whose default path runs it (dispatch.c)


KERNELS = [
    Kernel("qs8_gemm_2x8c8__neon", "arm/qs8_gemm_2x8c8__neon.c", "lotr_qs8_gemm_2x8c8__neon", "aarch64", "gemm",
           ("a53", "a72", "a76"), ("a53", "a72")),
    Kernel("qs8_gemm_4x8c4__neondot", "arm/qs8_gemm_4x8c4__neondot.c", "lotr_qs8_gemm_4x8c4__neondot", "aarch64",
           "gemm", ("a76",), ("a76",)),
    Kernel("qs8_dwconv3x3_16c__neon", "arm/qs8_dwconv3x3_16c__neon.c", "lotr_qs8_dwconv3x3_16c__neon", "aarch64",
           "dwconv", ("a53", "a72", "a76"), ("a53", "a72", "a76")),
    # 32-bit Raspberry Pi OS on the same boards. llvm-mca's ARM (32-bit) backend has a
    # scheduling model for the A57/A72 only; other cores are reported as unmodeled.
    Kernel("qs8_gemm_4x8c1__armv7", "arm/qs8_gemm_4x8c1__armv7.c", "lotr_qs8_gemm_4x8c1__armv7", "armv7", "gemm",
           ("a53", "a72", "a76"), ()),
    Kernel("qs8_dwconv3x3_16c__armv7", "arm/qs8_dwconv3x3_16c__neon.c", "lotr_qs8_dwconv3x3_16c__armv7", "armv7",
           "dwconv", ("a53", "a72", "a76"), ()),
]

TRIPLES = {"aarch64": "aarch64-linux-gnu", "armv7": "armv7a-linux-gnueabihf"}


def tile_of(kernel: Kernel) -> dict:
    """MR, NR, KR from the kernel's `enum { MR = .., NR = .., KR = .. }` and the main
    loop's k step from its `for (; k >= S; k -= S)`; the depthwise kernel's channel block
    from its `c += T` loop. Read from the source so a new tile cannot go stale here."""
    text = (KERNELS_DIR / kernel.source).read_text()
    if kernel.kind == "gemm":
        enum = re.search(r"enum\s*\{\s*MR\s*=\s*(\d+)\s*,\s*NR\s*=\s*(\d+)\s*,\s*KR\s*=\s*(\d+)\s*\}", text)
        step = re.search(r"for\s*\(\s*;\s*k\s*>=\s*(\d+)\s*;\s*k\s*-=\s*(\d+)\s*\)", text)
        if not enum or not step or step.group(1) != step.group(2):
            raise ModelError(f"{kernel.source}: cannot read the tile (enum MR/NR/KR) or the k loop's step")
        mr, nr, kr = (int(g) for g in enum.groups())
        return {"mr": mr, "nr": nr, "kr": kr, "kstep": int(step.group(1))}
    block = re.search(r"for\s*\(\s*size_t\s+c\s*=\s*0\s*;\s*c\s*<\s*full\s*;\s*c\s*\+=\s*(\d+)", text)
    taps = re.search(r"for\s*\(\s*size_t\s+k\s*=\s*0\s*;\s*k\s*<\s*(\d+)\s*;", text)
    if not block or not taps:
        raise ModelError(f"{kernel.source}: cannot read the channel block or the tap count")
    return {"channels": int(block.group(1)), "taps": int(taps.group(1))}


def macs_per_iteration(kernel: Kernel, tile: dict) -> int:
    if kernel.kind == "gemm":
        return tile["mr"] * tile["nr"] * tile["kstep"]
    return tile["channels"] * tile["taps"]


# ---------------------------------------------------------------------- assembly ---

BRANCH_A64 = re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z)$")
BRANCH_A32 = re.compile(r"^b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.w|\.n)?$|^cbn?z$")
CALL = re.compile(r"^(bl|blx|blr)$")


@dataclasses.dataclass
class Instruction:
    text: str
    mnemonic: str
    operands: str


@dataclasses.dataclass
class Function:
    name: str
    instructions: list
    labels: dict             # label -> index of the instruction it precedes
    block_starts: list       # instruction indices where a basic block starts


def parse_function(asm: str, name: str, arch: str) -> Function:
    lines = asm.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith(name + ":"))
    except StopIteration:
        raise ModelError(f"function {name} not found in the assembly") from None
    comment = "//" if arch == "aarch64" else "@"
    instructions, labels, block_starts = [], {}, {0}
    branch = BRANCH_A64 if arch == "aarch64" else BRANCH_A32
    for line in lines[start + 1:]:
        if re.match(rf"\s*\.size\s+{re.escape(name)}\b", line) or line.startswith(".Lfunc_end"):
            break
        code = line.split(comment, 1)[0].strip()
        if not code:
            continue
        label = re.match(r"^([.\w$]+):", code)
        if label:
            labels[label.group(1)] = len(instructions)
            block_starts.add(len(instructions))
            continue
        if code.startswith("."):
            continue  # directive
        parts = re.split(r"\s+", code, maxsplit=1)
        mnemonic, operands = parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""
        instructions.append(Instruction(code, mnemonic, operands))
        if branch.match(mnemonic) or CALL.match(mnemonic):
            block_starts.add(len(instructions))
    if not instructions:
        raise ModelError(f"function {name}: no instructions")
    return Function(name, instructions, labels, sorted(block_starts))


def branch_target(ins: Instruction, arch: str) -> str | None:
    branch = BRANCH_A64 if arch == "aarch64" else BRANCH_A32
    if not branch.match(ins.mnemonic):
        return None
    return ins.operands.split(",")[-1].strip()


def loops_of(fn: Function, arch: str) -> list:
    """(first, last) instruction index pairs of every loop: a branch back to a label at or
    before it."""
    loops = []
    for i, ins in enumerate(fn.instructions):
        target = branch_target(ins, arch)
        if target in fn.labels and fn.labels[target] <= i:
            loops.append((fn.labels[target], i))
    return loops


def int8_macs(ins: Instruction, arch: str) -> int:
    """Products of one instruction that multiplies int8 data (int16 for the ARMv7 kernel,
    which widens its int8 operands first); 0 for anything else, including the int32 x int32
    multiplies of requantization."""
    m, ops = ins.mnemonic, ins.operands.lower()
    if arch == "aarch64":
        regs = re.findall(r"v\d+\.(\d+)([bhsd])", ops)
        if m in ("sdot", "udot", "usdot", "sudot") and regs:
            return int(regs[0][0]) * 4
        if re.match(r"^[su](mull|mlal|mlsl)2?$", m) and len(regs) >= 2 and regs[1][1] == "b":
            return int(regs[0][0])
        return 0
    base = re.match(r"^v(mull|mlal|mlsl)\.([su])(8|16)$", m)
    if base:
        return 128 // (2 * int(base.group(3)))
    return 0


def blocks_of(fn: Function) -> list:
    starts = fn.block_starts + [len(fn.instructions)]
    return [(a, b) for a, b in zip(starts, starts[1:]) if b > a]


# ------------------------------------------------------------------------- tools ---

def find_tool(explicit: str | None, names: list, what: str) -> str | None:
    if explicit:
        path = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if not path:
            raise ModelError(f"{what} not found: {explicit}")
        return path
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_llvm_mca(explicit: str | None) -> str | None:
    """The newest llvm-mca on PATH: llvm-mca-NN (Debian's versioned packages), then llvm-mca."""
    if explicit:
        return find_tool(explicit, [], "llvm-mca")
    versioned = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        for p in Path(directory).glob("llvm-mca-*") if Path(directory).is_dir() else []:
            m = re.fullmatch(r"llvm-mca-(\d+)", p.name)
            if m and os.access(p, os.X_OK):
                versioned.append((int(m.group(1)), str(p)))
    if versioned:
        return max(versioned)[1]
    return shutil.which("llvm-mca")


def tool_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(?:LLVM|clang) version ([\w.\-]+)", out)
    return m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "?"


def run_tool(argv: list, stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelError(f"{' '.join(argv[:3])} ... failed ({proc.returncode}): {proc.stderr.strip()[:800]}")
    return proc.stdout


class Toolchain:
    def __init__(self, clang: str, mca: str):
        self.clang, self.mca = clang, mca
        self._asm, self._mca_cpu = {}, {}

    def compile(self, kernel: Kernel, core: Core) -> str:
        key = (kernel.source, kernel.arch, core.cpu)
        if key not in self._asm:
            argv = [self.clang, f"--target={TRIPLES[kernel.arch]}", "-O2", "-S", f"-mcpu={core.cpu}",
                    "-std=gnu11", f"-I{KERNELS_DIR / 'include'}", f"-I{KERNELS_DIR}", "-o", "-",
                    str(KERNELS_DIR / kernel.source)]
            if kernel.arch == "armv7":
                argv[4:4] = ["-mfpu=neon", "-mfloat-abi=hard"]
            self._asm[key] = run_tool(argv)
        return self._asm[key]

    def simulate(self, lines: list, arch: str, cpu: str, iterations: int) -> dict:
        """llvm-mca of `lines` as a loop body: steady-state cycles per iteration (the
        difference between `2 x iterations` and `iterations`, so the pipeline's fill and
        drain cancel), the block's reciprocal throughput and each resource's pressure per
        iteration."""
        once = self._simulate(lines, arch, cpu, iterations)
        twice = self._simulate(lines, arch, cpu, 2 * iterations)
        once["cycles_per_iteration"] = (twice["total_cycles"] - once["total_cycles"]) / iterations
        return once

    def _simulate(self, lines: list, arch: str, cpu: str, iterations: int) -> dict:
        with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
            f.write("\n".join(lines) + "\n")
            path = f.name
        try:
            argv = [self.mca, f"-mtriple={TRIPLES[arch]}", f"-mcpu={cpu}", f"-iterations={iterations}",
                    "-resource-pressure", "-bottleneck-analysis", path]
            if arch == "aarch64":
                argv.insert(3, "-mattr=+dotprod")
            out = run_tool(argv)
        finally:
            os.unlink(path)
        def field(name):
            m = re.search(rf"^{name}:\s+([\d.]+)", out, re.M)
            if not m:
                raise ModelError(f"llvm-mca output without '{name}'")
            return float(m.group(1))
        resources = dict(re.findall(r"^\[([\d.]+)\]\s+-\s+(\w+)", out, re.M))
        pressure = {}
        m = re.search(r"Resource pressure per iteration:\n(.*)\n(.*)\n", out)
        if m:
            heads = re.findall(r"\[([\d.]+)\]", m.group(1))
            values = m.group(2).split()
            for h, v in zip(heads, values):
                name = resources.get(h, h) + ("" if "." not in h else "." + h.split(".")[1])
                pressure[name] = 0.0 if v == "-" else float(v)
        bottleneck = re.search(r"Cycles with backend pressure increase \[ ([\d.]+)% \]", out)
        return {
            "total_cycles": field("Total Cycles"),
            "block_rthroughput": field("Block RThroughput"),
            "resource_pressure": pressure,
            "backend_pressure_percent": float(bottleneck.group(1)) if bottleneck else None,
            "raw": out,
        }

    def model_cpu(self, core: Core, arch: str) -> tuple:
        """The llvm-mca CPU whose scheduling model is the core's own (its resources carry the
        core's prefix), trying the core then its stated substitutes; (cpu, note) or (None, why)."""
        key = (core.key, arch)
        if key in self._mca_cpu:
            return self._mca_cpu[key]
        probe = ["add x0, x0, #1"] if arch == "aarch64" else ["add r0, r0, #1"]
        found, notes = None, []
        for cpu in (core.cpu,) + core.mca_substitutes:
            try:
                res = self.simulate(probe, arch, cpu, 1)
            except ModelError:
                notes.append(f"{cpu}: no {arch} scheduling model")
                continue
            units = sorted({re.sub(r"Unit.*", "", r) for r in res["resource_pressure"]})
            if any(u.startswith(core.model_prefix) for u in units):
                found = (cpu, "; ".join(notes + [f"{cpu}: {core.model_prefix} model"]))
                break
            notes.append(f"{cpu}: its llvm-mca model is {'/'.join(units)}'s")
        self._mca_cpu[key] = found or (None, "; ".join(notes))
        return self._mca_cpu[key]


# ---------------------------------------------------------------- kernel analysis ---

ITERATIONS = 300
COLD_CALLS = re.compile(r"\b(memcpy|memset|memmove)\b")


def hot_loop(fn: Function, arch: str) -> tuple:
    """The innermost loop with the most int8 MACs, and the smallest loop around it."""
    loops = loops_of(fn, arch)
    inner = [l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)]
    if not inner:
        raise ModelError(f"{fn.name}: no loop found (no backward branch)")
    def macs(l):
        return sum(int8_macs(i, arch) for i in fn.instructions[l[0]:l[1] + 1])
    best = max(inner, key=macs)
    if macs(best) == 0:
        raise ModelError(f"{fn.name}: no loop multiplies int8 data")
    around = [l for l in loops if l != best and l[0] <= best[0] and best[1] <= l[1]]
    return best, (min(around, key=lambda l: l[1] - l[0]) if around else None), loops


def overhead_lines(fn: Function, arch: str, outer: tuple | None, loops: list) -> list:
    """The enclosing loop's instructions on its hot path outside the inner loops: blocks
    inside no inner loop, without calls to memcpy/memset (partial-tile copies) and without
    int8 multiplies (the K or channel tail, which the model charges as padding)."""
    if outer is None:
        return []
    inner = [l for l in loops if l != outer and outer[0] <= l[0] and l[1] <= outer[1]]
    lines = []
    for a, b in blocks_of(fn):
        if a < outer[0] or b - 1 > outer[1]:
            continue
        if any(l[0] <= a and b - 1 <= l[1] for l in inner):
            continue
        body = fn.instructions[a:b]
        if any(COLD_CALLS.search(i.operands) for i in body if CALL.match(i.mnemonic)):
            continue
        if any(int8_macs(i, arch) for i in body):
            continue
        lines += [i.text for i in body if not CALL.match(i.mnemonic)]
    return lines


def analyse_kernel(tools: Toolchain, kernel: Kernel, core: Core) -> dict:
    tile = tile_of(kernel)
    cpu, model_note = tools.model_cpu(core, kernel.arch)
    result = {"kernel": kernel.name, "arch": kernel.arch, "core": core.key, "compiled_for": core.cpu,
              "mca_cpu": cpu, "model": model_note, "tile": tile, "dispatched": core.key in kernel.dispatched}
    if cpu is None:
        result["error"] = f"no llvm-mca scheduling model ({model_note})"
        return result
    fn = parse_function(tools.compile(kernel, core), kernel.function, kernel.arch)
    loop, outer, loops = hot_loop(fn, kernel.arch)
    body = fn.instructions[loop[0]:loop[1] + 1]
    counted = sum(int8_macs(i, kernel.arch) for i in body)
    expected = macs_per_iteration(kernel, tile)
    # The compiler may unroll the source loop (clang does for the in-order A53): the loop
    # found must then hold a whole number of source iterations.
    if counted % expected != 0:
        return dict(result, error=f"{kernel.name} ({core.cpu}): the loop found has {counted} int8 MACs per iteration, "
                         f"not a multiple of the tile's {expected}: the compiler kept an inner loop of its own "
                         f"(not modeled)")
    unroll = counted // expected
    sim = tools.simulate([i.text for i in body], kernel.arch, cpu, ITERATIONS)
    sim["cycles_per_iteration"] /= unroll
    sim["block_rthroughput"] /= unroll
    overhead = overhead_lines(fn, kernel.arch, outer, loops)
    over = tools.simulate(overhead, kernel.arch, cpu, ITERATIONS) if overhead else None
    pressure = sim["resource_pressure"]
    top = sorted(pressure.items(), key=lambda kv: -kv[1])[:3]
    result.update({
        "loop_instructions": len(body),
        "loop_label": next((k for k, v in fn.labels.items() if v == loop[0]), "?"),
        "unrolled": unroll,
        "macs_per_iteration": expected,
        "cycles_per_iteration": round(sim["cycles_per_iteration"], 3),
        "block_rthroughput": sim["block_rthroughput"],
        "macs_per_cycle": round(expected / sim["cycles_per_iteration"], 3),
        "busiest_resources": [{"resource": r, "cycles_per_iteration": round(v / unroll, 2)} for r, v in top],
        "overhead_instructions": len(overhead),
        "overhead_cycles": round(over["cycles_per_iteration"], 3) if over else 0.0,
        "overhead_is": "per NR-column block of a tile" if kernel.kind == "gemm" else "per output pixel",
        "mnemonics": mnemonic_histogram(body),
    })
    return result


def mnemonic_histogram(body: list) -> dict:
    counts = {}
    for i in body:
        counts[i.mnemonic] = counts.get(i.mnemonic, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


# The MAC instruction forms whose throughput bounds an exact int8 GEMM (products kept
# in >= 16-bit lanes); the best one on a core is its limit. Independent accumulators, so
# llvm-mca measures issue throughput, not latency.
LIMIT_FORMS = {
    "aarch64": [
        ("SMLAL (8b -> 8h)", "smlal v{i}.8h, v28.8b, v29.8b", 8, False),
        ("SMLAL2 (16b -> 8h)", "smlal2 v{i}.8h, v28.16b, v29.16b", 8, False),
        ("SMULL (8b -> 8h)", "smull v{i}.8h, v28.8b, v29.8b", 8, False),
        ("SDOT (16b -> 4s)", "sdot v{i}.4s, v28.16b, v29.16b", 16, True),
        ("SDOT by element", "sdot v{i}.4s, v28.16b, v29.4b[0]", 16, True),
    ],
    "armv7": [
        ("VMLAL.S8 (d -> q)", "vmlal.s8 q{i}, d2, d3", 8, False),
        ("VMLAL.S16 by scalar", "vmlal.s16 q{i}, d2, d0[0]", 4, False),
    ],
}
F32_FORMS = {
    "aarch64": ("FMLA (4s)", "fmla v{i}.4s, v28.4s, v29.4s", 4),
    "armv7": ("VMLA.F32 (q)", "vmla.f32 q{i}, q1, q0", 4),
}


def mac_limit(tools: Toolchain, core: Core, arch: str) -> dict:
    cpu, note = tools.model_cpu(core, arch)
    if cpu is None:
        return {"core": core.key, "arch": arch, "error": note}
    # AArch64: v0-v15 accumulate, v28/v29 are the operands. ARMv7: q4-q15 accumulate,
    # q0/q1 (d0-d3) are the operands (a by-scalar operand must be in d0-d7).
    registers = range(16) if arch == "aarch64" else range(4, 16)
    accumulators = len(registers)
    forms = []
    for label, template, macs, needs_dot in LIMIT_FORMS[arch]:
        if needs_dot and not core.dotprod:
            continue
        lines = [template.format(i=i) for i in registers]
        sim = tools.simulate(lines, arch, cpu, ITERATIONS)
        per_instruction = sim["cycles_per_iteration"] / accumulators
        forms.append({"form": label, "macs_per_instruction": macs, "cycles_per_instruction": round(per_instruction, 3),
                      "macs_per_cycle": round(macs / per_instruction, 3),
                      "pipes": [r for r, v in sim["resource_pressure"].items() if v > 0]})
    best = max(forms, key=lambda f: f["macs_per_cycle"])
    label, template, lanes = F32_FORMS[arch]
    sim = tools.simulate([template.format(i=i) for i in registers], arch, cpu, ITERATIONS)
    return {"core": core.key, "arch": arch, "mca_cpu": cpu, "model": note, "forms": forms,
            "limit_macs_per_cycle": best["macs_per_cycle"], "limit_form": best["form"],
            "f32_fma_per_cycle": round(lanes * accumulators / sim["cycles_per_iteration"], 3), "f32_form": label}
