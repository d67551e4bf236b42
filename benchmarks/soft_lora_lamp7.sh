#!/usr/bin/env bash
# Issue "soft-prefix", item 9: shared task adaptation. One LoRA shared by all users, trained with
# E2P's user token on top; its control is the same LoRA with the shared (non-personalized) soft
# token. Same data, selection and decoding as soft_prefix.sh lamp7.
#   small: rank 8 on q/v, 1 epoch;  large: rank 16 on every linear layer, up to 3 epochs
#   bash benchmarks/soft_lora_lamp7.sh [OUT=runs/soft-lamp7]
set -euo pipefail
out="${1:-runs/soft-lamp7}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --config configs/train/lamp7-base.json --dev-limit 100 --lr 1e-3 --placement user_start "$@")
decode=(--postprocess clean --no-repeat-ngram 3)
small='{"lora_rank": 8}'
large='{"lora_rank": 16, "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}'
for spec in "e2p-1-lora8|e2p|1|$small" "prompt-1-lora8|prompt|1|$small" \
            "e2p-1-lora16all|e2p|3|$large" "prompt-1-lora16all|prompt|3|$large"; do
  IFS='|' read -r name method epochs settings <<< "$spec"
  [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" --method "$method" --num-tokens 1 \
    --epochs "$epochs" --settings "$settings"
  [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${decode[@]}"
done
