"""Optional shared task adaptation: a small LoRA on the frozen base, owned by the adapter.

The LoRA weights live inside the trainable ``adapter`` module (so they are saved, loaded and
counted with it), and reach the base model through forward hooks that add ``B(A(x)) * alpha/r``
to the output of the targeted linear layers. The hooks only act inside
``PersonalizedModel.active()``, so a base model shared with other methods (a comparison run)
is unchanged outside it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """Low-rank update ``x -> B(A(x)) * scale``: ``[..., in] -> [..., out]``; B starts at 0."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.empty(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(self.A.dtype) @ self.A.T @ self.B.T) * self.scale


def lora_targets(base: nn.Module, names: tuple[str, ...] | list[str]) -> dict[str, nn.Linear]:
    """The base model's linear layers whose last name component is in ``names``."""
    found = {n: m for n, m in base.named_modules() if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in names}
    return found


def build_lora(base: nn.Module, rank: int, alpha: float, names: tuple[str, ...] | list[str]) -> nn.ModuleDict:
    targets = lora_targets(base, names)
    if not targets:
        raise ValueError(f"no linear layers named {list(names)} in the base model")
    return nn.ModuleDict({n.replace(".", "__"): LoRALinear(m.in_features, m.out_features, rank, alpha) for n, m in targets.items()})
