"""What rag-prefix reads of a user: the history items most similar to the current input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from personalize.data.schema import UserProfile
from personalize.data.tasks import TaskSpec
from personalize.methods.soft.features import FeatureBuilder, UserFeatures, stack_items
from personalize.retrieval.base import encoded_text


class RetrievedItems(FeatureBuilder):
    """The ``retrieve_k`` items most similar to the current input, best first (dense retrieval
    over the user's FAISS index): ``items [B, k, dim]`` + ``item_mask [B, k]``. Query-aware, and
    bounded however long the history; ``max_items`` does not apply (retrieval sees every item).

    Args:
        retrieve_k: items per example (default 8).
        retriever: a :class:`~personalize.retrieval.Retriever`; default: dense retrieval with
            ``embedder``, its per-user indexes in ``index_root`` (default: the personalize cache).
    """

    kind = "retrieved"

    def __init__(self, task: TaskSpec, embedder: object | None = None, max_items: int | None = None,
                 retrieve_k: int | None = None, retriever: object | None = None, index_root: str | None = None) -> None:
        super().__init__(task, embedder, max_items)
        self.retrieve_k = retrieve_k
        if retriever is None:
            from personalize.retrieval import HistoryIndexStore, make_retriever

            store = (HistoryIndexStore(embedder, root=index_root, search_threads=1)
                     if hasattr(embedder, "name") else None)
            retriever = make_retriever("dense", embedder=embedder, index_store=store)
        self.retriever = retriever

    def fresh(self, embedder: object, root: str | None = None) -> RetrievedItems:
        return RetrievedItems(self.task, embedder, self.max_items, self.retrieve_k,
                              index_root=f"{root}/indexes" if root is not None else None)

    def _retrieved(self, profile: UserProfile, query: str) -> np.ndarray:
        order = self.retriever.retrieve(query, profile, self.retrieve_k or 8, self.task)
        texts = [encoded_text(profile.items[i], self.task) for i in order]
        return self.embedder.encode(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)

    def precompute(self, profiles: Sequence[UserProfile]) -> None:
        if self.embedder is None:
            return
        texts = sorted({encoded_text(item, self.task) for p in profiles for item in p.items})
        if texts:
            self.embedder.encode(texts, show_progress=len(texts) > 2000)

    def __call__(self, profiles: Sequence[UserProfile], queries: Sequence[str] | None = None) -> UserFeatures:
        if queries is None:
            raise ValueError("retrieved features need the current inputs as queries")
        return stack_items([self._retrieved(p, q) for p, q in zip(profiles, queries)], self.embedder.dim)
