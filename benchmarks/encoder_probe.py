"""Can an encoder see a user's style? A linear probe on held-out synthetic users.

For each encoder, every user's vector is the mean of its history items' embeddings (what E2P
reads); a logistic regression is fitted on the training users' vectors to predict each style
attribute, and scored on the held-out test users (``split_by=user``: their style combinations are
new, each single attribute value occurs in training). An attribute the probe cannot predict is
one that an E2P adapter on that encoder cannot be expected to carry either.

    python benchmarks/encoder_probe.py --n-users 160 minilm-l6 char-ngrams llm:smollm2-135m
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from personalize.data.loading import load_dataset
from personalize.data.synthetic import parse_style
from personalize.data.tasks import STYLE_ATTRIBUTES
from personalize.models import load_encoder


def user_style(items: list[dict]) -> dict[str, str | None]:
    """A user's style, read back from their history: per attribute the value most items show.

    Not from the first item alone: an item without a word that has two spellings shows no
    spelling (a quarter of the users' first items), which would label the user "None"."""
    style = {}
    for attribute in STYLE_ATTRIBUTES:
        shown = Counter(value for item in items if (value := parse_style(item["text"])[attribute]) is not None)
        style[attribute] = shown.most_common(1)[0][0] if shown else None
    return style


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoders", nargs="+")
    parser.add_argument("--n-users", type=int, default=160)
    parser.add_argument("--items-per-user", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    source = (f"synthetic-style:seed={args.seed},n_users={args.n_users},items_per_user={args.items_per_user},"
              "examples_per_user=4,split_by=user")
    train, test = load_dataset(source, "train"), load_dataset(source, "test")
    print(f"{source}: {len(train.profiles)} training users, {len(test.profiles)} held-out test users")
    print("| encoder | " + " | ".join(STYLE_ATTRIBUTES) + " | majority class (mean) | seconds |")
    print("|---|" + "---|" * (len(STYLE_ATTRIBUTES) + 2))
    for name in args.encoders:
        start = time.perf_counter()
        encoder = load_encoder(name)

        def user_vectors(dataset, encoder=encoder):
            return np.stack([encoder.encode([item["text"] for item in p.items]).mean(0) for p in dataset.profiles.values()])

        x_train, x_test = user_vectors(train), user_vectors(test)
        styles = {split: [user_style(p.items) for p in d.profiles.values()]
                  for split, d in (("train", train), ("test", test))}
        scores, majority = [], []
        for attribute in STYLE_ATTRIBUTES:
            y_train = [str(s[attribute]) for s in styles["train"]]
            y_test = np.array([str(s[attribute]) for s in styles["test"]])
            probe = LogisticRegression(C=10.0, max_iter=5000).fit(x_train, y_train)
            scores.append(float(np.mean(probe.predict(x_test) == y_test)))
            common = max(set(y_train), key=y_train.count)
            majority.append(float(np.mean(y_test == common)))
        print(f"| {name} | " + " | ".join(f"{s:.2f}" for s in scores)
              + f" | {np.mean(majority):.2f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
