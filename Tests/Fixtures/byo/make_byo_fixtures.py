"""Bring-your-own-model fixtures: small landmark models written the way researchers write
them, independently of training/ (torch nn.MultiheadAttention, nn.TransformerEncoderLayer /
nn.TransformerDecoderLayer, hand-written attentions, ResNet-18/34/50 backbones with
MaxPool), random weights, exported with torch.onnx.export by the legacy (TorchScript) and
the dynamo exporter, WITHOUT lotr-edge metadata_props: lotr-quantize gets that from the
command line (ONNXImportTests / BYOModelTests pass the same values in code).

  .venv/bin/python Tests/Fixtures/byo/make_byo_fixtures.py [NAME ...]   # from the repository root

For each fixture NAME writes, next to this script: NAME.onnx (node doc strings and
metadata stripped, weights inline) and NAME.expected.bin (f32 [1, N, 2], ONNX Runtime's
output for `test_input`, which the Swift tests compute too), and
manifest.json (per fixture: landmarks, input size, exporter, opset, family and what the
importer should make of it). Deterministic (fixed seeds). The dynamo exporter needs
onnxscript; without it those fixtures are skipped with a message. Exports are done with
gradients enabled: under torch.no_grad() PyTorch takes the fused fast path of
nn.MultiheadAttention / nn.TransformerEncoderLayer, which the legacy exporter cannot export
(aten::_native_multi_head_attention, aten::_transformer_encoder_layer_fwd).
"""
from __future__ import annotations

import json
import math
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------- backbones


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.down = None
        if stride != 1 or cin != planes:
            self.down = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.down = None
        if stride != 1 or cin != out:
            self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """torchvision's ResNet layout (7x7/2 stem, BN, ReLU, 3x3/2 MaxPool, four stages),
    narrow: stride 32, `width` channels in the first stage."""

    LAYERS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3])}

    def __init__(self, depth: int, width: int = 4):
        super().__init__()
        block, counts = self.LAYERS[depth]
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = width, []
        for i, n in enumerate(counts):
            planes = width * (1 if i < 2 else 2)
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.channels = cin

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


# ---------------------------------------------------------------------------- attention


class TimmAttention(nn.Module):
    """timm's ViT attention: one packed qkv Linear, reshape/permute/unbind, q * scale; here
    with timm's qk_scale set to 0.3 instead of 1/sqrt(dh) (a temperature), which the importer
    folds into q's projection."""

    def __init__(self, d: int, heads: int, qk_scale: float = 0.3):
        super().__init__()
        self.heads, self.scale = heads, qk_scale
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):  # x [B, T, D]
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        y = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class SeparateQKVAttention(nn.Module):
    """Three Linears, heads split with view/transpose, scores divided by sqrt(dh); an
    optional constant additive bias on the scores (a relative-position bias), which no
    fused ATTENTION op expresses: the importer's float fallback runs it."""

    def __init__(self, d: int, heads: int, bias_shape: tuple[int, int] | None = None):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.bias = nn.Parameter(torch.randn(heads, *bias_shape) * 0.5) if bias_shape else None

    def forward(self, q, k, v):  # [B, T, D]
        b, tq, d = q.shape
        dh = d // self.heads

        def split(x):
            return x.view(b, -1, self.heads, dh).transpose(1, 2)

        s = split(self.q(q)) @ split(self.k(k)).transpose(-2, -1) / math.sqrt(dh)
        if self.bias is not None:
            s = s + self.bias
        y = (s.softmax(-1) @ split(self.v(v))).transpose(1, 2).contiguous().view(b, tq, d)
        return self.o(y)


class HandWrittenLayerNorm(nn.Module):
    """LayerNorm as research code writes it: d * d for the variance, torch.rsqrt."""

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.rand(d) + 0.5), nn.Parameter(torch.randn(d) * 0.1), eps

    def forward(self, x):
        d = x - x.mean(-1, keepdim=True)
        return d * torch.rsqrt((d * d).mean(-1, keepdim=True) + self.eps) * self.weight + self.bias


class DetrEncoderLayer(nn.Module):
    """DETR's encoder layer: nn.MultiheadAttention, the position added to q and k only."""

    def __init__(self, d, heads, ff, batch_first, norm_first, activation):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=batch_first)
        self.l1, self.l2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.norm_first, self.act = norm_first, activation

    def forward(self, x, pos):
        h = self.n1(x) if self.norm_first else x
        x = x + self.attn(h + pos, h + pos, h)[0]
        if not self.norm_first:
            x = self.n1(x)
        h = self.n2(x) if self.norm_first else x
        x = x + self.l2(self.act(self.l1(h)))
        return x if self.norm_first else self.n2(x)


class DetrDecoderLayer(nn.Module):
    """DETR's decoder layer: self-attention on the queries (+ query_pos on q, k), cross-
    attention to the memory (+ pos on k), FFN; post-norm."""

    def __init__(self, d, heads, ff, batch_first, activation):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, batch_first=batch_first)
        self.cross_attn = nn.MultiheadAttention(d, heads, batch_first=batch_first)
        self.l1, self.l2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.act = activation

    def forward(self, tgt, memory, pos, query_pos):
        q = tgt + query_pos
        tgt = self.n1(tgt + self.self_attn(q, q, tgt)[0])
        tgt = self.n2(tgt + self.cross_attn(tgt + query_pos, memory + pos, memory)[0])
        return self.n3(tgt + self.l2(self.act(self.l1(tgt))))


# ---------------------------------------------------------------------------- landmark models


class LandmarkModel(nn.Module):
    """backbone -> 1x1 conv to D -> tokens + learned position -> encoder -> decoder over N
    learned queries -> Linear(D, 2) -> sigmoid: [1, N, 2] in the crop's [0, 1]."""

    def __init__(self, family: str, depth: int, n: int, size: int, d: int = 8, heads: int = 2, ff: int = 16,
                 batch_first: bool = True, norm_first: bool = False, activation: str = "relu"):
        super().__init__()
        self.family, self.batch_first = family, batch_first
        self.backbone = ResNet(depth, width=4 if depth == 18 else 2)  # small files: the deep ones narrower
        self.proj = nn.Conv2d(self.backbone.channels, d, 1)
        t = (size // 32) ** 2
        self.pos = nn.Parameter(torch.randn(1, t, d) * 0.5)
        self.queries = nn.Parameter(torch.randn(1, n, d) * 0.5)
        act = {"relu": nn.ReLU(), "gelu": nn.GELU(), "gelu-tanh": nn.GELU(approximate="tanh")}[activation]
        if family == "torch-layers":
            self.encoder = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=act, batch_first=batch_first,
                                                      norm_first=norm_first)
            self.decoder = nn.ModuleList(
                nn.TransformerDecoderLayer(d, heads, ff, dropout=0.0, activation=act, batch_first=batch_first,
                                           norm_first=norm_first) for _ in range(2))
        elif family == "detr-mha":
            self.encoder = DetrEncoderLayer(d, heads, ff, batch_first, norm_first, act)
            self.decoder = nn.ModuleList(DetrDecoderLayer(d, heads, ff, batch_first, act) for _ in range(2))
        elif family == "nn-transformer":                     # the whole nn.Transformer, one layer each side
            self.transformer = nn.Transformer(d, heads, 1, 1, ff, dropout=0.0, activation=act, batch_first=True)
        elif family == "mha-kdim":                           # queries of D, memory of another width
            self.proj = nn.Conv2d(self.backbone.channels, d + 4, 1)
            self.cross = nn.MultiheadAttention(d, heads, kdim=d + 4, vdim=d + 4, batch_first=True)
            self.norm = HandWrittenLayerNorm(d)
        elif family in ("timm", "relative-bias"):
            self.encoder = TimmAttention(d, heads)
            self.norm = nn.LayerNorm(d)
            self.cross = SeparateQKVAttention(d, heads, bias_shape=((n, t) if family == "relative-bias" else None))
            self.ffn = nn.Sequential(nn.Linear(d, ff), act, nn.Linear(ff, d))
        else:
            raise ValueError(family)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        f = self.proj(self.backbone(x))
        src = f.flatten(2).transpose(1, 2)                    # [1, T, D]
        q = self.queries
        if self.family == "torch-layers":
            src = src + self.pos
            if not self.batch_first:
                src, q = src.transpose(0, 1), q.transpose(0, 1)
            memory, out = self.encoder(src), q
            for layer in self.decoder:
                out = layer(out, memory)
            if not self.batch_first:
                out = out.transpose(0, 1)
        elif self.family == "detr-mha":
            pos, qpos = self.pos, self.queries
            if not self.batch_first:                          # DETR's sequence-first [T, 1, D]
                src, pos, qpos = src.transpose(0, 1), pos.transpose(0, 1), qpos.transpose(0, 1)
            memory = self.encoder(src, pos)
            out = torch.zeros_like(qpos)
            for layer in self.decoder:
                out = layer(out, memory, pos, qpos)
            if not self.batch_first:
                out = out.transpose(0, 1)
        elif self.family == "nn-transformer":
            out = self.transformer(src + self.pos, q)
        elif self.family == "mha-kdim":
            out = self.norm(q + self.cross(q, src, src)[0])
        else:
            memory = self.norm(src + self.pos + self.encoder(src + self.pos))
            out = q + self.cross(q, memory, memory)
            out = out + self.ffn(out)
        return torch.sigmoid(self.head(out))


# ---------------------------------------------------------------------------- fixtures

# name: (family, ResNet depth, landmarks, input size, exporter, opset, options)
FIXTURES = {
    "mha-seqfirst-r18-68-legacy13": ("detr-mha", 18, 68, 64, "legacy", 13, dict(batch_first=False)),
    "mha-batchfirst-prenorm-r34-98-legacy17": ("detr-mha", 34, 98, 64, "legacy", 17,
                                               dict(batch_first=True, norm_first=True, activation="gelu")),
    "layers-postnorm-r50-106-legacy18": ("torch-layers", 50, 106, 64, "legacy", 18, dict()),
    "layers-prenorm-gelu-seqfirst-r18-98-legacy14": ("torch-layers", 18, 98, 64, "legacy", 14,
                                                     dict(batch_first=False, norm_first=True, activation="gelu")),
    "layers-prenorm-gelutanh-r34-68-legacy16": ("torch-layers", 34, 68, 64, "legacy", 16,
                                                dict(norm_first=True, activation="gelu-tanh")),
    "timm-r18-106-legacy17": ("timm", 18, 106, 64, "legacy", 17, dict(activation="gelu")),
    "transformer-r34-106-legacy17": ("nn-transformer", 34, 106, 64, "legacy", 17, dict()),
    "timm-r18-68-dynamo17": ("timm", 18, 68, 64, "dynamo", 17, dict(activation="gelu")),
    "layers-postnorm-r18-68-dynamo18": ("torch-layers", 18, 68, 64, "dynamo", 18, dict(activation="gelu")),
    "mha-seqfirst-r50-106-dynamo18": ("detr-mha", 50, 106, 64, "dynamo", 18, dict(batch_first=False)),
    "relbias-fallback-r18-68-legacy17": ("relative-bias", 18, 68, 64, "legacy", 17, dict()),
    "mha-kdim-fallback-r18-98-legacy15": ("mha-kdim", 18, 98, 64, "legacy", 15, dict()),
}


def build(name: str) -> tuple[nn.Module, torch.Tensor]:
    family, depth, n, size, _, _, options = FIXTURES[name]
    seed = sum(map(ord, name))
    torch.manual_seed(seed)
    model = LandmarkModel(family, depth, n, size, **options)
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():  # BatchNorm statistics away from the identity, so folding is checked
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval(), torch.from_numpy(test_input(size))


def test_input(size: int) -> np.ndarray:
    """The fixtures' input, [1, 3, size, size]: element i is 1.5 sin(0.37 i + 0.2), computed
    in float64 and rounded to f32; BYOModelTests.testInput computes the same."""
    i = np.arange(3 * size * size, dtype=np.float64)
    return (1.5 * np.sin(0.37 * i + 0.2)).astype(np.float32).reshape(1, 3, size, size)


def strip(path: str) -> None:
    """Drops what only debugging needs (the dynamo exporter's per-node stack traces, doc
    strings) and writes the weights inline, so the committed files stay small."""
    m = onnx.load(path)
    for n in m.graph.node:
        n.doc_string = ""
        del n.metadata_props[:]
    for v in list(m.graph.value_info):
        m.graph.value_info.remove(v)
    onnx.save(m, path, save_as_external_data=False)
    for f in os.listdir(HERE):
        if f.startswith(os.path.basename(path) + ".") or f.endswith(".onnx.data"):
            os.remove(os.path.join(HERE, f))


def export(name: str) -> dict | None:
    family, depth, n, size, exporter, opset, options = FIXTURES[name]
    model, x = build(name)
    path = os.path.join(HERE, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            try:
                import onnxscript  # noqa: F401
            except ImportError:
                print(f"{name}: skipped (the dynamo exporter needs onnxscript: pip install onnxscript)")
                return None
            torch.onnx.export(model, (x,), path, opset_version=opset, dynamo=True, input_names=["image"],
                              output_names=["points"], verbose=False)
        else:
            torch.onnx.export(model, (x,), path, opset_version=opset, dynamo=False, input_names=["image"],
                              output_names=["points"], do_constant_folding=True)
    strip(path)
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    diff = float(np.abs(y - ref).max())
    assert y.shape == (1, n, 2), y.shape
    assert diff < 1e-4, f"{name}: onnxruntime vs torch {diff}"
    y.astype(np.float32).tofile(os.path.join(HERE, name + ".expected.bin"))
    ops = sorted({nd.op_type for nd in onnx.load(path).graph.node})
    print(f"{name}: {os.path.getsize(path) / 1e3:.0f} kB, opset {opset} {exporter}, onnxruntime vs torch {diff:.1e}")
    return dict(family=family, backbone=f"resnet{depth}", landmarks=n, input_size=size, exporter=exporter,
                opset=opset, options=options, onnx_ops=ops)


def main() -> None:
    """All fixtures, or those named on the command line (the manifest keeps the others)."""
    names = sys.argv[1:] or list(FIXTURES)
    path = os.path.join(HERE, "manifest.json")
    manifest = {}
    if sys.argv[1:] and os.path.exists(path):
        with open(path) as f:
            manifest = {k: v for k, v in json.load(f).items() if k in FIXTURES}
    for name in names:
        entry = export(name)
        if entry:
            manifest[name] = entry
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
