"""Landmark data: readers, mirror permutations, an in-memory cache, batched augmentation.

Readers return a list of Sample (image path, N x 2 landmarks in continuous source pixel
coordinates, see geometry.py). Supported formats:
  300w-csv  ../shared/data/300w-train: images/*.jpg + landmarks.csv (0-based pixel
            positions -> +0.5)
  pts       a folder tree of images with 300-W/iBUG `.pts` files beside them (1-based ->
            -0.5)
  wflw      WFLW annotation file (list_98pt_rect_attr_*.txt): 196 coords, 4 box, 6 attrs,
            image path relative to --images (coords taken as pixel-centre -> +0.5)
  jd106     JD-landmark: a folder of images and, beside each image or in a `landmark/`
            sibling folder, `<image name>.txt` whose first line is the count and then
            one "x y" per line (pixel-centre -> +0.5)
The number of landmarks N comes from the data.

The cache decodes each image once, cuts a square pre-crop of 2.0 x the landmark box's
longer side around its centre (the layout of the 300-W set, which is used as-is) and
stores it as uint8 at `cache_size` so a whole data set sits in memory.
"""
from __future__ import annotations

import csv
import math
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import geometry
from .config import MEAN, STD

IMG_EXT = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Sample:
    image: str
    landmarks: np.ndarray          # N x 2 float64, continuous source coords
    subset: str = ""
    name: str = ""


# ---------------------------------------------------------------- mirror permutations
def _perm_from_pairs(n: int, pairs) -> list[int]:
    p = list(range(n))
    for a, b in pairs:
        p[a], p[b] = b, a
    return p


PAIRS_68 = ([(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
            + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
               (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)])
PAIRS_98 = ([(i, 32 - i) for i in range(16)]
            + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47),
               (60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73),
               (55, 59), (56, 58), (76, 82), (77, 81), (78, 80), (87, 83), (86, 84),
               (88, 92), (89, 91), (95, 93), (96, 97)])
MIRROR_PERMS = {68: _perm_from_pairs(68, PAIRS_68), 98: _perm_from_pairs(98, PAIRS_98)}
# Outer eye corners for the inter-ocular normalisation.
OUTER_EYE = {68: (36, 45), 98: (60, 72)}


def infer_mirror_perm(mean_shape: np.ndarray) -> list[int]:
    """For layouts without a known table (e.g. JD-106): mirror the mean shape about its
    centroid and pair points greedily by the symmetric cost d(mir_i, p_j) + d(mir_j, p_i)
    (a point may pair with itself). Always an involution; check it before relying on it."""
    m = np.asarray(mean_shape, dtype=np.float64)
    mir = m.copy()
    mir[:, 0] = 2 * m[:, 0].mean() - mir[:, 0]
    d = np.sqrt(((mir[:, None, :] - m[None, :, :]) ** 2).sum(-1))
    cost = d + d.T
    n = len(m)
    iu = np.triu_indices(n)
    order = np.argsort(cost[iu], kind="stable")
    perm = [-1] * n
    for k in order:
        i, j = int(iu[0][k]), int(iu[1][k])
        if perm[i] < 0 and perm[j] < 0:
            perm[i], perm[j] = j, i
    return perm


def mirror_perm(n: int, mean_shape: np.ndarray | None = None) -> list[int]:
    if n in MIRROR_PERMS:
        return MIRROR_PERMS[n]
    if mean_shape is None:
        raise ValueError(f"no mirror permutation known for {n} points")
    return infer_mirror_perm(mean_shape)


# ---------------------------------------------------------------- readers
def read_300w_csv(root: str) -> list[Sample]:
    root_p = Path(root)
    out = []
    with open(root_p / "landmarks.csv", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header[0] == "image" and header[1] == "subset"
        for row in r:
            v = np.array([float(x) for x in row[2:]], dtype=np.float64).reshape(-1, 2) + 0.5
            out.append(Sample(str(root_p / "images" / row[0]), v, row[1], row[0]))
    return out


def read_pts_file(path: str) -> np.ndarray:
    with open(path) as f:
        txt = f.read()
    body = txt[txt.index("{") + 1: txt.index("}")]
    v = np.array(body.split(), dtype=np.float64).reshape(-1, 2)
    return v - 0.5   # 1-based pixel centres -> continuous


def read_pts_folder(root: str) -> list[Sample]:
    out = []
    for dirpath, _, files in os.walk(root):
        for fn in sorted(files):
            if fn.lower().endswith(IMG_EXT):
                pts = os.path.join(dirpath, os.path.splitext(fn)[0] + ".pts")
                if os.path.exists(pts):
                    sub = os.path.relpath(dirpath, root)
                    out.append(Sample(os.path.join(dirpath, fn), read_pts_file(pts), sub, fn))
    out.sort(key=lambda s: s.image)
    return out


def read_wflw(annotation_file: str, images_root: str) -> list[Sample]:
    out = []
    with open(annotation_file) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            v = np.array(parts[:196], dtype=np.float64).reshape(98, 2) + 0.5
            name = parts[-1]
            out.append(Sample(os.path.join(images_root, name), v, name.split("/")[0], name))
    return out


def read_jd106(root: str) -> list[Sample]:
    out = []
    for dirpath, _, files in os.walk(root):
        for fn in sorted(files):
            if not fn.lower().endswith(IMG_EXT):
                continue
            img = os.path.join(dirpath, fn)
            cands = [img + ".txt", os.path.join(os.path.dirname(dirpath), "landmark", fn + ".txt")]
            for c in cands:
                if os.path.exists(c):
                    with open(c) as f:
                        lines = [l.split() for l in f if l.strip()]
                    n = int(lines[0][0])
                    v = np.array(lines[1:1 + n], dtype=np.float64).reshape(n, 2) + 0.5
                    out.append(Sample(img, v, os.path.relpath(dirpath, root), fn))
                    break
    out.sort(key=lambda s: s.image)
    return out


def read_dataset(path: str, fmt: str = "auto", images_root: str | None = None) -> list[Sample]:
    if fmt == "auto":
        if os.path.isfile(os.path.join(path, "landmarks.csv")):
            fmt = "300w-csv"
        elif os.path.isfile(path):
            fmt = "wflw"
        else:
            fmt = "pts"
    if fmt == "300w-csv":
        s = read_300w_csv(path)
    elif fmt == "pts":
        s = read_pts_folder(path)
    elif fmt == "wflw":
        s = read_wflw(path, images_root or os.path.dirname(path))
    elif fmt == "jd106":
        s = read_jd106(path)
    else:
        raise ValueError(f"unknown data format {fmt}")
    if not s:
        raise ValueError(f"no samples found in {path} ({fmt})")
    n = {len(x.landmarks) for x in s}
    if len(n) != 1:
        raise ValueError(f"mixed landmark counts {n}")
    return s


# ---------------------------------------------------------------- split
def source_photo(name: str) -> str:
    """'helen_123_1.jpg' -> 'helen_123' (the name minus the trailing _<face index>).
    A face index is 1-2 digits without a leading zero; zero-padded numbers such as
    LFPW's 'lfpw_image_0001' are image numbers and are kept."""
    stem = os.path.splitext(os.path.basename(name))[0]
    return re.sub(r"_[1-9]\d?$", "", stem)


def make_split(samples: list[Sample], frac: float = 0.1, seed: int = 0) -> list[str]:
    """Validation names: ~frac of the source photos of each subset, seeded."""
    rng = random.Random(seed)
    val = []
    by_subset: dict[str, list[str]] = {}
    for s in samples:
        by_subset.setdefault(s.subset, [])
        p = source_photo(s.name)
        if p not in by_subset[s.subset]:
            by_subset[s.subset].append(p)
    chosen = set()
    for sub in sorted(by_subset):
        photos = sorted(by_subset[sub])
        rng.shuffle(photos)
        chosen.update((sub, p) for p in photos[: max(1, round(frac * len(photos)))])
    for s in samples:
        if (s.subset, source_photo(s.name)) in chosen:
            val.append(s.name)
    return sorted(val)


def apply_split(samples: list[Sample], val_names: list[str]) -> tuple[list[Sample], list[Sample]]:
    v = set(val_names)
    return [s for s in samples if s.name not in v], [s for s in samples if s.name in v]


# ---------------------------------------------------------------- cache
class CachedSet:
    """uint8 images (M x 3 x S x S) and landmarks (M x N x 2, continuous coords in the
    cached pre-crop)."""

    def __init__(self, samples: list[Sample], cache_size: int = 320, precrop_k: float = 2.0,
                 progress: bool = False):
        self.samples = samples
        n = len(samples[0].landmarks)
        self.images = torch.empty(len(samples), 3, cache_size, cache_size, dtype=torch.uint8)
        self.landmarks = np.empty((len(samples), n, 2), dtype=np.float64)
        it = range(len(samples))
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="caching images", mininterval=5)
        for i in it:
            img, pts = load_precrop(samples[i], cache_size, precrop_k)
            self.images[i] = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
            self.landmarks[i] = pts
        self.num_landmarks = n

    @staticmethod
    def from_arrays(images: torch.Tensor, landmarks: np.ndarray, names: list[str]) -> "CachedSet":
        """A set from pre-cropped faces already in memory (the GPU bundle): images
        M x 3 x S x S uint8, landmarks M x N x 2 continuous coords in those pre-crops."""
        ds = CachedSet.__new__(CachedSet)
        ds.samples = [Sample(n, np.asarray(p, np.float64), "", n) for n, p in zip(names, landmarks)]
        ds.images = images
        ds.landmarks = np.asarray(landmarks, dtype=np.float64)
        ds.num_landmarks = ds.landmarks.shape[1]
        return ds

    def __len__(self):
        return len(self.samples)

    def mean_shape(self, k: float) -> np.ndarray:
        """Mean landmark shape in normalised crop coordinates under the crop rule."""
        acc = np.zeros((self.num_landmarks, 2))
        for p in self.landmarks:
            c, s = geometry.crop_params(p, k)
            acc += geometry.source_to_crop(p, geometry.crop_matrix(c, s))
        return acc / len(self.landmarks)


def load_precrop(s: Sample, size: int, k: float) -> tuple[Image.Image, np.ndarray]:
    img = Image.open(s.image).convert("RGB")
    pts = s.landmarks
    c, side = geometry.crop_params(pts, k)
    W, H = img.size
    if W == size and H == size and abs(c[0] - size / 2) < 0.1 * size and abs(side - size) < 0.25 * size:
        return img, pts.copy()      # already a pre-crop (the 300-W set): use as-is
    A = geometry.crop_matrix(c, side)
    t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None]
    out = geometry.warp_batch(t, torch.from_numpy(A)[None], size)[0]
    out = out.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(out), geometry.source_to_crop(pts, A) * size


# ---------------------------------------------------------------- batches
def normalize(x: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W float in [0,255] -> (x/255 - mean)/std."""
    m = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - m) / s


@dataclass
class AugConfig:
    scale: float = 0.1
    translate: float = 0.06
    rotate: float = 20.0
    flip: float = 0.5
    color: float = 0.3
    blur: float = 0.2
    occlusion: float = 0.3
    gray: float = 0.1

    @staticmethod
    def from_train_config(cfg) -> "AugConfig":
        """The aug_* fields of a TrainConfig (both training paths read them here)."""
        return AugConfig(cfg.aug_scale, cfg.aug_translate, cfg.aug_rotate, cfg.aug_flip,
                         cfg.aug_color, cfg.aug_blur, cfg.aug_occlusion, cfg.aug_gray)


def make_batch(ds: CachedSet, idx: list[int], size: int, k: float, perm: list[int] | None,
               aug: AugConfig | None, rng: np.random.Generator | None = None,
               flip_all: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop (with jitter if aug) and normalise a batch. Returns images B x 3 x size x size
    and targets B x N x 2 in [0,1] crop coordinates."""
    rng = rng or np.random.default_rng()
    B = len(idx)
    A = np.empty((B, 2, 3))
    tgts = np.empty((B, ds.num_landmarks, 2))
    for b, i in enumerate(idx):
        pts = ds.landmarks[i]
        c, side = geometry.crop_params(pts, k)
        theta, flip = 0.0, flip_all
        if aug is not None:
            side *= 1 + rng.uniform(-aug.scale, aug.scale)
            c = c + rng.uniform(-aug.translate, aug.translate, 2) * side
            theta = math.radians(rng.uniform(-aug.rotate, aug.rotate))
            flip = rng.random() < aug.flip
        A[b] = geometry.crop_matrix(c, side, theta, flip)
        t = geometry.source_to_crop(pts, A[b])
        if flip:
            t = t[perm]
        tgts[b] = t
    x = geometry.warp_batch(ds.images[idx], torch.from_numpy(A), size)
    if aug is not None:
        x = photometric(x, aug, rng)
    return normalize(x), torch.from_numpy(tgts).float()


def photometric(x: torch.Tensor, aug: AugConfig, rng: np.random.Generator) -> torch.Tensor:
    """Colour jitter (brightness/contrast/saturation), grayscale, Gaussian blur and random
    occlusion rectangles, on B x 3 x H x W in [0, 255]."""
    B, _, H, W = x.shape
    c = aug.color
    bright = torch.from_numpy(rng.uniform(1 - c, 1 + c, B)).float().view(B, 1, 1, 1)
    contrast = torch.from_numpy(rng.uniform(1 - c, 1 + c, B)).float().view(B, 1, 1, 1)
    sat = torch.from_numpy(rng.uniform(1 - c, 1 + c, B)).float().view(B, 1, 1, 1)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = gray + (x - gray) * sat
    mean = gray.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    x = x * bright
    g = torch.from_numpy(rng.random(B) < aug.gray).view(B, 1, 1, 1)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = torch.where(g, gray.expand_as(x), x)
    blur = np.nonzero(rng.random(B) < aug.blur)[0]
    if len(blur):
        sigma = float(rng.uniform(0.6, 1.6))
        r = 2
        k1 = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma * sigma))
        k1 = k1 / k1.sum()
        xb = x[blur]
        xb = F.conv2d(F.pad(xb, (r, r, 0, 0), mode="replicate"), k1.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
        xb = F.conv2d(F.pad(xb, (0, 0, r, r), mode="replicate"), k1.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
        x[blur] = xb
    for b in np.nonzero(rng.random(B) < aug.occlusion)[0]:
        h = int(rng.uniform(0.1, 0.4) * H)
        w = int(rng.uniform(0.1, 0.4) * W)
        y0 = int(rng.integers(0, H - h + 1))
        x0 = int(rng.integers(0, W - w + 1))
        if rng.random() < 0.5:
            x[b, :, y0:y0 + h, x0:x0 + w] = torch.from_numpy(rng.uniform(0, 255, (3, 1, 1))).float()
        else:
            x[b, :, y0:y0 + h, x0:x0 + w] = torch.rand(3, h, w) * 255
    return x.clamp(0, 255)
