"""Evaluate a checkpoint (.pt) or an ONNX file on a folder of images with landmarks.

  python -m lotr_train.evaluate --model models/lotr-m-68.onnx \
      --data ../shared/data/300w-train --split-file training/splits/300w-val.txt \
      [--format auto|300w-csv|pts|wflw|jd106] [--flip] [--json out.json] [--ced out.png]

Faces are cropped with the model's crop rule around the ground-truth landmark box (no
jitter). Reports NME (inter-ocular and sqrt(w*h) box), AUC@0.08/0.10 and failure rate
@0.08/0.10, with and (--flip) without horizontal-flip test-time averaging.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from . import data as D
from . import metrics
from .inference import Predictor, predict


def evaluate(model_path: str, data_path: str, fmt: str = "auto", split_file: str | None = None,
             flip: bool = False, images_root: str | None = None, limit: int = 0):
    samples = D.read_dataset(data_path, fmt, images_root)
    if split_file:
        with open(split_file) as f:
            names = {l.strip() for l in f if l.strip()}
        samples = [s for s in samples if s.name in names]
    if limit:
        samples = samples[:limit]
    ds = D.CachedSet(samples)
    pred = Predictor.from_path(model_path)
    results, errors = {}, {}
    variants = [("plain", False)] + ([("flip_tta", True)] if flip else [])
    for name, f in variants:
        p, g = predict(pred, ds, flip_tta=f)
        results[name] = metrics.summary(p, g)
        kind = "inter_ocular" if ds.num_landmarks in D.OUTER_EYE else "box"
        errors[name] = metrics.nme(p, g, kind)
    return results, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=".pt checkpoint or .onnx file")
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", default="auto")
    ap.add_argument("--images-root", help="image folder for WFLW annotation files")
    ap.add_argument("--split-file", help="evaluate only the image names listed in this file")
    ap.add_argument("--flip", action="store_true", help="also report flip test-time averaging")
    ap.add_argument("--json")
    ap.add_argument("--ced")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args(argv)
    res, errs = evaluate(a.model, a.data, a.format, a.split_file, a.flip, a.images_root, a.limit)
    out = {"model": os.path.basename(a.model), "data": a.data, "split_file": a.split_file, **res}
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.ced:
        n_io = "nme_inter_ocular" in next(iter(res.values()))
        metrics.plot_ced(errs, a.ced, 0.10, "NME (inter-ocular)" if n_io else "NME (sqrt(w*h) box)")
    return out


if __name__ == "__main__":
    main()
