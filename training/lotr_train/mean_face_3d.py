"""The mean 3-D 68-point face, by rigid structure from motion on our own 2-D ground truth.

    cd training && ../.venv/bin/python -m lotr_train.mean_face_3d \\
        [--data ../../shared/data/300w-train] [--val splits/300w-val.txt] \\
        [--swift ../Sources/LOTRVision/MeanFace3D.swift] [--client ../clients/python/lotr_client.py]

Input: the 300-W training faces (landmarks.csv, iBUG 68 scheme) minus the validation faces
listed in splits/300w-val.txt. No third-party 3-D model is used.

Method (Tomasi and Kanade 1992, under scaled orthography; Morita and Kanade's metric upgrade):
1. Each face's points are centred on the centroid of points 17-67 and scaled to unit RMS
   radius; the 2F x 51 measurement matrix W of the F faces' points 17-67 has rank 3 for a
   rigid shape seen under scaled orthography (translation removed by the centring). The jaw
   outline (0-16) is left out of the factorisation (see FACTORISED) and placed at the end,
   by least squares given the cameras, so all 68 points come out.
2. Rank-3 SVD: W ~ M S (M 2F x 3 affine cameras, S 3 x 51 affine shape).
3. Metric upgrade: find L = Q Q^T (symmetric 3 x 3) with, for each face's camera rows a, b,
   a L a^T = b L b^T and a L b^T = 0 (orthogonal rows of equal norm): a homogeneous linear
   system in L's 6 entries, solved by its smallest singular vector; Q from L's eigen-
   decomposition; cameras M Q, shape Q^-1 S.
4. Refinement: alternating least squares on the same model (each face's scaled-orthographic
   camera s R given the shape, by Gauss-Newton from the nearest orthonormal rows to its
   affine camera, then the shape given the cameras by linear least squares), which the
   SVD's affine solution only approximates.
5. Robustness: the faces whose RMS residual is above the 90th percentile (strong
   expressions, annotation slips, the moving jaw outline of turned faces) are dropped and
   steps 1-4 are run again on the rest.
6. Frame: the mirror ambiguity of orthography (S and its reflection project alike) is
   resolved so that the nose tip (30) points towards the camera in most faces; x is the
   normal of the shape's mirror-symmetry plane (the mirror permutation of data.py), oriented
   from the subject's right eye (36-41, on the image's left) to the left eye (42-47); z is the
   training faces' mean viewing direction (away from the camera) made perpendicular to x,
   so pitch 0 is how the average training photograph sees a face; y = z x x (down). The
   shape is then symmetrised (averaged with its mirror image), its origin put at the centre
   of the eyes (mean of 36-47) and its unit set to the outer-eye-corner distance (36-45).

Output: Sources/LOTRVision/MeanFace3D.swift (68 x (x, y, z) Float literals) and the same
table between the `BEGIN/END generated mean face` marks of clients/python/lotr_client.py;
the residuals are printed. With --frontal-fixture CSV: the 20 most mirror-symmetric
validation faces for the head-pose tests (Tests/Fixtures/vision/frontal_faces.csv).
"""
from __future__ import annotations

import argparse
import csv
import os
from dataclasses import dataclass

import numpy as np

# The iBUG-68 mirror pairs (as in data.py, repeated here so this module needs no torch).
PAIRS_68 = ([(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
            + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
               (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)])
# The jaw outline is left out of the factorisation: on a turned face its far side is
# annotated on the silhouette, which slides over the face instead of turning with it; with it
# the fit explains turned faces by a deeper face turned less (nose tip depth 0.51 instead of
# 0.35, training yaws up to 36 instead of 54 degrees). Its points are placed afterwards.
FACTORISED = list(range(17, 68))
GROUPS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36),
          "eyes": range(36, 48), "mouth": range(48, 68)}


def mirror_perm_68() -> list[int]:
    p = list(range(68))
    for a, b in PAIRS_68:
        p[a], p[b] = b, a
    return p


# ---------------------------------------------------------------- data
def load_training_shapes(data_dir: str, val_list: str) -> tuple[list[str], np.ndarray]:
    """The 2-D ground truth of the training faces (F x 68 x 2, 0-based pixel positions)."""
    with open(val_list) as f:
        val = {line.strip() for line in f if line.strip()}
    names, shapes = [], []
    with open(os.path.join(data_dir, "landmarks.csv"), newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header[0] == "image" and header[1] == "subset" and len(header) == 2 + 136
        for row in r:
            if row[0] in val:
                continue
            names.append(row[0])
            shapes.append(np.array([float(x) for x in row[2:]]).reshape(68, 2))
    return names, np.stack(shapes)


def normalise(shapes: np.ndarray, points=None) -> np.ndarray:
    """Each shape centred on the centroid of `points` (default all) and scaled so that they
    have unit RMS radius."""
    sub = shapes if points is None else shapes[:, points]
    c = sub.mean(axis=1, keepdims=True)
    rms = np.sqrt(((sub - c) ** 2).sum(axis=2).mean(axis=1))
    return (shapes - c) / rms[:, None, None]


# ---------------------------------------------------------------- factorisation
def _sym_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Coefficients of L's (l00, l01, l02, l11, l12, l22) in u L v^T (rows of u, v)."""
    return np.stack([u[:, 0] * v[:, 0], u[:, 0] * v[:, 1] + u[:, 1] * v[:, 0],
                     u[:, 0] * v[:, 2] + u[:, 2] * v[:, 0], u[:, 1] * v[:, 1],
                     u[:, 1] * v[:, 2] + u[:, 2] * v[:, 1], u[:, 2] * v[:, 2]], axis=1)


def metric_upgrade(M: np.ndarray) -> np.ndarray:
    """Q (3 x 3) such that the rows 2f, 2f+1 of M Q are orthogonal and of equal norm."""
    a, b = M[0::2], M[1::2]
    A = np.concatenate([_sym_terms(a, a) - _sym_terms(b, b), _sym_terms(a, b)])
    l = np.linalg.svd(A)[2][-1]
    L = np.array([[l[0], l[1], l[2]], [l[1], l[3], l[4]], [l[2], l[4], l[5]]])
    if np.trace(L) < 0:
        L = -L
    e, V = np.linalg.eigh(L)
    e = np.maximum(e, 1e-9 * e.max())      # L is positive definite for consistent data
    return V * np.sqrt(e)


def _rodrigues(v: np.ndarray) -> np.ndarray:
    """F x 3 rotation vectors -> F x 3 x 3 rotation matrices."""
    th = np.linalg.norm(v, axis=1)[:, None, None]
    K = np.zeros((len(v), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    K = K - K.transpose(0, 2, 1)
    small = th < 1e-12
    a = np.where(small, 1.0, np.sin(th) / np.where(small, 1, th))
    b = np.where(small, 0.5, (1 - np.cos(th)) / np.where(small, 1, th ** 2))
    return np.eye(3) + a * K + b * K @ K


_GENERATORS = np.array([[[0, 0, 0], [0, 0, -1], [0, 1, 0]],
                        [[0, 0, 1], [0, 0, 0], [-1, 0, 0]],
                        [[0, -1, 0], [1, 0, 0], [0, 0, 0]]], dtype=np.float64)


def fit_cameras(w: np.ndarray, S: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Per face, the scaled-orthographic camera s R2 (R2: the first two rows of a rotation)
    that best maps the centred shape S (3 x P) to the centred 2-D points w (F x P x 2).
    With A the face's least-squares affine camera and G = S S^T = L L^T, the error is
    |(s R2 - A) L|^2 + const: started from the orthonormal rows nearest A, then Gauss-Newton
    on s and a rotation increment (no closed form: S S^T is not isotropic)."""
    G = S @ S.T
    L = np.linalg.cholesky(G)
    A = np.einsum("fpi,jp->fij", w, S) @ np.linalg.inv(G)          # F x 2 x 3
    U, sig, Vt = np.linalg.svd(A, full_matrices=False)
    R2 = U @ Vt
    R = np.concatenate([R2, np.cross(R2[:, 0], R2[:, 1])[:, None]], axis=1)
    s = sig.mean(axis=1)
    for _ in range(iterations):
        r = ((s[:, None, None] * R[:, :2] - A) @ L).reshape(len(w), 6)
        J = np.empty((len(w), 6, 4))
        for k in range(3):
            J[:, :, k] = (s[:, None, None] * (_GENERATORS[k] @ R)[:, :2] @ L).reshape(len(w), 6)
        J[:, :, 3] = (R[:, :2] @ L).reshape(len(w), 6)
        d = np.linalg.solve(J.transpose(0, 2, 1) @ J + 1e-12 * np.eye(4), -(J.transpose(0, 2, 1) @ r[:, :, None]))[:, :, 0]
        R = _rodrigues(d[:, :3]) @ R
        s = s + d[:, 3]
    return s[:, None, None] * R[:, :2]


def fit_shape(w: np.ndarray, C: np.ndarray) -> np.ndarray:
    """The shape S (3 x P) that best explains w (F x P x 2) given cameras C (F x 2 x 3)."""
    A = np.einsum("fki,fkj->ij", C, C)
    b = np.einsum("fki,fpk->ip", C, w)
    return np.linalg.solve(A, b)


def residuals(w: np.ndarray, S: np.ndarray, C: np.ndarray) -> np.ndarray:
    """F x P point residual lengths."""
    proj = np.einsum("fij,jp->fpi", C, S)
    return np.sqrt(((w - proj) ** 2).sum(axis=2))


def factorise(w: np.ndarray, refine: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Rigid factorisation of normalised shapes w (F x P x 2): shape S (3 x P) and cameras
    C (F x 2 x 3), up to a rotation and a reflection of the shape."""
    F, P, _ = w.shape
    W = w.transpose(0, 2, 1).reshape(2 * F, P)             # rows x_f, y_f
    U, sig, Vt = np.linalg.svd(W, full_matrices=False)
    r = np.sqrt(sig[:3])
    M, S = U[:, :3] * r, r[:, None] * Vt[:3]
    Q = metric_upgrade(M)
    S = np.linalg.solve(Q, S)
    C = fit_cameras(w, S)
    for _ in range(refine):
        S = fit_shape(w, C)
        S -= S.mean(axis=1, keepdims=True)
        C = fit_cameras(w, S)
    return S, C


def face_rms(w: np.ndarray, S: np.ndarray, C: np.ndarray, scale=1.0) -> np.ndarray:
    """Per face, the RMS point residual divided by `scale` (per face or one number)."""
    return np.sqrt((residuals(w, S, C) ** 2).mean(axis=1)) / scale


def robust_factorise(w: np.ndarray, points=None, drop: float = 0.10) -> dict:
    """Two passes: all faces, then without the worst-fitting `drop` fraction. The cameras
    come from the factorisation of `points` (default all; w must be centred on them); the
    other points are then placed by least squares given the kept faces' cameras."""
    P = w.shape[1]
    points = list(range(P)) if points is None else list(points)
    ws = w[:, points]
    scale = np.linalg.norm(w[:, 36] - w[:, 45], axis=1) if P == 68 else 1.0
    S0, C0 = factorise(ws)
    e0 = face_rms(ws, S0, C0, scale)
    keep = e0 <= np.quantile(e0, 1 - drop)
    Ss, _ = factorise(ws[keep])
    C = fit_cameras(ws, Ss)
    S = fit_shape(w[keep], C[keep])
    S[:, points] = Ss
    return {"shape": S, "cameras": C, "keep": keep, "points": points, "first_pass_rms": e0,
            "rms": face_rms(ws, Ss, C, scale), "rms_all": face_rms(w, S, C, scale)}


# ---------------------------------------------------------------- frame
def rotations(C: np.ndarray) -> np.ndarray:
    """F x 3 x 3: the camera rows of C normalised, completed by their cross product (the
    camera's z axis, away from it, in shape coordinates)."""
    r1 = C[:, 0] / np.linalg.norm(C[:, 0], axis=1, keepdims=True)
    r2 = C[:, 1] / np.linalg.norm(C[:, 1], axis=1, keepdims=True)
    return np.stack([r1, r2, np.cross(r1, r2)], axis=1)


def symmetry_normal(S: np.ndarray, perm: list[int]) -> np.ndarray:
    """Unit normal of the plane that best maps S (3 x P, centred) onto its mirror-permuted
    self: the proper rotation R aligning diag(-1,1,1) S[:, perm] to S gives the improper
    orthogonal map H = R diag(-1,1,1), ideally a reflection I - 2 n n^T."""
    D = np.diag([-1.0, 1.0, 1.0])
    Y = D @ S[:, perm]
    U, _, Vt = np.linalg.svd(S @ Y.T)
    d = np.sign(np.linalg.det(U @ Vt))
    R = U @ np.diag([1, 1, d]) @ Vt
    H = R @ D
    e, V = np.linalg.eigh((H + H.T) / 2)
    return V[:, 0]


def orient(S: np.ndarray, C: np.ndarray, keep: np.ndarray | None = None) -> dict:
    """Put S (3 x 68) into the face frame of the module docstring; returns the symmetrised,
    scaled shape and the figures that describe the frame."""
    perm = mirror_perm_68()
    S = S - S.mean(axis=1, keepdims=True)
    Rf = rotations(C)
    # The mirror ambiguity: the nose tip towards the camera (negative camera z) in most faces.
    nose_depth = Rf[:, 2] @ S[:, 30]
    flipped = np.median(nose_depth) > 0
    if flipped:
        S = np.diag([1.0, 1.0, -1.0]) @ S
        C = C @ np.diag([1.0, 1.0, -1.0])
        Rf = rotations(C)
    x = symmetry_normal(S, perm)
    eye_r, eye_l = S[:, 36:42].mean(axis=1), S[:, 42:48].mean(axis=1)
    if x @ (eye_l - eye_r) < 0:
        x = -x
    sel = np.ones(len(C), bool) if keep is None else keep
    v = Rf[sel, 2].mean(axis=0)
    z = v - (v @ x) * x
    z /= np.linalg.norm(z)
    y = np.cross(z, x)
    B = np.stack([x, y, z])
    X = B @ S
    D = np.diag([-1.0, 1.0, 1.0])
    iod = np.linalg.norm(X[:, 36] - X[:, 45])
    asym = np.sqrt(((X - D @ X[:, perm]) ** 2).sum(axis=0).mean()) / iod / 2
    X = (X + D @ X[:, perm]) / 2
    X -= X[:, 36:48].mean(axis=1, keepdims=True)
    X /= np.linalg.norm(X[:, 36] - X[:, 45])
    # Per-face yaw and pitch of the camera's view of the face in this frame (camera rows in
    # face coordinates: R_face->camera = Rf B^T).
    Rc = Rf @ B.T
    fwd = -Rc[:, :, 2]                                     # the face's -z (nose) in camera coords
    yaw = np.degrees(np.arctan2(fwd[:, 0], -fwd[:, 2]))
    pitch = np.degrees(np.arcsin(np.clip(fwd[:, 1], -1, 1)))
    return {"shape": X, "rotations": Rc, "flipped": bool(flipped), "asymmetry": float(asym), "yaw": yaw, "pitch": pitch,
            "nose_towards_camera": float(np.mean(nose_depth * (-1 if flipped else 1) < 0))}


# ---------------------------------------------------------------- frontal fixture
def asymmetry_2d(shape: np.ndarray) -> float:
    """How far a 2-D 68-point shape is from mirror-symmetric: the RMS distance between it and
    its mirror image (x negated, points permuted) after the best similarity alignment, in
    outer-eye-corner distances. Near 0 only for a face seen from the front (yaw 0); says
    nothing of pitch."""
    a = shape - shape.mean(axis=0)
    b = a[mirror_perm_68()] * [-1.0, 1.0]
    za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    s = (np.conj(zb) @ za) / (np.conj(zb) @ zb)          # complex: rotation and scale
    return float(np.sqrt((np.abs(za - s * zb) ** 2).mean()) / np.linalg.norm(a[36] - a[45]))


def write_frontal_fixture(data_dir: str, val_list: str, path: str, count: int = 20) -> None:
    """The `count` validation faces with the most mirror-symmetric ground truth, as
    image,width,height,x0,y0,...: continuous pixel coordinates (0-based + 0.5) in the
    320 x 320 crops of the data set."""
    with open(val_list) as f:
        val = {line.strip() for line in f if line.strip()}
    rows = []
    with open(os.path.join(data_dir, "landmarks.csv"), newline="") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            if row[0] in val:
                pts = np.array([float(x) for x in row[2:]]).reshape(68, 2) + 0.5
                rows.append((asymmetry_2d(pts), row[0], pts))
    rows.sort(key=lambda t: t[0])
    with open(path, "w") as f:
        f.write("image,width,height," + ",".join("x%d,y%d" % (i, i) for i in range(68)) + "\n")
        for asym, name, pts in rows[:count]:
            f.write("%s,320,320,%s\n" % (name, ",".join("%.2f" % v for v in pts.ravel())))
    print("wrote %s: %d of %d validation faces, 2-D asymmetry %.4f-%.4f outer-eye distances"
          % (path, count, len(rows), rows[0][0], rows[count - 1][0]))


# ---------------------------------------------------------------- output
def swift_source(X: np.ndarray, command: str, data: str, faces: int, used: int, rms: float, rms_all: float) -> str:
    X = X + 0.0                                            # no -0.0 in the table
    rows = "\n".join("    SIMD3<Float>(%9.6f, %9.6f, %9.6f),  // %d" % (X[0, i], X[1, i], X[2, i], i)
                     for i in range(68))
    return f"""// Generated by `{command}` (training/lotr_train/mean_face_3d.py): do not edit.
// From the 2-D ground truth of {data} ({faces} training faces, the validation faces of
// training/splits/300w-val.txt left out; {used} kept after dropping the worst-fitting 10 %)
// by rigid structure from motion under scaled orthography (Tomasi-Kanade factorisation of
// points 17-67, metric upgrade, alternating refinement; the jaw outline 0-16 placed given the
// cameras). RMS residual of the kept faces, in outer-eye-corner distances: {rms:.4f} over
// points 17-67, {rms_all:.4f} over all 68. No third-party 3-D model was used.
//
// Frame: x from the subject's right eye (36-41, image left) to the left eye, y down, z away
// from the camera (the nose tip, 30, has negative z); x is the normal of the mirror-symmetry
// plane (the shape is symmetrised), z the training photographs' mean viewing direction, so
// yaw, pitch and roll 0 is how an average 300-W photograph sees a face. Origin: the centre
// of the eyes (mean of 36-47). Unit: the outer-eye-corner distance |p36 - p45| = 1.

/// The mean 3-D face in the iBUG 68-point scheme (see the header for its frame and units).
public enum MeanFace3D {{
  public static let points: [SIMD3<Float>] = [
{rows}
  ]
}}
"""


def python_block(X: np.ndarray, command: str) -> str:
    lines = [f"# BEGIN generated mean face: `{command}` (training/lotr_train/mean_face_3d.py);",
             "# the same table as Sources/LOTRVision/MeanFace3D.swift (its header says how it was made).",
             "MEAN_FACE_3D = ("]
    for i in range(0, 68, 3):
        lines.append("    " + " ".join("(%.6f, %.6f, %.6f)," % tuple(X[:, j]) for j in range(i, min(i + 3, 68))))
    lines.append(")")
    lines.append("# END generated mean face")
    return "\n".join(lines) + "\n"


def replace_block(path: str, block: str) -> None:
    with open(path) as f:
        text = f.read()
    begin, end = text.index("# BEGIN generated mean face"), text.index("# END generated mean face")
    end = text.index("\n", end) + 1
    with open(path, "w") as f:
        f.write(text[:begin] + block + text[end:])


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.normpath(os.path.join(repo, "..", "shared", "data", "300w-train")))
    ap.add_argument("--val", default=os.path.join(repo, "training", "splits", "300w-val.txt"))
    ap.add_argument("--swift", default=os.path.join(repo, "Sources", "LOTRVision", "MeanFace3D.swift"))
    ap.add_argument("--client", default=os.path.join(repo, "clients", "python", "lotr_client.py"))
    ap.add_argument("--dry-run", action="store_true", help="print the residuals only")
    ap.add_argument("--frontal-fixture", metavar="CSV", help="instead: write the most mirror-symmetric "
                    "validation faces (Tests/Fixtures/vision/frontal_faces.csv)")
    args = ap.parse_args(argv)
    if args.frontal_fixture:
        write_frontal_fixture(args.data, args.val, args.frontal_fixture)
        return
    names, shapes = load_training_shapes(args.data, args.val)
    w = normalise(shapes, FACTORISED)
    fit = robust_factorise(w, FACTORISED)
    S, C, keep = fit["shape"], fit["cameras"], fit["keep"]
    o = orient(S, C, keep)
    X = o["shape"]
    pr = lambda e: "median %.4f  mean %.4f  90th pct %.4f" % (np.median(e), e.mean(), np.quantile(e, 0.9))
    nval = sum(1 for line in open(args.val) if line.strip())
    print("faces: %d training (%d validation faces left out), %d kept in the second pass"
          % (len(w), nval, keep.sum()))
    print("per-face RMS residual / outer-eye distance, points 17-67 (factorised):")
    print("  first pass, all faces:   " + pr(fit["first_pass_rms"]))
    print("  second pass, all faces:  " + pr(fit["rms"]))
    print("  second pass, kept faces: " + pr(fit["rms"][keep]))
    print("  all 68 (the jaw placed given the cameras), kept faces: " + pr(fit["rms_all"][keep]))
    iod = np.linalg.norm(w[:, 36] - w[:, 45], axis=1)
    res = residuals(w, S, C) / iod[:, None]
    print("per group (kept faces, RMS over faces and points): " + "  ".join(
        "%s %.4f" % (g, np.sqrt((res[keep][:, list(r)] ** 2).mean())) for g, r in GROUPS.items()))
    print("mirror: %s; nose tip towards the camera in %.1f %% of the faces" %
          ("reflected" if o["flipped"] else "as factorised", 100 * o["nose_towards_camera"]))
    print("asymmetry before symmetrising (RMS |p - mirror(p)| / 2, outer-eye units): %.4f" % o["asymmetry"])
    yk, pk = o["yaw"][keep], o["pitch"][keep]
    print("training faces in this frame: yaw mean %+.1f sd %.1f (|yaw| max %.0f); pitch mean %+.1f sd %.1f deg"
          % (yk.mean(), yk.std(), np.abs(o["yaw"]).max(), pk.mean(), pk.std()))
    d = X[:, 8] - X[:, 27]
    print("nose tip depth (z of 30 minus the eyes' centre): %.3f; nasion 27 -> chin 8 line leans %.1f deg "
          "from y (+ = chin towards the camera)" % (X[2, 30], np.degrees(np.arctan2(-d[2], d[1]))))
    if args.dry_run:
        return
    command = "python -m lotr_train.mean_face_3d"
    data = "shared/data/300w-train"
    with open(args.swift, "w") as f:
        f.write(swift_source(X, command, data, len(w), int(keep.sum()),
                             float(np.sqrt((fit["rms"][keep] ** 2).mean())), float(np.sqrt((fit["rms_all"][keep] ** 2).mean()))))
    print("wrote", args.swift)
    if args.client and os.path.exists(args.client):
        replace_block(args.client, python_block(X, command))
        print("wrote the table in", args.client)


if __name__ == "__main__":
    main()
