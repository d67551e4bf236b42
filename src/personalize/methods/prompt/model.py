"""Non-personalized soft prompt: N learned vectors shared by all users.

Without this control, a gain of E2P over ``none`` could be task adaptation (learning the task's
output style) rather than personalization. It has the same N, placement and training as E2P.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import FeatureBuilder, UserFeatures


@dataclass(frozen=True)
class PromptConfig(SoftPrefixConfig):
    """Soft-prompt settings: only the shared ones (no user input)."""


class PromptAdapter(SoftTokenAdapter):
    """No input -> ``[batch, N, hidden]`` (the same tokens for every row)."""

    def __init__(self, config: PromptConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        self.tokens = nn.Parameter(torch.randn(config.num_tokens, hidden_size))

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        return self.tokens.unsqueeze(0).expand(features.batch_size, -1, -1)


def no_user(config: PromptConfig, task: Any, embedder: Callable[[], Any]) -> FeatureBuilder:
    """The control reads nothing of the user (and loads no encoder)."""
    return FeatureBuilder(task)


KIND = SoftMethodKind(PromptConfig, PromptAdapter, no_user, reads_user=False)
