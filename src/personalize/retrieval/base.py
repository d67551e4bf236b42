"""The retriever interface: pick the history items most useful for one query.

A retriever maps ``(query, profile, k, task)`` to indices into ``profile.items``, best first.
Item text is always :func:`item_text` (the task's ``text_fields`` joined with a space), so every
retriever sees the same content for an item.
"""

from __future__ import annotations

import hashlib
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from personalize.data.schema import HistoryItem, UserProfile
from personalize.data.tasks import TaskSpec


@runtime_checkable
class TextEmbedder(Protocol):
    """A sentence encoder for dense retrieval.

    ``encode(texts)`` returns a float32 array of shape ``[len(texts), d]`` whose rows are
    L2-normalised, so that cosine similarity is the inner product. ``name`` identifies the model
    (used in run records and cache keys).
    """

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def item_text(item: HistoryItem, task: TaskSpec) -> str:
    """The content of one history item: its ``task.text_fields`` joined with ``" "``.

    Missing or empty fields are skipped (no doubled spaces); an item with none gives ``""``.
    """
    return " ".join(v for f in task.text_fields if (v := item.get(f, "")))


def encoded_text(item: HistoryItem, task: TaskSpec) -> str:
    """What a soft method's encoder reads of one history item: ``task.encoded_format`` filled with
    the item's fields where it has every one of them, else ``task.encoded_fields`` (default
    ``text_fields``) joined with ``" "``, empty fields skipped."""
    if task.encoded_format is not None:
        names = [name for _, name, _, _ in string.Formatter().parse(task.encoded_format) if name]
        if all(str(item.get(name, "")) for name in names):
            return task.encoded_format.format(**{name: item[name] for name in names})
    return " ".join(v for f in (task.encoded_fields or task.text_fields) if (v := str(item.get(f, ""))))


def item_texts(profile: UserProfile, task: TaskSpec) -> list[str]:
    """:func:`item_text` for every item of ``profile``, in profile order (length ``len(profile)``)."""
    return [item_text(item, task) for item in profile.items]


def texts_digest(texts: Sequence[str]) -> str:
    """A stable (unsalted) SHA-256 hex digest of an ordered list of texts, for cache keys."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def rank_by_score(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` best ``scores`` (shape ``[n]``), highest first.

    Ties are broken by recency: a later index (a more recent item, since profiles are oldest
    first) ranks before an earlier one. Returns ``min(k, n)`` indices.
    """
    n = int(scores.shape[0])
    if k <= 0 or n == 0:
        return []
    idx = np.arange(n)
    # np.lexsort sorts by the last key first: score descending, then index descending.
    order = np.lexsort((-idx, -scores.astype(np.float64)))
    return [int(i) for i in order[: min(k, n)]]


class Retriever(ABC):
    """Choose history items for a query.

    Subclasses implement :meth:`_retrieve`; :meth:`retrieve` validates ``k`` and handles the
    trivial cases (``k == 0`` or an empty profile gives ``[]``). Every retriever is deterministic:
    the same inputs give the same output.
    """

    name: ClassVar[str]

    def retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        """Indices into ``profile.items``, best first, at most ``k`` (all items when ``k >= n``).

        Raises:
            ValueError: ``k`` is negative.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if k == 0 or len(profile.items) == 0:
            return []
        return self._retrieve(query, profile, min(k, len(profile.items)), task)

    @abstractmethod
    def _retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        """Like :meth:`retrieve`, with ``1 <= k <= len(profile.items)`` guaranteed."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
