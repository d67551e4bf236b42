"""FAISS per-user history indexes: search, persistence, incremental updates, flat/HNSW switch."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from conftest import HashingEncoder
from personalize.data.schema import UserProfile
from personalize.data.tasks import get_task
from personalize.errors import ConfigError
from personalize.retrieval import (
    DenseRetriever,
    HistoryIndexStore,
    UserIndex,
    choose_kind,
    texts_digest,
)
from personalize.retrieval.index import _digests, ranked_search

TASK = get_task("LaMP-7")  # text_fields == ("text",)


class CountingEncoder(HashingEncoder):
    """HashingEncoder that also counts texts and remembers each call's batch size."""

    def __init__(self, dim: int = 256, name: str = "hashing-test-encoder") -> None:
        super().__init__(dim=dim, name=name)
        self.texts = 0
        self.batches: list[int] = []

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False):
        self.texts += len(texts)
        self.batches.append(len(texts))
        return super().encode(texts, batch_size, show_progress)


HANDMADE = [
    "the cat sat on the mat",
    "a quantum computer solved the puzzle",
    "the dog sat on the rug",
    "stock markets fell sharply today",
    "my grandmother bakes apple pie",
]


def history(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts (a unique token each, plus shared words that make ties)."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    return [f"item{i} " + " ".join(rng.choice(words) for _ in range(3)) for i in range(n)]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def make_store(tmp_path, encoder=None, **kwargs) -> HistoryIndexStore:
    return HistoryIndexStore(encoder or CountingEncoder(), root=tmp_path / "idx", **kwargs)


# ----------------------------------------------------------------------------------- UserIndex


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_user_index_finds_nearest(kind: str) -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng.standard_normal((200, 16)))
    index = UserIndex(16, kind)
    index.add(vecs[:150])
    index.add(vecs[150:])  # ids continue
    assert index.ntotal == 200 and index.kind == kind
    queries = unit(vecs[[3, 170]] + 0.01 * rng.standard_normal((2, 16)))
    scores, ids = index.search(queries, 4)
    assert scores.shape == ids.shape == (2, 4)
    assert ids[:, 0].tolist() == [3, 170]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    exact = np.sort(queries @ vecs.T, axis=1)[:, ::-1][:, :4]
    if kind == "flat":
        np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-6)


def test_user_index_k_bounds_and_validation() -> None:
    index = UserIndex(4, "flat")
    s, i = index.search(np.ones(4, dtype=np.float32), 3)  # empty index
    assert s.shape == i.shape == (1, 0)
    index.add(unit(np.eye(4)[:3]))
    s, i = index.search(np.eye(4, dtype=np.float32)[:2], 10)  # k clipped to ntotal
    assert i.shape == (2, 3) and i[0, 0] == 0 and i[1, 0] == 1
    assert index.search(np.eye(4, dtype=np.float32)[0], 0)[1].shape == (1, 0)
    with pytest.raises(ValueError):
        index.add(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError):
        UserIndex(4, "ivf")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_user_index_save_load_roundtrip(tmp_path, kind: str) -> None:
    vecs = unit(np.random.default_rng(1).standard_normal((50, 8)))
    index = UserIndex(8, kind, hnsw_m=8, ef_search=40)
    index.add(vecs)
    index.save(tmp_path / "a.faiss")
    assert [p.name for p in tmp_path.iterdir()] == ["a.faiss"]  # no temp file left
    loaded = UserIndex.load(tmp_path / "a.faiss")
    assert (loaded.kind, loaded.dim, loaded.ntotal) == (kind, 8, 50)
    if kind == "hnsw":
        assert (loaded.hnsw_m, loaded.ef_search) == (8, 40)
    assert loaded.search(vecs[:5], 3)[1].tolist() == index.search(vecs[:5], 3)[1].tolist()
    np.testing.assert_array_equal(loaded.reconstruct(0, 50), vecs)
    assert 50 * 8 * 4 < index.memory_bytes() < 50 * 8 * 4 + 50 * 200


def test_choose_kind() -> None:
    assert choose_kind(100) == "flat"
    assert choose_kind(10_000) == "flat"
    assert choose_kind(10_001) == "hnsw"
    assert choose_kind(21, threshold=20) == "hnsw"


def test_digests_match_texts_digest() -> None:
    texts = history(10)
    assert _digests(texts, 4) == (texts_digest(texts[:4]), texts_digest(texts))
    assert _digests(texts, 0)[0] == texts_digest([])
    assert _digests(texts, 11)[0] is None


# ---------------------------------------------------------------------------------- the store


@pytest.mark.parametrize("threshold", [10_000, 2])  # flat, then hnsw
def test_store_search_handmade(tmp_path, threshold: int) -> None:
    store = make_store(tmp_path, hnsw_threshold=threshold)
    assert store.search("u1", HANDMADE, "quantum puzzle", 1) == [1]
    assert store.search("u1", HANDMADE, "apple pie recipe", 2)[0] == 4
    assert store.search("u1", HANDMADE, "markets today", 1) == [3]
    assert store.index_for("u1", HANDMADE).kind == ("flat" if threshold > 5 else "hnsw")
    assert store.builds == 1


def test_store_layout_on_disk(tmp_path) -> None:
    enc = CountingEncoder()
    store = make_store(tmp_path, enc)
    store.index_for("alice", HANDMADE)
    folder = tmp_path / "idx" / hashlib.sha256(b"alice").hexdigest()[:16]
    assert sorted(p.name for p in folder.iterdir()) == ["index.faiss", "index.json", "index.lock"]
    meta = json.loads((folder / "index.json").read_text())
    assert meta["encoder"] == enc.name and meta["dim"] == 256 and meta["kind"] == "flat"
    assert meta["n_items"] == 5 and meta["corpus_hash"] == texts_digest(HANDMADE)


def test_default_root_is_under_cache_dir() -> None:
    store = HistoryIndexStore(CountingEncoder(name="org/enc v1"))
    assert store.root.parts[-2:] == ("indexes", "org_enc_v1")


def test_second_store_loads_from_disk_and_encodes_nothing(tmp_path) -> None:
    texts = history(60)
    first = make_store(tmp_path)
    expected = first.search("u1", texts, "item42 alpha", 5)
    enc = CountingEncoder()
    second = make_store(tmp_path, enc)
    index = second.index_for("u1", texts)
    assert enc.calls == 0 and second.loads == 1 and second.builds == 0
    assert index.ntotal == 60
    assert second.search("u1", texts, "item42 alpha", 5) == expected
    assert enc.calls == 1 and enc.texts == 1  # only the query
    second.index_for("u1", texts)
    assert second.loads == 1  # the in-memory copy is reused


def test_incremental_append_encodes_only_new_items(tmp_path) -> None:
    enc = CountingEncoder()
    store = make_store(tmp_path, enc)
    old = history(30)
    store.index_for("u1", old)
    assert enc.texts == 30
    new = old + ["zeppelin airship over the city"] + history(40, seed=1)[31:]
    index = store.index_for("u1", new)
    assert enc.texts == 40 and store.updates == 1 and store.builds == 1
    assert index.ntotal == 40
    assert store.search("u1", new, "zeppelin airship", 1) == [30]
    # persisted: another store finds the extended index without encoding
    enc2 = CountingEncoder()
    again = make_store(tmp_path, enc2).index_for("u1", new)
    assert again.ntotal == 40 and enc2.calls == 0


def test_incremental_update_after_reload_from_disk(tmp_path) -> None:
    make_store(tmp_path).index_for("u1", history(30))
    enc = CountingEncoder()
    store = make_store(tmp_path, enc)
    index = store.index_for("u1", history(35))
    assert enc.texts == 5 and index.ntotal == 35 and store.loads == 1 and store.updates == 1


def test_modified_history_triggers_rebuild(tmp_path) -> None:
    enc = CountingEncoder()
    store = make_store(tmp_path, enc)
    texts = history(30)
    store.index_for("u1", texts)
    edited = list(texts)
    edited[10] = "a completely different sentence"
    index = store.index_for("u1", edited)
    assert store.builds == 2 and store.updates == 0 and enc.texts == 60 and index.ntotal == 30
    assert store.search("u1", edited, "completely different sentence", 1) == [10]
    shorter = edited[5:]  # oldest items dropped: not an extension either
    assert store.index_for("u1", shorter).ntotal == 25
    assert store.builds == 3


def test_threshold_crossing_switches_to_hnsw_without_reencoding(tmp_path) -> None:
    enc = CountingEncoder()
    store = make_store(tmp_path, enc, hnsw_threshold=20, hnsw_m=8)
    texts = history(15)
    assert store.index_for("u1", texts).kind == "flat"
    grown = texts + ["zeppelin airship over the city"] + history(30, seed=1)[16:]
    index = store.index_for("u1", grown)
    assert index.kind == "hnsw" and index.hnsw_m == 8 and index.ntotal == 30
    assert enc.texts == 30  # 15 + the 15 new ones; the old vectors moved from the flat index
    assert store.migrations == 1 and store.updates == 1
    assert store.search("u1", grown, "zeppelin airship", 1) == [15]
    assert store.search("u1", grown, texts[3], 1) == [3]  # a migrated item
    meta = json.loads((store.user_dir("u1") / "index.json").read_text())
    assert meta["kind"] == "hnsw" and meta["n_items"] == 30
    # a store with a larger threshold moves it back to flat, still without encoding
    enc2 = CountingEncoder()
    flat_store = make_store(tmp_path, enc2, hnsw_threshold=100)
    assert flat_store.index_for("u1", grown).kind == "flat" and enc2.calls == 0


@pytest.mark.parametrize("damage", ["garbage-json", "missing-json", "garbage-index", "missing-index", "stale-count"])
def test_damaged_files_are_rebuilt(tmp_path, damage: str) -> None:
    texts = history(20)
    store = make_store(tmp_path)
    store.index_for("u1", texts)
    folder = store.user_dir("u1")
    if damage == "garbage-json":
        (folder / "index.json").write_text("{not json")
    elif damage == "missing-json":
        (folder / "index.json").unlink()
    elif damage == "garbage-index":
        (folder / "index.faiss").write_bytes(b"\x00garbage" * 10)
    elif damage == "missing-index":
        (folder / "index.faiss").unlink()
    else:  # as after a crash between the index write and the json write
        meta = json.loads((folder / "index.json").read_text())
        meta["n_items"] = 15
        (folder / "index.json").write_text(json.dumps(meta))
    enc = CountingEncoder()
    fresh = make_store(tmp_path, enc)
    assert fresh.index_for("u1", texts).ntotal == 20
    assert fresh.builds == 1 and enc.texts == 20 and fresh.loads == 0
    assert make_store(tmp_path).index_for("u1", texts).ntotal == 20  # repaired on disk


def test_k_edges_and_empty_history(tmp_path) -> None:
    store = make_store(tmp_path)
    assert store.search("u1", HANDMADE, "cat", 0) == []
    everything = store.search("u1", HANDMADE, "cat", 50)
    assert sorted(everything) == list(range(5)) and everything[0] == 0
    assert store.search("u1", [], "cat", 3) == []
    assert store.index_for("u2", []).ntotal == 0
    with pytest.raises(ValueError):
        store.search("u1", HANDMADE, "cat", -1)


def test_encoding_is_chunked(tmp_path) -> None:
    enc = CountingEncoder()
    store = make_store(tmp_path, enc, chunk_size=7)
    store.index_for("u1", history(30))
    assert enc.batches == [7, 7, 7, 7, 2]
    store.index_for("u1", history(40))
    assert enc.batches[5:] == [7, 3]


def test_lru_keeps_recent_users(tmp_path) -> None:
    store = make_store(tmp_path, max_loaded=2)
    for user in ("a", "b", "c"):
        store.index_for(user, history(5))
    assert store.loaded_users == ["b", "c"]
    store.index_for("a", history(5))
    assert store.loads == 1 and store.loaded_users == ["c", "a"]


def test_ranked_search_breaks_ties_by_recency() -> None:
    index = UserIndex(2, "flat")
    index.add(np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0, 1]], dtype=np.float32))
    assert ranked_search(index, np.array([1, 0], dtype=np.float32), 2) == [3, 2]
    assert ranked_search(index, np.array([0, 0], dtype=np.float32), 5) == [4, 3, 2, 1, 0]


# ------------------------------------------------------------------------------ DenseRetriever


def test_dense_retriever_with_flat_store_matches_brute_force(tmp_path) -> None:
    enc = CountingEncoder(dim=64)
    texts = history(300)
    profile = UserProfile("u1", tuple({"id": str(i), "text": t} for i, t in enumerate(texts)))
    brute = DenseRetriever(enc)
    indexed = DenseRetriever(enc, index_store=make_store(tmp_path, enc))
    for query in ("alpha beta", "gamma", "item7 delta", "", "nothing in common"):
        for k in (1, 4, 25, 300):
            assert indexed.retrieve(query, profile, k, TASK) == brute.retrieve(query, profile, k, TASK), (query, k)
    assert indexed.encoded_items == 300
    assert indexed.index_store.builds == 1


def test_dense_retriever_store_must_share_encoder(tmp_path) -> None:
    store = make_store(tmp_path, CountingEncoder(name="other"))
    with pytest.raises(ConfigError, match="same encoder"):
        DenseRetriever(CountingEncoder(), index_store=store)


def test_search_threads_are_scoped(tmp_path) -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    store = make_store(tmp_path, search_threads=1)
    assert store.search("u1", HANDMADE, "quantum puzzle", 1) == [1]
    assert faiss.omp_get_max_threads() == before
