"""The bundled retrievers: ``bm25``, ``dense``, ``recency`` and ``random``.

All of them return indices into ``profile.items`` (profiles are oldest first), best first, and
break score ties by recency (the later item first). Build one with :func:`make_retriever`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from personalize.data.schema import UserProfile
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError
from personalize.registry import Registry
from personalize.retrieval.base import (
    Retriever,
    TextEmbedder,
    item_texts,
    rank_by_score,
    texts_digest,
)
from personalize.retrieval.index import HistoryIndexStore, ranked_search

# bm25s sets its own logger to DEBUG on import and logs every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

V = TypeVar("V")

DEFAULT_CACHE_SIZE = 256
"""How many users' indices/embeddings a retriever keeps in memory (least recently used dropped)."""


class _LRUCache(Generic[V]):
    """A small in-memory least-recently-used cache; ``max_size <= 0`` disables caching."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._data: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        if self.max_size <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


# --------------------------------------------------------------------------------------- BM25

_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")  # bm25s' default pattern: words of 2+ characters


def _resolve_stopwords(stopwords: str | Sequence[str] | None) -> frozenset[str]:
    if stopwords is None:
        return frozenset()
    if isinstance(stopwords, str):
        if stopwords.lower() in ("en", "english"):
            return frozenset(STOPWORDS_EN)
        raise ConfigError(f"unknown stopwords {stopwords!r}; use 'en', a list of words, or None")
    return frozenset(w.lower() for w in stopwords)


class BM25Retriever(Retriever):
    """Lexical retrieval with BM25 (the ``bm25s`` library, Lucene variant).

    Tokenisation: lowercase, then words of two or more word characters (bm25s' default pattern),
    minus ``stopwords`` (``None`` by default; ``"en"`` for bm25s' English list, or a list).

    Ranking: BM25 score, highest first; ties (including the all-zero case) go to the more recent
    item. With ``fill_zero=True`` (default) items that share no term with the query still fill
    the ``k`` slots, most recent first, so the caller always gets ``min(k, n)`` items; with
    ``fill_zero=False`` only items with a positive score are returned (possibly fewer than ``k``).

    The per-user index is cached in this object, keyed by ``(user_id, digest of item texts)``,
    so repeated queries on one user reuse it and a changed profile is re-indexed.
    """

    name = "bm25"

    def __init__(
        self,
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | Sequence[str] | None = None,
        fill_zero: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.stopwords = _resolve_stopwords(stopwords)
        self.fill_zero = fill_zero
        # value: the index, or None when no item has any token (every score is then 0)
        self._cache: _LRUCache[tuple[bm25s.BM25 | None]] = _LRUCache(cache_size)
        self.builds = 0  # how many indices were built (for tests and profiling)

    def tokenize(self, text: str) -> list[str]:
        """Lowercased word tokens of ``text`` with stopwords removed."""
        return [t for t in _TOKEN_RE.findall(text.lower()) if t not in self.stopwords]

    def _index(self, profile: UserProfile, task: TaskSpec) -> bm25s.BM25 | None:
        texts = item_texts(profile, task)
        key = (profile.user_id, texts_digest(texts))
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]
        corpus = [self.tokenize(t) for t in texts]
        index: bm25s.BM25 | None = None
        if any(corpus):
            index = bm25s.BM25(k1=self.k1, b=self.b, method="lucene", backend="numpy")
            index.index(corpus, show_progress=False)
        self.builds += 1
        self._cache.put(key, (index,))
        return index

    def scores(self, query: str, profile: UserProfile, task: TaskSpec) -> np.ndarray:
        """BM25 scores of every item for ``query``: float32, shape ``[len(profile)]``."""
        n = len(profile.items)
        index = self._index(profile, task)
        if index is None:
            return np.zeros(n, dtype=np.float32)
        ids = index.get_tokens_ids(self.tokenize(query))  # drops out-of-vocabulary terms
        if not ids:
            return np.zeros(n, dtype=np.float32)
        return np.asarray(index.get_scores_from_ids(ids), dtype=np.float32)

    def _retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        scores = self.scores(query, profile, task)
        ranked = rank_by_score(scores, k)
        if not self.fill_zero:
            ranked = [i for i in ranked if scores[i] > 0]
        return ranked

    def __repr__(self) -> str:
        return f"BM25Retriever(k1={self.k1}, b={self.b}, fill_zero={self.fill_zero})"


# -------------------------------------------------------------------------------------- dense


class DenseRetriever(Retriever):
    """Dense retrieval: cosine similarity between the query and item embeddings.

    ``embedder.encode`` must return L2-normalised float32 rows (shape ``[n, d]``), so cosine is
    the inner product. Item embeddings are cached per user in this object, keyed by
    ``(user_id, digest of item texts)``; the query is encoded on every call. Ties go to the more
    recent item.

    With ``index_store`` (a :class:`~personalize.retrieval.index.HistoryIndexStore` over the same
    encoder), item embeddings live in persisted per-user FAISS indexes instead (for long
    histories: encoded once, updated incrementally, exact flat search up to the store's
    ``hnsw_threshold`` — same ranking as the brute-force path — and approximate HNSW above it).
    The store is keyed by task name, text fields and user id, so one user's profiles under
    different tasks do not overwrite each other's index.
    """

    name = "dense"

    def __init__(
        self,
        embedder: TextEmbedder,
        cache_size: int = DEFAULT_CACHE_SIZE,
        index_store: HistoryIndexStore | None = None,
    ) -> None:
        if not isinstance(embedder, TextEmbedder):
            raise ConfigError(
                f"dense retriever needs an embedder with encode() and name, got {embedder!r}"
            )
        if index_store is not None and index_store.embedder.name != embedder.name:
            raise ConfigError(
                f"index_store encodes with {index_store.embedder.name!r} but the retriever's "
                f"embedder is {embedder.name!r}; they must be the same encoder"
            )
        self.embedder = embedder
        self.index_store = index_store
        self._cache: _LRUCache[np.ndarray] = _LRUCache(cache_size)
        self.encoded_items = 0  # how many item texts were encoded (for tests and profiling)

    def _encode(self, texts: list[str]) -> np.ndarray:
        emb = np.asarray(self.embedder.encode(texts), dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(texts):
            raise ValueError(
                f"embedder {self.embedder.name!r} returned shape {emb.shape} "
                f"for {len(texts)} texts; expected [{len(texts)}, d]"
            )
        return emb

    def item_embeddings(self, profile: UserProfile, task: TaskSpec) -> np.ndarray:
        """Embeddings of every item: float32, shape ``[len(profile), d]``, rows L2-normalised."""
        texts = item_texts(profile, task)
        key = (profile.user_id, texts_digest(texts))
        emb = self._cache.get(key)
        if emb is None:
            emb = self._encode(texts)
            self.encoded_items += len(texts)
            self._cache.put(key, emb)
        return emb

    def scores(self, query: str, profile: UserProfile, task: TaskSpec) -> np.ndarray:
        """Cosine similarity of every item to ``query``: float32, shape ``[len(profile)]``."""
        items = self.item_embeddings(profile, task)
        q = self._encode([query])[0]
        if q.shape[0] != items.shape[1]:
            raise ValueError(f"query dim {q.shape[0]} != item dim {items.shape[1]}")
        return items @ q

    def _retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        if self.index_store is not None:
            return self._retrieve_indexed(query, profile, k, task)
        return rank_by_score(self.scores(query, profile, task), k)

    def _retrieve_indexed(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        store = self.index_store
        assert store is not None
        texts = item_texts(profile, task)
        key = f"{task.name}\x1f{','.join(task.text_fields)}\x1f{profile.user_id}"
        before = store.encoded_items
        index = store.index_for(key, texts)
        self.encoded_items += store.encoded_items - before
        q = self._encode([query])[0]
        if q.shape[0] != index.dim:
            raise ValueError(f"query dim {q.shape[0]} != item dim {index.dim}")
        return ranked_search(index, q, k, threads=store.search_threads)

    def __repr__(self) -> str:
        if self.index_store is not None:
            return f"DenseRetriever(embedder={self.embedder.name!r}, index_store={self.index_store!r})"
        return f"DenseRetriever(embedder={self.embedder.name!r})"


# ----------------------------------------------------------------------------- recency, random


class RecencyRetriever(Retriever):
    """The last ``k`` items of the profile (which is oldest first), most recent first."""

    name = "recency"

    def _retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        n = len(profile.items)
        return list(range(n - 1, n - 1 - k, -1))


class RandomRetriever(Retriever):
    """``k`` items drawn without replacement, in random order.

    Deterministic per ``(seed, user_id, query)``: the generator is seeded from a SHA-256 of those
    three (not Python's salted ``hash()``), so runs and processes agree.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _rng(self, user_id: str, query: str) -> np.random.Generator:
        h = hashlib.sha256()
        for part in (str(self.seed), user_id, query):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return np.random.default_rng(int.from_bytes(h.digest()[:8], "little"))

    def _retrieve(self, query: str, profile: UserProfile, k: int, task: TaskSpec) -> list[int]:
        perm = self._rng(profile.user_id, query).permutation(len(profile.items))
        return [int(i) for i in perm[:k]]

    def __repr__(self) -> str:
        return f"RandomRetriever(seed={self.seed})"


# ------------------------------------------------------------------------------------ registry

RETRIEVERS: Registry[type[Retriever]] = Registry("retriever")
for _cls in (BM25Retriever, DenseRetriever, RecencyRetriever, RandomRetriever):
    RETRIEVERS.register(_cls.name, _cls)


def make_retriever(name: str, **kwargs: object) -> Retriever:
    """Build the retriever registered as ``name`` with ``kwargs`` (e.g. ``seed=1``, ``embedder=``).

    Raises:
        ConfigError: unknown name (the message lists the known ones), or arguments the
            retriever does not take / a required one (``embedder`` for ``dense``) is missing.
    """
    cls = RETRIEVERS.get(name)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as e:
        params = ", ".join(inspect.signature(cls).parameters) or "none"
        raise ConfigError(f"retriever {name!r}: {e}; its parameters: {params}") from None
    return cls(**kwargs)  # type: ignore[arg-type]
