"""Personalization probes: held-out users, style attributes, user-level intervals, and tests that
fail when the user stops reaching the model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from personalize.data.loading import load_dataset
from personalize.data.synthetic import parse_style, style_of, style_scores, user_styles
from personalize.errors import ConfigError, PersonalizeError
from personalize.evaluation.gains import cluster_bootstrap, paired_gain
from personalize.metrics import compute_metrics, per_example_scores
from personalize.training import TrainConfig, train

USER_SPLIT = "synthetic-style:seed=0,n_users=40,items_per_user=6,examples_per_user=3,split_by=user"


def test_user_split_holds_out_whole_users_whose_styles_are_new_but_whose_attributes_are_not() -> None:
    splits = {s: load_dataset(USER_SPLIT, s) for s in ("train", "dev", "test")}
    users = {s: {e.user_id for e in d.examples} for s, d in splits.items()}
    assert users["train"].isdisjoint(users["dev"]) and users["train"].isdisjoint(users["test"])
    assert users["dev"].isdisjoint(users["test"])
    assert len(users["dev"]) == len(users["test"]) == 8 and len(users["train"]) == 24
    for split, dataset in splits.items():
        assert set(dataset.profiles) == users[split]  # a split carries only its own users' histories
    styles = user_styles(40, seed=0)
    train_styles = [style_of(u, styles) for u in users["train"]]
    for user in users["test"] | users["dev"]:
        style = style_of(user, styles)
        assert style not in train_styles
        for attribute in ("case", "filler", "ending", "spelling", "signoff"):
            assert getattr(style, attribute) in {getattr(s, attribute) for s in train_styles}
    again = load_dataset(USER_SPLIT, "test")
    assert [e.output for e in again.examples] == [e.output for e in splits["test"].examples]
    assert "split_by=user" in splits["test"].source


def test_shared_inputs_gives_groups_of_training_users_the_same_sentences_and_changes_nothing_else() -> None:
    shared = USER_SPLIT + ",shared_inputs=3"
    for split in ("dev", "test"):
        plain, grouped = load_dataset(USER_SPLIT, split), load_dataset(shared, split)
        assert [(e.id, e.input, e.output) for e in grouped.examples] == [(e.id, e.input, e.output) for e in plain.examples]
    plain, grouped = load_dataset(USER_SPLIT, "train"), load_dataset(shared, "train")
    assert grouped.profiles == plain.profiles and "shared_inputs=3" in grouped.source
    assert [e.id for e in grouped.examples] == [e.id for e in plain.examples]
    inputs_of: dict[str, list[str]] = {}
    for e in grouped.examples:
        inputs_of.setdefault(e.user_id, []).append(e.input)
    users = list(inputs_of)  # training users in user order: groups of 3 consecutive ones
    for first in range(0, len(users), 3):
        group = users[first : first + 3]
        assert all(inputs_of[u] == inputs_of[group[0]] for u in group)
        # the same sentence, each user's own style
        first_outputs = {next(e.output for e in grouped.examples if e.user_id == u) for u in group}
        assert len(first_outputs) == len(group)
    assert len({e.input for e in grouped.examples}) == len({e.input for e in plain.examples}) // 3
    with pytest.raises(ConfigError, match="shared_inputs must be a positive integer"):
        load_dataset(USER_SPLIT + ",shared_inputs=0", "train")
    with pytest.raises(ConfigError, match="shared_inputs is an option of synthetic-style"):
        load_dataset("synthetic-pref:n_users=8,shared_inputs=2", "train")


def test_user_split_refuses_too_few_users_and_unknown_values() -> None:
    with pytest.raises(ConfigError, match="at least 6 users"):
        load_dataset("synthetic-pref:n_users=4,split_by=user", "dev")
    with pytest.raises(ConfigError, match="split_by must be one of"):
        load_dataset("synthetic-style:split_by=users", "dev")


def test_pref_user_split_is_disjoint() -> None:
    source = "synthetic-pref:seed=1,n_users=20,items_per_user=10,examples_per_user=2,split_by=user"
    train_users = {e.user_id for e in load_dataset(source, "train").examples}
    test_users = {e.user_id for e in load_dataset(source, "test").examples}
    assert train_users and test_users and train_users.isdisjoint(test_users)


def test_style_attributes_are_read_back_from_outputs() -> None:
    style = user_styles(8, seed=3)[0]
    text = style.apply("My neighbor painted the color of the kitchen this morning.")
    parsed = parse_style(text)
    assert (parsed["case"], parsed["filler"], parsed["ending"], parsed["signoff"]) == (
        style.case if style.case != "as-is" else "as-is", style.filler, style.ending, style.signoff)
    assert parsed["spelling"] == style.spelling
    assert parsed["words"] == "my neighbor painted the color of the kitchen this morning"
    assert parse_style("HONESTLY, MY NEIGHBOUR PAINTED IT!!! #yolo") == {
        "case": "upper", "filler": "honestly", "ending": "!!!", "spelling": "british", "signoff": "#yolo",
        "words": "my neighbor painted it"}


def test_style_scores_see_each_attribute_and_the_content() -> None:
    gold = "tbh, my neighbour painted the colour of the kitchen... \U0001f680"
    assert style_scores(gold, gold) == {"case": 1.0, "filler": 1.0, "ending": 1.0, "spelling": 1.0, "signoff": 1.0,
                                        "content": 1.0}
    copied = style_scores("My neighbor painted the color of the kitchen.", gold)
    assert copied == {"case": 0.0, "filler": 0.0, "ending": 0.0, "spelling": 0.0, "signoff": 0.0, "content": 1.0}
    lost = style_scores("tbh, my neighbour painted... \U0001f680", gold)
    assert lost["signoff"] == 1.0 and lost["filler"] == 1.0 and lost["content"] == pytest.approx(3 / 7)
    # a sentence without a British/American word says nothing about spelling
    assert style_scores("A friend loved it.", "A friend loved it.")["spelling"] is None


def test_style_metrics_are_task_metrics() -> None:
    dataset = load_dataset(USER_SPLIT, "test")
    golds = dataset.golds()
    copied = {e.id: e.input.split("before or after it: ", 1)[1] for e in dataset.examples}
    metrics = compute_metrics(dataset.task, copied, golds)
    assert set(metrics) == {"rouge-1", "rouge-L", "bleu", "case", "filler", "ending", "spelling", "signoff", "content"}
    assert metrics["content"] == 1.0 and metrics["signoff"] == 0.0
    per = per_example_scores(dataset.task, copied, golds)
    assert set(next(iter(per.values()))) >= {"rouge-1", "case", "content"}


def test_limit_spreads_over_users_unless_asked_for_the_first() -> None:
    dataset = load_dataset("synthetic-style:n_users=8,examples_per_user=6", "dev")  # ordered by user
    first = dataset.limit(8, sample="first")
    assert {e.user_id for e in first.examples} == {"style-000", "style-001"}
    spread = dataset.limit(8)
    assert len({e.user_id for e in spread.examples}) == 8
    assert [e.id for e in dataset.limit(8, seed=1).examples] != [e.id for e in spread.examples]
    assert [e.id for e in dataset.limit(8).examples] == [e.id for e in spread.examples]
    with pytest.raises(ConfigError, match="limit sample"):
        dataset.limit(3, sample="last")


def test_cluster_bootstrap_resamples_users_not_examples() -> None:
    # two users, each with 50 identical deltas: the examples look like 100 certain draws, but
    # there are only two users, one helped and one not
    users = ["a"] * 50 + ["b"] * 50
    delta = [1.0] * 50 + [0.0] * 50
    stats = cluster_bootstrap(delta, users, seed=0)
    assert stats["difference"] == pytest.approx(0.5)
    assert stats["low"] == pytest.approx(0.0) and stats["high"] == pytest.approx(1.0)
    assert stats["users"] == 2 and stats["n"] == 100
    flat = cluster_bootstrap(delta, [str(i) for i in range(100)], seed=0)
    assert flat["high"] - flat["low"] < 0.3  # the example-level interval that claimed too much
    assert np.isnan(cluster_bootstrap([None, None], ["a", "b"])["difference"])


def test_paired_gain_averages_several_references(tiny_model) -> None:
    dataset = load_dataset("synthetic-pref:n_users=4,examples_per_user=2", "dev")
    golds = dataset.golds()
    right = per_example_scores(dataset.task, golds, golds)
    wrong = per_example_scores(dataset.task, {i: "nonsense" for i in golds}, golds)
    user_of = {e.id: e.user_id for e in dataset.examples}
    gains = paired_gain(dataset.task, right, [right, wrong], user_of)
    assert gains["accuracy"]["difference"] == pytest.approx(0.5)
    assert gains["accuracy"]["ours"] == 1.0 and gains["accuracy"]["theirs"] == pytest.approx(0.5)


def test_auc_gain_matches_sklearn_and_resamples_users() -> None:
    from sklearn.metrics import roc_auc_score

    from personalize.evaluation.gains import auc_gain

    rng = np.random.default_rng(0)
    users = [f"u{k}" for k in range(8) for _ in range(25)]
    positive = rng.random(200) < 0.5
    informative = positive + rng.normal(0, 0.8, 200)  # ranks the positives higher
    noise = [rng.random(200), rng.random(200)]
    stats = auc_gain(positive, informative, noise, users, seed=0)
    assert stats["ours"] == pytest.approx(roc_auc_score(positive, informative))
    assert stats["theirs"] == pytest.approx(np.mean([roc_auc_score(positive, run) for run in noise]))
    assert stats["difference"] == pytest.approx(stats["ours"] - stats["theirs"])
    assert 0 < stats["low"] < stats["difference"] < stats["high"] and stats["users"] == 8
    same = auc_gain(positive, informative, [informative], users)
    assert same["difference"] == same["low"] == same["high"] == 0.0
    # one user's scores help, seven users' do not: the users decide the interval, not the 200 examples
    one_user = np.where(np.asarray(users) == "u0", informative, noise[0])
    assert auc_gain(positive, one_user, [noise[0]], users)["low"] <= 0.0


def test_auc_gain_averages_the_derangements_aucs_not_their_probabilities() -> None:
    """Several other users' P(positive), averaged, rank better than any one of them: the mean of
    their AUCs is the other side, or the own − other gain shrinks with every derangement added."""
    from sklearn.metrics import roc_auc_score

    from personalize.evaluation.gains import auc_gain

    rng = np.random.default_rng(1)
    users = [f"u{k}" for k in range(20) for _ in range(20)]
    positive = rng.random(400) < 0.5
    own = positive + rng.normal(0, 0.5, 400)
    others = [positive + rng.normal(0, 2.0, 400) for _ in range(5)]  # each weakly informative
    one_by_one = np.mean([roc_auc_score(positive, run) for run in others])
    ensemble = roc_auc_score(positive, np.mean(others, axis=0))
    assert ensemble > one_by_one + 0.05  # the averaged probabilities are a better ranker
    stats = auc_gain(positive, own, others, users, resamples=200)
    assert stats["theirs"] == pytest.approx(one_by_one)
    assert stats["difference"] == pytest.approx(roc_auc_score(positive, own) - one_by_one)
    assert stats["low"] < stats["difference"] < stats["high"]


def test_paired_gain_adds_auc_where_the_task_ranks() -> None:
    from personalize.evaluation.gains import headline, with_probabilities

    dataset = load_dataset("synthetic-pref:n_users=6,examples_per_user=4", "dev")
    task = replace(dataset.task, positive_label=dataset.task.labels[0])
    golds = dataset.golds()
    scores = per_example_scores(task, golds, golds)
    sure = {i: float(g == task.positive_label) for i, g in golds.items()}
    unsure = {i: 0.5 for i in golds}
    user_of = {e.id: e.owner for e in dataset.examples}
    gains = paired_gain(task, with_probabilities(task, scores, sure, golds), [with_probabilities(task, scores, unsure, golds)], user_of)
    assert gains["auc"]["ours"] == 1.0 and gains["auc"]["theirs"] == 0.5 and headline(task, gains) == "auc"
    # a run without a probability for every example: no AUC, the primary metric is quoted
    partial = with_probabilities(task, scores, {i: 0.5 for i in list(golds)[1:]}, golds)
    assert "auc" not in paired_gain(task, partial, [partial], user_of)
    assert headline(task, paired_gain(task, partial, [partial], user_of)) == "accuracy"


# ----------------------------------------------------------------------------------------------
# the user must reach the model


class _ZeroEncoder:
    """An encoder that sees nothing: every user vector is the same (zero)."""

    dim, name = 32, "zero-test-encoder"

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False):
        return np.zeros((len(texts), self.dim), dtype=np.float32)


def _probe_config(**kw) -> TrainConfig:
    # synthetic-style: the style is in the history's text, which the (model-free) char-ngrams encoder
    # sees (synthetic-pref's choices are item labels, which the encoder reads through encoded_fields)
    base = dict(method="e2p", data="synthetic-style:n_users=6,items_per_user=8,examples_per_user=6",
                adapter={"num_tokens": 2, "mlp_hidden": 32, "encoder": "char-ngrams"}, epochs=6, batch_size=6,
                lr=5e-2, warmup_ratio=0.0, patience=100, dev_eval=False)
    base.update(kw)
    return TrainConfig(**base)


def _log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


def test_own_history_beats_another_users_history_during_training(steerable_tiny_model, tmp_path) -> None:
    """The dev answers must be clearly more likely with the user's own history than with another
    user's: the personalization gap that every epoch's log reports. If user features stopped
    reaching the soft tokens (or the soft tokens the model), this gap would be 0."""
    train(_probe_config(), tmp_path / "e2p", loaded_model=steerable_tiny_model, show_progress=False)
    log = _log(tmp_path / "e2p")
    assert log[-1]["personalization_gap"] > 0.1  # 0.158 with this seed; exactly 0 with zeroed features
    assert log[-1]["dev_loss_other_user"] == pytest.approx(log[-1]["dev_loss"] + log[-1]["personalization_gap"])


def test_with_the_user_features_zeroed_there_is_no_gap(steerable_tiny_model, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("personalize.models.load_encoder", lambda name="minilm-l6", device="auto": _ZeroEncoder())
    monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path / "home"))
    train(_probe_config(), tmp_path / "zero", loaded_model=steerable_tiny_model, show_progress=False)
    log = _log(tmp_path / "zero")
    assert all(abs(entry["personalization_gap"]) < 1e-5 for entry in log)
    assert log[-1]["train_loss"] < log[0]["train_loss"]  # it trained; it just cannot tell users apart


def test_the_control_logs_no_gap_and_selection_uses_the_dev_loss(steerable_tiny_model, tmp_path) -> None:
    summary = train(_probe_config(method="prompt", adapter={"num_tokens": 2}, epochs=2), tmp_path / "control",
                    loaded_model=steerable_tiny_model, show_progress=False)
    log = _log(tmp_path / "control")
    assert all(entry["personalization_gap"] is None and entry["dev"] is None for entry in log)
    assert summary["selected_on"] == "dev_loss"
    best = min(log, key=lambda entry: entry["dev_loss"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["best_dev"]["dev_loss"] == pytest.approx(best["dev_loss"])


def test_selecting_on_the_metric_needs_the_dev_evaluation() -> None:
    with pytest.raises(ConfigError, match="dev_eval"):
        _probe_config(select_on="metric", dev_eval=False)
    with pytest.raises(ConfigError, match="select_on must be"):
        _probe_config(select_on="rouge")


def test_init_adapter_continues_from_saved_weights_and_refuses_other_settings(tiny_model, tmp_path) -> None:
    from safetensors.torch import load_file

    first = _probe_config(method="prompt", adapter={"num_tokens": 2}, epochs=1)
    train(first, tmp_path / "first", loaded_model=tiny_model, show_progress=False)
    # zero epochs of change: lr 0 keeps the loaded weights, so the saved adapter equals the start
    again = _probe_config(method="prompt", adapter={"num_tokens": 2}, epochs=1, lr=1e-12, warmup_ratio=0.0,
                          init_adapter=str(tmp_path / "first"))
    train(again, tmp_path / "again", loaded_model=tiny_model, show_progress=False)
    a = load_file(str(tmp_path / "first" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "again" / "adapter_model.safetensors"))
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)
    other = _probe_config(method="prompt", adapter={"num_tokens": 3}, epochs=1, init_adapter=str(tmp_path / "first"))
    with pytest.raises(ConfigError, match="other adapter settings"):
        train(other, tmp_path / "other", loaded_model=tiny_model, show_progress=False)


def test_init_control_starts_as_the_control_then_learns_the_user_on_its_frozen_lora(steerable_tiny_model, tmp_path) -> None:
    """``init_control``: at step 0 E2P computes its trained control exactly, for every user (same
    dev loss, no personalization gap); with ``freeze_shared`` the control's LoRA stays as it was
    while the user's part learns, and a gap opens."""
    from safetensors.torch import load_file

    shared = {"num_tokens": 2, "lora_rank": 4}
    control = train(_probe_config(method="prompt", adapter=shared, epochs=2), tmp_path / "control",
                    loaded_model=steerable_tiny_model, show_progress=False)
    e2p = {**_probe_config().adapter, **shared}
    start = _probe_config(adapter=e2p, epochs=1, lr=1e-12, init_control=str(tmp_path / "control"))
    train(start, tmp_path / "start", loaded_model=steerable_tiny_model, show_progress=False)
    first = _log(tmp_path / "start")[0]
    assert first["dev_loss"] == pytest.approx(control["best_dev"]["dev_loss"], abs=1e-5)
    assert abs(first["personalization_gap"]) < 1e-5

    frozen = _probe_config(adapter=e2p, init_control=str(tmp_path / "control"), freeze_shared=True)
    summary = train(frozen, tmp_path / "frozen", loaded_model=steerable_tiny_model, show_progress=False)
    before = load_file(str(tmp_path / "control" / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "frozen" / "adapter_model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("lora."))
    lora_size = sum(v.numel() for k, v in before.items() if k.startswith("lora."))
    assert summary["trainable_parameters"] == sum(v.numel() for v in after.values()
                                                  if v.is_floating_point()) - lora_size - 1  # - target_norm
    assert _log(tmp_path / "frozen")[-1]["personalization_gap"] > 0.05


def test_init_control_refuses_what_cannot_start_as_that_control(tiny_model, tmp_path) -> None:
    train(_probe_config(method="prompt", adapter={"num_tokens": 2, "lora_rank": 4}, epochs=1), tmp_path / "control",
          loaded_model=tiny_model, show_progress=False)
    e2p = {**_probe_config().adapter, "num_tokens": 2}
    cases = [
        (_probe_config(adapter={**e2p, "lora_rank": 2}, init_control=str(tmp_path / "control")),
         "other shared settings: lora_rank 4"),
        (_probe_config(method="persoma", adapter={"num_tokens": 2, "lora_rank": 4, "encoder": "char-ngrams"},
                       init_control=str(tmp_path / "control")), "cannot start as a control"),
    ]
    for config, message in cases:
        with pytest.raises(ConfigError, match=message):
            train(config, tmp_path / "refused", loaded_model=tiny_model, show_progress=False)
    train(_probe_config(adapter={**e2p, "lora_rank": 4}, epochs=1), tmp_path / "e2p", loaded_model=tiny_model,
          show_progress=False)
    with pytest.raises(ConfigError, match="not a 'prompt' control"):
        train(_probe_config(adapter={**e2p, "lora_rank": 4}, init_control=str(tmp_path / "e2p")),
              tmp_path / "refused2", loaded_model=tiny_model, show_progress=False)
    with pytest.raises(ConfigError, match="needs init_control"):
        _probe_config(freeze_shared=True)
    with pytest.raises(ConfigError, match="both set"):
        _probe_config(init_adapter=str(tmp_path / "e2p"), init_control=str(tmp_path / "control"))


@pytest.mark.parametrize("method, feature_kw", [
    ("e2p", {"vector": lambda: torch.randn(3, 16)}),
    ("persoma", {"items": lambda: torch.randn(3, 5, 16), "item_mask": lambda: torch.ones(3, 5, dtype=torch.bool)}),
])
def test_zero_user_init_starts_as_a_shared_prompt_and_then_learns_the_user(method, feature_kw) -> None:
    """``user_init: zero``: at step 0 every user gets the same soft tokens (the adapter is the
    control), yet gradients still reach the user path, so one step later users differ."""
    import personalize.modeling  # noqa: F401  (registers the soft methods)
    from personalize.methods.soft.adapter import ADAPTERS
    from personalize.methods.soft.features import UserFeatures

    kind = ADAPTERS.get(method)
    torch.manual_seed(0)
    features = UserFeatures(batch_size=3, **{k: make() for k, make in feature_kw.items()})
    adapter = kind.build(kind.config_class(num_tokens=2, user_init="zero"), 24, 16, 1.0)
    tokens = adapter(features)
    assert tokens.shape == (3, 2, 24)
    assert torch.allclose(tokens[0], tokens[1]) and torch.allclose(tokens[0], tokens[2])
    optimizer = torch.optim.SGD(adapter.parameters(), lr=1.0)
    (tokens * torch.randn_like(tokens)).sum().backward()
    optimizer.step()
    tokens = adapter(features)
    assert not torch.allclose(tokens[0], tokens[1], atol=1e-4)
    random_init = kind.build(kind.config_class(num_tokens=2), 24, 16, 1.0)(features)
    assert not torch.allclose(random_init[0], random_init[1], atol=1e-4)


def test_the_encoder_reads_a_preference_users_choices_not_only_the_item_text() -> None:
    """synthetic-pref's history items are the same kind of descriptions for every user; who the
    user is lies in the label (their choice). The soft methods' encoder must read it; retrieval
    by content must not."""
    from personalize.data.tasks import get_task
    from personalize.retrieval.base import encoded_text, item_text

    item = {"id": "h0", "text": "A book about a murder, and about a kiss.", "label": "romance"}
    pref, style = get_task("synthetic-pref"), get_task("synthetic-style")
    assert encoded_text(item, pref) == "A book about a murder, and about a kiss. romance"
    assert item_text(item, pref) == "A book about a murder, and about a kiss."
    assert encoded_text({"id": "h0", "text": "HI!"}, style) == "HI!"
    # a reviewer's own score is their rating habit: the encoder reads it, retrieval by content not
    review, rating = {"id": "h1", "text": "Loved every page.", "score": "5"}, get_task("LaMP-3")
    assert encoded_text(review, rating) == "score 5: Loved every page."
    assert item_text(review, rating) == "Loved every page."
    assert encoded_text({"id": "h2", "text": "No score given."}, rating) == "No score given."  # a profile without scores


def test_zero_user_init_is_refused_where_there_is_no_user_projection() -> None:
    import personalize.modeling  # noqa: F401  (registers the soft methods)
    from personalize.methods.soft.adapter import ADAPTERS

    for method in ("prompt", "xattn"):
        with pytest.raises(ConfigError, match="user_init"):
            ADAPTERS.get(method).config_class(user_init="zero")
    with pytest.raises(ConfigError, match="'random' or 'zero'"):
        ADAPTERS.get("e2p").config_class(user_init="small")
    assert ADAPTERS.get("rag-prefix").config_class(user_init="zero").user_init == "zero"


def test_stop_after_runs_part_of_the_schedule(steerable_tiny_model, tmp_path) -> None:
    summary = train(_probe_config(epochs=6, stop_after_epochs=2), tmp_path / "run", loaded_model=steerable_tiny_model,
                    show_progress=False)
    assert summary["epochs_run"] == 2 and len(_log(tmp_path / "run")) == 2
    with pytest.raises(ConfigError, match="stop_after_epochs"):
        _probe_config(stop_after_epochs=0)


def test_the_summary_names_the_commit_the_run_started_from(steerable_tiny_model, tmp_path, monkeypatch) -> None:
    import personalize.training.trainer as trainer

    def git_commit() -> dict:  # the tree moves on once the first epoch is logged
        moved = (tmp_path / "run" / "train_log.jsonl").exists()
        return {"commit": "committed-while-training" if moved else "started-here", "dirty": False}

    monkeypatch.setattr(trainer, "git_commit", git_commit)
    summary = train(_probe_config(epochs=1), tmp_path / "run", loaded_model=steerable_tiny_model, show_progress=False)
    assert summary["git"]["commit"] == "started-here"
    assert json.loads((tmp_path / "run" / "train_summary.json").read_text())["git"]["commit"] == "started-here"


def test_char_ngrams_folded_shares_a_spelling_across_case_and_keeps_the_case() -> None:
    from personalize.models.encoders import load_encoder

    cased, folded = load_encoder("char-ngrams", device="cpu"), load_encoder("char-ngrams-folded", device="cpu")
    texts = ["my favourite colour", "my favorite color", "MY FAVOURITE COLOUR", "MY FAVORITE COLOR"]

    def spelling_directions_agree(encoder) -> float:  # British minus American, lower vs upper case
        v = encoder.encode(texts)
        assert v.shape == (4, encoder.dim) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        lower, upper = v[0] - v[1], v[2] - v[3]
        return float(lower @ upper / np.linalg.norm(lower) / np.linalg.norm(upper))

    # A readout of spelling learnt on lower-case users transfers to upper-case ones only when folded.
    assert abs(spelling_directions_agree(cased)) < 0.1
    assert spelling_directions_agree(folded) > 0.3
    assert not np.allclose(folded.encode(texts[:1]), folded.encode(texts[2:3]))  # the case is still seen
    # The cased encoder is what the shipped adapters read: its buckets must not move.
    x = cased.encode(texts[:1])[0]
    assert np.count_nonzero(x) == 67
    assert np.nonzero(x)[0][:6].tolist() == [2, 16, 21, 25, 29, 36]
    assert np.allclose(x[[2, 16, 36]], [0.107838, -0.107838, -0.182586], atol=1e-5)


def test_char_ngrams_buckets_are_a_setting_of_the_name() -> None:
    from personalize.models.encoders import load_encoder

    wide = load_encoder("char-ngrams-folded@4096", device="cpu")
    assert (wide.name, wide.dim, wide.case_folded) == ("char-ngrams-folded@4096", 4096, True)
    assert load_encoder("char-ngrams@64", device="cpu").encode(["Colour!"]).shape == (1, 64)
    # More buckets, fewer collisions: more of a text's n-grams keep a bucket of their own.
    used = {n: np.count_nonzero(load_encoder(n, device="cpu").encode(["my favourite colour"]))
            for n in ("char-ngrams@32", "char-ngrams", "char-ngrams@4096")}
    assert used["char-ngrams@32"] <= 32 < used["char-ngrams"] == 67 < used["char-ngrams@4096"]
    for bad in ("char-ngrams@", "char-ngrams@x", "char-ngrams-folded@8"):
        with pytest.raises(PersonalizeError, match="buckets an integer >= 16"):
            load_encoder(bad, device="cpu")
