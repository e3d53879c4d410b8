#!/usr/bin/env python3
"""Instructions per inference of a .lotr model, by kernel: a cost figure that does not move
with the load of a shared machine (times do), for judging a kernel change.

Runs `lotr bench --runs N` under valgrind's callgrind twice (N = 1 and N = 1 + --runs) and
takes the difference, so loading, packing and the warm-up run cancel out and what remains
is exactly --runs inferences. Costs are exclusive (self) instruction counts per function,
grouped by kernel family (the table below); nothing is counted twice.

  .venv/bin/python bench/instruction_counts.py --model models/lotr-m-68.lotr
  .venv/bin/python bench/instruction_counts.py --model models/lotr-s-68.lotr --kernels ref --json

valgrind runs the x86 kernels up to AVX2 (not AVX-VNNI or AVX-512), hence --kernels avx2 by
default; `ref` counts the scalar specification. Needs valgrind (apt-get install valgrind)
and a release build of lotr (swift build -c release --product lotr). Instruction counts are
not time: a vectorised kernel retires fewer, wider instructions, and memory stalls do not
show; compare counts of the same kernel path before and after a change.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# (group, regex on the function name), first match wins.
GROUPS = [
    ("int8 GEMM (dense conv, linear)", r"^lotr_qs8_(gemm|conv2d)|^gemm_task_qs8"),
    ("int8 im2col (conv rows for the GEMM)", r"^im2col"),
    ("int8 depthwise conv", r"^lotr_qs8_dwconv|^dwconv_rows"),
    ("crop warp + normalise (from the frame)", r"^lotr_\w*warp|^__floorf"),
    ("memcpy / memset (layout ops, copies)", r"^__mem(cpy|set|move)"),
    ("int8 add", r"^lotr_qs8_add"),
    ("quantize / dequantize", r"^lotr_qs8_(quantize|dequantize)"),
    ("float GEMM (OpenBLAS: attention, float ops)", r"^(sgemm|cblas_sgemm|sgemv|SGEMM|.*_HASWELL|.*_SKYLAKEX|.*_ZEN)"),
    ("float attention core (scores, softmax, P V)", r"^lotr_f32_attention"),
    ("softmax", r"^lotr_f32_softmax"),
    ("layernorm", r"^lotr_f32_layernorm"),
    ("gelu / relu", r"^lotr_f32_(gelu|relu)"),
    ("thread pool", r"^lotr_threadpool|^pthread_|futex"),
    ("Swift steps (layout ops, attention glue, float loops)", r"^\$s4LOTR"),
]
LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(?:.*?):(.+?)\s+\[(.+)\]\s*$")


def callgrind(lotr: str, model: str, kernels: str, runs: int, work: str) -> dict[str, int]:
    out = os.path.join(work, f"callgrind.{runs}")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", lotr, "bench", "--model", model,
           "--runs", str(runs), "--kernels", kernels, "--threads", "1", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"instruction_counts: valgrind failed ({r.returncode}):\n{r.stderr[-2000:]}")
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", out], capture_output=True, text=True, check=True).stdout
    costs: dict[str, int] = {}
    for line in ann.splitlines():
        m = LINE.match(line)
        if m and "PROGRAM TOTALS" not in line:
            costs[m.group(2)] = costs.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    total = re.search(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ann, re.M)
    costs["(total)"] = int(total.group(1).replace(",", "")) if total else sum(costs.values())
    return costs


def group_of(fn: str) -> str:
    for name, rx in GROUPS:
        if re.search(rx, fn):
            return name
    return "other (libc, Swift runtime, ...)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the .lotr model")
    ap.add_argument("--kernels", default="avx2", help="kernel path (default avx2; valgrind has no AVX-VNNI)")
    ap.add_argument("--runs", type=int, default=2, help="inferences counted (default 2)")
    ap.add_argument("--lotr", default=".build/release/lotr", help="the lotr binary (default .build/release/lotr)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    a = ap.parse_args(argv)
    for tool in ("valgrind", "callgrind_annotate", "strip"):
        if not shutil.which(tool):
            sys.exit(f"instruction_counts: {tool} is missing (apt-get install valgrind binutils)")
    if not os.access(a.lotr, os.X_OK):
        sys.exit(f"instruction_counts: {a.lotr} is not there: swift build -c release --product lotr")
    with tempfile.TemporaryDirectory() as work:
        # valgrind 3.19 cannot read the Swift toolchain's DWARF: count on a copy without it
        # (the symbol table, which names the functions, stays).
        lotr = os.path.join(work, "lotr")
        subprocess.run(["strip", "--strip-debug", "-o", lotr, a.lotr], check=True)
        base = callgrind(lotr, a.model, a.kernels, 1, work)
        more = callgrind(lotr, a.model, a.kernels, 1 + a.runs, work)
    per_fn = {fn: (more.get(fn, 0) - base.get(fn, 0)) / a.runs for fn in set(base) | set(more)}
    total = per_fn.pop("(total)")
    groups: dict[str, float] = {}
    for fn, v in per_fn.items():
        groups[group_of(fn)] = groups.get(group_of(fn), 0) + v
    groups["other (libc, Swift runtime, ...)"] = groups.get("other (libc, Swift runtime, ...)", 0) + total - sum(groups.values())
    rows = sorted(((g, v) for g, v in groups.items() if abs(v) >= 0.0005 * total), key=lambda r: -r[1])
    if a.json:
        print(json.dumps({"model": a.model, "kernels": a.kernels, "runs": a.runs, "instructions_per_inference": round(total),
                          "groups": {g: round(v) for g, v in rows}}))
        return 0
    print(f"{os.path.basename(a.model)}, kernels {a.kernels}, 1 thread: {total / 1e6:.2f} M instructions per inference "
          f"(callgrind, difference of {1 + a.runs} and 1 runs)\n")
    print("| kernel family | M instructions / inference | share |")
    print("| --- | ---: | ---: |")
    for g, v in rows:
        print(f"| {g} | {v / 1e6:.2f} | {100 * v / total:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
