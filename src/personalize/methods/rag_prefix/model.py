"""rag-prefix: retrieve the user's top-k history items for the current input (dense retrieval
over the user's FAISS index), then compress their embeddings with the PERSOMA resampler into N
soft tokens. The prefix is query-aware, and its cost is bounded by k however long the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from personalize.methods.persoma.model import PersomaAdapter, PersomaConfig
from personalize.methods.rag_prefix.features import RetrievedItems
from personalize.methods.soft.adapter import SoftMethodKind


@dataclass(frozen=True)
class RagPrefixConfig(PersomaConfig):
    """PERSOMA settings plus ``retrieve_k``: how many retrieved items are resampled."""

    retrieve_k: int = 8


def retrieved_items(config: RagPrefixConfig, task: Any, embedder: Callable[[], Any]) -> RetrievedItems:
    """The ``retrieve_k`` history items most similar to the current input."""
    return RetrievedItems(task, embedder(), config.max_items, retrieve_k=config.retrieve_k)


KIND = SoftMethodKind(RagPrefixConfig, PersomaAdapter, retrieved_items)
