"""MediaPipe's BlazeFace short-range face detector, read from its TFLite file, as PyTorch
and ONNX.

  python -m lotr_train.blazeface --tflite ../shared/pretrained/face_detection_short_range.tflite \\
      --out models/blazeface-short.onnx

The file (see ../shared/pretrained/README.md: provenance, sha256, Apache-2.0) is
MediaPipe's `face_detection_short_range.tflite` (the mediapipe 0.10.14 wheel): float32
activations, float16 weights behind DEQUANTIZE ops. It is read with the `tflite`
flatbuffer package (the schema's generated reader), as pretrained.py reads MobileNetV2.

What the converter does:
- follows every DEQUANTIZE back to its float16 buffer (exact in float32) and converts the
  layouts: CONV_2D OHWI -> OIHW, DEPTHWISE_CONV_2D 1HWC -> C1HW;
- builds the network by walking the TFLite ops in order (a small interpreter of the 8
  op kinds the file uses: CONV_2D, DEPTHWISE_CONV_2D, ADD, RELU, PAD, MAX_POOL_2D,
  RESHAPE, CONCATENATION), checking every weight shape against the tensors it connects.
  TF "SAME" padding is exact: symmetric pads become the conv's own padding (k=3, s=1:
  1), asymmetric ones (stride 2: k=5 in 128 -> top/left 1, bottom/right 2; k=3 ->
  0 / 1) an explicit zero F.pad before a padding=0 conv (ONNX Pad + Conv). The channel
  PADs of the residuals (zeros appended to the channel axis) become F.pad on dim 1;
- merges the head: per scale the classificator (A channels) and regressor (16 A) 1x1
  convs of the same feature become ONE 1x1 conv whose output channels are ordered per
  anchor [reg a0 (16), logit a0, reg a1 (16), logit a1, ...], so that
  permute(0, 2, 3, 1).reshape(1, H*W*A, 17) is TFLite's RESHAPE of both, and the
  concatenation over scales is TFLite's CONCATENATION of both (anchor order unchanged).

The model (`BlazeFace`): input `image` 1x3x128x128 NCHW, RGB, (rgb01 - 0.5) / 0.5 (i.e.
x/127.5 - 1, what TFLite wants); output `anchors` 1x896x17. Anchors: stride 8, 16x16
cells row-major, 2 per cell (rows 0-511), then stride 16, 8x8 cells, 6 per cell (rows
512-895); anchor centre ((x + 0.5) / cells_x, (y + 0.5) / cells_y) of the input, size
1. Per anchor: box centre dx, dy, box w, h, then 6 keypoints (x, y), all in input pixels
(128) relative to the anchor centre, then the score logit. Keypoints (MediaPipe's
FaceKeyPoint order): 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre, 4 right ear
tragion, 5 left ear tragion; "right" is the subject's own right, i.e. on the image's
left in an unmirrored photo (checked against 300-W's eyes: keypoint 0 lands on 300-W
points 36-41). Decode (`decode`): centre = anchor + (dx, dy) / 128, size = (w, h) / 128,
keypoints likewise, score = sigmoid(clip(logit, -100, 100)).

Verification (`verify`, printed by main): the torch module against the TFLite interpreter
(ai-edge-litert) on real 300-W faces, ONNX Runtime against torch, and the top-scoring
anchor's decoded box centre inside each face's landmark box.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .pretrained import sha256

BLAZEFACE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
INPUT_SIZE = 128
STRIDES = (8, 16)
PER_CELL = (2, 6)
ANCHOR_OFFSET = 0.5
SCORE_CLIP = 100.0
KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion"]
MIRROR_PERMUTATION = [1, 0, 2, 3, 5, 4]      # a horizontal flip swaps the eyes and the ears
TF_MEAN = (0.5, 0.5, 0.5)                    # x / 127.5 - 1 = (x01 - 0.5) / 0.5
TF_STD = (0.5, 0.5, 0.5)
# the committed agreement bound: |torch - tflite| <= ATOL + RTOL * |tflite| per value
ATOL, RTOL = 1e-3, 1e-4

_REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_TFLITE = os.path.normpath(os.path.join(_REPO, "..", "shared", "pretrained", "face_detection_short_range.tflite"))
DEFAULT_OUT = os.path.join(_REPO, "models", "blazeface-short.onnx")
DEFAULT_FACES = os.path.normpath(os.path.join(_REPO, "..", "shared", "data", "300w-train"))
COMMITTED_FACES = os.path.join(_REPO, "Tests", "Fixtures", "vision")

_ACT = {0: None, 1: "relu", 3: "relu6"}      # TFLite ActivationFunctionType: NONE, RELU, RELU6


def read_tflite_graph(path: str) -> dict:
    """The main subgraph of a float TFLite file as plain data: `ops` (execution order,
    DEQUANTIZE resolved away) as dicts with kind, inputs / output (tensor indices) and the
    op's parameters (weights float32 in PyTorch layout OIHW / C1HW), `shapes` (tensor index
    -> shape, NHWC as TFLite has it), `names` (tensor index -> name), `inputs`, `outputs`.
    Raises ValueError on an op kind or option the converter does not handle."""
    import tflite
    with open(path, "rb") as f:
        buf = f.read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    sg = model.Subgraphs(0)
    B = tflite.BuiltinOperator
    op_name = {v: k for k, v in vars(B).items() if not k.startswith("_")}
    pad_name = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
    dtypes = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
              tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64}
    shapes = {i: tuple(int(d) for d in sg.Tensors(i).ShapeAsNumpy()) if sg.Tensors(i).ShapeLength() else ()
              for i in range(sg.TensorsLength())}
    names = {i: sg.Tensors(i).Name().decode() for i in range(sg.TensorsLength())}
    dequantized: dict[int, np.ndarray] = {}

    def stored(t: int) -> np.ndarray | None:
        tensor = sg.Tensors(t)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or len(data) == 0:
            return None
        if tensor.Type() not in dtypes:
            raise ValueError(f"tensor {t} ({names[t]}): type {tensor.Type()} is not handled")
        return np.frombuffer(np.asarray(data).tobytes(), dtype=dtypes[tensor.Type()]).reshape(shapes[t])

    def const(t: int, where: str) -> np.ndarray:
        if t in dequantized:
            return dequantized[t]
        a = stored(t)
        if a is None:
            raise ValueError(f"{where}: input tensor {t} ({names[t]}) is not a constant")
        return a.astype(np.float32) if a.dtype == np.float16 else a

    def options(op, cls):
        o = op.BuiltinOptions()
        opt = cls()
        if o is not None:
            opt.Init(o.Bytes, o.Pos)
        return opt

    def act(code: int, where: str):
        if code not in _ACT:
            raise ValueError(f"{where}: fused activation {code} is not handled")
        return _ACT[code]

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        kind = op_name.get(code, str(code))
        ins = [int(t) for t in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        where = f"op {i} ({kind})"
        if code == B.DEQUANTIZE:
            a = stored(ins[0])
            if a is None:
                raise ValueError(f"{where}: dequantizes a non-constant tensor")
            if sg.Tensors(ins[0]).Quantization() is not None and sg.Tensors(ins[0]).Quantization().ScaleLength():
                raise ValueError(f"{where}: only float16 -> float32 DEQUANTIZE is handled (this one is int8)")
            dequantized[out] = a.astype(np.float32)
            continue
        d = {"kind": kind, "index": i, "inputs": ins[:1], "output": out}
        if code in (B.CONV_2D, B.DEPTHWISE_CONV_2D):
            conv = code == B.CONV_2D
            opt = options(op, tflite.Conv2DOptions if conv else tflite.DepthwiseConv2DOptions)
            if (opt.DilationHFactor(), opt.DilationWFactor()) != (1, 1):
                raise ValueError(f"{where}: dilation is not handled")
            w = const(ins[1], where)
            b = const(ins[2], where) if len(ins) > 2 and ins[2] >= 0 else np.zeros(w.shape[0 if conv else 3], np.float32)
            cin, cout = shapes[ins[0]][3], shapes[out][3]
            if conv:
                if w.ndim != 4 or w.shape[0] != cout or w.shape[3] != cin:
                    raise ValueError(f"{where}: weight {w.shape} (OHWI) does not connect {cin} -> {cout} channels")
                w = w.transpose(0, 3, 1, 2)                      # OHWI -> OIHW
            else:
                if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] != cout or cin != cout or opt.DepthMultiplier() not in (0, 1):
                    raise ValueError(f"{where}: weight {w.shape} (1HWC) is not a depth-multiplier-1 depthwise "
                                     f"{cin} -> {cout}")
                w = w.transpose(3, 0, 1, 2)                      # 1HWC -> C1HW
            if b.shape != (cout,):
                raise ValueError(f"{where}: bias {b.shape}, expected ({cout},)")
            d.update(weight=np.ascontiguousarray(w, dtype=np.float32), bias=b.astype(np.float32),
                     stride=(opt.StrideH(), opt.StrideW()), padding=pad_name[opt.Padding()],
                     activation=act(opt.FusedActivationFunction(), where), depthwise=not conv)
        elif code == B.ADD:
            d["inputs"] = ins[:2]
            d["activation"] = act(options(op, tflite.AddOptions).FusedActivationFunction(), where)
            if shapes[ins[0]] != shapes[ins[1]]:
                raise ValueError(f"{where}: broadcasting add {shapes[ins[0]]} + {shapes[ins[1]]} is not handled")
        elif code == B.RELU:
            pass
        elif code == B.PAD:
            p = np.asarray(const(ins[1], where), dtype=np.int64)
            if p.shape != (4, 2) or (p < 0).any() or p[0].any():
                raise ValueError(f"{where}: paddings {p.tolist()} are not a non-negative NHWC pad")
            d["pads"] = p.tolist()
        elif code == B.MAX_POOL_2D:
            opt = options(op, tflite.Pool2DOptions)
            d.update(kernel=(opt.FilterHeight(), opt.FilterWidth()), stride=(opt.StrideH(), opt.StrideW()),
                     padding=pad_name[opt.Padding()], activation=act(opt.FusedActivationFunction(), where))
        elif code == B.RESHAPE:
            d["shape"] = shapes[out]
        elif code == B.CONCATENATION:
            opt = options(op, tflite.ConcatenationOptions)
            d.update(inputs=ins, axis=opt.Axis(), activation=act(opt.FusedActivationFunction(), where))
        else:
            raise ValueError(f"{where}: op kind {kind} is not handled by the converter")
        ops.append(d)
    return {"ops": ops, "shapes": shapes, "names": names,
            "inputs": [int(t) for t in sg.InputsAsNumpy()], "outputs": [int(t) for t in sg.OutputsAsNumpy()]}


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow "SAME": total pad max((ceil(n/s) - 1) * s + k - n, 0), the odd pixel at
    the bottom/right. (128, 5, 2) -> (1, 2); (64, 3, 2) -> (0, 1); (n, 3, 1) -> (1, 1)."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _activate(x: torch.Tensor, a: str | None) -> torch.Tensor:
    if a == "relu":
        return F.relu(x)
    if a == "relu6":
        return torch.clamp(x, 0, 6)
    return x


class BlazeFace(nn.Module):
    """The TFLite graph replayed in PyTorch (NCHW): `program` is the trunk, one step per
    TFLite op; `head` the merged per-scale 1x1 convs. padding "tf" is TensorFlow's exact
    SAME; "symmetric" ((k-1)/2 on every side, PyTorch's habit) exists only to show that it
    would not match."""

    def __init__(self, graph: dict, padding: str = "tf"):
        super().__init__()
        if padding not in ("tf", "symmetric"):
            raise ValueError(f"padding {padding!r}: 'tf' or 'symmetric'")
        shapes, names = graph["shapes"], graph["names"]
        if len(graph["inputs"]) != 1 or shapes[graph["inputs"][0]] != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected one input 1x{INPUT_SIZE}x{INPUT_SIZE}x3, got "
                             f"{[shapes[t] for t in graph['inputs']]}")
        self.input_id = graph["inputs"][0]
        by_output = {op["output"]: op for op in graph["ops"]}
        head_ops = self._find_head(graph, by_output)
        self.convs = nn.ModuleList()
        self.program: list[tuple] = []
        self.macs = 0
        for op in graph["ops"]:
            if id(op) in head_ops:
                continue
            k = op["kind"]
            if k in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                self.program.append(("conv", op["inputs"], op["output"], self._conv(op, shapes, padding)))
            elif k == "ADD":
                self.program.append(("add", op["inputs"], op["output"], op["activation"]))
            elif k == "RELU":
                self.program.append(("relu", op["inputs"], op["output"], None))
            elif k == "PAD":
                (_, _), (h0, h1), (w0, w1), (c0, c1) = op["pads"]
                self.program.append(("pad", op["inputs"], op["output"], (w0, w1, h0, h1, c0, c1)))
            elif k == "MAX_POOL_2D":
                if op["padding"] == "SAME" and any(
                        sum(same_pads(shapes[op["inputs"][0]][1 + j], op["kernel"][j], op["stride"][j])) for j in (0, 1)):
                    raise ValueError(f"op {op['index']}: a padded SAME max pool is not handled")
                self.program.append(("maxpool", op["inputs"], op["output"], (op["kernel"], op["stride"], op["activation"])))
            else:
                raise ValueError(f"op {op['index']} ({k}) outside the detection head")
            if shapes[op["output"]][0] != 1:
                raise ValueError(f"op {op['index']}: batch {shapes[op['output']][0]}")
        # the head: one conv per scale, channels [reg a (16), logit a] per anchor a
        self.head = nn.ModuleList()
        self.scales: list[tuple[int, int, int]] = []     # (feature tensor, rows H*W*A, anchors per cell)
        for feature, reg, cls in self._scales:
            a = cls["weight"].shape[0]
            cin = shapes[feature][3]
            h, w = shapes[feature][1:3]
            weight = np.zeros((17 * a, cin, 1, 1), np.float32)
            bias = np.zeros(17 * a, np.float32)
            for j in range(a):
                weight[17 * j:17 * j + 16] = reg["weight"][16 * j:16 * j + 16]
                bias[17 * j:17 * j + 16] = reg["bias"][16 * j:16 * j + 16]
                weight[17 * j + 16] = cls["weight"][j]
                bias[17 * j + 16] = cls["bias"][j]
            conv = nn.Conv2d(cin, 17 * a, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(weight))
                conv.bias.copy_(torch.from_numpy(bias))
            self.head.append(conv)
            self.scales.append((feature, h * w * a, a))
            self.macs += h * w * 17 * a * cin
        self.names = names
        self.eval()

    def _conv(self, op: dict, shapes: dict, padding: str) -> tuple:
        w = op["weight"]
        cout, cin_g, kh, kw = w.shape
        n_in, h_in, w_in, c_in = shapes[op["inputs"][0]]
        _, h_out, w_out, c_out = shapes[op["output"]]
        groups = c_in if op["depthwise"] else 1
        if c_out != cout or cin_g * groups != c_in:
            raise ValueError(f"op {op['index']}: weight {w.shape} does not connect {c_in} -> {c_out} channels")
        if op["padding"] == "SAME":
            (top, bottom), (left, right) = (same_pads(h_in, kh, op["stride"][0]), same_pads(w_in, kw, op["stride"][1]))
        else:
            top = bottom = left = right = 0
        if padding == "symmetric" and op["padding"] == "SAME":
            top = bottom = (kh - 1) // 2
            left = right = (kw - 1) // 2
        for n, k, s, p0, p1, got in ((h_in, kh, op["stride"][0], top, bottom, h_out),
                                     (w_in, kw, op["stride"][1], left, right, w_out)):
            if (n + p0 + p1 - k) // s + 1 != got:
                raise ValueError(f"op {op['index']}: {n} -> {got} pixels does not fit k={k}, s={s}, pads {p0}/{p1}")
        symmetric = top == bottom and left == right
        conv = nn.Conv2d(c_in, c_out, (kh, kw), op["stride"], (top, left) if symmetric else 0, groups=groups)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(op["bias"]))
        self.convs.append(conv)
        self.macs += h_out * w_out * c_out * cin_g * kh * kw
        return len(self.convs) - 1, None if symmetric else (left, right, top, bottom), op["activation"]

    def _find_head(self, graph: dict, by_output: dict) -> set:
        """The graph's two outputs are CONCATENATIONs of RESHAPEs of 1x1 convs; pair the
        classificator and regressor conv of each scale (same feature), in concat order."""
        shapes, names = graph["shapes"], graph["names"]
        outs = {names[t]: t for t in graph["outputs"]}
        if set(outs) != {"regressors", "classificators"}:
            raise ValueError(f"graph outputs {sorted(outs)}, expected regressors and classificators")
        if shapes[outs["regressors"]] != (1, 896, 16) or shapes[outs["classificators"]] != (1, 896, 1):
            raise ValueError(f"outputs {shapes[outs['regressors']]}, {shapes[outs['classificators']]}: "
                             "expected 1x896x16 and 1x896x1")
        head, per_output = set(), {}
        for key, width in (("regressors", 16), ("classificators", 1)):
            cat = by_output[outs[key]]
            if cat["kind"] != "CONCATENATION" or cat["axis"] not in (1, -2) or cat["activation"]:
                raise ValueError(f"{key}: not a plain CONCATENATION on the anchor axis")
            head.add(id(cat))
            convs = []
            for t in cat["inputs"]:
                r = by_output[t]
                conv = by_output.get(r["inputs"][0]) if r["kind"] == "RESHAPE" else None
                if conv is None or conv["kind"] != "CONV_2D":
                    raise ValueError(f"{key}: input {names[t]} is not a RESHAPE of a CONV_2D")
                _, h, w, c = shapes[conv["output"]]
                if conv["weight"].shape[2:] != (1, 1) or conv["stride"] != (1, 1) or conv["activation"] \
                        or c % width or r["shape"] != (1, h * w * c // width, width):
                    raise ValueError(f"{key}: {names[conv['output']]} is not a 1x1 head conv reshaped per anchor")
                head.update((id(r), id(conv)))
                convs.append(conv)
            per_output[key] = convs
        regs, clss = per_output["regressors"], per_output["classificators"]
        if [c["inputs"][0] for c in regs] != [c["inputs"][0] for c in clss]:
            raise ValueError("the regressor and classificator concatenations list the scales differently")
        self._scales = []
        for reg, cls in zip(regs, clss):
            feature = reg["inputs"][0]
            if reg["weight"].shape[0] != 16 * cls["weight"].shape[0]:
                raise ValueError(f"{names[feature]}: {reg['weight'].shape[0]} regressor channels for "
                                 f"{cls['weight'].shape[0]} anchors")
            self._scales.append((feature, reg, cls))
        cells = [(shapes[f][1], shapes[f][2], c["weight"].shape[0]) for f, _, c in self._scales]
        want = [(INPUT_SIZE // s, INPUT_SIZE // s, a) for s, a in zip(STRIDES, PER_CELL)]
        if cells != want:
            raise ValueError(f"anchor grid (cells y, x, per cell) {cells}, expected {want}")
        return head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_id: x}
        for kind, ins, out, arg in self.program:
            a = env[ins[0]]
            if kind == "conv":
                i, pads, act = arg
                if pads is not None:
                    a = F.pad(a, pads)
                y = _activate(self.convs[i](a), act)
            elif kind == "add":
                y = _activate(a + env[ins[1]], arg)
            elif kind == "relu":
                y = F.relu(a)
            elif kind == "pad":
                y = F.pad(a, arg)
            else:
                k, s, act = arg
                y = _activate(F.max_pool2d(a, k, s), act)
            env[out] = y
        rows = [conv(env[f]).permute(0, 2, 3, 1).reshape(1, n, 17) for conv, (f, n, _) in zip(self.head, self.scales)]
        return torch.cat(rows, dim=1)


def from_tflite(path: str, padding: str = "tf") -> BlazeFace:
    return BlazeFace(read_tflite_graph(path), padding)


def anchor_centres() -> np.ndarray:
    """896 x 2 anchor centres (x, y) in [0, 1] of the input, in the output's row order."""
    out = []
    for s, a in zip(STRIDES, PER_CELL):
        n = INPUT_SIZE // s
        y, x = np.mgrid[0:n, 0:n]
        c = np.stack([(x + ANCHOR_OFFSET) / n, (y + ANCHOR_OFFSET) / n], -1).reshape(-1, 1, 2)
        out.append(np.repeat(c, a, axis=1).reshape(-1, 2))
    return np.concatenate(out)


def decode(anchors: np.ndarray) -> dict[str, np.ndarray]:
    """One image's 896 x 17 output -> box centre (x, y), size (w, h), keypoints (6 x 2),
    all in [0, 1] of the input, and score (sigmoid of the clipped logit)."""
    a = np.asarray(anchors, np.float64).reshape(-1, 17)
    c = anchor_centres()
    return {"centre": c + a[:, 0:2] / INPUT_SIZE, "size": a[:, 2:4] / INPUT_SIZE,
            "keypoints": c[:, None] + a[:, 4:16].reshape(-1, 6, 2) / INPUT_SIZE,
            "score": 1 / (1 + np.exp(-np.clip(a[:, 16], -SCORE_CLIP, SCORE_CLIP)))}


def tflite_reference(path: str, images: list[np.ndarray]) -> list[np.ndarray]:
    """TFLite's own interpreter (ai-edge-litert, built-in kernels, no delegate) on 128x128x3
    float images in [-1, 1]: per image the 896 x 17 [regressors | logit]."""
    from ai_edge_litert import interpreter as lite
    it = lite.Interpreter(path, experimental_op_resolver_type=lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs = {d["name"]: d["index"] for d in it.get_output_details()}
    res = []
    for img in images:
        it.set_tensor(inp["index"], np.ascontiguousarray(img[None], np.float32))
        it.invoke()
        res.append(np.concatenate([it.get_tensor(outs["regressors"])[0], it.get_tensor(outs["classificators"])[0]], 1))
    return res


def load_faces(root: str, n: int = 4) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """n faces spread over a 300-W style folder (images/ + landmarks.csv): the whole photo
    resized to 128x128, RGB, x/127.5 - 1 (HWC float32), its landmarks in [0, 1] of the
    photo, and the name."""
    from PIL import Image

    from . import data as D
    samples = D.read_300w_csv(root)
    pick = [samples[i] for i in np.linspace(0, len(samples) - 1, n).round().astype(int)]
    out = []
    for s in pick:
        im = Image.open(s.image).convert("RGB")
        lm = s.landmarks / np.array(im.size, np.float64)
        x = np.asarray(im.resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), np.float32) / 127.5 - 1
        out.append((x, lm, s.name))
    return out


def off_centre(img: np.ndarray, landmarks01: np.ndarray, size: int, ox: int, oy: int):
    """The 128x128 input image shrunk to size x size and placed at (ox, oy) on a black
    (-1) canvas, with its landmarks: a face away from the centre, so that a wrong anchor
    order (x and y swapped, scales swapped) cannot pass the on-face check."""
    from PIL import Image
    u8 = np.clip(np.round((img + 1) * 127.5), 0, 255).astype(np.uint8)
    small = np.asarray(Image.fromarray(u8).resize((size, size), Image.BILINEAR), np.float32) / 127.5 - 1
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), -1.0, np.float32)
    canvas[oy:oy + size, ox:ox + size] = small
    return canvas, (landmarks01 * size + np.array([ox, oy])) / INPUT_SIZE


OFF_CENTRE = ((80, 44, 4), (72, 4, 52))     # (size, x, y): top right, bottom left


def to_nchw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None], np.float32))


def agreement(got: list[np.ndarray], ref: list[np.ndarray]) -> dict:
    """How close two runs' 896 x 17 outputs are: max abs difference (all values, the
    regressors, the logits after the decoder's clip to +-100), max relative difference
    |d| / max(|ref|, 1), the largest |ref|, and bound_ratio = max |d| / (ATOL + RTOL |ref|)
    (<= 1 passes). Logits of flat dark areas reach -3e4, where float32 itself steps by
    ~2e-3: hence a relative bound."""
    g = np.stack([np.asarray(x, np.float64).reshape(-1, 17) for x in got])
    r = np.stack([np.asarray(x, np.float64).reshape(-1, 17) for x in ref])
    if g.shape != r.shape:
        raise ValueError(f"outputs {g.shape} vs {r.shape}")
    d = np.abs(g - r)
    clip = lambda v: np.clip(v, -SCORE_CLIP, SCORE_CLIP)
    return {"max_abs_diff": float(d.max()), "max_abs_diff_regressors": float(d[..., :16].max()),
            "max_abs_diff_clipped_logits": float(np.abs(clip(g[..., 16]) - clip(r[..., 16])).max()),
            "max_rel_diff": float((d / np.maximum(np.abs(r), 1.0)).max()),
            "max_abs_output": float(np.abs(r).max()),
            "bound_ratio": float((d / (ATOL + RTOL * np.abs(r))).max())}


@torch.no_grad()
def torch_outputs(model: BlazeFace, images: list[np.ndarray]) -> list[np.ndarray]:
    return [model(to_nchw(img))[0].numpy() for img in images]


def onnx_outputs(path: str, images: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [sess.run(["anchors"], {"image": to_nchw(img).numpy()})[0][0] for img in images]


def compare_tflite(model: BlazeFace, path: str, images: list[np.ndarray]) -> dict:
    """agreement() of the torch module with TFLite's interpreter on 128x128x3 images."""
    return agreement(torch_outputs(model, images), tflite_reference(path, images))


@torch.no_grad()
def top_anchor_on_face(model: BlazeFace, img: np.ndarray, landmarks01: np.ndarray) -> dict:
    """Decode the top-scoring anchor; is its box centre inside the 68-point landmark box, and
    its keypoints 0/1 on 300-W's right (36-41) / left (42-47) eye?"""
    dec = decode(model(to_nchw(img))[0].numpy())
    i = int(np.argmax(dec["score"]))
    lo, hi = landmarks01.min(0), landmarks01.max(0)
    c = dec["centre"][i]
    kp = dec["keypoints"][i]
    eye_r, eye_l = landmarks01[36:42].mean(0), landmarks01[42:48].mean(0)
    return {"anchor": i, "score": float(dec["score"][i]), "centre": c.tolist(),
            "inside_face": bool((c >= lo).all() and (c <= hi).all()),
            "right_eye_error": float(np.linalg.norm(kp[0] - eye_r)),
            "left_eye_error": float(np.linalg.norm(kp[1] - eye_l)),
            "eyes_swapped_error": float(min(np.linalg.norm(kp[0] - eye_l), np.linalg.norm(kp[1] - eye_r))),
            "anchors_over_half": int((dec["score"] > 0.5).sum())}


def build_metadata(source_sha256: str) -> dict[str, str]:
    return {
        "model_name": "blazeface-short",
        "task": "face-detection",
        "input_size": str(INPUT_SIZE),
        "mean": json.dumps(list(TF_MEAN)),
        "std": json.dumps(list(TF_STD)),
        "keypoints": str(len(KEYPOINT_NAMES)),
        "keypoint_names": json.dumps(KEYPOINT_NAMES),
        "mirror_permutation": json.dumps(MIRROR_PERMUTATION),
        "anchors": json.dumps({"strides": list(STRIDES), "per_cell": list(PER_CELL), "offset": ANCHOR_OFFSET,
                               "layout": "dx dy w h (kp x y)*6 logit, input pixels"}),
        "score_clip": f"{SCORE_CLIP:g}",
        "training_data": "MediaPipe BlazeFace short-range (Google), converted unchanged from "
                         "face_detection_short_range.tflite",
        "licence": "Apache-2.0",
        "source_sha256": source_sha256,
    }


def _constant_pads(m) -> None:
    """Give every Pad its pads (and value) as initializers: the legacy exporter may compute
    them with ConstantOfShape/Concat/Slice chains that its constant folding leaves."""
    import onnx
    from onnx import numpy_helper

    from .export import _constant_value, _keep_live
    inits = {t.name for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type != "Pad":
            continue
        for j in range(1, len(n.input)):
            if n.input[j] and n.input[j] not in inits:
                v = _constant_value(m, n.input[j])
                if v is None:
                    raise ValueError(f"Pad {n.name}: input {j} is not constant")
                t = numpy_helper.from_array(np.asarray(v), f"{n.name}_in{j}")
                m.graph.initializer.append(t)
                inits.add(t.name)
                n.input[j] = t.name
    _keep_live(m, list(m.graph.node))
    onnx.checker.check_model(m)


def export_onnx(model: BlazeFace, path: str, meta: dict[str, str], opset: int = 17) -> None:
    """torch.onnx.export (legacy exporter), input `image` 1x3x128x128, output `anchors`
    1x896x17, Pad pads as initializers, metadata_props."""
    import onnx

    from .export import _inline_identity_initializers, save_with_metadata
    model = model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter's deprecation notice, and its note that it cannot fold the
        # Slice(step -1) of a Pad's pads (_constant_pads does)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(model, (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),), path, opset_version=opset,
                          input_names=["image"], output_names=["anchors"], do_constant_folding=True, dynamo=False)
    m = onnx.load(path)
    _inline_identity_initializers(m)
    _constant_pads(m)
    save_with_metadata(m, meta, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert MediaPipe's BlazeFace short-range TFLite detector to ONNX "
                                             "(through PyTorch), checked against the TFLite interpreter.")
    ap.add_argument("--tflite", default=DEFAULT_TFLITE)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--faces", default=DEFAULT_FACES,
                    help="a 300-W style folder (images/ + landmarks.csv) for the checks; "
                         "default ../shared/data/300w-train, else the committed Tests/Fixtures/vision")
    ap.add_argument("--n-faces", type=int, default=4)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if not os.path.isfile(a.tflite):
        sys.exit(f"error: {a.tflite}: no such file (MediaPipe's face_detection_short_range.tflite; "
                 "see ../shared/pretrained/README.md)")
    digest = sha256(a.tflite)
    if digest != BLAZEFACE_SHA256:
        sys.exit(f"error: {a.tflite}: sha256 {digest}, expected {BLAZEFACE_SHA256} "
                 "(not the face_detection_short_range.tflite of mediapipe 0.10.14)")
    faces_dir = a.faces if os.path.isfile(os.path.join(a.faces, "landmarks.csv")) else COMMITTED_FACES
    if not os.path.isfile(os.path.join(faces_dir, "landmarks.csv")):
        sys.exit(f"error: no faces for the checks ({a.faces}, {COMMITTED_FACES})")
    model = from_tflite(a.tflite)
    photos = load_faces(faces_dir, a.n_faces)
    shifted = [(*off_centre(img, lm, *p), f"{name}@{p[0]}px+{p[1]}+{p[2]}") for img, lm, name in photos[:2]
               for p in OFF_CENTRE]
    noise = [np.random.default_rng(0).uniform(-1, 1, (INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)]
    sets = {"photos": [f[0] for f in photos], "off_centre": [f[0] for f in shifted], "noise": noise}
    ref = {k: tflite_reference(a.tflite, v) for k, v in sets.items()}
    got = {k: torch_outputs(model, v) for k, v in sets.items()}
    vs_tflite = {k: agreement(got[k], ref[k]) for k in sets}
    bad = {k: v for k, v in vs_tflite.items() if v["bound_ratio"] > 1.0}
    if bad:
        sys.exit(f"error: torch differs from TFLite beyond |d| <= {ATOL} + {RTOL} |ref|: {bad}")
    on_face = [dict(top_anchor_on_face(model, img, lm), image=name) for img, lm, name in photos + shifted]
    if not all(f["inside_face"] and f["right_eye_error"] < f["eyes_swapped_error"] for f in on_face):
        sys.exit(f"error: a top-scoring anchor is not on its face (or its eyes are swapped): {on_face}")
    export_onnx(model, a.out, build_metadata(digest))
    vs_torch = {k: agreement(onnx_outputs(a.out, v), got[k]) for k, v in sets.items()}
    bad = {k: v for k, v in vs_torch.items() if v["bound_ratio"] > 1.0}
    if bad:
        sys.exit(f"error: ONNX Runtime differs from torch beyond |d| <= {ATOL} + {RTOL} |ref|: {bad}")
    import onnx
    m = onnx.load(a.out)
    ops: dict[str, int] = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(json.dumps({
        "onnx": a.out, "bytes": os.path.getsize(a.out), "source_sha256": digest, "faces": faces_dir,
        "tolerance": f"|d| <= {ATOL} + {RTOL} |ref| per value",
        "torch_vs_tflite": vs_tflite, "onnx_vs_torch": vs_torch,
        "top_anchor": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items() if k != "centre"}
                       for f in on_face],
        "macs": model.macs, "parameters": sum(p.numel() for p in model.parameters()), "ops": ops,
        "metadata": {e.key: e.value for e in m.metadata_props}}, indent=1))

if __name__ == "__main__":
    main()
