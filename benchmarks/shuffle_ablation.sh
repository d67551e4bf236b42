#!/usr/bin/env bash
# Does a personalized method use the user? Each adapter is scored on all 200 LaMP-7 dev users
# twice: with the user's own history and with another user's (--shuffle-profiles, a seeded
# derangement), and the two are compared per example (paired bootstrap 95% interval).
# A difference whose interval contains 0 means the method's gain is not personalization.
#   bash benchmarks/shuffle_ablation.sh [OUT=runs/shuffle] [ADAPTER_DIR...]   (default: adapters/lamp7-*)
set -euo pipefail
out="${1:-runs/shuffle}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
decode=(--postprocess clean --no-repeat-ngram 3)
adapters=("$@"); [ ${#adapters[@]} -gt 0 ] || adapters=(adapters/lamp7-*)
for adapter in "${adapters[@]}"; do
  name="$(basename "$adapter")"
  grep -q '"method": "prompt"' "$adapter/adapter_config.json" && continue  # the control reads no user
  for flag in "" --shuffle-profiles; do
    dir="$out/$name${flag:+-shuffled}"
    [ -f "$dir/results.json" ] || $pz eval --adapter "$adapter" --data "$data" --out "$dir" "${decode[@]}" $flag
  done
  echo "== $name: own history minus another user's"
  $pz score --golds "$data/dev_outputs.json" --preds "$out/$name/predictions.json" \
    --against "$out/$name-shuffled/predictions.json"
done
