"""E2P: a sentence embedding of the user context, projected by an MLP into N soft tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig, check_whitening
from personalize.methods.soft.features import JoinedText, MeanVector, UserFeatures
from personalize.methods.soft.layers import PrefixProjector, Whiten, input_normalizer
from personalize.models.llm import decoder_layers


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
        steer_layers: decoder layers (0-based) after which a vector computed from the user is
            added to the hidden state of every position (user steering), beside the soft tokens.
            A soft token reaches a position only through attention, and the positions inside a
            word (an upper-case spelling's pieces) hardly attend to it; an added vector reaches
            each of them alike. Its last layer starts at zero: an exact no-op at step 0.
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
        from personalize.errors import ConfigError
        from personalize.validation import check_float, check_int

        super().__post_init__()
        check_float("adapter setting user_dropout", self.user_dropout, minimum=0, maximum=1, exclusive_maximum=True)
        check_whitening(self.input_norm, self.whiten_components)
        for layer in self.steer_layers:
            check_int("adapter setting steer_layers", layer, minimum=0)
        if len(set(self.steer_layers)) != len(self.steer_layers):
            raise ConfigError(f"adapter setting steer_layers names a layer twice: {list(self.steer_layers)}")


class E2PAdapter(SoftTokenAdapter):
    """``[batch, encoder_dim]`` user vector -> ``[batch, N, hidden]``."""

    def __init__(self, config: E2PConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        normalizer, normalized_dim = input_normalizer(config.input_norm, encoder_dim, config.whiten_components)
        self.projector = PrefixProjector(normalizer, normalized_dim, config.mlp_hidden, hidden_size, config.num_tokens,
                                         config.dropout, zero_init=config.user_init == "zero",
                                         user_dropout=config.user_dropout)

        self.steer_layers = [int(layer) for layer in config.steer_layers]
        if self.steer_layers:  # [B, normalized_dim] -> [B, layers * hidden], zero at step 0
            self.steer = nn.Sequential(nn.Linear(normalized_dim, config.mlp_hidden), nn.GELU(),
                                       nn.Linear(config.mlp_hidden, len(self.steer_layers) * hidden_size))
            nn.init.zeros_(self.steer[-1].weight)
            nn.init.zeros_(self.steer[-1].bias)

    def user_projection(self) -> torch.nn.Linear:
        return self.projector.net[-1]

    def memory(self, features: UserFeatures) -> torch.Tensor | None:
        """The steering vectors ``[B, len(steer_layers), hidden]``, or ``None`` without steering."""
        if not self.steer_layers:
            return None
        assert features.vector is not None, "E2P needs one user vector per example"
        steer = self.steer(self.projector.standardize(features.vector))
        return steer.view(steer.shape[0], len(self.steer_layers), self.hidden_size)

    def attach(self, base: nn.Module) -> None:
        super().attach(base)
        layers = decoder_layers(base)
        if self.steer_layers and max(self.steer_layers) >= len(layers):
            raise ValueError(f"adapter setting steer_layers: {max(self.steer_layers)} is past the base model's "
                             f"last decoder layer ({len(layers) - 1})")

    def install_hooks(self, base: nn.Module, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> list[Any]:
        handles = super().install_hooks(base, is_active, current_memory)
        layers = decoder_layers(base)
        for slot, layer in enumerate(self.steer_layers):
            handles.append(layers[layer].register_forward_hook(_steer_hook(slot, is_active, current_memory)))
        return handles

    def fit_inputs(self, training_features: Callable[[], UserFeatures]) -> None:
        if isinstance(self.projector.standardize, Whiten):
            vectors = training_features().vector
            assert vectors is not None
            self.projector.standardize.fit(vectors)

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        assert features.vector is not None, "E2P needs one user vector per example"
        return self.projector(features.vector)


def _steer_hook(slot: int, is_active: Callable[[], bool], current_memory: Callable[[], Any]):
    def hook(module: nn.Module, args: tuple, output: Any) -> Any:
        steer = current_memory()
        if not is_active() or steer is None:
            return output
        hidden = output[0] if isinstance(output, tuple) else output  # [B, T, hidden]
        if hidden.shape[0] != steer.shape[0]:
            raise RuntimeError(f"steering vectors are for {steer.shape[0]} rows, the batch has {hidden.shape[0]}")
        hidden = hidden + steer[:, slot, None, :].to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook


def user_vector(config: E2PConfig, task: Any, embedder: Callable[[], Any]) -> MeanVector:
    """One vector per user: the mean of the item embeddings, or the embedding of the joined texts."""
    builder = MeanVector if config.user_vector == "mean" else JoinedText
    return builder(task, embedder(), config.max_items)


KIND = SoftMethodKind(E2PConfig, E2PAdapter, user_vector)
