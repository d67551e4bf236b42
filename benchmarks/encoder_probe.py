"""Can an encoder see a user's style? A linear probe on held-out synthetic users.

For each encoder, every user's vector is the mean of its history items' embeddings (what E2P
reads); a logistic regression is fitted on the training users' vectors to predict each style
attribute, and scored on the held-out test users (``split_by=user``: their style combinations are
new, each single attribute value occurs in training). An attribute the probe cannot predict is
one that an E2P adapter on that encoder cannot be expected to carry either.

    python benchmarks/encoder_probe.py --n-users 160 minilm-l6 char-ngrams llm:smollm2-135m

``--reading centroid`` asks how *strong* each attribute is rather than whether it is there: the
vectors are standardised over the training users (E2P's ``input_norm: standardize``; with
``--whiten K`` whitened onto K components by E2P's own layer, ``input_norm: whiten``) and each
held-out user gets the attribute value of the nearest training-class mean. A logistic regression
finds a direction however weak (every attribute reads 1.00 from every encoder here); the nearest
mean reads only what dominates the distance, as an MLP's first steps see it. Two more columns
ask the questions that the spelling runs turned on: the spelling of upper-case users (fitted
and scored on upper-case users) and as-is against lower case (on the users of those two cases).

    python benchmarks/encoder_probe.py --n-users 480 --reading centroid char-ngrams char-ngrams-folded@4096
    python benchmarks/encoder_probe.py --n-users 480 --reading centroid char-ngrams --whiten 64 128
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
    parser.add_argument("--reading", choices=["probe", "centroid"], default="probe")
    parser.add_argument("--whiten", type=int, nargs="*", default=[], help="centroid reading: also whitened to K components")
    args = parser.parse_args()

    source = (f"synthetic-style:seed={args.seed},n_users={args.n_users},items_per_user={args.items_per_user},"
              "examples_per_user=4,split_by=user")
    train, test = load_dataset(source, "train"), load_dataset(source, "test")
    print(f"{source}: {len(train.profiles)} training users, {len(test.profiles)} held-out test users")
    print(f"reading: {args.reading}")
    print("| encoder | " + " | ".join(STYLE_ATTRIBUTES) + " | spelling, upper-case users | case, as-is vs lower "
          "| majority class (mean) | seconds |")
    print("|---|" + "---|" * (len(STYLE_ATTRIBUTES) + 4))
    styles = {split: [user_style(p.items) for p in d.profiles.values()]
              for split, d in (("train", train), ("test", test))}
    majority = []  # the held-out users' share of each attribute's most common training value
    for attribute in STYLE_ATTRIBUTES:
        y_train = [str(s[attribute]) for s in styles["train"]]
        common = max(set(y_train), key=y_train.count)
        majority.append(float(np.mean([str(s[attribute]) == common for s in styles["test"]])))
    for name in args.encoders:
        start = time.perf_counter()
        encoder = load_encoder(name)

        def user_vectors(dataset, encoder=encoder):
            return np.stack([encoder.encode([item["text"] for item in p.items]).mean(0) for p in dataset.profiles.values()])

        x_train, x_test = user_vectors(train), user_vectors(test)
        variants = [(name, None)] + [(f"{name}, whitened to {k}", k) for k in args.whiten]
        for label, components in variants:
            inputs = readable(x_train, x_test, args.reading, components)
            scores = [read(*inputs, styles, attribute, args.reading) for attribute in STYLE_ATTRIBUTES]
            scores.append(read(*inputs, styles, "spelling", args.reading, lambda s: s["case"] == "upper"))
            scores.append(read(*inputs, styles, "case", args.reading, lambda s: s["case"] != "upper"))
            print(f"| {label} | " + " | ".join(f"{s:.2f}" for s in scores)
                  + f" | {np.mean(majority):.2f} | {time.perf_counter() - start:.0f} |", flush=True)


def readable(x_train: np.ndarray, x_test: np.ndarray, reading: str, components: int | None):
    """The vectors as the reading sees them: as they are for the probe; standardised over the
    training users (or whitened by E2P's layer) for the centroid reading."""
    if reading == "probe":
        return x_train, x_test
    if components:
        import torch

        from personalize.methods.soft.layers import Whiten

        layer = Whiten(x_train.shape[1], components)
        layer.fit(torch.from_numpy(x_train))
        return (layer(torch.from_numpy(x_train)).numpy(), layer(torch.from_numpy(x_test)).numpy())
    mean, spread = x_train.mean(0), x_train.std(0) + 1e-6
    return (x_train - mean) / spread, (x_test - mean) / spread


def read(x_train, x_test, styles, attribute: str, reading: str, keep=lambda style: True) -> float:
    """Accuracy on the kept held-out users of ``attribute`` read from the kept training users."""
    from sklearn.linear_model import LogisticRegression

    rows = {split: [i for i, s in enumerate(styles[split]) if keep(s)] for split in ("train", "test")}
    y_train = np.array([str(styles["train"][i][attribute]) for i in rows["train"]])
    y_test = np.array([str(styles["test"][i][attribute]) for i in rows["test"]])
    a, b = x_train[rows["train"]], x_test[rows["test"]]
    if reading == "probe":
        return float(np.mean(LogisticRegression(C=10.0, max_iter=5000).fit(a, y_train).predict(b) == y_test))
    classes = sorted(set(y_train))
    means = np.stack([a[y_train == c].mean(0) for c in classes])
    nearest = ((b[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    return float(np.mean(np.array(classes)[nearest] == y_test))


if __name__ == "__main__":
    main()
