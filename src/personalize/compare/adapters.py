"""A comparison row's adapter: checked before anything runs, or trained inline (and reused)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from personalize.compare.config import ComparisonConfig, MethodSpec
from personalize.errors import ConfigError, PersonalizeError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def has_adapter(directory: Path) -> bool:
    return all((directory / f).is_file() for f in ADAPTER_FILES)


def check_adapters(config: ComparisonConfig) -> None:
    """Fail early, in one line, for a row whose adapter folder is missing, damaged or of another
    method, or whose inline training settings are out of range."""
    from personalize.validation import check_adapter_folder

    for spec in config.methods:
        if spec.train is not None:
            from personalize.methods.soft.adapter import ADAPTERS

            cfg = config.train_config(spec)  # TrainConfig checks its ranges when built
            ADAPTERS.get(spec.method).config_class.from_dict(cfg.adapter, source=f"methods {spec.name!r} train.adapter")
        if spec.adapter is None:
            continue
        path = Path(spec.adapter)
        if not has_adapter(path):
            task = f" --task {config.task}" if config.task else ""
            raise ConfigError(
                f"method {spec.name!r}: no trained adapter in {path} (it needs {' and '.join(ADAPTER_FILES)}); "
                f"train it first: personalize train --method {spec.method} --data {config.data}{task} --out {path}")
        try:
            saved = check_adapter_folder(path)["method"]
        except PersonalizeError as exc:
            raise type(exc)(f"method {spec.name!r}: {exc}") from None
        if saved != spec.method:
            raise ConfigError(f"method {spec.name!r}: {path} holds a {saved!r} adapter, not {spec.method!r}")


def train_inline(config: ComparisonConfig, spec: MethodSpec, directory: Path, loaded: Any,
                  show_progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Train ``spec``'s adapter into ``directory``, or reuse a finished run with the same settings."""
    from personalize.training import TrainConfig, train

    cfg = config.train_config(spec)
    summary_path = directory / "train_summary.json"
    if summary_path.is_file() and has_adapter(directory):
        saved_path = directory / "train_config.json"
        if not saved_path.is_file() or TrainConfig.load(saved_path) != cfg:
            raise ConfigError(f"{directory} holds an adapter trained with other settings than method {spec.name!r} "
                              "asks for; delete that folder or choose another --out")
        log(f"  reusing the adapter trained in {directory}")
        return {**json.loads(summary_path.read_text()), "reused": True}
    resume = (directory / "checkpoint").exists()
    log(f"  training {spec.method} into {directory}" + (" (resuming)" if resume else ""))
    return train(cfg, directory, resume=resume, show_progress=show_progress, loaded_model=loaded)


def read_train_summary(adapter: Path) -> dict[str, Any] | None:
    path = adapter / "train_summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
