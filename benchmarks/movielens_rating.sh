#!/usr/bin/env bash
# Issue "MovieLens", rating prediction: E2P-1 (+ a shared rank-8 LoRA, the user vector standardised,
# the recipe of benchmarks/movielens_llm.sh) on `movielens-rating` against the recommender
# baselines, on the same test records. Protocol `time` (every user in every split; each user's last
# 10% of ratings are test). Training: a seeded sample of 8,000 of the training records, 2 epochs,
# the epoch kept by teacher-forced loss on 100 dev records spread over the users. Scoring: label
# scoring over the five ratings (the most probable one is the answer) on 2,000 test records, a
# seeded sample spread over the users (--limit), with each user's own history and with another
# user's; the baselines and `none` on the same 2,000 records.
#   bash benchmarks/movielens_rating.sh [OUT=runs/ml-rating] [RUN...]
#   bash benchmarks/movielens_rating.sh runs/ml-rating e2p1-lora8-std-2000 persoma4mlp-lora8-std-2000 prompt1-lora8-2000
# prints MAE / RMSE per row and, for E2P, own − other, − bias and − control (prompt1-lora8 on as many
# records) in MAE with user-level intervals.
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/ml-rating}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="${MOVIELENS:-../shared/data/movielens-100k}:protocol=time"
task=(--task movielens-rating)
common=("${task[@]}" --data "$data,shots=8000" --epochs 2 --dev-limit 100 --no-dev-eval --patience 10 --lr 3e-3)
eval_args=("${task[@]}" --data "$data" --split test --mode score --limit 2000)
declare -A runs=(
  [e2p1-lora8-std-8000]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  # a quarter of the records (500 steps), when there are minutes, not half an hour
  [e2p1-lora8-std-2000]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --data $data,shots=2000"
  [prompt1-lora8-8000]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8}"
  [prompt1-lora8-2000]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8} --data $data,shots=2000"
  # the other soft method on the same 2,000 records: PERSOMA-4 (MLP) over the standardised items
  [persoma4mlp-lora8-std-2000]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"} --data $data,shots=2000"
)
order=(e2p1-lora8-std-8000)  # `-` alone: the baselines and the table only
[ $# -gt 0 ] && order=("$@"); [ "${order[*]}" = - ] && order=()
for m in ${BASELINES:-none global-mean user-mean item-mean bias}; do
  [ -f "$out/$m/own/results.json" ] || $pz eval --method "$m" "${eval_args[@]}" --out "$out/$m/own"
done
for name in "${order[@]}"; do
  # shellcheck disable=SC2086  # a run's own options are split into words on purpose
  train_and_score "$out/$name" "${eval_args[@]}" -- "${common[@]}" ${runs[$name]}
done
"${PYTHON:-.venv/bin/python}" - "$out" "$data" <<'PY'
import json, math, sys
from pathlib import Path
from personalize.data.loading import load_dataset
from personalize.evaluation.gains import paired_gain
from personalize.metrics import per_example_scores, read_lamp_outputs

out, data = Path(sys.argv[1]), sys.argv[2]
test = load_dataset(data, "test", "movielens-rating")
golds, owner = {e.id: e.output for e in test.examples}, {e.id: e.owner for e in test.examples}

def scores(folder):
    _, preds = read_lamp_outputs(folder / "predictions.json")
    return per_example_scores(test.task, preds, {i: golds[i] for i in preds})

def interval(ours, theirs):
    g = paired_gain(test.task, ours, [theirs], owner)["mae"]
    return f"{g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"

runs = sorted(p for p in out.iterdir() if (p / "own" / "results.json").exists())
bias = scores(out / "bias" / "own")
n = len(bias)
print(f"{n} test records of {len({owner[i] for i in bias})} users (protocol time); MAE intervals: user-level bootstrap 95%")
print("| run | MAE | RMSE | MAE, another user's history | own − other (MAE) | − bias (MAE) | − control (MAE) | train s (kept epoch) |")
print("|---|---|---|---|---|---|---|---|")
for run in runs:
    m = json.loads((run / "own" / "results.json").read_text())["metrics"]
    own = bias if run.name == "bias" else scores(run / "own")
    other, gap = "–", "–"
    if (run / "other" / "results.json").exists():
        other = f"{json.loads((run / 'other' / 'results.json').read_text())['metrics']['mae']:.3f}"
        gap = interval(own, scores(run / "other"))
    vs_bias = interval(own, bias) if run.name != "bias" else "–"
    # a soft run's control: the LoRA with a 1-token prompt that reads no user, on as many records
    control = out / f"prompt1-lora8-{run.name.rsplit('-', 1)[-1]}"
    soft = run.name.startswith(("e2p", "persoma"))
    vs_control = interval(own, scores(control / "own")) if soft and (control / "own" / "results.json").exists() else "–"
    summary = run / "train" / "train_summary.json"
    s = json.loads(summary.read_text()) if summary.exists() else None
    trained = f"{s['train_seconds']:.0f} ({s.get('best_epoch')})" if s else "–"
    print(f"| {run.name} | {m['mae']:.3f} | {m['rmse']:.3f} | {other} | {gap} | {vs_bias} | {vs_control} | {trained} |")

# The answer above is the most probable rating. The median of the five ratings' probabilities is
# what minimises expected absolute error, their mean expected squared error: both read from the
# label log-probabilities that details.jsonl stores, no model run.
decoded = []
for run in runs:
    records = [json.loads(line) for line in (run / "own" / "details.jsonl").read_text().splitlines() if line.strip()]
    if not records or "label_logprobs" not in records[0]:
        continue
    errors = {"median": [], "mean": []}
    for r in records:
        p = [math.exp(v) for v in r["label_logprobs"]]
        p = [v / sum(p) for v in p]
        cumulative = [sum(p[: k + 1]) for k in range(5)]
        median = 1 + next(k for k in range(5) if cumulative[k] >= 0.5)
        mean = sum((k + 1) * v for k, v in enumerate(p))
        errors["median"].append(median - float(golds[r["id"]]))
        errors["mean"].append(mean - float(golds[r["id"]]))
    cells = [f"{sum(map(abs, e)) / len(e):.3f} / {math.sqrt(sum(x * x for x in e) / len(e)):.3f}" for e in errors.values()]
    decoded.append(f"| {run.name} | {cells[0]} | {cells[1]} |")
if decoded:
    print("\nThe same label scores read as the distribution's median or mean (from details.jsonl):")
    print("| run | MAE / RMSE, median rating | MAE / RMSE, mean rating |")
    print("|---|---|---|")
    print("\n".join(decoded))
PY
