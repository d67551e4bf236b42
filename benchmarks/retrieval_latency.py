"""FAISS retrieval over long user histories: build time, memory and query latency by history size.

On random unit vectors (dim 384 like MiniLM, seeded), for histories of 100 .. 100,000 items:
  flat : exact ``IndexFlatIP`` (what HistoryIndexStore uses up to 10,000 items);
  auto : the store's choice (:func:`choose_kind`): HNSW (M=32, efConstruction=64, efSearch=64)
         above 10,000 items, else the same flat index.
Latency is one query at a time (batch 1, k=4), median and p95 over ``--queries`` queries
(``--queries-large`` above 10,000 items), with ``--query-threads`` FAISS threads (default 1; the
flat p50 with all threads is shown too: on a busy machine, OpenMP on a single query hurts).

Recall@4 of HNSW against exact search at the largest size, at a few efSearch values, on two data
sets: the uniform random vectors (the worst case for any graph index: every point is about
equally far from every other) and "low-rank" vectors (a rank-32 signal in 384 dims plus 8% noise,
with top-1 cosines around 0.6 — closer to what sentence encoders produce); queries come from the
same distribution as the items.

The design alternative to one index per user: ONE shared index with ``--users`` users' items,
searched with a per-user ``IDSelector`` (``SearchParameters(sel=...)``), at equal per-user history
sizes (items interleaved between users, as when everybody's new items are appended to one index;
plus the best case of contiguous per-user id ranges).

    python benchmarks/retrieval_latency.py [--queries 200] [--no-low-rank] [--out results.json]

Vectors are generated, never encoded: this measures the index, not the encoder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np

from personalize.retrieval.base import texts_digest
from personalize.retrieval.index import UserIndex, choose_kind

K = 4
CHUNK = 4096
LOW_RANK = 32
LOW_RANK_NOISE = 0.3  # per-dimension std of the isotropic noise; the signal has variance 1


def random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def low_rank_unit(rng: np.random.Generator, basis: np.ndarray, n: int) -> np.ndarray:
    out = np.empty((n, basis.shape[1]), dtype=np.float32)
    for lo in range(0, n, 16_384):
        m = min(16_384, n - lo)
        x = rng.standard_normal((m, basis.shape[0]), dtype=np.float32) @ basis
        x += LOW_RANK_NOISE * rng.standard_normal(x.shape, dtype=np.float32)
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


@contextlib.contextmanager
def omp_threads(n: int) -> Iterator[None]:
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n if n > 0 else before)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build(vectors: np.ndarray, kind: str) -> tuple[UserIndex, float]:
    """The index as HistoryIndexStore builds it (added by chunks), and the seconds it took."""
    start = time.perf_counter()
    index = UserIndex(vectors.shape[1], kind)  # type: ignore[arg-type]
    for lo in range(0, len(vectors), CHUNK):
        index.add(vectors[lo : lo + CHUNK])
    return index, time.perf_counter() - start


def timed(search: Callable[[int, np.ndarray], np.ndarray], queries: np.ndarray, users: np.ndarray | None = None) -> dict:
    """``search(user, q [1, d]) -> ids`` once per query after 3 warm-ups: latency in ms, and ids."""
    users = np.zeros(len(queries), dtype=np.int64) if users is None else users
    for u, q in zip(users[:3], queries[:3]):
        search(int(u), q[None])
    times, found = [], []
    for u, q in zip(users, queries):
        start = time.perf_counter()
        found.append(search(int(u), q[None]))
        times.append((time.perf_counter() - start) * 1e3)
    arr = np.asarray(times)
    return {"p50_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95)), "queries": len(arr), "_ids": found}


def load_ms(index: UserIndex) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        index.save(path)
        start = time.perf_counter()
        UserIndex.load(path)
        return (time.perf_counter() - start) * 1e3


def recall(found: list[np.ndarray] | np.ndarray, exact: np.ndarray) -> float:
    hits = [len(set(np.asarray(f)[np.asarray(f) >= 0].tolist()) & set(e.tolist())) / len(e) for f, e in zip(found, exact)]
    return float(np.mean(hits))


def strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000, 100_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--queries-large", type=int, default=100, help="queries for sizes above 10,000")
    parser.add_argument("--recall-queries", type=int, default=50)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, 128, 256], help="efSearch values for recall")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads for builds (0: its default)")
    parser.add_argument("--query-threads", type=int, default=1, help="FAISS threads for timed queries")
    parser.add_argument("--no-low-rank", action="store_true", help="skip the low-rank data set (one HNSW build)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    all_threads = faiss.omp_get_max_threads()
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()
    results: dict = {
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "k": K},
        "env": {"faiss": faiss.__version__, "build_threads": all_threads, "cpu": platform.processor() or platform.machine()},
        "sizes": [], "recall": [], "shared_vs_per_user": {},
    }  # fmt: skip
    largest = max(args.sizes)
    n_users, per_user = args.users, args.per_user
    total = n_users * per_user
    pool = random_unit(rng, max(largest, total), args.dim)
    queries = random_unit(rng, max(args.queries, args.queries_large, args.recall_queries), args.dim)
    built: dict[tuple[int, str], tuple[UserIndex, float]] = {}

    def search_fn(index: UserIndex) -> Callable[[int, np.ndarray], np.ndarray]:
        return lambda u, q: index.search(q, K)[1][0]

    # ----------------------------------------------------------------- per size: flat vs auto
    for n in sorted(args.sizes):
        nq = args.queries if n <= 10_000 else args.queries_large
        row: dict = {"n_items": n, "auto_kind": choose_kind(n)}
        for label, kind in (("flat", "flat"), ("auto", choose_kind(n))):
            if label == "auto" and kind == "flat":
                continue
            index, build_s = build(pool[:n], kind)
            built[(n, kind)] = (index, build_s)
            with omp_threads(args.query_threads):
                lat = strip(timed(search_fn(index), queries[:nq]))
            row[label] = {"kind": kind, "build_s": build_s, "memory_bytes": index.memory_bytes(), "load_ms": load_ms(index), **lat}
            if kind == "flat":
                with omp_threads(all_threads):
                    row[label]["p50_ms_all_threads"] = timed(search_fn(index), queries[:nq])["p50_ms"]
        row.setdefault("auto", row["flat"])
        # the store checks a history by hashing its texts on every index_for: its cost at this size
        texts = [f"history item {i}: a short review or post of about sixty characters" for i in range(n)]
        start = time.perf_counter()
        texts_digest(texts)
        row["history_digest_ms"] = (time.perf_counter() - start) * 1e3
        results["sizes"].append(row)
        if n not in (largest, total):  # keep only what the later sections reuse
            built.pop((n, "flat"), None)
            built.pop((n, "hnsw"), None)

    # ---------------------------------------------------------------- recall of HNSW at the top
    nr = args.recall_queries
    low_rank: dict = {}
    if choose_kind(largest) == "hnsw":
        data_sets = {"random": (pool[:largest], queries[:nr], built[(largest, "flat")][0], built[(largest, "hnsw")][0])}
        if not args.no_low_rank:
            basis = rng.standard_normal((LOW_RANK, args.dim), dtype=np.float32) / np.sqrt(LOW_RANK)
            vecs = low_rank_unit(rng, basis, largest)
            hnsw, secs = build(vecs, "hnsw")
            low_rank = {"vectors": vecs, "hnsw": hnsw, "build_s": secs, "queries": low_rank_unit(rng, basis, args.queries)}
            flat_lr = build(vecs, "flat")[0]
            data_sets["low-rank"] = (vecs, low_rank["queries"][:nr], flat_lr, hnsw)
        for name, (_vecs, qs, flat, hnsw) in data_sets.items():
            exact_scores, exact = flat.search(qs, K)
            for ef in args.ef:
                hnsw.ef_search = ef
                with omp_threads(args.query_threads):
                    t = timed(search_fn(hnsw), qs)
                results["recall"].append({
                    "n_items": largest, "data": name, "ef_search": ef, f"recall@{K}": recall(t["_ids"], exact),
                    "top1_cosine": float(exact_scores[:, 0].mean()), **strip(t),
                })  # fmt: skip
            hnsw.ef_search = 64
            if name == "low-rank":
                results["recall"][-1]["build_s"] = low_rank["build_s"]
        del data_sets

    # ----------------------------------------------------- shared index + IDSelector vs per user
    owner = np.arange(total) % n_users  # interleaved: user u owns ids u, u + U, u + 2U, ...
    user_ids = [np.flatnonzero(owner == u).astype(np.int64) for u in range(n_users)]
    q_users = rng.integers(0, n_users, args.queries)
    qs = queries[: args.queries]
    vecs = pool[:total]

    def exact_for(data: np.ndarray, ids_of: list[np.ndarray], queries_: np.ndarray) -> np.ndarray:
        return np.stack([ids_of[u][np.argsort(-(data[ids_of[u]] @ q), kind="stable")[:K]] for u, q in zip(q_users, queries_)])

    def design(search, exact: np.ndarray, build_s: float, memory: int, queries_: np.ndarray = qs) -> dict:
        with omp_threads(args.query_threads):
            t = timed(search, queries_, q_users)
        return {"build_s": build_s, "memory_bytes": memory, f"recall@{K}_vs_exact": recall(t["_ids"], exact), **strip(t)}

    exact = exact_for(vecs, user_ids, qs)
    designs: dict = {}
    per_user_indexes, per_user_build = [], 0.0
    for u in range(n_users):
        index, secs = build(vecs[user_ids[u]], choose_kind(per_user))
        per_user_indexes.append(index)
        per_user_build += secs
    designs[f"per-user {choose_kind(per_user)} (chosen)"] = design(
        lambda u, q: user_ids[u][per_user_indexes[u].search(q, K)[1][0]],
        exact, per_user_build, sum(ix.memory_bytes() for ix in per_user_indexes),
    )  # fmt: skip
    per_user_indexes.clear()  # the design is measured; free the indexes

    shared_flat, shared_flat_s = built.get((total, "flat")) or build(vecs, "flat")
    batch_params = [faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids)) for ids in user_ids]
    designs["shared flat + IDSelectorBatch"] = design(
        lambda u, q: shared_flat.index.search(q, K, params=batch_params[u])[1][0],
        exact, shared_flat_s, shared_flat.memory_bytes(),
    )  # fmt: skip
    contiguous = [np.arange(u * per_user, (u + 1) * per_user) for u in range(n_users)]
    range_params = [faiss.SearchParameters(sel=faiss.IDSelectorRange(int(i[0]), int(i[-1]) + 1)) for i in contiguous]
    designs["shared flat + IDSelectorRange (contiguous ids, best case)"] = design(
        lambda u, q: shared_flat.index.search(q, K, params=range_params[u])[1][0],
        exact_for(vecs, contiguous, qs), shared_flat_s, shared_flat.memory_bytes(),
    )  # fmt: skip
    hnsw_sel = [faiss.IDSelectorBatch(ids) for ids in user_ids]
    hnsw_params = [faiss.SearchParametersHNSW(sel=s, efSearch=64) for s in hnsw_sel]
    if (total, "hnsw") in built:
        shared_hnsw, shared_hnsw_s = built[(total, "hnsw")]
        designs["shared HNSW + IDSelectorBatch (random data)"] = design(
            lambda u, q: shared_hnsw.index.search(q, K, params=hnsw_params[u])[1][0],
            exact, shared_hnsw_s, shared_hnsw.memory_bytes(),
        )  # fmt: skip
    if low_rank and len(low_rank["vectors"]) == total:
        lr_hnsw, lr_qs = low_rank["hnsw"], low_rank["queries"][: args.queries]
        designs["shared HNSW + IDSelectorBatch (low-rank data)"] = design(
            lambda u, q: lr_hnsw.index.search(q, K, params=hnsw_params[u])[1][0],
            exact_for(low_rank["vectors"], user_ids, lr_qs), low_rank["build_s"], lr_hnsw.memory_bytes(), lr_qs,
        )  # fmt: skip
    results["shared_vs_per_user"] = {"users": n_users, "items_per_user": per_user, "designs": designs}
    results["total_s"] = time.perf_counter() - t_start

    # ------------------------------------------------------------------------------------ print
    mb = 1 / 2**20
    print(f"faiss {faiss.__version__}, dim {args.dim}, k={K}, batch-1 queries timed with {args.query_threads} "
          f"FAISS thread(s), builds with {all_threads}; random unit vectors (seed {args.seed})\n")  # fmt: skip
    print(f"| items | index | build s | memory MB | load ms | p50 ms | p95 ms | p50 ms ({all_threads} thr) | queries | digest ms |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results["sizes"]:
        for label in ("flat", "auto"):
            r = row[label]
            if label == "auto" and r is row["flat"]:
                continue
            name = r["kind"] if label == "flat" else f"auto: {r['kind']}"
            all_thr = f"{r['p50_ms_all_threads']:.3f}" if "p50_ms_all_threads" in r else "-"
            print(f"| {row['n_items']:,} | {name} | {r['build_s']:.3f} | {r['memory_bytes'] * mb:.2f} | "
                  f"{r['load_ms']:.1f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {all_thr} | {r['queries']} | "
                  f"{row['history_digest_ms']:.1f} |")  # fmt: skip
    print("\n(auto = flat up to 10,000 items; digest = SHA-256 of the history texts, done on every index_for)")
    if results["recall"]:
        print(f"\n| HNSW, {largest:,} items | efSearch | recall@{K} vs flat | mean top-1 cosine | p50 ms | p95 ms | queries |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results["recall"]:
            print(f"| {r['data']} data | {r['ef_search']} | {r[f'recall@{K}']:.3f} | {r['top1_cosine']:.2f} | "
                  f"{r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['queries']} |")  # fmt: skip
        if low_rank:
            print(f"\n(low-rank HNSW build: {low_rank['build_s']:.1f} s)")
    print(f"\n{n_users} users x {per_user:,} items ({total:,} vectors), each query to a random user "
          "(memory: the index; a selector adds the user's id set):\n")  # fmt: skip
    print(f"| design | build s | memory MB | p50 ms | p95 ms | recall@{K} vs exact per-user |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in designs.items():
        print(f"| {name} | {r['build_s']:.2f} | {r['memory_bytes'] * mb:.1f} | {r['p50_ms']:.3f} | "
              f"{r['p95_ms']:.3f} | {r[f'recall@{K}_vs_exact']:.3f} |")  # fmt: skip
    print(f"\ntotal {results['total_s']:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
