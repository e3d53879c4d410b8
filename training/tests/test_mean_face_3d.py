"""The rigid factorisation of mean_face_3d.py on synthetic data (no ../shared needed): a random
rigid 3-D shape seen under known random rotations, scales and shifts with noise is recovered
up to a similarity (and the reflection orthography cannot tell apart)."""
import numpy as np

from lotr_train import mean_face_3d as M


def rotation(yaw, pitch, roll):
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return Ry @ Rx @ Rz


def views(X, n, rng, noise):
    """n scaled-orthographic images (n x P x 2) of X (3 x P) and their angles (n x 3: the
    arguments of rotation())."""
    angles = rng.uniform([-1.0, -0.6, -0.6], [1.0, 0.6, 0.6], (n, 3))
    imgs = np.stack([rng.uniform(50, 150) * (rotation(*a) @ X)[:2].T + rng.uniform(0, 300, 2) for a in angles])
    return imgs + rng.normal(0, noise, imgs.shape), angles


def similarity_error(A, B):
    """RMS distance between A and the best similarity (reflections allowed) image of B, both
    3 x P, relative to A's RMS radius."""
    A = A - A.mean(axis=1, keepdims=True)
    B = B - B.mean(axis=1, keepdims=True)
    U, sig, Vt = np.linalg.svd(A @ B.T)
    R = U @ Vt
    s = sig.sum() / (B ** 2).sum()
    return np.sqrt(((A - s * R @ B) ** 2).sum(axis=0).mean()) / np.sqrt((A ** 2).sum(axis=0).mean())


def test_factorisation_recovers_a_random_shape():
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (3, 40)) * np.array([[1.0], [1.2], [0.6]])
    imgs, Rs = views(X, 200, rng, noise=0.5)
    S, C = M.factorise(M.normalise(imgs))
    assert similarity_error(X, S) < 0.01
    # the cameras: orthogonal rows of equal norm, and the true rotations up to one fixed
    # rotation (and reflection) of the frame
    n = np.linalg.norm(C, axis=2)
    assert np.allclose(n[:, 0], n[:, 1], rtol=1e-6)
    assert np.abs(np.einsum("fi,fi->f", C[:, 0], C[:, 1])).max() < 1e-6 * n.max() ** 2


def test_second_pass_drops_corrupted_faces():
    rng = np.random.default_rng(2)
    X = rng.normal(0, 1, (3, 30))
    imgs, _ = views(X, 150, rng, noise=0.3)
    bad = rng.choice(150, 10, replace=False)
    imgs[bad] += rng.normal(0, 30, (10, 30, 2))        # 10 faces with gross annotation errors
    fit = M.robust_factorise(M.normalise(imgs))
    assert not fit["keep"][bad].any()
    assert similarity_error(X, fit["shape"]) < 0.01
    S1, _ = M.factorise(M.normalise(imgs))
    assert similarity_error(X, S1) > similarity_error(X, fit["shape"])


def test_orient_fixes_mirror_axes_and_units(mean_shape_300):
    # A symmetric 68-point face: the committed mean 2-D shape, symmetrised, with a depth
    # profile (nose tip in front, the jaw's sides behind), seen from random directions
    # around the frontal one; the factorisation comes back in an arbitrary frame, possibly
    # reflected, and orient() must put it into the documented one.
    rng = np.random.default_rng(3)
    perm = M.mirror_perm_68()
    xy = mean_shape_300 - mean_shape_300.mean(axis=0)
    xy = (xy + xy[perm] * [-1, 1]) / 2
    z = 0.6 * (xy[:, 0] / np.abs(xy[:, 0]).max()) ** 2
    z[27:36] -= [0.05, 0.12, 0.2, 0.4, 0.15, 0.2, 0.25, 0.2, 0.15]   # nose bridge, tip, base
    X = np.stack([xy[:, 0], xy[:, 1], z])
    imgs, angles = views(X, 200, rng, noise=0.002)
    fit = M.robust_factorise(M.normalise(imgs))
    o = M.orient(fit["shape"], fit["cameras"])
    Y = o["shape"]
    want = X - X[:, 36:48].mean(axis=1, keepdims=True)
    want /= np.linalg.norm(want[:, 36] - want[:, 45])
    assert np.abs(np.linalg.norm(Y[:, 36] - Y[:, 45]) - 1) < 1e-9
    assert Y[0, 45] > Y[0, 36] and Y[2, 30] < 0 and Y[1, 8] > 0
    assert np.allclose(Y[0], -Y[0, perm])               # symmetrised about x = 0
    # the frame's pitch comes from the mean viewing direction, so it may differ from the
    # synthetic frame by a small rotation about x
    assert similarity_error(want, Y) < 0.005
    # each view's rotation, up to the frame's offset from the synthetic one: a constant
    # rotation about x (the frame's pitch 0 is the mean viewing direction)
    offsets = np.stack([Rc.T @ rotation(*a) for Rc, a in zip(o["rotations"], angles)])
    B = offsets.mean(axis=0)
    U, _, Vt = np.linalg.svd(B)
    B = U @ Vt
    spread = np.degrees(np.arccos(np.clip((np.einsum("fij,ij->f", offsets, B) - 1) / 2, -1, 1)))
    assert spread.max() < 0.5
    assert abs(B[0, 0] - 1) < 1e-4 and np.degrees(np.arccos(B[1, 1])) < 3
