"""What differs between model families, in one table: the only place to edit to add one.

The rest of the code reaches inside a base model only through :func:`family_of`: the decoder
stack (embeddings ``[B, T, H]`` -> hidden states ``[B, T, H]``, run alone for a KV-cached prefix),
its repeated blocks (cross-attention hooks, compiled layers), the linear layers a shared LoRA
targets by default, and the KV cache's per-layer keys and values. Logits and any logit scaling
(Gemma-2's soft-capping, ...) are never re-implemented: the training loss calls the model's own
forward, head included.

Keyed by ``config.model_type``, as open_flamingo keys its ``_infer_decoder_layers_attr_name``
map; a model of another family gets one error naming the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from personalize.errors import ConfigError


def _inner_model(base: nn.Module) -> nn.Module:
    return base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, base.base_model_prefix)


def _dynamic_cache_layers(cache: Any) -> list[tuple[Any, Any]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _new_dynamic_cache(config: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=config)


@dataclass(frozen=True)
class Family:
    """How to reach the parts of one family of ``transformers`` causal LMs.

    Attributes:
        name: a label for messages.
        model_types: the ``config.model_type`` values it covers.
        decoder: ``base -> decoder stack`` (the module from ``inputs_embeds`` to hidden states).
        layers_attr: the attribute of the decoder stack holding its blocks (an ``nn.ModuleList``).
        lora_targets: the linear layers (last name component) a shared LoRA gets by default.
        cache_layers: ``cache -> [(keys [B, kv_heads, P, head_dim], values), ...]``, one per layer.
        new_cache: ``model config -> an empty KV cache`` that ``cache.update(k, v, layer)`` fills.
    """

    name: str
    model_types: tuple[str, ...]
    decoder: Callable[[nn.Module], nn.Module] = _inner_model
    layers_attr: str = "layers"
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    cache_layers: Callable[[Any], list[tuple[Any, Any]]] = _dynamic_cache_layers
    new_cache: Callable[[Any], Any] = _new_dynamic_cache

    def layers(self, base: nn.Module) -> nn.ModuleList:
        """The repeated decoder blocks of ``base``."""
        layers = getattr(self.decoder(base), self.layers_attr, None)
        if not isinstance(layers, nn.ModuleList) or not len(layers):
            raise ConfigError(f"{type(base).__name__} has no decoder blocks at .{self.layers_attr}, "
                              f"as the {self.name} entry of personalize/models/families.py says")
        return layers


# Llama-like decoders: `model.model.layers[i].self_attn.{q,k,v,o}_proj`, a DynamicCache.
FAMILIES: tuple[Family, ...] = (
    Family("Llama", ("llama",)),  # SmolLM2
    Family("Gemma", ("gemma", "gemma2", "gemma3_text")),  # Gemma-3-270M is gemma3_text
    Family("Mistral", ("mistral",)),
    Family("Qwen", ("qwen2", "qwen3")),
)


def family_of(base: nn.Module) -> Family:
    """The :class:`Family` of a ``transformers`` causal LM, by its ``config.model_type``.

    Raises:
        ConfigError: a family not in :data:`FAMILIES` (one line, naming the known ones).
    """
    model_type = getattr(getattr(base, "config", None), "model_type", None)
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    known = ", ".join(t for f in FAMILIES for t in f.model_types)
    raise ConfigError(f"model family {model_type!r} ({type(base).__name__}) is not supported; known: {known}. "
                      "Add its entry to FAMILIES in personalize/models/families.py")
