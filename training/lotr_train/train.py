"""Train a LOTR model.

  python -m lotr_train.train --config configs/lotr-m-68.json [--seed 0] [--out DIR]
         [--resume DIR/last.pt] [--time-budget-min 85] [--epochs E] [--loss smooth_wing]

Runs on a CUDA GPU when present, otherwise CPU. The LR schedule (linear warm-up then
cosine to 0) follows progress = max(step / total_steps, elapsed / time_budget), so a run
under a wall-clock budget still anneals fully and stops on time. An EMA of the weights
is validated every epoch; the best one by validation NME (inter-ocular, or box for layouts
without eye indices) is kept as best.pt; last.pt allows --resume.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

from . import data as D
from . import metrics
from .config import MEAN, STD, TrainConfig
from .geometry import CROP_RULE
from .inference import Predictor, predict
from .losses import LandmarkLoss
from .model import build_model


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EMA:
    def __init__(self, model, decay):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model, step):
        d = min(self.decay, (1 + step) / (10 + step))
        msd = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def param_groups(model, wd, backbone_lr_mult=1.0):
    """AdamW groups: weight decay except on norms, biases, queries and anchors; the
    backbone's groups carry lr_mult (a pretrained backbone learns slower than the rest)."""
    groups = {}
    for n, p in model.named_parameters():
        nd = p.ndim <= 1 or n.endswith(("query_embed", "anchor"))
        mult = backbone_lr_mult if n.startswith("backbone.") else 1.0
        g = groups.setdefault((nd, mult), {"params": [], "weight_decay": 0.0 if nd else wd, "lr_mult": mult})
        g["params"].append(p)
    return list(groups.values())


def freeze_bn(module) -> None:
    """Keep every BatchNorm of `module` in eval mode (fixed statistics; the affine weight
    and bias still train), as DETR does with its pretrained backbone."""
    import torch.nn as nn
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def lr_at(progress: float, base: float, warm_frac: float) -> float:
    if progress < warm_frac:
        return base * max(progress / warm_frac, 0.02)
    p = (progress - warm_frac) / max(1e-9, 1 - warm_frac)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def restore(path: str, model, ema, opt, device):
    """Loads a checkpoint written by `checkpoint` into model, EMA and optimiser; returns
    (start_epoch, step, elapsed, best, pretrained_info) to go on from."""
    ck = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    ema.model.load_state_dict(ck["ema"])
    opt.load_state_dict(ck["optimizer"])
    print(f"resumed from {path} at epoch {ck['epoch'] + 1}", flush=True)
    return ck["epoch"] + 1, ck["step"], ck["elapsed"], ck["best"], ck.get("pretrained")


def load_data(cfg: TrainConfig, base_dir: str, limit: int = 0, progress=True):
    path = cfg.data if os.path.isabs(cfg.data) else os.path.join(base_dir, cfg.data)
    samples = D.read_dataset(path, cfg.data_format)
    split = cfg.val_split if os.path.isabs(cfg.val_split) else os.path.join(base_dir, cfg.val_split)
    if os.path.exists(split):
        with open(split) as f:
            val_names = [l.strip() for l in f if l.strip()]
    else:
        val_names = D.make_split(samples, 0.1, 0)
        os.makedirs(os.path.dirname(split) or ".", exist_ok=True)
        with open(split, "w") as f:
            f.write("\n".join(val_names) + "\n")
        print(f"wrote validation split {split} ({len(val_names)} images)")
    tr, va = D.apply_split(samples, val_names)
    if limit:
        tr, va = tr[:limit], va[: max(4, limit // 4)]
    return D.CachedSet(tr, progress=progress), D.CachedSet(va, progress=progress), path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--out")
    ap.add_argument("--resume")
    ap.add_argument("--time-budget-min", type=float)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--loss", choices=["l1", "l2", "wing", "smooth_wing"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training images (debug)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    cfg = TrainConfig.from_file(a.config)
    for k in ("seed", "out", "time_budget_min", "epochs", "batch_size", "loss", "threads"):
        v = getattr(a, k)
        if v is not None:
            setattr(cfg, k, v)
    base_dir = os.path.dirname(os.path.dirname(os.path.abspath(a.config)))  # training/
    out = cfg.out if os.path.isabs(cfg.out) else os.path.join(base_dir, cfg.out)
    os.makedirs(out, exist_ok=True)
    device = torch.device("cuda" if (a.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if a.device == "auto" else a.device))
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    seed_all(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    t0 = time.time()
    train_ds, val_ds, data_path = load_data(cfg, base_dir, a.limit, not a.no_progress)
    n = train_ds.num_landmarks
    mean_shape = train_ds.mean_shape(cfg.crop_k)
    perm = D.mirror_perm(n, mean_shape)
    print(f"data: {len(train_ds)} train / {len(val_ds)} val, N={n}, cached in {time.time() - t0:.1f}s", flush=True)

    mcfg = cfg.model_config(n)
    model = build_model(mcfg)
    model.set_mean_shape(torch.from_numpy(mean_shape))
    pretrained_info = None
    if cfg.pretrained_backbone and not a.resume:
        from .pretrained import load_mobilenet_v2
        src = cfg.pretrained_backbone
        src = src if os.path.isabs(src) else os.path.join(base_dir, src)
        if mcfg.backbone != "mobilenetv2" or mcfg.backbone_padding != "tf":
            raise SystemExit("pretrained_backbone needs backbone mobilenetv2 with backbone_padding \"tf\"")
        pretrained_info = load_mobilenet_v2(model.backbone, src)
        pretrained_info["file"] = os.path.basename(src)
        print(f"backbone: ImageNet weights from {src} ({pretrained_info})", flush=True)
    mf = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = model.to(device, memory_format=mf)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.backbone_lr_mult), lr=cfg.lr)
    ema = EMA(model, cfg.ema_decay)
    crit = LandmarkLoss(cfg.loss, cfg.loss_scale, cfg.wing_w, cfg.wing_eps, cfg.wing_t)
    aug = D.AugConfig.from_train_config(cfg)
    steps_per_epoch = len(train_ds) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    warm_frac = cfg.warmup_epochs / cfg.epochs
    budget_s = cfg.time_budget_min * 60

    start_epoch, step, elapsed, best = 0, 0, 0.0, float("inf")
    if a.resume:
        start_epoch, step, elapsed, best, pretrained_info = restore(a.resume, model, ema, opt, device)
        rng = np.random.default_rng(cfg.seed + 1000 * start_epoch)
        torch.manual_seed(cfg.seed + 1000 * start_epoch)

    with open(os.path.join(out, "train_config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=1)
    logf = open(os.path.join(out, "log.jsonl"), "a")
    norm_kind = "inter_ocular" if n in D.OUTER_EYE else "box"

    def checkpoint(epoch, path, val):
        torch.save({
            "model": model.state_dict(), "ema": ema.model.state_dict(), "optimizer": opt.state_dict(),
            "epoch": epoch, "step": step, "elapsed": elapsed, "best": best, "val": val,
            "model_config": mcfg.to_dict(), "train_config": dataclasses.asdict(cfg),
            "mirror_perm": perm, "mean_shape": mean_shape.tolist(), "crop_k": cfg.crop_k,
            "crop_rule": dict(CROP_RULE, k=cfg.crop_k), "mean": MEAN, "std": STD,
            "data": data_path, "num_train": len(train_ds), "num_val": len(val_ds),
            "pretrained": pretrained_info,
        }, path + ".tmp")
        os.replace(path + ".tmp", path)

    progress = 0.0
    epoch = start_epoch
    while epoch < cfg.epochs and progress < 1.0:
        model.train()
        if cfg.freeze_backbone_bn:
            freeze_bn(model.backbone)
        te = time.time()
        order = rng.permutation(len(train_ds))
        it = range(steps_per_epoch)
        if not a.no_progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"epoch {epoch}", mininterval=10, file=sys.stdout)
        losses = []
        for i in it:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].tolist()
            x, t = D.make_batch(train_ds, idx, mcfg.input_size, cfg.crop_k, perm, aug, rng)
            x, t = x.to(device, memory_format=mf), t.to(device)
            progress = max(step / total_steps, (elapsed + time.time() - te) / budget_s if budget_s else 0)
            lr = lr_at(progress, cfg.lr, warm_frac)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_mult", 1.0)
            outs = model(x, return_aux=True)
            if not cfg.aux_loss:
                outs = outs[-1:]
            loss = sum(crit(o, t) for o in outs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update(model, step)
            step += 1
            losses.append(loss.item())
            if hasattr(it, "set_postfix") and i % 5 == 0:
                it.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{lr:.2e}")
            if progress >= 1.0:
                break
        train_time = time.time() - te
        elapsed += train_time
        rec = {"epoch": epoch, "step": step, "loss": float(np.mean(losses)), "lr": lr,
               "epoch_time_s": round(train_time, 1), "elapsed_min": round(elapsed / 60, 2),
               "progress": round(progress, 4)}
        if (epoch + 1) % cfg.eval_every == 0 or progress >= 1.0 or epoch + 1 == cfg.epochs:
            tv = time.time()
            ema.model.eval()
            pe, ge = predict(Predictor.from_model(ema.model.cpu() if device.type != "cpu" else ema.model,
                                                  cfg.crop_k, perm), val_ds)
            ema.model.to(device)
            val = metrics.summary(pe, ge)
            rec.update({"val_nme": val[f"nme_{norm_kind}"], "val_auc08": val[f"auc08_{norm_kind}"],
                        "val_fr08": val[f"fr08_{norm_kind}"], "val_time_s": round(time.time() - tv, 1)})
            if val[f"nme_{norm_kind}"] < best:
                best = val[f"nme_{norm_kind}"]
                checkpoint(epoch, os.path.join(out, "best.pt"), val)
            rec["best_nme"] = best
        checkpoint(epoch, os.path.join(out, "last.pt"), rec)
        print(json.dumps(rec), flush=True)
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        epoch += 1
    print(f"done: best val NME {best:.5f}; checkpoints in {out}", flush=True)
    return best


if __name__ == "__main__":
    main()
