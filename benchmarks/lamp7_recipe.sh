#!/usr/bin/env bash
# Issue "personalization that shows", item 8: the synthetic-style recipe on real LaMP-7 data.
# The same settings as configs/train/synthetic-style-{e2p,control}.json (6 epochs in one schedule,
# lr 3e-3, a rank-8 LoRA shared by all users, char-ngram user vectors standardised over the training
# users) on all 983 LaMP-7 training users, then scored on the 200 dev users with each user's own
# history and with another user's (a seeded derangement), decoding as the LaMP-7 tables above
# (--postprocess clean --no-repeat-ngram 3). LaMP-7 has no third split: the epoch is kept by
# teacher-forced loss on 32 dev examples (a seeded sample spread over 32 of the 200 dev users).
#   bash benchmarks/lamp7_recipe.sh [OUT=runs/lamp7-recipe] [RUN...]
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/lamp7-recipe}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="${SHARED_DATA:-../shared/data}/lamp7"
common=(--data "$data" --epochs 6 --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams --lr 3e-3)
eval_args=(--data "$data" --split dev --postprocess clean --no-repeat-ngram 3)
declare -A runs=(
  [e2p1-lora8-std6]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  [prompt1-lora8-6]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8}"
  [persoma4mlp-lora8-std6]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"}"
  [e2p5-lora8-std6]="--method e2p --num-tokens 5 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  # the two history-reading methods with their synthetic-style recipe rows' settings
  [xattn-lora8-6]="--method xattn --settings {\"lora_rank\":8}"
  [ragprefix4mlp-lora8-std6]="--method rag-prefix --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"}"
)
order=(e2p1-lora8-std6 prompt1-lora8-6 persoma4mlp-lora8-std6 e2p5-lora8-std6 xattn-lora8-6 ragprefix4mlp-lora8-std6)
[ $# -gt 0 ] && order=("$@")
[ -f "$out/none/own/results.json" ] || $pz eval --method none "${eval_args[@]}" --out "$out/none/own"
for name in "${order[@]}"; do
  # shellcheck disable=SC2086  # a run's own options are split into words on purpose
  train_and_score "$out/$name" "${eval_args[@]}" -- "${common[@]}" ${runs[$name]}
done
"${PYTHON:-.venv/bin/python}" - "$out" "$data" <<'PY'
import json, sys
from pathlib import Path
from personalize.data.loading import load_dataset
from personalize.evaluation.gains import paired_gain
from personalize.metrics import per_example_scores, read_lamp_outputs

out, data = Path(sys.argv[1]), sys.argv[2]
dev = load_dataset(data, "dev")
golds, owner = {e.id: e.output for e in dev.examples}, {e.id: e.owner for e in dev.examples}

def scores(folder):
    _, preds = read_lamp_outputs(folder / "predictions.json")
    return per_example_scores(dev.task, preds, golds)

def metrics(folder):
    return json.loads((folder / "results.json").read_text())["metrics"]

none = scores(out / "none" / "own")
print(f"{len(golds)} dev examples of {len(set(owner.values()))} users; intervals: user-level bootstrap 95%")
print(f"none: rouge-1 {metrics(out / 'none' / 'own')['rouge-1']:.4f}")
for run in sorted(p for p in out.iterdir() if (p / "own" / "results.json").exists() and p.name != "none"):
    own = scores(run / "own")
    line = f"{run.name}: rouge-1 own {metrics(run / 'own')['rouge-1']:.4f}"
    g = paired_gain(dev.task, own, [none], owner)["rouge-1"]
    line += f", - none {g['difference']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]"
    control = out / "prompt1-lora8-6"
    if run != control and (control / "own" / "results.json").exists():
        g = paired_gain(dev.task, own, [scores(control / "own")], owner)["rouge-1"]
        line += f", - control {g['difference']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]"
    if (run / "other" / "results.json").exists():
        g = paired_gain(dev.task, own, [scores(run / "other")], owner)["rouge-1"]
        line += (f", another user's {metrics(run / 'other')['rouge-1']:.4f},"
                 f" own - other {g['difference']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]")
    summary = run / "train" / "train_summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        line += f"; kept epoch {s.get('best_epoch')}, {s['train_seconds']:.0f} s"
    print(line)
PY
