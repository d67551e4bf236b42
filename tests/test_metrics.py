"""Metrics: expected values are worked out by hand in the comments, not by the code under test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from personalize.data.tasks import get_task
from personalize.errors import DataError
from personalize.metrics import (
    compute_metrics,
    per_example_scores,
    read_lamp_outputs,
    score_files,
    write_lamp_outputs,
)

# ------------------------------------------------------------------------------ classification


def test_classification_accuracy_and_macro_f1_by_hand() -> None:
    # synthetic-pref labels: mystery, romance, science, history, travel
    task = get_task("synthetic-pref")
    golds = {
        "1": "mystery",
        "2": "mystery",
        "3": " romance\n",  # gold is stripped too
        "4": "science",
        "5": "science",
        "6": "history",
    }
    preds = {
        "1": "  mystery ",  # correct after stripping
        "2": "romance",  # wrong
        "3": "romance",  # correct
        "4": "Science",  # not a label (case differs) -> -1, wrong
        "5": "science",  # correct
        "6": "mystery",  # wrong
    }
    # accuracy = 3/6
    # mystery: tp=1 (1), fp=1 (6), fn=1 (2) -> 2/(2+1+1) = 1/2
    # romance: tp=1 (3), fp=1 (2), fn=0     -> 2/3
    # science: tp=1 (5), fp=0, fn=1 (4)     -> 2/3   (-1 is a false positive for no label)
    # history: tp=0, fp=0, fn=1 (6)         -> 0
    # travel:  never appears                -> 0, still in the average
    # macro = (1/2 + 2/3 + 2/3 + 0 + 0) / 5 = 11/30
    result = compute_metrics(task, preds, golds)
    assert set(result) == {"accuracy", "f1"}
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(11 / 30)


def test_classification_lamp1_and_per_example() -> None:
    task = get_task("LaMP-1")  # labels [1], [2]
    golds = {"a": "[1]", "b": "[2]", "c": "[1]"}
    preds = {"a": "[1]", "b": "2", "c": "[1]"}
    # [1]: tp=2 -> 1.0; [2]: tp=0, fn=1 -> 0.0; macro = 0.5; accuracy = 2/3
    result = compute_metrics(task, preds, golds)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(0.5)
    scores = per_example_scores(task, preds, golds)
    assert list(scores) == ["a", "b", "c"]
    assert scores["a"] == {"correct": 1.0, "valid": 1.0}
    assert scores["b"] == {"correct": 0.0, "valid": 0.0}


def test_classification_perfect_lamp2() -> None:
    task = get_task("LaMP-2")
    golds = {"1": "comedy", "2": "true story"}
    result = compute_metrics(task, dict(golds), golds)
    # accuracy 1; F1 1 for the two present tags, 0 for the other 13 of 15
    assert result["accuracy"] == 1.0
    assert result["f1"] == pytest.approx(2 / 15)


def test_classification_gold_outside_labels_names_id() -> None:
    task = get_task("synthetic-pref")
    with pytest.raises(DataError, match="'q7'"):
        compute_metrics(task, {"q7": "mystery"}, {"q7": "horror"})


# ------------------------------------------------------------------------------ rating


def test_rating_mae_rmse_numeric() -> None:
    task = get_task("LaMP-3")
    preds = {"1": " 4 ", "2": "2.5"}
    golds = {"1": "5", "2": "2"}
    # errors 1 and 0.5: MAE 0.75, RMSE sqrt((1 + 0.25) / 2) = sqrt(0.625); no exact hit
    result = compute_metrics(task, preds, golds)
    assert set(result) == {"mae", "rmse", "accuracy"}
    assert result["accuracy"] == 0.0
    assert compute_metrics(task, {"1": "5.0", "2": "2"}, golds)["accuracy"] == 1.0
    assert result["mae"] == pytest.approx(0.75)
    assert result["rmse"] == pytest.approx(math.sqrt(0.625))


def test_rating_non_numeric_counts_as_far_end() -> None:
    task = get_task("LaMP-3")
    golds = {str(y): str(y) for y in range(1, 6)}
    preds = {"1": "great", "2": "", "3": "n/a", "4": "four", "5": "nan"}
    # official: 1.0 if |1-y| > |5-y| else 5.0
    # gold 1 -> 5 (err 4); gold 2 -> 5 (err 3); gold 3 -> 5 (tie, err 2);
    # gold 4 -> 1 (err 3); gold 5 -> 1 (err 4); "nan" is treated as not a number
    # MAE = 16/5 = 3.2; RMSE = sqrt((16+9+4+9+16)/5) = sqrt(10.8)
    result = compute_metrics(task, preds, golds)
    assert result["mae"] == pytest.approx(3.2)
    assert result["rmse"] == pytest.approx(math.sqrt(10.8))
    scores = per_example_scores(task, preds, golds)
    assert [scores[k]["abs_error"] for k in "12345"] == [4.0, 3.0, 2.0, 3.0, 4.0]
    assert all(s["valid"] == 0.0 for s in scores.values())


def test_rating_non_numeric_gold_is_error() -> None:
    with pytest.raises(DataError, match="'x1'"):
        compute_metrics(get_task("LaMP-3"), {"x1": "3"}, {"x1": "three"})


# ------------------------------------------------------------------------------ generation


def test_rouge_by_hand() -> None:
    task = get_task("LaMP-7")
    golds = {"1": "The cat sat on the mat.", "2": "Hello, World!"}
    preds = {"1": "mat the cat", "2": "  hello world "}
    # 1: gold tokens [the cat sat on the mat] (6), pred [mat the cat] (3)
    #    unigram overlap 3: P=1, R=1/2, F=2*(1/2)/(3/2)=2/3
    #    LCS "the cat" = 2: P=2/3, R=1/3, F=2*(2/9)/1=4/9
    # 2: lowercased, punctuation dropped: identical -> 1, 1
    # rouge-1 = (2/3 + 1)/2 = 5/6; rouge-L = (4/9 + 1)/2 = 13/18
    result = compute_metrics(task, preds, golds)
    assert set(result) == {"rouge-1", "rouge-L", "bleu"}
    assert result["rouge-1"] == pytest.approx(5 / 6)
    assert result["rouge-L"] == pytest.approx(13 / 18)
    assert 0.0 <= result["bleu"] <= 100.0
    scores = per_example_scores(task, preds, golds)
    assert scores["1"] == pytest.approx({"rouge-1": 2 / 3, "rouge-L": 4 / 9})
    assert scores["2"] == pytest.approx({"rouge-1": 1.0, "rouge-L": 1.0})


def test_generation_perfect_and_disjoint() -> None:
    task = get_task("LaMP-4")
    golds = {"1": "stocks rally as markets cheer the news", "2": "a quiet day in the city"}
    perfect = compute_metrics(task, dict(golds), golds)
    assert perfect["rouge-1"] == pytest.approx(1.0)
    assert perfect["rouge-L"] == pytest.approx(1.0)
    assert perfect["bleu"] == pytest.approx(100.0)  # BLEU is on a 0-100 scale
    disjoint = compute_metrics(task, {"1": "zzz", "2": "yyy"}, golds)
    assert disjoint == {"rouge-1": 0.0, "rouge-L": 0.0, "bleu": 0.0}


# ------------------------------------------------------------------------------ ids and inputs


def test_id_mismatch_names_ids_and_counts() -> None:
    task = get_task("LaMP-7")
    with pytest.raises(DataError) as info:
        compute_metrics(task, {"1": "a", "2": "b", "x": "c"}, {"1": "a", "2": "b", "3": "c"})
    message = str(info.value)
    assert "'3'" in message and "'x'" in message
    assert "1 gold id(s) have no prediction" in message
    assert "1 predicted id(s) have no gold" in message


def test_id_mismatch_truncates_long_lists() -> None:
    golds = {str(i): "a" for i in range(15)}
    with pytest.raises(DataError, match=r"15 gold id\(s\).*\(5 more\)"):
        compute_metrics(get_task("LaMP-7"), {}, golds)


def test_int_ids_are_strings() -> None:
    task = get_task("LaMP-1")
    preds = {1: "[1]", 2: "[2]"}
    result = compute_metrics(task, preds, {"1": "[1]", "2": "[1]"})  # type: ignore[arg-type]
    assert result["accuracy"] == pytest.approx(0.5)


def test_empty_input_is_error() -> None:
    with pytest.raises(DataError, match="nothing to score"):
        compute_metrics(get_task("LaMP-3"), {}, {})


# ------------------------------------------------------------------------------ files


def test_write_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "preds.json"
    preds = {"b2": "café ☕ — ok", "a1": "second", "10": "third"}
    write_lamp_outputs(path, "LaMP_7", preds)
    raw = path.read_text(encoding="utf-8")
    assert "café ☕" in raw  # ensure_ascii=False
    assert json.loads(raw)["golds"][0] == {"id": "b2", "output": "café ☕ — ok"}
    task, outputs = read_lamp_outputs(path)
    assert task == "LaMP_7"
    assert list(outputs.items()) == list(preds.items())


def test_read_int_ids_and_missing_task(tmp_path: Path) -> None:
    path = tmp_path / "golds.json"
    path.write_text(json.dumps({"golds": [{"id": 310, "output": "4"}]}), encoding="utf-8")
    assert read_lamp_outputs(path) == (None, {"310": "4"})


def test_read_malformed_json_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"task": "LaMP_3", "golds": [', encoding="utf-8")
    with pytest.raises(DataError, match="broken.json.*malformed JSON"):
        read_lamp_outputs(path)


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        ({"task": "LaMP_3"}, "missing key 'golds'"),
        ({"golds": {"id": "1"}}, "'golds' must be a list"),
        ({"golds": [{"id": "1", "output": "3"}, {"output": "4"}]}, r"golds\[1\]: missing key 'id'"),
        ({"golds": [{"id": "1"}]}, r"golds\[0\]: missing key 'output'"),
        (
            {"golds": [{"id": 1, "output": "3"}, {"id": "1", "output": "4"}]},
            r"golds\[1\]: duplicate id '1'",
        ),
        ({"golds": [{"id": "1", "output": [3]}]}, r"golds\[0\] \(id '1'\): 'output' must be a string or number"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_read_bad_records(tmp_path: Path, payload: object, pattern: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(DataError, match=pattern) as info:
        read_lamp_outputs(path)
    assert "bad.json" in str(info.value)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.json"):
        read_lamp_outputs(tmp_path / "nope.json")


def test_score_files_task_from_golds(tmp_path: Path) -> None:
    golds = tmp_path / "golds.json"
    preds = tmp_path / "preds.json"
    records = [{"id": 1, "output": "5"}, {"id": 2, "output": "1"}]
    golds.write_text(json.dumps({"task": "LaMP_3", "golds": records}), encoding="utf-8")
    write_lamp_outputs(preds, "LaMP_3", {"1": "4", "2": "oops"})
    # errors: |4-5| = 1; gold 1 non-numeric -> 5, |5-1| = 4; MAE 2.5, RMSE sqrt(17/2)
    result = score_files(None, golds, preds)
    assert result == pytest.approx({"mae": 2.5, "rmse": math.sqrt(8.5), "accuracy": 0.0})
    assert score_files("LaMP-3", golds, preds) == result


def test_score_files_errors(tmp_path: Path) -> None:
    golds = tmp_path / "golds.json"
    preds = tmp_path / "preds.json"
    write_lamp_outputs(golds, "LaMP_3", {"1": "5", "2": "1"})
    write_lamp_outputs(preds, "LaMP_3", {"1": "4", "9": "1"})
    with pytest.raises(DataError, match="'2'.*'9'"):
        score_files(None, golds, preds)
    with pytest.raises(DataError, match="LaMP-7"):
        score_files("LaMP-7", golds, golds)
    write_lamp_outputs(golds, None, {"1": "5"})
    with pytest.raises(DataError, match="no 'task' field"):
        score_files(None, golds, golds)


def test_paired_difference_says_which_side_wins_and_how_sure() -> None:
    from personalize.metrics import paired_difference

    task = get_task("LaMP-7")
    golds = {str(i): f"the cat sat on mat number {i}" for i in range(40)}
    better = dict(golds)  # exact copies of the golds
    worse = {i: "a dog" for i in golds}
    paired = paired_difference(task, better, worse, golds, resamples=500)
    assert set(paired) == {"rouge-1", "rouge-L"}
    r1 = paired["rouge-1"]
    assert r1["difference"] == pytest.approx(1.0) and r1["low"] > 0.9 and r1["wins"] == 40 and r1["n"] == 40
    same = paired_difference(task, better, better, golds, resamples=500)["rouge-1"]
    assert same["difference"] == 0 and same["low"] == 0 == same["high"] and same["ties"] == 40
    # half better, half worse: the interval straddles 0
    mixed = {i: (golds[i] if int(i) % 2 else "a dog") for i in golds}
    flipped = {i: ("a dog" if int(i) % 2 else golds[i]) for i in golds}
    even = paired_difference(task, mixed, flipped, golds, resamples=2000)["rouge-1"]
    assert even["low"] < 0 < even["high"] and even["wins"] == even["losses"] == 20
    # MAE: lower is better, so the side with smaller errors wins
    rating = get_task("LaMP-3")
    gold_ratings = {str(i): "4" for i in range(10)}
    mae = paired_difference(rating, gold_ratings, {i: "1" for i in gold_ratings}, gold_ratings, resamples=200)["mae"]
    assert mae["difference"] == pytest.approx(-3.0) and mae["wins"] == 10


def test_score_against_prints_the_paired_difference(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app

    golds = {"task": "LaMP_7", "golds": [{"id": str(i), "output": f"tweet number {i} here"} for i in range(6)]}
    good = {"task": "LaMP_7", "golds": [{"id": str(i), "output": f"tweet number {i} here"} for i in range(6)]}
    bad = {"task": "LaMP_7", "golds": [{"id": str(i), "output": "nothing"} for i in range(6)]}
    for name, content in (("golds", golds), ("good", good), ("bad", bad)):
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    args = ["score", "--golds", str(tmp_path / "golds.json"), "--preds", str(tmp_path / "good.json")]
    result = CliRunner().invoke(app, [*args, "--against", str(tmp_path / "bad.json"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["metrics"]["rouge-1"] == pytest.approx(1.0)
    assert out["paired"]["rouge-1"]["difference"] == pytest.approx(1.0) and out["paired"]["rouge-1"]["wins"] == 6
    plain = CliRunner().invoke(app, [*args, "--json"])
    assert set(json.loads(plain.output)) == {"rouge-1", "rouge-L", "bleu"}  # unchanged without --against
    short = {"task": "LaMP_7", "golds": [{"id": "0", "output": "x"}]}
    (tmp_path / "short.json").write_text(json.dumps(short))
    mismatch = CliRunner().invoke(app, [*args, "--against", str(tmp_path / "short.json")])
    assert mismatch.exit_code != 0 and "short.json" in str(mismatch.exception)


def test_one_parser_for_the_outputs_format(tmp_path: Path) -> None:
    """The loader and the scorer read LaMP outputs files alike: numeric ids and outputs become text."""
    from personalize.data.lamp_format import parse_outputs

    payload = {"task": "LaMP_3", "golds": [{"id": 7, "output": 3}, {"id": "8", "output": 4.0}, {"id": "9", "output": "2"}]}
    path = tmp_path / "dev_outputs.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert read_lamp_outputs(path) == parse_outputs(payload, "x") == ("LaMP_3", {"7": "3", "8": "4", "9": "2"})
