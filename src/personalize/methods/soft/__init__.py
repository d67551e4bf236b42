"""Shared pieces of the soft-token methods (E2P, PERSOMA, the soft-prompt control)."""
