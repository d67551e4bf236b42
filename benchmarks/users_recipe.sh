#!/usr/bin/env bash
# Issue "personalization that shows": does the upper-case users' spelling need more *users*?
# E2P-1 on the style recipe (whitened user vector, shared rank-8 LoRA, groups of 4 training users
# answering the same sentences, 6 epochs) with the same 1,152 training examples and steps spread
# over more training users: 288 (style_recipe.sh's e2p1-lora8-white128-6-shared4, 4 examples a
# user), 576 (2 a user) and 1,152 (1 a user). With 288, about 48 training users write in upper case
# with British spelling: few enough to fit one by one rather than read the spelling from the vector.
# Each run is scored on its own split's held-out test users (more users, other users than the
# 480-user split's), one example per test user, with each user's own history and another user's.
#   bash benchmarks/users_recipe.sh [OUT=runs/users-recipe] [RUN...]
#   python benchmarks/levers_table.py runs/users-recipe/u960 --data n_users=960,examples_per_user=2
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/users-recipe}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
declare -A users=([u960]="960 2" [u1920]="1920 1")
order=(u960 u1920)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  read -r n per_user <<< "${users[$name]}"
  data="synthetic-style:seed=0,n_users=$n,items_per_user=16,examples_per_user=$per_user,split_by=user"
  limit=$((n / 5))  # one test example per held-out user (a fifth of the users are test users)
  [ -f "$out/$name/none/own/results.json" ] || $pz eval --method none --data "$data" --split test --limit $limit --out "$out/$name/none/own"
  train_and_score "$out/$name/e2p1-lora8-white128-6-shared4" --data "$data" --split test --limit $limit -- \
    --data "$data,shared_inputs=4" --epochs 6 --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams --lr 3e-3 \
    --method e2p --num-tokens 1 --settings '{"lora_rank":8,"input_norm":"whiten","whiten_components":128}'
done
