#!/usr/bin/env bash
# synthetic-pref with held-out users: does a soft method read a new user's genre ranking from their
# history (each item's description and the genre the user chose, `encoded_fields`)? Each run is
# scored on the test users' examples with their own history and with another user's; `none` beside.
#   e2p1:          the lever study's budget (the first epoch of a 2-epoch schedule, lr 1e-2, no LoRA)
#   e2p1-lora8:    the synthetic-style recipe (benchmarks/style_recipe.sh): 2 epochs, lr 3e-3, a
#                  shared rank-8 LoRA beside the user's token
#   prompt1-lora8: its control (the same, reading no user)
#   e2p1-lora8-std: e2p1-lora8 with its user vector standardised over the training users
#                  (input_norm: standardize; e2p1-lora8's dev-loss gap was +0.00001)
#   e2p1-lora8-std6, persoma4mlp-lora8-std6, prompt1-lora8-6: the shipped synthetic-style recipe
#                  (configs/train/synthetic-style-*.json: 6 epochs in one schedule, standardised input;
#                  PERSOMA's MLP adapter, whose per-item vectors keep each item's genre apart) and its control
#   bash benchmarks/pref_user_split.sh [OUT=runs/pref-user-split] [RUN...]
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/pref-user-split}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="synthetic-pref:seed=0,n_users=120,items_per_user=16,examples_per_user=4,split_by=user"
common=(--data "$data" --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams)
declare -A runs=(
  [e2p1]="--method e2p --num-tokens 1 --lr 1e-2 --epochs 2 --stop-after 1"
  [e2p1-lora8]="--method e2p --num-tokens 1 --lr 3e-3 --epochs 2 --settings {\"lora_rank\":8}"
  [prompt1-lora8]="--method prompt --num-tokens 1 --lr 3e-3 --epochs 2 --settings {\"lora_rank\":8}"
  [e2p1-lora8-std]="--method e2p --num-tokens 1 --lr 3e-3 --epochs 2 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  [e2p1-lora8-std6]="--method e2p --num-tokens 1 --lr 3e-3 --epochs 6 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  [persoma4mlp-lora8-std6]="--method persoma --num-tokens 4 --lr 3e-3 --epochs 6 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"}"
  [prompt1-lora8-6]="--method prompt --num-tokens 1 --lr 3e-3 --epochs 6 --settings {\"lora_rank\":8}"
)
order=(e2p1 e2p1-lora8 prompt1-lora8 e2p1-lora8-std e2p1-lora8-std6 persoma4mlp-lora8-std6 prompt1-lora8-6)
[ $# -gt 0 ] && order=("$@")
[ -f "$out/none/results.json" ] || $pz eval --method none --data "$data" --split test --out "$out/none"
for name in "${order[@]}"; do
  # shellcheck disable=SC2086  # a run's own options are split into words on purpose
  train_and_score "$out/$name" --data "$data" --split test -- "${common[@]}" ${runs[$name]}
done
"${PYTHON:-.venv/bin/python}" - "$out" "$data" <<'PY'
import json, sys
from pathlib import Path
from personalize.data.loading import load_dataset
from personalize.data.tasks import get_task
from personalize.evaluation.gains import paired_gain
from personalize.metrics import per_example_scores, read_lamp_outputs

out, data = Path(sys.argv[1]), sys.argv[2]
test = load_dataset(data, "test").examples
golds, owner = {e.id: e.output for e in test}, {e.id: e.owner for e in test}
task = get_task("synthetic-pref")

def scores(folder):
    _, preds = read_lamp_outputs(out / folder / "predictions.json")
    return per_example_scores(task, preds, golds)

def accuracy(folder):
    return json.loads((out / folder / "results.json").read_text())["metrics"]["accuracy"]

print(f"{len(test)} test examples of {len(set(owner.values()))} held-out users; intervals: user-level bootstrap 95%")
print(f"none: accuracy {accuracy('none'):.3f}")
for run in sorted(p.name for p in out.iterdir() if (p / "own" / "results.json").exists()):
    line = f"{run}: accuracy own {accuracy(f'{run}/own'):.3f}"
    if (out / run / "other" / "results.json").exists():
        g = paired_gain(task, scores(f"{run}/own"), [scores(f"{run}/other")], owner)["accuracy"]
        line += f", another user's {accuracy(f'{run}/other'):.3f}, own - other {g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
    print(line)
PY
