"""Atomic, pickle-free training checkpoints: adapter + AdamW state in safetensors, the rest JSON."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_DIR = "checkpoint"


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state into tensors (for safetensors) and JSON-able scalars."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        entry = {}
        for key, value in values.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                entry[key] = float(value) if torch.is_tensor(value) else value
        scalars["state"][str(index)] = entry
    return tensors, scalars


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for index, entry in scalars["state"].items():
        state[int(index)] = {k: torch.tensor(v) if k == "step" else v for k, v in entry.items()}
    for name, tensor in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def save_checkpoint(out_dir: Path, adapter: torch.nn.Module, optimizer: torch.optim.Optimizer, info: dict[str, Any]) -> Path:
    """Write ``out_dir/checkpoint/`` atomically (a temp folder renamed over the old one)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".checkpoint-"))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in adapter.state_dict().items()}, str(tmp / "adapter.safetensors"))
        tensors, scalars = optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(scalars))
        (tmp / "trainer_state.json").write_text(json.dumps(info, indent=2))
        final = out_dir / CHECKPOINT_DIR
        old = out_dir / ".checkpoint-old"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / CHECKPOINT_DIR


def load_checkpoint(out_dir: Path, adapter: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Restore adapter and optimizer from ``out_dir/checkpoint``; ``None`` when there is none."""
    from personalize.errors import DataError
    from personalize.validation import load_tensors

    folder = out_dir / CHECKPOINT_DIR
    if not (folder / "trainer_state.json").is_file():
        return None
    remedy = (f"the checkpoint cannot be resumed; delete {folder} (and the adapter files beside it) to start over, "
              "or train into another --out")
    adapter_state = load_tensors(folder / "adapter.safetensors", "checkpoint file", remedy)
    optimizer_state = load_tensors(folder / "optimizer.safetensors", "checkpoint file", remedy)
    scalars, state = (_read_json(folder / name, remedy) for name in ("optimizer.json", "trainer_state.json"))
    try:
        adapter.load_state_dict(adapter_state, strict=True)
        load_optimizer_state(optimizer, optimizer_state, scalars)
        missing = {"epoch", "step", "best", "best_epoch", "bad_epochs"} - set(state)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"checkpoint in {folder} is damaged or from other settings ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); {remedy}") from None
    return state


def _read_json(path: Path, remedy: str) -> dict[str, Any]:
    from personalize.errors import DataError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"checkpoint file {path} is missing; {remedy}") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(f"checkpoint file {path} is damaged ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise DataError(f"checkpoint file {path} is damaged (not a JSON object); {remedy}")
    return data
