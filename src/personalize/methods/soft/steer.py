"""User steering: a vector computed from the user, added to the hidden state of every position
after chosen decoder layers of the frozen model (a soft-token method's ``steer_layers``).

A soft token reaches an answer position only through attention, and some positions hardly
attend to it: inside a word cut into pieces (an upper-case spelling), the model reads the
word's earlier pieces (``benchmarks/decision_probe.py --attention``: 0.003 of the attention on
the soft token, against 0.5 where the answer's first token is chosen). An added vector reaches
every position alike. The last layer starts at zero, so a fresh adapter is an exact no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from personalize.methods.soft.hooks import layer_output_hook
from personalize.models.llm import decoder_layers


def check_steer_layers(layers: Sequence[int]) -> None:
    """Each layer an integer >= 0, none twice (``ConfigError`` otherwise)."""
    from personalize.errors import ConfigError
    from personalize.validation import check_int

    for layer in layers:
        check_int("adapter setting steer_layers", layer, minimum=0)
    if len(set(layers)) != len(layers):
        raise ConfigError(f"adapter setting steer_layers names a layer twice: {list(layers)}")


class UserSteering(nn.Sequential):
    """``[batch, in_dim]`` user representation -> ``[batch, len(layers), hidden]`` vectors, the
    one for ``layers[i]`` added after that decoder layer (an MLP; zero at step 0)."""

    def __init__(self, in_dim: int, mlp_hidden: int, hidden: int, layers: Sequence[int]) -> None:
        super().__init__(nn.Linear(in_dim, mlp_hidden), nn.GELU(), nn.Linear(mlp_hidden, len(layers) * hidden))
        self.layers, self.hidden = [int(layer) for layer in layers], hidden
        nn.init.zeros_(self[-1].weight)
        nn.init.zeros_(self[-1].bias)

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        return super().forward(user).view(user.shape[0], len(self.layers), self.hidden)

    def check(self, base: nn.Module) -> None:
        """``ValueError`` for a layer the base model does not have."""
        last = len(decoder_layers(base)) - 1
        if max(self.layers) > last:
            raise ValueError(f"adapter setting steer_layers: {max(self.layers)} is past the base model's last decoder layer ({last})")

    def install(self, base: nn.Module, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> list[Any]:
        """Forward hooks adding ``current_memory()[:, i]`` after ``layers[i]`` while ``is_active()``."""
        layers = decoder_layers(base)
        return [layers[layer].register_forward_hook(_steer_hook(slot, is_active, current_memory))
                for slot, layer in enumerate(self.layers)]


def _steer_hook(slot: int, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> Callable[..., Any]:
    def add(hidden: torch.Tensor, steer: torch.Tensor) -> torch.Tensor:  # [B, T, hidden] + [B, 1, hidden]
        return hidden + steer[:, slot, None, :].to(hidden.dtype)

    return layer_output_hook(add, lambda steer: steer.shape[0], "steering vectors are", is_active, current_memory)
