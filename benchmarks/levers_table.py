"""The table of `benchmarks/soft_levers_synthetic.sh`: one row per lever run.

For each run: the teacher-forced dev loss of its kept epoch with the user's own history and with
another user's (the personalization gap), training seconds, and on the 64 held-out test examples
(plain greedy) each style attribute with the own history / with another user's, the content score,
and how often the text degenerated. A prediction counts as degenerate when it runs past one line,
repeats a word 3-gram, or is more than 1.5x the gold's length in words: the three failure modes
seen in E2P's outputs ("HAGER: HAGER:", a continuation after the answer, invented words).

    python benchmarks/levers_table.py runs/levers-synthetic [--json OUT.json]
    python benchmarks/levers_table.py runs/style-recipe --data n_users=480   # benchmarks/style_recipe.sh
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from personalize.data.loading import parse_synthetic_options
from personalize.data.synthetic import load_synthetic, style_of, user_styles
from personalize.data.tasks import get_task
from personalize.errors import ConfigError
from personalize.evaluation.gains import paired_gain
from personalize.metrics import per_example_scores, read_lamp_outputs

DATA = dict(seed=0, n_users=160, items_per_user=16, examples_per_user=4, split_by="user")
ATTRIBUTES = ("case", "filler", "ending", "spelling", "signoff", "content")


def degenerate(prediction: str, gold: str) -> bool:
    words = re.findall(r"\S+", prediction)
    trigrams = [tuple(w.lower() for w in words[i:i + 3]) for i in range(len(words) - 2)]
    return ("\n" in prediction.strip() or len(trigrams) != len(set(trigrams))
            or len(words) > 1.5 * len(gold.split()))


def side(run: Path, name: str, golds: dict[str, str]) -> dict | None:
    results = run / name / "results.json"
    if not results.exists():
        return None
    metrics = json.loads(results.read_text())["metrics"]
    raws = [json.loads(line) for line in (run / name / "details.jsonl").read_text().splitlines()]
    metrics["degenerate"] = sum(degenerate(r["raw"], golds[r["id"]]) for r in raws) / len(raws)
    return metrics


def _scores(folder: Path, golds: dict[str, str]) -> dict[str, dict[str, float]]:
    _, predictions = read_lamp_outputs(folder / "predictions.json")
    return per_example_scores(get_task("synthetic-style"), predictions, {i: golds[i] for i in predictions})


def by_letter_case(run: Path, golds: dict[str, str], user_of: dict[str, str], styles: list) -> str | None:
    """Spelling right / examples with a two-spelling word, and case right / examples, by the user's
    letter case, with the own history: where the spelling is lost (upper-case users)."""
    if not (run / "own" / "predictions.json").exists():
        return None
    spelling, with_word, case, seen = Counter(), Counter(), Counter(), Counter()
    for example_id, scores in _scores(run / "own", golds).items():
        user_case = style_of(user_of[example_id], styles).case
        seen[user_case] += 1
        case[user_case] += scores["case"]
        if scores.get("spelling") is not None:
            with_word[user_case] += 1
            spelling[user_case] += scores["spelling"]
    cases = sorted(seen)
    return ("spelling " + ", ".join(f"{c} {spelling[c]:.0f}/{with_word[c]}" for c in cases)
            + "; case " + ", ".join(f"{c} {case[c]:.0f}/{seen[c]}" for c in cases))


def own_minus_other(run: Path, golds: dict[str, str], owner: dict[str, str]) -> dict | None:
    """Own minus another user's history per metric, user-level bootstrap 95% (one derangement)."""
    if not (run / "other" / "predictions.json").exists() or not (run / "own" / "predictions.json").exists():
        return None
    return paired_gain(get_task("synthetic-style"), _scores(run / "own", golds), [_scores(run / "other", golds)], owner)


def row(run: Path, golds: dict[str, str], owner: dict[str, str] | None = None) -> dict | None:
    log_path = run / "train" / "train_log.jsonl"
    if not log_path.exists() and not (run / "own" / "results.json").exists():
        return None
    # a reference row without training (`none`) has no log
    log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    best = min(log, key=lambda e: e["dev_loss"]) if log else {"epoch": 0, "dev_loss": None}
    return {"run": run.name, "epochs": len(log), "best_epoch": best["epoch"],
            "train_seconds": round(sum(e["seconds"] for e in log)),
            "dev_loss": best["dev_loss"], "dev_loss_other_user": best.get("dev_loss_other_user"),
            "own": side(run, "own", golds), "other": side(run, "other", golds),
            "own_minus_other": own_minus_other(run, golds, owner) if owner else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data", default="", help="changes to the data options, e.g. n_users=480")
    args = parser.parse_args()
    try:
        data = {**DATA, **parse_synthetic_options(args.data, "--data")}
    except ConfigError as error:
        parser.error(str(error))
    test = load_synthetic("synthetic-style", split="test", **data).examples
    golds = {e.id: e.output for e in test}
    owner = {e.id: e.owner for e in test}
    rows = [r for run in sorted(p for p in args.root.iterdir() if p.is_dir()) if (r := row(run, golds, owner))]
    head = ["run", "epochs", "train s", "dev loss own / other (gap)", *ATTRIBUTES, "degenerate", "rouge-1"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        own, other = r["own"] or {}, r["other"] or {}
        gap = (f"{r['dev_loss']:.3f} / {r['dev_loss_other_user']:.3f} ({r['dev_loss_other_user'] - r['dev_loss']:+.3f})"
               if r["dev_loss_other_user"] is not None else f"{r['dev_loss']:.3f}" if r["dev_loss"] is not None else "–")

        def cell(key: str, fmt: str = "{:.2f}", own: dict = own, other: dict = other) -> str:
            if key not in own:
                return "–"
            return fmt.format(own[key]) + (" / " + fmt.format(other[key]) if key in other else "")

        cells = [r["run"], f"{r['best_epoch']}/{r['epochs']}", str(r["train_seconds"]), gap,
                 *(cell(a) for a in ATTRIBUTES), cell("degenerate"), cell("rouge-1", "{:.3f}")]
        print("| " + " | ".join(cells) + " |")
    print("\nAttributes, degenerate and rouge-1: own history / another user's (one derangement), "
          "the --limit test examples (a seeded sample spread over the held-out users), plain greedy.\n")
    print("Own minus another user's history, user-level bootstrap 95%:\n")
    for r in rows:
        if r["own_minus_other"]:
            cells = [f"{m} {g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
                     for m, g in r["own_minus_other"].items() if m in ATTRIBUTES or m == "rouge-1"]
            print(f"- {r['run']}: " + "; ".join(cells))
    print("\nBy the user's letter case, own history (right / examples):\n")
    styles = user_styles(data["n_users"], seed=data["seed"])
    user_of = {e.id: e.user_id for e in test}
    for run in sorted(p for p in args.root.iterdir() if p.is_dir()):
        if (line := by_letter_case(run, golds, user_of, styles)):
            print(f"- {run.name}: {line}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
