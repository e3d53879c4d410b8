"""The crop rule, written down once (the runtime implements the same).

Coordinates: continuous pixel coordinates in which pixel column i covers [i, i+1) and its
centre is i + 0.5 (annotation files that give 0-based pixel-centre positions are shifted
by +0.5 when read). Model output is normalised to the crop: (u, v) in [0, 1], u = X / W,
v = Y / H with X, Y continuous crop coordinates (x right, y down).

Crop rule (CROP_RULE below, stored in the ONNX metadata):
  1. face box = axis-aligned bounding box of the N landmarks (when tracking: the previous
     frame's landmarks; with a face detector: the detector box mapped to the landmark box
     by the runtime's own calibration);
  2. centre c = box centre; side S = k * max(box width, box height), k = 1.3;
  3. the crop is the square of side S centred on c, optionally rotated by the face's roll
     angle theta (0 for the evaluation numbers reported), warped to H x W:
        source(X, Y) = c + S * R(theta) @ (X / W - 0.5, Y / H - 0.5)
     sampled bilinearly at the crop's pixel centres (X = j + 0.5, Y = i + 0.5); samples
     outside the source image read 0 (black), per bilinear tap;
  4. landmark back-mapping: p = c + S * R(theta) @ (u - 0.5, v - 0.5).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CROP_K = 1.3

CROP_RULE = {
    "box": "axis-aligned bounding box of all landmarks (tracking: previous landmarks; "
           "detector: detector box mapped to the landmark box)",
    "centre": "box centre",
    "side": "k * max(box_w, box_h)",
    "k": CROP_K,
    "rotation": "optional roll angle theta; 0 (axis-aligned) for reported metrics",
    "warp": "source = c + S * R(theta) @ (X/W - 0.5, Y/H - 0.5); bilinear at crop pixel "
            "centres (X = j + 0.5); outside the image = 0",
    "coords": "continuous pixel coords, pixel i spans [i, i+1), centre i + 0.5",
    "output": "landmarks (u, v) in [0,1] of the crop: u = X/W, v = Y/H (x right, y down); "
              "source = c + S * R(theta) @ (u - 0.5, v - 0.5)",
}


def landmark_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of an N x 2 array."""
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def crop_params(pts: np.ndarray, k: float = CROP_K) -> tuple[np.ndarray, float]:
    """Centre (2,) and side S of the crop for landmarks pts (continuous coords)."""
    x0, y0, x1, y1 = landmark_box(pts)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float64)
    return c, k * max(x1 - x0, y1 - y0)


def crop_matrix(c, side, theta=0.0, flip=False):
    """2 x 3 matrix A with source = A @ (u - 0.5, v - 0.5, 1) for normalised crop (u, v).
    flip=True mirrors the crop horizontally (u -> 1 - u)."""
    co, si = math.cos(theta), math.sin(theta)
    f = -1.0 if flip else 1.0
    return np.array([[side * co * f, -side * si, c[0]],
                     [side * si * f, side * co, c[1]]], dtype=np.float64)


def source_to_crop(pts: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Map N x 2 continuous source coords to normalised crop coords (inverse of A)."""
    M = A[:, :2]
    d = pts - A[:, 2]
    return d @ np.linalg.inv(M).T + 0.5


def crop_to_source(uv: np.ndarray, A: np.ndarray) -> np.ndarray:
    return (uv - 0.5) @ A[:, :2].T + A[:, 2]


def warp_batch(images: torch.Tensor, A: torch.Tensor, out_size: int) -> torch.Tensor:
    """Warp B x C x Hs x Ws images with B x 2 x 3 crop matrices A (float64 or float32) to
    B x C x out x out, bilinear, zeros outside (the crop rule's sampling)."""
    B, _, Hs, Ws = images.shape
    A = A.to(images.device, torch.float64)
    # affine_grid (align_corners=False) maps output normalised g in [-1,1] (g = 2u - 1) to
    # input normalised gi = 2 X / Ws - 1, which is exactly the continuous-coordinate rule.
    theta = torch.empty(B, 2, 3, dtype=torch.float64, device=images.device)
    theta[:, 0, 0] = A[:, 0, 0] / Ws
    theta[:, 0, 1] = A[:, 0, 1] / Ws
    theta[:, 0, 2] = 2 * A[:, 0, 2] / Ws - 1
    theta[:, 1, 0] = A[:, 1, 0] / Hs
    theta[:, 1, 1] = A[:, 1, 1] / Hs
    theta[:, 1, 2] = 2 * A[:, 1, 2] / Hs - 1
    grid = F.affine_grid(theta.float(), [B, images.shape[1], out_size, out_size], align_corners=False)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)
