"""FAISS indexes over users' history embeddings, persisted on disk and updated incrementally
(one index itself, and its tie-aware search, are :mod:`personalize.retrieval.faiss_index`).

For histories of hundreds to 100,000 items, re-encoding and brute-force scoring every item on each
query is wasteful. :class:`HistoryIndexStore` keeps ONE index PER USER:

* ``<root>/<sha256(user_id)[:16]>/index.faiss`` — the FAISS index (inner product over unit rows,
  i.e. cosine similarity): exact :class:`faiss.IndexFlatIP` up to ``hnsw_threshold`` items,
  approximate :class:`faiss.IndexHNSWFlat` above it (:func:`choose_kind`);
* ``<root>/<sha256(user_id)[:16]>/index.json`` — its configuration: encoder name, dim, kind,
  ``n_items``, ``corpus_hash`` (:func:`~personalize.retrieval.base.texts_digest` of the ordered item
  texts), HNSW settings. Written after the index file, so it is the commit marker: a crash between
  the two writes leaves an ``n_items`` that disagrees with the index, which is detected on load
  and repaired by a rebuild;
* ``<root>/<sha256(user_id)[:16]>/index.lock`` — empty; ``flock``-ed while a process reads or
  writes the two files above.

The default root is ``$PERSONALIZE_HOME/indexes/<encoder slug>/``.

An index is rebuilt only when the history changed. When the new history *extends* the stored one
(same first ``n`` texts, more after — the common case as users keep producing items), only the new
items are encoded and added. When the flat/HNSW choice flips (crossing the threshold), the index
is re-built from its own stored vectors, so nothing is re-encoded.

Why per user rather than one shared index with per-user filtering (``IDSelector``): a user's query
only ever looks at that user's items, so a per-user index costs O(own history) per query, while a
shared flat index scans everybody's items (the selector is tested per item) and a shared HNSW
graph must walk through other users' nodes (1% selectivity at 100 users makes filtered HNSW slow
and lossy); updates, rebuilds, the flat/HNSW choice, LRU eviction and deletion are all per user,
so one active user never forces a rebuild or a load of everybody's vectors. The per-index overhead
is a few hundred bytes. ``benchmarks/retrieval_latency.py`` measures both designs.

Not thread-safe for concurrent updates of one store object beyond the internal lock around
:meth:`HistoryIndexStore.index_for`; different processes may share a root: each writes and reads
a user's pair of files holding that user's ``index.lock`` (so two writers never interleave, and a
reader never sees one writer's index with another's ``index.json``), writes are atomic, and an
inconsistent pair of files is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from personalize.encoding import slug
from personalize.io import cache_lock
from personalize.paths import cache_dir
from personalize.retrieval.base import TextEmbedder
from personalize.retrieval.faiss_index import (
    DEFAULT_CHUNK,
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_HNSW_M,
    DEFAULT_HNSW_THRESHOLD,
    KINDS,
    IndexKind,
    UserIndex,
    choose_kind,
    faiss_module,
    ranked_search,
)

FORMAT_VERSION = 1
LOCK_NAME = "index.lock"
"""Held (``flock``) by a process while it reads or writes the user's index.faiss + index.json."""


def _digests(texts: Sequence[str], n_prefix: int) -> tuple[str | None, str]:
    """``(texts_digest(texts[:n_prefix]), texts_digest(texts))`` in one pass.

    Same algorithm as :func:`~personalize.retrieval.base.texts_digest`; the prefix digest is
    ``None`` when ``n_prefix > len(texts)``.
    """
    h = hashlib.sha256()
    prefix = h.hexdigest() if n_prefix == 0 else None
    for i, t in enumerate(texts, 1):
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
        if i == n_prefix:
            prefix = h.hexdigest()
    return prefix, h.hexdigest()


def user_key(user_id: str) -> str:
    """The folder name of a user's index: the first 16 hex digits of SHA-256 of ``user_id``."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Entry:
    index: UserIndex
    n_items: int
    corpus_hash: str
    meta: dict[str, Any] = field(default_factory=dict)


class HistoryIndexStore:
    """One persisted FAISS index per user over the embeddings of their history item texts.

    Args:
        embedder: a :class:`~personalize.retrieval.base.TextEmbedder` (an
            :class:`~personalize.encoding.EmbeddingCache` in production): ``encode(texts)`` gives
            unit-norm float32 rows; ``name`` keys the cache folder.
        root: folder of the per-user indexes (default
            ``$PERSONALIZE_HOME/indexes/<encoder slug>/``).
        hnsw_threshold: histories with more items get an HNSW index (see :func:`choose_kind`).
        hnsw_m, ef_construction, ef_search: HNSW settings (``ef_search`` applies on load too).
        max_loaded: how many users' indexes stay in memory (least recently used dropped; a
            100k-item index takes ~150-170 MB at dim 384).
        chunk_size: texts encoded per ``embedder.encode`` call.
        search_threads: FAISS OpenMP threads for :meth:`search` (``None``: FAISS's setting).
            One query gains little from threads, and on a busy machine OpenMP can make a
            10k-item flat search ~30x slower (``benchmarks/retrieval_latency.py``); ``1`` avoids it.

    Counters (for tests and profiling): ``encoded_items`` (item texts sent to the encoder),
    ``builds`` (indexes built from scratch), ``updates`` (incremental appends), ``migrations``
    (flat<->HNSW switches, from stored vectors), ``loads`` (indexes read from disk).
    """

    def __init__(
        self,
        embedder: TextEmbedder,
        root: str | Path | None = None,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        hnsw_m: int = DEFAULT_HNSW_M,
        ef_search: int = DEFAULT_EF_SEARCH,
        *,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        max_loaded: int = 32,
        chunk_size: int = DEFAULT_CHUNK,
        search_threads: int | None = None,
    ) -> None:
        if not isinstance(embedder, TextEmbedder):
            raise TypeError(f"HistoryIndexStore needs an embedder with encode() and name, got {embedder!r}")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.embedder = embedder
        self.root = Path(root) if root is not None else cache_dir("indexes", slug(embedder.name))
        self.root.mkdir(parents=True, exist_ok=True)
        self.hnsw_threshold = int(hnsw_threshold)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.max_loaded = int(max_loaded)
        self.chunk_size = int(chunk_size)
        self.search_threads = search_threads
        self._loaded: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self.encoded_items = 0
        self.builds = 0
        self.updates = 0
        self.migrations = 0
        self.loads = 0

    # ------------------------------------------------------------------------------- helpers

    def user_dir(self, user_id: str) -> Path:
        return self.root / user_key(user_id)

    def _new_index(self, dim: int, kind: IndexKind) -> UserIndex:
        return UserIndex(
            dim, kind, hnsw_m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=self.ef_search
        )

    def _encode(self, texts: Sequence[str], dim: int | None = None) -> np.ndarray:
        emb = np.asarray(self.embedder.encode(list(texts)), dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(texts) or (dim is not None and emb.shape[1] != dim):
            want = f"[{len(texts)}, {dim if dim is not None else 'd'}]"
            raise ValueError(f"embedder {self.embedder.name!r} returned shape {emb.shape}; expected {want}")
        return emb

    def _encode_into(self, index: UserIndex | None, texts: Sequence[str], start: int, kind: IndexKind) -> UserIndex:
        """Encode ``texts[start:]`` chunk by chunk into ``index`` (created from the first chunk's
        width when ``None``); returns the index."""
        for lo in range(start, len(texts), self.chunk_size):
            chunk = texts[lo : lo + self.chunk_size]
            emb = self._encode(chunk, index.dim if index is not None else None)
            self.encoded_items += len(chunk)
            if index is None:
                index = self._new_index(emb.shape[1], kind)
            index.add(emb)
            del emb
        assert index is not None
        return index

    def _migrate(self, old: UserIndex, kind: IndexKind) -> UserIndex:
        """A new index of ``kind`` (current settings) holding ``old``'s vectors, moved by chunks."""
        new = self._new_index(old.dim, kind)
        for lo in range(0, old.ntotal, self.chunk_size):
            new.add(old.reconstruct(lo, lo + self.chunk_size))
        self.migrations += 1
        return new

    def _fits_settings(self, index: UserIndex, n_items: int) -> bool:
        kind = choose_kind(n_items, self.hnsw_threshold)
        return index.kind == kind and (kind != "hnsw" or index.hnsw_m == self.hnsw_m)

    def _remember(self, user_id: str, entry: _Entry) -> None:
        if self.max_loaded <= 0:
            return
        self._loaded[user_id] = entry
        self._loaded.move_to_end(user_id)
        while len(self._loaded) > self.max_loaded:
            self._loaded.popitem(last=False)

    def _load(self, user_id: str) -> _Entry | None:
        """The persisted index of ``user_id``, or ``None`` when missing, unreadable or stale."""
        folder = self.user_dir(user_id)
        if not (folder / "index.json").is_file():
            return None
        with cache_lock(folder / LOCK_NAME):
            return self._load_locked(user_id, folder)

    def _load_locked(self, user_id: str, folder: Path) -> _Entry | None:
        try:
            meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
                return None
            if meta.get("user_id") != user_id or meta.get("encoder") != self.embedder.name:
                return None
            n_items, corpus_hash, kind = int(meta["n_items"]), str(meta["corpus_hash"]), meta["kind"]
            index = UserIndex.load(folder / "index.faiss", ef_search=self.ef_search)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError):
            return None  # missing or corrupted: the caller rebuilds
        if index.kind != kind or index.ntotal != n_items or index.dim != int(meta.get("dim", -1)):
            return None  # e.g. a crash between writing index.faiss and index.json
        self.loads += 1
        return _Entry(index, n_items, corpus_hash, meta)

    def _save(self, user_id: str, entry: _Entry) -> None:
        folder = self.user_dir(user_id)
        folder.mkdir(parents=True, exist_ok=True)
        with cache_lock(folder / LOCK_NAME):
            self._save_locked(user_id, entry, folder)

    def _save_locked(self, user_id: str, entry: _Entry, folder: Path) -> None:
        index = entry.index
        entry.index.save(folder / "index.faiss")
        meta = {
            "format": FORMAT_VERSION,
            "user_id": user_id,
            "encoder": self.embedder.name,
            "dim": index.dim,
            "kind": index.kind,
            "n_items": entry.n_items,
            "corpus_hash": entry.corpus_hash,  # texts_digest of the ordered item texts
            "hnsw_m": index.hnsw_m,
            "ef_construction": index.ef_construction,
            "faiss_version": faiss_module().__version__,
        }
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="index.json.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=1)
            os.replace(tmp, folder / "index.json")  # last: the commit marker
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entry.meta = meta

    # ---------------------------------------------------------------------------------- API

    def index_for(self, user_id: str, texts: Sequence[str]) -> UserIndex:
        """The index over ``texts`` (a user's item texts, oldest first); row ``i`` is ``texts[i]``.

        Reuses the in-memory or on-disk index when ``texts`` is unchanged; when ``texts`` extends
        the indexed history, encodes and adds only the new items; otherwise (or when the stored
        files are missing or corrupted) encodes everything and rebuilds. Crossing
        ``hnsw_threshold`` re-builds as the other kind from the stored vectors. An empty history
        gives an empty flat index (not persisted).
        """
        with self._lock:
            n = len(texts)
            if n == 0:
                dim = getattr(self.embedder, "dim", None)
                return self._new_index(int(dim) if isinstance(dim, int) and dim > 0 else 1, "flat")
            entry = self._loaded.get(user_id)
            if entry is not None:
                self._loaded.move_to_end(user_id)
            else:
                entry = self._load(user_id)
            kind = choose_kind(n, self.hnsw_threshold)
            try:
                if entry is not None:
                    prefix, full = _digests(texts, entry.n_items)
                    if prefix is not None and prefix == entry.corpus_hash:
                        if entry.n_items == n and self._fits_settings(entry.index, n):
                            self._remember(user_id, entry)
                            return entry.index
                        index = entry.index
                        if not self._fits_settings(index, n):
                            index = self._migrate(index, kind)
                        if entry.n_items < n:
                            index = self._encode_into(index, texts, entry.n_items, kind)
                            self.updates += 1
                        entry = _Entry(index, n, full)
                        self._save(user_id, entry)
                        self._remember(user_id, entry)
                        return index
                else:
                    full = _digests(texts, 0)[1]
                # new user, modified history, or unusable files: build from scratch
                self._loaded.pop(user_id, None)
                index = self._encode_into(None, texts, 0, kind)
                self.builds += 1
                entry = _Entry(index, n, full)
                self._save(user_id, entry)
                self._remember(user_id, entry)
                return index
            except BaseException:
                self._loaded.pop(user_id, None)  # a half-updated in-memory index must not be reused
                raise

    def search(self, user_id: str, texts: Sequence[str], query: str | np.ndarray, k: int) -> list[int]:
        """Indices into ``texts`` of the ``k`` items most similar to ``query``, best first.

        ``query`` is a text (encoded with the store's embedder) or its embedding ``[dim]``.
        Ties are broken like :func:`~personalize.retrieval.base.rank_by_score`: the later (more
        recent) item first; for a flat index the result equals brute-force ranking (the search
        widens until every item tied with the k-th score is seen). Returns ``min(k, n)``
        indices (possibly fewer from an HNSW index).
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if k == 0 or len(texts) == 0:
            return []
        index = self.index_for(user_id, texts)
        if isinstance(query, str):
            q = self._encode([query], index.dim)[0]
        else:
            q = np.asarray(query, dtype=np.float32).reshape(-1)
        return ranked_search(index, q, k, threads=self.search_threads)

    def evict(self, user_id: str | None = None) -> None:
        """Drop one user's (or every) loaded index from memory (the files stay)."""
        with self._lock:
            if user_id is None:
                self._loaded.clear()
            else:
                self._loaded.pop(user_id, None)

    @property
    def loaded_users(self) -> list[str]:
        """Users whose index is in memory, least recently used first."""
        return list(self._loaded)

    def __repr__(self) -> str:
        return (
            f"HistoryIndexStore(embedder={self.embedder.name!r}, root={str(self.root)!r}, "
            f"hnsw_threshold={self.hnsw_threshold})"
        )


__all__ = [
    "DEFAULT_HNSW_THRESHOLD", "KINDS", "HistoryIndexStore", "IndexKind", "UserIndex", "choose_kind", "ranked_search",
    "user_key",
]
