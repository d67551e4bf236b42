#!/usr/bin/env bash
# Issue "soft-prefix", the data lever: the runs of soft_prefix.sh lamp7 (E2P-1 and its control,
# frozen base) and of soft_lora_lamp7.sh (rank-16 LoRA on every projection, with E2P-1 or the
# shared token), trained on the 983 real pairs plus leave-one-out examples built from 3 profile
# tweets of every training user (--augment profile-loo, see personalize.data.augment), then
# scored on all 200 dev users with the same decoding. Dev data is never augmented.
# The *-para runs use --augment profile-paraphrase instead: the same profile tweets, their input
# paraphrased by the frozen base model (back-translation; the paraphrases are cached on disk, so
# the second run reuses the first one's).
#   bash benchmarks/soft_augment_lamp7.sh [OUT=runs/soft-lamp7] [NAME...]   (default: the profile-loo runs)
set -euo pipefail
out="${1:-runs/soft-lamp7}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --config configs/train/lamp7-base.json --dev-limit 100 --num-tokens 1 --augment-per-user 3)
decode=(--postprocess clean --no-repeat-ngram 3)
lora='{"lora_rank": 16, "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}'
wanted=" ${*:-e2p-1-aug prompt-1-aug e2p-1-lora16all-aug prompt-1-lora16all-aug} "
for spec in "e2p-1-aug|e2p|1|1e-2|before_input|{}|profile-loo" "prompt-1-aug|prompt|1|1e-2|before_input|{}|profile-loo" \
            "e2p-1-lora16all-aug|e2p|1|1e-3|user_start|$lora|profile-loo" \
            "prompt-1-lora16all-aug|prompt|1|1e-3|user_start|$lora|profile-loo" \
            "e2p-1-para|e2p|1|1e-2|before_input|{}|profile-paraphrase" \
            "prompt-1-para|prompt|1|1e-2|before_input|{}|profile-paraphrase"; do
  IFS='|' read -r name method epochs lr placement settings augment <<< "$spec"
  [[ "$wanted" == *" $name "* ]] || continue
  [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" --method "$method" --augment "$augment" \
    --epochs "$epochs" --lr "$lr" --placement "$placement" --settings "$settings"
  [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${decode[@]}"
done
