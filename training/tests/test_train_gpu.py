"""The GPU path on CPU: the bundle (deterministic, from the committed faces), device_aug's
augmentation against data.py's (same crop matrices and targets, a marked landmark lands
under its transformed coordinates, the same colour/blur for the same draws), and
train_gpu for a few steps (finite, falling loss; export and evaluation)."""
import json
import math
import os

import numpy as np
import pytest
import torch

from lotr_train import data as D
from lotr_train import device_aug as A
from lotr_train import geometry as G
from lotr_train.bundle import build_bundle
from lotr_train.train_gpu import load_bundle, pick_device, train

from conftest import FACES

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_CONFIG = os.path.join(HERE, "..", "configs", "lotr-m-68.json")
AUG_KEYS = ("aug_scale", "aug_translate", "aug_rotate", "aug_flip", "aug_color", "aug_blur",
            "aug_occlusion", "aug_gray")


def shipped_aug() -> D.AugConfig:
    from lotr_train.config import TrainConfig
    return D.AugConfig.from_train_config(TrainConfig.from_file(SHIPPED_CONFIG))


def tiny_config(path, faces_dir, split, **over):
    """lotr-tiny from scratch on the committed faces; augmentation as the shipped config."""
    with open(SHIPPED_CONFIG) as f:
        shipped = json.load(f)
    cfg = {"preset": "lotr-tiny", "data": faces_dir, "data_format": "300w-csv", "val_split": split,
           "model": {"norm_first": True}, "epochs": 2, "batch_size": 3, "lr": 3e-3,
           "warmup_epochs": 0.1, "threads": 2, **{k: shipped[k] for k in AUG_KEYS}, **over}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return str(path)


@pytest.fixture(scope="module")
def split_file(tmp_path_factory, faces):
    p = tmp_path_factory.mktemp("split") / "val.txt"
    p.write_text(faces[-1].name + "\n")           # 3 training faces, 1 validation face
    return str(p)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, split_file):
    d = tmp_path_factory.mktemp("bundle")
    cfg = tiny_config(d / "cfg.json", FACES, split_file)
    summary = build_bundle(cfg, str(d / "b"), size=128, quality=90)
    return str(d / "b"), summary


def test_bundle_is_deterministic_and_self_contained(tiny_bundle, tmp_path, faces):
    path, summary = tiny_bundle
    again = build_bundle(os.path.join(os.path.dirname(path), "cfg.json"), str(tmp_path / "b2"),
                         size=128, quality=90)
    assert again["manifest_sha256"] == summary["manifest_sha256"]
    assert summary["num_train"] == 3 and summary["num_val"] == 1 and 0 < summary["bytes"] < 2 ** 20
    for f in ("faces.npz", "config.json", "train_gpu.sh", "MANIFEST.txt", "lotr_train/train_gpu.py",
              "lotr_train/device_aug.py"):
        assert os.path.isfile(os.path.join(path, f)), f
    arrays, meta = load_bundle(path)
    assert meta["size"] == 128 and not any(k.startswith("backbone.") for k in arrays)
    # landmarks are the 320 px originals scaled to the 128 px pre-crop
    assert np.allclose(arrays["landmarks"][0], faces[0].landmarks * 128 / 320, atol=1e-4)


def random_params(B, aug, size, seed):
    g = torch.Generator().manual_seed(seed)
    return A.sample_params(B, aug, size, size, g)


def test_crop_matrices_and_targets_match_geometry(faces):
    ds = D.CachedSet(faces)
    lm = torch.from_numpy(ds.landmarks)
    aug = shipped_aug()
    p = random_params(len(faces), aug, 64, 0)
    p.flip = torch.tensor([True, False, True, False])  # both branches
    Am = A.crop_matrices(lm, 1.3, p)
    perm = torch.tensor(D.MIRROR_PERMS[68])
    _, t = A.augment_batch(ds.images, lm, 1.3, 64, perm, p, photometric_aug=False)
    for b in range(len(faces)):
        c, side = G.crop_params(ds.landmarks[b], 1.3)
        side *= float(p.scale_mult[b])
        c = c + p.shift[b].double().numpy() * side
        ref = G.crop_matrix(c, side, float(p.theta[b]), bool(p.flip[b]))
        assert np.abs(Am[b].numpy() - ref).max() < 1e-4 * side
        tr = G.source_to_crop(ds.landmarks[b], ref)
        if p.flip[b]:
            tr = tr[D.MIRROR_PERMS[68]]
        assert np.abs(t[b].numpy() - tr).max() < 1e-5
    # the parameters follow the config's ranges
    assert (p.scale_mult - 1).abs().max() <= aug.scale
    assert p.theta.abs().max() <= math.radians(aug.rotate)


def test_marked_landmarks_land_under_their_targets(mean_shape_300):
    """Three coloured dots at three landmarks of a synthetic face; after the batched warp
    (rotation, scale, shift, flip) each target coordinate sits on the dot of that landmark,
    the mirrored one where flipped (right eye corner 36 red, left 45 green, nose tip 30 blue),
    and a flipped crop is mirrored, not only relabelled."""
    S, size, B = 160, 64, 16
    pts = torch.from_numpy(mean_shape_300 * 80 + 40)                   # face box ~ half of S
    marks = {36: 0, 45: 1, 30: 2}
    yy, xx = torch.meshgrid(torch.arange(S) + 0.5, torch.arange(S) + 0.5, indexing="ij")
    img = torch.zeros(3, S, S)
    for j, ch in marks.items():
        img[ch] += 255 * torch.exp(-((xx - pts[j, 0]) ** 2 + (yy - pts[j, 1]) ** 2) / (2 * 1.5 ** 2))
    images = img.round().to(torch.uint8)[None].expand(B, -1, -1, -1)
    p = random_params(B, shipped_aug(), size, 3)
    p.flip[:B // 2] = torch.tensor([True, False] * (B // 4))
    perm = torch.tensor(D.MIRROR_PERMS[68])
    x, t = A.augment_batch(images, pts[None].expand(B, -1, -1), 1.3, size, perm, p, photometric_aug=False)
    x = x * torch.tensor(D.STD).view(1, 3, 1, 1) + torch.tensor(D.MEAN).view(1, 3, 1, 1)  # back to [0, 1]
    gy, gx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    # a mirrored crop is still a face in the iBUG layout: point 36 left of 45 in the image
    assert (t[:, 36, 0] < t[:, 45, 0]).all()
    for b in range(B):
        for i, ch in marks.items():
            src = D.MIRROR_PERMS[68][i] if p.flip[b] else i   # whose dot is under target i
            u, v = (t[b, i] * size).tolist()
            w = (x[b, marks[src]] * ((gx - u).abs() < 4) * ((gy - v).abs() < 4)).clamp(min=0)
            cu, cv = float((w * gx).sum() / w.sum()), float((w * gy).sum() / w.sum())
            assert math.hypot(cu - u, cv - v) < 0.35, (b, i, bool(p.flip[b]), (u, v), (cu, cv))


def draws_like_data_py(B, aug, seed):
    """data.photometric's draws from np.random.default_rng(seed), in its order, as
    AugParams (occlusion off: data.py's noise comes from torch's global generator)."""
    rng = np.random.default_rng(seed)
    c = aug.color
    f = lambda a: torch.from_numpy(np.asarray(a)).float()
    bright, contrast, sat = (f(rng.uniform(1 - c, 1 + c, B)) for _ in range(3))
    gray = torch.from_numpy(rng.random(B) < aug.gray)
    blur = torch.from_numpy(rng.random(B) < aug.blur)
    sigma = float(rng.uniform(0.6, 1.6)) if blur.any() else 1.0
    p = A.AugParams.identity(B, 0, 0)
    p.brightness, p.contrast, p.saturation, p.gray, p.blur = bright, contrast, sat, gray, blur
    p.blur_sigma = torch.full((B,), sigma)
    return p


def test_photometric_matches_data_py(faces):
    aug = shipped_aug()
    aug.occlusion, aug.gray, aug.blur = 0.0, 0.5, 0.5          # exercise both branches
    ds = D.CachedSet(faces)
    x = G.warp_batch(ds.images, torch.from_numpy(np.stack(
        [G.crop_matrix(*G.crop_params(l, 1.3)) for l in ds.landmarks])), 64)
    for seed in range(4):
        ref = D.photometric(x.clone(), aug, np.random.default_rng(seed))
        got = A.photometric(x.clone(), draws_like_data_py(len(x), aug, seed))
        assert (got - ref).abs().max() < 1e-3, seed


def test_occlusion_rectangle():
    x = torch.full((2, 3, 32, 32), 100.0)
    p = A.AugParams.identity(2, 32, 32)
    p.occlude = torch.tensor([True, False])
    p.occlusion_box = torch.tensor([[4, 6, 10, 5], [0, 0, 32, 32]])
    p.occlusion_colour = torch.tensor([[10.0, 20.0, 30.0], [0.0, 0.0, 0.0]])
    y = A.photometric(x, p)
    assert torch.equal(y[0, :, 6:11, 4:14], torch.tensor([10.0, 20.0, 30.0]).view(3, 1, 1).expand(3, 5, 10))
    assert y[0].sum() == 100 * 3 * 32 * 32 - 50 * (300 - 60) and torch.equal(y[1], x[1])


def test_train_gpu_overfits_tiny_set(tmp_path, faces, split_file):
    """No augmentation, the 3 training faces as one batch: the loss falls."""
    cfg = tiny_config(tmp_path / "cfg.json", FACES, split_file, eval_every=1000,
                      **{k: 0.0 for k in AUG_KEYS})
    build_bundle(cfg, str(tmp_path / "b"), size=128, quality=90)
    s = train(str(tmp_path / "b"), str(tmp_path / "out"), budget_sec=0, epochs=30, device="cpu",
              max_steps=30, export=False, progress=False)
    losses = s["step_losses"]
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses


def test_train_gpu_runs_exports_and_evaluates(tiny_bundle, tmp_path):
    """The shipped augmentation, two epochs, then ONNX export and the validation figure."""
    path, _ = tiny_bundle
    out = str(tmp_path / "out")
    s = train(path, out, budget_sec=60, device="cpu", checkpoint_dir=str(tmp_path / "ck"), progress=False)
    assert s["steps"] == 2 and math.isfinite(s["best_val_nme_torch"])
    assert s["onnx_max_abs_diff_vs_torch"] < 1e-4
    for f in ("best.pt", "lotr-tiny-68.onnx", "lotr-tiny-68.metrics.json", "lotr-tiny-68.ced.png",
              "log.jsonl", "summary.json", "train_config.json"):
        assert os.path.isfile(os.path.join(out, f)), f
    assert os.path.isfile(tmp_path / "ck" / "last.pt")
    log = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    assert len(log) == 2 and all(math.isfinite(r["loss"]) for r in log)
    m = json.load(open(os.path.join(out, "lotr-tiny-68.metrics.json")))
    assert m["plain"]["count"] == 1
    # resume continues from last.pt
    s2 = train(path, out, budget_sec=60, epochs=3, device="cpu", checkpoint_dir=str(tmp_path / "ck"),
               resume=str(tmp_path / "ck" / "last.pt"), export=False, progress=False)
    assert s2["steps"] == 3


def test_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match="faces.npz is missing"):
        load_bundle(str(tmp_path))
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="requested but"):
            pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the GPU session's check)")
def test_cuda_augmentation_matches_cpu(faces):
    """The same parameters give the same crops and targets on CUDA as on the CPU (flat
    occlusions only: the noise comes from each device's own generator)."""
    ds = D.CachedSet(faces)
    lm = torch.from_numpy(ds.landmarks)
    p = random_params(len(faces), shipped_aug(), 64, 1)
    p.occlude[:] = True
    p.occlusion_noise[:] = False
    p.blur[:2] = True
    perm = torch.tensor(D.MIRROR_PERMS[68])
    x, t = A.augment_batch(ds.images, lm, 1.3, 64, perm, p)
    pc = A.AugParams(*(getattr(p, f).cuda() for f in A.AugParams.__dataclass_fields__))
    xc, tc = A.augment_batch(ds.images.cuda(), lm.cuda(), 1.3, 64, perm.cuda(), pc)
    assert (xc.cpu() - x).abs().max() < 2e-2 and (tc.cpu() - t).abs().max() < 1e-6
