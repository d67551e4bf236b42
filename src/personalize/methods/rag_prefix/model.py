"""rag-prefix: retrieve the user's top-k history items for the current input (dense retrieval
over the user's FAISS index), then compress their embeddings with the PERSOMA resampler into N
soft tokens. The prefix is query-aware, and its cost is bounded by k however long the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from personalize.methods.persoma.model import PersomaAdapter, PersomaConfig
from personalize.methods.soft.adapter import ADAPTERS, AdapterKind


@dataclass(frozen=True)
class RagPrefixConfig(PersomaConfig):
    """PERSOMA settings plus ``retrieve_k``: how many retrieved items are resampled."""

    retrieve_k: int = 8


ADAPTERS.register("rag-prefix", AdapterKind(RagPrefixConfig, PersomaAdapter, "retrieved items -> resampler -> N soft tokens",
                                            lambda config: "retrieved"))
