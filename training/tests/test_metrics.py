import numpy as np
import pytest

from lotr_train import metrics as M


def _shape68(rng):
    g = rng.uniform(0.2, 0.8, (68, 2))
    g[36] = (0.3, 0.4)
    g[45] = (0.7, 0.4)      # inter-ocular distance 0.4
    return g


def test_nme_known_value():
    rng = np.random.default_rng(0)
    gt = np.stack([_shape68(rng) for _ in range(10)])
    ang = rng.uniform(0, 2 * np.pi, (10, 68))
    d = 0.4 * 0.05                        # every point off by 5 % of the IOD
    pred = gt + d * np.stack([np.cos(ang), np.sin(ang)], -1)
    e = M.nme(pred, gt, "inter_ocular")
    assert np.allclose(e, 0.05)
    # box normalisation
    gt2 = np.zeros((1, 68, 2))
    gt2[0, :, 0] = np.linspace(0, 0.4, 68)
    gt2[0, :, 1] = np.linspace(0, 0.1, 68)
    pred2 = gt2 + np.array([0.01, 0.0])
    assert M.nme(pred2, gt2, "box")[0] == pytest.approx(0.01 / np.sqrt(0.04))


def test_auc_and_failure_rate():
    e = np.full(100, 0.04)
    assert M.auc(e, 0.08) == pytest.approx(0.5, abs=1e-3)
    assert M.failure_rate(e, 0.08) == 0.0
    e = np.concatenate([np.zeros(50), np.full(50, 0.2)])
    assert M.auc(e, 0.08) == pytest.approx(0.5, abs=1e-3)
    assert M.failure_rate(e, 0.08) == 0.5 and M.failure_rate(e, 0.10) == 0.5
    assert M.auc(np.zeros(5), 0.10) == pytest.approx(1.0, abs=1e-3)


def test_summary_and_ced_png(tmp_path):
    rng = np.random.default_rng(1)
    gt = np.stack([_shape68(rng) for _ in range(20)])
    pred = gt + 0.004
    s = M.summary(pred, gt)
    assert s["nme_inter_ocular"] == pytest.approx(np.sqrt(2) * 0.004 / 0.4)
    assert s["fr08_inter_ocular"] == 0.0
    p = tmp_path / "ced.png"
    M.plot_ced({"a": M.nme(pred, gt)}, str(p))
    assert p.read_bytes()[:4] == b"\x89PNG"
