#!/usr/bin/env bash
# Issue "soft-prefix": which levers move E2P on LaMP-7 (small, cheap runs for direction only:
# the first 300 train examples, 1 epoch, selection on the first 64 dev examples).
#   bash benchmarks/soft_levers_lamp7.sh [OUT=runs/levers]
set -euo pipefail
out="${1:-runs/levers}"
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --max-train-examples 300 --dev-limit 64 --epochs 1 --config configs/train/lamp7-base.json)
run() { local name=$1; shift; [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" "$@"; }
run e2p1-user-lr1e-3   --method e2p --num-tokens 1 --placement user_start --lr 1e-3
run e2p1-input-lr1e-3  --method e2p --num-tokens 1 --placement before_input --lr 1e-3
run e2p1-user-lr1e-2   --method e2p --num-tokens 1 --placement user_start --lr 1e-2
run prompt1-user-lr1e-2 --method prompt --num-tokens 1 --placement user_start --lr 1e-2
run e2p1-user-lora8    --method e2p --num-tokens 1 --placement user_start --lr 1e-3 --settings '{"lora_rank": 8}'
