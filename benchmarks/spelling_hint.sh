#!/usr/bin/env bash
# Issue "personalization that shows": is the upper-case users' spelling (E2P-1 at chance) out of the
# shared LoRA's reach, or out of the user's? The control (one soft token that reads no user + the
# rank-8 LoRA, E2P-1's 6-epoch recipe on the shared-sentence split) trained on inputs that state
# the user's case and spelling in words (benchmarks/spelling_hint.py), then scored with plain greedy
# decoding on all 384 examples of the 96 held-out test users and on 128 examples of training users.
# Then E2P-1 and E2P-8 (the same recipe, cased char n-grams) with the hint in every history item
# instead (`export --where history`): the user vector states the spelling as plainly as it can;
# E2P-1 scored with the user's own history and another user's, E2P-8 with the own.
#   bash benchmarks/spelling_hint.sh [OUT=runs/spelling-hint]
#   python benchmarks/spelling_hint.py table OUT/data OUT/prompt1-lora8-6-hint/{own,train-users}
#   python benchmarks/spelling_hint.py table OUT/data-history OUT/e2p1-lora8-6-histhint/{own,other,train-users}
set -euo pipefail
out="${1:-runs/spelling-hint}"
pz="${PERSONALIZE:-.venv/bin/personalize}"
py="${PYTHON:-.venv/bin/python}"
run="$out/prompt1-lora8-6-hint"
[ -f "$out/data/test.jsonl" ] || $py "$(dirname "$0")/spelling_hint.py" export "$out/data"
[ -f "$run/train/adapter_model.safetensors" ] || $pz train --method prompt --num-tokens 1 \
  --settings '{"lora_rank":8}' --data "$out/data" --epochs 6 --dev-limit 32 --no-dev-eval --patience 10 --lr 3e-3 \
  --out "$run/train"
[ -f "$run/own/results.json" ] || $pz eval --adapter "$run/train" --data "$out/data" --split test --out "$run/own"
[ -f "$run/train-users/results.json" ] || $pz eval --adapter "$run/train" --data "$out/data" --split train \
  --limit 128 --out "$run/train-users"
$py "$(dirname "$0")/spelling_hint.py" table "$out/data" "$run/own" "$run/train-users"

[ -f "$out/data-history/test.jsonl" ] || $py "$(dirname "$0")/spelling_hint.py" export --where history "$out/data-history"
# E2P-1, then E2P-8 (eight soft tokens from the same user vector; scored on the own history only)
for tokens in 1 8; do
  hist="$out/e2p${tokens}-lora8-6-histhint"
  [ -f "$hist/train/adapter_model.safetensors" ] || $pz train --method e2p --num-tokens "$tokens" --encoder char-ngrams \
    --settings '{"lora_rank":8,"input_norm":"standardize"}' --data "$out/data-history" --epochs 6 --dev-limit 32 \
    --no-dev-eval --patience 10 --lr 3e-3 --out "$hist/train"
  [ -f "$hist/own/results.json" ] || $pz eval --adapter "$hist/train" --data "$out/data-history" --split test --out "$hist/own"
  [ "$tokens" = 1 ] && { [ -f "$hist/other/results.json" ] || $pz eval --adapter "$hist/train" --data "$out/data-history" \
    --split test --shuffle-profiles --out "$hist/other"; }
  [ -f "$hist/train-users/results.json" ] || $pz eval --adapter "$hist/train" --data "$out/data-history" --split train \
    --limit 128 --out "$hist/train-users"
  sides=("$hist/own" "$hist/train-users"); [ -d "$hist/other" ] && sides=("$hist/own" "$hist/other" "$hist/train-users")
  $py "$(dirname "$0")/spelling_hint.py" table "$out/data-history" "${sides[@]}"
done
