"""How far above the bias baseline can a model fitted on a record's inputs go? MovieLens, `users`.

Every LLM row on the `users` protocol reads one record: the target movie (title, year, genres)
and the user's 10 earlier ratings, plus, with ``item_stats=1,user_stats=1``, the numbers the
``bias`` baseline computes with. This script fits ordinary models on features of exactly that
(nothing a record does not show), on the same training records, and scores them on the same
1,890 test records of 189 held-out users, beside ``bias``:

- ``stats``: the three numbers of the two lines (the user's like rate, the other viewers' like
  rate of the history's movies, the target movie's like rate), logistic regression;
- ``bias parts``: ``mu + b_item`` and ``b_user`` of the damped bias model, logistic regression;
- ``all``: those, the movie's rating count, year and genres, and the user's like rate among
  history movies that share a genre with the target; logistic regression and gradient boosting.

Movie statistics come from all training records (as the ``item_stats`` line's do, whatever
``shots`` keeps); a training record's, from the training users of the other folds (5, by user),
so that no model is fitted on features that contain its answer, and a training record's
features are made as a held-out user's are. The AUC of the best of these is an
estimate of what reading the record can give at this training size; the gap to ``bias`` is the
room an LLM row has above it.

    python benchmarks/movielens_ceiling.py [--data ../shared/data/movielens-100k] [--shots 4000 all]
    python benchmarks/movielens_ceiling.py --protocol tallrec --shots 256 all   # TALLRec's test split
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from personalize.data.loading import load_dataset
from personalize.data.movielens.tasks import read_cached
from personalize.evaluation.gains import auc_gain
from personalize.methods.reference.recommenders import TrainStats
from personalize.metrics import roc_auc, user_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/movielens-100k")
    parser.add_argument("--shots", nargs="+", default=["4000", "all"])
    parser.add_argument("--damping", type=float, default=5.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--protocol", choices=["users", "tallrec"], default="users")
    args = parser.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    movies = read_cached(args.data).movies
    genres = sorted({g for m in movies.values() for g in m.genres})
    test = load_dataset(f"{args.data}:protocol={args.protocol}", "test")
    y_test = np.array([e.output == "Yes" for e in test.examples])
    owners = [e.owner for e in test.examples]
    print(f"{args.data}:protocol={args.protocol}: {len(test.examples)} test records of {len(set(owners))} held-out users")
    print("| training records | model | AUC | per-user AUC | − bias (AUC), user-level 95% |")
    print("|---|---|---|---|---|")
    full = load_dataset(f"{args.data}:protocol={args.protocol}", "train")
    y_full = np.array([e.output == "Yes" for e in full.examples], dtype=float)
    # out of fold: a training record's statistics come from the other folds, by user on `users`
    # (a test user's come from training users only), by record on `tallrec` (whose test users
    # are in training too); leave-one-out target encoding would leak: within a movie, a higher own
    # answer means a lower left-out rate, which a fitted model learns to invert
    keys = [e.person if args.protocol == "users" else e.id for e in full.examples]
    unique = sorted(set(keys))
    fold_of = dict(zip(unique, np.random.default_rng(0).permutation(len(unique)) % args.folds))
    folds = np.array([fold_of[k] for k in keys])
    x_full = np.zeros((len(full.examples), 9 + len(genres)))
    for k in range(args.folds):
        rest = [e for e, f in zip(full.examples, folds) if f != k]
        stats = training_stats(rest, y_full[folds != k])
        x_full[folds == k] = features(full, stats, args.damping, movies, genres, np.flatnonzero(folds == k))[0]
    stats = training_stats(full.examples, y_full)
    x_test, bias_test = features(test, stats, args.damping, movies, genres, np.arange(len(test.examples)))
    row_of = {e.id: r for r, e in enumerate(full.examples)}
    for shots in args.shots:
        source = f"{args.data}:protocol={args.protocol}" + ("" if shots == "all" else f",shots={shots}")
        rows = [row_of[e.id] for e in load_dataset(source, "train").examples]
        x_train, y_train = x_full[rows], y_full[rows]
        models = {
            "bias (damped user + item biases, no fitting)": None,
            "stats: the two lines' three numbers, logistic": (
                [0, 1, 2], make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
            "bias parts: mu + b_item, b_user, logistic": (
                [3, 4], make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
            "all features, logistic": (
                slice(None), make_pipeline(StandardScaler(), LogisticRegression(max_iter=4000))),
            "all features, gradient boosting": (
                slice(None), HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)),
        }
        for name, spec in models.items():
            if spec is None:
                p, gap = bias_test, "–"
            else:
                columns, model = spec
                p = model.fit(x_train[:, columns], y_train).predict_proba(x_test[:, columns])[:, 1]
                g = auc_gain(y_test, p, [bias_test], owners)
                gap = f"{g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
            print(f"| {len(rows):,} | {name} | {roc_auc(y_test, p):.3f} | {user_auc(y_test, p, owners):.3f} "
                  f"| {gap} |", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


def training_stats(examples: list, y: np.ndarray) -> TrainStats:
    """Per movie, the likes of the training records given (the recommender baselines' statistics)."""
    return TrainStats.collect([(e.owner, e.item, float(v)) for e, v in zip(examples, y)])


def features(dataset, stats: TrainStats, damping: float, movies: dict, genres: list[str], records: np.ndarray):
    """``[len(records), F]`` features of ``dataset.examples[records]`` and their bias estimates."""
    rows, bias = [], []
    for r in records:
        example = dataset.examples[r]
        total, n = stats.sums.get(example.item, 0.0), stats.counts.get(example.item, 0)
        b_item = stats.item_bias(example.item, damping)
        history = dataset.profiles[example.user_id].items
        liked = np.array([h["liked"] == "Yes" for h in history], dtype=float)
        own_rate = liked.mean() if len(liked) else stats.mu
        others = [stats.sums[h["id"]] / stats.counts[h["id"]] for h in history if stats.counts.get(h["id"])]
        residuals = [v - stats.mu - stats.item_bias(h["id"], damping) for h, v in zip(history, liked)]
        b_user = sum(residuals) / (len(residuals) + damping)
        movie = movies[int(example.item)]
        shared = [v for h, v in zip(history, liked) if set(h["genres"].split(", ")) & set(movie.genres)]
        year = float(movie.year) if str(movie.year).isdigit() else 1990.0
        rows.append([own_rate, np.mean(others) if others else stats.mu, total / n if n > 0 else stats.mu,
                     stats.mu + b_item, b_user, np.log1p(n), year, np.mean(shared) if shared else own_rate,
                     len(shared)] + [float(g in movie.genres) for g in genres])
        bias.append(stats.mu + b_item + b_user)
    return np.array(rows), np.array(bias)


if __name__ == "__main__":
    main()
