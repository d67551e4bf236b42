"""Where does a soft-token adapter lose the user: before the soft tokens, or after them?

For each trained adapter, the soft tokens it writes for every synthetic-style user (the
adapter alone, no LLM forward: ``[N, hidden]`` per user, flattened) go through the same linear
probe as ``encoder_probe.py``: fitted on the training users, scored on the held-out test users,
one logistic regression per style attribute. Beside it, the probe on what the adapter reads (the
mean item vector), and how much the tokens differ between users (mean pairwise cosine of the
test users' tokens: 1.0 means every user gets the same tokens).

- tokens probe high, generated attribute low: the user reaches the soft tokens and the frozen
  model (or its LoRA) does not read it out yet;
- tokens probe low while the input probe is high: the adapter itself throws the user away.

    python benchmarks/soft_token_probe.py runs/style-recipe/e2p1-lora8/train runs/style-recipe/persoma4-lora8/train
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from encoder_probe import user_style

from personalize.adapter_files import read_adapter_config
from personalize.data.loading import load_dataset
from personalize.data.tasks import STYLE_ATTRIBUTES
from personalize.methods.soft.adapter import make_feature_builder
from personalize.methods.soft.layers import masked_mean
from personalize.modeling import PersonalizedModel
from personalize.models.llm import load_base_model

DEFAULT_DATA = "synthetic-style:seed=0,n_users=480,items_per_user=16,examples_per_user=4,split_by=user"


CASES = ("as-is", "lower", "upper")


def probe(x_train: np.ndarray, x_test: np.ndarray, train_styles: list, test_styles: list) -> list[float]:
    """Held-out accuracy per style attribute, then the spelling's per case of the test user
    (as-is, lower, upper): E2P-1 writes the upper-case users' spelling at chance."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    scores, by_case = [], []
    cases = np.array([str(s["case"]) for s in test_styles])
    for attribute in STYLE_ATTRIBUTES:
        y_train = [str(s[attribute]) for s in train_styles]
        y_test = np.array([str(s[attribute]) for s in test_styles])
        fitted = LogisticRegression(C=1.0, max_iter=5000).fit(x_train, y_train)
        right = fitted.predict(x_test) == y_test
        scores.append(float(np.mean(right)))
        if attribute == "spelling":
            by_case = [float(np.mean(right[cases == case])) for case in CASES]
    return scores + by_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    train, test = load_dataset(args.data, "train"), load_dataset(args.data, "test")
    profiles = {split: list(d.profiles.values()) for split, d in (("train", train), ("test", test))}
    styles = {split: [user_style(p.items) for p in ps] for split, ps in profiles.items()}
    print(f"{args.data}: {len(profiles['train'])} training users, {len(profiles['test'])} held-out test users")
    columns = [*STYLE_ATTRIBUTES, *(f"spelling, {case} users" for case in CASES)]
    print("| adapter | what is probed | " + " | ".join(columns) + " | mean cosine between users |")
    print("|---|---|" + "---:|" * (len(columns) + 1))
    base_cache: dict[str, object] = {}
    for directory in args.adapters:
        saved = read_adapter_config(directory)
        base_name = saved["base_model"]
        if base_name not in base_cache:
            base_cache[base_name] = load_base_model(base_name, dtype="fp32", device="cpu").model
        model = PersonalizedModel.from_pretrained(base_cache[base_name], directory, base_name=base_name).eval()
        features = make_feature_builder(saved["method"], model.config, train.task)
        inputs, tokens = {}, {}
        with torch.no_grad():
            for split, ps in profiles.items():
                feats = features(ps)
                read = feats.vector if feats.vector is not None else masked_mean(feats.items, feats.item_mask)
                inputs[split] = read.float().numpy()
                tokens[split] = model.adapter(feats).float().flatten(1).numpy()
        unit = tokens["test"] / np.linalg.norm(tokens["test"], axis=1, keepdims=True)
        cosine = (unit @ unit.T)[np.triu_indices(len(unit), k=1)].mean()
        for what, x in (("mean item vector (input)", inputs), ("soft tokens (output)", tokens)):
            scores = probe(x["train"], x["test"], styles["train"], styles["test"])
            extra = f"{cosine:.3f}" if what.startswith("soft") else "–"
            print(f"| {directory} | {what} | " + " | ".join(f"{s:.2f}" for s in scores) + f" | {extra} |", flush=True)


if __name__ == "__main__":
    main()
