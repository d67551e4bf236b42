"""The training output folder: one writer at a time, and no adapter overwritten by surprise.

:func:`guard_output` wraps :func:`personalize.training.train`: before anything loads it takes
the folder's lock (a second ``train`` into the same ``--out`` fails at once instead of mixing
two runs' files), checks the device, and refuses a folder that already holds an adapter unless
``replace`` (``--replace``) says to overwrite it, or ``resume`` continues its checkpoint.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from personalize.errors import ConfigError
from personalize.io import OutputLock, ensure_writable_dir

F = TypeVar("F", bound=Callable[..., Any])

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Everything a training run writes; ``--replace`` removes these so that no file of the old run
# (a log, a dev evaluation, a checkpoint) is left to be mistaken for the new one's.
RUN_FILES = (*ADAPTER_FILES, "train_config.json", "train_summary.json", "train_log.jsonl", "dev", "dev-last",
             "checkpoint", ".checkpoint-old")


def check_train_output(out: Path, *, resume: bool, replace: bool) -> None:
    """Refuse an ``out`` whose adapter this run would overwrite without being told to."""
    if resume and replace:
        raise ConfigError("--resume continues the run in --out and --replace discards it; give one of them")
    ensure_writable_dir(out)
    has_adapter = any((out / name).exists() for name in ADAPTER_FILES)
    has_checkpoint = (out / "checkpoint").exists()
    if replace:
        for name in RUN_FILES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        if others:
            from personalize.validation import warn

            warn(f"--replace: {out} still holds {', '.join(others)}, not written by train; they may describe the "
                 "old adapter")
        return
    if has_adapter and not has_checkpoint:
        what = "nothing to resume (no checkpoint/)" if resume else "an adapter"
        raise ConfigError(f"{out} already holds an adapter ({ADAPTER_FILES[0]}) and {what}; pass --replace to "
                          "overwrite it, or choose another --out")


def guard_output(train: F) -> F:
    """``train(config, out_dir, *, resume, replace=False, ...)`` under the folder's lock."""

    @functools.wraps(train)
    def guarded(config: Any, out_dir: str | Path, *args: Any, resume: bool = False, replace: bool = False,
                **kwargs: Any) -> Any:
        from personalize.methods.soft.adapter import ADAPTERS
        from personalize.validation import check_device

        if kwargs.get("loaded_model") is None:
            check_device(config.device)
        # the adapter settings too, before the folder is created or locked
        ADAPTERS.get(config.method).config_class.from_dict(config.adapter, source="adapter settings")
        out = Path(out_dir)
        with OutputLock(out):
            check_train_output(out, resume=resume, replace=replace)
            return train(config, out, *args, resume=resume, **kwargs)

    return guarded  # type: ignore[return-value]


__all__ = ["ADAPTER_FILES", "RUN_FILES", "check_train_output", "guard_output"]
