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
    from safetensors.torch import load_file

    folder = out_dir / CHECKPOINT_DIR
    if not (folder / "trainer_state.json").is_file():
        return None
    adapter.load_state_dict(load_file(str(folder / "adapter.safetensors")), strict=True)
    load_optimizer_state(optimizer, load_file(str(folder / "optimizer.safetensors")),
                         json.loads((folder / "optimizer.json").read_text()))
    return json.loads((folder / "trainer_state.json").read_text())
