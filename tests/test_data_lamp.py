"""LaMP loader and the ``load_dataset`` entry point, on small hand-made files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from personalize.data import inspect_dataset, load_dataset, load_lamp
from personalize.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_lamp(
    folder: Path,
    questions: Any,
    golds: Any = None,
    *,
    split: str = "dev",
    task: str | None = "LaMP_2",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}_questions.json").write_text(json.dumps(questions), encoding="utf-8")
    if golds is not None:
        outputs: dict[str, Any] = {"golds": golds}
        if task is not None:
            outputs["task"] = task
        (folder / f"{split}_outputs.json").write_text(json.dumps(outputs), encoding="utf-8")
    return folder


def movie(i: int, tag: str = "comedy", **extra: Any) -> dict[str, Any]:
    return {"id": f"m{i}", "description": f"a film number {i}", "tag": tag, **extra}


QUESTIONS = [
    {"id": 100, "input": "Which tag? description: a heist", "profile": [movie(1), movie(2, "action")]},
    {"id": "101", "input": "Which tag? description: a robot", "profile": [movie(3, "sci-fi")]},
]
GOLDS = [{"id": "100", "output": "action"}, {"id": 101, "output": "sci-fi"}]


def test_load_lamp_basic(tmp_path: Path) -> None:
    folder = write_lamp(tmp_path, QUESTIONS, GOLDS)
    ds = load_lamp(folder, "LaMP-2", "dev")
    assert ds.task.name == "LaMP-2" and ds.split == "dev" and not ds.synthetic
    assert [e.id for e in ds] == ["100", "101"]  # int ids become strings
    ex = ds.examples[0]
    assert ex.user_id == "100" and ex.output == "action"
    assert ds.profile(ex).items[1] == {"id": "m2", "description": "a film number 2", "tag": "action"}
    assert ds.golds() == {"100": "action", "101": "sci-fi"}
    assert ds.skipped == {}


def test_extra_item_fields_dropped_numbers_stringified_ids_created(tmp_path: Path) -> None:
    questions = [
        {"id": 7, "input": "rate: ok", "profile": [{"text": "fine", "score": 4.0, "date": 2020},
                                                   {"id": 55, "text": "meh", "score": 2}]},
    ]  # fmt: skip
    folder = write_lamp(tmp_path, questions, [{"id": 7, "output": 3}], task="LaMP_3")
    ds = load_lamp(folder, "lamp3", "dev")
    items = ds.profiles["7"].items
    assert items[0] == {"id": "7000", "text": "fine", "score": "4"}
    assert items[1] == {"id": "55", "text": "meh", "score": "2"}
    assert ds.examples[0].output == "3"


def test_no_outputs_file_means_no_golds(tmp_path: Path) -> None:
    folder = write_lamp(tmp_path, QUESTIONS, split="test")
    ds = load_lamp(folder, "LaMP-2", "test")
    assert [e.output for e in ds] == [None, None]


def test_empty_profile_is_a_counted_skip(tmp_path: Path) -> None:
    questions = [*QUESTIONS, {"id": "102", "input": "x", "profile": []}]
    golds = [*GOLDS, {"id": "102", "output": "comedy"}]
    ds = load_lamp(write_lamp(tmp_path, questions, golds), "LaMP-2", "dev")
    assert len(ds) == 2 and "102" not in ds.profiles
    assert ds.skipped == {"empty_profile": 1}
    assert inspect_dataset(ds)["skipped"] == {"empty_profile": 1}


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, GOLDS)
    (tmp_path / "dev_questions.json").write_text('[\n {"id": "1",\n  "input": oops}\n]')
    with pytest.raises(DataError, match=r"dev_questions\.json: malformed JSON at line 3, column"):
        load_lamp(tmp_path, "LaMP-2", "dev")


@pytest.mark.parametrize(
    ("record", "pattern"),
    [
        ({"id": "9", "profile": [movie(1)]}, r"record 1 \(id '9'\): missing or invalid field 'input'"),
        ({"id": "9", "input": "x"}, r"record 1 \(id '9'\).*'profile'"),
        ({"input": "x", "profile": [movie(1)]}, r"record 1: missing or invalid field 'id'"),
        (
            {"id": "9", "input": "x", "profile": [{"id": "a", "tag": "comedy"}]},
            r"record 1 \(id '9'\), profile item 0 \(id 'a'\): missing field 'description'",
        ),
        (
            {"id": "9", "input": "x", "profile": [movie(1), {"id": "b", "description": "d"}]},
            r"record 1 \(id '9'\), profile item 1 \(id 'b'\): missing field 'tag'",
        ),
        (
            {"id": "9", "input": "x", "profile": [movie(1, tag=None)]},  # type: ignore[arg-type]
            r"invalid field 'tag'",
        ),
        ({"id": "100", "input": "x", "profile": [movie(1)]}, r"duplicate question id '100'"),
    ],
)
def test_missing_fields_name_file_record_and_field(
    tmp_path: Path, record: dict[str, Any], pattern: str
) -> None:
    write_lamp(tmp_path, [QUESTIONS[0], record])
    with pytest.raises(DataError, match=pattern) as info:
        load_lamp(tmp_path, "LaMP-2", "dev")
    assert "dev_questions.json" in str(info.value)


def test_question_without_gold(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, GOLDS[:1])
    with pytest.raises(DataError, match=r"no gold output for 1 question id\(s\).*'101'"):
        load_lamp(tmp_path, "LaMP-2", "dev")


def test_gold_without_question(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, [*GOLDS, {"id": "999", "output": "comedy"}])
    with pytest.raises(DataError, match=r"gold id\(s\) have no question.*'999'"):
        load_lamp(tmp_path, "LaMP-2", "dev")


def test_gold_missing_output_field(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, [GOLDS[0], {"id": "101"}])
    with pytest.raises(DataError, match=r"dev_outputs\.json: golds\[1\]: missing key 'output'"):
        load_lamp(tmp_path, "LaMP-2", "dev")


def test_task_must_agree_with_outputs_file(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, GOLDS, task="LaMP_7")
    with pytest.raises(DataError, match=r"for task 'LaMP_7', but 'LaMP-2' was requested"):
        load_lamp(tmp_path, "LaMP-2", "dev")


def test_missing_questions_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"dev_questions\.json: no such file"):
        load_lamp(tmp_path, "LaMP-2", "dev")


# --- load_dataset ---------------------------------------------------------------------------


def test_load_dataset_reads_task_from_outputs(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, GOLDS, task="LaMP_2")
    ds = load_dataset(str(tmp_path), "dev")
    assert ds.task.name == "LaMP-2" and len(ds) == 2


def test_load_dataset_needs_task_when_outputs_names_none(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, split="test")
    with pytest.raises(DataError, match="--task"):
        load_dataset(tmp_path, "test")
    assert len(load_dataset(tmp_path, "test", task="LaMP-2")) == 2


def test_load_dataset_lists_available_splits(tmp_path: Path) -> None:
    write_lamp(tmp_path, QUESTIONS, GOLDS)
    with pytest.raises(DataError, match=r"no split 'train'.*available: dev"):
        load_dataset(tmp_path, "train")


def test_load_dataset_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither an existing folder"):
        load_dataset(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="unknown task"):
        load_dataset("LaMP-9")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a dataset folder"):
        load_dataset(tmp_path / "empty")


def test_load_dataset_cached_lamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path / "home"))
    with pytest.raises(DataError, match=r"run `personalize data download LaMP-2 --split dev`"):
        load_dataset("LaMP-2", "dev")
    with pytest.raises(DataError, match=r"--split-kind time"):
        load_dataset("LaMP-2:time", "dev")
    write_lamp(tmp_path / "home" / "data" / "LaMP-2" / "user", QUESTIONS, GOLDS)
    assert len(load_dataset("lamp_2", "dev")) == 2


# --- real data --------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_lamp7_dev() -> None:
    folder = SHARED / "lamp7"
    if not (folder / "dev_questions.json").is_file():
        pytest.skip(f"{folder} is absent")
    ds = load_dataset(folder, "dev")
    assert ds.task.name == "LaMP-7" and len(ds) == 200 and len(ds.profiles) == 200
    assert all(e.output for e in ds) and ds.skipped == {}
    assert min(len(p) for p in ds.profiles.values()) >= 9
