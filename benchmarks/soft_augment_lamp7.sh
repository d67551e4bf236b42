#!/usr/bin/env bash
# Issue "soft-prefix", the data lever: the same runs as soft_prefix.sh lamp7 (E2P-1 and its
# control), trained on the 983 real pairs plus leave-one-out examples built from 3 profile tweets
# of every training user (--augment profile-loo, see personalize.data.augment), then scored on
# all 200 dev users with the same decoding. Dev data is never augmented.
#   bash benchmarks/soft_augment_lamp7.sh [OUT=runs/soft-lamp7] [NAME...]   (default: every run)
set -euo pipefail
out="${1:-runs/soft-lamp7}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --config configs/train/lamp7-base.json --dev-limit 100 --epochs 1 --lr 1e-2
        --placement before_input --augment profile-loo --augment-per-user 3)
decode=(--postprocess clean --no-repeat-ngram 3)
wanted=" ${*:-e2p-1-aug prompt-1-aug} "
for spec in "e2p-1-aug|e2p" "prompt-1-aug|prompt"; do
  IFS='|' read -r name method <<< "$spec"
  [[ "$wanted" == *" $name "* ]] || continue
  [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" --method "$method" --num-tokens 1
  [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${decode[@]}"
done
