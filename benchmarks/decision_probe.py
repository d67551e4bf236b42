"""Does the user reach the token where a style choice is made? A teacher-forced probe.

For every synthetic-style test example and every style attribute, the gold answer is written
again with that attribute changed to each other value the data has (the same neutral sentence,
the same user otherwise: "NEIGHBOUR" against "NEIGHBOR", 🚀 against 🌻 ...). Tokenized, each rival
parts from the gold at one position: the *decision token*. There, with the gold answer fed up
to it (teacher forcing), the adapter's next-token distribution is read twice: with the user's own
history and with another user's (a seeded derangement of the test users). Reported per attribute
and per letter case of the user:

- *decided*: the share of examples where the gold piece beats every rival's piece at the
  position where that rival parts (what greedy decoding would choose, given the right prefix);
- *margin*: the mean over examples of the smallest log-probability difference, gold piece minus
  rival piece (nats; > 0 decided, about 0 on a coin flip).

A choice the user decides shows decided near 1.0 and a large margin with the own history, and
about chance with another user's. A choice where both sides read alike, margins near 0 with the
own history, is one the user's tokens do not reach, whatever the encoder could see.

    python benchmarks/decision_probe.py adapters/synthetic-style-e2p-1-lora8 [ADAPTER...] [--split train --limit 384]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from personalize.adapter_files import read_adapter_config
from personalize.data.ablation import shuffle_profiles
from personalize.data.loading import load_dataset
from personalize.data.synthetic import STYLE_PROMPT, STYLE_VALUES, UserStyle, parse_style
from personalize.data.tasks import STYLE_ATTRIBUTES
from personalize.methods.soft.adapter import ADAPTERS, make_feature_builder
from personalize.modeling import PersonalizedModel
from personalize.models.llm import load_base_model

DEFAULT_DATA = "synthetic-style:seed=0,n_users=480,items_per_user=16,examples_per_user=4,split_by=user"


def user_style_of(example) -> UserStyle | None:
    """The style that wrote this example's gold answer, checked by writing it again."""
    shown = parse_style(example.output)
    neutral = example.input[len(STYLE_PROMPT):]
    for spelling in STYLE_VALUES["spelling"]:  # a sentence without a two-spelling word shows none: both write it
        style = UserStyle(case=shown["case"], filler=shown["filler"], ending=shown["ending"],
                          spelling=shown["spelling"] or spelling, signoff=shown["signoff"])
        if style.apply(neutral) == example.output:
            return style
    return None


def rivals(example, style: UserStyle, tokenize) -> dict[str, list[tuple[int, int]]]:
    """Per attribute: (position, rival token) where each rewrite with another value parts from
    the gold tokens; an attribute the sentence cannot show (no two-spelling word) has none."""
    neutral = example.input[len(STYLE_PROMPT):]
    gold = tokenize(example.output)
    found: dict[str, list[tuple[int, int]]] = {}
    for attribute in STYLE_ATTRIBUTES:
        parts = []
        for value in STYLE_VALUES[attribute]:
            if value == getattr(style, attribute):
                continue
            other = tokenize(UserStyle(**{**style.__dict__, attribute: value}).apply(neutral))
            if other == gold:
                continue
            at = next((i for i, (a, b) in enumerate(zip(gold, other)) if a != b), min(len(gold), len(other)))
            if at < len(gold) and at < len(other):  # one a prefix of the other: EOS decides, skipped
                parts.append((at, other[at]))
        if parts:
            found[attribute] = parts
    return found


@torch.no_grad()
def next_token_logprobs(model, dataset, examples, layout, features, targets, batch_size: int = 16,
                        attention: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per example ``[len(target), vocab]``: log-probabilities of the token at each answer
    position, the gold answer fed before it; with ``attention`` also ``[len(target), layers]``: the
    attention mass (mean over heads) that the position predicting each answer token puts on the
    soft tokens, per layer (the base model must run eager attention)."""
    out, masses = [], []
    for first in range(0, len(examples), batch_size):
        chunk = examples[first : first + batch_size]
        splits = [layout.split(e.input) for e in chunk]
        profiles = [dataset.profile(e) for e in chunk]
        queries = [dataset.task.query_text(e.input) for e in chunk]
        tgt = [targets[e.id] for e in chunk]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            batch = model.embed([s[0] for s in splits], [s[1] for s in splits], features(profiles, queries), tgt,
                                padding_side="right")
            with model.active(batch.memory):
                result = model.base(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                                    position_ids=batch.position_ids, use_cache=False, output_attentions=attention)
        for row, n_prompt in enumerate(batch.prompt_tokens):
            # position p predicts token p + 1: the answer's token j at n_prompt + j; the prompt's
            # positions need no softmax over the vocabulary
            answer = slice(n_prompt - 1, n_prompt - 1 + len(tgt[row]))
            out.append(torch.log_softmax(result.logits[row, answer].float(), dim=-1))
            if attention:  # right padding: the soft tokens right after the row's prefix
                soft = slice(len(splits[row][0]), len(splits[row][0]) + model.config.num_tokens)
                masses.append(torch.stack([a[row, :, answer, soft].float().sum(-1).mean(0) for a in result.attentions], -1))
    return out, masses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample of this many examples, spread over users")
    parser.add_argument("--seed", type=int, default=0, help="the sample and the derangement for another user's history")
    parser.add_argument("--attention", action="store_true",
                        help="also the attention mass each decision position puts on the soft tokens (eager attention, slower)")
    args = parser.parse_args()
    torch.manual_seed(0)
    dataset = load_dataset(args.data, args.split).limit(args.limit, seed=args.seed)
    other_dataset = shuffle_profiles(dataset, args.seed)
    base_cache: dict[str, object] = {}
    for directory in args.adapters:
        saved = read_adapter_config(directory)
        name = saved["base_model"]
        if name not in base_cache:
            base_cache[name] = load_base_model(name, dtype="fp32", device="cpu")
        loaded = base_cache[name]
        if args.attention:
            loaded.model.set_attn_implementation("eager")  # sdpa does not return attention weights
        model = PersonalizedModel.from_pretrained(loaded.model, directory, base_name=name).eval()
        layout = ADAPTERS.get(saved["method"]).layout(loaded.tokenizer, dataset.task, model.config)
        features = make_feature_builder(saved["method"], model.config, dataset.task)
        if features.embedder is not None:
            features.precompute([*dataset.profiles.values(), *other_dataset.profiles.values()])

        def tokenize(text: str, tokenizer=loaded.tokenizer) -> list[int]:
            return tokenizer(text.strip(), add_special_tokens=False)["input_ids"]

        examples, decisions, skipped = [], {}, 0
        for e in dataset.examples:
            style = user_style_of(e)
            if style is None:
                skipped += 1
                continue
            examples.append(e)
            decisions[e.id] = (style.case, rivals(e, style, tokenize))
        targets = {e.id: tokenize(e.output) + [loaded.tokenizer.eos_token_id] for e in examples}
        moved = {e.id: e for e in other_dataset.examples}  # the same examples, another user's history
        own, own_mass = next_token_logprobs(model, dataset, examples, layout, features, targets, attention=args.attention)
        other, _ = next_token_logprobs(model, other_dataset, [moved[e.id] for e in examples], layout, features, targets)
        sides = {"own": own, "other": other}
        rows: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
        reach: dict[tuple[str, str], list[torch.Tensor]] = defaultdict(list)  # attention on the soft tokens, [layers]
        for index, e in enumerate(examples):
            case, found = decisions[e.id]
            gold = targets[e.id]
            for attribute, parts in found.items():
                for side, logprobs in sides.items():
                    lp = logprobs[index]
                    margin = min(float(lp[at, gold[at]] - lp[at, rival]) for at, rival in parts)
                    for group in (case, "all"):
                        rows[(attribute, group, side)].append((float(margin > 0), margin))
                if own_mass:
                    for group in (case, "all"):
                        reach[(attribute, group)].append(own_mass[index][min(at for at, _ in parts)])
            if own_mass:
                reach[("every answer token", "all")].extend(own_mass[index])
        print(f"\n{directory}: {len(examples)} {args.split} examples of {len({e.owner for e in examples})} users"
              + (f" ({skipped} not rewritable, skipped)" if skipped else ""))
        print("| attribute | users | n | decided, own | decided, other | margin own (nats) | margin other |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for attribute in STYLE_ATTRIBUTES:
            for group in ("all", *STYLE_VALUES["case"]):
                own, other = rows.get((attribute, group, "own")), rows.get((attribute, group, "other"))
                if not own:
                    continue
                o, t = np.array(own), np.array(other)
                print(f"| {attribute} | {group} | {len(o)} | {o[:, 0].mean():.2f} | {t[:, 0].mean():.2f} "
                      f"| {o[:, 1].mean():+.2f} | {t[:, 1].mean():+.2f} |", flush=True)
        if reach:
            print("\nattention on the soft tokens at the decision position (own history; mean over heads):")
            print("| attribute | users | n | mean over layers | largest layer (its index) | per layer |")
            print("|---|---|---:|---:|---:|---|")
            order = [(a, g) for a in STYLE_ATTRIBUTES for g in ("all", *STYLE_VALUES["case"])] + [("every answer token", "all")]
            for attribute, group in (key for key in order if key in reach):
                found = reach[(attribute, group)]
                per_layer = torch.stack(found).mean(0)  # [layers]
                print(f"| {attribute} | {group} | {len(found)} | {per_layer.mean():.3f} | {per_layer.max():.3f} "
                      f"({int(per_layer.argmax())}) | {' '.join(f'{v:.2f}' for v in per_layer.tolist())} |")


if __name__ == "__main__":
    main()
