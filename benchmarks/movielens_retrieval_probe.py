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
The encoder is the bundled MiniLM.

With ``--linear N`` it also asks whether the *embeddings* of each set carry what their like rate
does, as rag-prefix's and E2P's adapters read them: each set's item embeddings standardised per
dimension over the training records' sets (as ``input_norm: standardize``), mean-pooled (PERSOMA's
MLP pools after a per-item MLP; a linear readout of the mean is the linear case of both), and a
logistic regression (scikit-learn, default L2, nothing tuned) fitted on N seeded training records
of the same protocol, scored by test AUC, with each record's own history and with another user's
(the evaluation's ``--shuffle-profiles`` derangement): what the pooled embeddings say of the
*user* is the difference, the rest is what they say of the target movie (retrieved items resemble
it).

    python benchmarks/movielens_retrieval_probe.py [--data ../shared/data/movielens-100k] [--k 8] [--linear 4000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from personalize.data.ablation import shuffle_profiles
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


def item_sets(retriever: object, dataset: object, example: object, k: int) -> dict[str, list[int]]:
    """The indices of each compared set of ``example``'s history (oldest first)."""
    profile = dataset.profile(example)
    n = len(profile.items)
    return {
        # the query rag-prefix and the text method retrieve with (training and evaluation alike)
        "retrieved": retriever.retrieve(dataset.task.query_text(example.input), profile, k, dataset.task),
        f"last {k}": list(range(max(0, n - k), n)),
        "all": list(range(n)),
    }


def set_embeddings(retriever: object, embedder: MemoEncoder, dataset: object, k: int) -> dict[str, list[np.ndarray]]:
    """Each set's item embeddings, per record: ``{set: [[items, dim], ...]}`` (one per record)."""
    texts = {}
    for example in dataset.examples:
        profile = dataset.profile(example)
        all_texts = item_texts(profile, dataset.task)
        for name, order in item_sets(retriever, dataset, example, k).items():
            texts.setdefault(name, []).append([all_texts[i] for i in order])
    return {name: [embedder.encode(t) for t in per_record] for name, per_record in texts.items()}


def standardised_pool(train: list[np.ndarray]) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Per record, the mean of its set's item embeddings standardised per dimension over the
    training sets' items: ``[[items, dim], ...] -> [records, dim]``."""
    stacked = np.concatenate(train)
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-6
    return lambda sets: np.stack([((rows - mean) / scale).mean(0) for rows in sets])


def fit_probe(pooled: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A logistic regression fitted on pooled item embeddings ``[records, dim]``; returns P(liked) per row."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000).fit(pooled, y)
    return lambda x: model.predict_proba(x)[:, 1]


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of the rows of ``a`` and ``b`` (``[records, dim]`` each), row by row."""
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/movielens-100k")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--linear", type=int, default=0, metavar="N",
                        help="also fit a linear probe on each set's pooled embeddings, on N training records")
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
        for name, order in item_sets(retriever, dataset, example, args.k).items():
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
    if args.linear:
        train = load_dataset(f"{source},shots={args.linear}", "train", "movielens-like")
        y_train = np.array([e.output == "Yes" for e in train.examples])
        train_sets = set_embeddings(retriever, embedder, train, args.k)
        test_sets = set_embeddings(retriever, embedder, dataset, args.k)
        other_sets = set_embeddings(retriever, embedder, shuffle_profiles(dataset, 0), args.k)
        print(f"\nlinear probe: {len(y_train)} training records; test AUC of a logistic regression on each "
              f"set's standardised mean embedding ({time.perf_counter() - started:.0f} s)")
        print("(cosine: of a record's pooled vector with its own history and with another user's, against two "
              "consecutive test records' (other movies, mostly the same user): how much the vector is the query's)")
        print("| items | test AUC, own history | another user's history | own − other | cosine own / other user, same record "
              "| cosine consecutive records, own |")
        print("|---|---|---|---|---|---|")
        for name in train_sets:
            pool = standardised_pool(train_sets[name])
            mine, theirs = pool(test_sets[name]), pool(other_sets[name])
            probe = fit_probe(pool(train_sets[name]), y_train)  # one fit, scored on both sides
            own, other = roc_auc(labels, probe(mine)), roc_auc(labels, probe(theirs))
            print(f"| {name} | {own:.3f} | {other:.3f} | {own - other:+.3f} | {mean_cosine(mine, theirs):.2f} | "
                  f"{mean_cosine(mine[:-1], mine[1:]):.2f} |")


if __name__ == "__main__":
    main()
