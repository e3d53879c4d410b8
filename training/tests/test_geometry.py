import numpy as np
import torch

from lotr_train import geometry as G


def test_identity_warp_is_exact():
    img = torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8)
    A = G.crop_matrix(np.array([8.0, 8.0]), 16.0)
    out = G.warp_batch(img, torch.from_numpy(A)[None], 16)
    assert torch.allclose(out, img.float(), atol=1e-3)


def test_pixel_centre_convention():
    # a single bright pixel at column 5, row 9 of a 20x20 image; a 2x-downscaled crop of
    # the full image puts its centre (5.5, 9.5) at u = 5.5/20, v = 9.5/20
    img = torch.zeros(1, 1, 20, 20)
    img[0, 0, 9, 5] = 1
    A = G.crop_matrix(np.array([10.0, 10.0]), 20.0)
    uv = G.source_to_crop(np.array([[5.5, 9.5]]), A)
    assert np.allclose(uv, [[5.5 / 20, 9.5 / 20]])
    out = G.warp_batch(img, torch.from_numpy(A)[None], 40)
    ys, xs = np.nonzero(out[0, 0].numpy() == out[0, 0].max().item())
    # 40x40 output: pixel centres (j + 0.5) / 40 nearest to u = 0.275 are j = 10, 11
    assert set(xs.tolist()) <= {10, 11} and set(ys.tolist()) <= {18, 19}


def test_roundtrip_rotated_flipped():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 300, (10, 2))
    A = G.crop_matrix(np.array([150.0, 140.0]), 210.0, 0.3, flip=True)
    assert np.allclose(G.crop_to_source(G.source_to_crop(pts, A), A), pts)
