#!/usr/bin/env bash
# Issue "personalization that shows", part 3: why does E2P's generation degrade as it learns the
# user, and which lever fixes it? Every run trains on synthetic-style's training users for the same
# small budget (the first epoch of a 2-epoch schedule over 384 examples; --stop-after 1), and is
# then scored with plain greedy decoding (no post-processing, no n-gram ban: the method's own text)
# on 64 examples of held-out test users, with each user's own history and with another user's.
#   bash benchmarks/soft_levers_synthetic.sh [OUT=runs/levers-synthetic] [RUN...]   (default: all)
#   python benchmarks/levers_table.py runs/levers-synthetic        # the table
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/levers-synthetic}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="synthetic-style:seed=0,n_users=160,items_per_user=16,examples_per_user=4,split_by=user"
common=(--data "$data" --epochs 2 --stop-after 1 --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams)
declare -A runs=(
  [e2p1-base]="--method e2p --num-tokens 1 --lr 1e-2"
  [e2p1-zero-init]="--method e2p --num-tokens 1 --lr 1e-2 --settings {\"user_init\":\"zero\"}"
  [e2p1-lr3e-3]="--method e2p --num-tokens 1 --lr 3e-3"
  [e2p1-no-norm-match]="--method e2p --num-tokens 1 --lr 1e-2 --settings {\"norm_match\":false}"
  [e2p1-before-input]="--method e2p --num-tokens 1 --lr 1e-2 --placement before_input"
  [e2p5-base]="--method e2p --num-tokens 5 --lr 1e-2"
  [e2p1-lora8]="--method e2p --num-tokens 1 --lr 3e-3 --settings {\"lora_rank\":8}"
  [prompt1-lora8]="--method prompt --num-tokens 1 --lr 3e-3 --settings {\"lora_rank\":8}"
  [prompt1-base]="--method prompt --num-tokens 1 --lr 1e-2"
)
order=(e2p1-base e2p1-zero-init e2p1-lr3e-3 e2p1-no-norm-match e2p5-base e2p1-before-input e2p1-lora8 prompt1-lora8 prompt1-base)
[ $# -gt 0 ] && order=("$@")
# the reference: the frozen model with the same prompt and no soft token
[ -f "$out/none/own/results.json" ] || $pz eval --method none --data "$data" --split test --limit 64 --out "$out/none/own"
# and the old recipe trained longer: the shipped E2P-1 (6 epochs at lr 1e-2, no LoRA)
[ -f "$out/shipped-e2p-1-6ep/own/results.json" ] || $pz eval --adapter adapters/synthetic-style-e2p-1 --data "$data" \
  --split test --limit 64 --out "$out/shipped-e2p-1-6ep/own"
for name in "${order[@]}"; do
  # shellcheck disable=SC2086  # a run's own options are split into words on purpose
  train_and_score "$out/$name" --data "$data" --split test --limit 64 -- "${common[@]}" ${runs[$name]}
done
