"""User features for soft-token adapters, from cached sentence embeddings of history items.

A method's kind names its builder (:class:`~personalize.methods.soft.adapter.SoftMethodKind`);
the shared ones are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from personalize.data.schema import UserProfile
from personalize.data.tasks import TaskSpec
from personalize.retrieval.base import encoded_text, texts_digest


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
    """What a soft-token method reads of a batch of users: profiles -> :class:`UserFeatures`.

    Each method's folder says which builder it uses (its kind's ``features``); the builders
    here cover the built-in methods, and a method that reads users another way brings its own
    subclass (rag-prefix's retrieval lives in its folder). This base reads nothing: the control.

    Args:
        task: the task (which item fields make an item's text).
        embedder: an :class:`~personalize.encoding.EmbeddingCache` (or anything with
            ``encode(texts) -> [n, dim]``, ``dim`` and ``name``); ``None`` for builders that read nothing.
        max_items: at most this many history items, the most recent ones (``None``: all).
    """

    kind: str = "none"  # recorded in results; "none": reads no user (what the ablations skip)

    def __init__(self, task: TaskSpec, embedder: object | None = None, max_items: int | None = None) -> None:
        self.task, self.embedder, self.max_items = task, embedder, max_items

    @property
    def reads_profile(self) -> bool:
        return self.kind != "none"

    def precompute(self, profiles: Sequence[UserProfile]) -> None:
        """Encode what ``profiles`` will need in one pass (batched, cached on disk); nothing here."""

    def fresh(self, embedder: object, root: str | None = None) -> FeatureBuilder:
        """The same builder over another ``embedder`` with nothing memoised (a user never seen);
        a builder with files of its own (indexes) keeps them under ``root``."""
        return type(self)(self.task, embedder, self.max_items)

    def __call__(self, profiles: Sequence[UserProfile], queries: Sequence[str] | None = None) -> UserFeatures:
        """Features for a batch; ``queries`` (the current inputs) serve query-aware builders."""
        return UserFeatures(len(profiles))


class ItemEmbeddings(FeatureBuilder):
    """Each of the ``max_items`` most recent items: ``items [B, I, dim]`` + ``item_mask [B, I]``.

    Per-user results are memoised in memory, keyed on the texts the adapter reads (not on the
    user id: one user may appear with different histories), so an epoch costs no encoding after
    the first.
    """

    kind = "items"

    def __init__(self, task: TaskSpec, embedder: object | None = None, max_items: int | None = None) -> None:
        super().__init__(task, embedder, max_items)
        self._memo: dict[str, np.ndarray] = {}  # texts_digest of a user's texts -> their feature

    def texts(self, profile: UserProfile) -> list[str]:
        items = profile.items if self.max_items is None else profile.items[-self.max_items :]
        return [encoded_text(item, self.task) for item in items]

    def user_value(self, texts: list[str]) -> np.ndarray:
        """``[items, dim]`` for this builder from the user's item texts; subclasses reduce it (a
        mean, one joined text)."""
        return self.embedder.encode(texts)

    def _user(self, profile: UserProfile) -> np.ndarray:
        texts = self.texts(profile)
        key = texts_digest(texts)
        if key not in self._memo:
            self._memo[key] = self.user_value(texts)
        return self._memo[key]

    def precompute(self, profiles: Sequence[UserProfile]) -> None:
        if self.embedder is None:
            return
        texts = sorted({t for p in profiles for t in self.texts(p)})
        if texts:
            self.embedder.encode(texts, show_progress=len(texts) > 2000)

    def __call__(self, profiles: Sequence[UserProfile], queries: Sequence[str] | None = None) -> UserFeatures:
        return stack_items([self._user(p) for p in profiles], self.embedder.dim)


class MeanVector(ItemEmbeddings):
    """One vector per user, the mean of the item embeddings: ``vector [B, dim]`` (E2P's default)."""

    kind = "vector"

    def user_value(self, texts: list[str]) -> np.ndarray:
        value = self.embedder.encode(texts)
        return value.mean(0) if len(value) else np.zeros(self.embedder.dim, np.float32)

    def __call__(self, profiles: Sequence[UserProfile], queries: Sequence[str] | None = None) -> UserFeatures:
        return UserFeatures(len(profiles), vector=torch.from_numpy(np.stack([self._user(p) for p in profiles])).float())


class JoinedText(MeanVector):
    """One vector per user, the embedding of all item texts joined (the encoder truncates long ones)."""

    kind = "concat"

    def user_value(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode([" ".join(texts)])[0]


def stack_items(values: Sequence[np.ndarray], dim: int) -> UserFeatures:
    """Per-user ``[items_u, dim]`` arrays -> zero-padded ``items [B, I, dim]`` + ``item_mask [B, I]``."""
    batch = len(values)
    width = max(1, max(len(v) for v in values))
    dim = values[0].shape[-1] if len(values[0]) else dim
    items = torch.zeros(batch, width, dim)
    mask = torch.zeros(batch, width, dtype=torch.long)
    for row, v in enumerate(values):
        if len(v):
            items[row, : len(v)] = torch.from_numpy(np.asarray(v))
            mask[row, : len(v)] = 1
    return UserFeatures(batch, items=items, item_mask=mask)
