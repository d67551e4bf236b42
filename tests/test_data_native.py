"""Native folder format (users.jsonl + {split}.jsonl): loading, errors and save round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from personalize.data import (
    inspect_dataset,
    load_dataset,
    load_native,
    make_style_dataset,
    save_native,
)
from personalize.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


USERS = [
    {"user_id": "a", "history": [{"id": "a1", "text": "good", "score": "5"},
                                 {"id": "a2", "text": "bad", "score": 1}]},
    {"user_id": "b", "history": [{"id": "b1", "text": "fine", "score": "4", "extra": "x"}]},
    {"user_id": "c", "history": []},
]  # fmt: skip
DEV = [
    {"id": "e1", "user_id": "a", "input": "score? nice", "output": "5"},
    {"id": "e2", "user_id": "b", "input": "score? meh", "output": 3},
    {"id": "e3", "user_id": "c", "input": "score? hm", "output": "2"},
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "users.jsonl", USERS)
    write_jsonl(tmp_path / "dev.jsonl", DEV)
    return tmp_path


def test_load_native(folder: Path) -> None:
    ds = load_native(folder, "dev")
    assert ds.task.name == "LaMP-3"  # the default
    assert [e.id for e in ds] == ["e1", "e2"]
    assert ds.examples[1].output == "3"
    assert ds.profiles["a"].items[1] == {"id": "a2", "text": "bad", "score": "1"}
    assert ds.profiles["b"].items[0] == {"id": "b1", "text": "fine", "score": "4"}  # extra dropped
    assert set(ds.profiles) == {"a", "b"}
    assert ds.skipped == {"empty_profile": 1}
    info = inspect_dataset(ds)
    assert info["label_distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert info["history_label_distribution"]["5"] == 1 and info["items_total"] == 3
    json.dumps(info)


def test_load_dataset_detects_native(folder: Path) -> None:
    assert len(load_dataset(folder, "dev")) == 2
    with pytest.raises(DataError, match=r"no split 'train'.*available: dev"):
        load_dataset(folder, "train")


def test_blank_lines_ignored_and_missing_output_is_none(folder: Path) -> None:
    (folder / "test.jsonl").write_text('\n{"id": "t1", "user_id": "a", "input": "q"}\n\n')
    ds = load_native(folder, "test")
    assert [(e.id, e.output) for e in ds] == [("t1", None)]


def test_malformed_line_names_file_and_line(folder: Path) -> None:
    (folder / "dev.jsonl").write_text(json.dumps(DEV[0]) + '\n{"id": "e2", oops}\n')
    with pytest.raises(DataError, match=r"dev\.jsonl:2: malformed JSON"):
        load_native(folder, "dev")


@pytest.mark.parametrize(
    ("field", "pattern"),
    [("input", r"dev\.jsonl:2 \(id 'e2'\): missing field 'input'"),
     ("user_id", r"dev\.jsonl:2 \(id 'e2'\): missing field 'user_id'"),
     ("id", r"dev\.jsonl:2: missing field 'id'")],
)  # fmt: skip
def test_missing_example_field(folder: Path, field: str, pattern: str) -> None:
    broken = {k: v for k, v in DEV[1].items() if k != field}
    write_jsonl(folder / "dev.jsonl", [DEV[0], broken])
    with pytest.raises(DataError, match=pattern):
        load_native(folder, "dev")


def test_missing_item_field(folder: Path) -> None:
    users = json.loads(json.dumps(USERS))
    del users[1]["history"][0]["score"]
    write_jsonl(folder / "users.jsonl", users)
    with pytest.raises(
        DataError, match=r"users\.jsonl:2 \(user 'b'\), history item 0 \(id 'b1'\).*missing field 'score'"
    ):
        load_native(folder, "dev")


def test_unknown_user(folder: Path) -> None:
    write_jsonl(folder / "dev.jsonl", [*DEV, {"id": "e9", "user_id": "zed", "input": "q", "output": "1"}])
    with pytest.raises(DataError, match=r"dev\.jsonl:4: 1 user id\(s\) not in users\.jsonl: 'zed'"):
        load_native(folder, "dev")


def test_duplicate_ids(folder: Path) -> None:
    write_jsonl(folder / "dev.jsonl", [DEV[0], DEV[0]])
    with pytest.raises(DataError, match=r"dev\.jsonl:2 \(id 'e1'\): duplicate example id"):
        load_native(folder, "dev")
    write_jsonl(folder / "users.jsonl", [USERS[0], USERS[0]])
    with pytest.raises(DataError, match=r"users\.jsonl:2 \(user 'a'\): duplicate user_id"):
        load_native(folder, "dev")


def test_save_native_round_trip_keeps_synthetic_label(tmp_path: Path) -> None:
    splits = make_style_dataset(n_users=3, items_per_user=4, examples_per_user=2, seed=5)
    for ds in splits.values():
        save_native(ds, tmp_path / "export")
    for split, ds in splits.items():
        back = load_native(tmp_path / "export", split)
        assert back.task.name == "synthetic-style" and back.synthetic
        assert back.examples == ds.examples
        assert back.profiles == ds.profiles
    assert load_dataset(tmp_path / "export", "test").synthetic


def test_save_native_refuses_conflicting_user(tmp_path: Path) -> None:
    a = make_style_dataset(n_users=2, items_per_user=3, examples_per_user=1, seed=1)["dev"]
    b = make_style_dataset(n_users=2, items_per_user=3, examples_per_user=1, seed=2)["dev"]
    save_native(a, tmp_path)
    with pytest.raises(DataError, match="different history"):
        save_native(b, tmp_path)


@pytest.mark.shared_data
def test_shared_amazon_dev() -> None:
    folder = SHARED / "amazon-books-6users"
    if not (folder / "users.jsonl").is_file():
        pytest.skip(f"{folder} is absent")
    ds = load_dataset(folder, "dev")
    assert ds.task.name == "LaMP-3" and len(ds) == 214 and len(ds.profiles) == 6
    assert {e.output for e in ds} <= {"1", "2", "3", "4", "5"}
    assert inspect_dataset(ds)["outside_labels"] == 0
