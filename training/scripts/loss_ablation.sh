#!/usr/bin/env bash
# Loss ablation: L1, L2, Wing and smooth-Wing on one preset, the same recipe otherwise,
# several seeds, each run under the same wall-clock budget (the schedule anneals within it),
# two runs at a time on one thread each. Prints a Markdown table of the best validation NME
# (EMA weights, inter-ocular, training/splits/300w-val.txt) per loss and seed.
#   training/scripts/loss_ablation.sh                      # lotr-s-68, seeds 0 1, 5.5 min each
#   CONFIG=lotr-m-68 SEEDS="0 1 2" BUDGET_MIN=30 training/scripts/loss_ablation.sh
set -euo pipefail
cd "$(dirname "$0")/.."                     # training/
PY=${PY:-../.venv/bin/python}
CONFIG=${CONFIG:-lotr-s-68}
SEEDS=${SEEDS:-0 1}
BUDGET_MIN=${BUDGET_MIN:-5.5}
LOSSES=${LOSSES:-l1 l2 wing smooth_wing}
export OMP_WAIT_POLICY=PASSIVE
runs=()
for seed in $SEEDS; do for loss in $LOSSES; do runs+=("$loss:$seed"); done; done
run() { # loss:seed
  local loss=${1%%:*} seed=${1##*:}
  local out=runs/ablation-$CONFIG-$loss-s$seed
  rm -rf "$out"
  $PY -m lotr_train.train --config "configs/$CONFIG.json" --loss "$loss" --seed "$seed" --threads 1 \
      --time-budget-min "$BUDGET_MIN" --out "$out" >"$out.log" 2>&1 || { echo "$1 failed: see $out.log" >&2; return 1; }
}
echo "loss ablation: $CONFIG, ${#runs[@]} runs of $BUDGET_MIN min, 2 at a time ($(date -Is))" >&2
for ((i = 0; i < ${#runs[@]}; i += 2)); do
  run "${runs[i]}" & a=$!
  if ((i + 1 < ${#runs[@]})); then run "${runs[i + 1]}" & b=$!; wait $b; fi
  wait $a
  echo "  done: ${runs[i]} ${runs[i + 1]:-} ($(date -Is))" >&2
done
$PY - "$CONFIG" "$LOSSES" "$SEEDS" <<'EOF'
import json, statistics, sys
config, losses, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
print(f"| loss | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | epochs |")
print("| --- |" + " ---: |" * (len(seeds) + 2))
for loss in losses:
    best, epochs = [], []
    for s in seeds:
        log = [json.loads(l) for l in open(f"runs/ablation-{config}-{loss}-s{s}/log.jsonl") if l.strip()]
        best.append(min(r["val_nme"] for r in log if "val_nme" in r) * 100)
        epochs.append(len(log))
    print(f"| {loss} | " + " | ".join(f"{b:.2f} %" for b in best) + f" | {statistics.mean(best):.2f} % | {min(epochs)}-{max(epochs)} |")
EOF
