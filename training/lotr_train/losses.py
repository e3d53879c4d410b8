"""Landmark regression losses, applied per coordinate and averaged over B x N x 2.

x is the error (pred - target) after multiplying both by `scale` (default 100, so one
unit is 1 % of the crop side; the paper's t = 0.01, w = 10, eps = 2 are read in those
units). Closed forms (|x| = a):
  L1:          a
  L2:          x^2 / 2                                (half squared error)
  Wing:        w ln(1 + a/eps)          if a < w
               a - C,  C = w - w ln(1 + w/eps)        otherwise
               (value continuous at w; its slope jumps from w/(w+eps) to 1)
  smooth-Wing: s x^2                                  if a < t
               (w+eps) ln(1 + a/eps) - c2             if t <= a < w
               a - c1 - c2                            if a >= w
               s  = (w+eps) / (2 t (eps+t))
               c1 = w - (w+eps) ln(1 + w/eps)
               c2 = (w+eps) ln(1 + t/eps) - s t^2
               (value and slope continuous at t and at w)
"""
from __future__ import annotations

import math

import torch


def l1(x: torch.Tensor) -> torch.Tensor:
    return x.abs()


def l2(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * x


def wing(x: torch.Tensor, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    a = x.abs()
    C = w - w * math.log1p(w / eps)
    return torch.where(a < w, w * torch.log1p(a / eps), a - C)


def smooth_wing_constants(t: float, w: float, eps: float) -> tuple[float, float, float]:
    assert 0 < t < w and eps > 0
    s = (w + eps) / (2 * t * (eps + t))
    c1 = w - (w + eps) * math.log1p(w / eps)
    c2 = (w + eps) * math.log1p(t / eps) - s * t * t
    return s, c1, c2


def smooth_wing(x: torch.Tensor, t: float = 0.01, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    s, c1, c2 = smooth_wing_constants(t, w, eps)
    a = x.abs()
    quad = s * x * x
    log = (w + eps) * torch.log1p(a / eps) - c2
    lin = a - c1 - c2
    return torch.where(a < t, quad, torch.where(a < w, log, lin))


def smooth_wing_grad(x: torch.Tensor, t: float = 0.01, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    """Analytic derivative d/dx of smooth_wing."""
    s, _, _ = smooth_wing_constants(t, w, eps)
    a = x.abs()
    sign = torch.sign(x)
    return torch.where(a < t, 2 * s * x, torch.where(a < w, sign * (w + eps) / (eps + a), sign))


def wing_grad(x: torch.Tensor, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    a = x.abs()
    sign = torch.sign(x)
    return torch.where(a < w, sign * w / (eps + a), sign)


class LandmarkLoss(torch.nn.Module):
    def __init__(self, kind: str = "smooth_wing", scale: float = 100.0, w: float = 10.0,
                 eps: float = 2.0, t: float = 0.01):
        super().__init__()
        self.kind, self.scale, self.w, self.eps, self.t = kind, scale, w, eps, t
        if kind not in ("l1", "l2", "wing", "smooth_wing"):
            raise ValueError(f"unknown loss {kind}")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (pred - target) * self.scale
        if self.kind == "l1":
            v = l1(x)
        elif self.kind == "l2":
            v = l2(x)
        elif self.kind == "wing":
            v = wing(x, self.w, self.eps)
        else:
            v = smooth_wing(x, self.t, self.w, self.eps)
        return v.mean()
