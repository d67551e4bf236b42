"""How much `synthetic-style` shows of each user's spelling, by letter case (no model, seconds).

Counts, per split and per case, the examples whose sentence holds a two-spelling word (split by the
user's spelling) and the history items that show the user's spelling: whether the upper-case
users' spelling is rare in the data, or present and still not learnt.

    python benchmarks/spelling_exposure.py [--data OPTIONS]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

from personalize.data.synthetic import BRITISH_SPELLINGS, make_style_dataset, style_of, user_styles

DEFAULT = "n_users=480,items_per_user=16,examples_per_user=4,split_by=user,shared_inputs=4"
FORMS = re.compile(r"\b(" + "|".join(sorted({*BRITISH_SPELLINGS, *BRITISH_SPELLINGS.values()}, key=len, reverse=True)) + r")\b", re.I)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT, help=f"synthetic-style options (default {DEFAULT})")
    args = parser.parse_args()
    options = {k: (v if k == "split_by" else int(v)) for k, v in (kv.split("=") for kv in args.data.split(","))}
    datasets = make_style_dataset(**options)
    styles = user_styles(options.get("n_users", 8), options.get("seed", 0))
    print(f"synthetic-style:{args.data}")
    print("| split | case | users | examples | with a two-spelling word (american / british) "
          "| history items showing the spelling, per user |")
    print("|---|---|---:|---:|---|---:|")
    for split, dataset in datasets.items():
        users, examples, with_word, shown = Counter(), Counter(), Counter(), Counter()
        for example in dataset.examples:
            style = style_of(example.user_id, styles)
            examples[style.case] += 1
            if FORMS.search(example.input):
                with_word[style.case, style.spelling] += 1
        for user_id, profile in dataset.profiles.items():
            style = style_of(user_id, styles)
            users[style.case] += 1
            shown[style.case] += sum(1 for item in profile.items if FORMS.search(item["text"]))
        for case in sorted(users):
            print(f"| {split} | {case} | {users[case]} | {examples[case]} | {with_word[case, 'american']} / "
                  f"{with_word[case, 'british']} | {shown[case] / users[case]:.1f} |")


if __name__ == "__main__":
    main()
