"""benchmarks/ship_adapters.py on a made-up MovieLens-style run folder (no model, no data)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _run_folder(root: Path, select_on: str) -> Path:
    """``root/run/train`` as train_and_score.sh leaves it: a finished training run and its scoring sides."""
    run = root / "run" / "train"
    run.mkdir(parents=True)
    config = {"method": "xattn", "data": "../shared/data/movielens-100k:protocol=users,item_stats=1,shots=4000",
              "task": None, "epochs": 2, "lr": 0.001, "dev_limit": 1000, "patience": 10, "dev_eval": True,
              "select_on": select_on, "adapter": {"lora_rank": 8, "every_k_layers": 16}, "augment": "none"}
    (run / "train_config.json").write_text(json.dumps(config))
    (run / "adapter_config.json").write_text("{}")
    (run / "adapter_model.safetensors").write_bytes(b"weights")
    log = [{"epoch": 1, "train_loss": 0.357, "dev_loss": 0.272, "dev_loss_other_user": 0.275, "dev": {"auc": 0.71}},
           {"epoch": 2, "train_loss": 0.295, "dev_loss": 0.295, "dev_loss_other_user": 0.311, "dev": {"auc": 0.74}}]
    (run / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    best = {"auc": 0.74} if select_on == "metric" else {"dev_loss": 0.272}
    summary = {"method": "xattn", "task": "movielens-like", "trainable_parameters": 2680706, "train_examples": 4000,
               "epochs_run": 2, "best_epoch": 2 if select_on == "metric" else 1, "selected_on": select_on,
               "best_dev": best, "train_seconds": 877.1, "train_tokens_per_second": 875.9,
               "model": {"name": "smollm2-135m"}, "config": config, "git": {"commit": "0123456789abcdef"},
               "machine": {"cpu": {"cores": 2, "model": "Test CPU"}}}
    (run / "train_summary.json").write_text(json.dumps(summary))
    for side in ("own", "other"):  # a MovieLens run's scoring sides: no style attributes to report
        (root / "run" / side).mkdir()
        (root / "run" / side / "results.json").write_text(json.dumps({"metrics": {"auc": 0.75}}))
    return run


def test_ships_the_adapter_files_and_the_command_with_its_selection_rule(tmp_path: Path) -> None:
    import ship_adapters

    run = _run_folder(tmp_path / "runs", select_on="metric")
    target = tmp_path / "adapters" / "movielens-xattn"
    ship_adapters.ship(run, target)
    assert (target / "adapter_model.safetensors").read_bytes() == b"weights"
    readme = (target / "README.md").read_text()
    assert "--select-on metric" in readme and "--dev-limit 1000" in readme and "--no-dev-eval" not in readme
    assert "(gap +0.016); dev AUC 0.7400" in readme and "Kept: epoch 2 (the best dev AUC)." in readme
    assert "2,680,706 trainable parameters" in readme and "2-core Test CPU" in readme


def test_the_default_rule_is_named_and_not_in_the_command(tmp_path: Path) -> None:
    import ship_adapters

    target = tmp_path / "adapters" / "movielens-xattn"
    ship_adapters.ship(_run_folder(tmp_path / "runs", select_on="dev_loss"), target)
    readme = (target / "README.md").read_text()
    assert "--select-on" not in readme and "Kept: epoch 1 (the lowest teacher-forced dev loss)." in readme
