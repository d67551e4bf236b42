#!/usr/bin/env bash
# Issue "text baseline": every reference and text configuration on the real data, same decoding.
#   bash benchmarks/text_baseline.sh [lamp7|amazon|all] [OUT=runs/text-baseline] [LIMIT]
# Then: python benchmarks/collect.py runs/text-baseline/lamp7
set -euo pipefail
which="${1:-all}"
out="${2:-runs/text-baseline}"
limit="${3:-}"
data="${SHARED_DATA:-../shared/data}"
pz="${PERSONALIZE:-.venv/bin/personalize}"
lim=(); [ -n "$limit" ] && lim=(--limit "$limit")
decode=(--postprocess clean --no-repeat-ngram 3)

if [ "$which" = lamp7 ] || [ "$which" = all ]; then
  d="$data/lamp7"; o="$out/lamp7"
  $pz eval --method copy --data "$d" --out "$o/copy" "${lim[@]}"
  $pz eval --method none --data "$d" --out "$o/none-lamp" --template lamp "${decode[@]}" "${lim[@]}"
  $pz eval --method none --data "$d" --out "$o/none-system" --template system "${decode[@]}" "${lim[@]}"
  $pz eval --method text --data "$d" --out "$o/text-lamp-bm25-k4" --template lamp --retriever bm25 --k 4 "${decode[@]}" "${lim[@]}"
  for r in bm25 dense recency; do
    for k in 1 4; do
      $pz eval --method text --data "$d" --out "$o/text-system-$r-k$k" --template system --retriever $r --k $k "${decode[@]}" "${lim[@]}"
    done
  done
fi

if [ "$which" = amazon ] || [ "$which" = all ]; then
  d="$data/amazon-books-6users"; o="$out/amazon"
  $pz eval --method user-majority --data "$d" --out "$o/user-majority" "${lim[@]}"
  # label scoring (the default for rating tasks): every configuration
  $pz eval --method none --data "$d" --out "$o/none-score" --mode score "${lim[@]}"
  for r in bm25 dense; do
    for t in lamp system; do
      $pz eval --method text --data "$d" --out "$o/text-$t-$r-k4-score" --template $t --retriever $r --k 4 --mode score "${lim[@]}"
    done
  done
  # free generation with normalisation, for comparison (slower: long reviews)
  $pz eval --method none --data "$d" --out "$o/none-generate" --mode generate "${decode[@]}" "${lim[@]}"
  $pz eval --method text --data "$d" --out "$o/text-system-bm25-k4-generate" --template system --retriever bm25 --k 4 --mode generate "${decode[@]}" "${lim[@]}"
fi
