"""The trainable adapter of soft-token methods, and the kind that declares one such method.

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

from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError
from personalize.methods.registry import METHODS
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import FeatureBuilder, UserFeatures
from personalize.methods.soft.layers import NormMatch
from personalize.methods.soft.layout import SoftPromptLayout
from personalize.methods.soft.steer import UserSteering


class SoftTokenAdapter(nn.Module):
    """Base class: ``forward(features) -> [batch, N, hidden]``, norm-matched."""

    def __init__(self, config: SoftPrefixConfig, hidden_size: int, embed_norm: float) -> None:
        super().__init__()
        self.config = config
        self.hidden_size = hidden_size
        self.num_tokens = config.num_tokens
        self.norm = NormMatch(config.num_tokens, embed_norm, enabled=config.norm_match)
        self.steer: UserSteering | None = None  # a method with ``steer_layers`` builds one

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: UserFeatures) -> torch.Tensor:
        return self.norm(self.raw_tokens(features))

    def fit_inputs(self, training_features: Callable[[], UserFeatures]) -> None:
        """Fit what the adapter computes once from the training users before training (input
        whitening); ``training_features()`` gives the features of every distinct training user,
        built only by an adapter that needs them. Nothing here."""

    def user_projection(self) -> nn.Linear | None:
        """The last layer from the user's representation to the soft tokens, one output per token
        and hidden dimension (``N * hidden``), where the method has one: the layer that
        ``user_init: zero`` zeroes and that :func:`start_as_control` starts as a control's
        tokens. ``None`` where the method has none."""
        return None

    def steering_input(self, features: UserFeatures) -> torch.Tensor:
        """``[B, in_dim]``: what the user steering (``self.steer``) reads, for a method that has one."""
        raise NotImplementedError

    def memory(self, features: UserFeatures) -> Any:
        """What the adapter's hooks read while active, per batch: the steering vectors
        ``[B, len(steer_layers), hidden]`` (``self.steer``), a cross-attention memory
        ``(memory [B, M, hidden], mask [B, M])``, or ``None`` for prefix-only methods."""
        return self.steer(self.steering_input(features)) if self.steer is not None else None

    def attach(self, base: nn.Module) -> None:
        """Build the parts that depend on the base model's layout (LoRA, per-layer blocks)."""
        if self.config.lora_rank > 0:
            from personalize.methods.soft.lora import build_lora
            from personalize.models.families import family_of

            targets = self.config.lora_targets
            targets = family_of(base).lora_targets if targets is None else targets
            self.lora = build_lora(base, self.config.lora_rank, self.config.lora_alpha, targets)
        if self.steer is not None:
            self.steer.check(base)

    def install_hooks(self, base: nn.Module, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> list[Any]:
        """Register forward hooks on ``base`` that act only while ``is_active()``; returns handles."""
        handles = []
        lora = getattr(self, "lora", None)
        if lora is not None:
            modules = dict(base.named_modules())
            for key, update in lora.items():
                handles.append(modules[key.replace("__", ".")].register_forward_hook(_lora_hook(update, is_active)))
        if self.steer is not None:
            handles += self.steer.install(base, is_active, current_memory)
        return handles


SHARED_SETTINGS = ("num_tokens", "placement", "template", "norm_match", "lora_rank", "lora_alpha", "lora_targets")
"""The settings that shape what a user-reading adapter shares with its control (the soft
prompt's place and size, the LoRA): :func:`start_as_control` needs them equal."""


def start_as_control(adapter: SoftTokenAdapter, control: dict[str, torch.Tensor]) -> None:
    """Make ``adapter`` compute what a trained control computes, for every user.

    ``control`` is a ``prompt`` adapter's state (``tokens [N, hidden]``, ``norm.*``, ``lora.*``).
    Its LoRA and norm gain are copied; the user projection's weights become zero and its bias the
    control's tokens, so at step 0 each user gets exactly the control's soft tokens through the
    control's LoRA, and training grows the user's part from there (a two-stage recipe: the shared
    part learns the task alone first, then the user is added on top of it).
    """
    projection = adapter.user_projection()
    if projection is None:
        raise ConfigError(f"{adapter.config.__class__.__name__}: this adapter has no single layer from the user to its "
                          "tokens, so it cannot start as a control")
    own = adapter.state_dict()
    shared = {k for k in own if k.startswith(("lora.", "norm."))}
    given = set(control) - {"tokens"}
    if "tokens" not in control or given != shared:
        missing, extra = sorted(shared - given), sorted(given - shared - {"tokens"})
        raise ConfigError(f"the control's weights do not match this adapter's shared part (missing {missing[:3]}, "
                          f"unexpected {extra[:3]}{', no tokens' if 'tokens' not in control else ''})")
    tokens = control["tokens"]
    if tokens.numel() != projection.out_features:
        raise ConfigError(f"the control has {tokens.shape[0]} tokens of width {tokens.shape[-1]}; this adapter makes "
                          f"{projection.out_features} values per user")
    with torch.no_grad():
        for key in shared:
            own[key].copy_(control[key])
        projection.weight.zero_()
        projection.bias.copy_(tokens.reshape(-1))


def _lora_hook(update: nn.Module, is_active: Callable[[], bool]):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if not is_active():
            return output
        return output + update(args[0]).to(output.dtype)

    return hook


@dataclass(frozen=True)
class SoftMethodKind:
    """Everything that defines one soft-token method, declared once in its folder (its
    ``model.py``) and registered by its ``__init__`` with ``family="soft"``.

    Attributes:
        config_class: its settings (a :class:`SoftPrefixConfig` subclass).
        build: its module: ``(config, hidden size, encoder dim, embedding norm) -> adapter``.
        features: how it reads a user: ``(config, task, embedder factory) -> FeatureBuilder``;
            the factory returns the on-disk embedding cache of ``config.encoder`` (call it only
            when the builder encodes anything).
        layout: where its tokens go: ``(tokenizer, task, config) -> layout`` with
            ``split(input) -> (prefix ids, suffix ids)``; default: by ``config.placement``.
        reads_user: whether its features read anything of the user (``False`` for a control);
            what the shuffled-history ablations ask before a method is set up.
    """

    config_class: type[SoftPrefixConfig]
    build: Callable[[SoftPrefixConfig, int, int, float], SoftTokenAdapter]
    features: Callable[[SoftPrefixConfig, TaskSpec, Callable[[], Any]], FeatureBuilder]
    layout: Callable[[Any, TaskSpec, SoftPrefixConfig], SoftPromptLayout] = SoftPromptLayout
    reads_user: bool = True


class SoftMethods:
    """The soft-token methods of :data:`~personalize.methods.registry.METHODS`, by name -> kind."""

    kind = "soft-token method"

    def get(self, name: str) -> SoftMethodKind:
        if name not in METHODS or not METHODS.get(name).soft:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        kind = METHODS.get(name).load()
        if not isinstance(kind, SoftMethodKind):
            raise ConfigError(f"soft-token method {name!r}: {METHODS.get(name).target} is not a SoftMethodKind")
        return kind

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in METHODS and METHODS.get(name).soft

    def names(self) -> list[str]:
        return METHODS.names(family="soft")


ADAPTERS = SoftMethods()


def make_feature_builder(method: str, config: Any, task: Any) -> FeatureBuilder:
    """The feature builder that ``method`` with ``config`` reads users with (its kind says which),
    over the on-disk embedding cache of ``config.encoder``."""
    from personalize.encoding import EmbeddingCache
    from personalize.models import load_encoder

    def embedder() -> EmbeddingCache:
        return EmbeddingCache(config.encoder, lambda: load_encoder(config.encoder))

    return ADAPTERS.get(method).features(config, task, embedder)
