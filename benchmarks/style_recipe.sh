#!/usr/bin/env bash
# Issue "personalization that shows": the recipe found by benchmarks/soft_levers_synthetic.sh (a
# shared rank-8 LoRA beside the user's soft tokens, lr 3e-3), given more training users and steps.
# synthetic-style with 480 users split by user: 288 train users (1152 examples), 96 dev, 96 test
# users whose style combinations never occur in training. Every run gets the same budget (2 epochs,
# the epoch kept by teacher-forced dev loss over a sample spread across dev users), then is scored
# with plain greedy decoding on 96 test examples (a seeded sample spread over the test users), with
# each user's own history and with another user's.
#   bash benchmarks/style_recipe.sh [OUT=runs/style-recipe] [RUN...]   (default: all, in this order)
#   python benchmarks/levers_table.py runs/style-recipe --data n_users=480     # the table
set -euo pipefail
source "$(dirname "$0")/train_and_score.sh"
out="${1:-runs/style-recipe}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
data="synthetic-style:seed=0,n_users=480,items_per_user=16,examples_per_user=4,split_by=user"
limit=96
common=(--data "$data" --epochs 2 --dev-limit 32 --no-dev-eval --patience 10 --encoder char-ngrams --lr 3e-3)
declare -A runs=(
  [e2p1-lora8]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8}"
  [prompt1-lora8]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8}"
  [persoma4-lora8]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8}"
  [e2p5-lora8]="--method e2p --num-tokens 5 --settings {\"lora_rank\":8}"
  [xattn-lora8]="--method xattn --settings {\"lora_rank\":8}"
  [ragprefix4-lora8]="--method rag-prefix --num-tokens 4 --settings {\"lora_rank\":8}"
  # PERSOMA's MLP adapter (each item through an MLP, mean-pooled, a head to the 4 tokens) in place
  # of the Perceiver: the Perceiver's tokens came out nearly the same for every user (mean cosine
  # 0.87 between test users, E2P's 0.33; benchmarks/soft_token_probe.py)
  [persoma4mlp-lora8]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\"}"
  # one more epoch of e2p1-lora8 (started from its kept weights, half the learning rate, its own
  # warm-up and decay): does more training move the attributes still short of 0.90?
  [e2p1-lora8-more]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8} --init-adapter $out/e2p1-lora8/train --lr 1.5e-3 --epochs 1"
  [e2p1-lora8-more2]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8} --init-adapter $out/e2p1-lora8-more/train --lr 1.5e-3 --epochs 1"
  # E2P-1 with each dimension of the user vector standardised over the training users (the lever that
  # moved MovieLens off chance): do the user's differences, small beside the shared mean, read better?
  [e2p1-lora8-std]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"}"
  # two more epochs of e2p1-lora8-std, the same steps as e2p1-lora8-more and -more2
  [e2p1-lora8-std-more]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --init-adapter $out/e2p1-lora8-std/train --lr 1.5e-3 --epochs 1"
  [e2p1-lora8-std-more2]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --init-adapter $out/e2p1-lora8-std-more/train --lr 1.5e-3 --epochs 1"
  # PERSOMA's MLP adapter with each item embedding standardised over the training users' items
  [persoma4mlp-lora8-std]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"}"
  # the 2+1+1 epochs above were still gaining on ending and spelling: one 6-epoch schedule from scratch
  [e2p1-lora8-std6]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6"
  # the encoder: cased + case-folded char n-grams. E2P-1's spelling was 0.95-0.99 for as-is and
  # lower-case users and 0.55 (chance) for upper-case ones: with cased n-grams only, "COLOUR" shares
  # no feature with "colour", so an upper-case user's spelling lives where only a third of the
  # training users are
  [e2p1-lora8-std6-folded]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --encoder char-ngrams-folded"
  # the same 6 epochs for the control (a fair budget) and for PERSOMA's MLP adapter, standardised
  [prompt1-lora8-6]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8} --epochs 6"
  [persoma4mlp-lora8-std6]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"} --epochs 6"
  # PERSOMA's MLP 4x wider (dim 1024, E2P's MLP width): at dim 256 it stopped short on spelling and sign-off
  [persoma4mlp1024-lora8-std6]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"standardize\"} --epochs 6"
  # rag-prefix (the items retrieved for the input) through PERSOMA's MLP adapter, standardised, 6
  # epochs: with the Perceiver, 2 epochs, only letter case followed the user
  [ragprefix4mlp-lora8-std6]="--method rag-prefix --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"input_norm\":\"standardize\"} --epochs 6"
  # xattn with the recipe's 6 epochs (at 2 its dev-loss gap was still opening: +0.17, +0.31)
  [xattn-lora8-6]="--method xattn --settings {\"lora_rank\":8} --epochs 6"
  # the misses left (upper-case users' spelling, emoji sign-offs) each turn on one token of the
  # output: three times the examples per training user (12, from the same users and styles) at the
  # same number of steps (2 epochs of 3,456 examples = 6 of 1,152), scored on the same test examples
  [e2p1-lora8-std-x12]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 2 --data ${data/examples_per_user=4/examples_per_user=12}"
  [persoma4mlp1024-lora8-std-x12]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"standardize\"} --epochs 2 --data ${data/examples_per_user=4/examples_per_user=12}"
  # upper-case users' spelling stayed at chance with 3x the examples: in upper case the British and
  # American forms part inside a word cut into pieces (" NEIGHBOUR": NE IGH BO UR, " NEIGHBOR": NE IGH
  # B OR), where the LoRA on the attention's q and v alone may not reach: a LoRA on every linear layer
  [e2p1-lora8all-std6]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\",\"lora_targets\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]} --epochs 6"
  # E2P with 5 tokens on the 6-epoch recipe (at 2 epochs, unstandardised, it trailed E2P-1)
  [e2p5-lora8-std6]="--method e2p --num-tokens 5 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6"
  # PERSOMA-4 overfits its 288 training users (epoch 6: train loss 0.026, dev 0.102; E2P-1 0.007 and
  # 0.037), and 3x the examples per user at the same steps did worse: each step pools a random half of
  # the history (item_dropout 0.5), so no single item can pick out a training user
  [persoma4mlp1024-lora8-std6-drop]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"standardize\",\"item_dropout\":0.5} --epochs 6"
  # benchmarks/decision_probe.py: the upper-case users' spelling piece is decided alike with the own
  # history and another user's, on held-out users (coin flip) and on training users (0.88 / 0.85):
  # it is fitted to the training sentence, not read from the user. Groups of 4 training users answer
  # the same sentences (shared_inputs=4: same users, histories, examples and steps; dev and test
  # unchanged), so that only the user tells their answers apart
  [e2p1-lora8-std6-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --data ${data},shared_inputs=4"
  # with shared_inputs=4 the upper-case spelling piece was not fitted even on the training users after
  # 6 epochs (decided 0.63 own / 0.57 other): twice the passes, to see whether the user route opens
  [e2p1-lora8-std12-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 12 --data ${data},shared_inputs=4"
  # PERSOMA-4 (width 1024) on E2P-1's best schedule: 12 epochs with groups of 4 training users answering
  # the same sentences (at 6 epochs it overfit its training users and stopped at ending 0.83, sign-off
  # 0.80; shared sentences take the route of fitting a user's answer to their sentence away)
  [persoma4mlp1024-lora8-std12-shared4]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"standardize\"} --epochs 12 --data ${data},shared_inputs=4"
  # the control on the same 12-epoch shared-sentence schedule: a fair budget beside the two above
  # with the sentence route gone (shared4) the upper-case spelling piece is not fitted even for training
  # users: is the missing piece an interaction (British x which upper-case word) that needs the MLPs?
  [e2p1-lora8all-std6-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\",\"lora_targets\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]} --epochs 6 --data ${data},shared_inputs=4"
  # benchmarks/soft_token_probe.py: the shipped E2P-1's soft token holds the spelling of as-is and
  # lower-case test users (probe 1.00 / 0.97) and not of upper-case ones (0.66), though its input
  # holds all three (1.00): the projector drops it. Cased + case-folded n-grams give the three cases
  # shared spelling features, with the shared sentences that take the sentence route away
  [e2p1-lora8-std6-folded-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --encoder char-ngrams-folded --data ${data},shared_inputs=4"
  # eight tokens: with the spelling stated in every history item, E2P-8 wrote the upper-case users'
  # spelling 87 of 91 times where E2P-1 wrote it 50 of 91 (benchmarks/spelling_hint.sh)
  [e2p8-lora8-std6-shared4]="--method e2p --num-tokens 8 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --data ${data},shared_inputs=4"
  # the same from case-folded n-grams, whose user vector keeps the upper-case users' spelling
  [e2p8-lora8-std6-folded-shared4]="--method e2p --num-tokens 8 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --encoder char-ngrams-folded --data ${data},shared_inputs=4"
  # the spelling as a strong direction of the user vector: with 512 hash buckets each spelling
  # n-gram shares its bucket with a dozen others; with 4,096 (case-folded) a nearest-centroid
  # classifier on the standardised vectors reads the upper-case test users' spelling 32/32 (512: 27/32)
  [e2p8-lora8-std6-folded4096-shared4]="--method e2p --num-tokens 8 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --encoder char-ngrams-folded@4096 --data ${data},shared_inputs=4"
  [e2p1-lora8-std6-folded4096-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"standardize\"} --epochs 6 --encoder char-ngrams-folded@4096 --data ${data},shared_inputs=4"
  # E2P-8 on char-ngrams-folded@4096 wrote the upper-case spelling 16/22 (8-9/22 before) but mixed up
  # as-is and lower case (0.77): what one encoder makes strong, another makes weak. Whitened (the
  # standardised vector projected onto the training users' top 128 principal directions, each scaled
  # to unit variance), a nearest-centroid reading of every attribute of the held-out users is 1.00
  # from the plain cased n-grams (standardised: case 0.90, spelling 0.71, upper-case spelling 0.88)
  [e2p1-lora8-white128-6-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 6 --data ${data},shared_inputs=4"
  [e2p8-lora8-white128-6-shared4]="--method e2p --num-tokens 8 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 6 --data ${data},shared_inputs=4"
  # PERSOMA-4 (width 1024) on the shipped 12-epoch shared-sentence schedule with its items whitened
  # (each item projected onto the training users' items' top 128 directions): standardised it stopped
  # at sign-off 0.85, spelling 0.82
  [persoma4mlp1024-lora8-white128-12-shared4]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 12 --data ${data},shared_inputs=4"
  # E2P-1 whitened on the shipped adapters' 12-epoch schedule (at 6: case 1.00, sign-off 0.98, ending 0.91)
  [e2p1-lora8-white128-12-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 12 --data ${data},shared_inputs=4"
  # E2P-8 on case-folded n-grams at 4,096 buckets wrote the upper-case spelling 16/22 and lost the
  # case (0.77); whitened cased n-grams gave E2P-1 case 1.00 and upper-case spelling 13/22. Both: the
  # folded 4,096 buckets whitened, where each attribute is one unit direction and the spelling is
  # shared by the three letter cases
  [e2p1-lora8-white128-12-folded4096-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 12 --encoder char-ngrams-folded@4096 --data ${data},shared_inputs=4"
  # the upper-case spelling piece sits inside a word, where the model reads the pieces before it
  # and (decision probe) not the user: the soft token next to the answer instead of first in the
  # user turn, nearest to every answer token
  [e2p1-lora8-white128-6-answer-shared4]="--method e2p --num-tokens 1 --placement answer_start --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 6 --data ${data},shared_inputs=4"
  [e2p1-lora8-white128-6-afterinput-shared4]="--method e2p --num-tokens 1 --placement after_input --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128} --epochs 6 --data ${data},shared_inputs=4"
  # decision_probe --attention: the upper-case spelling piece puts 0.003 of its attention on the
  # soft token (case and filler 0.53 at layer 24): user steering adds a vector from the user to
  # every position after layers 10 and 20 instead of waiting for attention to fetch it
  [e2p1-lora8-white128-6-steer10,20-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128,\"steer_layers\":[10,20]} --epochs 6 --data ${data},shared_inputs=4"
  # PERSOMA-4 (MLP width 1024, items whitened) steering from the mean of its whitened items
  [persoma4mlp1024-lora8-white128-6-steer10,20-shared4]="--method persoma --num-tokens 4 --settings {\"lora_rank\":8,\"resampler\":\"mlp\",\"dim\":1024,\"input_norm\":\"whiten\",\"whiten_components\":128,\"steer_layers\":[10,20]} --epochs 6 --data ${data},shared_inputs=4"
  # the same, steering after every fifth layer
  [e2p1-lora8-white128-6-steer5x5-shared4]="--method e2p --num-tokens 1 --settings {\"lora_rank\":8,\"input_norm\":\"whiten\",\"whiten_components\":128,\"steer_layers\":[5,10,15,20,25]} --epochs 6 --data ${data},shared_inputs=4"
  [prompt1-lora8-12-shared4]="--method prompt --num-tokens 1 --settings {\"lora_rank\":8} --epochs 12 --data ${data},shared_inputs=4"
)
# text-k4 trains nothing: it pastes 4 retrieved history items (own, or another user's) into the prompt.
order=(e2p1-lora8 prompt1-lora8 persoma4-lora8 persoma4mlp-lora8 text-k4 e2p1-lora8-more e2p1-lora8-more2 e2p5-lora8 xattn-lora8 ragprefix4-lora8 e2p1-lora8-std e2p1-lora8-std-more e2p1-lora8-std-more2 e2p1-lora8-std6 persoma4mlp-lora8-std prompt1-lora8-6 persoma4mlp-lora8-std6 persoma4mlp1024-lora8-std6 ragprefix4mlp-lora8-std6 xattn-lora8-6 e2p1-lora8-std6-folded e2p1-lora8-std-x12 persoma4mlp1024-lora8-std-x12 e2p1-lora8all-std6 e2p5-lora8-std6 persoma4mlp1024-lora8-std6-drop e2p1-lora8-std6-shared4 e2p1-lora8-std12-shared4 persoma4mlp1024-lora8-std12-shared4 prompt1-lora8-12-shared4 e2p1-lora8all-std6-shared4 e2p1-lora8-std6-folded-shared4 e2p8-lora8-std6-shared4 e2p8-lora8-std6-folded-shared4 e2p8-lora8-std6-folded4096-shared4 e2p1-lora8-std6-folded4096-shared4 e2p1-lora8-white128-6-shared4 e2p8-lora8-white128-6-shared4 persoma4mlp1024-lora8-white128-12-shared4 e2p1-lora8-white128-12-shared4 e2p1-lora8-white128-12-folded4096-shared4 e2p1-lora8-white128-6-answer-shared4 e2p1-lora8-white128-6-afterinput-shared4 e2p1-lora8-white128-6-steer10,20-shared4 persoma4mlp1024-lora8-white128-6-steer10,20-shared4 e2p1-lora8-white128-6-steer5x5-shared4)
[ $# -gt 0 ] && order=("$@")
[ -f "$out/none/own/results.json" ] || $pz eval --method none --data "$data" --split test --limit $limit --out "$out/none/own"
for name in "${order[@]}"; do
  if [ "$name" = text-k4 ]; then
    score_sides "$out/$name" "own other" --method text --k 4 --data "$data" --split test --limit $limit
    continue
  fi
  # shellcheck disable=SC2086  # a run's own options are split into words on purpose
  train_and_score "$out/$name" --data "$data" --split test --limit $limit -- "${common[@]}" ${runs[$name]}
done
