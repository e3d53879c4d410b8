"""Reference dumps for the runtime's tests (llm.c's test_gpt2 style).

  # trained model, images picked by name from the data set
  python -m lotr_train.dumps --checkpoint runs/lotr-m-68/best.pt --name lotr-m-68 \
      --data ../shared/data/300w-train --images a.jpg,b.jpg,c.jpg --out ../Tests/Fixtures/reference
  # random-weight fixture model (fixed seed), exported to <out>/lotr-tiny.onnx as well
  python -m lotr_train.dumps --preset lotr-tiny --seed 0 --name lotr-tiny \
      --data ../shared/data/300w-train --images a.jpg,b.jpg --out ../Tests/Fixtures/reference

Writes <out>/<name>/manifest.json, one raw little-endian float32 .bin per tensor, and a
copy of each source image. Tensors per image: input (1x3xHxW, normalised), backbone
(NCHW), proj (NCHW), encoder.i (1xTxD), decoder.i (1xNxD), [encoder.norm/decoder.norm in
pre-norm models], landmarks (1xNx2).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np
import torch

from . import data as D
from . import geometry
from .config import MEAN, STD, preset
from .inference import load_checkpoint
from .model import LOTR, build_model

LAYOUT = {"input": "NCHW", "backbone": "NCHW", "proj": "NCHW", "landmarks": "NxXY"}


def write_dumps(model: LOTR, samples: list[D.Sample], out_dir: str, name: str, crop_k: float,
                perm, extra: dict | None = None) -> dict:
    model.eval()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    ds = D.CachedSet(samples)
    size = model.cfg.input_size
    images = []
    for i, s in enumerate(samples):
        x, _ = D.make_batch(ds, [i], size, crop_k, perm, None)
        with torch.no_grad():
            st = model(x, return_stages=True)
        stem = os.path.splitext(os.path.basename(s.image))[0]
        img_file = f"{stem}{os.path.splitext(s.image)[1]}"
        shutil.copyfile(s.image, os.path.join(d, img_file))
        c, side = geometry.crop_params(ds.landmarks[i], crop_k)
        A = geometry.crop_matrix(c, side)
        tensors = []
        for tname, t in [("input", x)] + list(st.items()):
            arr = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
            fn = f"{stem}.{tname}.bin"
            arr.tofile(os.path.join(d, fn))
            tensors.append({"name": tname, "shape": list(arr.shape), "dtype": "f32", "file": fn,
                            "layout": LAYOUT.get(tname, "NTD")})
        images.append({
            "image": img_file,
            "landmarks_source": (ds.landmarks[i]).round(4).tolist(),
            "crop": {"centre": c.tolist(), "side": side, "theta": 0.0, "matrix": A.tolist()},
            "tensors": tensors,
        })
    manifest = {
        "model": name, "input_size": size, "num_landmarks": model.cfg.num_landmarks,
        "mean": list(MEAN), "std": list(STD), "crop_k": crop_k,
        "crop_rule": dict(geometry.CROP_RULE, k=crop_k),
        "landmarks_source_convention": "continuous pixel coords of the image file "
                                       "(pixel i spans [i, i+1)); the crop box comes from them",
        "architecture": model.cfg.to_dict(),
        "images": images, **(extra or {}),
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint")
    g.add_argument("--preset", help="random weights (fixed --seed), e.g. lotr-tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", default="auto")
    ap.add_argument("--images", required=True, help="comma-separated image names")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    samples = D.read_dataset(a.data, a.format)
    by_name = {s.name: s for s in samples}
    chosen = [by_name[n] for n in a.images.split(",")]
    if a.checkpoint:
        model, ck = load_checkpoint(a.checkpoint)
        perm, crop_k = ck["mirror_perm"], ck["crop_k"]
        extra = {"source": os.path.basename(a.checkpoint), "onnx": f"models/{a.name}.onnx"}
    else:
        torch.manual_seed(a.seed)
        n = len(samples[0].landmarks)
        model = build_model(preset(a.preset, num_landmarks=n))
        crop_k = geometry.CROP_K
        ds_all = D.CachedSet(samples[:200])
        model.set_mean_shape(torch.from_numpy(ds_all.mean_shape(crop_k)))
        perm = D.mirror_perm(n)
        # make BN non-trivial so folding is exercised by the fixture
        g2 = torch.Generator().manual_seed(a.seed + 1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g2) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g2) + 0.5)
                m.weight.data.copy_(torch.rand(m.num_features, generator=g2) + 0.5)
                m.bias.data.copy_(torch.randn(m.num_features, generator=g2) * 0.1)
        model.eval()
        from .export import build_metadata, export_model
        onnx_path = os.path.join(a.out, f"{a.name}.onnx")
        meta = build_metadata(model, perm, crop_k, "none (random weights, seed %d; mean shape "
                              "anchors from the first 200 300-W faces)" % a.seed,
                              "fixture only; 300-W-derived images are research-only")
        diff = export_model(model, onnx_path, meta)
        print(f"exported {onnx_path} (max abs diff vs torch {diff:.2e})")
        extra = {"source": f"random weights, preset {a.preset}, seed {a.seed}", "onnx": f"{a.name}.onnx"}
    m = write_dumps(model, chosen, a.out, a.name, crop_k, perm, extra)
    total = sum(os.path.getsize(os.path.join(a.out, a.name, f)) for f in os.listdir(os.path.join(a.out, a.name)))
    print(f"wrote {len(m['images'])} images to {os.path.join(a.out, a.name)} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
