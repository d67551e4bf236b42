"""PERSOMA: each history item encoded separately, resampled into N soft tokens."""

from personalize.methods.persoma.model import PersomaAdapter, PersomaConfig

__all__ = ["PersomaAdapter", "PersomaConfig"]
