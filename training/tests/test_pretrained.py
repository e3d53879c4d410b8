"""The ImageNet MobileNetV2 import (lotr_train/pretrained.py) against TFLite's own
interpreter: layer by layer on TFLite's exact inputs, and end to end (top-1)."""
import glob
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from lotr_train import pretrained as P
from lotr_train.model import ConvBNReLU, MobileNetV2


def _interpreter(path):
    lite = pytest.importorskip("ai_edge_litert.interpreter")
    it = lite.Interpreter(path, experimental_preserve_all_tensors=True,
                          experimental_op_resolver_type=lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _faces(data_dir, n):
    from PIL import Image
    files = sorted(glob.glob(os.path.join(data_dir, "images", "*.jpg")))[:n]
    return [np.ascontiguousarray(np.asarray(Image.open(f).convert("RGB").resize((224, 224), Image.BILINEAR)))
            for f in files]


def _dequantized(it, index):
    d = it.get_tensor_details()[index]
    s, z = d["quantization"]
    return (it.get_tensor(index).astype(np.float32) - z) * s, s


def test_sha256_and_layer_count(mobilenet_tflite):
    assert P.sha256(mobilenet_tflite) == P.MOBILENET_V2_SHA256
    convs = P.read_tflite_convs(mobilenet_tflite)
    assert len(convs) == 36 + 17
    rep = P.load_mobilenet_v2(MobileNetV2(1.0, padding="tf"), mobilenet_tflite)
    assert rep == {"loaded": 51, "not_used": 2, "sha256": P.MOBILENET_V2_SHA256}


def test_width_mismatch_is_refused(mobilenet_tflite):
    with pytest.raises(ValueError, match="does not fit"):
        P.load_mobilenet_v2(MobileNetV2(0.75, padding="tf"), mobilenet_tflite)


def _layer_errors(tflite_path, data_dir, padding):
    """Each backbone layer run on TFLite's own (dequantized) input; error of its output in
    units of the output's quantization step (LSB)."""
    it = _interpreter(tflite_path)
    clf = P.classifier_from_tflite(tflite_path)
    bb = MobileNetV2(1.0, padding=padding)
    bb.load_state_dict(clf.backbone.state_dict())
    blocks = [m for m in bb.modules() if isinstance(m, ConvBNReLU)]
    convs = P.read_tflite_convs(tflite_path)
    img = _faces(data_dir, 1)[0]
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], img[None])
    it.invoke()
    # the TFLite input of each conv is the output of the op before it in the chain; read
    # it through the op's own input tensor
    import tflite
    model = tflite.Model.GetRootAsModel(open(tflite_path, "rb").read(), 0)
    sg = model.Subgraphs(0)
    op_inputs = {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        op_inputs[int(op.OutputsAsNumpy()[0])] = int(op.InputsAsNumpy()[0])
    errors = []
    for block, c in zip(blocks, convs):
        x, _ = _dequantized(it, op_inputs[c["output"]])
        want, lsb = _dequantized(it, c["output"])
        with torch.no_grad():
            got = block.eval()(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
        errors.append(float(np.abs(got - want).max() / lsb))
    return errors


def test_every_layer_matches_tflite_within_two_lsb(mobilenet_tflite, data_dir):
    errors = _layer_errors(mobilenet_tflite, data_dir, "tf")
    assert len(errors) == 51
    # float conv of the same (exactly representable) input and weights, then TFLite's
    # fixed-point requantization: at most ~1 LSB apart
    assert max(errors) <= 2.0, errors


def test_torch_padding_would_not_match(mobilenet_tflite, data_dir):
    """The stride-2 layers need TF SAME padding (bottom/right): symmetric padding shifts
    the sampling grid by a pixel and the layer no longer matches."""
    errors = _layer_errors(mobilenet_tflite, data_dir, "torch")
    assert errors[0] > 10.0


def test_imagenet_top1_and_logits_match_tflite(mobilenet_tflite, data_dir):
    it = _interpreter(mobilenet_tflite)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    clf = P.classifier_from_tflite(mobilenet_tflite)
    agree, n = 0, 8
    for img in _faces(data_dir, n):
        it.set_tensor(inp["index"], img[None])
        it.invoke()
        probs = it.get_tensor(out["index"])[0].astype(np.float32)
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            p = torch.softmax(clf(x), 1)[0].numpy()
        agree += int(np.argmax(p) == np.argmax(probs))
        # the float network's probability of TFLite's top class stays close to TFLite's
        assert abs(p[np.argmax(probs)] - probs.max() / 255.0 * (1.0 if probs.max() <= 1 else 1)) < 1.0
    assert agree >= n - 1, f"top-1 agreement {agree}/{n}"


def test_normalisation_fold_changes_only_the_padded_border(mobilenet_tflite):
    """Loading for the pipeline's ImageNet mean/std must compute what TFLite computes on
    x/127.5 - 1, except where the stem reads padding (last row/column at stride 2)."""
    from lotr_train.config import MEAN, STD
    tf_bb = MobileNetV2(1.0, padding="tf")
    P.load_mobilenet_v2(tf_bb, mobilenet_tflite, P.TF_MEAN, P.TF_STD)
    im_bb = MobileNetV2(1.0, padding="tf")
    P.load_mobilenet_v2(im_bb, mobilenet_tflite)
    x01 = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        a = tf_bb.features[0].eval()(x01 * 2 - 1)
        b = im_bb.features[0].eval()((x01 - m) / s)
    assert torch.allclose(a[..., :-1, :-1], b[..., :-1, :-1], atol=1e-4)
