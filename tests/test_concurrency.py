"""Two processes sharing ``PERSONALIZE_HOME`` at once: the embedding cache, the per-user FAISS
indexes and a converted model all come out as one process alone makes them (issue 15, part 6).

The worker is a script run twice in parallel (released together by a "go" file) and once
alone in another home. It uses a deterministic toy encoder (no weights) and a fake bundled
model whose conversion only writes files (slowly), so the whole test takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

WORKER = textwrap.dedent('''
    import hashlib, json, os, shutil, sys, time
    from pathlib import Path

    import numpy as np

    go, out, which = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    home = Path(os.environ["PERSONALIZE_HOME"])

    class Toy:
        """Deterministic unit vectors [n, 16] from each text's SHA-256."""
        dim = 16

        def encode(self, texts, batch_size=64, show_progress=False):
            rows = []
            for t in texts:
                seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
                v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
                rows.append(v / np.linalg.norm(v))
            return np.stack(rows)

    import personalize.models.llm as llm
    from personalize.encoding import EmbeddingCache
    from personalize.retrieval.index import HistoryIndexStore

    gguf = home / "toy.gguf"  # written by the test before the workers start
    llm.BASE_MODELS.register("toy-model", llm.BundledModelSpec("toy-model", "toy", lambda: gguf, "-"))

    def slow_conversion(gguf, target, fingerprint):
        with open(home / "conversions.log", "a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(0.5)
        tmp = target.parent / f".{target.name}-{os.getpid()}"
        tmp.mkdir(parents=True)
        (tmp / "model.safetensors").write_text("weights")
        (tmp / "personalize_source.json").write_text(json.dumps(fingerprint, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)

    llm._convert_gguf = slow_conversion

    deadline = time.monotonic() + 600
    while not go.exists():  # never outlive a test that gave up (its folder removed) or never said go
        if time.monotonic() > deadline or not go.parent.exists():
            sys.exit("no go signal")
        time.sleep(0.005)

    model_dir, converted = llm.bundled_model_dir("toy-model")

    cache = EmbeddingCache("toy", Toy, flush_every=1_000_000)
    texts = [f"text {i}" for i in range(240)]
    for lo in range(0, len(texts), 8):  # a shard of 8 per flush: equal lengths, written at the same moments
        cache.encode((texts if which == 0 else texts[::-1])[lo : lo + 8])
        cache.flush()

    store = HistoryIndexStore(cache, max_loaded=0)  # every call goes to disk
    results = {}
    for round_ in range(2):
        for u in range(12):
            history = [f"user {u} item {j}" for j in range(4 + u)]
            results[f"u{u}"] = store.search(f"user-{u}", history, f"query {u}", 3)
    out.write_text(json.dumps({"model_dir": str(model_dir), "converted": converted, "search": results,
                               "encoded": cache.encoded}))
''')


def _run(script: Path, homes: list[Path], tmp: Path) -> list[dict]:
    go = tmp / f"go-{len(list(tmp.glob('go-*')))}"
    procs, outs = [], []
    for which, home in enumerate(homes):
        home.mkdir(exist_ok=True)
        (home / "toy.gguf").write_text("not a real model")
        out = tmp / f"out-{home.name}-{which}.json"
        env = {**os.environ, "PERSONALIZE_HOME": str(home), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(script), str(go), str(out), str(which)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs.append(out)
    time.sleep(0.2)
    go.touch()
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise AssertionError("a worker hung: " + "; ".join((p.communicate()[1] or "")[-1000:] for p in procs)) from None
        assert proc.returncode == 0, err[-2000:]
    return [json.loads(out.read_text()) for out in outs]


def test_two_processes_sharing_the_home_get_what_one_alone_gets(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    first, second = _run(script, [shared, shared], tmp_path)
    (reference,) = _run(script, [alone], tmp_path)

    # the converted model: converted once, the other process waited and used that copy
    assert len((shared / "conversions.log").read_text().split()) == 1
    assert sorted([first["converted"], second["converted"]]) == [False, True]
    assert first["model_dir"] == second["model_dir"] == str(shared / "models" / "toy-model")

    # the FAISS indexes: every search as in the process alone
    assert first["search"] == second["search"] == reference["search"]

    # the embedding cache: every shard's keys belong to its own vectors
    from personalize.encoding import EmbeddingCache

    def refuse():
        raise AssertionError("a text missing from the cache")

    merged = EmbeddingCache("toy", refuse, root=shared / "embeddings" / "toy")
    own = EmbeddingCache("toy", refuse, root=alone / "embeddings" / "toy")
    texts = [f"text {i}" for i in range(240)]
    assert np.array_equal(merged.encode(texts), own.encode(texts))
    history = [f"user 11 item {j}" for j in range(15)]
    assert np.array_equal(merged.encode(history), own.encode(history))
    # no process overwrote another's shard: every text either process encoded is in a shard on
    # disk. (How many each wrote depends on timing: the one that waited for the conversion may
    # start after the other has cached every text, and then encodes nothing.)
    keys_on_disk = sum(len(json.loads(f.read_text())) for f in (shared / "embeddings" / "toy").glob("shard-*.keys.json"))
    assert first["encoded"] + second["encoded"] == keys_on_disk >= 240


def test_feature_memo_is_keyed_on_the_history_not_the_user_id() -> None:
    from personalize.data.schema import UserProfile
    from personalize.data.tasks import get_task
    from personalize.methods.soft.features import MeanVector

    class Counting:
        dim = 4

        def encode(self, texts, show_progress=False):
            return np.stack([np.full(4, float(len(t)), np.float32) for t in texts])

    task = get_task("LaMP-7")
    builder = MeanVector(task, Counting(), max_items=None)
    a = UserProfile("u1", ({"id": "1", "text": "short"},))
    b = UserProfile("u1", ({"id": "1", "text": "a longer text"},))  # same id, same length, other content
    va, vb = builder([a]).vector, builder([b]).vector
    assert float(va[0, 0]) == len("short") and float(vb[0, 0]) == len("a longer text")
