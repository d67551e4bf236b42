#!/usr/bin/env bash
# synthetic-pref with held-out users: does E2P-1 read a new user's genre ranking from their
# history (each item's description and the genre the user chose, `encoded_fields`)? Trained like
# the lever study (the first epoch of a 2-epoch schedule), scored on the test users' examples with
# their own history and with another user's; `none` beside it.
#   bash benchmarks/pref_user_split.sh [OUT=runs/pref-user-split]
set -euo pipefail
out="${1:-runs/pref-user-split}"
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="synthetic-pref:seed=0,n_users=120,items_per_user=16,examples_per_user=4,split_by=user"
[ -f "$out/e2p1/train/adapter_model.safetensors" ] || $pz train --data "$data" --method e2p --num-tokens 1 --lr 1e-2 \
  --epochs 2 --stop-after 1 --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams --out "$out/e2p1/train"
[ -f "$out/none/results.json" ] || $pz eval --method none --data "$data" --split test --out "$out/none"
[ -f "$out/e2p1/own/results.json" ] || $pz eval --adapter "$out/e2p1/train" --data "$data" --split test --out "$out/e2p1/own"
[ -f "$out/e2p1/other/results.json" ] || $pz eval --adapter "$out/e2p1/train" --data "$data" --split test \
  --shuffle-profiles --out "$out/e2p1/other"
"${PYTHON:-.venv/bin/python}" - "$out" "$data" <<'PY'
import json, sys
from pathlib import Path
from personalize.data.loading import load_dataset
from personalize.data.tasks import get_task
from personalize.evaluation.gains import paired_gain
from personalize.metrics import per_example_scores

out, data = Path(sys.argv[1]), sys.argv[2]
test = load_dataset(data, "test").examples
golds, owner = {e.id: e.output for e in test}, {e.id: e.owner for e in test}
task = get_task("synthetic-pref")

def scores(folder):
    preds = {p["id"]: p["output"] for p in json.loads((out / folder / "predictions.json").read_text())["golds"]}
    return per_example_scores(task, preds, golds)

for name in ("none", "e2p1/own", "e2p1/other"):
    print(f"{name}: accuracy {json.loads((out / name / 'results.json').read_text())['metrics']['accuracy']:.3f}")
g = paired_gain(task, scores("e2p1/own"), [scores("e2p1/other")], owner)["accuracy"]
print(f"e2p1 own - other: {g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] ({g['users']} users)")
PY
