#!/usr/bin/env bash
# Issue "soft-prefix" / "xattn": train every soft method on LaMP-7 train (select on 100 dev
# examples), then evaluate each adapter on the full dev split with the shared decoding.
#   bash benchmarks/soft_prefix_lamp7.sh [OUT=runs/soft-lamp7] [EXTRA train args...]
set -euo pipefail
out="${1:-runs/soft-lamp7}"; shift || true
data="${SHARED_DATA:-../shared/data}/lamp7"
pz="${PERSONALIZE:-.venv/bin/personalize}"
# Levers chosen on the small runs of soft_levers_lamp7.sh: lr 1e-2, soft tokens right before the tweet.
common=(--data "$data" --config configs/train/lamp7-base.json --dev-limit 100 --epochs 1 --lr 1e-2 --placement before_input "$@")
decode=(--postprocess clean --no-repeat-ngram 3)
train() { local name=$1; shift; [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" "$@"; }
evaluate() { local name=$1; [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${decode[@]}"; }
for spec in \
  "e2p-1|--method e2p --num-tokens 1" \
  "prompt-1|--method prompt --num-tokens 1" \
  "e2p-5|--method e2p --num-tokens 5" \
  "persoma-perceiver-4|--method persoma --num-tokens 4" \
  "persoma-mlp-4|--method persoma --num-tokens 4 --settings {\"resampler\":\"mlp\"}" \
  "xattn|--method xattn --lr 1e-3 --settings {\"every_k_layers\":6}" \
  "rag-prefix-4|--method rag-prefix --num-tokens 4" ; do
  name="${spec%%|*}"; args="${spec#*|}"
  # shellcheck disable=SC2086
  train "$name" $args
  evaluate "$name"
done
