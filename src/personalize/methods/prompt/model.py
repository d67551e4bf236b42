"""Non-personalized soft prompt: N learned vectors shared by all users.

Without this control, a gain of E2P over ``none`` could be task adaptation (learning the task's
output style) rather than personalization. It has the same N, placement and training as E2P.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from personalize.methods.soft.adapter import ADAPTERS, AdapterKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import UserFeatures


@dataclass(frozen=True)
class PromptConfig(SoftPrefixConfig):
    """Soft-prompt settings: only the shared ones (no user input)."""


class PromptAdapter(SoftTokenAdapter):
    """No input -> ``[batch, N, hidden]`` (the same tokens for every row)."""

    feature_kind = "none"

    def __init__(self, config: PromptConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        self.tokens = nn.Parameter(torch.randn(config.num_tokens, hidden_size))

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        return self.tokens.unsqueeze(0).expand(features.batch_size, -1, -1)


ADAPTERS.register("prompt", AdapterKind(PromptConfig, PromptAdapter, "N learned tokens, no user input (control)",
                                        lambda config: "none"))
