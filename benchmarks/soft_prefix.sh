#!/usr/bin/env bash
# Issues "soft-prefix" / "xattn": train every soft method on a dataset's train split (selection on
# part of dev), then evaluate each adapter on the full dev split. prompt-N are the controls: a
# shared soft prompt with as many tokens as the personalized methods (N=1 E2P-1, 4 PERSOMA and
# rag-prefix, 5 E2P-5).
#   bash benchmarks/soft_prefix.sh lamp7|amazon [OUT=runs/soft-<dataset>] [EXTRA train args...]
set -euo pipefail
dataset="${1:?usage: soft_prefix.sh lamp7|amazon [OUT] [train args...]}"; shift
out="${1:-runs/soft-$dataset}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
case "$dataset" in
  lamp7)
    data="${SHARED_DATA:-../shared/data}/lamp7"
    # Levers chosen on the small runs of soft_levers_lamp7.sh: lr 1e-2, soft tokens right before the tweet.
    common=(--config configs/train/lamp7-base.json --dev-limit 100 --epochs 1)
    eval_args=(--postprocess clean --no-repeat-ngram 3) ;;
  amazon)
    data="${SHARED_DATA:-../shared/data}/amazon-books-6users"
    common=(--config configs/train/amazon-base.json --dev-limit 64)
    eval_args=(--mode score) ;;
  *) echo "unknown dataset $dataset (lamp7 or amazon)" >&2; exit 2 ;;
esac
common=(--data "$data" "${common[@]}" --lr 1e-2 --placement before_input "$@")
train() { local name=$1; shift; [ -f "$out/$name/train_summary.json" ] || $pz train --out "$out/$name" "${common[@]}" "$@"; }
evaluate() { local name=$1; [ -f "$out/$name/eval/results.json" ] || $pz eval --adapter "$out/$name" --data "$data" --out "$out/$name/eval" "${eval_args[@]}"; }
for spec in \
  "e2p-1|--method e2p --num-tokens 1" \
  "prompt-1|--method prompt --num-tokens 1" \
  "prompt-4|--method prompt --num-tokens 4" \
  "prompt-5|--method prompt --num-tokens 5" \
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
