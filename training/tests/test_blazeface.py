"""The BlazeFace short-range conversion (lotr_train/blazeface.py) against TFLite's own
interpreter on real 300-W faces, the anchor order, ONNX Runtime against PyTorch, and the
ONNX metadata."""
import json
import os

import numpy as np
import pytest
import torch

from lotr_train import blazeface as B

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = [os.path.normpath(os.path.join(HERE, *up, "shared", "pretrained")) for up in (("..",) * 3, ("..",) * 2)]
PRETRAINED = next((p for p in _SHARED if os.path.isdir(p)), _SHARED[0])

OP_COUNTS = {"CONV_2D": 21, "DEPTHWISE_CONV_2D": 16, "ADD": 16, "RELU": 17, "PAD": 11, "MAX_POOL_2D": 3,
             "RESHAPE": 4, "CONCATENATION": 2}     # ../shared/pretrained/README.md (and 74 DEQUANTIZE)


@pytest.fixture(scope="module")
def blazeface_tflite():
    path = os.path.join(PRETRAINED, "face_detection_short_range.tflite")
    if not os.path.isfile(path):
        pytest.skip("BlazeFace short-range (shared/pretrained) not available")
    pytest.importorskip("tflite")
    return path


@pytest.fixture(scope="module")
def model(blazeface_tflite):
    return B.from_tflite(blazeface_tflite)


@pytest.fixture(scope="module")
def photos(data_dir):
    return B.load_faces(data_dir, 3)


@pytest.fixture(scope="module")
def onnx_file(model, blazeface_tflite, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    path = str(tmp_path_factory.mktemp("blazeface") / "blazeface-short.onnx")
    B.export_onnx(model, path, B.build_metadata(B.sha256(blazeface_tflite)))
    return path


def test_sha256_and_graph(blazeface_tflite, model):
    assert B.sha256(blazeface_tflite) == B.BLAZEFACE_SHA256
    g = B.read_tflite_graph(blazeface_tflite)
    counts = {}
    for op in g["ops"]:
        counts[op["kind"]] = counts.get(op["kind"], 0) + 1
    assert counts == OP_COUNTS
    # 17 trunk convs (stem + 16 pointwise) and 16 depthwise; the 4 head convs merged into 2
    assert len(model.convs) == 33 and len(model.head) == 2
    assert [tuple(c.weight.shape) for c in model.head] == [(34, 88, 1, 1), (102, 96, 1, 1)]
    assert tuple(model.convs[0].weight.shape) == (24, 3, 5, 5)
    assert sum(p.numel() for p in model.parameters()) == sum(
        op["weight"].size + op["bias"].size for op in g["ops"] if "weight" in op)


def test_same_padding_is_tensorflows():
    assert B.same_pads(128, 5, 2) == (1, 2)
    assert B.same_pads(64, 3, 2) == (0, 1)
    assert B.same_pads(32, 3, 1) == (1, 1)


def test_torch_matches_tflite_on_real_faces(model, blazeface_tflite, photos):
    pytest.importorskip("ai_edge_litert")
    images = [f[0] for f in photos]
    rep = B.compare_tflite(model, blazeface_tflite, images)
    # float16 weights are exact in float32: only summation order differs (~3e-5 relative)
    assert rep["bound_ratio"] <= 1.0, rep
    assert rep["max_abs_diff"] < 1e-3 and rep["max_rel_diff"] < 1e-4, rep


def test_symmetric_padding_would_not_match(blazeface_tflite, photos):
    """PyTorch-style symmetric pads at stride 2 shift the sampling grid by a pixel."""
    pytest.importorskip("ai_edge_litert")
    sym = B.from_tflite(blazeface_tflite, padding="symmetric")
    rep = B.compare_tflite(sym, blazeface_tflite, [photos[0][0]])
    assert rep["bound_ratio"] > 100, rep


def test_anchor_grid_order():
    c = B.anchor_centres()
    assert c.shape == (896, 2)
    assert np.allclose(c[0], [0.5 / 16, 0.5 / 16]) and np.allclose(c[1], c[0])       # 2 per cell
    assert np.allclose(c[2], [1.5 / 16, 0.5 / 16])                                  # then x
    assert np.allclose(c[32], [0.5 / 16, 1.5 / 16])                                 # then y (row-major)
    assert np.allclose(c[511], [15.5 / 16, 15.5 / 16])
    assert np.allclose(c[512:518], [[0.5 / 8, 0.5 / 8]] * 6)                        # stride 16: 6 per cell
    assert np.allclose(c[518], [1.5 / 8, 0.5 / 8]) and np.allclose(c[895], [7.5 / 8, 7.5 / 8])


def test_top_anchor_lands_on_the_face(model, photos):
    """The decoded centre of the best anchor lies in the face's landmark box, also for a face
    moved off-centre (top right, bottom left: a swapped x/y or a wrong scale order would
    miss), and keypoint 0 is 300-W's right eye (36-41), keypoint 1 its left eye."""
    cases = list(photos) + [(*B.off_centre(img, lm, *p), name) for img, lm, name in photos[:1] for p in B.OFF_CENTRE]
    used = set()
    for img, lm, name in cases:
        r = B.top_anchor_on_face(model, img, lm)
        used.add(r["anchor"])
        assert r["score"] > 0.5 and r["inside_face"], (name, r)
        assert r["right_eye_error"] < 0.05 and r["left_eye_error"] < 0.05, (name, r)
        assert r["right_eye_error"] < r["eyes_swapped_error"], (name, r)
    assert len(used) >= 3        # the off-centre faces pick other anchors than the centred ones


def test_onnx_matches_torch(model, onnx_file, photos):
    import onnx
    m = onnx.load(onnx_file)
    assert [i.name for i in m.graph.input] == ["image"] and [o.name for o in m.graph.output] == ["anchors"]
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(m.graph.input[0]) == [1, 3, 128, 128] and dims(m.graph.output[0]) == [1, 896, 17]
    assert {n.op_type for n in m.graph.node} <= {"Conv", "Relu", "Add", "Pad", "MaxPool", "Transpose", "Reshape",
                                                "Concat", "Constant"}
    inits = {t.name for t in m.graph.initializer}
    assert all(n.input[1] in inits for n in m.graph.node if n.op_type == "Pad")
    images = [f[0] for f in photos] + [np.random.default_rng(1).uniform(-1, 1, (128, 128, 3)).astype(np.float32)]
    rep = B.agreement(B.onnx_outputs(onnx_file, images), B.torch_outputs(model, images))
    assert rep["bound_ratio"] <= 1.0 and rep["max_abs_diff"] < 1e-3, rep


def test_onnx_metadata(onnx_file):
    import onnx
    meta = {e.key: e.value for e in onnx.load(onnx_file).metadata_props}
    assert set(meta) == {"model_name", "task", "input_size", "mean", "std", "keypoints", "keypoint_names",
                         "mirror_permutation", "anchors", "score_clip", "training_data", "licence", "source_sha256"}
    assert meta["model_name"] == "blazeface-short" and meta["task"] == "face-detection"
    assert meta["input_size"] == "128" and meta["keypoints"] == "6" and meta["score_clip"] == "100"
    assert json.loads(meta["mean"]) == [0.5] * 3 and json.loads(meta["std"]) == [0.5] * 3
    names = json.loads(meta["keypoint_names"])
    perm = json.loads(meta["mirror_permutation"])
    assert names[:2] == ["right_eye", "left_eye"] and len(names) == 6
    assert sorted(perm) == list(range(6)) and [perm[perm[i]] for i in range(6)] == list(range(6))
    assert [names[p] for p in perm] == [n.replace("right", "@").replace("left", "right").replace("@", "left")
                                        for n in names]
    anchors = json.loads(meta["anchors"])
    assert anchors["strides"] == [8, 16] and anchors["per_cell"] == [2, 6] and anchors["offset"] == 0.5
    assert meta["licence"] == "Apache-2.0" and meta["source_sha256"] == B.BLAZEFACE_SHA256


def test_cli_refuses_a_missing_or_different_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        B.main(["--tflite", str(tmp_path / "nope.tflite"), "--out", str(tmp_path / "x.onnx")])
    assert "no such file" in str(e.value.code)
    other = tmp_path / "other.tflite"
    other.write_bytes(b"not blazeface")
    with pytest.raises(SystemExit) as e:
        B.main(["--tflite", str(other), "--out", str(tmp_path / "x.onnx")])
    assert "sha256" in str(e.value.code) and B.BLAZEFACE_SHA256 in str(e.value.code)
    assert not (tmp_path / "x.onnx").exists()
