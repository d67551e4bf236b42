"""The evaluation harness on a tiny random model and small synthetic data."""

from __future__ import annotations

import json

import pytest

from personalize.data.loading import load_dataset
from personalize.data.tasks import get_task
from personalize.errors import ConfigError
from personalize.evaluation import EvalOptions, evaluate, normalise_answer
from personalize.generation import DecodingConfig
from personalize.methods import make_method
from personalize.metrics import compute_metrics, read_lamp_outputs

FAST = EvalOptions(batch_size=3, decoding=DecodingConfig(max_new_tokens=6))
RESULT_KEYS = {
    "metrics", "mean_context_tokens", "mean_prompt_tokens", "wall_seconds", "examples_per_second", "model",
    "method_config", "options", "seed", "versions", "git", "n_examples",
}  # fmt: skip


@pytest.fixture(scope="module")
def style_ds():
    return load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)


@pytest.fixture(scope="module")
def pref_ds():
    return load_dataset("synthetic-pref", "dev", n_users=2, examples_per_user=2)


def read_details(out) -> list[dict]:
    return [json.loads(line) for line in (out / "details.jsonl").read_text().splitlines()]


def test_evaluate_writes_lamp_files(tiny_model, style_ds, tmp_path) -> None:
    out = tmp_path / "run"
    method = make_method("text", {"k": 2, "retriever": "recency"})
    results = evaluate(method, style_ds, model=tiny_model, options=FAST, out_dir=out, show_progress=False,
                       extra={"limit": None})  # fmt: skip

    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions) == {"task", "golds"}
    assert predictions["task"] == "synthetic-style"
    assert [g["id"] for g in predictions["golds"]] == [e.id for e in style_ds.examples]
    assert all(set(g) == {"id", "output"} and isinstance(g["output"], str) for g in predictions["golds"])

    on_disk = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS <= set(on_disk)
    assert on_disk == json.loads(json.dumps(results.results))
    assert dict(results) == results.results  # the evaluation reads as its results record
    assert set(on_disk["metrics"]) == {"rouge-1", "rouge-L", "bleu", "case", "filler", "ending", "spelling", "signoff", "content"}
    _, preds = read_lamp_outputs(out / "predictions.json")
    assert on_disk["metrics"] == pytest.approx(compute_metrics(style_ds.task, preds, style_ds.golds()))
    assert on_disk["n_examples"] == 4
    assert on_disk["mode"] == "generate"
    assert on_disk["max_new_tokens"] == 6
    assert on_disk["model"]["name"] == "tiny-llama"
    assert on_disk["method_config"]["k"] == 2 and on_disk["method_config"]["retriever"] == "recency"
    assert on_disk["options"]["decoding"]["max_new_tokens"] == 6
    assert on_disk["seed"] == 0
    assert on_disk["limit"] is None
    assert "torch" in on_disk["versions"] and "python" in on_disk["versions"]
    assert on_disk["git"] is None or "commit" in on_disk["git"]
    assert on_disk["wall_seconds"] >= 0 and on_disk["examples_per_second"] > 0

    details = read_details(out)
    assert [d["id"] for d in details] == [e.id for e in style_ds.examples]
    # the files hold what the evaluation returned in memory
    assert results.predictions == preds and json.loads(json.dumps(results.records)) == details
    for d in details:
        assert d["used_items"] == [11, 10]  # recency, 12 history items per user
        assert 0 < d["context_tokens"] < d["prompt_tokens"]
    assert on_disk["mean_context_tokens"] == pytest.approx(sum(d["context_tokens"] for d in details) / 4)
    assert on_disk["mean_prompt_tokens"] == pytest.approx(sum(d["prompt_tokens"] for d in details) / 4)


def test_none_has_zero_context(tiny_model, style_ds) -> None:
    results = evaluate(make_method("none"), style_ds, model=tiny_model, options=FAST, show_progress=False)
    assert results["mean_context_tokens"] == 0.0
    assert results["mean_prompt_tokens"] > 0


def test_label_scoring_auto_mode(tiny_model, pref_ds, tmp_path) -> None:
    results = evaluate(make_method("text", {"k": 2, "retriever": "recency"}), pref_ds, model=tiny_model,
                       options=FAST, out_dir=tmp_path, show_progress=False)  # fmt: skip
    assert results["mode"] == "score"
    assert results["max_new_tokens"] is None
    assert set(results["metrics"]) == {"accuracy", "f1"}
    labels = pref_ds.task.labels
    _, preds = read_lamp_outputs(tmp_path / "predictions.json")
    assert list(preds) == [e.id for e in pref_ds.examples]
    assert all(p in labels for p in preds.values())
    for d in read_details(tmp_path):
        assert len(d["label_logprobs"]) == len(labels)
        best = max(range(len(labels)), key=lambda i: d["label_logprobs"][i])
        assert preds[d["id"]] == labels[best] == d["raw"]


def test_generate_mode_on_classification_normalises(tiny_model, pref_ds, tmp_path) -> None:
    options = EvalOptions(mode="generate", batch_size=4, decoding=DecodingConfig(max_new_tokens=4))
    results = evaluate(make_method("none"), pref_ds, model=tiny_model, options=options, out_dir=tmp_path,
                       show_progress=False)  # fmt: skip
    assert results["mode"] == "generate"
    assert set(results["metrics"]) == {"accuracy", "f1"}
    _, preds = read_lamp_outputs(tmp_path / "predictions.json")
    for d in read_details(tmp_path):
        assert preds[d["id"]] == normalise_answer(d["raw"], pref_ds.task)


def test_score_mode_needs_labels(tiny_model, style_ds) -> None:
    with pytest.raises(ConfigError, match="label"):
        evaluate(make_method("none"), style_ds, model=tiny_model, options=EvalOptions(mode="score"), show_progress=False)


def test_model_method_without_model(style_ds) -> None:
    with pytest.raises(ConfigError, match="needs a base model"):
        evaluate(make_method("none"), style_ds, show_progress=False)


# ----------------------------------------------------------------------------- normalise_answer

RATING = get_task("LaMP-3")
LAMP2 = get_task("LaMP-2")
PREF = get_task("synthetic-pref")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", "4"),
        ("I'd say 4 stars", "4"),
        ("Score: 5/5", "5"),
        (" 3.", "3"),
        ("zero or 9", "zero or 9"),  # no 1-5 digit: unchanged (scored as invalid)
        ("", ""),
    ],
)
def test_normalise_rating(text: str, expected: str) -> None:
    assert normalise_answer(text, RATING) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("comedy", "comedy"),
        ("dark comedy, definitely", "dark comedy"),  # longest label first, not "comedy"
        ("It is a dark comedy", "dark comedy"),  # mentioned, longest match wins at that position
        ("Classic!", "classic"),  # case-insensitive, label's own spelling returned
        ("maybe romance or action", "romance"),  # first label mentioned
        ("  sci-fi\n", "sci-fi"),
        ("no idea", "no idea"),
    ],
)
def test_normalise_classification(text: str, expected: str) -> None:
    assert normalise_answer(text, LAMP2) == expected


def test_normalise_other_tasks() -> None:
    assert normalise_answer("Travel, I think", PREF) == "travel"
    assert normalise_answer("  keep 5 as is ", get_task("LaMP-7")) == "  keep 5 as is "


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_predictions(tiny_model, tmp_path) -> None:
    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)

    def run(seed: int, name: str):
        out = tmp_path / name
        options = EvalOptions(seed=seed, decoding=DecodingConfig(max_new_tokens=4))
        evaluate(make_method("text", {"k": 2, "retriever": "random"}), ds, model=tiny_model, options=options,
                 out_dir=out, show_progress=False)  # fmt: skip
        return (out / "predictions.json").read_text(), [d["used_items"] for d in read_details(out)]

    first, second = run(0, "a"), run(0, "b")
    assert first == second
    other = run(1, "c")
    assert other[1] != first[1]  # another seed draws other history items


def test_limit_keeps_file_order() -> None:
    ds = load_dataset("synthetic-style", "dev", n_users=3, examples_per_user=2)
    limited = ds.limit(3, sample="first")
    assert [e.id for e in limited.examples] == [e.id for e in ds.examples[:3]]
    spread = ds.limit(3)  # the default: one example of each user, kept in file order
    assert len({e.user_id for e in spread.examples}) == 3
    assert [e.id for e in spread.examples] == sorted(e.id for e in spread.examples)
    assert set(limited.profiles) == {e.user_id for e in ds.examples[:3]}
    assert ds.limit(None) is ds and ds.limit(100) is ds


def test_copy_needs_no_model(tmp_path) -> None:
    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)
    results = evaluate(make_method("copy"), ds, out_dir=tmp_path, show_progress=False)
    assert results["mode"] == "direct"
    assert results["model"] is None
    assert results["mean_prompt_tokens"] == 0.0
    _, preds = read_lamp_outputs(tmp_path / "predictions.json")
    assert preds == {e.id: ds.task.query_text(e.input) for e in ds.examples}
    assert results["metrics"] == pytest.approx(compute_metrics(ds.task, preds, ds.golds()))
    assert 0 < results["metrics"]["rouge-1"] <= 1


def test_user_majority_on_pref(tmp_path) -> None:
    ds = load_dataset("synthetic-pref", "dev", n_users=2, examples_per_user=2)
    results = evaluate(make_method("user-majority"), ds, out_dir=tmp_path, show_progress=False)
    _, preds = read_lamp_outputs(tmp_path / "predictions.json")
    assert all(p in ds.task.labels for p in preds.values())
    assert set(results["metrics"]) == {"accuracy", "f1"}
