"""ImageNet weights for the MobileNetV2 backbone, read from a TFLite file.

  python -m lotr_train.pretrained --tflite ../../shared/pretrained/mobilenet_v2_1.0_224_ptq.tflite

The file (see ../shared/pretrained/README.md: provenance, sha256) is TensorFlow's
post-training-quantized MobileNetV2 1.0: int8 weights per output channel with BatchNorm
folded in, int32 biases, ReLU6 fused, uint8 input x/127.5 - 1. It is read with the
`tflite` flatbuffer package (the schema's generated reader), not a parser of our own.

What the loader does:
- dequantizes every CONV_2D / DEPTHWISE_CONV_2D weight (q * scale[channel]) and bias
  (q * bias_scale[channel]) and converts the layouts: CONV_2D OHWI -> OIHW,
  DEPTHWISE_CONV_2D 1HWC -> C1HW;
- assigns them in graph order to the backbone's convolutions (torchvision's layer order
  is TensorFlow's: stem, then per block expand (if any), depthwise, project), checking
  every shape; the folded BN becomes an identity BatchNorm whose bias is the TF bias;
- folds the change of input normalisation into the stem: TF wants u = 2 * x01 - 1, the
  pipeline feeds z = (x01 - mean) / std, so W' = 2 * std[c] * W and
  b' = b + sum W * (2 * mean[c] - 1). Exact except where the stem reads padding (the
  bottom row and right column at stride 2: TF pads u = 0, we pad z = 0).
Stride-2 layers need TF "SAME" padding (bottom/right), i.e. backbone_padding = "tf".
The 1280-channel conv and the 1001-way classifier are not part of the LOTR backbone;
`classifier_from_tflite` builds them for the ImageNet check in the tests.
"""
from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import torch
import torch.nn as nn

MOBILENET_V2_SHA256 = "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c"
TF_MEAN = (0.5, 0.5, 0.5)    # u = x / 127.5 - 1 = (x01 - 0.5) / 0.5
TF_STD = (0.5, 0.5, 0.5)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_tflite_convs(path: str) -> list[dict]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of the main subgraph in execution order, as
    dicts: kind, weight (float32, PyTorch layout OIHW / C1HW), bias (float32), stride,
    padding ("SAME"/"VALID"), activation (TFLite's fused activation code), output tensor
    index (for the interpreter)."""
    import tflite
    with open(path, "rb") as f:
        buf = f.read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    sg = model.Subgraphs(0)
    conv, dw = tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D
    pad_name = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}

    def const(tensor_index: int) -> np.ndarray:
        t = sg.Tensors(tensor_index)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.INT8: np.int8, tflite.TensorType.INT32: np.int32,
                 tflite.TensorType.UINT8: np.uint8, tflite.TensorType.FLOAT32: np.float32}[t.Type()]
        a = np.frombuffer(np.asarray(data).tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())
        q = t.Quantization()
        if q is None or q.ScaleLength() == 0:
            return a.astype(np.float32)
        scale = q.ScaleAsNumpy().astype(np.float64)
        zp = q.ZeroPointAsNumpy().astype(np.float64) if q.ZeroPointLength() else np.zeros_like(scale)
        shape = [1] * a.ndim
        if len(scale) > 1:
            shape[q.QuantizedDimension()] = len(scale)
        return ((a.astype(np.float64) - zp.reshape(shape)) * scale.reshape(shape)).astype(np.float32)

    out = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code not in (conv, dw):
            continue
        ins = op.InputsAsNumpy()
        w, b = const(ins[1]), const(ins[2])
        opt_t = tflite.Conv2DOptions() if code == conv else tflite.DepthwiseConv2DOptions()
        o = op.BuiltinOptions()
        opt_t.Init(o.Bytes, o.Pos)
        if code == conv:
            w = w.transpose(0, 3, 1, 2)          # OHWI -> OIHW
        else:
            w = w.transpose(3, 0, 1, 2)          # 1HWC -> C1HW
        out.append({"kind": "conv" if code == conv else "depthwise", "weight": np.ascontiguousarray(w),
                    "bias": b, "stride": (opt_t.StrideH(), opt_t.StrideW()),
                    "padding": pad_name[opt_t.Padding()], "activation": opt_t.FusedActivationFunction(),
                    "output": int(op.OutputsAsNumpy()[0])})
    return out


def backbone_convs(backbone: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, bn) pairs of a MobileNetV2 backbone in execution order."""
    pairs = []
    for m in backbone.modules():
        if isinstance(m, nn.Sequential) and any(isinstance(c, nn.Conv2d) for c in m.children()) \
                and any(isinstance(c, nn.BatchNorm2d) for c in m.children()):
            conv = next(c for c in m.children() if isinstance(c, nn.Conv2d))
            bn = next(c for c in m.children() if isinstance(c, nn.BatchNorm2d))
            pairs.append((conv, bn))
    return pairs


@torch.no_grad()
def _assign(conv: nn.Conv2d, bn: nn.BatchNorm2d, w: np.ndarray, b: np.ndarray, where: str) -> None:
    if tuple(conv.weight.shape) != w.shape:
        raise ValueError(f"{where}: TFLite weight {w.shape} does not fit the backbone's {tuple(conv.weight.shape)} "
                         "(width multiplier or layer order differs)")
    conv.weight.copy_(torch.from_numpy(w))
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))   # (x - 0) / sqrt(1 + eps) * w = x
    bn.bias.copy_(torch.from_numpy(b))


def load_mobilenet_v2(backbone: nn.Module, path: str, mean=None, std=None) -> dict:
    """Load the TFLite MobileNetV2's weights into `backbone` (model.MobileNetV2 built with
    backbone_padding "tf"). mean/std: the normalisation the backbone will be fed (default:
    the pipeline's ImageNet statistics); TF_MEAN/TF_STD feed it exactly as TFLite is fed.
    Returns a small report (layers loaded, the ones left out, the file's sha256)."""
    from .config import MEAN, STD
    mean = np.asarray(MEAN if mean is None else mean, dtype=np.float64)
    std = np.asarray(STD if std is None else std, dtype=np.float64)
    convs = read_tflite_convs(path)
    pairs = backbone_convs(backbone)
    if len(convs) < len(pairs):
        raise ValueError(f"{path}: {len(convs)} convolutions, the backbone has {len(pairs)}")
    for i, ((conv, bn), t) in enumerate(zip(pairs, convs)):
        if conv.stride != t["stride"]:
            raise ValueError(f"layer {i}: stride {conv.stride} vs TFLite {t['stride']}")
        w, b = t["weight"].astype(np.float64), t["bias"].astype(np.float64)
        if i == 0:
            b = b + (w * (2 * mean - 1).reshape(1, 3, 1, 1)).sum(axis=(1, 2, 3))
            w = w * (2 * std).reshape(1, 3, 1, 1)
        _assign(conv, bn, w.astype(np.float32), b.astype(np.float32), f"layer {i} ({t['kind']})")
    return {"loaded": len(pairs), "not_used": len(convs) - len(pairs), "sha256": sha256(path)}


class ImageNetClassifier(nn.Module):
    """backbone -> 1x1 conv 1280 + ReLU6 -> global mean -> 1x1 conv 1001 (logits, class 0 =
    background): the whole TFLite network, for checking the import."""

    def __init__(self, backbone: nn.Module, cin: int = 320):
        super().__init__()
        self.backbone = backbone
        self.conv = nn.Conv2d(cin, 1280, 1)
        self.fc = nn.Conv2d(1280, 1001, 1)

    def forward(self, x):
        f = torch.clamp(self.conv(self.backbone(x)), 0, 6)
        return self.fc(f.mean(dim=(2, 3), keepdim=True)).flatten(1)


@torch.no_grad()
def classifier_from_tflite(path: str, mean=TF_MEAN, std=TF_STD) -> ImageNetClassifier:
    from .model import MobileNetV2
    bb = MobileNetV2(1.0, padding="tf")
    load_mobilenet_v2(bb, path, mean, std)
    clf = ImageNetClassifier(bb)
    convs = read_tflite_convs(path)[len(backbone_convs(bb)):]
    if len(convs) != 2:
        raise ValueError(f"{path}: expected the 1280 conv and the classifier after the backbone")
    for layer, t in zip((clf.conv, clf.fc), convs):
        layer.weight.copy_(torch.from_numpy(t["weight"]))
        layer.bias.copy_(torch.from_numpy(t["bias"]))
    return clf.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check and summarise a TFLite MobileNetV2 for the LOTR backbone.")
    ap.add_argument("--tflite", required=True)
    a = ap.parse_args(argv)
    from .model import MobileNetV2
    bb = MobileNetV2(1.0, padding="tf")
    rep = load_mobilenet_v2(bb, a.tflite)
    rep["sha256_expected"] = MOBILENET_V2_SHA256
    rep["parameters"] = sum(p.numel() for p in bb.parameters())
    print(json.dumps(rep, indent=1))


if __name__ == "__main__":
    main()
