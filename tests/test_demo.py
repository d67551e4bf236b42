"""The demo's built-in comparison config is valid; the quick demo runs end to end (integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from personalize.compare.config import ComparisonConfig
from personalize.demo import demo_config


@pytest.mark.parametrize("quick", [False, True])
def test_demo_config_is_a_valid_comparison(quick) -> None:
    config = ComparisonConfig.from_dict(demo_config(quick), source="demo")
    names = [m.name for m in config.methods]
    assert names == ["none", "text-k4", "e2p-1", "persoma-4", "control-prompt-1"]
    assert config.data.startswith("synthetic-style")
    assert all(m.train is not None for m in config.methods if m.method in ("e2p", "persoma", "prompt"))


@pytest.mark.integration
def test_quick_demo_end_to_end(tmp_path: Path) -> None:
    from rich.console import Console

    from personalize.demo import run_demo

    rows = run_demo(out=tmp_path / "demo", quick=True, console=Console(file=open("/dev/null", "w")))
    assert [r["name"] for r in rows] == ["none", "text-k4", "e2p-1", "persoma-4", "control-prompt-1"]
    record = json.loads((tmp_path / "demo" / "comparison.json").read_text())
    assert len(record["rows"]) == 5
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000
