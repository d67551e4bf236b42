"""Forward hooks on a decoder layer that change its output hidden states with the active
adapter's per-batch memory (user steering, cross-attention), and do nothing otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def layer_output_hook(apply: Callable[[torch.Tensor, Any], torch.Tensor], rows: Callable[[Any], int], what: str,
                      is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> Callable[..., Any]:
    """A hook giving the layer's hidden states ``[B, T, hidden]`` to ``apply(hidden, memory)`` while
    ``is_active()`` and a memory is set; a memory for another number of rows (``rows(memory)``) is
    a ``RuntimeError`` naming ``what`` (e.g. "steering vectors are")."""

    def hook(module: nn.Module, args: tuple, output: Any) -> Any:
        memory = current_memory()
        if not is_active() or memory is None:
            return output
        hidden = output[0] if isinstance(output, tuple) else output
        if hidden.shape[0] != rows(memory):
            raise RuntimeError(f"{what} for {rows(memory)} rows, the batch has {hidden.shape[0]}")
        hidden = apply(hidden, memory)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook
