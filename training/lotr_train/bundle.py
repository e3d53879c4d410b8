"""Pack everything the GPU path needs into one self-contained directory (at most 64 MiB).

  python -m lotr_train.bundle --config configs/lotr-m-68.json --out runs/gpu-bundle
         [--data DIR] [--split-file splits/300w-val.txt] [--size 256] [--quality 85]

Layout of the bundle (every file deterministic for the same inputs: the zip entries carry
a fixed time stamp, JPEG encoding is PIL's with fixed settings):
  train_gpu.sh        the entry script (scripts/train_gpu.sh)
  config.json         the train config, unchanged (one config for the CPU and GPU paths)
  faces.npz           the faces and the backbone weights, see below
  lotr_train/*.py     the training code
  MANIFEST.txt        sha256 and size of every other file
faces.npz arrays:
  jpeg            uint8 (total bytes,): every face's JPEG, concatenated
  jpeg_offsets    int64 (M + 1,): face i is jpeg[offsets[i]:offsets[i + 1]]
  landmarks       float32 M x N x 2, continuous pixel coords in the size x size pre-crop
  names, subsets  str (M,)
  is_val          bool (M,): in the validation split (used for checkpoint selection and
                  the final figure only, as in train.py)
  meta            str (): JSON (source, pre-crop size, JPEG quality, backbone source)
  backbone.<key>  float32: the ImageNet MobileNetV2 converted by pretrained.py, as the
                  backbone's state dict (absent when the config trains from scratch)
The faces are data.py's pre-crops (2.0 x the landmark box's longer side around its centre,
the 300-W set's own layout) resized to size x size: the raw uint8 array of 2,012 faces at
256 px would be 396 MB, so each face is stored as a JPEG and decoded once on the training
machine (the pixels the GPU augments are then uint8 in device memory, as in data.py's cache).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import zipfile

import numpy as np
from PIL import Image

from . import data as D
from .config import TrainConfig

MAX_BUNDLE_BYTES = 64 * 2 ** 20
PRECROP_K = 2.0          # data.CachedSet's pre-crop: 2.0 x the landmark box
PRECROP_SOURCE = 320     # data.CachedSet's cache size (the 300-W images as they are)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TRAINING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_npz(path: str, arrays: dict[str, np.ndarray], deflate: set[str] = frozenset()) -> None:
    """np.savez with a fixed entry order and time stamp (np.savez stamps the current time,
    so two builds would differ); names in `deflate` are compressed."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arr, order="C"), allow_pickle=False)


def encode_face(sample: D.Sample, size: int, quality: int) -> tuple[bytes, np.ndarray]:
    """data.py's pre-crop of one face resized (antialiased) to size x size, as JPEG bytes,
    and its landmarks in the resized pre-crop (continuous coords scale by size / source)."""
    img, pts = D.load_precrop(sample, PRECROP_SOURCE, PRECROP_K)
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue(), pts * (size / PRECROP_SOURCE)


def converted_backbone(cfg: TrainConfig, num_landmarks: int, tflite_path: str) -> tuple[dict[str, np.ndarray], dict]:
    """The config's backbone with the TFLite ImageNet weights loaded (pretrained.py), as
    numpy arrays keyed by state-dict name, and pretrained.py's report."""
    from .model import build_model
    from .pretrained import load_mobilenet_v2
    mcfg = cfg.model_config(num_landmarks)
    if mcfg.backbone != "mobilenetv2" or mcfg.backbone_padding != "tf":
        raise SystemExit("pretrained_backbone needs backbone mobilenetv2 with backbone_padding \"tf\"")
    model = build_model(mcfg)
    info = load_mobilenet_v2(model.backbone, tflite_path)
    info["file"] = os.path.basename(tflite_path)
    return {k: v.detach().cpu().numpy() for k, v in model.backbone.state_dict().items()}, info


def resolve(path: str, base: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def build_bundle(config_path: str, out: str, data: str | None = None, split_file: str | None = None,
                 size: int = 256, quality: int = 85, pretrained: str | None = None) -> dict:
    """Writes the bundle to `out` (replacing it) and returns a summary (bytes, counts)."""
    cfg = TrainConfig.from_file(config_path)
    data = data or resolve(cfg.data, TRAINING_DIR)
    split_file = split_file or resolve(cfg.val_split, TRAINING_DIR)
    if not os.path.exists(data):
        raise SystemExit(f"training data not found: {data} (pass --data)")
    if not os.path.isfile(split_file):
        raise SystemExit(f"validation split not found: {split_file} (pass --split-file)")
    samples = D.read_dataset(data, cfg.data_format)
    with open(split_file) as f:
        val_names = {line.strip() for line in f if line.strip()}

    jpegs, landmarks = [], []
    for s in samples:
        b, p = encode_face(s, size, quality)
        jpegs.append(np.frombuffer(b, dtype=np.uint8))
        landmarks.append(p)
    offsets = np.concatenate([[0], np.cumsum([len(j) for j in jpegs])]).astype(np.int64)
    arrays: dict[str, np.ndarray] = {
        "jpeg": np.concatenate(jpegs),
        "jpeg_offsets": offsets,
        "landmarks": np.stack(landmarks).astype(np.float32),
        "names": np.array([s.name for s in samples]),
        "subsets": np.array([s.subset for s in samples]),
        "is_val": np.array([s.name in val_names for s in samples]),
    }
    meta = {"source": os.path.basename(os.path.normpath(data)), "data_format": cfg.data_format,
            "precrop_k": PRECROP_K, "size": size, "jpeg_quality": quality,
            "split_file": os.path.basename(split_file), "num_val": int(arrays["is_val"].sum()),
            "num_train": int((~arrays["is_val"]).sum()), "pretrained": None}
    deflate = set()
    src = pretrained if pretrained is not None else cfg.pretrained_backbone
    if src:
        src = resolve(src, TRAINING_DIR)
        if not os.path.isfile(src):
            raise SystemExit(f"pretrained backbone not found: {src}")
        weights, info = converted_backbone(cfg, arrays["landmarks"].shape[1], src)
        meta["pretrained"] = info
        for k, v in weights.items():
            arrays["backbone." + k] = v
            deflate.add("backbone." + k)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))

    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "lotr_train"))
    write_npz(os.path.join(out, "faces.npz"), arrays, deflate)
    pkg = os.path.dirname(os.path.abspath(__file__))
    for fn in sorted(os.listdir(pkg)):
        if fn.endswith(".py"):
            shutil.copyfile(os.path.join(pkg, fn), os.path.join(out, "lotr_train", fn))
    shutil.copyfile(config_path, os.path.join(out, "config.json"))
    script = os.path.join(TRAINING_DIR, "scripts", "train_gpu.sh")
    shutil.copyfile(script, os.path.join(out, "train_gpu.sh"))
    os.chmod(os.path.join(out, "train_gpu.sh"), 0o755)

    lines = []
    for d, _, fs in sorted(os.walk(out)):
        for fn in sorted(fs):
            p = os.path.join(d, fn)
            with open(p, "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {os.path.getsize(p):>10}  "
                             f"{os.path.relpath(p, out)}")
    with open(os.path.join(out, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = dir_bytes(out)
    if total > MAX_BUNDLE_BYTES:
        raise SystemExit(f"bundle is {total / 2 ** 20:.1f} MiB, over the 64 MiB limit: lower --size or --quality")
    return {"bundle": out, "bytes": total, "mib": round(total / 2 ** 20, 2),
            "faces_npz_bytes": os.path.getsize(os.path.join(out, "faces.npz")),
            "jpeg_bytes": int(offsets[-1]), **{k: meta[k] for k in ("num_train", "num_val", "size", "jpeg_quality")},
            "manifest_sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", help="training data (default: the config's data, relative to training/)")
    ap.add_argument("--split-file", help="validation names (default: the config's val_split)")
    ap.add_argument("--pretrained", help="TFLite MobileNetV2 (default: the config's pretrained_backbone)")
    ap.add_argument("--size", type=int, default=256, help="pre-crop side in pixels")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality")
    a = ap.parse_args(argv)
    print(json.dumps(build_bundle(a.config, a.out, a.data, a.split_file, a.size, a.quality, a.pretrained), indent=1))


if __name__ == "__main__":
    main()
