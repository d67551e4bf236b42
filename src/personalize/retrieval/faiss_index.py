"""One user's FAISS index: exact or HNSW inner-product search over unit-norm float32 rows.

:class:`UserIndex` wraps a FAISS index (add, search ``[q, dim] -> (scores [q, k], ids [q, k])``,
save/load atomically); :func:`choose_kind` picks exact or approximate by history size;
:func:`ranked_search` breaks FAISS's arbitrary score ties as brute-force ranking does. The
per-user store on disk that keeps these up to date is :mod:`personalize.retrieval.index`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

IndexKind = Literal["flat", "hnsw"]
KINDS: tuple[str, ...] = ("flat", "hnsw")

DEFAULT_HNSW_THRESHOLD = 10_000
"""Histories with more items than this get an approximate HNSW index; smaller ones exact search."""
DEFAULT_HNSW_M = 32
DEFAULT_EF_CONSTRUCTION = 64
DEFAULT_EF_SEARCH = 64
DEFAULT_CHUNK = 4096
"""Texts encoded (and vectors moved) per step, so memory stays bounded for 100k-item histories."""
def faiss_module() -> Any:
    """``faiss``, imported on first use (it takes ~0.15 s to import)."""
    import faiss

    return faiss


def choose_kind(n_items: int, threshold: int = DEFAULT_HNSW_THRESHOLD) -> IndexKind:
    """``"flat"`` (exact) for ``n_items <= threshold``, ``"hnsw"`` (approximate) above it."""
    return "hnsw" if n_items > threshold else "flat"


class UserIndex:
    """A FAISS inner-product index over unit-norm float32 vectors (so scores are cosines).

    Args:
        dim: vector width.
        kind: ``"flat"`` (``IndexFlatIP``, exact) or ``"hnsw"`` (``IndexHNSWFlat``, inner product).
        hnsw_m: HNSW graph degree ``M``.
        ef_construction: HNSW ``efConstruction`` (build-time beam width).
        ef_search: HNSW ``efSearch`` (query-time beam width; FAISS uses ``max(efSearch, k)``).
    """

    def __init__(
        self,
        dim: int,
        kind: IndexKind = "flat",
        *,
        hnsw_m: int = DEFAULT_HNSW_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        _index: Any = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"index kind must be one of {KINDS}, got {kind!r}")
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        faiss = faiss_module()
        self.dim = int(dim)
        self.kind: IndexKind = kind
        if _index is not None:
            self.index = _index
        elif kind == "flat":
            self.index = faiss.IndexFlatIP(self.dim)
        else:
            self.index = faiss.IndexHNSWFlat(self.dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = int(ef_construction)
        if kind == "hnsw":
            self.index.hnsw.efSearch = int(ef_search)

    # ------------------------------------------------------------------------------ settings

    @property
    def hnsw_m(self) -> int | None:
        """The HNSW graph degree ``M`` (``None`` for a flat index)."""
        if self.kind != "hnsw":
            return None
        # level 0 holds 2*M neighbours per node; upper levels M (cum_nneighbor_per_level [0, 2M, 3M..])
        return int(self.index.hnsw.nb_neighbors(1))

    @property
    def ef_search(self) -> int | None:
        return int(self.index.hnsw.efSearch) if self.kind == "hnsw" else None

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(value)

    @property
    def ef_construction(self) -> int | None:
        return int(self.index.hnsw.efConstruction) if self.kind == "hnsw" else None

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    # ---------------------------------------------------------------------------- add, search

    def _as_matrix(self, vectors: np.ndarray, what: str) -> np.ndarray:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape [n, {self.dim}], got {np.shape(vectors)}")
        return np.ascontiguousarray(arr)

    def add(self, vectors: np.ndarray) -> None:
        """Append ``vectors`` (``[n, dim]`` float32, unit rows); they get ids ``ntotal ..``."""
        arr = self._as_matrix(vectors, "vectors")
        if len(arr):
            self.index.add(arr)

    def search(self, queries: np.ndarray, k: int, *, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best items for each query: ``(scores [q, k] float32, indices [q, k] int64)``.

        ``k`` is clipped to ``ntotal`` (``k <= 0`` or an empty index gives ``[q, 0]`` arrays);
        rows are best first, and an HNSW search that finds fewer than ``k`` items pads with
        index ``-1`` (score ``-inf``). ``queries`` may be one vector ``[dim]``. ``threads``
        caps FAISS's OpenMP threads for this call (in this thread only); ``None`` leaves them.
        """
        q = self._as_matrix(queries, "queries")
        k = min(int(k), self.ntotal)
        if k <= 0:
            return np.zeros((len(q), 0), dtype=np.float32), np.zeros((len(q), 0), dtype=np.int64)
        if threads is None:
            scores, ids = self.index.search(q, k)
        else:
            faiss = faiss_module()
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(max(1, int(threads)))
            try:
                scores, ids = self.index.search(q, k)
            finally:
                faiss.omp_set_num_threads(before)
        if (ids < 0).any():
            scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids

    def reconstruct(self, start: int, stop: int) -> np.ndarray:
        """The stored vectors ``start .. stop-1`` (``[stop - start, dim]`` float32)."""
        stop = min(int(stop), self.ntotal)
        if stop <= start:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.index.reconstruct_n(int(start), stop - int(start)), dtype=np.float32)

    # --------------------------------------------------------------------------- persistence

    def memory_bytes(self) -> int:
        """Size of the serialized index (≈ its memory), counted without holding a copy."""
        faiss = faiss_module()
        total = 0

        def count(chunk: bytes) -> int:
            nonlocal total
            total += len(chunk)
            return len(chunk)

        writer = faiss.PyCallbackIOWriter(count)
        faiss.write_index(self.index, writer)
        del writer  # flushes its buffer
        return total

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` atomically (temp file in the same folder + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        os.close(fd)
        try:
            faiss_module().write_index(self.index, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, *, ef_search: int | None = None) -> UserIndex:
        """Read an index written by :meth:`save`.

        Raises:
            ValueError: not an inner-product flat/HNSW-flat index.
            RuntimeError / OSError: unreadable file (FAISS raises ``RuntimeError``).
        """
        faiss = faiss_module()
        index = faiss.read_index(str(path))
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"{path}: not an inner-product index")
        if isinstance(index, faiss.IndexHNSWFlat):
            kind: IndexKind = "hnsw"
        elif isinstance(index, faiss.IndexFlat):
            kind = "flat"
        else:
            raise ValueError(f"{path}: unsupported index type {type(index).__name__}")
        if ef_search is None:
            ef_search = int(index.hnsw.efSearch) if kind == "hnsw" else DEFAULT_EF_SEARCH
        return cls(index.d, kind, _index=index, ef_search=ef_search)

    def __repr__(self) -> str:
        return f"UserIndex(kind={self.kind!r}, dim={self.dim}, ntotal={self.ntotal})"


def ranked_search(index: UserIndex, query: np.ndarray, k: int, *, threads: int | None = None) -> list[int]:
    """Top-``k`` item ids of ``index`` for one ``query`` vector, best first, ties to the later id.

    FAISS breaks score ties arbitrarily, so the search fetches one more than ``k`` and widens
    (doubling) while the last fetched score still equals the k-th one; the candidates are then
    ordered by (score desc, id desc), exactly as :func:`~personalize.retrieval.base.rank_by_score`.
    """
    n = index.ntotal
    k = min(int(k), n)
    if k <= 0:
        return []
    fetch = min(n, k + 1)
    while True:
        scores, ids = index.search(query, fetch, threads=threads)
        s, i = scores[0], ids[0]
        keep = i >= 0
        s, i = s[keep], i[keep]
        if len(i) < fetch or fetch >= n or len(i) <= k or s[-1] < s[k - 1]:
            break
        fetch = min(n, fetch * 2)
    order = np.lexsort((-i, -s.astype(np.float64)))
    return [int(x) for x in i[order][:k]]
