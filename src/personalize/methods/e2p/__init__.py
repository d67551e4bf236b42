"""E2P (Embedding-to-Prefix): one user vector -> MLP -> N soft tokens."""

from personalize.methods.e2p.model import E2PAdapter, E2PConfig

__all__ = ["E2PAdapter", "E2PConfig"]
