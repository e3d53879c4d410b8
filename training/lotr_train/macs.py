"""Multiply-accumulate count of one inference, per stage.

Counted: Conv2d / ConvTranspose2d (out elements x in/groups x kh x kw), Linear (rows x in
x out), attention matmuls (q k^T and attn v: 2 x B x heads x Tq x Tk x dh). Not counted:
BN (folded into conv), adds, LayerNorm, softmax, activations (element-wise, < 1 %).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from .model import LOTR, Attention


def stage_of(name: str) -> str:
    parts = name.split(".")
    if parts[0] in ("encoder", "decoder") and len(parts) > 2 and parts[1] == "layers":
        return f"{parts[0]}.{parts[2]}"
    return parts[0]


@torch.no_grad()
def count_macs(model: LOTR) -> "OrderedDict[str, int]":
    cfg = model.cfg
    table: OrderedDict[str, int] = OrderedDict()
    hooks = []

    def add(stage, n):
        table[stage] = table.get(stage, 0) + int(n)

    for name, m in model.named_modules():
        st = stage_of(name) if name else ""
        if isinstance(m, nn.Conv2d):
            def h(mod, inp, out, st=st):
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                add(st, out.numel() * k)
            hooks.append(m.register_forward_hook(h))
        elif isinstance(m, nn.ConvTranspose2d):
            def h(mod, inp, out, st=st):
                x = inp[0]
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels // mod.groups
                add(st, x.numel() * k)
            hooks.append(m.register_forward_hook(h))
        elif isinstance(m, nn.Linear):
            def h(mod, inp, out, st=st):
                add(st, out.numel() // mod.out_features * mod.in_features * mod.out_features)
            hooks.append(m.register_forward_hook(h))
        elif isinstance(m, Attention):
            def h(mod, inp, out, st=st):
                add(st, mod.macs)
            hooks.append(m.register_forward_hook(h))
    was = model.training
    model.eval()
    model(torch.zeros(1, 3, cfg.input_size, cfg.input_size))
    model.train(was)
    for h in hooks:
        h.remove()
    table["total"] = sum(v for k, v in table.items())
    return table


def format_table(table) -> str:
    lines = ["| stage | MMACs |", "| --- | ---: |"]
    for k, v in table.items():
        lines.append(f"| {k} | {v / 1e6:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    from .config import preset
    from .model import build_model
    ap = argparse.ArgumentParser(description="Print the MAC table of a preset")
    ap.add_argument("preset", nargs="?", default="lotr-m")
    ap.add_argument("--num-landmarks", type=int, default=68)
    a = ap.parse_args()
    print(format_table(count_macs(build_model(preset(a.preset, num_landmarks=a.num_landmarks)))))
