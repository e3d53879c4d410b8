"""Train a LOTR model from a GPU bundle (bundle.py) with the augmentation on the device.

  python -m lotr_train.train_gpu --bundle DIR --out OUT [--budget-sec 480] [--epochs E]
         [--seed S] [--device auto|cuda|cpu] [--checkpoint-dir DIR] [--resume last.pt]

Reads only the bundle (no ../shared). The recipe is train.py's, from the bundle's config:
the same model, pretrained backbone, AdamW groups (backbone LR multiplier, no decay on
norms/biases/queries/anchors), warm-up + cosine schedule on progress = max(step / total
steps, elapsed / budget), gradient clipping 1.0, EMA, auxiliary decoder losses, best EMA
checkpoint by validation NME every eval_every epochs. What differs is where the work runs:
all faces are decoded once into device memory as uint8, each batch is augmented there by
device_aug.py (data.py's augmentation as batched tensor ops), and on CUDA the forward and
backward run under bf16 autocast. The wall budget (--budget-sec, BUDGET_SEC in
train_gpu.sh) replaces the config's time_budget_min.

After training, the best EMA checkpoint is exported to ONNX (export.py, checked against
PyTorch) and evaluated on the bundle's validation faces (ONNX Runtime, evaluate.py's
metrics). OUT receives what a device session brings back (at most 8 files, 16 MiB each):
best.pt (EMA weights and metadata, no optimizer state), NAME.onnx, NAME.metrics.json,
NAME.ced.png, log.jsonl, train_config.json, summary.json; the resumable last.pt goes to
--checkpoint-dir.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from . import data as D
from . import device_aug as A
from . import metrics
from .config import MEAN, STD, TrainConfig
from .geometry import CROP_RULE
from .losses import LandmarkLoss
from .model import build_model
from .train import EMA, freeze_bn, lr_at, param_groups, restore, seed_all

DEFAULT_BUDGET_SEC = 480


class ForeachEMA(EMA):
    """train.EMA with the update as two fused multi-tensor ops (one lerp over every float
    tensor of the state dict) instead of one small kernel per tensor."""

    def __init__(self, model, decay):
        super().__init__(model, decay)
        msd, esd = model.state_dict(), self.model.state_dict()
        keys = [k for k, v in esd.items() if v.dtype.is_floating_point]
        self._ema_f = [esd[k] for k in keys]
        self._model_f = [msd[k] for k in keys]
        self._ema_other = [v for k, v in esd.items() if not v.dtype.is_floating_point]
        self._model_other = [msd[k] for k, v in esd.items() if not v.dtype.is_floating_point]

    @torch.no_grad()
    def update(self, model, step):
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self._ema_f, [t.detach() for t in self._model_f], 1 - d)  # v = d v + (1-d) m
        for e, m in zip(self._ema_other, self._model_other):
            e.copy_(m)


def load_bundle(bundle: str) -> tuple[dict[str, np.ndarray], dict]:
    path = os.path.join(bundle, "faces.npz")
    if not os.path.isfile(path):
        raise SystemExit(f"no GPU bundle at {bundle}: {path} is missing "
                         "(make one with training/scripts/make_gpu_bundle.py)")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(str(arrays["meta"]))


def decode_faces(jpeg: np.ndarray, offsets: np.ndarray, threads: int) -> torch.Tensor:
    """M x 3 x S x S uint8 from the concatenated JPEGs (PIL, on `threads` threads)."""
    def one(i):
        b = jpeg[offsets[i]:offsets[i + 1]].tobytes()
        return np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    with ThreadPoolExecutor(max(1, threads)) as ex:
        imgs = list(ex.map(one, range(len(offsets) - 1)))
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name} requested but torch.cuda.is_available() is False "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    return torch.device(name)


@torch.no_grad()
def predict_on_device(model, images, landmarks, k, size, perm, batch=256):
    """Un-jittered crops (the crop rule) of uint8 pre-crops on the device -> predictions
    and targets M x N x 2 numpy (train.py's validation, on the device)."""
    preds, gts = [], []
    for s in range(0, len(images), batch):
        im, lm = images[s:s + batch], landmarks[s:s + batch]
        p = A.AugParams.identity(len(im), size, size, im.device)
        x, t = A.augment_batch(im, lm, k, size, perm, p, photometric_aug=False)
        preds.append(model(x).float().cpu().numpy())
        gts.append(t.cpu().numpy())
    return np.concatenate(preds), np.concatenate(gts)


def train(bundle: str, out: str, budget_sec: float = DEFAULT_BUDGET_SEC, epochs: int | None = None,
          seed: int | None = None, device: str = "auto", checkpoint_dir: str | None = None,
          resume: str | None = None, max_steps: int = 0, export: bool = True,
          progress: bool = True) -> dict:
    """Train from `bundle` into `out`; returns the summary written to out/summary.json
    (with the per-step losses under "step_losses" when max_steps is set, for the tests)."""
    t_start = time.time()
    dev = pick_device(device)
    cuda = dev.type == "cuda"
    arrays, meta = load_bundle(bundle)
    cfg = TrainConfig.from_file(os.path.join(bundle, "config.json"))
    if epochs is not None:
        cfg.epochs = epochs
    if seed is not None:
        cfg.seed = seed
    cfg.time_budget_min = budget_sec / 60
    cfg.data = f"bundle:{meta['source']}"
    cfg.out = out
    os.makedirs(out, exist_ok=True)
    checkpoint_dir = checkpoint_dir or out
    os.makedirs(checkpoint_dir, exist_ok=True)
    threads = os.cpu_count() or 1
    if not cuda:
        torch.set_num_threads(cfg.threads)
        torch.set_flush_denormal(True)     # denormal weights/activations slow CPU steps 2-3x
    seed_all(cfg.seed)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    faces = decode_faces(arrays["jpeg"], arrays["jpeg_offsets"], threads)
    is_val = torch.from_numpy(arrays["is_val"])
    lms = torch.from_numpy(arrays["landmarks"].astype(np.float64))
    names = [str(n) for n in arrays["names"]]
    train_img, train_lm = faces[~is_val].to(dev), lms[~is_val].to(dev)
    val_img_cpu, val_lm_cpu = faces[is_val], lms[is_val]
    val_img, val_lm = val_img_cpu.to(dev), val_lm_cpu.to(dev)
    val_names = [n for n, v in zip(names, arrays["is_val"]) if v]
    n_train, n = len(train_img), lms.shape[1]
    if n_train < cfg.batch_size:
        raise SystemExit(f"{n_train} training faces, fewer than one batch of {cfg.batch_size}")
    train_cpu = D.CachedSet.from_arrays(faces[~is_val], lms[~is_val].numpy(), [])
    mean_shape = train_cpu.mean_shape(cfg.crop_k)
    perm = D.mirror_perm(n, mean_shape)
    perm_t = torch.tensor(perm, dtype=torch.int64, device=dev)
    print(f"data: {n_train} train / {len(val_img)} val faces, {faces.shape[-1]} px, N={n}, "
          f"decoded and on {dev} in {time.time() - t_start:.1f}s", flush=True)

    mcfg = cfg.model_config(n)
    model = build_model(mcfg)
    model.set_mean_shape(torch.from_numpy(mean_shape))
    pretrained_info = None
    bb_keys = [k for k in arrays if k.startswith("backbone.")]
    if cfg.pretrained_backbone and not resume:
        if not bb_keys:
            raise SystemExit("the config names a pretrained backbone but the bundle has no backbone.* arrays")
        sd = {k[len("backbone."):]: torch.from_numpy(arrays[k]) for k in bb_keys}
        model.backbone.load_state_dict(sd, strict=True)
        pretrained_info = meta["pretrained"]
        print(f"backbone: ImageNet weights from the bundle ({pretrained_info})", flush=True)
    model = model.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.backbone_lr_mult), lr=cfg.lr,
                            fused=cuda)
    ema = ForeachEMA(model, cfg.ema_decay)
    crit = LandmarkLoss(cfg.loss, cfg.loss_scale, cfg.wing_w, cfg.wing_eps, cfg.wing_t)
    aug = D.AugConfig.from_train_config(cfg)
    size = mcfg.input_size
    steps_per_epoch = n_train // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    warm_frac = cfg.warmup_epochs / cfg.epochs
    gen = torch.Generator(device=dev)
    gen.manual_seed(cfg.seed)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda)   # bf16 on CUDA only

    start_epoch, step, elapsed, best = 0, 0, 0.0, float("inf")
    if resume:
        start_epoch, step, elapsed, best, pretrained_info = restore(resume, model, ema, opt, dev)
        gen.manual_seed(cfg.seed + 1000 * start_epoch)

    with open(os.path.join(out, "train_config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=1)
    logf = open(os.path.join(out, "log.jsonl"), "a")
    norm_kind = "inter_ocular" if n in D.OUTER_EYE else "box"
    name = f"{mcfg.name}-{n}"

    def checkpoint(epoch, path, val, slim):
        ck = {"ema": ema.model.state_dict(), "epoch": epoch, "step": step, "elapsed": elapsed,
              "best": best, "val": val, "model_config": mcfg.to_dict(),
              "train_config": dataclasses.asdict(cfg), "mirror_perm": perm,
              "mean_shape": mean_shape.tolist(), "crop_k": cfg.crop_k,
              "crop_rule": dict(CROP_RULE, k=cfg.crop_k), "mean": MEAN, "std": STD,
              "data": cfg.data, "num_train": n_train, "num_val": len(val_img),
              "pretrained": pretrained_info, "bundle_meta": meta, "path": "gpu"}
        if not slim:
            ck.update(model=model.state_dict(), optimizer=opt.state_dict())
        torch.save(ck, path + ".tmp")
        os.replace(path + ".tmp", path)

    step_losses: list[float] = []
    prog = 0.0
    epoch = start_epoch
    lr = cfg.lr
    while epoch < cfg.epochs and prog < 1.0:
        model.train()
        if cfg.freeze_backbone_bn:
            freeze_bn(model.backbone)
        te = time.time()
        order = torch.randperm(n_train, generator=gen, device=dev)
        loss_sum = torch.zeros((), device=dev)
        done = 0
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            p = A.sample_params(len(idx), aug, size, size, gen)
            x, t = A.augment_batch(train_img[idx], train_lm[idx], cfg.crop_k, size, perm_t, p, gen)
            x = x.contiguous(memory_format=torch.channels_last)
            prog = max(step / total_steps, (elapsed + time.time() - te) / budget_sec if budget_sec else 0)
            lr = lr_at(prog, cfg.lr, warm_frac)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_mult", 1.0)
            with autocast:
                outs = model(x, return_aux=True)
            if not cfg.aux_loss:
                outs = outs[-1:]
            loss = sum(crit(o.float(), t) for o in outs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update(model, step)
            step += 1
            done += 1
            loss_sum += loss.detach()
            if max_steps:
                step_losses.append(loss.item())
            if prog >= 1.0 or (max_steps and step >= max_steps):
                break
        if cuda:
            torch.cuda.synchronize()
        train_time = time.time() - te
        elapsed += train_time
        rec = {"epoch": epoch, "step": step, "loss": float(loss_sum) / max(1, done), "lr": lr,
               "epoch_time_s": round(train_time, 2), "elapsed_min": round(elapsed / 60, 3),
               "progress": round(prog, 4), "steps_per_s": round(done / max(train_time, 1e-9), 2)}
        last = prog >= 1.0 or epoch + 1 == cfg.epochs or (max_steps and step >= max_steps)
        if (epoch + 1) % cfg.eval_every == 0 or last:
            tv = time.time()
            ema.model.eval()
            pe, ge = predict_on_device(ema.model, val_img, val_lm, cfg.crop_k, size, perm_t)
            val = metrics.summary(pe, ge)
            rec.update({"val_nme": val[f"nme_{norm_kind}"], "val_auc08": val[f"auc08_{norm_kind}"],
                        "val_fr08": val[f"fr08_{norm_kind}"], "val_time_s": round(time.time() - tv, 2)})
            if val[f"nme_{norm_kind}"] < best:
                best = val[f"nme_{norm_kind}"]
                checkpoint(epoch, os.path.join(out, "best.pt"), val, slim=True)
            rec["best_nme"] = best
        checkpoint(epoch, os.path.join(checkpoint_dir, "last.pt"), rec, slim=False)
        if progress:
            print(json.dumps(rec), flush=True)
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        epoch += 1
        if max_steps and step >= max_steps:
            break
    logf.close()
    train_wall = time.time() - t_start
    print(f"trained: {step} steps, {epoch - start_epoch} epochs, {elapsed:.1f}s in the loop, "
          f"best val NME {best:.5f}", flush=True)

    summary = {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if cuda else "cpu",
               "torch": torch.__version__, "steps": step, "epochs_run": epoch - start_epoch,
               "config_epochs": cfg.epochs, "train_loop_s": round(elapsed, 2),
               "wall_s_to_trained": round(train_wall, 2), "budget_sec": budget_sec,
               "best_val_nme_torch": best, "bundle": meta}
    if export:
        summary.update(export_and_evaluate(os.path.join(out, "best.pt"), out, name,
                                           val_img_cpu, val_lm_cpu.numpy(), val_names))
    summary["wall_s_total"] = round(time.time() - t_start, 2)
    if max_steps:
        summary["step_losses"] = step_losses
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def export_and_evaluate(checkpoint: str, out: str, name: str, val_images: torch.Tensor,
                        val_landmarks: np.ndarray, val_names: list[str]) -> dict:
    """export.py's export of the best EMA checkpoint (ONNX Runtime checked against PyTorch),
    then evaluate.py's metrics of the ONNX file on the bundle's validation faces."""
    from .export import build_metadata, export_model, op_histogram
    from .inference import Predictor, load_checkpoint, predict
    model, ck = load_checkpoint(checkpoint)
    extra = {"train_config": json.dumps(ck.get("train_config", {})),
             "checkpoint_epoch": ck.get("epoch", -1), "training_path": "gpu (train_gpu.py)"}
    if ck.get("val"):
        extra["val_metrics_torch"] = json.dumps(ck["val"])
    meta = build_metadata(model, ck["mirror_perm"], ck["crop_k"],
                          "300-W training faces (afw, helen, lfpw; 2,012 faces, 10% split off by source "
                          "photo for validation)", "research-only (300-W); commercial use not allowed", extra)
    g = torch.Generator().manual_seed(1)
    size = model.cfg.input_size
    imgs = [D.normalize(torch.rand(1, 3, size, size, generator=g) * 255) for _ in range(2)]
    onnx_path = os.path.join(out, f"{name}.onnx")
    diff = export_model(model, onnx_path, meta, 17, imgs)
    val_ds = D.CachedSet.from_arrays(val_images, val_landmarks, val_names)
    pred = Predictor.from_path(onnx_path)
    results, errors = {}, {}
    kind = "inter_ocular" if val_ds.num_landmarks in D.OUTER_EYE else "box"
    for variant, flip in (("plain", False), ("flip_tta", True)):
        p, gt = predict(pred, val_ds, flip_tta=flip)
        results[variant] = metrics.summary(p, gt)
        errors[variant] = metrics.nme(p, gt, kind)
    res = {"model": os.path.basename(onnx_path), "data": "the GPU bundle's validation faces "
           "(JPEG pre-crops; evaluate.py on ../shared gives the headline)", **results}
    with open(os.path.join(out, f"{name}.metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    metrics.plot_ced(errors, os.path.join(out, f"{name}.ced.png"), 0.10,
                     "NME (inter-ocular)" if kind == "inter_ocular" else "NME (sqrt(w*h) box)")
    return {"onnx": onnx_path, "onnx_bytes": os.path.getsize(onnx_path), "onnx_max_abs_diff_vs_torch": diff,
            "onnx_ops": op_histogram(onnx_path), "val_onnx": results}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="directory made by lotr_train.bundle")
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-sec", type=float, default=DEFAULT_BUDGET_SEC,
                    help="wall budget of the training loop in seconds (0 = the config's epochs only)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--device", default="auto", help="auto (cuda when present, else cpu) | cuda | cpu")
    ap.add_argument("--checkpoint-dir", help="where last.pt goes (default: --out)")
    ap.add_argument("--resume")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (tests)")
    ap.add_argument("--no-export", action="store_true")
    a = ap.parse_args(argv)
    s = train(a.bundle, a.out, a.budget_sec, a.epochs, a.seed, a.device, a.checkpoint_dir, a.resume,
              a.max_steps, not a.no_export)
    s.pop("step_losses", None)
    print(json.dumps(s, indent=1))


if __name__ == "__main__":
    sys.exit(main())
