"""The table of `benchmarks/movielens_llm.sh`: one row per run on TALLRec's test split.

For each run: AUC and per-user AUC of P("Yes") with each record's own history; for the rows that
read the history, the same with another user's history and own − other AUC; every trained row
minus ``none`` (task adaptation), each soft row minus its same-size control (personalization)
and every row minus the ``bias`` baseline where one was run (the bar the issue sets).
Every interval is a user-level bootstrap 95% (:func:`personalize.evaluation.gains.auc_gain`):
TALLRec's test split holds 1,000 records of only 16 users, so the intervals are wide.

What a row has learnt of the user, beside AUC: the Spearman correlation of its P("Yes") with the
share of liked movies among the record's history movies, the last 10 or all of them with
`history=all` (the like-rate rule, printed below the table). A row that reads the user's taste
from the history tracks it; a row that does not stays near 0 (and so does any row with another
user's history).

    python benchmarks/movielens_table.py runs/ml-llm [--data ../shared/data/movielens-100k:protocol=tallrec]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from personalize.compare.tables import fmt_interval
from personalize.data.loading import load_dataset
from personalize.evaluation.gains import auc_gain
from personalize.metrics import compute_metrics

CONTROLS = {"e2p1": "prompt1", "e2p1-lora8": "prompt1-lora8", "e2p1-lora8-std": "prompt1-lora8",
            "persoma4-lora8": "prompt1-lora8", "persoma4mlp-lora8-std": "prompt1-lora8",
            "e2p1-lora8-std-8000": "prompt1-lora8-8000", "persoma4mlp-lora8-std-8000": "prompt1-lora8-8000"}


def probabilities(folder: Path) -> dict[str, float] | None:
    details = folder / "details.jsonl"
    if not details.exists():
        return None
    return {r["id"]: r["p_positive"] for r in map(json.loads, details.read_text().splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--data", default="../shared/data/movielens-100k:protocol=tallrec")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dataset = load_dataset(args.data, "test", "movielens-like")
    test = dataset.examples
    like_rate = {e.id: float(np.mean([item["liked"] == "Yes" for item in dataset.profiles[e.user_id].items]))
                 for e in test}
    ids = [e.id for e in test]
    positive = [e.output == "Yes" for e in test]
    users = [e.owner for e in test]
    runs = {p.name: p for p in sorted(args.root.iterdir()) if (p / "own" / "results.json").exists()}

    def compare(ours: dict[str, float], theirs: dict[str, float]) -> dict:
        return auc_gain(positive, [ours[i] for i in ids], [[theirs[i] for i in ids]], users)

    own = {name: probabilities(path / "own") for name, path in runs.items()}
    rows = []
    for name, path in runs.items():
        results = json.loads((path / "own" / "results.json").read_text())
        log_path = path / "train" / "train_log.jsonl"
        log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
        other = probabilities(path / "other")
        # a soft run's same-size control: listed above, else the prompt run on as many records
        reads_user = name.startswith(("e2p", "persoma", "xattn", "ragprefix"))
        control = CONTROLS.get(name) or (f"prompt1-lora8-{name.rsplit('-', 1)[1]}"
                                         if reads_user and name.rsplit("-", 1)[-1].isdigit() else None)
        rows.append({
            "run": name, "auc": results["metrics"]["auc"], "user_auc": results["metrics"]["user-auc"],
            "context_tokens": results["mean_context_tokens"], "prompt_tokens": results["mean_prompt_tokens"],
            "trainable_parameters": results["trainable_parameters"],
            "train_seconds": round(sum(e["seconds"] for e in log)) if log else 0,
            "kept_epoch": min(log, key=lambda e: e["dev_loss"])["epoch"] if log else None,
            "other_auc": json.loads((path / "other" / "results.json").read_text())["metrics"]["auc"] if other else None,
            "own_minus_other": compare(own[name], other) if other else None,
            "minus_none": compare(own[name], own["none"]) if "none" in own and name != "none" else None,
            "minus_control": compare(own[name], own[control]) if control in own else None,
            # the bar on the `users` protocol: above the damped bias baseline
            "minus_bias": compare(own[name], own["bias"]) if "bias" in own and name != "bias" else None,
            "spearman_like_rate": float(spearmanr([own[name][i] for i in ids], [like_rate[i] for i in ids])[0]),
        })
    head = ["run", "AUC", "per-user AUC", "AUC, another user's history", "own − other", "− none", "− control",
            "− bias", "ρ with history like rate", "context tok", "trainable params", "train s (kept epoch)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join([
            r["run"], f"{r['auc']:.3f}", f"{r['user_auc']:.3f}",
            f"{r['other_auc']:.3f}" if r["other_auc"] is not None else "–",
            fmt_interval(r["own_minus_other"]), fmt_interval(r["minus_none"]), fmt_interval(r["minus_control"]),
            fmt_interval(r["minus_bias"]),
            f"{r['spearman_like_rate']:+.2f}", f"{r['context_tokens']:.1f}", f"{r['trainable_parameters'] or 0:,}",
            f"{r['train_seconds']} ({r['kept_epoch']})" if r["kept_epoch"] is not None else "–",
        ]) + " |")
    print(f"\n{len(ids)} test records of {len(set(users))} users; intervals: user-level bootstrap 95%.")
    rule = compute_metrics(dataset.task, {e.id: "Yes" if like_rate[e.id] > 0.5 else "No" for e in test},
                           {e.id: e.output for e in test}, probabilities=like_rate, owners={e.id: e.owner for e in test})
    print(f"The like-rate rule (share of liked among the history movies): AUC {rule['auc']:.3f}, "
          f"per-user AUC {rule['user-auc']:.3f}.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
