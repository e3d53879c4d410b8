#!/usr/bin/env bash
# Reproduce a shipped model, models/NAME.onnx (NAME = lotr-m-68, the default, or lotr-s-68):
# train (CPU or CUDA) with configs/NAME.json, export to ONNX (checked against PyTorch),
# evaluate on the validation split, fill the model card, and (lotr-m-68, the test fixture)
# write the reference dumps.
#   training/scripts/train_shipped_model.sh                 # from the repo root
#   BUDGET_MIN=100 SEED=0 training/scripts/train_shipped_model.sh lotr-s-68
# Resumes from runs/NAME/last.pt when it exists (RESUME=0 to start over).
set -euo pipefail
cd "$(dirname "$0")/.."                     # training/
PY=${PY:-../.venv/bin/python}
BUDGET_MIN=${BUDGET_MIN:-100}
# The CPU is shared with other builds: passive OpenMP waiting avoids spinning threads
# that burn the share of an oversubscribed machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
SEED=${SEED:-0}
NAME=${1:-lotr-m-68}
[ -f "configs/$NAME.json" ] || { echo "no training/configs/$NAME.json" >&2; exit 2; }
RUN=runs/$NAME
DATA=../../shared/data/300w-train
[ -d "$DATA" ] || DATA=../shared/data/300w-train
MODELS=../models
mkdir -p "$RUN" "$MODELS"

resume=()
if [ "${RESUME:-1}" = 1 ] && [ -f "$RUN/last.pt" ]; then resume=(--resume "$RUN/last.pt"); fi
echo "== train ($(date -Is))"
$PY -m lotr_train.train --config "configs/$NAME.json" --seed "$SEED" \
    --time-budget-min "$BUDGET_MIN" --out "$RUN" "${resume[@]}"

echo "== export ($(date -Is))"
$PY -m lotr_train.export --checkpoint "$RUN/best.pt" --out "$MODELS/$NAME.onnx" \
    --training-data "300-W training faces (afw, helen, lfpw; 2,012 faces, 10% split off by source photo for validation)" \
    --licence "research-only (300-W); commercial use not allowed"

echo "== evaluate ($(date -Is))"
$PY -m lotr_train.evaluate --model "$MODELS/$NAME.onnx" --data "$DATA" \
    --split-file splits/300w-val.txt --flip \
    --json "$MODELS/$NAME.metrics.json" --ced "$MODELS/$NAME.ced.png"

if [ "$NAME" = lotr-m-68 ]; then
  echo "== reference dumps ($(date -Is))"
  $PY -m lotr_train.dumps --checkpoint "$RUN/best.pt" --name "$NAME" --data "$DATA" \
      --images "$(sed -n '1p;100p;199p' splits/300w-val.txt | paste -sd,)" \
      --out ../Tests/Fixtures/reference
fi
echo "== model card ($(date -Is))"
$PY -m lotr_train.card --card "$MODELS/MODEL_CARD.md" --metrics "$MODELS/$NAME.metrics.json" \
    --log "$RUN/log.jsonl" --onnx "$MODELS/$NAME.onnx"
echo "== done ($(date -Is))"
