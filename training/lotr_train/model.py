"""LOTR: backbone -> 1x1 projection -> Transformer encoder/decoder -> per-query MLP head.

Shapes (B = batch, D = d_model, N = landmarks, h x w = feature map, T = h*w tokens):
  input      B x 3 x H x W   normalised RGB (see config.MEAN/STD)
  backbone   B x C x h x w
  proj       B x D x h x w   (1x1 conv)
  tokens     B x T x D       (flatten(2).transpose(1, 2): row-major over (y, x))
  encoder.i  B x T x D
  decoder.i  B x N x D
  landmarks  B x N x 2       (x, y) normalised to [0, 1] in the input crop, corner
                             convention: x = 0 is the left edge of pixel column 0,
                             x = 1 the right edge of the last column.

Norm placement: post-norm (DETR, the paper) by default: x = LN(x + sublayer(x)).
With norm_first=True: x = x + sublayer(LN(x)), plus a final LN after the encoder and
after the decoder. The 2-D sine positional encoding (DETR PositionEmbeddingSine,
normalize=True, scale=2*pi, temperature=10000) is added to queries and keys of every
encoder self-attention and to the keys of every decoder cross-attention; the N learnable
query embeddings are added to queries/keys of decoder self-attention and to queries of
cross-attention; the decoder's initial target is zeros (DETR).

Deviation from the paper (documented in the model card): the head adds a learnable
per-landmark anchor (N x 2, initialised to the training set's mean shape) to the MLP
output, so that training from scratch starts at the mean face instead of at 0.

Attention is written out explicitly (Linear -> reshape/transpose per head -> MatMul ->
scale -> Softmax -> MatMul -> output Linear) so the ONNX graph stays plain.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: the total pad max((ceil(n/s) - 1) * s + k - n, 0)
    is split floor/ceil, i.e. the odd pixel goes to the bottom/right (for an even input,
    k = 3, s = 2: 0 top/left, 1 bottom/right). Same parameters (and state-dict keys) as
    nn.Conv2d; the ONNX export folds the zero Pad into the Conv's pads (export.fold_pads)."""

    def forward(self, x):
        def split(n, k, s):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            return total // 2, total - total // 2
        # int(): the export traces one static size, so the pads become constants
        top, bottom = split(int(x.shape[2]), self.kernel_size[0], self.stride[0])
        left, right = split(int(x.shape[3]), self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) + BN + optional ReLU6. padding "torch": (k-1)/2 on every side;
    "tf": TensorFlow SAME (differs from "torch" only at stride 2), so that weights trained
    in TensorFlow compute the same function."""

    def __init__(self, cin, cout, k=3, stride=1, groups=1, act=True, padding="torch"):
        if padding == "tf" and stride > 1:
            conv = SameConv2d(cin, cout, k, stride, 0, groups=groups, bias=False)
        else:
            conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        layers = [conv, nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, padding="torch"):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, 1))
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden, padding=padding),
                   ConvBNReLU(hidden, cout, 1, act=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


MBV2_SETTINGS = [  # t, c, n, s
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
TINY_SETTINGS = [(1, 8, 1, 1), (4, 16, 2, 2), (4, 24, 2, 2), (4, 32, 1, 2)]


class MobileNetV2(nn.Module):
    """MobileNetV2 truncated after the last inverted residual (no 1280 conv). Stride 32
    (16 for the tiny settings). Module layout follows torchvision's (`features.i`), so its
    convolutions are one to one, in order, with the TFLite graph's CONV_2D /
    DEPTHWISE_CONV_2D ops (pretrained.load_mobilenet_v2)."""

    def __init__(self, width_mult=1.0, settings=MBV2_SETTINGS, stem=32, padding="torch"):
        super().__init__()
        cin = _make_divisible(stem * width_mult)
        feats: list[nn.Module] = [ConvBNReLU(3, cin, 3, 2, padding=padding)]
        for t, c, n, s in settings:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, padding))
                cin = cout
        self.features = nn.Sequential(*feats)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.features(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    """ResNet-18/34/50 without the classifier; stride 32."""

    def __init__(self, depth=50):
        super().__init__()
        block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                         50: (Bottleneck, [3, 4, 6, 3])}[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        stages = []
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class Upsample(nn.Module):
    """'+' variants: stride-2 deconvolution stages (ConvTranspose 4x4, BN, ReLU)."""

    def __init__(self, cin, cout, stages):
        super().__init__()
        layers = []
        for _ in range(stages):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.layers(x)


def sine_position_encoding(h: int, w: int, d_model: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR PositionEmbeddingSine(normalize=True) for an h x w map, as T x D (T = h*w,
    row-major). Channels [0, D/2) encode y, [D/2, D) encode x; within each half even
    channels are sin and odd channels cos of position / temperature^(2*(i//2)/(D/2))."""
    npf = d_model // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float64)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=torch.float64)[None, :].expand(h, w)
    y = y / (h + eps) * scale
    x = x / (w + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float64)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)
    px = x[..., None] / dim_t
    py = y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=3).flatten(2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=3).flatten(2)
    pos = torch.cat((py, px), dim=2)  # h x w x D
    return pos.reshape(h * w, d_model).float()


class Attention(nn.Module):
    """Multi-head attention written out: q/k/v Linear, split heads, softmax(q k^T * s) v,
    merge heads, output Linear. Inputs B x T x D."""

    def __init__(self, d_model, nhead):
        super().__init__()
        assert d_model % nhead == 0
        self.nhead, self.head_dim = nhead, d_model // nhead
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.macs = 0  # attention-matmul MACs of the last forward (for macs.py)

    def forward(self, q, k, v):
        B, Tq, D = q.shape
        Tk = k.shape[1]
        h, dh = self.nhead, self.head_dim
        q = self.q_proj(q).reshape(B, Tq, h, dh).transpose(1, 2)   # B h Tq dh
        k = self.k_proj(k).reshape(B, Tk, h, dh).transpose(1, 2)   # B h Tk dh
        v = self.v_proj(v).reshape(B, Tk, h, dh).transpose(1, 2)   # B h Tk dh
        attn = torch.matmul(q, k.transpose(2, 3)) * self.scale      # B h Tq Tk
        attn = torch.softmax(attn, dim=-1)
        out = torch.matmul(attn, v)                                 # B h Tq dh
        out = out.transpose(1, 2).reshape(B, Tq, D)
        self.macs = 2 * B * h * Tq * Tk * dh
        return self.out_proj(out)


class FFN(nn.Module):
    def __init__(self, d_model, dim_ff, dropout=0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_ff, norm_first, dropout=0.0):
        super().__init__()
        self.self_attn = Attention(d_model, nhead)
        self.ffn = FFN(d_model, dim_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, src, pos):
        if self.norm_first:
            s = self.norm1(src)
            qk = s + pos
            src = src + self.drop(self.self_attn(qk, qk, s))
            return src + self.drop(self.ffn(self.norm2(src)))
        qk = src + pos
        src = self.norm1(src + self.drop(self.self_attn(qk, qk, src)))
        return self.norm2(src + self.drop(self.ffn(src)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_ff, norm_first, dropout=0.0):
        super().__init__()
        self.self_attn = Attention(d_model, nhead)
        self.cross_attn = Attention(d_model, nhead)
        self.ffn = FFN(d_model, dim_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, tgt, memory, pos, query_pos):
        mem_k = memory + pos
        if self.norm_first:
            t = self.norm1(tgt)
            qk = t + query_pos
            tgt = tgt + self.drop(self.self_attn(qk, qk, t))
            t = self.norm2(tgt)
            tgt = tgt + self.drop(self.cross_attn(t + query_pos, mem_k, memory))
            return tgt + self.drop(self.ffn(self.norm3(tgt)))
        qk = tgt + query_pos
        tgt = self.norm1(tgt + self.drop(self.self_attn(qk, qk, tgt)))
        tgt = self.norm2(tgt + self.drop(self.cross_attn(tgt + query_pos, mem_k, memory)))
        return self.norm3(tgt + self.drop(self.ffn(tgt)))


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg.d_model, cfg.nhead, cfg.dim_ff, cfg.norm_first,
                                                 cfg.dropout) for _ in range(cfg.enc_layers))
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm_first else None

    def forward(self, src, pos) -> list[torch.Tensor]:
        """Outputs of every layer (and of the final norm, when present, last)."""
        outs = []
        for layer in self.layers:
            src = layer(src, pos)
            outs.append(src)
        if self.norm is not None:
            outs.append(self.norm(src))
        return outs


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(cfg.d_model, cfg.nhead, cfg.dim_ff, cfg.norm_first,
                                                 cfg.dropout) for _ in range(cfg.dec_layers))
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm_first else None

    def forward(self, tgt, memory, pos, query_pos) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(raw output of every layer, the same after the final norm if present)."""
        outs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos)
            outs.append(tgt)
        normed = [self.norm(o) for o in outs] if self.norm is not None else outs
        return outs, normed


class Head(nn.Module):
    """Per-query MLP: D -> hidden -> hidden -> 2 with ReLU, plus a per-landmark anchor."""

    def __init__(self, d_model, hidden, num_landmarks):
        super().__init__()
        self.fc1 = nn.Linear(d_model, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 2)
        self.anchor = nn.Parameter(torch.full((num_landmarks, 2), 0.5))
        # fc3 keeps PyTorch's default init: a near-zero init starves everything upstream
        # of gradient (Adam's eps then dominates) and training stalls at the mean shape.

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x) + self.anchor


class LOTR(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.backbone == "mobilenetv2":
            settings = MBV2_SETTINGS[:cfg.backbone_stages]
            self.backbone = MobileNetV2(cfg.width_mult, settings, padding=cfg.backbone_padding)
            stride = 2 ** (1 + sum(1 for row in settings if row[3] == 2))
        elif cfg.backbone == "tiny":
            self.backbone = MobileNetV2(1.0, TINY_SETTINGS, stem=8)
            stride = 16
        elif cfg.backbone == "resnet":
            self.backbone = ResNet(cfg.resnet_depth)
            stride = 32
        else:
            raise ValueError(f"unknown backbone {cfg.backbone}")
        cin = self.backbone.out_channels
        self.upsample = None
        if cfg.upsample:
            self.upsample = Upsample(cin, cfg.upsample_channels, cfg.upsample)
            cin = self.upsample.out_channels
            stride //= 2 ** cfg.upsample
        assert cfg.input_size % stride == 0, "input size must be a multiple of the feature stride"
        self.feat_hw = (cfg.input_size // stride, cfg.input_size // stride)
        self.proj = nn.Conv2d(cin, cfg.d_model, 1)
        self.register_buffer("pos", sine_position_encoding(*self.feat_hw, cfg.d_model)[None],
                             persistent=False)                       # 1 x T x D
        self.query_embed = nn.Parameter(torch.randn(1, cfg.num_landmarks, cfg.d_model))
        self.register_buffer("tgt0", torch.zeros(1, cfg.num_landmarks, cfg.d_model), persistent=False)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.head = Head(cfg.d_model, cfg.head_hidden, cfg.num_landmarks)
        for name, p in self.named_parameters():
            if (name.startswith(("encoder", "decoder")) and p.dim() > 1):
                nn.init.xavier_uniform_(p)

    def set_mean_shape(self, mean_shape: torch.Tensor) -> None:
        """Initialise the head anchors with the mean landmark shape (N x 2, in [0,1])."""
        with torch.no_grad():
            self.head.anchor.copy_(torch.as_tensor(mean_shape, dtype=torch.float32))

    def forward(self, x: torch.Tensor, return_stages: bool = False, return_aux: bool = False):
        stages: dict[str, torch.Tensor] = {}
        f = self.backbone(x)
        if self.upsample is not None:
            f = self.upsample(f)
        stages["backbone"] = f
        f = self.proj(f)
        stages["proj"] = f
        B, D = f.shape[0], self.cfg.d_model
        T = self.feat_hw[0] * self.feat_hw[1]
        src = f.reshape(B, D, T).transpose(1, 2)                     # B x T x D
        enc = self.encoder(src, self.pos)
        for i in range(len(self.encoder.layers)):
            stages[f"encoder.{i}"] = enc[i]
        if self.encoder.norm is not None:
            stages["encoder.norm"] = enc[-1]
        src = enc[-1]
        query_pos = self.query_embed                                  # 1 x N x D
        tgt = self.tgt0                                               # zeros, 1 x N x D
        if B > 1:  # (export traces B = 1: no Expand in the graph)
            query_pos = query_pos.expand(B, -1, -1)
            tgt = tgt.expand(B, -1, -1)
        raw, outs = self.decoder(tgt, src, self.pos, query_pos)
        for i, o in enumerate(raw):
            stages[f"decoder.{i}"] = o
        if self.decoder.norm is not None:
            stages["decoder.norm"] = outs[-1]
        if return_aux:
            return [self.head(o) for o in outs]
        y = self.head(outs[-1])
        stages["landmarks"] = y
        return stages if return_stages else y


def build_model(cfg: ModelConfig) -> LOTR:
    return LOTR(cfg)
