import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lotr_train import data as D
from lotr_train.config import preset
from lotr_train.export import build_metadata, export_model, op_histogram
from lotr_train.model import build_model

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "reference")
PLAIN_OPS = {"Conv", "Clip", "Relu", "Add", "Mul", "Reshape", "Transpose", "MatMul", "Softmax",
             "LayerNormalization", "Constant"}


def test_export_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = build_model(preset("lotr-tiny", num_landmarks=68)).eval()
    with torch.no_grad():   # non-trivial BN statistics, so folding is exercised
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    p = str(tmp_path / "tiny.onnx")
    meta = build_metadata(m, D.MIRROR_PERMS[68], 1.3, "synthetic", "none")
    x2 = torch.randn(1, 3, 64, 64)
    diff = export_model(m, p, meta, check_inputs=[x2])
    assert diff < 1e-4
    model = onnx.load(p)
    assert model.opset_import[0].version >= 17
    assert set(op_histogram(p)) <= PLAIN_OPS
    md = {e.key: e.value for e in model.metadata_props}
    assert int(md["landmark_count"]) == 68 and int(md["input_size"]) == 64
    assert json.loads(md["mirror_permutation"]) == D.MIRROR_PERMS[68]
    assert json.loads(md["crop_rule"])["k"] == 1.3
    assert len(json.loads(md["mean"])) == 3 and "licence" in md and "training_data" in md
    sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 64, 64]
    out = sess.run(["landmarks"], {"input": x2.numpy()})[0]
    assert out.shape == (1, 68, 2)
    with torch.no_grad():
        assert np.abs(out - m(x2).numpy()).max() < 1e-4


@pytest.mark.parametrize("name", ["lotr-tiny", "lotr-m-68"])
def test_reference_fixtures_consistent(name):
    """The committed dumps agree with the committed/shipped ONNX file."""
    d = os.path.join(FIX, name)
    if not os.path.isfile(os.path.join(d, "manifest.json")):
        pytest.skip(f"no fixtures for {name}")
    man = json.load(open(os.path.join(d, "manifest.json")))
    onnx_path = os.path.join(FIX, man["onnx"]) if not man["onnx"].startswith("models/") else \
        os.path.join(HERE, "..", "..", man["onnx"])
    if not os.path.isfile(onnx_path):
        pytest.skip(f"{onnx_path} missing")
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    for im in man["images"]:
        tens = {t["name"]: np.fromfile(os.path.join(d, t["file"]), "<f4").reshape(t["shape"])
                for t in im["tensors"]}
        assert os.path.isfile(os.path.join(d, im["image"]))
        out = sess.run(["landmarks"], {"input": tens["input"]})[0]
        assert np.abs(out - tens["landmarks"]).max() < 1e-4
        assert {"input", "backbone", "proj", "encoder.0", "decoder.0", "landmarks"} <= set(tens)
