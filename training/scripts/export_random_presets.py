"""Random-weight exports of the LOTR presets, for the runtime's opt-in import checks.

  cd training && ../.venv/bin/python scripts/export_random_presets.py --out /tmp/lotr-presets [lotr-m+ lotr-r ...]

For each preset NAME writes, into --out: NAME.onnx (lotr_train.export.export_model, so the
same graph and metadata as a trained export), NAME.input.bin (f32 NCHW, a fixed N(0, 1)
input), NAME.expected.bin (ONNX Runtime's landmarks for it) and NAME.checks.json with
ONNX Runtime's intermediate feature maps (see write_intermediates). BatchNorm statistics are
randomised (as dumps.py does for lotr-tiny) so BN folding is exercised. Then:

  LOTR_ONNX_CHECK_DIR=/tmp/lotr-presets swift test --skip-build --filter ONNXExportCheckTests

The files are tens of MB (lotr-r ~100 MB), so they are not committed.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lotr_train import data as D  # noqa: E402
from lotr_train import geometry  # noqa: E402
from lotr_train.config import preset  # noqa: E402
from lotr_train.export import build_metadata, export_model  # noqa: E402
from lotr_train.model import build_model  # noqa: E402


def export(name: str, out: str, seed: int, n: int) -> None:
    torch.manual_seed(seed)
    model = build_model(preset(name, num_landmarks=n))
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    model.eval()
    path = os.path.join(out, f"{name}.onnx")
    meta = build_metadata(model, D.mirror_perm(n), geometry.CROP_K, f"none (random weights, seed {seed})",
                          "fixture only")
    diff = export_model(model, path, meta)
    import onnxruntime as ort
    size = model.cfg.input_size
    x = np.random.default_rng(100).standard_normal((1, 3, size, size)).astype(np.float32)
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(["landmarks"], {"input": x})[0]
    x.tofile(os.path.join(out, f"{name}.input.bin"))
    y.astype(np.float32).tofile(os.path.join(out, f"{name}.expected.bin"))
    write_intermediates(path, x, out, name)
    print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, onnxruntime vs torch {diff:.2e}", flush=True)


def write_intermediates(path: str, x: np.ndarray, out: str, name: str) -> None:
    """ONNX Runtime's values after each MaxPool and ConvTranspose (and the BatchNorm/Relu
    chain after one) and the last 4-D feature map before the tokens: NAME.checks.json lists
    {value, shape, file}, each file f32 NCHW. (The landmarks of a random-weight model can
    barely depend on the input, so they alone prove little.)"""
    import json

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    m = onnx.load(path)
    readers: dict[str, list] = {}
    for n in m.graph.node:
        for v in n.input:
            readers.setdefault(v, []).append(n)
    values = []
    for n in m.graph.node:
        if n.op_type in ("MaxPool", "ConvTranspose"):
            v = n.output[0]
            values.append(v)
            while len(readers.get(v, [])) == 1 and readers[v][0].op_type in ("BatchNormalization", "Relu", "Clip"):
                v = readers[v][0].output[0]   # the value the importer's fused node writes
                values.append(v)
    first_reshape = next((n for n in m.graph.node if n.op_type in ("Reshape", "Flatten")), None)
    if first_reshape is not None:
        values.append(first_reshape.input[0])
    values = list(dict.fromkeys(values))
    for v in values:
        m.graph.output.append(helper.make_tensor_value_info(v, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    results = sess.run(values, {"input": x})
    checks = []
    for i, (v, r) in enumerate(zip(values, results)):
        file = f"{name}.value{i}.bin"
        np.ascontiguousarray(r, dtype=np.float32).tofile(os.path.join(out, file))
        checks.append({"value": v, "shape": list(r.shape), "file": file})
    with open(os.path.join(out, f"{name}.checks.json"), "w") as f:
        json.dump(checks, f, indent=1)
    print(f"{name}: intermediates {[c['value'] for c in checks]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="*", default=["lotr-m+", "lotr-r"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--landmarks", type=int, default=68)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    for name in a.presets:
        export(name, a.out, a.seed, a.landmarks)


if __name__ == "__main__":
    main()
