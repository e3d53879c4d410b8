"""Model presets and configuration.

Every architectural number (N, D, heads, FFN width, L, head width, input size) is a
field of ModelConfig; presets are just named instances. N (num_landmarks) is normally
overwritten from the data at training time.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# ImageNet statistics; input = (rgb / 255 - MEAN) / STD, per channel, RGB order.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class ModelConfig:
    name: str = "lotr-m"
    backbone: str = "mobilenetv2"      # mobilenetv2 | resnet | tiny
    width_mult: float = 1.0            # MobileNetV2 width multiplier
    backbone_padding: str = "tf"       # stride-2 padding: "tf" (SAME: bottom/right, as the
                                       # pretrained weights) | "torch" (1 on every side)
    resnet_depth: int = 50             # 18 | 34 | 50 (backbone == "resnet")
    backbone_stages: int = 7           # MobileNetV2 setting rows kept (7 = all, stride 32;
                                       # 5 = up to the 96-channel stage, stride 16)
    input_size: int = 160              # square input, H = W
    upsample: int = 0                  # number of stride-2 deconvolution stages ("+" variants)
    upsample_channels: int = 256
    d_model: int = 128                 # D
    nhead: int = 4
    dim_ff: int = 512
    enc_layers: int = 2
    dec_layers: int = 2
    num_landmarks: int = 68            # N (taken from the data when training)
    head_hidden: int = 512             # MLP head: two hidden layers of this width
    norm_first: bool = False           # False = post-norm (DETR/paper); True = pre-norm
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(ModelConfig)}
        d = dict(d)
        d.setdefault("backbone_padding", "torch")   # configs written before the field existed
        return ModelConfig(**{k: v for k, v in d.items() if k in names})


PRESETS: dict[str, ModelConfig] = {
    # Edge model: MobileNetV2 x1.0 (ImageNet-pretrained, TF padding) truncated after the
    # last inverted residual (no 1280-channel conv), 160x160 -> 5x5 tokens.
    "lotr-m": ModelConfig(name="lotr-m"),
    # Same at 192 with one deconvolution upsampling stage: 12x12 tokens.
    "lotr-m+": ModelConfig(name="lotr-m+", input_size=192, upsample=1, upsample_channels=256),
    # Larger model: ResNet-50 backbone, 256x256 -> 8x8 tokens, D=256.
    "lotr-r": ModelConfig(name="lotr-r", backbone="resnet", resnet_depth=50, input_size=256,
                          d_model=256, nhead=8, dim_ff=1024, backbone_padding="torch"),
    # Fast model (Pi Zero 2 W / Pi 3): MobileNetV2 x1.0 (ImageNet) cut after the
    # 96-channel stage, 96x96 -> 6x6 tokens, D=96, one encoder layer, slim FFN and head.
    "lotr-s": ModelConfig(name="lotr-s", input_size=96, backbone_stages=5, d_model=96,
                          nhead=4, dim_ff=128, enc_layers=1, dec_layers=2, head_hidden=160),
    # Test/fixture model: 64x64, tiny MobileNetV2-style backbone, D=32, 1+1 layers.
    "lotr-tiny": ModelConfig(name="lotr-tiny", backbone="tiny", input_size=64, d_model=32,
                             nhead=2, dim_ff=64, enc_layers=1, dec_layers=1, head_hidden=64,
                             backbone_padding="torch"),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    cfg = dataclasses.replace(PRESETS[name], **overrides)
    return cfg


@dataclass
class TrainConfig:
    preset: str = "lotr-m"
    model: dict[str, Any] = field(default_factory=dict)   # overrides of the preset
    data: str = "../shared/data/300w-train"
    data_format: str = "300w-csv"      # 300w-csv | pts | wflw | jd106
    val_split: str = "splits/300w-val.txt"
    crop_k: float = 1.3
    epochs: int = 120
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # ImageNet MobileNetV2 weights (a TFLite file, pretrained.py); "" = from scratch.
    # Relative paths are from training/.
    pretrained_backbone: str = ""
    backbone_lr_mult: float = 1.0      # backbone LR = lr x this
    freeze_backbone_bn: bool = False   # backbone BN keeps its (folded) statistics
    warmup_epochs: float = 2.0
    loss: str = "smooth_wing"          # l1 | l2 | wing | smooth_wing
    loss_scale: float = 100.0          # coordinates in [0,1] are multiplied by this
    wing_w: float = 10.0
    wing_eps: float = 2.0
    wing_t: float = 0.01
    aux_loss: bool = True              # loss on every decoder layer (shared head)
    ema_decay: float = 0.998
    # augmentation
    aug_scale: float = 0.1             # crop side x U(1-s, 1+s)
    aug_translate: float = 0.06        # centre shift x U(-t, t) * side
    aug_rotate: float = 20.0           # degrees, U(-r, r)
    aug_flip: float = 0.5
    aug_color: float = 0.3
    aug_blur: float = 0.2
    aug_occlusion: float = 0.3
    aug_gray: float = 0.1
    eval_every: int = 1
    time_budget_min: float = 0.0       # 0 = no wall-clock budget
    seed: int = 0
    threads: int = 2
    out: str = "runs/lotr-m-68"

    @staticmethod
    def from_file(path: str) -> "TrainConfig":
        with open(path) as f:
            d = json.load(f)
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = set(d) - names - {"_comment"}
        if unknown:
            raise KeyError(f"unknown train config keys: {sorted(unknown)}")
        return TrainConfig(**{k: v for k, v in d.items() if k in names})

    def model_config(self, num_landmarks: int | None = None) -> ModelConfig:
        over = dict(self.model)
        if num_landmarks is not None:
            over["num_landmarks"] = num_landmarks
        return preset(self.preset, **over)
