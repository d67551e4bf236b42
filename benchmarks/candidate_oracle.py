"""How close can a trained adapter's own candidates get to the user's tweet? (a diagnostic, not a method)

For every dev example this runs the normal ``personalize eval --adapter`` (greedy, the given
decoding) and, on the same prepared inputs, draws ``--samples`` sampled answers (temperature
``--temperature``, the same generated-token loop control). It then prints, on the same examples,
ROUGE-1 of: copying the input, the greedy answer, the best of the samples and the best of
samples + greedy + the copy (oracle choices, using the gold: an upper bound for any reranker of
these candidates, e.g. minimum-Bayes-risk decoding), and MBR's choice among samples + greedy +
copy with the model's samples as evidence (no gold).

If even the oracle over the model's candidates is barely above copying, the model does not
produce the user's words, and no decoding trick on top of it can reach a much higher score.

    python benchmarks/candidate_oracle.py --adapter adapters/lamp7-e2p-1-aug --limit 100 \
        --out runs/candidate-oracle/e2p-1-aug
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--data", default="../shared/data/lamp7")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import personalize.evaluation.request as request_path
    from personalize import generation
    from personalize.cli import app
    from personalize.data.loading import load_dataset
    from personalize.metrics import rouge_1

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    candidates: list[dict[str, object]] = []
    greedy_generate = generation.generate

    def generate_with_samples(model, tokenizer, *, decoding, max_new_tokens, input_ids=None, inputs_embeds=None,
                              attention_mask, **kwargs):
        greedy = greedy_generate(model, tokenizer, decoding=decoding, max_new_tokens=max_new_tokens, input_ids=input_ids,
                                 inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)
        start = 0 if input_ids is None else input_ids.shape[1]
        with torch.inference_mode():
            sampled = model.generate(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                     max_new_tokens=max_new_tokens, do_sample=True, temperature=args.temperature,
                                     top_p=1.0, top_k=0, num_return_sequences=args.samples,
                                     pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=generation.eos_token_ids(model, tokenizer),
                                     logits_processor=generation.loop_control(decoding, start), use_cache=True)
        texts = [generation.postprocess(t, decoding.postprocess)
                 for t in tokenizer.batch_decode(sampled[:, start:], skip_special_tokens=True)]
        for row, answer in enumerate(greedy):
            candidates.append({"greedy": answer, "samples": texts[row * args.samples : (row + 1) * args.samples]})
        return greedy

    request_path.generate = generate_with_samples  # the request path calls it by this name
    torch.manual_seed(args.seed)
    try:
        app(["eval", "--adapter", args.adapter, "--data", args.data, "--out", str(out / "eval"), "--limit",
             str(args.limit), "--postprocess", "clean", "--no-repeat-ngram", "3"],
            standalone_mode=False)
    finally:
        request_path.generate = greedy_generate

    dataset = load_dataset(args.data, "dev").limit(args.limit)
    task = dataset.task
    assert len(candidates) == len(dataset.examples), (len(candidates), len(dataset.examples))

    def mbr(options: list[str], evidence: list[str]) -> str:
        utility = [np.mean([rouge_1(e, o) for e in evidence]) for o in options]
        return options[int(np.argmax(utility))]

    scores: dict[str, list[float]] = {k: [] for k in
                                      ("copy", "greedy", "best_sample", "best_of_all", "mbr", "greedy_is_copy")}
    per_example = []
    for example, cand in zip(dataset.examples, candidates):
        gold, copy = example.output, task.query_text(example.input)
        samples, greedy = list(cand["samples"]), str(cand["greedy"])
        row = {
            "copy": rouge_1(gold, copy),
            "greedy": rouge_1(gold, greedy),
            "best_sample": max(rouge_1(gold, s) for s in samples),
            "best_of_all": max(rouge_1(gold, s) for s in [*samples, greedy, copy]),
            "mbr": rouge_1(gold, mbr([*samples, greedy, copy], [*samples, greedy])),
            "greedy_is_copy": float(greedy.strip() == copy.strip()),
        }
        for key, value in row.items():
            scores[key].append(value)
        per_example.append({"id": example.id, **cand, **row})
    summary = {"adapter": args.adapter, "n": len(per_example), "samples": args.samples,
               "temperature": args.temperature, "seed": args.seed,
               "mean": {k: round(float(np.mean(v)), 4) for k, v in scores.items()}}
    (out / "candidates.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in per_example))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
