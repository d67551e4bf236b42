"""The control: a trained soft prompt with no user input (same N tokens for every user)."""

from personalize.methods.registry import lazy_exports, register_method

register_method("prompt", "personalize.methods.prompt.model:KIND", family="soft",
                description="N learned tokens, no user input (the non-personalized control)")

__getattr__ = lazy_exports(__name__, {name: "personalize.methods.prompt.model" for name in ("PromptAdapter", "PromptConfig")})
__all__ = ["PromptAdapter", "PromptConfig"]
