"""Leave-one-out training examples from users' histories (the ``augment`` training setting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from personalize.data import load_dataset
from personalize.data.augment import augment, neutralize, profile_leave_one_out
from personalize.errors import ConfigError
from personalize.training import TrainConfig, train


def test_neutralize_removes_surface_habits_and_keeps_the_content() -> None:
    text = "omg soooo tired!!! cant wait 4 the weekend w/ u &amp; ur sis :) http://t.co/x #friday"
    out = neutralize(text)
    assert out == "Oh my god so tired! can't wait 4 the weekend with you and your sis friday"
    assert neutralize("i think i'm done") == "I think i'm done"  # only a lone "i" is capitalised
    assert neutralize("Nothing to change here.") == "Nothing to change here."
    # abbreviations are whole words only: "bun" keeps its "u", "Rome" its "r"
    assert neutralize("a bun in Rome") == "A bun in Rome"


def test_profile_leave_one_out_builds_per_user_examples_without_the_target_in_context() -> None:
    ds = load_dataset("synthetic-style:n_users=3,items_per_user=6,examples_per_user=2", "train")
    out = profile_leave_one_out(ds, per_user=2, seed=0)
    assert out.examples[: len(ds.examples)] == ds.examples  # the real pairs are kept, first
    extra = out.examples[len(ds.examples) :]
    assert len(extra) == 2 * len(ds.profiles)  # per user, not per example
    marker = ds.task.query_marker
    for example in extra:
        owner = example.user_id.split("~loo")[0]
        full = [item["text"] for item in ds.profiles[owner].items]
        context = [item["text"] for item in out.profile(example).items]
        assert example.output in full
        assert len(context) == len(full) - 1 and context.count(example.output) == full.count(example.output) - 1
        instruction, rewritten = example.input.split(marker, 1)
        assert ds.examples[0].input.startswith(instruction + marker)
        assert rewritten == neutralize(example.output)
    # seeded: the same items again, other items with another seed
    again = profile_leave_one_out(ds, per_user=2, seed=0)
    assert again.examples == out.examples
    assert profile_leave_one_out(ds, per_user=2, seed=1).examples != out.examples
    assert ds.profiles.keys() < out.profiles.keys()  # the input dataset is not modified


def test_augment_refuses_what_it_cannot_build() -> None:
    pref = load_dataset("synthetic-pref:n_users=2,items_per_user=4,examples_per_user=1", "train")
    with pytest.raises(ConfigError, match="rewriting task"):
        augment(pref, "profile-loo", 2, 0)
    style = load_dataset("synthetic-style:n_users=2,items_per_user=4,examples_per_user=1", "train")
    with pytest.raises(ConfigError, match=">= 1"):
        augment(style, "profile-loo", 0, 0)
    with pytest.raises(ConfigError, match="unknown augment"):
        augment(style, "paraphrase", 2, 0)
    assert augment(style, "none", 2, 0) is style


def test_training_with_augmentation_records_it(tiny_model, fake_encoder, tmp_path: Path) -> None:
    cfg = TrainConfig(method="e2p", data="synthetic-style:n_users=3,items_per_user=6,examples_per_user=1",
                      adapter={"num_tokens": 1, "mlp_hidden": 16}, epochs=1, batch_size=4, dev_limit=2,
                      augment="profile-loo", augment_per_user=2, eval={"batch_size": 4})
    summary = train(cfg, tmp_path / "run", loaded_model=tiny_model, show_progress=False)
    assert summary["augmented_examples"] == 6
    assert summary["train_examples"] == 3 + 6
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["augment"] == "profile-loo" and saved["augment_per_user"] == 2
    with pytest.raises(ConfigError, match="unknown augment"):
        train(TrainConfig(**{**cfg.to_dict(), "augment": "nope"}), tmp_path / "bad", loaded_model=tiny_model,
              show_progress=False)


def _loose_rewrite(text: str) -> str:
    """Half the words kept, four new: ROUGE-1 about 0.6 against ``text``, like a real LaMP-7 pair."""
    words = text.split()
    return " ".join(words[: len(words) // 2 + 1]) + " and so on then"


def test_profile_paraphrase_keeps_pairs_like_real_ones_and_counts_the_rest() -> None:
    ds = load_dataset("synthetic-style:n_users=3,items_per_user=6,examples_per_user=2", "train")
    marker = ds.task.query_marker
    asked: list[str] = []

    def paraphraser(prompts: list[str]) -> list[str]:
        asked.extend(prompts)
        answers = []
        for n, prompt in enumerate(prompts):
            item = prompt.split(marker, 1)[1]
            # a copy (too close), nothing, and an unrelated sentence are dropped; a looser rewrite is kept
            answers.append([item, "", "zebra quantum kettle", _loose_rewrite(item)][n % 4])
        return answers

    out = augment(ds, "profile-paraphrase", 2, 0, paraphraser)
    loo = profile_leave_one_out(ds, per_user=2, seed=0)
    assert len(asked) == len(loo.examples) - len(ds.examples)  # the same chosen items as profile-loo
    assert [p.split(marker, 1)[1] for p in asked] == [e.output for e in loo.examples[len(ds.examples):]]
    extra = out.examples[len(ds.examples):]
    assert out.examples[: len(ds.examples)] == ds.examples
    assert len(extra) + out.skipped["paraphrase unlike a real pair"] == len(asked)
    assert extra, "the looser rewrites are kept"
    for example in extra:
        instruction, rewritten = example.input.split(marker, 1)
        assert ds.examples[0].input.startswith(instruction + marker)
        assert rewritten == _loose_rewrite(example.output)
        assert example.output not in [item["text"] for item in out.profile(example).items]


def test_profile_paraphrase_needs_a_paraphraser() -> None:
    style = load_dataset("synthetic-style:n_users=2,items_per_user=4,examples_per_user=1", "train")
    with pytest.raises(ConfigError, match="needs a paraphraser"):
        augment(style, "profile-paraphrase", 2, 0)


def test_model_paraphraser_caches_answers_on_disk(tiny_model, tmp_path: Path) -> None:
    from personalize.generation import DecodingConfig
    from personalize.training.paraphrase import ModelParaphraser

    task = load_dataset("synthetic-style:n_users=2,items_per_user=4,examples_per_user=1", "train").task
    decoding = DecodingConfig(max_new_tokens=4)
    prompts = ["Rewrite: a b c", "Rewrite: d e f", "Rewrite: a b c"]
    first = ModelParaphraser(tiny_model, task, decoding, batch_size=2, chunk=1, show_progress=False, cache_root=tmp_path)
    answers = first(prompts)
    assert first.generated == 2 and answers[0] == answers[2]  # a repeated prompt is generated once
    assert len(first.path.read_text().splitlines()) == 2
    with first.path.open("a") as fh:
        fh.write('{"key": "cut sho')  # a line cut short by a kill is ignored, not an error
    again = ModelParaphraser(tiny_model, task, decoding, show_progress=False, cache_root=tmp_path)
    assert again(prompts) == answers and again.generated == 0
    other = ModelParaphraser(tiny_model, task, DecodingConfig(max_new_tokens=5), show_progress=False, cache_root=tmp_path)
    assert other.path != first.path  # decoding settings are part of the cache key


def test_training_with_paraphrase_augmentation_records_it(tiny_model, fake_encoder, tmp_path: Path) -> None:
    cfg = TrainConfig(method="e2p", data="synthetic-style:n_users=3,items_per_user=6,examples_per_user=1",
                      adapter={"num_tokens": 1, "mlp_hidden": 16}, epochs=1, batch_size=4, dev_limit=2,
                      augment="profile-paraphrase", augment_per_user=2,
                      eval={"batch_size": 4, "decoding": {"max_new_tokens": 6}})
    summary = train(cfg, tmp_path / "run", loaded_model=tiny_model, show_progress=False)
    assert summary["paraphrases_generated"] == 6
    dropped = summary["augment_skipped"].get("paraphrase unlike a real pair", 0)
    assert summary["augmented_examples"] + dropped == 6
    assert summary["train_examples"] == 3 + summary["augmented_examples"]
