"""Label scoring costs less than 2x one prompt forward per example, whatever the number of labels.

Measures, side by side in one run on the same prompts (real SmolLM2-135M unless --model):
  forward  : one forward pass over the prompt batch (the floor for any method);
  score-N  : `score_labels` with N labels (prompt once + all labels over its KV cache);
  naive-N  : the obvious alternative, one full prompt+label forward per label (for contrast).
Prints median seconds per batch and ratios to `forward`.

    python benchmarks/label_scoring.py [--batch 8] [--prompt-tokens 300] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch
from common import median_time

from personalize.cli.common import quiet_libraries as _quiet_libraries
from personalize.data.tasks import LAMP2_TAGS, RATING_LABELS
from personalize.generation import label_token_ids, position_ids_from_mask, score_labels
from personalize.models import load_base_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    _quiet_libraries()
    torch.set_grad_enabled(False)
    loaded = load_base_model(args.model, dtype=args.dtype)
    model, tok = loaded.model, loaded.tokenizer
    gen = torch.Generator().manual_seed(0)
    # Realistic left-padded batch: lengths between 60% and 100% of --prompt-tokens.
    lengths = torch.randint(int(args.prompt_tokens * 0.6), args.prompt_tokens + 1, (args.batch,), generator=gen)
    ids = torch.randint(100, tok.vocab_size - 100, (args.batch, args.prompt_tokens), generator=gen)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths.tolist()):
        mask[row, args.prompt_tokens - n :] = 1
    ids = ids.masked_fill(mask == 0, tok.pad_token_id)

    def forward() -> None:
        model(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask), use_cache=False, logits_to_keep=1)

    label_sets = {"rating-5": list(RATING_LABELS), "lamp2-15": list(LAMP2_TAGS)}
    rows = [("forward (1 pass over the prompts)", median_time(forward, args.repeats))]
    for name, labels in label_sets.items():
        label_ids = label_token_ids(tok, labels)

        def scored(label_ids=label_ids) -> None:
            score_labels(model, input_ids=ids, attention_mask=mask, label_ids=label_ids, pad_token_id=tok.pad_token_id)

        def naive(label_ids=label_ids) -> None:
            for lab in label_ids:
                extra = torch.tensor(lab).repeat(args.batch, 1)
                full = torch.cat([ids, extra], 1)
                full_mask = torch.cat([mask, torch.ones_like(extra)], 1)
                model(input_ids=full, attention_mask=full_mask, position_ids=position_ids_from_mask(full_mask), use_cache=False)

        rows.append((f"score_labels, {name} ({max(map(len, label_ids))} tok max)", median_time(scored, args.repeats)))
        rows.append((f"naive per-label forwards, {name}", median_time(naive, max(1, args.repeats // 2))))

    base = rows[0][1]
    print(f"model {loaded.name} ({loaded.info()['dtype']}), batch {args.batch}, prompts {lengths.min().item()}-"
          f"{lengths.max().item()} tokens, median of {args.repeats}")
    print(f"{'what':<52} {'s/batch':>9} {'x forward':>10}")
    for name, seconds in rows:
        print(f"{name:<52} {seconds:9.4f} {seconds / base:10.2f}")
    worst = max(sec for name, sec in rows if name.startswith("score_labels")) / base
    print(f"label scoring / forward, worst case: {worst:.2f}x (target < 2x): {'OK' if worst < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
