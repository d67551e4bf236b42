"""Gated cross-attention to a per-user memory bank, after every k-th decoder layer.

The memory bank is the user's history items, each embedded by the frozen sentence encoder and
projected to the model's hidden size (or resampled by a Perceiver to a fixed number of slots).
A block ``x + tanh(a) * CrossAttn(LN(x), memory)``, then ``x + tanh(f) * FF(LN(x))``, follows
every k-th decoder layer; ``a`` and ``f`` start at 0, so a fresh adapter leaves the base model's
logits exactly unchanged. The blocks run through forward hooks that act only inside
``PersonalizedModel.active(memory)``, which the harness enters per batch: the memory holds for
every forward of that batch (generation with a KV cache, label scoring) and is gone after it.

No soft tokens go into the prompt: the user costs no context tokens and no KV-cache growth;
the price is the cross-attention compute per generated token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from personalize.methods.soft.adapter import SoftMethodKind, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig, check_whitening
from personalize.methods.soft.features import ItemEmbeddings, UserFeatures
from personalize.methods.soft.hooks import layer_output_hook
from personalize.methods.soft.layers import PerceiverResampler, Whiten, input_normalizer
from personalize.models.llm import decoder_layers


@dataclass(frozen=True)
class XAttnConfig(SoftPrefixConfig):
    """Cross-attention settings (plus the shared ones; ``num_tokens`` stays 0).

    Attributes:
        every_k_layers: a gated block after decoder layers k-1, 2k-1, ...
        memory_slots: ``None``: one memory slot per history item; else a Perceiver resamples
            the items to this many slots.
        heads: cross-attention heads.
        ff_mult: width of the block's feed-forward, in multiples of the hidden size.
        input_norm: ``none``, ``standardize`` or ``whiten``: each item embedding centred and
            scaled by the training items' statistics (or whitened) before the memory projection,
            as PERSOMA's setting of the same name. Item vectors of one encoder share most of their
            values, and the LayerNorm after the projection does not remove what they share, so
            without it every memory slot looks alike to the cross-attention.
        whiten_components: the whitened item vector's size (``input_norm: whiten`` only; default 128).
    """

    num_tokens: int = 0
    min_tokens: ClassVar[int] = 0  # the memory carries the user; soft tokens are optional
    every_k_layers: int = 4
    memory_slots: int | None = None
    heads: int = 4
    ff_mult: int = 2
    input_norm: Literal["none", "standardize", "whiten"] = "none"
    whiten_components: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_whitening(self.input_norm, self.whiten_components)


class GatedCrossAttentionBlock(nn.Module):
    """``x [B, T, H]`` attends to ``memory [B, M, H]``; tanh gates start at 0 (an exact no-op)."""

    def __init__(self, dim: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * ff_mult), nn.GELU(), nn.Linear(dim * ff_mult, dim))
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        h = x.to(self.norm.weight.dtype)
        attended, _ = self.attn(self.norm(h), memory, memory, key_padding_mask=~memory_mask.bool(), need_weights=False)
        update = torch.tanh(self.attn_gate) * attended
        h2 = h + update
        update = update + torch.tanh(self.ff_gate) * self.ff(h2)
        return x + update.to(x.dtype)


class XAttnAdapter(SoftTokenAdapter):
    """Memory projector + gated cross-attention blocks (built in :meth:`attach`)."""

    def __init__(self, config: XAttnConfig, hidden_size: int, encoder_dim: int, embed_norm: float) -> None:
        super().__init__(config, hidden_size, embed_norm)
        self.standardize, encoder_dim = input_normalizer(config.input_norm, encoder_dim, config.whiten_components)
        if config.memory_slots:
            self.memory_proj: nn.Module = PerceiverResampler(encoder_dim, min(hidden_size, 256), hidden_size, config.memory_slots)
        else:
            self.memory_proj = nn.Sequential(nn.Linear(encoder_dim, hidden_size), nn.LayerNorm(hidden_size))
        # An always-valid "nothing" slot: a user with no items still has a key to attend to.
        self.null_slot = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.blocks = nn.ModuleDict()

    def attach(self, base: nn.Module) -> None:
        super().attach(base)
        layers = _decoder_layers(base)
        k = max(1, self.config.every_k_layers)
        for index in range(k - 1, len(layers), k):
            self.blocks[str(index)] = GatedCrossAttentionBlock(self.hidden_size, self.config.heads, self.config.ff_mult)

    def raw_tokens(self, features: UserFeatures) -> torch.Tensor:
        return self.null_slot.new_zeros(features.batch_size, 0, self.hidden_size)

    def fit_inputs(self, training_features: Callable[[], UserFeatures]) -> None:
        if isinstance(self.standardize, Whiten):
            features = training_features()
            assert features.items is not None and features.item_mask is not None
            self.standardize.fit(features.items[features.item_mask.bool()])

    def memory(self, features: UserFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """``(slots [B, 1 + M, hidden], mask [B, 1 + M])``: the null slot, then the user's items
        (or the Perceiver's ``memory_slots``)."""
        assert features.items is not None and features.item_mask is not None, "xattn needs per-item embeddings"
        items = features.items if self.standardize is None else self.standardize(features.items, features.item_mask)
        if self.config.memory_slots:
            slots = self.memory_proj(items, features.item_mask)
            mask = torch.ones(slots.shape[:2], dtype=torch.long, device=slots.device)
        else:
            slots, mask = self.memory_proj(items), features.item_mask
        batch = slots.shape[0]
        slots = torch.cat([self.null_slot.expand(batch, -1, -1), slots], dim=1)
        mask = torch.cat([mask.new_ones(batch, 1), mask], dim=1)
        return slots, mask

    def install_hooks(self, base: nn.Module, is_active: Callable[[], bool], current_memory: Callable[[], Any]) -> list[Any]:
        handles = super().install_hooks(base, is_active, current_memory)
        layers = _decoder_layers(base)
        for index, block in self.blocks.items():
            handles.append(layers[int(index)].register_forward_hook(_block_hook(block, is_active, current_memory)))
        return handles


def _decoder_layers(base: nn.Module) -> nn.ModuleList:
    layers = decoder_layers(base)
    if layers is None:
        raise ValueError(f"cannot find the decoder layers of {type(base).__name__}")
    return layers


def _block_hook(block: GatedCrossAttentionBlock, is_active: Callable[[], bool], current_memory: Callable[[], Any]):
    return layer_output_hook(lambda hidden, memory: block(hidden, *memory), lambda memory: memory[0].shape[0],
                             "cross-attention memory is", is_active, current_memory)


def memory_items(config: XAttnConfig, task: Any, embedder: Callable[[], Any]) -> ItemEmbeddings:
    """The memory bank's items: the user's ``max_items`` most recent, embedded separately."""
    return ItemEmbeddings(task, embedder(), config.max_items)


KIND = SoftMethodKind(XAttnConfig, XAttnAdapter, memory_items)
