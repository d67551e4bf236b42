"""Sentence embeddings of history items, computed once and cached on disk.

Keyed by encoder name and the SHA-256 of the text, so that training epochs, repeated evaluations
and every method that encodes the same history share one computation. The encoder itself is
loaded only when a text is missing from the cache.

Layout: ``$PERSONALIZE_HOME/embeddings/<encoder slug>/shard-<id>.npy`` with ``shard-<id>.keys.json``
beside it; each flush writes one new shard atomically, so a crash never corrupts earlier ones. The
``<id>`` (time, process id, random) is unique to the writer: processes sharing the folder never
write the same shard name, so a shard's keys always belong to its own vectors.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from personalize.errors import ConfigError
from personalize.paths import cache_dir


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shard_stem() -> str:
    """A new shard's file stem, unique across processes and flushes: ``shard-<ns time>-<pid>-<random>``
    (sorting by name keeps the older shards first)."""
    return f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "encoder"


class EmbeddingCache:
    """Memoised ``encode(texts) -> float32 [n, dim]`` (unit-norm rows) backed by disk shards.

    Args:
        encoder_name: identifies the encoder; part of the cache key.
        encoder_factory: loads the encoder (an object with ``encode(list[str]) -> ndarray``) on
            first need.
        root: cache folder (default ``$PERSONALIZE_HOME/embeddings/<encoder>``).
    """

    def __init__(self, encoder_name: str, encoder_factory: Callable[[], Any], root: str | Path | None = None,
                 flush_every: int = 1024) -> None:
        self.encoder_name = encoder_name
        self._factory = encoder_factory
        self._encoder: Any = None
        self.root = Path(root) if root is not None else cache_dir("embeddings", slug(encoder_name))
        self.root.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._pending_keys: list[str] = []
        self._pending: list[np.ndarray] = []
        self.encoded = 0  # texts actually run through the encoder by this object
        # One-off texts (retrieval queries) are kept pending and written in batches, so that a
        # long evaluation does not leave one tiny shard per query.
        self.flush_every = flush_every
        self._load()
        atexit.register(self._flush_at_exit)

    @property
    def name(self) -> str:
        return self.encoder_name

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = self._factory()
        return self._encoder

    def _load(self) -> None:
        for keys_file in sorted(self.root.glob("shard-*.keys.json")):
            vec_file = keys_file.with_name(keys_file.name.replace(".keys.json", ".npy"))
            try:
                keys = json.loads(keys_file.read_text())
                vectors = np.load(vec_file, mmap_mode="r")
            except (OSError, ValueError):
                continue  # an unreadable shard is ignored; its texts are re-encoded
            if len(keys) != len(vectors):
                continue
            shard = len(self._shards)
            self._shards.append(vectors)
            for row, key in enumerate(keys):
                self._index.setdefault(key, (shard, row))

    def __len__(self) -> int:
        return len(self._index) + len(self._pending_keys)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` in order: ``[len(texts), dim]`` float32."""
        keys = [text_key(t) for t in texts]
        pending = {k: i for i, k in enumerate(self._pending_keys)}
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._index and key not in pending and key not in missing:
                missing[key] = text
        if missing:
            vectors = np.asarray(
                self.encoder.encode(list(missing.values()), batch_size=batch_size, show_progress=show_progress),
                dtype=np.float32,
            )
            self.encoded += len(missing)
            if self._shards and vectors.shape[1] != self._shards[0].shape[1]:
                raise ConfigError(
                    f"the embedding cache {self.root} holds {self._shards[0].shape[1]}-d vectors of "
                    f"{self.encoder_name!r}, but the encoder now returns {vectors.shape[1]}-d ones; "
                    "delete that folder or give the encoder another name"
                )
            for key, vector in zip(missing, vectors):
                pending[key] = len(self._pending_keys)
                self._pending_keys.append(key)
                self._pending.append(vector)
            if len(missing) >= 64 or len(self._pending_keys) >= self.flush_every:
                self.flush()
                pending = {}
        out = []
        for key in keys:
            if key in self._index:
                shard, row = self._index[key]
                out.append(np.asarray(self._shards[shard][row], dtype=np.float32))
            else:
                out.append(self._pending[pending[key]])
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(out)

    @property
    def dim(self) -> int:
        if self._shards:
            return int(self._shards[0].shape[1])
        if self._pending:
            return int(self._pending[0].shape[0])
        return int(self.encoder.dim)

    def _flush_at_exit(self) -> None:
        # A cache that cannot be written (full disk, read-only home) only costs a re-encoding
        # next time; at exit it must not turn a finished run into a traceback.
        try:
            self.flush()
        except OSError as exc:
            from personalize.io import describe_os_error
            from personalize.validation import warn

            warn(f"embedding cache not saved: {describe_os_error(exc)}")

    def flush(self) -> None:
        """Write pending embeddings as a new shard (atomically)."""
        if not self._pending_keys:
            return
        vectors = np.stack(self._pending).astype(np.float32)
        stem = shard_stem()
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, self.root / f"{stem}.npy")
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".json.tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self._pending_keys, fh)
        os.replace(tmp, self.root / f"{stem}.keys.json")  # keys last: a shard counts once complete
        shard = len(self._shards)
        self._shards.append(vectors)
        for row, key in enumerate(self._pending_keys):
            self._index.setdefault(key, (shard, row))
        self._pending_keys, self._pending = [], []
