"""The trainable adapter of soft-token methods, and the registry of adapter kinds.

Every soft-token method builds one ``SoftTokenAdapter``: an ``nn.Module`` that maps
:class:`UserFeatures` to soft tokens ``[batch, N, hidden]``. The frozen base model never holds
a trainable parameter; :class:`personalize.modeling.PersonalizedModel` feeds these tokens in
through ``inputs_embeds``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class AdapterKind:
    """How to build one method's adapter from its config."""

    config_class: type[SoftPrefixConfig]
    build: Callable[[SoftPrefixConfig, int, int, float], SoftTokenAdapter]  # (cfg, hidden, encoder_dim, norm)
    description: str
    feature_kind: Callable[[SoftPrefixConfig], FeatureKind]  # what the adapter reads of a user


ADAPTERS: Registry[AdapterKind] = Registry("soft-token method")
