#!/usr/bin/env bash
# Reproduce models/lotr-m-68.onnx: train (CPU or CUDA), evaluate on the validation split,
# export to ONNX (checked against PyTorch), and write the reference dumps.
#   training/scripts/train_shipped_model.sh            # from the repo root
#   BUDGET_MIN=100 SEED=0 training/scripts/train_shipped_model.sh
# Resumes from runs/lotr-m-68/last.pt when it exists (RESUME=0 to start over).
set -euo pipefail
cd "$(dirname "$0")/.."                     # training/
PY=${PY:-../.venv/bin/python}
BUDGET_MIN=${BUDGET_MIN:-100}
# The CPU is shared with other builds: passive OpenMP waiting avoids spinning threads
# that burn the share of an oversubscribed machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
SEED=${SEED:-0}
RUN=runs/lotr-m-68
DATA=../../shared/data/300w-train
[ -d "$DATA" ] || DATA=../shared/data/300w-train
MODELS=../models
mkdir -p "$RUN" "$MODELS"

resume=()
if [ "${RESUME:-1}" = 1 ] && [ -f "$RUN/last.pt" ]; then resume=(--resume "$RUN/last.pt"); fi
echo "== train ($(date -Is))"
$PY -m lotr_train.train --config configs/lotr-m-68.json --seed "$SEED" \
    --time-budget-min "$BUDGET_MIN" --out "$RUN" "${resume[@]}"

echo "== export ($(date -Is))"
$PY -m lotr_train.export --checkpoint "$RUN/best.pt" --out "$MODELS/lotr-m-68.onnx" \
    --training-data "300-W training faces (afw, helen, lfpw; 2,012 faces, 10% split off by source photo for validation)" \
    --licence "research-only (300-W); commercial use not allowed"

echo "== evaluate ($(date -Is))"
$PY -m lotr_train.evaluate --model "$MODELS/lotr-m-68.onnx" --data "$DATA" \
    --split-file splits/300w-val.txt --flip \
    --json "$MODELS/lotr-m-68.metrics.json" --ced "$MODELS/lotr-m-68.ced.png"

echo "== reference dumps ($(date -Is))"
$PY -m lotr_train.dumps --checkpoint "$RUN/best.pt" --name lotr-m-68 --data "$DATA" \
    --images "$(sed -n '1p;100p;199p' splits/300w-val.txt | paste -sd,)" \
    --out ../Tests/Fixtures/reference
echo "== model card ($(date -Is))"
$PY -m lotr_train.card --card "$MODELS/MODEL_CARD.md" --metrics "$MODELS/lotr-m-68.metrics.json" \
    --log "$RUN/log.jsonl" --onnx "$MODELS/lotr-m-68.onnx"
echo "== done ($(date -Is))"
