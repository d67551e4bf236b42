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
# run once: a finished configuration (results.json present) is not run again
ev() { local where=$1; shift; [ -f "$where/results.json" ] || $pz eval --out "$where" "$@"; }

if [ "$which" = lamp7 ] || [ "$which" = all ]; then
  d="$data/lamp7"; o="$out/lamp7"
  ev "$o/copy" --method copy --data "$d"  "${lim[@]}"
  ev "$o/none-lamp" --method none --data "$d"  --template lamp "${decode[@]}" "${lim[@]}"
  ev "$o/none-system" --method none --data "$d"  --template system "${decode[@]}" "${lim[@]}"
  ev "$o/text-lamp-bm25-k4" --method text --data "$d"  --template lamp --retriever bm25 --k 4 "${decode[@]}" "${lim[@]}"
  for r in bm25 dense recency; do
    for k in 1 4; do
      ev "$o/text-system-$r-k$k" --method text --data "$d"  --template system --retriever $r --k $k "${decode[@]}" "${lim[@]}"
    done
  done
fi

if [ "$which" = amazon ] || [ "$which" = all ]; then
  d="$data/amazon-books-6users"; o="$out/amazon"
  ev "$o/user-majority" --method user-majority --data "$d"  "${lim[@]}"
  ev "$o/always-5" --method constant --settings '{"answer": "5"}' --data "$d" "${lim[@]}"  # the training set's most frequent rating
  # label scoring (the default for rating tasks): every configuration
  ev "$o/none-score" --method none --data "$d"  --mode score "${lim[@]}"
  for r in bm25 dense; do
    for t in system; do
      ev "$o/text-$t-$r-k4-score" --method text --data "$d"  --template $t --retriever $r --k 4 --mode score "${lim[@]}"
    done
  done
  # free generation with normalisation, for comparison (slower: long reviews)
  ev "$o/none-generate" --method none --data "$d"  --mode generate "${decode[@]}" "${lim[@]}"
  ev "$o/text-system-bm25-k4-generate" --method text --data "$d"  --template system --retriever bm25 --k 4 --mode generate "${decode[@]}" "${lim[@]}"
fi
