"""Gated cross-attention memory (Flamingo / User-LLM style)."""

from personalize.methods.registry import lazy_exports, register_method

# bench preset: an untrained adapter
register_method("xattn", "personalize.methods.xattn.model:KIND", family="soft",
                description="gated cross-attention to the user's memory bank",
                presets={"xattn": {"every_k_layers": 6}})

__getattr__ = lazy_exports(__name__, {"GatedCrossAttentionBlock": "personalize.methods.xattn.model", "XAttnAdapter": "personalize.methods.xattn.model", "XAttnConfig": "personalize.methods.xattn.model"})
__all__ = ["GatedCrossAttentionBlock", "XAttnAdapter", "XAttnConfig"]
