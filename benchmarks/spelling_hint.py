"""Can the shared LoRA write an upper-case user's spelling at all, once told it in the input?

E2P-1 writes every style attribute of held-out users at 0.92-0.98 but the spelling of upper-case
users at chance, even for the users it trained on (`benchmarks/decision_probe.py`): their forms
part on word pieces (` GREY` `ĠGRE Y`, ` GRAY` `ĠG RAY`) that are not the words' own tokens. Two
things could stop it: the user's soft token does not reach that choice, or the frozen model + a
rank-8 LoRA cannot learn to write those pieces on demand. This separates them: `export` writes
the `synthetic-style` split as a native folder whose every input starts with the user's case and
spelling in words (`Case: upper. Spelling: British.`), so that the control (a soft prompt that
reads no user, with the same LoRA) is told what E2P must read from the history; `table` scores
spelling per case of the user on a run's predictions.

The same hint can go into the user's *history* instead (`export --where history`: every history
item, which the encoder reads and the frozen model does not, starts with it): E2P-1 then gets a
user vector in which the spelling is as plain as the encoder can make it. Written at chance still,
the limit is the route from the soft token to the pieces; written right, it is the user vector.

    python benchmarks/spelling_hint.py export runs/spelling-hint/data
    python benchmarks/spelling_hint.py export --where history runs/spelling-hint/data-history
    bash benchmarks/spelling_hint.sh                       # export, train the control, score
    python benchmarks/spelling_hint.py table runs/spelling-hint/data runs/spelling-hint/prompt1-lora8-6-hint/own
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from personalize.data.native import load_native, save_native
from personalize.data.synthetic import make_style_dataset, style_of, style_scores, user_styles
from personalize.metrics import read_lamp_outputs

DATA = dict(n_users=480, items_per_user=16, examples_per_user=4, seed=0, split_by="user", shared_inputs=4)


def hint(case: str, spelling: str) -> str:
    return f"Case: {case}. Spelling: {spelling.capitalize()}.\n"


def export(folder: Path, where: str = "input") -> None:
    """The split as a native folder with the hint at the start of each input (``input``) or of
    each history item's text (``history``)."""
    styles = user_styles(DATA["n_users"], DATA["seed"])

    def style_hint(user_id: str) -> str:
        style = style_of(user_id, styles)
        return hint(style.case, style.spelling)

    for dataset in make_style_dataset(**DATA).values():
        if where == "input":
            examples = [replace(e, input=style_hint(e.user_id) + e.input) for e in dataset.examples]
            dataset = replace(dataset, examples=examples)
        else:
            profiles = {user_id: replace(profile, items=tuple({**item, "text": style_hint(user_id) + item["text"]}
                                                              for item in profile.items))
                        for user_id, profile in dataset.profiles.items()}
            dataset = replace(dataset, profiles=profiles)
        save_native(dataset, folder)
    (folder / "source.json").write_text(json.dumps({"synthetic-style": DATA, "hint": "case, spelling",
                                                    "hint_in": where}) + "\n")
    print(f"wrote {folder}")


def table(folder: Path, runs: list[Path]) -> None:
    """Per user case: spelling right / examples whose gold has a two-spelling word; case right."""
    styles = user_styles(DATA["n_users"], DATA["seed"])
    print("| run | split | case of the user | spelling right | case right |")
    print("|---|---|---|---|---|")
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        split = results.get("split", "test")
        golds = {e.id: (e.user_id, e.output) for e in load_native(folder, split).examples}
        _, predictions = read_lamp_outputs(run / "predictions.json")
        spelling, case, seen, with_word = Counter(), Counter(), Counter(), Counter()
        for example_id, prediction in predictions.items():
            user_id, gold = golds[example_id]
            user_case = style_of(user_id, styles).case
            scores = style_scores(prediction, gold)
            seen[user_case] += 1
            case[user_case] += scores["case"] or 0
            if scores["spelling"] is not None:
                with_word[user_case] += 1
                spelling[user_case] += scores["spelling"]
        for user_case in sorted(seen):
            print(f"| {run} | {split} | {user_case} | {spelling[user_case]:.0f} / {with_word[user_case]} "
                  f"| {case[user_case]:.0f} / {seen[user_case]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    exporter = sub.add_parser("export")
    exporter.add_argument("folder", type=Path)
    exporter.add_argument("--where", choices=["input", "history"], default="input",
                          help="the hint starts each input (the control is told) or each history item (E2P reads it)")
    scored = sub.add_parser("table")
    scored.add_argument("folder", type=Path)
    scored.add_argument("runs", type=Path, nargs="+", help="eval output folders")
    args = parser.parse_args()
    if args.command == "export":
        export(args.folder, args.where)
    else:
        table(args.folder, args.runs)


if __name__ == "__main__":
    main()
