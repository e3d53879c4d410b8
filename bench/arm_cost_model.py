#!/usr/bin/env python3
"""ARM on paper: llvm-mca on the inner loop of every ARM int8 micro-kernel, and from that
a modeled whole-model latency for Raspberry Pi 3, Zero 2 W, 4 and 5.

    .venv/bin/python bench/arm_cost_model.py              # tables
    .venv/bin/python bench/arm_cost_model.py --json       # JSON only
    .venv/bin/python bench/arm_cost_model.py --kernels-only

Method (docs/PERFORMANCE.md, "ARM on paper"):
  1. Each kernel source is compiled with clang --target=aarch64-linux-gnu -O2 -S (armv7:
     --target=armv7a-linux-gnueabihf -mfpu=neon) for -mcpu=cortex-a53 / a72 / a76.
  2. Its inner loop is found in the assembly's control-flow graph: natural loops from
     dominators (a back edge's target dominates its source), so block layout cannot fool
     it; the innermost loop with the most int8 multiplies is the kernel's hot loop. No
     marker goes into the kernel source, so the code measured is the code shipped (an
     inline-asm LLVM-MCA-BEGIN comment is a volatile asm statement and can change
     scheduling and unrolling around it).
  3. llvm-mca simulates that loop body as a loop on the core's scheduling model: cycles per
     iteration in the steady state (the difference of two run lengths). MACs per iteration
     are counted from the loop's instructions (SMULL/SMLAL: 8, SDOT: 16, VMLAL.S16: 4) and
     must be a whole multiple of the tile's MR x NR x k-step (a multiple: the compiler
     unrolled it; anything else is an error, not a figure).
  4. The core's MAC/cycle limit comes from the same model: llvm-mca on a block of
     independent MAC instructions of each form (SMLAL, SMLAL2, SDOT, ...), best form wins.
  5. The per-tile epilogue (bias, reduction, requantization, stores) is llvm-mca of the
     enclosing loop's instructions outside the inner loop, in a probe that calls the kernel
     with N a multiple of NR and K of the k step (C of the channel block), so the compiler
     itself removes the partial-tile paths.
  6. Whole model: per node of `lotr info --json` (the model file's own graph), GEMM-shaped
     work costs ceil(M/MR) x ceil(N/NR) tiles x (K padded to KR, in k steps of the loop, +
     epilogue) cycles; depthwise OH x OW x (ceil(C/16) blocks x loop + the per-pixel
     overhead); the crop warp llvm-mca of its pixel loop; everything else is bytes over a stated
     bandwidth (or per-call costs where the runtime loops in small calls); attention in an
     int8 model runs its projections on the int8 GEMM and its fused core, like every float
     matmul, at a stated fraction of the FMLA peak from the same model; threads split work
     as the runtime's split() does, at a stated efficiency.
Only the standard library is used; clang and llvm-mca are found on PATH (newest
llvm-mca-NN first) or given with --clang / --llvm-mca.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
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


# Sustained copy bandwidth per board: stated assumptions, not measurements of this project
# (no Pi is attached to it). A Pi owner replaces them with their board's own figure, e.g.
# `--bandwidth pi4=5.1`.
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

TRIPLES = {"aarch64": "aarch64-linux-gnu", "armv7": "armv7a-linux-gnueabihf", "x86_64": "x86_64-linux-gnu"}


def tile_of(kernel: Kernel) -> dict:
    """MR, NR, KR from the kernel's `enum { MR = .., NR = .., KR = .. }` and the main
    loop's k step from its `for (; k >= S; k -= S)`; the depthwise kernel's channel block
    from its `c += T` loop. Read from the source so a new tile cannot go stale here."""
    text = (KERNELS_DIR / kernel.source).read_text()
    if kernel.kind == "gemm":
        enum = re.search(r"enum\s*\{\s*MR\s*=\s*(\d+)\s*,\s*NR\s*=\s*(\d+)\s*,\s*KR\s*=\s*(\d+)\s*[,}]", text)
        step = re.search(r"for\s*\(\s*;\s*k\s*>=\s*(\d+)\s*;\s*k\s*-=\s*(\d+)\s*\)", text)
        if not enum:
            raise ModelError(f"{kernel.source}: cannot read the tile (enum MR/NR/KR)")
        mr, nr, kr = (int(g) for g in enum.groups())
        if step and step.group(1) == step.group(2):
            kstep = int(step.group(1))
        elif re.search(r"for\s*\(\s*size_t\s+p\s*=\s*0\s*;[^;]*;\s*p\s*\+=\s*KR\s*\)", text):
            kstep = kr  # the x86 kernels step one KR group per iteration
        else:
            raise ModelError(f"{kernel.source}: cannot read the k loop's step")
        return {"mr": mr, "nr": nr, "kr": kr, "kstep": kstep}
    block = re.search(r"for\s*\(\s*size_t\s+c\s*=\s*0\s*;\s*c\s*<\s*full\s*;\s*c\s*\+=\s*(\d+)", text)
    taps = re.search(r"for\s*\(\s*size_t\s+k\s*=\s*0\s*;\s*k\s*<\s*(\d+)\s*;", text)
    # Output pixels sharing one load of a channel block: the row loop's `x += P` step.
    pixels = re.search(r"for\s*\(\s*;\s*x\s*\+\s*(\d+)\s*<=\s*output_width\s*;\s*x\s*\+=\s*(\d+)", text)
    if not block or not taps:
        raise ModelError(f"{kernel.source}: cannot read the channel block or the tap count")
    if pixels and pixels.group(1) != pixels.group(2):
        raise ModelError(f"{kernel.source}: the row loop's bound and step differ")
    return {"channels": int(block.group(1)), "taps": int(taps.group(1)),
            "pixels": int(pixels.group(1)) if pixels else 1}


def macs_per_iteration(kernel: Kernel, tile: dict) -> int:
    if kernel.kind == "gemm":
        return tile["mr"] * tile["nr"] * tile["kstep"]
    return tile["channels"] * tile["taps"] * tile["pixels"]


# ---------------------------------------------------------------------- assembly ---

BRANCH = {
    "aarch64": re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z)$"),
    "armv7": re.compile(r"^b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.w|\.n)?$|^cbn?z$"),
    "x86_64": re.compile(r"^j[a-z]+$"),  # AT&T syntax, for --check-host
}
COMMENT = {"aarch64": "//", "armv7": "@", "x86_64": "#"}
CALL = re.compile(r"^(bl|blx|blr|callq?)$")


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
    comment = COMMENT[arch]
    instructions, labels, block_starts = [], {}, {0}
    branch = BRANCH[arch]
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
        if parts[0].startswith("{") and len(parts) > 1:  # an encoding prefix: {vex} vpdpbusd
            parts = re.split(r"\s+", parts[1], maxsplit=1)
        mnemonic, operands = parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""
        instructions.append(Instruction(code, mnemonic, operands))
        if branch.match(mnemonic) or CALL.match(mnemonic):
            block_starts.add(len(instructions))
    if not instructions:
        raise ModelError(f"function {name}: no instructions")
    return Function(name, instructions, labels, sorted(block_starts))


def branch_target(ins: Instruction, arch: str) -> str | None:
    if not BRANCH[arch].match(ins.mnemonic):
        return None
    return ins.operands.split(",")[-1].strip()


@dataclasses.dataclass(frozen=True)
class Loop:
    """A natural loop of the control-flow graph: a header block and every block that
    reaches a back edge to it (an edge whose target dominates its source)."""
    header: int
    blocks: frozenset

    def instructions(self, fn: "Function") -> list:
        """Its instructions in layout order, blocks laid end to end (how llvm-mca reads it)."""
        spans = blocks_of(fn)
        return [i for b in sorted(self.blocks) for i in fn.instructions[spans[b][0]:spans[b][1]]]

    def contains(self, other: "Loop") -> bool:
        return other.blocks < self.blocks


UNCONDITIONAL = {"aarch64": re.compile(r"^b$"), "armv7": re.compile(r"^b(al)?(\.w|\.n)?$"),
                 "x86_64": re.compile(r"^jmpq?$")}
RETURNS = re.compile(r"^(ret|retq|bx|pop|ldm(ia)?)$")


def loops_of(fn: Function, arch: str) -> list:
    """Every natural loop: found from dominators on the basic blocks, not from the layout,
    because the compiler places blocks out of order (a branch backwards in the text can be
    a forward edge, and a loop's blocks can sit on both sides of its header)."""
    spans = blocks_of(fn)
    start_of = {a: b for b, (a, _) in enumerate(spans)}
    succ = []
    for b, (a, e) in enumerate(spans):
        last = fn.instructions[e - 1]
        out = []
        target = branch_target(last, arch)
        if target is not None and target in fn.labels and fn.labels[target] in start_of:
            out.append(start_of[fn.labels[target]])
        ends = (target is not None and UNCONDITIONAL[arch].match(last.mnemonic)) or (
            RETURNS.match(last.mnemonic) and (last.mnemonic in ("ret", "retq", "bx") or "pc" in last.operands))
        if not ends and b + 1 < len(spans):
            out.append(b + 1)
        succ.append(out)
    pred = [[] for _ in spans]
    for b, out in enumerate(succ):
        for t in out:
            pred[t].append(b)
    every = frozenset(range(len(spans)))
    dom = [every] * len(spans)
    dom[0] = frozenset([0])
    changed = True
    while changed:
        changed = False
        for b in range(1, len(spans)):
            new = frozenset([b]) | (frozenset.intersection(*[dom[p] for p in pred[b]]) if pred[b] else frozenset())
            if new != dom[b]:
                dom[b], changed = new, True
    bodies = {}
    for u, out in enumerate(succ):
        for h in out:
            if h in dom[u]:  # back edge u -> h
                body, stack = {h, u}, ([u] if u != h else [])
                while stack:
                    for p in pred[stack.pop()]:
                        if p not in body:
                            body.add(p)
                            stack.append(p)
                bodies[h] = bodies.get(h, set()) | body
    return [Loop(h, frozenset(b)) for h, b in bodies.items()]


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
    if arch == "x86_64":
        # Products into int32 lanes of the destination (the last AT&T operand): VPMADDWD
        # (int8 values widened to int16), 2 per lane; VPDPBUSD, 4 per lane.
        width = {"xmm": 4, "ymm": 8, "zmm": 16}
        regs = re.findall(r"%([xyz]mm)\d+", ops)
        per_lane = {"vpmaddwd": 2, "vpdpbusd": 4, "vpdpbusds": 4}.get(m)
        return width[regs[-1]] * per_lane if per_lane and regs else 0
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

    def _clang(self, kernel: Kernel, core: Core) -> list:
        cpu = [f"-mtune={core.cpu}"] if kernel.arch == "x86_64" else [f"-mcpu={core.cpu}"]
        fpu = ["-mfpu=neon", "-mfloat-abi=hard"] if kernel.arch == "armv7" else []
        return [self.clang, f"--target={TRIPLES[kernel.arch]}", "-O2", "-S", *cpu, *fpu, "-std=gnu11", "-ffp-contract=off",
                f"-I{KERNELS_DIR / 'include'}", f"-I{KERNELS_DIR}", "-o", "-"]

    def compile(self, kernel: Kernel, core: Core) -> str:
        key = (kernel.source, kernel.arch, core.cpu)
        if key not in self._asm:
            self._asm[key] = run_tool(self._clang(kernel, core) + [str(KERNELS_DIR / kernel.source)])
        return self._asm[key]

    def compile_probe(self, kernel: Kernel, core: Core, text: str) -> str:
        key = ("probe", kernel.name, core.cpu)
        if key not in self._asm:
            self._asm[key] = run_tool(self._clang(kernel, core) + ["-x", "c", "-"], stdin=text)
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
            elif arch == "x86_64":
                argv.insert(3, "-mattr=+avxvnni")  # the {vex} VPDPBUSD of the AVX-VNNI kernel
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
        # Per instruction: which resources it occupies, summed by mnemonic (what fills a pipe).
        by_mnemonic = {}
        section = out.split("Resource pressure by instruction:\n", 1)
        if len(section) == 2:
            rows = section[1].split("\n\n", 1)[0].splitlines()
            heads = re.findall(r"\[([\d.]+)\]", rows[0])
            names = [resources.get(h, h) + ("." + h.split(".")[1] if "." in h else "") for h in heads]
            for row in rows[1:]:
                cells = row.split()
                if len(cells) <= len(heads):
                    continue
                mnemonic = cells[len(heads)].lower()
                for name, v in zip(names, cells[:len(heads)]):
                    if v != "-":
                        per = by_mnemonic.setdefault(name, {})
                        per[mnemonic] = per.get(mnemonic, 0.0) + float(v)  # already per iteration
        bottleneck = re.search(r"Cycles with backend pressure increase \[ ([\d.]+)% \]", out)
        return {
            "total_cycles": field("Total Cycles"),
            "block_rthroughput": field("Block RThroughput"),
            "resource_pressure": pressure,
            "pressure_by_mnemonic": by_mnemonic,
            "backend_pressure_percent": float(bottleneck.group(1)) if bottleneck else None,
            "raw": out,
        }

    def model_cpu(self, core: Core, arch: str) -> tuple:
        """The llvm-mca CPU whose scheduling model is the core's own (its resources carry the
        core's prefix), trying the core then its stated substitutes; (cpu, note) or (None, why)."""
        key = (core.key, arch)
        if key in self._mca_cpu:
            return self._mca_cpu[key]
        probe = {"aarch64": ["add x0, x0, #1"], "armv7": ["add r0, r0, #1"], "x86_64": ["addq $1, %rax"]}[arch]
        found, fallback, notes = None, None, []
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
            fallback = fallback or cpu
        if not found and fallback:
            # An older llvm-mca (Debian 12's llvm 14 has no Neoverse N1 model): the core's
            # own entry, whatever model it maps to, said in the note.
            found = (fallback, "; ".join(notes + [f"no {core.model_prefix} model in this llvm-mca: using {fallback}'s"]))
        self._mca_cpu[key] = found or (None, "; ".join(notes))
        return self._mca_cpu[key]


# ---------------------------------------------------------------- kernel analysis ---

ITERATIONS = 300
COLD_CALLS = re.compile(r"\b(memcpy|memset|memmove)\b")


def innermost(loops: list) -> list:
    return [l for l in loops if not any(l.contains(o) for o in loops)]


def loop_macs(fn: Function, loop: Loop, arch: str) -> int:
    return sum(int8_macs(i, arch) for i in loop.instructions(fn))


def hot_loop(fn: Function, arch: str) -> tuple:
    """The innermost loop with the most int8 MACs, and the smallest loop around it."""
    loops = loops_of(fn, arch)
    inner = innermost(loops)
    if not inner:
        raise ModelError(f"{fn.name}: no loop found")
    best = max(inner, key=lambda l: loop_macs(fn, l, arch))
    if loop_macs(fn, best, arch) == 0:
        raise ModelError(f"{fn.name}: no loop multiplies int8 data")
    around = [l for l in loops if l.contains(best)]
    return best, (min(around, key=lambda l: len(l.blocks)) if around else None), loops


def overhead_lines(fn: Function, arch: str, outer: Loop | None, loops: list) -> list:
    """The enclosing loop's instructions outside its inner loops, without blocks that call
    memcpy/memset (partial-tile copies) or multiply int8 data (a K or channel tail). Read
    from the full-tile probe, whose partial paths the compiler has already removed."""
    if outer is None:
        return []
    inside = set().union(*[l.blocks for l in loops if outer.contains(l)])
    spans = blocks_of(fn)
    lines = []
    for b in sorted(outer.blocks - inside):
        body = fn.instructions[spans[b][0]:spans[b][1]]
        if any(COLD_CALLS.search(i.operands) for i in body if CALL.match(i.mnemonic)):
            continue
        if any(int8_macs(i, arch) for i in body):
            continue
        lines += [i.text for i in body if not CALL.match(i.mnemonic)]
    return lines


PROBE = "lotr_mca_full_tiles"


def full_tile_probe(kernel: Kernel, tile: dict) -> str:
    """A translation unit that includes the kernel's source and calls it with the tile's
    shape made whole at compile time: N a multiple of NR and K of the k step (GEMM), C a
    multiple of the channel block (depthwise). The compiler then deletes the partial-tile
    paths (K tail, column tail, channel tail, their copies), and what is left around the
    inner loop is the epilogue a whole tile pays. flatten inlines the kernel into it."""
    text = (KERNELS_DIR / kernel.source).read_text()
    region = re.search(r"\b(LOTR_(?:NEON|AVX)\w*)_BEGIN\b", text)
    if not region:
        raise ModelError(f"{kernel.source}: no LOTR_NEON*/LOTR_AVX*_BEGIN region")
    begin, end = region.group(1) + "_BEGIN", region.group(1) + "_END"
    head = f'#include "{kernel.source}"\n{begin}\n__attribute__((flatten)) '
    if kernel.kind == "gemm":
        body = re.search(r"static inline __attribute__\(\(always_inline\)\) void (gemm_\w+)\(", text)
        if not body:
            raise ModelError(f"{kernel.source}: no always-inline gemm_<tile> body")
        # The x86 kernels widen A in chunks of KCHUNK k: K is kept within one chunk, so the
        # chunk loop runs once and the compiler folds it away.
        chunk = re.search(r"\bKCHUNK\s*=\s*(\d+)", text)
        steps = f"(steps % {int(chunk.group(1)) // tile['kstep']})" if chunk else "steps"
        return head + (f"void {PROBE}(size_t mr, size_t blocks, size_t steps, const int8_t* a, size_t a_stride, "
                       f"const void* w, int8_t* c, size_t c_stride, const lotr_qs8_requant* requant) {{\n"
                       f"  {body.group(1)}(mr, blocks * {tile['nr']}, {steps} * {tile['kstep']}, a, a_stride, w, c, "
                       f"NULL, c_stride, requant, NULL);\n}}\n{end}\n")
    return head + (f"void {PROBE}(size_t blocks, size_t output_width, const int8_t* const rows[3], size_t input_width, "
                   f"size_t stride, size_t pad_left, const int8_t* zero, const void* packed, int8_t* output, "
                   f"const lotr_qs8_requant* requant) {{\n"
                   f"  LOTR_NEON_FN(qs8_dwconv3x3_16c)(blocks * {tile['channels']}, output_width, rows, input_width, "
                   f"stride, pad_left, zero, packed, output, requant);\n}}\n{end}\n")


def analyse_kernel(tools: Toolchain, kernel: Kernel, core: Core) -> dict:
    tile = tile_of(kernel)
    cpu, model_note = tools.model_cpu(core, kernel.arch)
    result = {"kernel": kernel.name, "kind": kernel.kind, "arch": kernel.arch, "core": core.key, "compiled_for": core.cpu,
              "mca_cpu": cpu, "model": model_note, "tile": tile, "dispatched": core.key in kernel.dispatched}
    if cpu is None:
        result["error"] = f"no llvm-mca scheduling model ({model_note})"
        return result
    fn = parse_function(tools.compile(kernel, core), kernel.function, kernel.arch)
    loop, outer, loops = hot_loop(fn, kernel.arch)
    body = loop.instructions(fn)
    counted = sum(int8_macs(i, kernel.arch) for i in body)
    expected = macs_per_iteration(kernel, tile)
    # The compiler may unroll the source loop (clang does for the in-order A53): the loop
    # found must then hold a whole number of source iterations.
    if counted % expected != 0:
        return dict(result, error=f"{kernel.name} ({core.cpu}): the loop found has {counted} int8 MACs per iteration, "
                         f"not a multiple of the tile's {expected}: the compiler kept a loop of its own inside, or the count "
                         f"of MACs is wrong (not modeled)")
    unroll = counted // expected
    sim = tools.simulate([i.text for i in body], kernel.arch, cpu, ITERATIONS)
    sim["cycles_per_iteration"] /= unroll
    sim["block_rthroughput"] /= unroll
    probe = parse_function(tools.compile_probe(kernel, core, full_tile_probe(kernel, tile)), PROBE, kernel.arch)
    probe_loop, probe_outer, probe_loops = hot_loop(probe, kernel.arch)
    overhead = overhead_lines(probe, kernel.arch, probe_outer, probe_loops)
    over = tools.simulate(overhead, kernel.arch, cpu, ITERATIONS) if overhead else None
    # Per call (one row tile of a GEMM, one output row of depthwise): the probe's code
    # outside every loop, i.e. the prologue, the A row pointers, saving and restoring
    # callee-saved registers.
    in_loops = set().union(*[l.blocks for l in probe_loops]) if probe_loops else set()
    spans = blocks_of(probe)
    per_call = [i.text for b, (x, y) in enumerate(spans) if b not in in_loops
                for i in probe.instructions[x:y] if not CALL.match(i.mnemonic)]
    call = tools.simulate(per_call, kernel.arch, cpu, ITERATIONS) if per_call else None
    # Calls left on the whole-tile path (llvm-mca cannot cost them, and overhead_lines
    # leaves memcpy blocks out): there should be none; a library copy that creeps back into
    # the epilogue shows here.
    full_tile_calls = [i.operands for i in (probe_outer or probe_loop).instructions(probe) if CALL.match(i.mnemonic)]
    pressure = sim["resource_pressure"]
    top = sorted(pressure.items(), key=lambda kv: -kv[1])[:3]
    result.update({
        "loop_instructions": len(body),
        "loop_label": next((k for k, v in fn.labels.items() if v == blocks_of(fn)[loop.header][0]), "?"),
        "unrolled": unroll,
        "macs_per_iteration": expected,
        "cycles_per_iteration": round(sim["cycles_per_iteration"], 3),
        "block_rthroughput": sim["block_rthroughput"],
        "macs_per_cycle": round(expected / sim["cycles_per_iteration"], 3),
        "busiest_resources": [{"resource": r, "cycles_per_iteration": round(v / unroll, 2),
                               "by_mnemonic": {mn: round(c / unroll, 2) for mn, c in sorted(
                                   sim["pressure_by_mnemonic"].get(r, {}).items(), key=lambda kv: -kv[1])}}
                              for r, v in top],
        "overhead_instructions": len(overhead),
        "overhead_cycles": round(over["cycles_per_iteration"], 3) if over else 0.0,
        "overhead_is": "per NR-column block of a tile" if kernel.kind == "gemm" else f"per step of {tile['pixels']} output pixels",
        "per_call_cycles": round(call["cycles_per_iteration"], 3) if call else 0.0,
        "per_call_is": "per row tile (one kernel call)" if kernel.kind == "gemm" else "per output row (one call)",
        "full_tile_calls": full_tile_calls,
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


# The crop warp's row (lotr_pixels.h): what runs on the Pi is the NEON row
# (arm/image_warp_row__neon.c), one loop per camera layout, 4 pixels an iteration, its
# taps branch-free lane loads. Its cost per pixel is a quarter of the loop's cycles per
# iteration (all paths laid end to end: an upper bound), plus, should the compiler keep
# a loop over the lanes inside it, that loop's cycles per iteration (one per pixel); the
# figure the latency model uses is the dearest layout's. The scalar reference row is modeled beside it for comparison (its
# pixel loop: the smallest loop that stores one pixel's three channels).
WARP = Kernel("image_warp_row (NEON)", "arm/image_warp_row__neon.c", "lotr_image_warp_row__neon", "aarch64", "warp",
              ("a53", "a72", "a76"), ("a53", "a72", "a76"))
WARP_REF = Kernel("image_warp_row (C reference)", "ref/image_warp_row__ref.c", "lotr_image_warp_row__ref", "aarch64",
                  "warp", ("a53", "a72", "a76"), ("a53", "a72", "a76"))
WARP_LANES = 4


def analyse_warp(tools: Toolchain, core: Core) -> dict:
    cpu, note = tools.model_cpu(core, "aarch64")
    fn = parse_function(tools.compile(WARP, core), WARP.function, "aarch64")
    loops = loops_of(fn, "aarch64")
    per_layout = []
    for outer in loops:
        body = outer.instructions(fn)
        if not any(i.mnemonic == "st3" for i in body):
            continue
        inner = [l for l in loops if outer.contains(l)]
        if any(any(i.mnemonic == "st3" for i in l.instructions(fn)) for l in inner):
            continue  # not the innermost loop that stores pixels
        inner_blocks = frozenset().union(*[l.blocks for l in inner]) if inner else frozenset()
        rest = Loop(outer.header, outer.blocks - inner_blocks).instructions(fn)
        cycles = tools.simulate([i.text for i in rest], "aarch64", cpu, ITERATIONS)["cycles_per_iteration"] / WARP_LANES
        lines = len(rest)
        for l in inner:  # the lane loop: one iteration per pixel
            lane = [i.text for i in l.instructions(fn)]
            cycles += tools.simulate(lane, "aarch64", cpu, ITERATIONS)["cycles_per_iteration"]
            lines += len(lane)
        per_layout.append((cycles, lines))
    if not per_layout:
        raise ModelError(f"{WARP.function} ({core.cpu}): no loop stores pixels with ST3")
    ref = parse_function(tools.compile(WARP_REF, core), WARP_REF.function, "aarch64")
    def stores(l):
        return sum(2 if i.mnemonic == "stp" else 1 for i in l.instructions(ref)
                   if i.mnemonic in ("str", "stur", "stp") and re.match(r"s\d+,", i.operands))
    candidates = [l for l in loops_of(ref, "aarch64") if stores(l) >= 3]
    if not candidates:
        raise ModelError(f"{WARP_REF.function} ({core.cpu}): no loop stores one pixel's three channels")
    ref_loop = [i.text for i in min(candidates, key=lambda l: len(l.blocks)).instructions(ref)]
    ref_cycles = tools.simulate(ref_loop, "aarch64", cpu, ITERATIONS)["cycles_per_iteration"]
    worst = max(per_layout)
    return {"kernel": WARP.name, "core": core.key, "mca_cpu": cpu, "model": note, "layouts": len(per_layout),
            "loop_instructions": worst[1], "cycles_per_pixel": round(worst[0], 3),
            "cycles_per_pixel_cheapest_layout": round(min(per_layout)[0], 3),
            "ref_loop_instructions": len(ref_loop), "ref_cycles_per_pixel": round(ref_cycles, 3)}


# ------------------------------------------------------------ runtime constants ---

def c_constant(path: Path, name: str) -> int:
    """A `#define NAME <int>` or `#define NAME ((size_t)1 << N)` of the runtime's C source:
    the thread split's thresholds are the runtime's own, not copies."""
    text = path.read_text()
    m = re.search(rf"#define\s+{name}\s+\(\(size_t\)1\s*<<\s*(\d+)\)", text)
    if m:
        return 1 << int(m.group(1))
    m = re.search(rf"#define\s+{name}\s+(\d+)\b", text)
    if not m:
        raise ModelError(f"{path.name}: #define {name} not found (the cost model mirrors it)")
    return int(m.group(1))


def runtime_constants() -> dict:
    return {
        "gemm_parallel_min_macs": c_constant(KERNELS_DIR / "qs8_gemm.c", "PARALLEL_MIN_MACS"),
        "gemm_tasks_per_thread": c_constant(KERNELS_DIR / "qs8_gemm.c", "TASKS_PER_THREAD"),
        "dwconv_parallel_min_macs": c_constant(KERNELS_DIR / "qs8_conv.c", "DWCONV_PARALLEL_MIN_MACS"),
        "warp_parallel_min_pixels": c_constant(KERNELS_DIR / "include/lotr_pixels.h", "LOTR_WARP_PARALLEL_MIN_PIXELS"),
        "warp_bands_per_thread": c_constant(KERNELS_DIR / "include/lotr_pixels.h", "LOTR_WARP_BANDS_PER_THREAD"),
    }


# ------------------------------------------------------------------- the layers ---

def layer_listing(lotr: str | None, model: Path) -> dict:
    """`lotr info --json`: the model file's nodes with shapes, from the runtime's own reader."""
    binary = lotr or str(ROOT / ".build" / "release" / "lotr")
    if not Path(binary).is_file():
        raise ModelError(f"no lotr binary at {binary}: swift build -c release --product lotr (or --lotr PATH)")
    return json.loads(run_tool([binary, "info", "--json", str(model)]))


def div_up(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass
class Assumptions:
    thread_efficiency: float   # parallel speed-up per thread, on top of the task split
    blas_efficiency: float     # float GEMM (OpenBLAS) and attention core as a fraction of the FMLA peak
    call_cycles: float         # one small memcpy/memset call (im2col copies one pixel's channels per call)
    bandwidth: dict            # board -> GB/s


def gemm_split_tasks(m_tiles: int, n_blocks: int, threads: int, consts: dict, macs: int) -> tuple:
    """qs8_gemm.c's split(): (tasks, row tiles per task, column blocks per task)."""
    if threads <= 1 or macs < consts["gemm_parallel_min_macs"]:
        return 1, m_tiles, n_blocks
    target = threads * consts["gemm_tasks_per_thread"]
    n_split = 1 if m_tiles >= target else min(n_blocks, div_up(target, m_tiles))
    blocks_per_task = div_up(n_blocks, n_split)
    n_split = div_up(n_blocks, blocks_per_task)
    m_split = min(m_tiles, div_up(target, n_split))
    tiles_per_task = div_up(m_tiles, m_split)
    return div_up(m_tiles, tiles_per_task) * n_split, tiles_per_task, blocks_per_task


def parallel_cycles(task_cycles: float, tasks: int, threads: int, eff: float) -> float:
    """Tasks pulled from one counter: the slowest thread runs ceil(tasks / threads) of them."""
    if tasks <= 1 or threads <= 1:
        return task_cycles * max(tasks, 1)
    return div_up(tasks, threads) * task_cycles / eff


def gemm_cost(m: int, n: int, k: int, kernel: dict, threads: int, consts: dict, a: Assumptions) -> dict:
    t = kernel["tile"]
    m_tiles, n_blocks = div_up(m, t["mr"]), div_up(n, t["nr"])
    # K runs as whole k steps of the main loop, then KR groups of the tail (K padded to KR,
    # as the weights are packed), each at its share of a main step: the tails do the same
    # multiplies for fewer k (2x8c8: SMULL + SADALP per 8 k, 4x8c4: one DOT4 per 4 k).
    steps, tail_groups = k // t["kstep"], div_up(k % t["kstep"], t["kr"])
    tail_step = kernel["cycles_per_iteration"] * t["kr"] / t["kstep"]
    block = steps * kernel["cycles_per_iteration"] + tail_groups * tail_step + kernel["overhead_cycles"]
    call = kernel.get("per_call_cycles", 0.0)  # the runtime calls the kernel once per row tile (and column panel)
    tasks, tiles_per_task, blocks_per_task = gemm_split_tasks(m_tiles, n_blocks, threads, consts, m * n * k)
    one = m_tiles * (n_blocks * block + call)
    many = parallel_cycles(tiles_per_task * (blocks_per_task * block + call), tasks, threads, a.thread_efficiency)
    issued = m_tiles * t["mr"] * n_blocks * t["nr"] * (steps * t["kstep"] + tail_groups * t["kr"])
    return {"cycles_1": one, "cycles_t": min(one, many) if tasks > 1 else one, "tasks": tasks,
            "tile_use": m * n * k / issued, "shape": f"{m}x{n}x{k}"}


def dwconv_cost(oh: int, ow: int, c: int, kernel: dict, threads: int, consts: dict, a: Assumptions) -> dict:
    t = kernel["tile"]
    blocks = div_up(c, t["channels"])
    # The row runs ow // P steps of P pixels per loaded channel block (cycles_per_iteration
    # and overhead_cycles are per step), then the ow % P pixels left one at a time, costed
    # at their share of a step (a slight under-estimate: they reload the block alone).
    steps = ow // t["pixels"] + (ow % t["pixels"]) / t["pixels"]
    row = steps * (blocks * kernel["cycles_per_iteration"] + kernel["overhead_cycles"]) + kernel.get("per_call_cycles", 0.0)
    tasks = 1
    if threads > 1 and oh * ow * c * 9 >= consts["dwconv_parallel_min_macs"]:
        rows_per_task = div_up(oh, min(oh, threads * 4))
        tasks = div_up(oh, rows_per_task)
        many = parallel_cycles(rows_per_task * row, tasks, threads, a.thread_efficiency)
    one = oh * row
    return {"cycles_1": one, "cycles_t": many if tasks > 1 else one, "tasks": tasks,
            "tile_use": c / (blocks * kernel["tile"]["channels"]), "shape": f"{oh}x{ow}x{c}"}


def tensor_bytes(t: dict) -> int:
    size = {"f32": 4, "i32": 4, "i8": 1}.get(t["dtype"], 4)
    return math.prod(t["shape"]) * size


def node_cost(node: dict, kernels: dict, core_limit: dict, threads: int, consts: dict, a: Assumptions,
              ghz: float, gbs: float, int8_model: bool) -> dict:
    """Seconds of one node on 1 and on `threads` threads, and how it was modeled."""
    op, ins, out = node["op"], node["inputs"], node["outputs"][0]
    attrs = node["attributes"]
    moved = sum(tensor_bytes(t) for t in ins if not t["constant"]) + tensor_bytes(out)
    memory_s = moved / (gbs * 1e9)
    cost = {"index": node["index"], "name": node["name"], "op": op, "int8": node["int8"], "macs": node["macs"]}
    def done(kind, c1, ct, extra_s=0.0, **more):
        cost.update(kind=kind, ms_1=(c1 / (ghz * 1e9) + extra_s) * 1e3, ms_t=(ct / (ghz * 1e9) + extra_s) * 1e3, **more)
        return cost
    if op == "CONV2D" and node["int8"]:
        x, y = ins[0]["shape"], out["shape"]
        w = attrs["window"]
        if attrs["groups"] > 1:
            r = dwconv_cost(y[1], y[2], y[3], kernels["dwconv"], threads, consts, a)
            return done("dwconv", r["cycles_1"], r["cycles_t"], shape=r["shape"], tile_use=r["tile_use"])
        m, n, k = y[1] * y[2], y[3], w["kernelH"] * w["kernelW"] * x[3]
        r = gemm_cost(m, n, k, kernels["gemm"], threads, consts, a)
        pointwise = w["kernelH"] == w["kernelW"] == w["strideH"] == w["strideW"] == 1 and not any(
            w[p] for p in ("padTop", "padLeft", "padBottom", "padRight"))
        im2col_1 = im2col_t = 0.0
        extra_s = 0.0
        if not pointwise:
            calls_per_row = y[2] * w["kernelH"] * w["kernelW"]
            im2col_1 = y[1] * calls_per_row * a.call_cycles
            im2col_t = parallel_cycles(calls_per_row * a.call_cycles, y[1], threads, a.thread_efficiency)
            extra_s = 2 * m * k / (gbs * 1e9)
        return done("gemm" + ("" if pointwise else " + im2col"), r["cycles_1"] + im2col_1, r["cycles_t"] + im2col_t,
                    extra_s, shape=r["shape"], tile_use=r["tile_use"])
    if op == "LINEAR" and node["int8"]:
        k = ins[1]["shape"][1]
        n = ins[1]["shape"][0]
        m = math.prod(ins[0]["shape"]) // k
        r = gemm_cost(m, n, k, kernels["gemm"], threads, consts, a)
        return done("gemm", r["cycles_1"], r["cycles_t"], shape=r["shape"], tile_use=r["tile_use"])
    if op == "ATTENTION" and int8_model:
        # As the runtime runs it in an int8 model (NetworkOps.prepareAttention): the four
        # projections on the int8 GEMM, those of one input stacked into one GEMM (N = 2D or
        # 3D), each input's rows quantized first (a pass over them); then the fused float
        # core (Q K^T and P V per head, 2 Lq Lk D MACs) at the float rate, its heads over
        # the pool from the GEMMs' floor.
        (lq, d), lk, heads = ins[0]["shape"], ins[1]["shape"][0], attrs["heads"]
        names = [t["name"] for t in ins[:3]]
        groups = [(lq if names[0] == x else lk, sum(1 for y in names if y == x) * d)
                  for i, x in enumerate(names) if x not in names[:i]]
        shapes = [(rows, width, d) for rows, width in groups] + [(lq, d, d)]
        parts = [gemm_cost(m, n, k, kernels["gemm"], threads, consts, a) for m, n, k in shapes]
        core_macs = 2 * lq * lk * d
        core_1 = core_macs / (core_limit["f32_fma_per_cycle"] * a.blas_efficiency)
        core_t = core_1 if core_macs < consts["gemm_parallel_min_macs"] else \
            parallel_cycles(core_1 / heads, heads, threads, a.thread_efficiency)
        quantize_s = sum(rows * d * 4 for rows, _ in groups) / (gbs * 1e9)
        to_ms = 1e3 / (ghz * 1e9)
        return done("gemm (attention projections)", sum(r["cycles_1"] for r in parts),
                    sum(r["cycles_t"] for r in parts), memory_s + quantize_s,
                    gemm_macs=sum(m * n * k for m, n, k in shapes), core_ms_1=core_1 * to_ms, core_ms_t=core_t * to_ms)
    if node["macs"] > 0:
        # Float MACs (attention, float convolutions and linears) through OpenBLAS, one
        # thread for an int8 model (Network.blasThreads), plus their operands' traffic.
        c = node["macs"] / (core_limit["f32_fma_per_cycle"] * a.blas_efficiency)
        return done("float gemm (OpenBLAS)", c, c, memory_s)
    return done("memory", 0.0, 0.0, memory_s, bytes=moved)


def model_latency(listing: dict, board: Board, kernels: dict, core_limit: dict, warp: dict, consts: dict,
                  a: Assumptions, threads: int) -> dict:
    gbs = a.bandwidth[board.key]
    int8_model = any(n["int8"] for n in listing["nodes"])
    nodes = [node_cost(n, kernels, core_limit, threads, consts, a, board.ghz, gbs, int8_model) for n in listing["nodes"]]
    w, h = listing["input"]["width"], listing["input"]["height"]
    # The crop: the warp samples the frame into the W x H x 3 float input, split as
    # pixels.c splits it (bands of rows over the pool above a pixel floor). The bytes it
    # moves are bounded by the board's bandwidth however many cores share it.
    crop_cycles = w * h * warp["cycles_per_pixel"]
    if threads > 1 and w * h >= consts["warp_parallel_min_pixels"]:
        bands = min(threads * consts["warp_bands_per_thread"], h)
        rows_per_band = div_up(h, bands)
        crop_cycles = parallel_cycles(rows_per_band * w * warp["cycles_per_pixel"], div_up(h, rows_per_band), threads,
                                      a.thread_efficiency)
    crop_ms = max(crop_cycles / (board.ghz * 1e9), (w * h * 3 * 4 + w * h * 12) / (gbs * 1e9)) * 1e3
    by_kind = {}
    for c in nodes:
        by_kind[c["kind"]] = by_kind.get(c["kind"], 0.0) + (c["ms_t"] if threads > 1 else c["ms_1"])
        if "core_ms_1" in c:  # attention's fused float core, beside its int8 projections
            by_kind["float (attention core)"] = by_kind.get("float (attention core)", 0.0) + \
                (c["core_ms_t"] if threads > 1 else c["core_ms_1"])
    network = sum(by_kind.values())
    # The int8 GEMMs' MACs over their modeled time, one core: what tile edges, K padding and
    # the per-block epilogue leave of the inner loop's rate.
    gemm = [c for c in nodes if c["kind"].startswith("gemm")]
    gemm_s = sum(c["ms_1"] for c in gemm) / 1e3
    gemm_rate = sum(c.get("gemm_macs", c["macs"]) for c in gemm) / (gemm_s * board.ghz * 1e9) if gemm_s > 0 else 0.0
    return {"board": board.key, "threads": threads, "network_ms": network, "crop_ms": crop_ms,
            "total_ms": network + crop_ms, "by_kind_ms": by_kind,
            "gemm_macs_per_cycle_one_core": round(gemm_rate, 3), "nodes": nodes}


# ---------------------------------------------------- the method on this machine ---

# The same method on this machine's own GEMM kernels, held against their measured times
# (`lotr bench-kernels`): on a Pi, the ARM kernels against the board; here, where no Pi is
# attached, the x86 kernels, which shows how well inner loop + full-tile epilogue + per-call
# cost + tile arithmetic predict a real kernel, shape by shape. (path, kernel) per arch.
HOST_KERNELS = {
    "x86_64": [
        ("avx2", Kernel("qs8_gemm_4x16c2__avx2", "x86/qs8_gemm_4x16c2__avx2.c", "lotr_qs8_gemm_4x16c2__avx2",
                        "x86_64", "gemm", ("host",), ("host",))),
        ("avxvnni", Kernel("qs8_gemm_4x16c4__avxvnni", "x86/qs8_gemm_4x16c4__avxvnni.c",
                           "lotr_qs8_gemm_4x16c4__avxvnni", "x86_64", "gemm", ("host",), ("host",))),
    ],
    "aarch64": [("neon", KERNELS[0]), ("neondot", KERNELS[1])],
}


def host_cpu(mca: str) -> str:
    """The CPU llvm-mca detects this machine as (its `--version` says)."""
    out = subprocess.run([mca, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Host CPU:\s*(\S+)", out)
    if not m:
        raise ModelError("llvm-mca --version names no host CPU: give one with --x86-cpu")
    return m.group(1)


def measured_gemm_shapes(lotr: str, path: str, rounds: int) -> dict:
    """(M, N, K) -> the fastest of `rounds` medians of `lotr bench-kernels` (1 thread)."""
    best = {}
    for _ in range(rounds):
        out = run_tool([lotr, "bench-kernels", "--runs", "11", "--threads", "1", "--markdown", "--kernels", path])
        for line in out.splitlines():
            row = re.match(r"\| (\d+)x(\d+)x(\d+) \|[^|]*\| \d+ \| 1 \| ([\d.]+) \|", line)
            if row:
                shape = tuple(int(g) for g in row.groups()[:3])
                best[shape] = min(best.get(shape, math.inf), float(row.group(4)))
    if not best:
        raise ModelError(f"lotr bench-kernels --kernels {path}: no GEMM rows read")
    return best


def check_host(tools: Toolchain, args) -> dict:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine())
    if arch is None:
        raise ModelError(f"--check-host knows x86_64 and aarch64 machines, not {platform.machine()}")
    lotr = args.lotr or str(ROOT / ".build" / "release" / "lotr")
    if not Path(lotr).is_file():
        raise ModelError(f"no lotr binary at {lotr}: swift build -c release --product lotr (or --lotr PATH)")
    cpu = args.host_cpu or host_cpu(tools.mca)
    # A Pi's core is one of CORES (with its substitute model); anything else as detected.
    core = next((c for c in CORES.values() if c.cpu == cpu), Core("host", cpu, arch == "aarch64", (), ""))
    consts = runtime_constants()
    one_thread = Assumptions(1.0, 1.0, 0.0, {})
    checks = []
    for path, kernel in HOST_KERNELS[arch]:
        r = analyse_kernel(tools, kernel, core)
        if "error" in r:
            checks.append({"path": path, "kernel": kernel.name, "skipped": r["error"]})
            continue
        try:
            measured = measured_gemm_shapes(lotr, path, args.rounds)
        except ModelError as e:
            checks.append({"path": path, "kernel": kernel.name, "skipped": str(e)})
            continue
        shapes = []
        for (m, n, k), ms in sorted(measured.items(), key=lambda kv: -kv[0][0] * kv[0][1] * kv[0][2]):
            cycles = gemm_cost(m, n, k, r, 1, consts, one_thread)["cycles_1"]
            shapes.append({"shape": f"{m}x{n}x{k}", "k": k, "modeled_cycles": round(cycles),
                           "measured_ms": ms, "implied_ghz": round(cycles / (ms * 1e-3) / 1e9, 3)})
        clocks = sorted(s["implied_ghz"] for s in shapes)
        median = clocks[len(clocks) // 2]
        for s in shapes:
            s["vs_median"] = round(s["implied_ghz"] / median, 3)
        checks.append({
            "path": path, "kernel": kernel.name, "mca_cpu": r["mca_cpu"], "cycles_per_iteration": r["cycles_per_iteration"],
            "macs_per_cycle": r["macs_per_cycle"], "overhead_cycles": r["overhead_cycles"], "shapes": shapes,
            "median_implied_ghz": median,
            "within_15_percent": sum(1 for s in shapes if abs(s["vs_median"] - 1) <= 0.15),
            "total_implied_ghz": round(sum(s["modeled_cycles"] for s in shapes)
                                       / (sum(s["measured_ms"] for s in shapes) * 1e-3) / 1e9, 3)})
    return {"tools": {"clang_version": tool_version(tools.clang), "llvm_mca_version": tool_version(tools.mca)},
            "machine": platform.machine(), "host_checks": checks}


def print_host_check(report: dict) -> None:
    t = report["tools"]
    print(f"clang {t['clang_version']}, llvm-mca {t['llvm_mca_version']}: the method on this machine's "
          f"({report['machine']}) GEMM kernels, against `lotr bench-kernels` (1 thread, the fastest of the "
          "rounds' medians)\n")
    print("Implied clock = modeled cycles / measured time: if the model is right, the same for every shape.\n")
    for c in report["host_checks"]:
        if "skipped" in c:
            print(f"{c['kernel']}: skipped ({c['skipped']})\n")
            continue
        print(f"{c['kernel']} (llvm-mca -mcpu={c['mca_cpu']}): {c['cycles_per_iteration']:g} cycles per k step "
              f"({c['macs_per_cycle']:.1f} MACs/cycle), {c['overhead_cycles']:g} cycles per column block; "
              f"median implied clock {c['median_implied_ghz']:.2f} GHz, {c['within_15_percent']} of "
              f"{len(c['shapes'])} shapes within 15 % of it, all shapes together {c['total_implied_ghz']:.2f} GHz\n")
        print("| shape (MxNxK) | modeled kcycles | measured ms | implied GHz | vs median |")
        print("|---|---:|---:|---:|---:|")
        for s in c["shapes"]:
            print(f"| {s['shape']} | {s['modeled_cycles'] / 1e3:.0f} | {s['measured_ms']:.3f} | {s['implied_ghz']:.2f} "
                  f"| {s['vs_median']:.2f} |")
        print()


# ------------------------------------------------------------------------ report ---

MODELS = ["models/lotr-m-68.lotr", "models/lotr-s-68.lotr", "models/blazeface-short.lotr"]
FACE_MODEL = "lotr-m-68"  # the shipped landmark model: the issue's latency targets are for it
TARGET_PERCENT_OF_LIMIT = 70.0
TARGET_CORES = ("a72", "a76")
TARGET_MS = {"pi4": 10.0, "pi5": 4.0}


def parse_bandwidth(items: list) -> dict:
    bandwidth = {k: b.bandwidth_gbs for k, b in BOARDS.items()}
    for item in items or []:
        board, _, value = item.partition("=")
        if board not in BOARDS or not value:
            raise ModelError(f"--bandwidth takes BOARD=GB/s with BOARD one of {', '.join(BOARDS)}: {item}")
        bandwidth[board] = float(value)
    return bandwidth


def analyse(args) -> dict:
    clang = find_tool(args.clang, ["/opt/swift/usr/bin/clang", "clang"], "clang")
    mca = find_llvm_mca(args.llvm_mca)
    if not clang:
        raise ModelError("clang not found (the Swift toolchain's, or --clang)")
    if not mca:
        raise ModelError("llvm-mca not found: apt-get install llvm (Debian), or --llvm-mca PATH")
    tools = Toolchain(clang, mca)
    if args.check_host:
        return check_host(tools, args)
    report = {"tools": {"clang": clang, "clang_version": tool_version(clang), "llvm_mca": mca,
                        "llvm_mca_version": tool_version(mca), "iterations": ITERATIONS}}
    limits = {}
    for core in CORES.values():
        for arch in ("aarch64", "armv7"):
            limits[(core.key, arch)] = mac_limit(tools, core, arch)
    report["limits"] = list(limits.values())
    kernels = []
    for kernel in KERNELS:
        for key in kernel.cores:
            r = analyse_kernel(tools, kernel, CORES[key])
            limit = limits[(key, kernel.arch)]
            if "error" not in r and "error" not in limit:
                r["limit_macs_per_cycle"] = limit["limit_macs_per_cycle"]
                r["limit_form"] = limit["limit_form"]
                r["percent_of_limit"] = round(100 * r["macs_per_cycle"] / limit["limit_macs_per_cycle"], 1)
            kernels.append(r)
    report["kernels"] = kernels
    report["warp"] = [analyse_warp(tools, core) for core in CORES.values()]
    if args.kernels_only:
        return report

    consts = runtime_constants()
    assumptions = Assumptions(args.thread_efficiency, args.blas_efficiency, args.call_cycles,
                              parse_bandwidth(args.bandwidth))
    report["runtime_constants"] = consts
    report["assumptions"] = dataclasses.asdict(assumptions)
    report["boards"] = [dataclasses.asdict(b) | {"bandwidth_gbs": assumptions.bandwidth[b.key]} for b in BOARDS.values()]
    models = []
    for path in args.models:
        listing = layer_listing(args.lotr, ROOT / path if not Path(path).is_absolute() else Path(path))
        entry = {"model": listing["model"], "file": path, "total_macs": listing["total_macs"],
                 "input": listing["input"], "boards": []}
        for board in BOARDS.values():
            chosen = {"gemm": next(k for k in kernels if k["core"] == board.core and k["dispatched"]
                                   and k["arch"] == "aarch64" and k["kernel"].startswith("qs8_gemm")),
                      "dwconv": next(k for k in kernels if k["core"] == board.core and k["dispatched"]
                                     and k["arch"] == "aarch64" and k["kernel"].startswith("qs8_dwconv"))}
            for k in chosen.values():
                if "error" in k:
                    raise ModelError(f"{k['kernel']} on {board.core}: {k['error']}")
            warp = next(w for w in report["warp"] if w["core"] == board.core)
            runs = {}
            for threads in sorted({1, board.cores}):
                runs[threads] = model_latency(listing, board, chosen, limits[(board.core, "aarch64")], warp, consts,
                                              assumptions, threads)
            entry["boards"].append({
                "board": board.key, "gemm_kernel": chosen["gemm"]["kernel"], "threads": {
                    str(t): {k: v for k, v in r.items() if k != "nodes" or args.per_layer} for t, r in runs.items()}})
        models.append(entry)
    report["models"] = models
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list:
    out = []
    for k in report["kernels"]:
        if k["core"] in TARGET_CORES and k["arch"] == "aarch64" and k["dispatched"] and "percent_of_limit" in k:
            out.append({"target": f"{k['kernel']} on {k['core']} >= {TARGET_PERCENT_OF_LIMIT:.0f} % of the MAC/cycle limit",
                        "value": k["percent_of_limit"], "met": k["percent_of_limit"] >= TARGET_PERCENT_OF_LIMIT})
    for m in report.get("models", []):
        if Path(m["file"]).stem != FACE_MODEL:
            continue
        for b in m["boards"]:
            if b["board"] in TARGET_MS:
                run = b["threads"][str(max(int(t) for t in b["threads"]))]
                out.append({"target": f"{m['model']} on {b['board']} ({run['threads']} threads), crop + network "
                                      f"<= {TARGET_MS[b['board']]:.0f} ms",
                            "value": round(run["total_ms"], 3), "met": run["total_ms"] <= TARGET_MS[b["board"]]})
    return out


def print_tables(report: dict, per_layer: bool) -> None:
    t = report["tools"]
    print(f"clang {t['clang_version']} ({t['clang']}), llvm-mca {t['llvm_mca_version']} ({t['llvm_mca']})\n")
    print("MAC/cycle limit per core (llvm-mca, 16 independent accumulators of each form):\n")
    print("| core | arch | llvm-mca model | best form | int8 MACs/cycle | forms (MACs/cycle, pipes) | f32 FMA/cycle |")
    print("|---|---|---|---|---:|---|---:|")
    for l in report["limits"]:
        if "error" in l:
            print(f"| {l['core']} | {l['arch']} | - | - | - | {l['error']} | - |")
            continue
        forms = "; ".join(f"{f['form']} {f['macs_per_cycle']:g} ({'+'.join(f['pipes'])})" for f in l["forms"])
        print(f"| {l['core']} | {l['arch']} | {l['mca_cpu']} | {l['limit_form']} | {l['limit_macs_per_cycle']:g} | "
              f"{forms} | {l['f32_fma_per_cycle']:g} |")
    print("\nInner loops (cycles per source iteration, steady state):\n")
    print("| kernel | core | default there | llvm-mca model | MACs/iter | cycles/iter | MACs/cycle | limit | % of limit "
          "| busiest resources, cycles/iter (top instructions on it) | overhead cycles (GEMM: per 8-column block; depthwise: per step of its pixels; per kernel call) |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---|---:|")
    for k in report["kernels"]:
        if "error" in k:
            print(f"| {k['kernel']} | {k['core']} | {'yes' if k['dispatched'] else 'no'} | {k['mca_cpu'] or '-'} "
                  f"| - | - | - | - | - | {k['error']} | - |")
            continue
        busy = "; ".join(f"{b['resource']} {b['cycles_per_iteration']:g} ("
                         + ", ".join(f"{mn} {c:g}" for mn, c in list(b["by_mnemonic"].items())[:3]) + ")"
                         for b in k["busiest_resources"][:2])
        calls = f" + {len(k['full_tile_calls'])} calls, not costed" if k["full_tile_calls"] else ""
        print(f"| {k['kernel']} | {k['core']} | {'yes' if k['dispatched'] else 'no'} | {k['mca_cpu']} "
              f"| {k['macs_per_iteration']} | {k['cycles_per_iteration']:g} | {k['macs_per_cycle']:.2f} "
              f"| {k.get('limit_macs_per_cycle', '-')} | {k.get('percent_of_limit', '-')} | {busy} "
              f"| {k['overhead_cycles']:g} / {'block' if k['kind'] == 'gemm' else str(k['tile']['pixels']) + ' pixels'}, "
              f"{k['per_call_cycles']:g} / call{calls} |")
    print("\nCrop warp rows (every path of the loop laid end to end: an upper bound; NEON: the dearest "
          "camera layout, the model's figure, and the cheapest):\n")
    print("| core | llvm-mca model | NEON instructions | NEON cycles/pixel | cheapest layout | C reference cycles/pixel |")
    print("|---|---|---:|---:|---:|---:|")
    for w in report["warp"]:
        print(f"| {w['core']} | {w['mca_cpu']} | {w['loop_instructions']} | {w['cycles_per_pixel']:g} "
              f"| {w['cycles_per_pixel_cheapest_layout']:g} | {w['ref_cycles_per_pixel']:g} |")
    if "models" not in report:
        return
    a = report["assumptions"]
    print(f"\nAssumptions: thread efficiency {a['thread_efficiency']:g}, OpenBLAS at {a['blas_efficiency']:g} of the "
          f"FMLA peak, {a['call_cycles']:g} cycles per im2col memcpy call, bandwidth "
          + ", ".join(f"{b} {v:g} GB/s" for b, v in a["bandwidth"].items()) + "\n")
    print("| model | MMACs | board | GEMM kernel | threads | crop ms | GEMM ms | GEMM MACs/cycle/core | depthwise ms "
          "| float ms | memory ms | network ms | total ms |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in report["models"]:
        for b in m["boards"]:
            for threads, r in b["threads"].items():
                k = r["by_kind_ms"]
                gemm = sum(v for kk, v in k.items() if kk.startswith("gemm"))
                print(f"| {m['model']} | {m['total_macs'] / 1e6:.1f} | {b['board']} | {b['gemm_kernel']} | {threads} "
                      f"| {r['crop_ms']:.3f} | {gemm:.3f} | {r['gemm_macs_per_cycle_one_core']:.2f} | {k.get('dwconv', 0):.3f} "
                      f"| {sum(v for kk, v in k.items() if kk.startswith('float')):.3f} | {k.get('memory', 0):.3f} "
                      f"| {r['network_ms']:.3f} | {r['total_ms']:.3f} |")
    if per_layer:
        for m in report["models"]:
            for b in m["boards"]:
                for threads, r in b["threads"].items():
                    print(f"\n{m['model']} on {b['board']}, {threads} thread(s):\n")
                    print("| # | op | kind | shape | tile use | MMACs | ms |")
                    print("|---:|---|---|---|---:|---:|---:|")
                    for n in r["nodes"]:
                        use = f"{100 * n['tile_use']:.0f} %" if "tile_use" in n else ""
                        print(f"| {n['index']} | {n['op']}{' i8' if n['int8'] else ''} | {n['kind']} "
                              f"| {n.get('shape', '')} | {use} | {n['macs'] / 1e6:.2f} "
                              f"| {n['ms_t'] if int(threads) > 1 else n['ms_1']:.4f} |")
    print("\nTargets (issue 11):\n")
    for t in report["targets"]:
        print(f"- {t['target']}: {t['value']:g} -> {'met' if t['met'] else 'NOT met'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print only JSON")
    p.add_argument("--kernels-only", action="store_true", help="the kernels' figures, no model latency")
    p.add_argument("--per-layer", action="store_true", help="also every node's modeled cost")
    p.add_argument("--models", nargs="+", default=MODELS, help="model files (default: the three shipped)")
    p.add_argument("--lotr", help="the lotr binary for `lotr info --json` (default .build/release/lotr)")
    p.add_argument("--clang", help="clang (default: /opt/swift/usr/bin/clang, then PATH)")
    p.add_argument("--llvm-mca", help="llvm-mca (default: the newest llvm-mca-NN on PATH, then llvm-mca)")
    p.add_argument("--thread-efficiency", type=float, default=0.85,
                   help="speed-up per thread of the threaded kernels after the task split (default 0.85)")
    p.add_argument("--blas-efficiency", type=float, default=0.25,
                   help="float GEMM (OpenBLAS) and the attention core as a fraction of the FMLA peak (default 0.25)")
    p.add_argument("--call-cycles", type=float, default=20.0,
                   help="cycles of one small memcpy/memset call in im2col (default 20)")
    p.add_argument("--check-host", action="store_true",
                   help="instead: the method on this machine's own GEMM kernels (a Pi's NEON ones, or x86) "
                        "against `lotr bench-kernels`")
    p.add_argument("--host-cpu", help="llvm-mca CPU for --check-host (default: the host llvm-mca detects)")
    p.add_argument("--rounds", type=int, default=3, help="bench-kernels rounds for --check-host (default 3)")
    p.add_argument("--bandwidth", action="append", metavar="BOARD=GB/s",
                   help="sustained bandwidth of a board, e.g. pi4=4.5 (defaults: "
                        + ", ".join(f"{b.key} {b.bandwidth_gbs:g}" for b in BOARDS.values()) + ")")
    args = p.parse_args(argv)
    try:
        report = analyse(args)
    except ModelError as e:
        print(f"arm_cost_model: {e}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    elif args.check_host:
        print_host_check(report)
    else:
        print_tables(report, args.per_layer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
