"""data.py's training augmentation as batched tensor ops on any device (the GPU path).

Same distributions and the same AugConfig (read from the train config by
AugConfig.from_train_config) as data.make_batch / data.photometric, and the same crop
rule (geometry.py); the only difference is where the random numbers come from (a torch
Generator on the device instead of a numpy Generator) and that the blur sigma is drawn per
image (data.py draws one per batch; the distribution of each image's sigma is the same).

  params = sample_params(B, aug, H, W, generator)       # AugParams, tensors on the device
  x, t = augment_batch(images, landmarks, k, size, perm, params)

The crop warp is geometry.warp_batch itself (affine_grid + grid_sample), fed crop matrices
built here per sample as geometry.crop_matrix builds them; the targets are the landmarks
mapped through the same matrices (geometry.source_to_crop), mirrored with the permutation
where flipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import geometry
from .data import AugConfig, normalize

BLUR_RADIUS = 2            # data.photometric's 5-tap separable Gaussian
BLUR_SIGMA = (0.6, 1.6)
OCCLUSION_SIDE = (0.1, 0.4)  # fraction of the crop's height / width


@dataclass
class AugParams:
    """Per-image augmentation parameters, B of each (tensors on one device)."""
    scale_mult: torch.Tensor      # B, crop side x this
    shift: torch.Tensor           # B x 2, centre shift in units of the (scaled) side
    theta: torch.Tensor           # B, rotation in radians
    flip: torch.Tensor            # B bool, mirror horizontally (and permute landmarks)
    brightness: torch.Tensor      # B
    contrast: torch.Tensor        # B
    saturation: torch.Tensor      # B
    gray: torch.Tensor            # B bool
    blur: torch.Tensor            # B bool
    blur_sigma: torch.Tensor      # B
    occlude: torch.Tensor         # B bool
    occlusion_box: torch.Tensor   # B x 4 int64: x0, y0, w, h in crop pixels
    occlusion_noise: torch.Tensor  # B bool: noise (True) or flat colour
    occlusion_colour: torch.Tensor  # B x 3, flat colour in [0, 255]

    @staticmethod
    def identity(B: int, H: int, W: int, device="cpu") -> "AugParams":
        """No augmentation: the plain crop rule (validation crops)."""
        z = torch.zeros(B, device=device)
        f = torch.zeros(B, dtype=torch.bool, device=device)
        o = torch.ones(B, device=device)
        return AugParams(o, torch.zeros(B, 2, device=device), z, f, o, o.clone(), o.clone(), f, f,
                         o.clone(), f, torch.zeros(B, 4, dtype=torch.int64, device=device), f,
                         torch.zeros(B, 3, device=device))


def _uniform(n, lo, hi, g, device, shape=None):
    shape = (n,) if shape is None else shape
    return lo + (hi - lo) * torch.rand(shape, generator=g, device=device)


def sample_params(B: int, aug: AugConfig, H: int, W: int, g: torch.Generator) -> AugParams:
    """Draw B images' parameters from data.py's distributions (on g's device); H x W is the
    model input (occlusion sizes are fractions of it)."""
    dev = g.device
    c = aug.color
    oh = (_uniform(B, *OCCLUSION_SIDE, g, dev) * H).long()          # int(U * H), as data.py
    ow = (_uniform(B, *OCCLUSION_SIDE, g, dev) * W).long()
    oy = (torch.rand(B, generator=g, device=dev) * (H - oh + 1)).long()  # integers(0, H - h + 1)
    ox = (torch.rand(B, generator=g, device=dev) * (W - ow + 1)).long()
    return AugParams(
        scale_mult=1 + _uniform(B, -aug.scale, aug.scale, g, dev),
        shift=_uniform(B, -aug.translate, aug.translate, g, dev, (B, 2)),
        theta=torch.deg2rad(_uniform(B, -aug.rotate, aug.rotate, g, dev)),
        flip=torch.rand(B, generator=g, device=dev) < aug.flip,
        brightness=_uniform(B, 1 - c, 1 + c, g, dev),
        contrast=_uniform(B, 1 - c, 1 + c, g, dev),
        saturation=_uniform(B, 1 - c, 1 + c, g, dev),
        gray=torch.rand(B, generator=g, device=dev) < aug.gray,
        blur=torch.rand(B, generator=g, device=dev) < aug.blur,
        blur_sigma=_uniform(B, *BLUR_SIGMA, g, dev),
        occlude=torch.rand(B, generator=g, device=dev) < aug.occlusion,
        occlusion_box=torch.stack([ox, oy, ow, oh], 1),
        occlusion_noise=torch.rand(B, generator=g, device=dev) >= 0.5,
        occlusion_colour=_uniform(B, 0, 255, g, dev, (B, 3)),
    )


def crop_matrices(landmarks: torch.Tensor, k: float, p: AugParams) -> torch.Tensor:
    """B x 2 x 3 float64 crop matrices (geometry.crop_matrix) of the jittered crops of
    landmarks B x N x 2 (continuous source coords): side = k * max(box w, h) * scale_mult,
    centre = box centre + shift * side."""
    pts = landmarks.to(torch.float64)
    lo, hi = pts.amin(1), pts.amax(1)                                  # B x 2
    centre = (lo + hi) / 2
    side = k * (hi - lo).amax(1) * p.scale_mult.to(torch.float64)      # B
    centre = centre + p.shift.to(torch.float64) * side[:, None]
    th = p.theta.to(torch.float64)
    co, si = torch.cos(th), torch.sin(th)
    f = 1.0 - 2.0 * p.flip.to(torch.float64)                           # -1 where flipped
    A = torch.empty(len(pts), 2, 3, dtype=torch.float64, device=pts.device)
    A[:, 0, 0], A[:, 0, 1], A[:, 0, 2] = side * co * f, -side * si, centre[:, 0]
    A[:, 1, 0], A[:, 1, 1], A[:, 1, 2] = side * si * f, side * co, centre[:, 1]
    return A


def source_to_crop(landmarks: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """geometry.source_to_crop batched: B x N x 2 source coords -> normalised crop coords."""
    M = A[:, :, :2]
    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]
    # closed-form 2 x 2 inverse (torch.linalg.inv checks for singularity: a host sync on CUDA)
    inv = torch.stack([torch.stack([M[:, 1, 1], -M[:, 0, 1]], -1),
                       torch.stack([-M[:, 1, 0], M[:, 0, 0]], -1)], 1) / det[:, None, None]
    d = landmarks.to(torch.float64) - A[:, None, :, 2]
    return d @ inv.transpose(1, 2) + 0.5


def _luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def photometric(x: torch.Tensor, p: AugParams, g: torch.Generator | None = None) -> torch.Tensor:
    """data.photometric with given parameters, on B x 3 x H x W in [0, 255]: saturation
    (about the luma), contrast (about the input's mean luma), brightness, grayscale,
    Gaussian blur, occlusion rectangle (flat colour or uniform noise from g), clamp."""
    B, _, H, W = x.shape
    v = lambda t: t.view(B, 1, 1, 1).to(x.dtype)
    gray = _luma(x)
    x = gray + (x - gray) * v(p.saturation)
    mean = gray.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * v(p.contrast) + mean
    x = x * v(p.brightness)
    x = torch.where(p.gray.view(B, 1, 1, 1), _luma(x).expand_as(x), x)
    # On CUDA both branches always run (masked by torch.where): asking whether any image
    # is blurred or occluded would stall the host on the device every step.
    if x.is_cuda or bool(p.blur.any()):
        r = BLUR_RADIUS
        taps = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
        k1 = torch.exp(-taps[None] ** 2 / (2 * p.blur_sigma.float()[:, None] ** 2))   # B x 5
        k1 = (k1 / k1.sum(1, keepdim=True)).repeat_interleave(3, 0).to(x.dtype)     # 3B x 5
        xb = x.reshape(1, B * 3, H, W)                                # one group per channel
        xb = F.conv2d(F.pad(xb, (r, r, 0, 0), mode="replicate"), k1.view(-1, 1, 1, 2 * r + 1), groups=3 * B)
        xb = F.conv2d(F.pad(xb, (0, 0, r, r), mode="replicate"), k1.view(-1, 1, 2 * r + 1, 1), groups=3 * B)
        x = torch.where(p.blur.view(B, 1, 1, 1), xb.view(B, 3, H, W), x)
    if x.is_cuda or bool(p.occlude.any()):
        x0, y0, w, h = (p.occlusion_box[:, i].view(B, 1, 1, 1) for i in range(4))
        ys = torch.arange(H, device=x.device).view(1, 1, H, 1)
        xs = torch.arange(W, device=x.device).view(1, 1, 1, W)
        inside = (ys >= y0) & (ys < y0 + h) & (xs >= x0) & (xs < x0 + w) & p.occlude.view(B, 1, 1, 1)
        noise = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) * 255
        fill = torch.where(p.occlusion_noise.view(B, 1, 1, 1), noise,
                           p.occlusion_colour.to(x.dtype).view(B, 3, 1, 1).expand_as(x))
        x = torch.where(inside, fill, x)
    return x.clamp(0, 255)


def augment_batch(images: torch.Tensor, landmarks: torch.Tensor, k: float, size: int,
                  perm: torch.Tensor, p: AugParams, g: torch.Generator | None = None,
                  photometric_aug: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """images B x 3 x S x S uint8 pre-crops, landmarks B x N x 2 in them -> normalised
    model input B x 3 x size x size float32 and targets B x N x 2 float32 in [0, 1]
    (data.make_batch on the device). perm: N int64, the mirror permutation."""
    A = crop_matrices(landmarks, k, p)
    t = source_to_crop(landmarks, A)
    t = torch.where(p.flip.view(-1, 1, 1), t[:, perm], t)
    x = geometry.warp_batch(images, A, size)
    if photometric_aug:
        x = photometric(x, p, g)
    return normalize(x), t.float()
