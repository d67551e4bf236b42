"""The command line: in-process with CliRunner, and `main`'s error handling in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import sacrebleu
from typer.testing import CliRunner

import personalize.models
from personalize.cli import app

runner = CliRunner()


def write_outputs(path, task, outputs: dict[str, str]) -> None:
    path.write_text(json.dumps({"task": task, "golds": [{"id": k, "output": v} for k, v in outputs.items()]}))


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "personalize.cli", *args], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def assert_clean_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 2, one error line on stderr that contains every fragment, no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(("error:", "data error:")), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(autouse=True)
def _no_real_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """No in-process CLI test may load the bundled LLM."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a CLI unit test tried to load a base model: {args} {kwargs}")

    monkeypatch.setattr(personalize.models, "load_base_model", refuse)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


# ------------------------------------------------------------------------------------- score


def test_score_generation_json(tmp_path) -> None:
    golds, preds = tmp_path / "g.json", tmp_path / "p.json"
    write_outputs(golds, "LaMP_7", {"1": "the cat sat on the mat", "2": "hello world"})
    write_outputs(preds, "LaMP_7", {"2": "hello world", "1": "the cat sat"})  # order does not matter
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert set(scores) == {"rouge-1", "rouge-L", "bleu"}
    # id 1: precision 3/3, recall 3/6 -> F = 2/3; id 2: exact -> 1. Same for LCS.
    assert scores["rouge-1"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["rouge-L"] == pytest.approx((2 / 3 + 1) / 2)
    expected_bleu = sacrebleu.corpus_bleu(["the cat sat", "hello world"], [["the cat sat on the mat", "hello world"]]).score
    assert scores["bleu"] == pytest.approx(expected_bleu)


def test_score_classification_json(tmp_path) -> None:
    golds, preds = tmp_path / "g.json", tmp_path / "p.json"
    write_outputs(golds, "LaMP_2", {"a": "comedy", "b": "action", "c": "comedy"})
    write_outputs(preds, "LaMP_2", {"a": "comedy", "b": "comedy", "c": "sci-fi"})
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert set(scores) == {"accuracy", "f1"}
    assert scores["accuracy"] == pytest.approx(1 / 3)
    # comedy: tp 1, fp 1, fn 1 -> F1 0.5; every other of the 15 labels 0
    assert scores["f1"] == pytest.approx(0.5 / 15)


def test_score_table_output(tmp_path) -> None:
    golds, preds = tmp_path / "g.json", tmp_path / "p.json"
    write_outputs(golds, "LaMP_3", {"a": "5", "b": "1"})
    write_outputs(preds, "LaMP_3", {"a": "4", "b": "1"})
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds)])
    assert result.exit_code == 0, result.output
    assert "mae" in result.stdout and "0.5000" in result.stdout


def test_score_mismatched_ids_subprocess(tmp_path) -> None:
    golds, preds = tmp_path / "g.json", tmp_path / "p.json"
    write_outputs(golds, "LaMP_7", {"t-100": "a b", "t-200": "c d"})
    write_outputs(preds, "LaMP_7", {"t-100": "a b", "t-999": "c d"})
    proc = run_cli("score", "--golds", str(golds), "--preds", str(preds), "--json")
    assert_clean_error(proc, "'t-200'", "'t-999'")
    assert proc.stdout.strip() == ""


# -------------------------------------------------------------------------------------- data


def test_data_inspect_synthetic_pref_json() -> None:
    result = runner.invoke(app, ["data", "inspect", "synthetic-pref", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["task"] == "synthetic-pref" and report["synthetic"] is True
    dist = report["label_distribution"]
    assert list(dist) == ["mystery", "romance", "science", "history", "travel"]
    assert sum(dist.values()) == report["examples"] == 32  # 8 users x 4 dev examples
    assert report["outside_labels"] == 0
    assert sum(report["history_label_distribution"].values()) == report["items_total"] == 8 * 12


def test_data_inspect_missing_path_subprocess() -> None:
    proc = run_cli("data", "inspect", "/nonexistent")
    assert_clean_error(proc, "'/nonexistent'", "neither an existing folder")


def test_data_inspect_table() -> None:
    result = runner.invoke(app, ["data", "inspect", "synthetic-style"])
    assert result.exit_code == 0, result.output
    assert "synthetic-style" in result.stdout


# ------------------------------------------------------------------------------------ models


def test_models_list() -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "smollm2-135m" in result.stdout
    assert "minilm-l6" in result.stdout
    assert "gemma3-270m" in result.stdout


# -------------------------------------------------------------------------------------- eval


def test_eval_copy_writes_results(tmp_path) -> None:
    out = tmp_path / "copy"
    result = runner.invoke(app, ["eval", "--method", "copy", "--data", "synthetic-style", "--out", str(out), "--limit", "5"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "copy"
    assert results["mode"] == "direct"
    assert results["n_examples"] == 5
    assert results["limit"] == 5
    assert results["model"] is None
    assert set(results["metrics"]) == {"rouge-1", "rouge-L", "bleu", "case", "filler", "ending", "spelling", "signoff",
                                       "content"}
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds["golds"]) == 5
    assert len((out / "details.jsonl").read_text().splitlines()) == 5


def test_eval_bad_limit() -> None:
    result = runner.invoke(app, ["eval", "--method", "copy", "--data", "synthetic-style", "--out", "x", "--limit", "0"])
    assert result.exit_code != 0
    assert "--limit" in str(result.exception)


def test_eval_unknown_retriever_fails_before_loading_a_model(tmp_path) -> None:
    # In process: load_base_model is patched to fail loudly (see _no_real_models).
    result = runner.invoke(app, ["eval", "--method", "text", "--retriever", "xyz", "--data", "synthetic-style",
                                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code != 0
    assert not isinstance(result.exception, AssertionError), "the model was loaded before the settings were checked"
    message = str(result.exception)
    for name in ("xyz", "bm25", "dense", "recency", "random"):
        assert name in message
    assert not (tmp_path / "o").exists()


def test_eval_unknown_retriever_subprocess(tmp_path) -> None:
    # Through `main`, with the loader replaced so that a regression cannot load the real model.
    code = textwrap.dedent(
        f"""
        import sys
        import personalize.models
        def refuse(*a, **k):
            print("MODEL LOADED", file=sys.stderr)
            raise SystemExit(99)
        personalize.models.load_base_model = refuse
        from personalize.cli import main
        sys.argv = ["personalize", "eval", "--method", "text", "--retriever", "xyz", "--data", "synthetic-style",
                    "--out", {str(tmp_path / "o")!r}]
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "MODEL LOADED" not in proc.stderr
    assert_clean_error(proc, "'xyz'", "bm25", "dense", "recency", "random")


def test_eval_unknown_method_subprocess(tmp_path) -> None:
    proc = run_cli("eval", "--method", "magic", "--data", "synthetic-style", "--out", str(tmp_path / "o"))
    assert_clean_error(proc, "'magic'", "copy", "user-majority")


# ---------------------------------------------------------------------------------- generate


def test_generate_malformed_profile_subprocess(tmp_path) -> None:
    profile = tmp_path / "my_profile_file.json"
    profile.write_text('[{"text": "first tweet"}, {"text": ')
    proc = run_cli("generate", "--input", "hello there", "--method", "none", "--profile", str(profile))
    assert_clean_error(proc, str(profile), "not valid JSON")


def test_generate_profile_missing_field(tmp_path) -> None:
    profile = tmp_path / "ratings.json"
    profile.write_text(json.dumps([{"text": "good"}]))
    result = runner.invoke(app, ["generate", "--input", "x", "--task", "LaMP-3", "--profile", str(profile)])
    assert result.exit_code != 0
    assert "score" in str(result.exception) and str(profile) in str(result.exception)


def test_generate_with_a_model_free_method_loads_no_model(tmp_path, monkeypatch) -> None:
    import json as _json

    from typer.testing import CliRunner

    import personalize.models as models
    from personalize.cli import app

    def refuse(*args, **kwargs):
        raise AssertionError("copy must not load a model")

    monkeypatch.setattr(models, "load_base_model", refuse)
    profile = tmp_path / "p.json"
    profile.write_text(_json.dumps([{"text": "hello there"}]))
    result = CliRunner().invoke(app, ["generate", "--method", "copy", "--profile", str(profile), "--input",
                                      "Paraphrase the following tweet without any explanation before or after it: hi all"])
    assert result.exit_code == 0, result.output
    assert "hi all" in result.output
