"""Gated cross-attention memory (Flamingo / User-LLM style)."""

from personalize.methods.registry import lazy_exports, register_method

# bench preset: an untrained adapter
register_method("xattn", "personalize.methods.xattn.model:KIND", family="soft",
                description="gated cross-attention to the user's memory bank",
                presets={"xattn": {"every_k_layers": 6}})

__getattr__ = lazy_exports(__name__, {name: "personalize.methods.xattn.model"
                                      for name in ("GatedCrossAttentionBlock", "XAttnAdapter", "XAttnConfig")})
__all__ = ["GatedCrossAttentionBlock", "XAttnAdapter", "XAttnConfig"]
