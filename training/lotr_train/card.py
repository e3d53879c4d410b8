"""Fill the results block of models/MODEL_CARD.md from the metrics JSON and training log.

  python -m lotr_train.card --card ../models/MODEL_CARD.md \
      --metrics ../models/lotr-m-68.metrics.json --log runs/lotr-m-68/log.jsonl \
      --onnx ../models/lotr-m-68.onnx

Replaces the text between <!-- results:begin --> and <!-- results:end -->.
"""
from __future__ import annotations

import argparse
import json
import os

import onnx

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def render(metrics: dict, log: list[dict], onnx_path: str) -> str:
    md = {p.key: p.value for p in onnx.load(onnx_path, load_external_data=False).metadata_props}
    evals = [r for r in log if "val_nme" in r]
    best = min(evals, key=lambda r: r["val_nme"]) if evals else {}
    times = [r["epoch_time_s"] for r in log]
    lines = [
        "Measured (filled in by `python -m lotr_train.card` at the end of the run):",
        "",
        f"| validation ({next(iter(metrics.get(k, {}).get('count', '?') for k in ('plain',)))} faces) | NME inter-ocular | NME sqrt(wh) box | AUC@0.08 | AUC@0.10 | FR@0.08 | FR@0.10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in (("plain", "single pass (as the runtime runs it)"), ("flip_tta", "with flip test-time averaging")):
        if name in metrics:
            m = metrics[name]
            lines.append(f"| {label} | {m['nme_inter_ocular'] * 100:.2f} % | {m['nme_box'] * 100:.2f} % | "
                         f"{m['auc08_inter_ocular'] * 100:.2f} % | {m['auc10_inter_ocular'] * 100:.2f} % | "
                         f"{m['fr08_inter_ocular'] * 100:.2f} % | {m['fr10_inter_ocular'] * 100:.2f} % |")
    lines += [
        "",
        f"- Training: {len(log)} epochs, {log[-1]['step'] if log else 0} steps, "
        f"{log[-1]['elapsed_min'] if log else 0:.1f} min of training; epoch time median "
        f"{sorted(times)[len(times) // 2] if times else 0:.0f} s (min {min(times) if times else 0:.0f} s, "
        f"max {max(times) if times else 0:.0f} s) on a shared 2-core CPU.",
        f"- Best validation epoch: {best.get('epoch', '?')} (EMA weights), NME during training "
        f"{best.get('val_nme', float('nan')) * 100:.2f} %.",
        f"- ONNX file: {os.path.getsize(onnx_path) / 1e6:.2f} MB, {int(md.get('macs', 0)) / 1e6:.1f} M MACs.",
        f"- CED curve: `models/{os.path.basename(onnx_path).removesuffix('.onnx')}.ced.png`.",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--card", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--onnx", required=True)
    a = ap.parse_args(argv)
    metrics = json.load(open(a.metrics))
    log = [json.loads(l) for l in open(a.log) if l.strip()]
    text = open(a.card).read()
    i, j = text.index(BEGIN) + len(BEGIN), text.index(END)
    text = text[:i] + "\n" + render(metrics, log, a.onnx) + "\n" + text[j:]
    open(a.card, "w").write(text)
    print(f"updated {a.card}")


if __name__ == "__main__":
    main()
