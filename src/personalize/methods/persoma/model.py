"""PERSOMA: per-item embeddings compressed by a Perceiver resampler (or an MLP adapter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig, check_whitening
from personalize.methods.soft.features import ItemEmbeddings, UserFeatures
from personalize.methods.soft.layers import (
    MLPAdapter,
    PerceiverResampler,
    Whiten,
    input_normalizer,
    masked_mean,
    zero_user_weights,
)
from personalize.methods.soft.steer import UserSteering, check_steer_layers


@dataclass(frozen=True)
class PersomaConfig(SoftPrefixConfig):
    """PERSOMA settings (plus the shared soft-prefix ones).

    Attributes:
        resampler: ``perceiver`` (N learned latents cross-attending to the items) or ``mlp``
            (per-item MLP, masked mean-pool, linear head to N tokens).
        dim: width inside the resampler.
        depth: Perceiver blocks.
        heads: attention heads in each block.
        input_norm: ``none``, or ``standardize``: centre and scale each dimension of every item
            embedding by its mean and spread over the training users' items before the
            resampler (statistics saved with the adapter; E2P's setting of the same name, per item);
            or ``whiten``: standardise, then project each item onto the ``whiten_components``
            principal directions of the training users' items, each of unit variance (fitted once
            before training; E2P's ``whiten``, per item).
        whiten_components: the whitened item vector's size (``input_norm: whiten`` only; default 128).
        item_dropout: in training only, each history item is left out of the pool with this
            probability (a user keeps at least one): every step sees a random subset of the
            history, so the adapter has to read habits that any subset shows rather than the
            items that pick out one training user. Inference always reads every item.
        steer_layers: decoder layers (0-based) after which a vector computed from the mean of the
            user's (normalised) items by an MLP of width ``dim`` is added to the hidden state of
            every position, beside the soft tokens (:mod:`personalize.methods.soft.steer`); zero
            at step 0.
    """

    has_user_projection: ClassVar[bool] = True

    num_tokens: int = 4
    resampler: Literal["perceiver", "mlp"] = "perceiver"
    dim: int = 256
    depth: int = 2
    heads: int = 4
    input_norm: Literal["none", "standardize", "whiten"] = "none"
    whiten_components: int | None = None
    item_dropout: float = 0.0
    steer_layers: tuple[int, ...] | list[int] = ()

    def __post_init__(self) -> None:
        from personalize.validation import check_float

        super().__post_init__()
        check_float("adapter setting item_dropout", self.item_dropout, minimum=0, maximum=1, exclusive_maximum=True)
        check_whitening(self.input_norm, self.whiten_components)
        check_steer_layers(self.steer_layers)


class PersomaAdapter(SoftTokenAdapter):
    """``[batch, items, encoder_dim]`` (+ mask) -> ``[batch, N, hidden]``."""

    def __init__(self, config: PersomaConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        self.standardize, encoder_dim = input_normalizer(config.input_norm, encoder_dim, config.whiten_components)
        if config.resampler == "perceiver":
            self.resampler = PerceiverResampler(encoder_dim, config.dim, hidden_size, config.num_tokens, config.depth, config.heads)
        else:
            self.resampler = MLPAdapter(encoder_dim, config.dim, hidden_size, config.num_tokens)
        if config.user_init == "zero":
            zero_user_weights(self.resampler.output if config.resampler == "perceiver" else self.resampler.head)
        self.steer = (UserSteering(encoder_dim, config.dim, hidden_size, config.steer_layers)
                      if config.steer_layers else None)

    def user_projection(self) -> torch.nn.Linear | None:
        # the Perceiver's output layer maps each latent alike (one bias for all N tokens)
        return self.resampler.head if self.config.resampler == "mlp" else None

    def fit_inputs(self, training_features: Callable[[], UserFeatures]) -> None:
        if isinstance(self.standardize, Whiten):
            features = training_features()
            assert features.items is not None and features.item_mask is not None
            self.standardize.fit(features.items[features.item_mask.bool()])

    def steering_input(self, features: UserFeatures) -> torch.Tensor:
        assert features.items is not None and features.item_mask is not None, "PERSOMA needs per-item embeddings"
        items = features.items if self.standardize is None else self.standardize(features.items, features.item_mask)
        return masked_mean(items, features.item_mask)  # every item, as at inference

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        assert features.items is not None and features.item_mask is not None, "PERSOMA needs per-item embeddings"
        mask = features.item_mask
        items = features.items if self.standardize is None else self.standardize(features.items, mask)
        if self.training and self.config.item_dropout > 0:
            mask = drop_items(mask, self.config.item_dropout)
        return self.resampler(items, mask)


def drop_items(item_mask: torch.Tensor, p: float) -> torch.Tensor:
    """``item_mask`` ``[batch, items]`` with each valid item dropped with probability ``p``; a
    row that would lose every item keeps its mask unchanged (torch's global generator)."""
    valid = item_mask.bool()
    kept = valid & (torch.rand(item_mask.shape, device=item_mask.device) >= p)
    emptied = ~kept.any(dim=1, keepdim=True)
    return torch.where(emptied, valid, kept).to(item_mask.dtype)


def item_embeddings(config: PersomaConfig, task: Any, embedder: Callable[[], Any]) -> ItemEmbeddings:
    """Each of the user's ``max_items`` most recent items, embedded separately."""
    return ItemEmbeddings(task, embedder(), config.max_items)


KIND = SoftMethodKind(PersomaConfig, PersomaAdapter, item_embeddings)
