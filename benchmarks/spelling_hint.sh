#!/usr/bin/env bash
# Issue "personalization that shows": is the upper-case users' spelling (E2P-1 at chance) out of the
# shared LoRA's reach, or out of the user's? The control (one soft token that reads no user + the
# rank-8 LoRA, E2P-1's 6-epoch recipe on the shared-sentence split) trained on inputs that state
# the user's case and spelling in words (benchmarks/spelling_hint.py), then scored with plain greedy
# decoding on all 384 examples of the 96 held-out test users and on 128 examples of training users.
#   bash benchmarks/spelling_hint.sh [OUT=runs/spelling-hint]
#   python benchmarks/spelling_hint.py table OUT/data OUT/prompt1-lora8-6-hint/{own,train-users}
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
