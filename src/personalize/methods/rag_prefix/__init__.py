"""Retrieval-augmented prefix: the items most similar to the input, resampled into soft tokens."""

from personalize.methods.rag_prefix.model import RagPrefixConfig

__all__ = ["RagPrefixConfig"]
