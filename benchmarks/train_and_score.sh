# Sourced by the run scripts (soft_levers_synthetic.sh, style_recipe.sh, movielens_llm.sh): one
# trained run and its scoring, each step skipped when its output is there (a stopped script resumes).
#   train_and_score DIR EVAL_ARG... -- TRAIN_ARG...
# trains DIR/train (`$pz train TRAIN_ARG... --out DIR/train`), then evaluates the adapter into
# DIR/own with each user's own history and, unless it is a soft prompt (which reads no user), into
# DIR/other with another user's (--shuffle-profiles). `$pz` is the personalize command.
train_and_score() {
  local dir="$1"; shift
  local eval_args=()
  while [ "$1" != "--" ]; do eval_args+=("$1"); shift; done
  shift
  [ -f "$dir/train/adapter_model.safetensors" ] || $pz train "$@" --out "$dir/train"
  local sides="own other"
  grep -q '"method": "prompt"' "$dir/train/adapter_config.json" && sides="own"
  score_sides "$dir" "$sides" --adapter "$dir/train" "${eval_args[@]}"
}

#   score_sides DIR SIDES EVAL_ARG...
# `$pz eval EVAL_ARG...` into DIR/own (each user's own history) and, if SIDES names it, DIR/other
# (another user's: --shuffle-profiles); a side whose results.json is there is skipped.
score_sides() {
  local dir="$1" sides="$2"; shift 2
  for side in $sides; do
    local flag=(); [ "$side" = other ] && flag=(--shuffle-profiles)
    [ -f "$dir/$side/results.json" ] || $pz eval "$@" --out "$dir/$side" "${flag[@]}"
  done
}
