import pytest
import torch

from lotr_train.config import PRESETS, preset
from lotr_train.macs import count_macs
from lotr_train.model import build_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_forward_shapes(name):
    torch.manual_seed(0)
    cfg = preset(name, num_landmarks=68)
    m = build_model(cfg).eval()
    s = cfg.input_size
    with torch.no_grad():
        st = m(torch.randn(1, 3, s, s), return_stages=True)
    h, w = m.feat_hw
    T = h * w
    assert st["backbone"].shape[:1] == (1,) and st["backbone"].shape[2:] == (h, w)
    assert st["proj"].shape == (1, cfg.d_model, h, w)
    for i in range(cfg.enc_layers):
        assert st[f"encoder.{i}"].shape == (1, T, cfg.d_model)
    for i in range(cfg.dec_layers):
        assert st[f"decoder.{i}"].shape == (1, 68, cfg.d_model)
    assert st["landmarks"].shape == (1, 68, 2)


def test_batch_and_aux_and_prenorm():
    cfg = preset("lotr-tiny", num_landmarks=5, norm_first=True, dec_layers=2)
    m = build_model(cfg)
    outs = m(torch.randn(3, 3, 64, 64), return_aux=True)
    assert len(outs) == 2 and all(o.shape == (3, 5, 2) for o in outs)
    st = m.eval()(torch.randn(1, 3, 64, 64), return_stages=True)
    assert "encoder.norm" in st and "decoder.norm" in st


def test_batch_consistency():
    m = build_model(preset("lotr-tiny", num_landmarks=7)).eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        a = m(x)
        b = torch.cat([m(x[i:i + 1]) for i in range(4)])
    assert torch.allclose(a, b, atol=1e-5)


def test_lotr_m_mac_budget():
    """The Pi budget of the shipped preset: at most 300 M MACs and a modeled Pi 4 time of
    at most 15 ms (MACs / (4 cores x 8 MAC/cycle x 1.8 GHz x 35 %))."""
    t = count_macs(build_model(preset("lotr-m", num_landmarks=68)))
    assert t["total"] <= 300e6, t
    assert t["total"] / (4 * 8 * 1.8e9 * 0.35) <= 15e-3
    # the head and decoder are counted per query: 68 x (128*512 + 512*512 + 512*2)
    assert t["head"] == 68 * (128 * 512 + 512 * 512 + 512 * 2)
    assert set(t) >= {"backbone", "proj", "encoder.0", "encoder.1", "decoder.0", "decoder.1", "head"}


def test_lotr_s_is_the_fast_preset():
    """lotr-s (issue 18): at most 60 M MACs; MobileNetV2 cut after the 96-channel stage
    (stride 16), so 96x96 gives 6x6 tokens of the pretrained stem and first 13 blocks."""
    cfg = preset("lotr-s", num_landmarks=68)
    m = build_model(cfg)
    t = count_macs(m)
    assert t["total"] <= 60e6, t
    assert m.feat_hw == (6, 6)
    assert m.backbone.out_channels == 96
    assert len(m.backbone.features) == 1 + 1 + 2 + 3 + 4 + 3     # stem + the blocks of 5 rows
    out = m(torch.zeros(2, 3, cfg.input_size, cfg.input_size))
    assert out.shape == (2, 68, 2)


def test_tf_same_padding_pads_bottom_right_only():
    """backbone_padding "tf": at stride 2 the extra row/column is at the bottom/right, so
    output (0, 0)'s top-left tap reads input (0, 0) (with symmetric padding it reads the
    pad at (-1, -1))."""
    from lotr_train.model import SameConv2d
    conv = SameConv2d(1, 1, 3, 2, 0, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0        # top-left tap
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 0, 0] = 1.0
    y = conv(x)
    assert y.shape == (1, 1, 4, 4)
    assert y[0, 0, 0, 0] == 1.0
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 7, 7] = 1.0
    assert conv(x).abs().sum() == 0          # top-left taps read even rows/cols only


def test_old_checkpoint_configs_keep_torch_padding():
    from lotr_train.config import ModelConfig
    assert ModelConfig.from_dict({"width_mult": 0.75, "input_size": 192}).backbone_padding == "torch"
