import os

import numpy as np
import pytest
import torch
from PIL import Image

from lotr_train import data as D
from lotr_train import geometry as G


def test_300w_reader(faces):
    assert [s.name for s in faces] == ["afw_1051618982_1.jpg", "helen_2042747277_1.jpg",
                                       "lfpw_image_0101.jpg", "lfpw_image_0753.jpg"]
    assert {len(s.landmarks) for s in faces} == {68}
    assert [s.subset for s in faces] == ["afw", "helen", "lfpw", "lfpw"]
    assert all(os.path.isfile(s.image) and s.image.endswith("/images/" + s.name) for s in faces)
    # first values of the csv are x0 = 80.000, y0 = 108.401 (0-based pixel centre) -> +0.5
    assert faces[0].landmarks[0] == pytest.approx([80.5, 108.901])


def _names_as_samples(names):
    return [D.Sample(n, np.zeros((68, 2)), n.split("_")[0], n) for n in names]


def test_fixtures_match_the_full_set(samples, train_names, mean_shape_300, faces):
    """The committed stand-ins are the 300-W training set's (skipped without it)."""
    assert len(samples) == 2012
    assert [s.name for s in samples] == train_names
    assert {s.subset for s in samples} == {"afw", "helen", "lfpw"}
    assert all(s.subset == s.name.split("_")[0] for s in samples)
    by_name = {s.name: s for s in samples}
    for f in faces:
        assert np.allclose(by_name[f.name].landmarks, f.landmarks)
    assert np.abs(D.CachedSet(samples[:300]).mean_shape(G.CROP_K) - mean_shape_300).max() < 1e-5


def test_mirror_perms_are_involutions():
    for n, p in D.MIRROR_PERMS.items():
        assert sorted(p) == list(range(n))
        assert all(p[p[i]] == i for i in range(n))
    p = D.MIRROR_PERMS[68]
    assert p[36] == 45 and p[0] == 16 and p[8] == 8 and p[30] == 30 and p[62] == 62


def test_flip_permutation_on_real_mean_shape(mean_shape_300, faces):
    ms = mean_shape_300
    # CachedSet.mean_shape computes that shape: the same rule on the committed faces
    ds = D.CachedSet(faces)
    by_hand = np.mean([G.source_to_crop(s.landmarks, G.crop_matrix(*G.crop_params(s.landmarks, G.CROP_K)))
                       for s in faces], axis=0)
    assert np.abs(ds.mean_shape(G.CROP_K) - by_hand).max() < 1e-9
    mirrored = ms.copy()
    mirrored[:, 0] = ms[:, 0].min() + ms[:, 0].max() - mirrored[:, 0]
    # the mirrored, permuted mean face is the mean face (within 3 % of the crop; 300-W's
    # mean face is not exactly symmetric); without the permutation it is far off
    assert np.abs(mirrored[D.MIRROR_PERMS[68]] - ms).max() < 0.03
    assert np.abs(mirrored - ms).max() > 0.2
    # and the permutation inferred from geometry alone agrees with the table
    assert D.infer_mirror_perm(ms) == D.MIRROR_PERMS[68]


def test_flip_batch_moves_pixels_and_points(faces):
    ds = D.CachedSet(faces[:2])
    perm = D.MIRROR_PERMS[68]
    x, t = D.make_batch(ds, [0], 64, G.CROP_K, perm, None)
    xf, tf = D.make_batch(ds, [0], 64, G.CROP_K, perm, None, flip_all=True)
    assert torch.allclose(xf, x.flip(3), atol=1e-4)
    back = tf[0, perm].clone()
    back[:, 0] = 1 - back[:, 0]
    assert torch.allclose(back, t[0], atol=1e-6)


def test_split_by_source_photo(train_names):
    # make_split reads only names and subsets: the committed name list stands in for the set
    samples = _names_as_samples(train_names)
    val = D.make_split(samples, 0.1, 0)
    tr, va = D.apply_split(samples, val)
    assert 150 < len(va) < 260 and len(tr) + len(va) == len(samples)
    assert not ({D.source_photo(s.name) for s in tr} & {D.source_photo(s.name) for s in va})
    assert {s.subset for s in va} == {"afw", "helen", "lfpw"}
    assert D.make_split(samples, 0.1, 0) == val
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "splits", "300w-val.txt")) as f:
        assert [l.strip() for l in f if l.strip()] == val


def _img(path, w=100, h=80):
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def test_pts_wflw_jd_readers(tmp_path):
    # 300-W .pts: 1-based
    d = tmp_path / "pts"
    d.mkdir()
    _img(d / "a.png")
    pts = np.stack([np.linspace(20, 80, 68), np.linspace(10, 70, 68)], 1)
    with open(d / "a.pts", "w") as f:
        f.write("version: 1\nn_points: 68\n{\n" + "\n".join(f"{x} {y}" for x, y in pts) + "\n}\n")
    s = D.read_dataset(str(d), "pts")
    assert len(s) == 1 and np.allclose(s[0].landmarks, pts - 0.5)
    # WFLW: 196 coords, 4 box, 6 attrs, name
    w = tmp_path / "wflw"
    (w / "imgs" / "0--Parade").mkdir(parents=True)
    _img(w / "imgs" / "0--Parade" / "x.jpg")
    p98 = np.stack([np.linspace(10, 90, 98), np.linspace(5, 75, 98)], 1)
    line = " ".join(f"{v:.3f}" for v in p98.ravel()) + " 1 2 3 4 0 0 0 0 0 0 0--Parade/x.jpg\n"
    (w / "list.txt").write_text(line)
    s = D.read_dataset(str(w / "list.txt"), "wflw", str(w / "imgs"))
    assert s[0].landmarks.shape == (98, 2) and np.allclose(s[0].landmarks, p98 + 0.5, atol=1e-3)
    # JD-106: picture/ + landmark/<name>.txt with a count line
    j = tmp_path / "jd"
    (j / "picture").mkdir(parents=True)
    (j / "landmark").mkdir()
    _img(j / "picture" / "f.jpg")
    p106 = np.stack([np.linspace(10, 90, 106), np.linspace(5, 75, 106)], 1)
    (j / "landmark" / "f.jpg.txt").write_text("106\n" + "\n".join(f"{x} {y}" for x, y in p106))
    s = D.read_dataset(str(j / "picture"), "jd106")
    assert s[0].landmarks.shape == (106, 2)
    # non-pre-cropped images are pre-cropped into the cache with consistent landmarks
    ds = D.CachedSet(s, cache_size=64)
    c, side = G.crop_params(ds.landmarks[0], 2.0)
    assert np.allclose(c, 32, atol=1e-6) and side == pytest.approx(64)


def test_augmented_batch(faces):
    ds = D.CachedSet(faces)
    x, t = D.make_batch(ds, [0, 1, 2, 3, 0, 1, 2, 3], 64, G.CROP_K, D.MIRROR_PERMS[68], D.AugConfig(),
                        np.random.default_rng(0))
    assert x.shape == (8, 3, 64, 64) and t.shape == (8, 68, 2)
    assert torch.isfinite(x).all() and (t > -0.2).all() and (t < 1.2).all()
