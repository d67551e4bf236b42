"""What does retrieval by the input pick from a MovieLens user's full history?

rag-prefix and the text method's dense retriever choose the history items most similar to the
current input's query part (``task.query_text``: on `movielens-like` the target's quoted title and,
with `item_stats=1`, the movie's line, without TALLRec's instruction), so the question is whether
the chosen items say more about the target than the last 10 ratings or the whole history do. For every test record of
`history=all`, this compares three sets of the user's earlier ratings:

- ``retrieved``: the ``k`` items the dense retriever (MiniLM, as rag-prefix) ranks first;
- ``last k``: the ``k`` most recent ones;
- ``all``: every earlier rating.

For each set: the share of its items that share a genre with the target, the mean relative
position of its items in the history (0 the oldest, 1 the newest), and the AUC over the test
records of its like rate as a score for the target (the like-rate rule restricted to that set),
with the like rate over the items sharing a genre with the target in the set as a second score.
No model is trained; the encoder is the bundled MiniLM.

    python benchmarks/movielens_retrieval_probe.py [--data ../shared/data/movielens-100k] [--k 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from personalize.data.loading import load_dataset
from personalize.data.movielens.tasks import read_cached
from personalize.metrics import roc_auc
from personalize.models.encoders import load_encoder
from personalize.retrieval import item_texts, make_retriever


class MemoEncoder:
    """The encoder with every text encoded once: each record is its own profile here, so the
    retriever's per-profile cache would encode the same movie lines ~100 times over."""

    def __init__(self, encoder: object) -> None:
        self.encoder, self.name, self.rows = encoder, encoder.name, {}

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.rows})
        if missing:
            self.rows.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self.rows[t] for t in texts]) if texts else np.zeros((0, self.encoder.dim), np.float32)


def like_rate(items: list[dict], fallback: float) -> float:
    return float(np.mean([item["liked"] == "Yes" for item in items])) if items else fallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/movielens-100k")
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    source = f"{args.data}:protocol=users,item_stats=1,history=all"
    dataset = load_dataset(source, "test", "movielens-like")
    movies = read_cached(args.data).movies
    embedder = MemoEncoder(load_encoder("minilm-l6"))
    # every movie line of the test histories at once, in large batches
    embedder.encode(sorted({text for p in dataset.profiles.values() for text in item_texts(p, dataset.task)}))
    retriever = make_retriever("dense", embedder=embedder)
    positive = [e.output == "Yes" for e in dataset.examples]
    rows: dict[str, dict[str, list[float]]] = {
        name: {"genre": [], "position": [], "rate": [], "genre_rate": []} for name in ("retrieved", f"last {args.k}", "all")}
    lengths = []
    for example in dataset.examples:
        profile = dataset.profile(example)
        items = list(profile.items)
        n = len(items)
        lengths.append(n)
        target = set(movies[int(example.item)].genres)
        overall = like_rate(items, 0.5)
        chosen = {
            # the query rag-prefix and the text method retrieve with (training and evaluation alike)
            "retrieved": retriever.retrieve(dataset.task.query_text(example.input), profile, args.k, dataset.task),
            f"last {args.k}": list(range(max(0, n - args.k), n)),
            "all": list(range(n)),
        }
        for name, order in chosen.items():
            picked = [items[i] for i in order]
            same = [item for item in picked if target & set(item["genres"].split(", "))]
            rows[name]["genre"].append(len(same) / max(len(picked), 1))
            rows[name]["position"].append(float(np.mean([i / max(n - 1, 1) for i in order])) if order else 0.5)
            rate = like_rate(picked, overall)
            rows[name]["rate"].append(rate)
            rows[name]["genre_rate"].append(like_rate(same, rate))
    print(f"{len(positive)} test records of `users`, history=all (median {int(np.median(lengths))} earlier ratings, "
          f"min {min(lengths)}, max {max(lengths)}); k = {args.k}; {time.perf_counter() - started:.0f} s")
    print("| items | share sharing a genre with the target | mean relative position | AUC of their like rate | "
          "AUC of the like rate of those sharing a genre |")
    print("|---|---|---|---|---|")
    labels = np.array(positive)
    for name, row in rows.items():
        print(f"| {name} | {np.mean(row['genre']):.3f} | {np.mean(row['position']):.2f} | "
              f"{roc_auc(labels, np.array(row['rate'])):.3f} | {roc_auc(labels, np.array(row['genre_rate'])):.3f} |")


if __name__ == "__main__":
    main()
