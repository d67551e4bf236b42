"""User features for soft-token adapters, from cached sentence embeddings of history items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from personalize.data.schema import UserProfile
from personalize.data.tasks import TaskSpec
from personalize.retrieval.base import encoded_text, texts_digest

FeatureKind = Literal["none", "vector", "concat", "items", "retrieved"]


@dataclass
class UserFeatures:
    """What an adapter sees of a batch of users.

    Attributes:
        batch_size: B.
        vector: ``[B, dim]`` one vector per user (``vector``/``concat`` kinds), else ``None``.
        items: ``[B, I, dim]`` per-item embeddings, zero-padded (``items`` kind), else ``None``.
        item_mask: ``[B, I]`` 1 for real items.
    """

    batch_size: int
    vector: torch.Tensor | None = None
    items: torch.Tensor | None = None
    item_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> UserFeatures:
        move = lambda t: t.to(device) if t is not None else None  # noqa: E731
        return UserFeatures(self.batch_size, move(self.vector), move(self.items), move(self.item_mask))


class FeatureBuilder:
    """Turns profiles into :class:`UserFeatures` through an :class:`EmbeddingCache`.

    ``kind``: ``none`` (control), ``vector`` (mean of the item embeddings), ``concat`` (the
    embedding of all item texts joined; the encoder truncates long ones), ``items`` (each of the
    ``max_items`` most recent items), ``retrieved`` (the ``retrieve_k`` items most similar to the
    current input, best first: query-aware, and bounded however long the history).
    Per-user results are memoised in memory, keyed on the texts the adapter reads (not on the
    user id: one user may appear with different histories), so an epoch costs no encoding after
    the first.
    """

    def __init__(self, kind: FeatureKind, task: TaskSpec, embedder: object | None, max_items: int | None,
                 retrieve_k: int | None = None, retriever: object | None = None) -> None:
        self.kind, self.task, self.embedder, self.max_items = kind, task, embedder, max_items
        self.retrieve_k = retrieve_k
        self._memo: dict[str, np.ndarray] = {}  # texts_digest of a user's texts -> their feature
        self._retriever = retriever
        if kind == "retrieved" and retriever is None:
            from personalize.retrieval import HistoryIndexStore, make_retriever

            store = HistoryIndexStore(embedder, search_threads=1) if hasattr(embedder, "name") else None
            self._retriever = make_retriever("dense", embedder=embedder, index_store=store)

    def _texts(self, profile: UserProfile) -> list[str]:
        items = profile.items if self.max_items is None or self.kind == "retrieved" else profile.items[-self.max_items :]
        return [encoded_text(item, self.task) for item in items]

    def _user(self, profile: UserProfile) -> np.ndarray:
        texts = self._texts(profile)
        key = texts_digest(texts)
        if key not in self._memo:
            if self.kind == "concat":
                value = self.embedder.encode([" ".join(texts)])[0]
            else:
                value = self.embedder.encode(texts)
                if self.kind == "vector":
                    value = value.mean(0) if len(value) else np.zeros(self.embedder.dim, np.float32)
            self._memo[key] = value
        return self._memo[key]

    def precompute(self, profiles: Sequence[UserProfile]) -> None:
        """Encode every history item of ``profiles`` in one pass (batched, cached on disk)."""
        if self.kind == "none" or self.embedder is None:
            return
        texts = sorted({t for p in profiles for t in self._texts(p)})
        if texts:
            self.embedder.encode(texts, show_progress=len(texts) > 2000)

    def _retrieved(self, profile: UserProfile, query: str) -> np.ndarray:
        order = self._retriever.retrieve(query, profile, self.retrieve_k or 8, self.task)
        texts = [encoded_text(profile.items[i], self.task) for i in order]
        return self.embedder.encode(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)

    def __call__(self, profiles: Sequence[UserProfile], queries: Sequence[str] | None = None) -> UserFeatures:
        """Features for a batch; ``queries`` (the current inputs) are needed by ``retrieved``."""
        batch = len(profiles)
        if self.kind == "none":
            return UserFeatures(batch)
        if self.kind == "retrieved":
            if queries is None:
                raise ValueError("retrieved features need the current inputs as queries")
            values = [self._retrieved(p, q) for p, q in zip(profiles, queries)]
        else:
            values = [self._user(p) for p in profiles]
        if self.kind in ("vector", "concat"):
            return UserFeatures(batch, vector=torch.from_numpy(np.stack(values)).float())
        width = max(1, max(len(v) for v in values))
        dim = values[0].shape[-1] if len(values[0]) else self.embedder.dim
        items = torch.zeros(batch, width, dim)
        mask = torch.zeros(batch, width, dtype=torch.long)
        for row, v in enumerate(values):
            if len(v):
                items[row, : len(v)] = torch.from_numpy(np.asarray(v))
                mask[row, : len(v)] = 1
        return UserFeatures(batch, items=items, item_mask=mask)
