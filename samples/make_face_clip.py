#!/usr/bin/env python3
"""Builds samples/face-clip.lclip and its ground truth samples/face-clip.landmarks.csv.

One 300-W training face (a 320x320 crop, 68 annotated points) is pasted with a feathered
elliptical mask on a plain, softly graded background of 640x480 and moved along a smooth
path (translation, scale 0.8-1.25, roll within +-12 degrees) for 105 frames at 30 fps
(3.5 s), so tracking and smoothing can be tested against known landmarks. The warp is an
exact similarity transform sampled bilinearly; the landmarks go through the same
transform, so they are exact in frame pixel coordinates (0-based, pixel centres at
integers, the 300-W CSV's convention). Frames are JPEG (quality 85, 4:2:0) in the LOTR
clip container (docs/CLIP.md).

    .venv/bin/python samples/make_face_clip.py [--data ../shared/data/300w-train] [--image NAME]
"""
import argparse
import csv
import io
import math
import struct
from pathlib import Path

import numpy as np
from PIL import Image

W, H, FPS, FRAMES = 640, 480, 30, 105


def load_face(data: Path, name: str):
    with open(data / "landmarks.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["image"] == name:
                pts = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
                img = np.asarray(Image.open(data / "images" / name).convert("RGB"), dtype=np.float32)
                return img, pts
    raise SystemExit(f"{name} not found in {data / 'landmarks.csv'}")


def pose(t: float):
    """Face centre (x, y), scale and roll (radians) at time t in [0, 1]: smooth, looping."""
    a = 2 * math.pi * t
    cx = W / 2 + 150 * math.sin(a)
    cy = H / 2 + 60 * math.sin(2 * a)
    scale = 1.02 + 0.22 * math.sin(a + 0.7)
    roll = math.radians(12) * math.sin(a * 1.0 + 1.3)
    return cx, cy, scale, roll


def render(face, mask, centre, cx, cy, s, r, background):
    """Inverse-maps every frame pixel into the face image (similarity), bilinear."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    c, sn = math.cos(r), math.sin(r)
    dx, dy = xs - cx, ys - cy
    u = (c * dx + sn * dy) / s + centre[0]
    v = (-sn * dx + c * dy) / s + centre[1]
    fh, fw = face.shape[:2]
    inside = (u >= 0) & (u <= fw - 1) & (v >= 0) & (v <= fh - 1)
    u = np.clip(u, 0, fw - 1.001)
    v = np.clip(v, 0, fh - 1.001)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    wx, wy = (u - x0)[..., None], (v - y0)[..., None]

    def sample(img):
        a, b = img[y0, x0], img[y0, x0 + 1]
        d, e = img[y0 + 1, x0], img[y0 + 1, x0 + 1]
        return (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy

    rgb = sample(face)
    alpha = sample(mask[..., None]) * inside[..., None]
    out = background * (1 - alpha) + rgb * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=here.parent.parent / "shared" / "data" / "300w-train")
    ap.add_argument("--image", default="helen_1629243_1.jpg")
    ap.add_argument("--out", type=Path, default=here / "face-clip.lclip")
    ap.add_argument("--quality", type=int, default=85)
    args = ap.parse_args()

    face, pts = load_face(args.data, args.image)
    fh, fw = face.shape[:2]
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    # Feathered ellipse around the face: 1.5x the landmark box, so forehead and chin stay.
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    rx, ry = (hi[0] - lo[0]) * 0.78, (hi[1] - lo[1]) * 0.85
    d = np.sqrt(((xx - centre[0]) / rx) ** 2 + ((yy - centre[1] + 0.1 * ry) / ry) ** 2)
    mask = np.clip((1.0 - d) / 0.15, 0, 1).astype(np.float32)

    gy = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    background = (np.array([92, 104, 118], np.float32) * (1 - gy) + np.array([60, 66, 74], np.float32) * gy)
    background = np.broadcast_to(background, (H, W, 3))

    out = bytearray()
    out += b"LOTRCLIP" + struct.pack("<HHIIII", 1, 0, W, H, FPS, 1) + b"MJPG"
    rows = []
    for i in range(FRAMES):
        cx, cy, s, r = pose(i / FRAMES)
        frame = render(face, mask, centre, cx, cy, s, r, background)
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "JPEG", quality=args.quality, subsampling=2)
        jpeg = buf.getvalue()
        ts = round(i * 1e9 / FPS)
        out += b"FRAM" + struct.pack("<IqQ", len(jpeg), ts, i) + jpeg
        c, sn = math.cos(r), math.sin(r)
        p = pts - centre
        fx = cx + s * (c * p[:, 0] - sn * p[:, 1])
        fy = cy + s * (sn * p[:, 0] + c * p[:, 1])
        rows.append([i, ts] + [f"{v:.3f}" for xy in zip(fx, fy) for v in xy])
    args.out.write_bytes(out)
    with open(args.out.parent / (args.out.stem + ".landmarks.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["frame", "timestamp_ns"] + [f"{a}{k}" for k in range(68) for a in ("x", "y")])
        w.writerows(rows)
    print(f"wrote {args.out} ({len(out) / 1e6:.2f} MB, {FRAMES} frames {W}x{H} @ {FPS} fps) from {args.image}")


if __name__ == "__main__":
    main()
