"""Soft-token methods in the evaluation harness: a trained adapter on the frozen base model.

Every soft-token method is served by :class:`SoftPrefixMethod`; what differs between them (its
config, adapter, feature builder and layout) is its kind, in its folder. The registry names this
class by a string (:data:`personalize.methods.registry.SOFT_METHOD_CLASS`), so that the methods
layer never imports the modeling layer above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from personalize.config import JsonConfig
from personalize.data.schema import Example, UserProfile
from personalize.errors import ConfigError
from personalize.methods.base import Method, MethodContext, PreparedBatch
from personalize.methods.soft.adapter import ADAPTERS, make_feature_builder
from personalize.modeling import PersonalizedModel, read_adapter_config


@dataclass(frozen=True)
class SoftMethodSettings(JsonConfig):
    """``adapter``: folder of a saved adapter (``adapter_config.json`` + weights)."""

    adapter: str | None = None


class SoftPrefixMethod(Method):
    """Evaluates a :class:`personalize.modeling.PersonalizedModel` (loaded or in memory)."""

    config_class = SoftMethodSettings
    config: SoftMethodSettings

    def __init__(self, config: SoftMethodSettings, model: Any = None) -> None:
        super().__init__(config)
        self.model = model

    @classmethod
    def from_model(cls, model: Any) -> SoftPrefixMethod:
        method = cls(SoftMethodSettings(), model)
        method.name = model.method
        return method

    def setup(self, ctx: MethodContext) -> None:
        super().setup(ctx)
        if self.model is None:
            if not self.config.adapter:
                raise ConfigError(f"method {self.name!r} needs a trained adapter: --adapter DIR (train one with `personalize train`)")
            saved = read_adapter_config(self.config.adapter)
            if saved["method"] != self.name:
                raise ConfigError(f"{self.config.adapter} holds a {saved['method']!r} adapter, not {self.name!r}")
            self.model = PersonalizedModel.from_pretrained(ctx.model, self.config.adapter, base_name=ctx.model_name)
            self.model.to(next(ctx.model.parameters()).device)
        self.model.eval()
        self.layout = ADAPTERS.get(self.model.method).layout(ctx.tokenizer, ctx.task, self.model.config)
        self.features = make_feature_builder(self.model.method, self.model.config, ctx.task)

    @property
    def trainable_parameters(self) -> int:
        return self.model.trainable_parameters() if self.model is not None else 0

    @property
    def reads_profile(self) -> bool:
        # once set up its feature builder says; before, its kind (the ``prompt`` control reads no user)
        features = getattr(self, "features", None)
        if features is not None:
            return features.reads_profile
        return ADAPTERS.get(self.name).reads_user

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "config": self.config.to_dict(),
                "adapter_config": self.model.adapter_config() if self.model is not None else None}

    def start_cold(self, cache_root: str) -> None:
        """Forget every user: features over an empty embedding cache (and index store) in
        ``cache_root``, nothing memoised, so that the next request pays for encoding the
        history (``personalize bench``'s cold rows)."""
        from personalize.encoding import EmbeddingCache

        old = self.features.embedder
        if old is None:
            return
        # the same (already loaded) encoder, over an empty cache
        self.features = self.features.fresh(EmbeddingCache(old.name, lambda: old.encoder, root=cache_root), cache_root)

    def session(self, prepared: PreparedBatch | None = None):
        return self.model.active(prepared.state if prepared is not None else None)

    @torch.no_grad()
    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> PreparedBatch:
        assert self.ctx is not None
        features = self.features(profiles, [self.ctx.task.query_text(e.input) for e in examples])
        splits = [self.layout.split(e.input) for e in examples]
        batch = self.model.embed([s[0] for s in splits], [s[1] for s in splits], features,
                                 pad_token_id=self.ctx.tokenizer.pad_token_id)
        n = self.model.config.num_tokens
        return PreparedBatch(
            attention_mask=batch.attention_mask,
            inputs_embeds=batch.inputs_embeds,
            prompt_tokens=batch.prompt_tokens,
            context_tokens=[n] * len(examples),
            state=batch.memory,
        )
