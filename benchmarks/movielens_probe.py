"""Does a soft method's user vector carry what decides MovieLens' answer? A linear probe.

E2P reads the mean of the history items' embeddings (``Title (year); genres; rated r of 5``).
For each encoder, a logistic regression is fitted on those mean vectors of the training records
(a seeded sample of ``--shots`` of TALLRec's 8,000, as the LLM rows train on, and all of them) to predict
"liked", and scored by AUC on TALLRec's test split, beside the no-training rule that reads the
same 10 items: the share of them the user liked. A probe near the rule says the vector carries the
user's like rate, so an adapter at chance is a training problem, not an encoder problem.

    python benchmarks/movielens_probe.py [--data ../shared/data/movielens-100k] minilm-l6 char-ngrams
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from personalize.data.loading import load_dataset
from personalize.models import load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoders", nargs="+")
    parser.add_argument("--data", default="../shared/data/movielens-100k")
    parser.add_argument("--shots", type=int, nargs="+", default=[256, 8000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    source = f"{args.data}:protocol=tallrec"
    train, test = load_dataset(source, "train"), load_dataset(source, "test")
    y_train = np.array([e.output == "Yes" for e in train.examples])
    y_test = np.array([e.output == "Yes" for e in test.examples])
    like_rate = [np.mean([item["liked"] == "Yes" for item in test.profiles[e.user_id].items]) for e in test.examples]
    print(f"{source}: {len(train.examples)} training records, {len(test.examples)} test records")
    print(f"the like-rate rule (no training): AUC {roc_auc_score(y_test, like_rate):.3f}")
    print("| encoder | " + " | ".join(f"probe, {n} records" for n in args.shots) + " | seconds |")
    print("|---|" + "---:|" * (len(args.shots) + 1))
    for name in args.encoders:
        start = time.perf_counter()
        encoder = load_encoder(name)
        texts = sorted({item["text"] for d in (train, test) for p in d.profiles.values() for item in p.items})
        embedding = dict(zip(texts, encoder.encode(texts), strict=True))

        def user_vectors(dataset, embedding=embedding):
            return np.stack([np.mean([embedding[item["text"]] for item in dataset.profiles[e.user_id].items], axis=0)
                             for e in dataset.examples])

        x_train, x_test = user_vectors(train), user_vectors(test)
        scores = []
        for shots in args.shots:
            # a seeded sample, not the first records: the training file is ordered by user
            rows = np.random.default_rng(args.seed).permutation(len(x_train))[:shots]
            probe = LogisticRegression(C=1.0, max_iter=5000).fit(x_train[rows], y_train[rows])
            scores.append(roc_auc_score(y_test, probe.predict_proba(x_test)[:, 1]))
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in scores) + f" | {time.perf_counter() - start:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
