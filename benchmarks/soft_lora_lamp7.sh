#!/usr/bin/env bash
# Issue "soft-prefix", item 9: shared task adaptation. One rank-8 LoRA on q/v projections, shared
# by all users, trained with E2P's user token on top; its control is the same LoRA with the
# shared (non-personalized) soft token. Same data, epochs and decoding as soft_prefix_lamp7.sh.
#   bash benchmarks/soft_lora_lamp7.sh [OUT=runs/soft-lamp7]
set -euo pipefail
out="${1:-runs/soft-lamp7}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --config configs/train/lamp7-base.json --dev-limit 100 --epochs 1 --lr 1e-3 --placement user_start "$@")
decode=(--postprocess clean --no-repeat-ngram 3)
for spec in "e2p-1-lora8|e2p" "prompt-1-lora8|prompt"; do
  name="${spec%%|*}"; method="${spec#*|}"
  [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" --method "$method" --num-tokens 1 --settings '{"lora_rank": 8}'
  [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${decode[@]}"
done
