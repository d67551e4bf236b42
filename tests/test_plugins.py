"""Adding a method is adding one folder: a toy soft-token method defined in a temporary package,
outside the library, trained and evaluated through the CLI without touching shared code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import personalize.models
from personalize.cli import main
from personalize.methods.registry import METHODS, PLUGINS_ENV, unload_plugin

TOY_INIT = '''
"""A toy soft-token method: the user read as two numbers (history size, mean item length)."""

from personalize.methods.registry import register_method

register_method("toy-length", "toy_method.model:KIND", family="soft", description="history size -> linear -> N tokens",
                presets={"toy-length-2": {"num_tokens": 2}})
'''

TOY_MODEL = '''
"""Its config, its module, how it reads a user, and (by default) where its tokens go."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import FeatureBuilder, UserFeatures


@dataclass(frozen=True)
class ToyConfig(SoftPrefixConfig):
    scale: float = 1.0


class HistoryShape(FeatureBuilder):
    """``vector [B, 2]``: log(1 + items), mean words per item; no encoder."""

    kind = "history-shape"

    def __call__(self, profiles, queries=None):
        rows = []
        for p in profiles:
            words = [len(str(item.get("text", "")).split()) for item in p.items]
            rows.append([math.log1p(len(p.items)), sum(words) / max(1, len(words)) / 10])
        return UserFeatures(len(profiles), vector=torch.tensor(rows, dtype=torch.float32))


class ToyAdapter(SoftTokenAdapter):
    """``[B, 2] -> [B, N, hidden]``."""

    def __init__(self, config, hidden_size, encoder_dim, embed_norm):
        super().__init__(config, hidden_size, embed_norm)
        self.proj = nn.Linear(2, config.num_tokens * hidden_size)

    def raw_tokens(self, features):
        return self.proj(features.vector * self.config.scale).view(features.batch_size, self.num_tokens, self.hidden_size)


KIND = SoftMethodKind(ToyConfig, ToyAdapter, lambda config, task, embedder: HistoryShape(task))
'''


@pytest.fixture
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model):
    package = tmp_path / "plugins" / "toy_method"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (package / "model.py").write_text(textwrap.dedent(TOY_MODEL))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setattr(personalize.models, "load_base_model", lambda *a, **k: tiny_model)
    # recorded, so that monkeypatch restores the variable that --plugin sets for the process
    monkeypatch.setenv(PLUGINS_ENV, "")
    yield "toy_method"
    monkeypatch.setenv(PLUGINS_ENV, "")
    unload_plugin("toy_method")
    assert "toy-length" not in METHODS


def run(argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def test_a_plugin_method_trains_and_evaluates_through_the_cli(toy_plugin: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert "toy-length" not in METHODS  # not a built-in: only the plugin brings it
    adapter = tmp_path / "adapter"
    run(["--plugin", toy_plugin, "train", "--method", "toy-length", "--data", "synthetic-style", "--num-tokens", "2",
         "--epochs", "1", "--batch-size", "4", "--dev-limit", "2", "--max-train-examples", "4",
         "--settings", '{"scale": 0.5}', "--out", str(adapter)])
    saved = json.loads((adapter / "adapter_config.json").read_text())
    assert saved["method"] == "toy-length" and saved["config"]["scale"] == 0.5 and saved["config"]["num_tokens"] == 2

    # a new process would find it through the environment variable (or an entry point)
    unload_plugin(toy_plugin)
    monkeypatch.setenv(PLUGINS_ENV, toy_plugin)
    out = tmp_path / "eval"
    run(["eval", "--adapter", str(adapter), "--data", "synthetic-style", "--limit", "3", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "toy-length" and results["n_examples"] == 3
    assert results["trainable_parameters"] > 0 and results["mean_context_tokens"] == 2
    assert len(json.loads((out / "predictions.json").read_text())["golds"]) == 3
    from personalize.methods.registry import bench_presets

    assert bench_presets()["toy-length-2"] == ("toy-length", {"num_tokens": 2})


def test_an_unknown_plugin_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "no_such_plugin_module")
    try:
        with pytest.raises(SystemExit) as exc:
            main(["eval", "--method", "copy", "--data", "synthetic-style", "--out", "x"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "cannot import method plugin 'no_such_plugin_module'" in err and len(err.strip().splitlines()) == 1
        assert "ModuleNotFoundError" in err
    finally:
        monkeypatch.delenv(PLUGINS_ENV)


def test_a_broken_plugin_leaves_help_working_and_fails_commands_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, PLUGINS_ENV: "no_such_plugin_module", "COLUMNS": "300"}
    shown = subprocess.run([sys.executable, "-m", "personalize.cli", "eval", "--help"], env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert shown.returncode == 0 and "personalize methods" in shown.stdout, shown.stderr
    failed = subprocess.run([sys.executable, "-m", "personalize.cli", "methods"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    lines = [ln for ln in failed.stderr.splitlines() if ln.strip()]
    assert failed.returncode == 2 and len(lines) == 1 and "no_such_plugin_module" in lines[0], failed.stderr


def test_a_plugin_cannot_take_a_built_in_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "clash_plugin.py").write_text(
        "from personalize.methods.registry import register_method\n"
        "register_method('text', 'clash_plugin:Nothing', family='text')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, "clash_plugin")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--method", "copy", "--data", "synthetic-style", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "method 'text' is registered twice" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv(PLUGINS_ENV, "")
    assert METHODS.get("text").target == "personalize.methods.text.method:TextMethod"  # the built-in is untouched


def test_an_installed_plugin_is_found_through_its_entry_point(tmp_path: Path) -> None:
    """What ``pip install`` of a plugin distribution leaves: a ``.dist-info`` whose entry points name
    the module under the ``personalize.methods`` group; ``personalize methods`` then lists it."""
    plugins = tmp_path / "site"
    (plugins / "toy_method").mkdir(parents=True)
    (plugins / "toy_method" / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (plugins / "toy_method" / "model.py").write_text(textwrap.dedent(TOY_MODEL))
    info = plugins / "toy_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[personalize.methods]\ntoy = toy_method\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    env.pop(PLUGINS_ENV, None)
    listed = subprocess.run([sys.executable, "-m", "personalize.cli", "methods", "--json"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["toy-length"]["family"] == "soft" and rows["toy-length"]["presets"] == ["toy-length-2"]
    assert {"none", "text", "e2p", "xattn"} <= set(rows)
