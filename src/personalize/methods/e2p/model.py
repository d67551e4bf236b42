"""E2P: a sentence embedding of the user context, projected by an MLP into N soft tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from personalize.errors import ConfigError
from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig, check_whitening
from personalize.methods.soft.features import JoinedText, MeanVector, UserFeatures
from personalize.methods.soft.layers import PrefixProjector, Whiten, input_normalizer
from personalize.methods.soft.steer import UserSteering, check_steer_layers


@dataclass(frozen=True)
class E2PConfig(SoftPrefixConfig):
    """E2P settings (plus the shared soft-prefix ones).

    Attributes:
        user_vector: ``mean`` of the item embeddings, or ``concat``: the embedding of all item
            texts joined into one (the encoder truncates it to its maximum length).
        mlp_hidden: width of the projector's hidden layer.
        dropout: dropout inside the projector.
        input_norm: ``none``, or ``standardize``: centre and scale each dimension of the user
            vector by its mean and spread over the training users before the MLP (statistics saved
            with the adapter), so that what differs between users is the whole input and not a
            small offset on what they share; or ``whiten``: standardise, then project onto the
            ``whiten_components`` principal directions of the training users' vectors, each scaled
            to unit variance (fitted once before training), so that an attribute that moves a few
            dimensions (a spelling) is as strong as one that moves hundreds (letter case).
        whiten_components: the whitened vector's size (``input_norm: whiten`` only; default
            128); at most the number of distinct training users minus one.
        user_dropout: in training only, each example's user vector is replaced, with this
            probability, by the mean training user (zeros after ``standardize``; plain zeros
            without it). Those examples can only be answered from the prompt, so the shared LoRA
            keeps learning what the prompt says (MovieLens: the movie's line) beside the user,
            where the user alone is the quicker way down the loss.
        steer_layers: decoder layers (0-based) after which a vector computed from the (normalised)
            user vector is added to the hidden state of every position, beside the soft tokens
            (:mod:`personalize.methods.soft.steer`); zero at step 0.
    """

    has_user_projection: ClassVar[bool] = True

    user_vector: Literal["mean", "concat"] = "mean"
    mlp_hidden: int = 1024
    dropout: float = 0.0
    input_norm: Literal["none", "standardize", "whiten"] = "none"
    whiten_components: int | None = None
    user_dropout: float = 0.0
    steer_layers: tuple[int, ...] | list[int] = ()

    def __post_init__(self) -> None:
        from personalize.validation import check_float

        super().__post_init__()
        check_float("adapter setting user_dropout", self.user_dropout, minimum=0, maximum=1, exclusive_maximum=True)
        check_whitening(self.input_norm, self.whiten_components)
        check_steer_layers(self.steer_layers)
        if self.user_dropout and self.steer_layers:
            # dropping the user from the soft tokens while the steering still reads it would teach
            # nothing of what user_dropout is for (answers from the rest of the prompt)
            raise ConfigError("adapter settings user_dropout and steer_layers cannot be combined: "
                              "user_dropout drops the user from the soft tokens only")


class E2PAdapter(SoftTokenAdapter):
    """``[batch, encoder_dim]`` user vector -> ``[batch, N, hidden]``."""

    def __init__(self, config: E2PConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        normalizer, normalized_dim = input_normalizer(config.input_norm, encoder_dim, config.whiten_components)
        self.projector = PrefixProjector(normalizer, normalized_dim, config.mlp_hidden, hidden_size, config.num_tokens,
                                         config.dropout, zero_init=config.user_init == "zero",
                                         user_dropout=config.user_dropout)
        self.steer = (UserSteering(normalized_dim, config.mlp_hidden, hidden_size, config.steer_layers)
                      if config.steer_layers else None)

    def user_projection(self) -> torch.nn.Linear:
        return self.projector.net[-1]

    def steering_input(self, features: UserFeatures) -> torch.Tensor:
        assert features.vector is not None, "E2P needs one user vector per example"
        return self.projector.standardize(features.vector)

    def fit_inputs(self, training_features: Callable[[], UserFeatures]) -> None:
        if isinstance(self.projector.standardize, Whiten):
            vectors = training_features().vector
            assert vectors is not None
            self.projector.standardize.fit(vectors)

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        assert features.vector is not None, "E2P needs one user vector per example"
        return self.projector(features.vector)


def user_vector(config: E2PConfig, task: Any, embedder: Callable[[], Any]) -> MeanVector:
    """One vector per user: the mean of the item embeddings, or the embedding of the joined texts."""
    builder = MeanVector if config.user_vector == "mean" else JoinedText
    return builder(task, embedder(), config.max_items)


KIND = SoftMethodKind(E2PConfig, E2PAdapter, user_vector)
