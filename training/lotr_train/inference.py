"""Prediction on cached data sets with a PyTorch model or an ONNX file (shared by training
validation, evaluate and export)."""
from __future__ import annotations

import json
from typing import Callable

import numpy as np
import torch

from . import data as D
from .config import ModelConfig
from .model import LOTR, build_model


def load_checkpoint(path: str, map_location="cpu") -> tuple[LOTR, dict]:
    ck = torch.load(path, map_location=map_location, weights_only=False)
    cfg = ModelConfig.from_dict(ck["model_config"])
    model = build_model(cfg)
    model.load_state_dict(ck["ema"] if ck.get("ema") is not None else ck["model"])
    model.eval()
    return model, ck


class Predictor:
    """Callable: normalised B x 3 x H x W float tensor -> B x N x 2 numpy."""

    def __init__(self, fn: Callable, input_size: int, crop_k: float, perm: list[int] | None,
                 meta: dict):
        self.fn, self.input_size, self.crop_k, self.perm, self.meta = fn, input_size, crop_k, perm, meta

    @staticmethod
    def from_path(path: str) -> "Predictor":
        if path.endswith(".onnx"):
            import onnx
            import onnxruntime as ort
            m = onnx.load(path, load_external_data=False)
            meta = {p.key: p.value for p in m.metadata_props}
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            iname = sess.get_inputs()[0].name

            def fn(x):
                return np.concatenate([sess.run(None, {iname: x[i:i + 1].numpy()})[0]
                                       for i in range(len(x))])
            crop = json.loads(meta["crop_rule"])
            perm = json.loads(meta["mirror_permutation"])
            return Predictor(fn, int(meta["input_size"]), float(crop["k"]), perm, meta)
        model, ck = load_checkpoint(path)
        return Predictor.from_model(model, ck.get("crop_k", 1.3), ck.get("mirror_perm"), ck)

    @staticmethod
    def from_model(model: LOTR, crop_k: float, perm, meta=None) -> "Predictor":
        @torch.no_grad()
        def fn(x):
            return model(x).numpy()
        return Predictor(fn, model.cfg.input_size, crop_k, perm, meta or {})


def predict(pred: Predictor, ds: D.CachedSet, flip_tta: bool = False, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and ground truth (M x N x 2, normalised crop coordinates under the
    un-jittered crop rule). flip_tta averages with the mirrored input."""
    preds, gts = [], []
    for s in range(0, len(ds), batch):
        idx = list(range(s, min(len(ds), s + batch)))
        x, t = D.make_batch(ds, idx, pred.input_size, pred.crop_k, pred.perm, None)
        p = pred.fn(x)
        if flip_tta:
            xf, _ = D.make_batch(ds, idx, pred.input_size, pred.crop_k, pred.perm, None, flip_all=True)
            pf = pred.fn(xf)[:, pred.perm]
            pf[..., 0] = 1 - pf[..., 0]
            p = (p + pf) / 2
        preds.append(np.asarray(p))
        gts.append(t.numpy())
    return np.concatenate(preds), np.concatenate(gts)
