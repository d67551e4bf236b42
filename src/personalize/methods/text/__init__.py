"""Text baseline: the user's history pasted into the prompt (and ``none``: the same prompt without)."""

from personalize.methods.text.method import TextConfig, TextMethod

__all__ = ["TextConfig", "TextMethod"]
