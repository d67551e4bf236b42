#!/usr/bin/env bash
# Issue "soft-prefix" / "xattn" on amazon-books-6users (rating, label scoring): train every soft
# method on train (select on 64 dev examples), then evaluate on the full dev split.
#   bash benchmarks/soft_prefix_amazon.sh [OUT=runs/soft-amazon] [EXTRA train args...]
set -euo pipefail
out="${1:-runs/soft-amazon}"; shift || true
data="${SHARED_DATA:-../shared/data}/amazon-books-6users"
pz="${PERSONALIZE:-.venv/bin/personalize}"
common=(--data "$data" --config configs/train/amazon-base.json --dev-limit 64 --lr 1e-2 --placement before_input "$@")
train() { local name=$1; shift; [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" "$@"; }
evaluate() { local name=$1; [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" --mode score; }
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
