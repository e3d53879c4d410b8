"""NME, AUC, failure rate and the CED curve (as reported in the LOTR paper).

NME per image = mean over landmarks of ||pred - gt||_2 / d, with d either the
inter-ocular distance (outer eye corners; 68 points: 36 and 45, 98 points: 60 and 72) or
sqrt(w * h) of the ground-truth landmark box. AUC@T = area under the CED curve
(fraction of images with NME <= e, e in [0, T]) divided by T. Failure rate@T = fraction of
images with NME > T. Metrics are scale-invariant, so they are computed in normalised crop
coordinates.
"""
from __future__ import annotations

import numpy as np

from .data import OUTER_EYE


def norm_distance(gt: np.ndarray, kind: str = "inter_ocular") -> np.ndarray:
    """gt: M x N x 2 -> M normalising distances."""
    gt = np.asarray(gt, dtype=np.float64)
    if kind == "inter_ocular":
        n = gt.shape[1]
        if n not in OUTER_EYE:
            raise ValueError(f"no outer-eye indices for {n} points; use kind='box'")
        a, b = OUTER_EYE[n]
        return np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    if kind == "box":
        w = gt[..., 0].max(1) - gt[..., 0].min(1)
        h = gt[..., 1].max(1) - gt[..., 1].min(1)
        return np.sqrt(w * h)
    raise ValueError(kind)


def nme(pred: np.ndarray, gt: np.ndarray, kind: str = "inter_ocular") -> np.ndarray:
    """Per-image NME (M,)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    return err / norm_distance(gt, kind)


def ced(errors: np.ndarray, thr: float, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(0, thr, steps + 1)
    e = np.sort(np.asarray(errors))
    ys = np.searchsorted(e, xs, side="right") / len(e)
    return xs, ys


def auc(errors: np.ndarray, thr: float = 0.08, steps: int = 10000) -> float:
    xs, ys = ced(errors, thr, steps)
    return float(np.trapezoid(ys, xs) / thr) if hasattr(np, "trapezoid") else float(np.trapz(ys, xs) / thr)


def failure_rate(errors: np.ndarray, thr: float = 0.08) -> float:
    return float((np.asarray(errors) > thr).mean())


def summary(pred: np.ndarray, gt: np.ndarray) -> dict:
    out = {"count": int(len(gt))}
    kinds = ["inter_ocular", "box"] if np.asarray(gt).shape[1] in OUTER_EYE else ["box"]
    for kind in kinds:
        e = nme(pred, gt, kind)
        out[f"nme_{kind}"] = float(e.mean())
        for t in (0.08, 0.10):
            out[f"auc{int(t * 100):02d}_{kind}"] = auc(e, t)
            out[f"fr{int(t * 100):02d}_{kind}"] = failure_rate(e, t)
    return out


def plot_ced(errors_by_name: dict[str, np.ndarray], path: str, thr: float = 0.10,
             xlabel: str = "NME (inter-ocular)") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for name, e in errors_by_name.items():
        xs, ys = ced(e, thr)
        ax.plot(xs, ys, label=f"{name} (NME {np.mean(e) * 100:.2f}%, AUC@{thr:.2f} {auc(e, thr) * 100:.1f}%)")
    ax.set_xlim(0, thr)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
