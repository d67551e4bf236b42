"""Gated cross-attention memory (Flamingo / User-LLM style)."""

from personalize.methods.xattn.model import GatedCrossAttentionBlock, XAttnAdapter, XAttnConfig

__all__ = ["GatedCrossAttentionBlock", "XAttnAdapter", "XAttnConfig"]
