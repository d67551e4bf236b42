"""The control: a trained soft prompt with no user input (same N tokens for every user)."""

from personalize.methods.prompt.model import PromptAdapter, PromptConfig

__all__ = ["PromptAdapter", "PromptConfig"]
