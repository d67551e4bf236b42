"""Retrieval: choose the history items of a user's profile that matter for a query."""

from personalize.retrieval.base import (
    Retriever,
    TextEmbedder,
    item_text,
    item_texts,
    rank_by_score,
    texts_digest,
)
from personalize.retrieval.index import HistoryIndexStore, UserIndex, choose_kind
from personalize.retrieval.retrievers import (
    RETRIEVERS,
    BM25Retriever,
    DenseRetriever,
    RandomRetriever,
    RecencyRetriever,
    make_retriever,
)

__all__ = [
    "RETRIEVERS",
    "BM25Retriever",
    "DenseRetriever",
    "HistoryIndexStore",
    "RandomRetriever",
    "RecencyRetriever",
    "Retriever",
    "TextEmbedder",
    "UserIndex",
    "choose_kind",
    "item_text",
    "item_texts",
    "make_retriever",
    "rank_by_score",
    "texts_digest",
]
