"""`personalize compare`: one comparison on synthetic data with the tiny model, its files and report."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from personalize.compare import ComparisonConfig, load_comparison_config, run_comparison, write_report
from personalize.compare.history import history_dataset, resize_history
from personalize.compare.rows import apply_compression
from personalize.data.schema import UserProfile
from personalize.errors import ConfigError

DATA = "synthetic-style:n_users=2,items_per_user=6,examples_per_user=2"
E2P_TRAIN = {"adapter": {"num_tokens": 1, "mlp_hidden": 16}, "epochs": 1, "batch_size": 4, "max_train_examples": 4,
             "dev_limit": 2, "dev_loss": False, "select_on": "metric"}


def tiny_config(**overrides) -> dict:
    config = {
        "name": "tiny",
        "data": DATA,
        "split": "dev",
        "eval": {"batch_size": 4, "decoding": {"max_new_tokens": 4}},
        "baseline": "text-k2",
        "methods": [
            {"name": "none", "method": "none"},
            {"name": "copy", "method": "copy"},
            {"name": "text-k2", "method": "text", "settings": {"k": 2, "retriever": "recency"}},
            {"name": "e2p-1", "method": "e2p", "train": E2P_TRAIN},
        ],
        "report_samples": 3,
        "history_lengths": [2, 8],
        "history_examples": 1,
        "latency_examples": 2,
        "latency_new_tokens": 3,
        "shuffled_ablation": True,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory, tiny_model):
    """One comparison run shared by the tests of this module (the hashing encoder replaces MiniLM)."""
    from conftest import HashingEncoder

    out = tmp_path_factory.mktemp("compare") / "out"
    encoder = HashingEncoder()
    with pytest.MonkeyPatch.context() as mp:
        # the hashing encoder stands in under MiniLM's name: its vectors get a cache of their own,
        # never the real one (CI's PERSONALIZE_HOME), where MiniLM's integration tests read
        mp.setenv("PERSONALIZE_HOME", str(tmp_path_factory.mktemp("compare-home")))
        mp.setattr("personalize.models.load_encoder", lambda name="minilm-l6", device="auto": encoder)

        def refuse(*args, **kwargs):
            raise AssertionError("the comparison must use the loaded model it was given")

        mp.setattr("personalize.models.load_base_model", refuse)

        def read_back(*args, **kwargs):
            raise AssertionError("the comparison continues from its evaluations in memory, never from its files")

        mp.setattr("personalize.metrics.read_lamp_outputs", read_back)
        mp.setattr("personalize.compare.report.read_predictions", read_back)
        # a folder reused from an earlier comparison, which ran e2p-1's derangements one by one
        for stale in ("e2p-1-shuffled-2", "e2p-1-shuffled-3"):
            (out / "runs" / stale).mkdir(parents=True)
            (out / "runs" / stale / "results.json").write_text("{}")
        config = ComparisonConfig.from_dict(tiny_config())
        rows = run_comparison(config, out, loaded_model=tiny_model, show_progress=False)
    return out, rows, config


def test_comparison_writes_rows_over_the_same_examples(compared) -> None:
    out, rows, _ = compared
    record = json.loads((out / "comparison.json").read_text())
    assert [r["name"] for r in rows] == [r["name"] for r in record["rows"]] == ["none", "copy", "text-k2", "e2p-1"]
    ids = record["example_ids"]
    assert len(ids) == record["n_examples"] == 4
    for row in rows:
        golds = json.loads((out / "runs" / row["name"] / "predictions.json").read_text())["golds"]
        assert [g["id"] for g in golds] == ids, row["name"]
        assert row["n_examples"] == 4 and set(row["metrics"]) >= {"rouge-1", "rouge-L"}
    assert record["config"]["baseline"] == "text-k2" and record["versions"]["torch"] and "git" in record
    by_name = {r["name"]: r for r in rows}
    # model-free rows have no latency; model-based ones have all of it
    assert by_name["copy"]["ttft_ms"] is None and by_name["copy"]["latency_by_history"] == []
    for name in ("none", "text-k2", "e2p-1"):
        row = by_name[name]
        assert row["ttft_ms"] > 0 and 0 <= row["prepare_ms"] <= row["ttft_ms"], name
        assert row["decode_tokens_per_second"] > 0, name
        assert [p["history_items"] for p in row["latency_by_history"]] == [2, 8], name
        assert row["peak_rss_mb"] > 0, name
        # measured interleaved with the other model rows: passes, spread, the machine's load, a verdict
        latency = row["latency"]
        assert latency["passes"] == 5 and latency["ttft_ms"]["n"] == 5, name
        assert latency["ttft_ms"]["q1"] <= row["ttft_ms"] <= latency["ttft_ms"]["q3"], name
        assert latency["check"]["status"] in ("ok", "disturbed", "out of bounds"), name
        assert latency["load"]["cores"] >= 1 and latency["load"]["torch_threads"] >= 1, name
        assert {p["history_items"]: p["ttft_q1_ms"] <= p["ttft_ms"] <= p["ttft_q3_ms"]
                for p in row["latency_by_history"]} == {2: True, 8: True}, name
    assert record["latency"]["passes"] == 5 and "disturbed" in record["latency"]["assessment"]
    # the inline-trained adapter: its training time and parameters are recorded
    e2p = by_name["e2p-1"]
    assert (out / "train" / "e2p-1" / "adapter_model.safetensors").is_file()
    assert e2p["train_seconds"] is not None and e2p["trainable_parameters"] > 0 and e2p["kind"] == "soft"
    assert by_name["text-k2"]["train_seconds"] is None and by_name["text-k2"]["trainable_parameters"] == 0
    md = (out / "comparison.md").read_text()
    assert "| method |" in md and "| e2p-1 |" in md and "compression" in md
    assert "latency check" in md and "median [quartiles] of 5 interleaved passes" in md
    # the shuffled-history ablation: only rows that read the history are run again, on the same ids
    assert by_name["none"]["user_gain"] is None and by_name["copy"]["user_gain"] is None
    for name in ("text-k2", "e2p-1"):
        gain = by_name[name]["user_gain"]
        assert gain["metric"] == "rouge-1" and gain["n"] == 4 and gain["low"] <= gain["difference"] <= gain["high"]
        assert gain["derangements"] == 3
        own = json.loads((out / "runs" / name / "results.json").read_text())["metrics"]["rouge-1"]
        if name == "e2p-1":
            # a soft row runs its 3 derangements as one evaluation of 12 examples (ids suffixed #k)
            assert gain["run_dirs"] == [f"{name}-shuffled"]
            # the earlier run's per-derangement folders, which nothing refers to now, are gone
            assert sorted(p.name for p in (out / "runs").glob(f"{name}-shuffled*")) == [f"{name}-shuffled"]
            merged = json.loads((out / "runs" / f"{name}-shuffled" / "results.json").read_text())
            assert merged["shuffle_profiles"] is True and merged["n_examples"] == 12
            assert len(set(merged["derangement_seeds"])) == 3
            golds = json.loads((out / "runs" / f"{name}-shuffled" / "predictions.json").read_text())["golds"]
            assert sorted(g["id"] for g in golds) == sorted(f"{i}#{k}" for i in ids for k in (1, 2, 3))
            # the pooled mean over 3 x 4 examples is the mean of the 3 derangements' means
            other = merged["metrics"]["rouge-1"]
        else:
            assert gain["run_dirs"] == [f"{name}-shuffled", f"{name}-shuffled-2", f"{name}-shuffled-3"]
            others = [json.loads((out / "runs" / d / "results.json").read_text()) for d in gain["run_dirs"]]
            assert all(o["shuffle_profiles"] is True and o["n_examples"] == 4 for o in others)
            assert len({o["derangement_seed"] for o in others}) == 3
            # own minus the mean over the derangements (ROUGE-1 is a mean over examples, so means commute)
            other = sum(o["metrics"]["rouge-1"] for o in others) / 3
        assert gain["difference"] == pytest.approx(own - other, abs=1e-9)
        assert gain["by_metric"]["rouge-1"]["theirs"] == pytest.approx(other, abs=1e-9)
        assert gain["interval"] == "user-level bootstrap 95%"
        # every model row is also compared with `none` on the same examples
        assert by_name[name]["vs_none"]["reference"] == "none"
    assert by_name["none"]["vs_none"] is None and by_name["copy"]["vs_none"] is None
    assert not (out / "runs" / "none-shuffled").exists()
    assert "own − other user's history" in md and "− none (adaptation)" in md


def test_compression_ratio_is_against_the_baseline(compared) -> None:
    _, rows, _ = compared
    by_name = {r["name"]: r for r in rows}
    text, e2p = by_name["text-k2"], by_name["e2p-1"]
    assert text["mean_context_tokens"] > 1 and e2p["mean_context_tokens"] == 1
    assert text["compression_ratio"] == 1.0
    assert e2p["compression_ratio"] == pytest.approx(text["mean_context_tokens"], rel=1e-3)
    for name in ("none", "copy"):
        assert by_name[name]["compression_ratio"] is None and by_name[name]["compression_note"] == "0 context tokens"
    copied = [dict(r) for r in rows]
    apply_compression(copied, None)
    assert all(r["compression_ratio"] is None and r["compression_note"] == "no baseline" for r in copied)


def test_report_has_table_plots_and_escaped_samples(compared) -> None:
    out, rows, _ = compared
    page = (out / "report.html").read_text()
    assert page.count('<img ') == 2 and page.count('src="data:image/png;base64,') == 2
    assert (out / "quality_vs_context.png").stat().st_size > 5000 and (out / "latency_vs_history.png").is_file()
    assert '<table class="results"' in page and page.count('<tr class="row">') == len(rows)
    assert 'id="latency-note"' in page and "interleaved passes" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    record = json.loads((out / "comparison.json").read_text())
    samples = record["samples"]
    assert len(samples) == 3 and len({s["user_id"] for s in samples[:2]}) == 2  # one per user first
    for row in rows:
        golds = {g["id"]: g["output"] for g in json.loads((out / "runs" / row["name"] / "predictions.json").read_text())["golds"]}
        for sample in samples:
            assert html.escape(golds[sample["id"]]) in page, (row["name"], sample["id"])


def test_write_report_escapes_everything(tmp_path: Path) -> None:
    rows = [{"name": "evil<b>", "method": "text", "kind": "text", "metrics": {"rouge-1": 0.5}, "primary_metric": "rouge-1",
             "higher_is_better": True, "mean_context_tokens": 40.0, "compression_ratio": None,
             "compression_note": "a & b", "trainable_parameters": 0, "train_seconds": None, "ttft_ms": 12.0,
             "prepare_ms": 1.0, "decode_tokens_per_second": 50.0, "peak_rss_mb": 100.0, "peak_cuda_mb": None,
             "latency_by_history": [{"history_items": 10, "ttft_ms": 12.0}, {"history_items": 100, "ttft_ms": 20.0}],
             "run_dir": "runs/evil"}]
    run = tmp_path / "runs" / "evil"
    run.mkdir(parents=True)
    evil = {"task": "x", "golds": [{"id": "1", "output": "<script>alert(1)</script> & co"}]}
    (run / "predictions.json").write_text(json.dumps(evil))
    samples = [{"id": "1", "user_id": "u<1>", "input": "say <hi>", "gold": "\"quoted\" & <i>", "history_items": 3}]
    page = write_report(tmp_path, rows, samples).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "evil&lt;b&gt;" in page and "say &lt;hi&gt;" in page and "u&lt;1&gt;" in page and "&lt;i&gt;" in page


def test_rerun_reuses_the_trained_adapter_and_refuses_other_settings(compared, tiny_model, fake_encoder) -> None:
    out, _, _ = compared
    summary = json.loads((out / "train" / "e2p-1" / "train_summary.json").read_text())
    only_e2p = tiny_config(baseline=None, methods=[{"name": "e2p-1", "method": "e2p", "train": E2P_TRAIN}],
                           history_lengths=[2], latency_examples=1, report_samples=1)
    again = out.parent / "again"
    shutil.copytree(out / "train", again / "train")
    [row] = run_comparison(ComparisonConfig.from_dict(only_e2p), again, loaded_model=tiny_model, show_progress=False)
    assert row["train_seconds"] == summary["train_seconds"]
    assert json.loads((again / "train" / "e2p-1" / "train_summary.json").read_text()) == summary
    other = tiny_config(methods=[{"name": "e2p-1", "method": "e2p", "train": {**E2P_TRAIN, "lr": 0.5}}], baseline=None)
    with pytest.raises(ConfigError, match="trained with other settings"):
        run_comparison(ComparisonConfig.from_dict(other), again, loaded_model=tiny_model, show_progress=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, r"unknown key\(s\) \['extra'\]"),
        ({"methods": [{"name": "a", "method": "none", "k": 3}]}, r"methods\[0\].*unknown key\(s\) \['k'\]"),
        ({"methods": [{"name": "a", "method": "text", "settings": {"kk": 3}}]}, "kk"),
        ({"methods": [{"name": "a", "method": "e2p", "train": {"epochz": 1}}]}, "epochz"),
        ({"methods": [{"name": "a", "method": "e2p", "train": {"data": "x"}}]}, "from the comparison"),
        ({"methods": [{"name": "a", "method": "e2p"}]}, "exactly one of 'adapter'"),
        ({"methods": [{"name": "a", "method": "none", "adapter": "x"}]}, "has no adapter"),
        ({"methods": [{"name": "a", "method": "nope"}]}, "unknown method"),
        ({"methods": [{"name": "a", "method": "none"}, {"name": "a", "method": "copy"}], "baseline": None}, "unique"),
        ({"baseline": "missing"}, "baseline 'missing'"),
        ({"eval": {"batch_sise": 2}}, "batch_sise"),
        ({"limit": "10"}, "limit"),
    ],
)
def test_bad_configs_are_config_errors(tmp_path: Path, change: dict, message: str) -> None:
    if "methods" in change:
        change = {"baseline": None, **change}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tiny_config(**change)))
    with pytest.raises(ConfigError, match=message):
        load_comparison_config(path)


def test_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: y\ndata: synthetic-style\nmethods:\n  - {name: none, method: none}\n")
    config = load_comparison_config(path)
    assert config.methods[0].name == "none" and config.history_lengths == (10, 100, 1000)


def test_missing_adapter_is_a_clear_error_before_loading_anything(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("no model may load before the adapters are checked")

    monkeypatch.setattr("personalize.models.load_base_model", refuse)
    missing = tmp_path / "adapters" / "nothing-here"
    config = ComparisonConfig.from_dict(tiny_config(methods=[
        {"name": "none", "method": "none"}, {"name": "e2p-x", "method": "e2p", "adapter": str(missing)}], baseline=None))
    with pytest.raises(ConfigError) as info:
        run_comparison(config, tmp_path / "out", show_progress=False)
    message = str(info.value)
    assert str(missing) in message and "personalize train --method e2p" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_missing_adapter_through_the_cli_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tiny_config(methods=[{"name": "e2p-x", "method": "e2p", "adapter": "no/such/adapter"}],
                                           baseline=None)))
    proc = subprocess.run([sys.executable, "-m", "personalize.cli", "compare", "--config", str(path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no/such/adapter" in lines[0] and "personalize train" in lines[0], proc.stderr


def test_history_resizing() -> None:
    profile = UserProfile("u", tuple({"id": str(i), "text": f"t{i}"} for i in range(4)))
    short = resize_history(profile, 2)
    assert [it["id"] for it in short.items] == ["2", "3"]  # the most recent items
    long = resize_history(profile, 10, user_id="u@h10")
    assert long.user_id == "u@h10" and len(long) == 10 and len({it["id"] for it in long.items}) == 10
    assert [it["text"] for it in long.items[4:8]] == ["t0", "t1", "t2", "t3"]
    assert len(resize_history(UserProfile("e", ()), 5)) == 0
    from personalize.data.loading import load_dataset

    ds = load_dataset(DATA, "dev")
    resized = history_dataset(ds, 7, 3)
    assert len(resized) == 3 and all(len(resized.profile(e)) == 7 for e in resized)
    assert [e.id for e in resized] == [e.id for e in ds.examples[:3]]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def test_report_renders_in_headless_chromium(compared, tmp_path: Path) -> None:
    """The report as a browser shows it: a non-blank screenshot, and a DOM with the table and both plots."""
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    out, rows, _ = compared
    url = (out / "report.html").resolve().as_uri()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--window-size=1200,2000"]
    shot = tmp_path / "shot.png"
    proc = subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    colours = {tuple(p) for p in (pixels[::8, ::8] * 255).astype(int).reshape(-1, 3).tolist()}
    assert len(colours) > 50, f"screenshot looks blank ({len(colours)} colours)"

    dom = subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'id="results"' in dom and len(re.findall(r'<tr class="row">', dom)) == len(rows)
    assert all(f"<td>{html.escape(r['name'])}</td>" in dom for r in rows)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) == 2


def test_cli_compare_prints_the_table_and_report_path(tmp_path: Path, tiny_model, monkeypatch) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app

    monkeypatch.setattr("personalize.models.load_base_model", lambda *args, **kwargs: tiny_model)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tiny_config(methods=[{"name": "none", "method": "none"}, {"name": "copy", "method": "copy"}],
                                           baseline=None, history_lengths=[3], latency_examples=1)))
    result = CliRunner().invoke(app, ["compare", "--config", str(path), "--out", str(tmp_path / "out"), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "report in" in result.output and "report.html" in result.output and "copy" in result.output
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["n_examples"] == 2


def test_labels_of_near_coincident_points_do_not_overlap() -> None:
    from personalize.compare.report import _label_offsets

    xs, ys, height = [4.0, 4.0, 4.0, 1.0], [0.415, 0.413, 0.408, 0.35], 250.0
    offsets = _label_offsets(xs, ys, height, step=10.0)
    per_unit = height / (1.1 * (max(ys) - min(ys)))
    label_y = [y * per_unit + dy for y, dy in zip(ys, offsets)]  # in points
    assert label_y[0] - label_y[1] >= 10.0 - 1e-9 and label_y[1] - label_y[2] >= 10.0 - 1e-9
    assert offsets[3] == 5.0 and offsets[0] == 5.0  # a lone point keeps the default place
    assert _label_offsets([], [], height) == []


def test_ablation_column_says_which_sign_means_the_own_history_helps() -> None:
    from personalize.compare.tables import table_cells

    def row(name: str, gain: dict | None) -> dict:
        return {"name": name, "metrics": {"mae": 0.5}, "user_gain": gain, "mean_context_tokens": 1.0,
                "compression_ratio": None, "trainable_parameters": 0, "train_seconds": None, "ttft_ms": None,
                "prepare_ms": None, "decode_tokens_per_second": None, "peak_rss_mb": 1.0}

    gain = {"metric": "mae", "higher_is_better": False, "difference": 0.05, "low": 0.01, "high": 0.09}
    headers, body = table_cells([row("e2p", gain), row("always-5", None)])
    assert "own − other user's history (mae; < 0: own helps)" in headers
    assert body[0][2] == "+0.050 [+0.010, +0.090]" and body[1][2] == "–"
    headers, _ = table_cells([row("e2p", {**gain, "metric": "rouge-1", "higher_is_better": True})])
    assert "own − other user's history (rouge-1; > 0: own helps)" in headers


def test_merged_derangements_score_as_the_separate_passes(tmp_path: Path, tiny_model) -> None:
    """One evaluation of all derangements in a bigger batch gives the gain the separate passes give."""
    from personalize.compare.runner import _user_gain
    from personalize.data.loading import load_dataset
    from personalize.evaluation import evaluate
    from personalize.methods import make_method
    from personalize.metrics import per_example_scores

    config = ComparisonConfig.from_dict(tiny_config())
    dataset = load_dataset(DATA, "dev")
    method = make_method("text", {"k": 2, "retriever": "recency"})
    own = evaluate(method, dataset, model=tiny_model, options=config.eval, show_progress=False)
    own_scores = per_example_scores(dataset.task, own.predictions, dataset.golds())
    gains = {merged: _user_gain(method, dataset, tiny_model, config, tmp_path / str(merged) / "shuffled", lambda: None,
                                False, None, own_scores, merged=merged) for merged in (False, True)}
    assert gains[True]["run_dirs"] == ["shuffled"] and len(gains[False]["run_dirs"]) == 3
    assert gains[True]["by_metric"] == gains[False]["by_metric"]


def test_only_keeps_the_named_rows_their_controls_and_none() -> None:
    config = ComparisonConfig.from_dict(tiny_config(methods=[
        {"name": "none", "method": "none"},
        {"name": "text-k2", "method": "text", "settings": {"k": 2}},
        {"name": "e2p-1", "method": "e2p", "adapter": "a/e2p", "control": "control"},
        {"name": "persoma-4", "method": "persoma", "adapter": "a/persoma", "control": "control"},
        {"name": "control", "method": "prompt", "adapter": "a/prompt"},
    ]))
    picked = config.only(["persoma-4"])
    assert [m.name for m in picked.methods] == ["none", "persoma-4", "control"]
    assert picked.baseline is None and config.baseline == "text-k2"  # the text baseline is not rerun unasked
    assert config.only(["text-k2", "control"]).baseline == "text-k2"
    with pytest.raises(ConfigError, match=r"no row 'xattn'.*its rows: none, text-k2, e2p-1"):
        config.only(["xattn"])
    with pytest.raises(ConfigError, match="at least one row"):
        config.only([])


def test_cli_compare_only_runs_the_named_rows(tmp_path: Path, tiny_model, monkeypatch) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app

    monkeypatch.setattr("personalize.models.load_base_model", lambda *args, **kwargs: tiny_model)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tiny_config(methods=[{"name": "none", "method": "none"}, {"name": "copy", "method": "copy"},
                                                    {"name": "user-majority", "method": "user-majority"}],
                                           baseline=None, history_lengths=[3], latency_examples=1)))
    result = CliRunner().invoke(app, ["compare", "--config", str(path), "--out", str(tmp_path / "out"), "--limit", "2",
                                      "--only", "copy"])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "out" / "comparison.json").read_text())["rows"]
    assert [r["name"] for r in rows] == ["none", "copy"]
    bad = CliRunner().invoke(app, ["compare", "--config", str(path), "--out", str(tmp_path / "out2"), "--only", "nope"])
    # a ConfigError: the CLI's entry point prints it as one line (test_missing_adapter_through_the_cli_is_one_line)
    assert isinstance(bad.exception, ConfigError) and "no row 'nope'" in str(bad.exception)
    assert not (tmp_path / "out2").exists()
