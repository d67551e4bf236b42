"""Synthetic style and preference users: determinism, labelling, learnability from history."""

from __future__ import annotations

import json
import re

import pytest

from personalize.data import (
    inspect_dataset,
    load_dataset,
    load_synthetic,
    make_preference_dataset,
    make_style_dataset,
)
from personalize.data.synthetic import PREF_LABELS, STYLE_PROMPT, style_of, user_preferences, user_styles
from personalize.errors import ConfigError, DataError


def test_style_is_deterministic_and_seed_dependent() -> None:
    a, b = make_style_dataset(seed=3), make_style_dataset(seed=3)
    for split in ("train", "dev", "test"):
        assert a[split].examples == b[split].examples
        assert a[split].profiles == b[split].profiles
    assert make_style_dataset(seed=4)["dev"].examples != a["dev"].examples


def test_preference_is_deterministic_and_seed_dependent() -> None:
    a, b = make_preference_dataset(seed=3), make_preference_dataset(seed=3)
    assert a["train"].examples == b["train"].examples and a["train"].profiles == b["train"].profiles
    assert make_preference_dataset(seed=4)["train"].examples != a["train"].examples


def test_style_shape_and_labelling() -> None:
    splits = make_style_dataset(n_users=5, items_per_user=6, examples_per_user=3, seed=0)
    assert set(splits) == {"train", "dev", "test"}
    for split, ds in splits.items():
        assert ds.synthetic and ds.task.name == "synthetic-style" and ds.split == split
        assert ds.source.startswith("synthetic:synthetic-style:seed=0")
        assert len(ds) == 15 and len(ds.profiles) == 5
        for e in ds:
            assert e.input.startswith(STYLE_PROMPT) and e.output
            assert set(ds.profile(e).items[0]) == {"id", "text"}
    # Split by example: same users everywhere, no sentence reused across splits or history.
    neutral = [e.input for ds in splits.values() for e in ds]
    assert len(set(neutral)) == len(neutral)
    history = {item["text"] for p in splits["dev"].profiles.values() for item in p.items}
    assert not history & {e.output for ds in splits.values() for e in ds}
    assert inspect_dataset(splits["dev"])["synthetic"] is True


def test_style_is_visible_in_history() -> None:
    splits = make_style_dataset(n_users=8, items_per_user=10, examples_per_user=2, seed=1)
    styles = user_styles(8, seed=1)
    assert len({s.signoff for s in styles}) == 8  # every user has their own sign-off
    for (user_id, profile), style in zip(splits["dev"].profiles.items(), styles, strict=True):
        assert style_of(user_id, styles) == style
        texts = [item["text"] for item in profile.items]
        assert all(t.endswith(style.signoff) for t in texts)
        if style.case == "upper":
            assert all(t == t.upper() for t in texts)
        if style.filler:
            assert all(t.lower().startswith(style.filler + ",") for t in texts)
        for e in splits["dev"]:
            if e.user_id == user_id:
                assert e.output == style.apply(e.input.removeprefix(STYLE_PROMPT))
    for bad in ("style-008", "pref-001", "style-x"):
        with pytest.raises(DataError, match="not a synthetic-style user"):
            style_of(bad, styles)
    british = next(s for s in styles if s.spelling == "british")
    assert "colour" in british.apply("The color of the neighborhood.").lower()
    assert "neighbourhood" in british.apply("The color of the neighborhood.").lower()


def test_preference_label_follows_user_ranking_and_history() -> None:
    splits = make_preference_dataset(n_users=6, items_per_user=12, examples_per_user=4, seed=2)
    rankings = user_preferences(6, seed=2)
    assert len(set(rankings)) == 6
    cue_pattern = re.compile("|".join(PREF_LABELS))
    for ds in splits.values():
        assert ds.task.name == "synthetic-pref" and ds.synthetic
        for e in ds:
            assert e.output in PREF_LABELS
            assert "genres: [mystery, romance, science, history, travel]" in e.input
        for profile, ranking in zip(ds.profiles.values(), rankings, strict=True):
            assert len(profile) == 12 and all(i["label"] in PREF_LABELS for i in profile.items)
            # The least preferred genre loses every pair, so it is never a label; and the item
            # texts never name a genre outright.
            assert ranking[-1] not in {i["label"] for i in profile.items}
            assert not cue_pattern.search(" ".join(i["text"] for i in profile.items))
    # Different users answer differently: not everything is one label.
    assert len({e.output for e in splits["dev"]}) > 1


def test_preference_examples_use_pairs_shown_in_history() -> None:
    # With 3 history items only 3 genre pairs are shown; every example's gold must be the
    # label the user gave to an item of the same pair.
    ds = make_preference_dataset(n_users=4, items_per_user=3, examples_per_user=5, seed=0)["dev"]
    assert len(ds) == 20
    for user_id, profile in ds.profiles.items():
        labels = {i["label"] for i in profile.items}
        for e in ds:
            if e.user_id == user_id:
                assert e.output in labels


def test_load_synthetic_and_load_dataset() -> None:
    ds = load_synthetic("synthetic-pref", "test", seed=1, n_users=2, examples_per_user=1)
    assert len(ds) == 2 and ds.split == "test"
    same = load_dataset("synthetic-pref:seed=1,n_users=2,examples_per_user=1", "test")
    assert same.examples == ds.examples
    again = load_dataset(ds.source, "test")  # a dataset's source string loads it again
    assert again.examples == ds.examples
    assert len(load_dataset("synthetic-style", "dev", n_users=2)) == 2 * 4
    with pytest.raises(DataError, match="splits train, dev, test"):
        load_synthetic("synthetic-style", "validation")
    with pytest.raises(ConfigError, match="bad option"):
        load_dataset("synthetic-style:sed=3")
    with pytest.raises(ConfigError, match="not a synthetic task"):
        load_synthetic("LaMP-7", "dev")
    with pytest.raises(ConfigError, match="positive integer"):
        make_style_dataset(n_users=0)


def test_inspect_is_json_serialisable() -> None:
    info = inspect_dataset(make_preference_dataset()["dev"])
    json.dumps(info)
    assert info["examples"] == 32 and info["users"] == 8 and info["items_total"] == 96
    assert list(info["label_distribution"]) == list(PREF_LABELS)
    assert sum(info["label_distribution"].values()) == 32
    assert sum(info["history_label_distribution"].values()) == 96
    assert info["profile_length"]["p90"] == 12
