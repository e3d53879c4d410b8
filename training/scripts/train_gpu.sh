#!/usr/bin/env bash
# The GPU path: train the bundle's config on one GPU from the bundle alone
# (lotr_train/train_gpu.py), export the best EMA checkpoint to ONNX and evaluate it on the
# bundle's validation faces. Copied into every bundle by make_gpu_bundle.py; run it there:
#   bash training/runs/gpu-bundle/train_gpu.sh           # or BUNDLE=DIR training/scripts/train_gpu.sh
# Environment: BUDGET_SEC (wall budget of the training loop, default 480 = 8 minutes),
# OUT (output folder; the device tool's $OUT, else gpu-out beside the bundle), DEVICE (auto | cuda | cpu),
# CKPT_DIR (resumable last.pt, default /tmp/lotr-gpu-checkpoints), SEED, EPOCHS, PY.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUNDLE=${BUNDLE:-$HERE}
[ -d "$BUNDLE" ] && BUNDLE="$(cd "$BUNDLE" && pwd)"
[ -f "$BUNDLE/faces.npz" ] || { echo "no GPU bundle at $BUNDLE (faces.npz missing): run training/scripts/make_gpu_bundle.py, or set BUNDLE" >&2; exit 2; }
[ -d "$BUNDLE/lotr_train" ] || { echo "$BUNDLE has no lotr_train/ code: remake the bundle" >&2; exit 2; }
PY=${PY:-python3}
OUT_DIR=${OUT:-$(dirname "$BUNDLE")/gpu-out}
mkdir -p "$OUT_DIR"
args=(--bundle "$BUNDLE" --out "$OUT_DIR" --budget-sec "${BUDGET_SEC:-480}" --device "${DEVICE:-auto}"
      --checkpoint-dir "${CKPT_DIR:-/tmp/lotr-gpu-checkpoints}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
[ -n "${EPOCHS:-}" ] && args+=(--epochs "$EPOCHS")
[ -n "${RESUME:-}" ] && args+=(--resume "$RESUME")
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "== train_gpu ($(date -Is)): bundle $BUNDLE -> $OUT_DIR"
# The bundle's own code, not an installed lotr_train: the bundle is the unit that ran.
PYTHONPATH="$BUNDLE" PYTHONUNBUFFERED=1 "$PY" -m lotr_train.train_gpu "${args[@]}" 2>&1 | tee "$OUT_DIR/train_gpu.log"
echo "== done ($(date -Is))"
