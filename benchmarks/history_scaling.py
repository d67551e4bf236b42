"""End-to-end time per request as a user's history grows (10 -> 10,000 items).

For one synthetic user per history length, measures on the real SmolLM2-135M + MiniLM:
  cold costs, paid once per user: encoding the whole history (MiniLM, cached on disk afterwards)
    and building the BM25 / FAISS indexes;
  warm per-request time of each method: building its inputs (retrieval, features) + prefill +
    16 greedy tokens, median over a few requests after a warm-up.
Soft-token adapters are untrained (latency does not depend on their weights).

    python benchmarks/history_scaling.py [--lengths 10 100 1000 10000] [--requests 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from personalize.cli.common import quiet_libraries as _quiet_libraries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    _quiet_libraries()
    # A private cache, so that "cold" really starts from nothing.
    os.environ["PERSONALIZE_HOME"] = tempfile.mkdtemp(prefix="personalize-bench-")
    from personalize.data.synthetic import make_style_dataset
    from personalize.encoding import EmbeddingCache
    from personalize.evaluation.soft_method import SoftPrefixMethod
    from personalize.methods import MethodContext, make_method
    from personalize.methods.soft.adapter import ADAPTERS
    from personalize.modeling import PersonalizedModel
    from personalize.models import load_base_model, load_encoder
    from personalize.retrieval.base import item_texts

    loaded = load_base_model("smollm2-135m")
    encoder = load_encoder("minilm-l6")
    methods = {
        "text-k4": None,
        "e2p-1": ("e2p", {"num_tokens": 1}),
        "persoma-4": ("persoma", {"num_tokens": 4}),
        "xattn": ("xattn", {"every_k_layers": 4}),
        "rag-prefix-4": ("rag-prefix", {"num_tokens": 4, "retrieve_k": 8}),
    }
    rows = []
    for length in args.lengths:
        ds = make_style_dataset(n_users=1, items_per_user=length, examples_per_user=args.requests + 1, seed=1)["dev"]
        task, profile = ds.task, next(iter(ds.profiles.values()))
        examples = ds.examples
        texts = item_texts(profile, task)
        cache = EmbeddingCache("minilm-l6", lambda: encoder)
        start = time.perf_counter()
        cache.encode(texts, batch_size=128)
        encode_s = time.perf_counter() - start
        row = {"history": length, "cold_encode_history_s": round(encode_s, 3)}
        for name, spec in methods.items():
            if spec is None:
                method = make_method("text", {"retriever": "bm25", "k": 4, "template": "system"})
            else:
                kind = ADAPTERS.get(spec[0])
                pm = PersonalizedModel.create(loaded.model, spec[0], kind.config_class.from_dict(spec[1]),
                                              base_name=loaded.name, encoder_dim=encoder.dim)
                method = SoftPrefixMethod.from_model(pm)
            method.setup(MethodContext(task=task, model=loaded.model, tokenizer=loaded.tokenizer, model_name=loaded.name,
                                       encoder_factory=lambda: encoder))
            first = time.perf_counter()
            _request(method, loaded, examples[0], profile, args.new_tokens)  # cold: builds per-user indexes
            cold = time.perf_counter() - first
            times, prompt_tokens = [], []
            for example in examples[1 : args.requests + 1]:
                t0 = time.perf_counter()
                prepared = _request(method, loaded, example, profile, args.new_tokens)
                times.append(time.perf_counter() - t0)
                prompt_tokens.append(prepared.prompt_tokens[0])
            row[f"{name}_ms"] = round(1000 * statistics.median(times), 1)
            row[f"{name}_first_ms"] = round(1000 * cold, 1)
            row[f"{name}_prompt_tokens"] = statistics.median(prompt_tokens)
            if spec is not None:
                pm.remove_hooks()
        rows.append(row)
        print(json.dumps(row), flush=True)

    names = list(methods)
    print(f"\nwarm time per request (ms; prepare + prefill + {args.new_tokens} tokens), median of {args.requests}; "
          "cold history encoding (s)")
    print("| history | encode history (s) | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for row in rows:
        cells = [f"{row[n + '_ms']:.0f} ({row[n + '_prompt_tokens']:.0f} tok)" for n in names]
        print(f"| {row['history']:,} | {row['cold_encode_history_s']:.2f} | " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)


@torch.no_grad()
def _request(method, loaded, example, profile, new_tokens: int):
    from personalize.generation import DecodingConfig, generate

    prepared = method.prepare([example], [profile])
    with method.session(prepared):
        generate(
            loaded.model, loaded.tokenizer,
            input_ids=prepared.input_ids, inputs_embeds=prepared.inputs_embeds,
            attention_mask=prepared.attention_mask, decoding=DecodingConfig(), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
        )
    return prepared


if __name__ == "__main__":
    main()
