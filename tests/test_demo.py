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
    assert names == ["none", "text-k4", "e2p-1-lora", "persoma-4-lora", "control-prompt-1-lora"]
    assert config.data.startswith("synthetic-style") and "split_by=user" in config.data and config.split == "test"
    # the soft rows are the shipped adapters, each personalized one with its control
    for spec in config.methods:
        if spec.method in ("e2p", "persoma", "prompt"):
            assert spec.adapter is not None and (Path(spec.adapter) / "adapter_model.safetensors").is_file()
    controls = {m.name: m.control for m in config.methods}
    assert controls["e2p-1-lora"] == controls["persoma-4-lora"] == "control-prompt-1-lora"
    # a control has what its row has except the user: the same LoRA
    adapters = {m.name: json.loads((Path(m.adapter) / "adapter_config.json").read_text())["config"]
                for m in config.methods if m.adapter}
    for row, control in (("e2p-1-lora", "control-prompt-1-lora"), ("persoma-4-lora", "control-prompt-1-lora")):
        assert adapters[row]["lora_rank"] == adapters[control]["lora_rank"]
    assert config.shuffled_ablation


def test_demo_trains_on_other_users_than_it_reports() -> None:
    from personalize.data.loading import load_dataset
    from personalize.demo import DEMO_DATA, demo_training

    assert demo_training()["data"] == DEMO_DATA
    trained = {e.user_id for e in load_dataset(DEMO_DATA, "train").examples}
    reported = {e.user_id for e in load_dataset(DEMO_DATA, "test").examples}
    assert trained.isdisjoint(reported)


def test_the_shipped_demo_adapters_never_trained_on_the_demo_test_users() -> None:
    # synthetic users of the same seed share ids and styles across sizes (user 7 of 160 users is user 7
    # of 480), but not splits: an adapter trained on another size may have trained on a demo test user
    from personalize.data.loading import load_dataset
    from personalize.demo import DEMO_DATA

    reported = {e.owner for e in load_dataset(DEMO_DATA, "test").examples}
    for spec in ComparisonConfig.from_dict(demo_config(), source="demo").methods:
        if spec.adapter:
            trained_on = json.loads((Path(spec.adapter) / "train_summary.json").read_text())["config"]["data"]
            assert {e.owner for e in load_dataset(trained_on, "train").examples}.isdisjoint(reported), spec.name


@pytest.mark.integration
def test_quick_demo_end_to_end(tmp_path: Path) -> None:
    from rich.console import Console

    from personalize.demo import run_demo

    rows = run_demo(out=tmp_path / "demo", quick=True, console=Console(file=open("/dev/null", "w")))
    assert [r["name"] for r in rows] == ["none", "text-k4", "e2p-1-lora", "persoma-4-lora", "control-prompt-1-lora"]
    record = json.loads((tmp_path / "demo" / "comparison.json").read_text())
    assert len(record["rows"]) == 5 and record["split"] == "test"
    assert rows[2]["user_gain"]["by_metric"]["signoff"]["n"] > 0  # the attributes are in the ablation
    log = (tmp_path / "demo" / "train-e2p-1" / "train_log.jsonl").read_text().splitlines()
    assert json.loads(log[0])["personalization_gap"] is not None
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000
