import math

import pytest
import torch

from lotr_train import losses as L

T, W, EPS = 0.01, 10.0, 2.0


def test_closed_forms_numeric():
    x = torch.tensor([-20.0, -3.0, 0.005, 0.5, 12.0], dtype=torch.float64)
    assert torch.allclose(L.l1(x), x.abs())
    assert torch.allclose(L.l2(x), 0.5 * x * x)
    # Wing: w ln(1+|x|/eps) below w, |x| - C above
    C = 10 - 10 * math.log(6.0)
    exp_wing = [20 - C, 10 * math.log(2.5), 10 * math.log(1.0025), 10 * math.log(1.25), 12 - C]
    assert torch.allclose(L.wing(x, W, EPS), torch.tensor(exp_wing, dtype=torch.float64))
    # Smooth-wing with the paper's constants, by hand
    s = 12 / (2 * 0.01 * 2.01)
    c1 = 10 - 12 * math.log(6.0)
    c2 = 12 * math.log(1.005) - s * 1e-4
    exp = [20 - c1 - c2, 12 * math.log(2.5) - c2, s * 0.005 ** 2, 12 * math.log(1.25) - c2, 12 - c1 - c2]
    assert torch.allclose(L.smooth_wing(x, T, W, EPS), torch.tensor(exp, dtype=torch.float64))
    assert s == pytest.approx(298.5074626865672)
    assert L.smooth_wing(torch.tensor([0.0], dtype=torch.float64)).item() == 0.0
    # a few absolute reference values
    assert L.smooth_wing(torch.tensor([1.0], dtype=torch.float64)).item() == pytest.approx(
        12 * math.log(1.5) - 12 * math.log(1.005) + s * 1e-4, rel=1e-12)


def _lim(f, a, h=1e-9):
    xa = torch.tensor([a - h, a + h], dtype=torch.float64)
    v = f(xa)
    return v[0].item(), v[1].item()


@pytest.mark.parametrize("point", [T, W, -T, -W])
def test_smooth_wing_continuity(point):
    f = lambda x: L.smooth_wing(x, T, W, EPS)
    g = lambda x: L.smooth_wing_grad(x, T, W, EPS)
    lv, rv = _lim(f, point)
    assert lv == pytest.approx(rv, abs=1e-6)
    lg, rg = _lim(g, point)
    assert lg == pytest.approx(rg, abs=1e-6)
    # the analytic derivative matches finite differences on both sides
    h = 1e-6
    for side in (-1, 1):
        x0 = point + side * 10 * h
        fd = (f(torch.tensor([x0 + h], dtype=torch.float64)) - f(torch.tensor([x0 - h], dtype=torch.float64))) / (2 * h)
        assert fd.item() == pytest.approx(g(torch.tensor([x0], dtype=torch.float64)).item(), rel=1e-4)


def test_wing_value_continuous_slope_jumps():
    lv, rv = _lim(lambda x: L.wing(x, W, EPS), W)
    assert lv == pytest.approx(rv, abs=1e-6)
    lg, rg = _lim(lambda x: L.wing_grad(x, W, EPS), W)
    assert lg == pytest.approx(W / (W + EPS), rel=1e-6) and rg == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["smooth_wing", "wing"])
def test_autograd_matches_analytic(kind):
    x = torch.cat([torch.linspace(-30, 30, 1001, dtype=torch.float64),
                   torch.tensor([0.003, -0.007, 9.99, -10.01], dtype=torch.float64)]).requires_grad_()
    if kind == "smooth_wing":
        L.smooth_wing(x, T, W, EPS).sum().backward()
        ref = L.smooth_wing_grad(x.detach(), T, W, EPS)
    else:
        L.wing(x, W, EPS).sum().backward()
        ref = L.wing_grad(x.detach(), W, EPS)
    assert torch.allclose(x.grad, ref, atol=1e-10)


def test_landmark_loss_module():
    p = torch.zeros(2, 3, 2)
    t = torch.full((2, 3, 2), 0.05)
    for k in ("l1", "l2", "wing", "smooth_wing"):
        v = L.LandmarkLoss(k, scale=100)(p, t)
        assert v.item() > 0
    assert L.LandmarkLoss("l1", scale=100)(p, t).item() == pytest.approx(5.0)
