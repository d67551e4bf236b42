"""The trainable adapter of soft-token methods, and the registry of adapter kinds.

Every soft-token method builds one ``SoftTokenAdapter``: an ``nn.Module`` that maps
:class:`UserFeatures` to soft tokens ``[batch, N, hidden]``. The frozen base model never holds
a trainable parameter; :class:`personalize.modeling.PersonalizedModel` feeds these tokens in
through ``inputs_embeds``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import FeatureKind, UserFeatures
from personalize.methods.soft.layers import NormMatch
from personalize.registry import Registry


class SoftTokenAdapter(nn.Module):
    """Base class: ``forward(features) -> [batch, N, hidden]``, norm-matched."""

    feature_kind: FeatureKind = "none"

    def __init__(self, config: SoftPrefixConfig, hidden_size: int, embed_norm: float) -> None:
        super().__init__()
        self.config = config
        self.hidden_size = hidden_size
        self.num_tokens = config.num_tokens
        self.norm = NormMatch(config.num_tokens, embed_norm, enabled=config.norm_match)

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: UserFeatures) -> torch.Tensor:
        return self.norm(self.raw_tokens(features))

    def memory(self, features: UserFeatures) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A per-batch memory the base model attends to while active (cross-attention methods):
        ``(memory [B, M, hidden], mask [B, M])``, or ``None`` for prefix-only methods."""
        return None

    def attach(self, base: nn.Module) -> None:
        """Build the parts that depend on the base model's layout (LoRA, per-layer blocks)."""
        if self.config.lora_rank > 0:
            from personalize.methods.soft.lora import build_lora
            from personalize.models.families import family_of

            targets = self.config.lora_targets
            targets = family_of(base).lora_targets if targets is None else targets
            self.lora = build_lora(base, self.config.lora_rank, self.config.lora_alpha, targets)

    def install_hooks(self, base: nn.Module, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> list[Any]:
        """Register forward hooks on ``base`` that act only while ``is_active()``; returns handles."""
        handles = []
        lora = getattr(self, "lora", None)
        if lora is not None:
            modules = dict(base.named_modules())
            for key, update in lora.items():
                handles.append(modules[key.replace("__", ".")].register_forward_hook(_lora_hook(update, is_active)))
        return handles


def _lora_hook(update: nn.Module, is_active: Callable[[], bool]):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if not is_active():
            return output
        return output + update(args[0]).to(output.dtype)

    return hook


@dataclass(frozen=True)
class AdapterKind:
    """How to build one method's adapter from its config."""

    config_class: type[SoftPrefixConfig]
    build: Callable[[SoftPrefixConfig, int, int, float], SoftTokenAdapter]  # (cfg, hidden, encoder_dim, norm)
    description: str
    feature_kind: Callable[[SoftPrefixConfig], FeatureKind]  # what the adapter reads of a user


ADAPTERS: Registry[AdapterKind] = Registry("soft-token method")
