"""The shuffled-profiles ablation: every example gets another user's history."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from personalize.cli import app
from personalize.data import load_dataset
from personalize.data.ablation import shuffle_profiles
from personalize.errors import ConfigError


def test_shuffle_profiles_is_a_seeded_derangement_of_users() -> None:
    ds = load_dataset("synthetic-pref:n_users=5,items_per_user=4,examples_per_user=3", "dev")
    out = shuffle_profiles(ds, seed=0)
    assert [(e.id, e.input, e.output) for e in out.examples] == [(e.id, e.input, e.output) for e in ds.examples]
    moved = {a.user_id: b.user_id for a, b in zip(ds.examples, out.examples)}
    assert all(old != new for old, new in moved.items())  # nobody keeps their own history
    assert sorted(moved.values()) == sorted(moved)  # a permutation: every history is used once
    for a, b in zip(ds.examples, out.examples):  # a user's examples all move to the same other user
        assert moved[a.user_id] == b.user_id
    assert shuffle_profiles(ds, seed=0).examples == out.examples
    assert "shuffled" in out.source
    one = load_dataset("synthetic-pref:n_users=1,items_per_user=4,examples_per_user=2", "dev")
    with pytest.raises(ConfigError, match="two users"):
        shuffle_profiles(one, seed=0)


def test_shuffle_profiles_deranges_people_where_every_record_has_its_own_history() -> None:
    """MovieLens-like data: the history key is per record, ``person`` is the user. A shuffled
    record must get a history of another person, never another record of the same person."""
    from dataclasses import replace

    from personalize.data.schema import Example

    ds = load_dataset("synthetic-pref:n_users=4,items_per_user=4,examples_per_user=3", "dev")
    # one history key per record: record i of user u reads u's profile under its own key
    profiles = {f"{e.id}-key": ds.profiles[e.user_id] for e in ds.examples}
    examples = [Example(e.id, f"{e.id}-key", e.input, e.output, person=e.user_id) for e in ds.examples]
    records = replace(ds, examples=examples, profiles=profiles)
    out = shuffle_profiles(records, seed=0)
    person_of_key = {e.user_id: e.person for e in examples}
    for before, after in zip(examples, out.examples):
        assert after.person == before.person and after.id == before.id
        assert person_of_key[after.user_id] != before.person
    # each person's records move to one other person, and read several of that person's histories
    donors = {}
    for before, after in zip(examples, out.examples):
        donors.setdefault(before.person, set()).add(person_of_key[after.user_id])
    assert all(len(d) == 1 for d in donors.values())
    assert len({after.user_id for after in out.examples}) == len(examples)


def test_eval_shuffle_profiles_hurts_a_method_that_uses_the_user(tmp_path) -> None:
    """user-majority answers each user's own most frequent label: with another user's history
    it must lose accuracy on users whose tastes differ, and the result says it was shuffled."""
    runner = CliRunner()
    data = "synthetic-pref:n_users=8,items_per_user=30,examples_per_user=6"
    accuracy = {}
    for flag in ([], ["--shuffle-profiles"]):
        out = tmp_path / ("shuffled" if flag else "own")
        result = runner.invoke(app, ["eval", "--method", "user-majority", "--data", data, "--out", str(out), *flag])
        assert result.exit_code == 0, result.output
        saved = json.loads((out / "results.json").read_text())
        assert saved["shuffle_profiles"] is bool(flag)
        accuracy[bool(flag)] = saved["metrics"]["accuracy"]
    assert accuracy[True] < accuracy[False] - 0.1
