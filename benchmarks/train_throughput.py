"""Training throughput of a soft-token adapter vs forward-only throughput, same model and batch.

Back-propagating to the inputs of a frozen model costs about one more forward (no weight
gradients are needed), so a train step should run at >= 0.5x the forward-only token rate.
Measures, side by side in one run (median of --repeats after a warm-up):
  forward : the frozen base model on the assembled inputs_embeds, no grad (inference, SDPA);
  train   : embed (adapter) + forward + loss + backward + AdamW step, as the trainer runs it
            (eager attention: the fused SDPA backward is slow on CPU; right padding, and the
            prompt positions before the soft tokens run without autograd as a KV cache);
  train, compiled: the same step with the decoder layers under torch.compile (the trainer's
            ``compile`` setting); its one-off compilation is timed and reported apart.
Tokens are real (non-padding) positions.

    python benchmarks/train_throughput.py [--method e2p] [--batch 8] [--tokens 100] [--no-compile]
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
from common import median_time

from personalize.cli.common import quiet_libraries as _quiet_libraries
from personalize.evaluation.provenance import machine
from personalize.methods.soft.adapter import ADAPTERS
from personalize.methods.soft.features import UserFeatures
from personalize.modeling import PersonalizedModel
from personalize.models import load_base_model
from personalize.training.trainer import CompiledLayers, attention_implementation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--method", default="e2p", choices=["e2p", "persoma", "prompt"])
    parser.add_argument("--num-tokens", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=100, help="prompt+answer tokens per example (LaMP-7 is ~100)")
    parser.add_argument("--answer", type=int, default=30, help="answer tokens per example (the loss positions)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled train step")
    args = parser.parse_args()
    _quiet_libraries()
    loaded = load_base_model(args.model, dtype=args.dtype)
    kind = ADAPTERS.get(args.method)
    config = kind.config_class(num_tokens=args.num_tokens)
    model = PersonalizedModel.create(loaded.model, args.method, config, base_name=loaded.name, encoder_dim=384)
    gen = torch.Generator().manual_seed(0)
    vocab = loaded.tokenizer.vocab_size
    n_prompt = args.tokens - args.answer - args.num_tokens
    prefixes = [torch.randint(100, vocab, (n_prompt // 2,), generator=gen).tolist() for _ in range(args.batch)]
    suffixes = [torch.randint(100, vocab, (n_prompt - n_prompt // 2,), generator=gen).tolist() for _ in range(args.batch)]
    targets = [torch.randint(100, vocab, (args.answer,), generator=gen).tolist() for _ in range(args.batch)]
    features = UserFeatures(args.batch, vector=torch.randn(args.batch, 384, generator=gen),
                            items=torch.randn(args.batch, 16, 384, generator=gen),
                            item_mask=torch.ones(args.batch, 16, dtype=torch.long))
    optimizer = torch.optim.AdamW(model.adapter.parameters(), lr=1e-4)
    use_autocast = loaded.dtype == torch.bfloat16
    pad = loaded.tokenizer.pad_token_id

    def forward_only() -> None:
        with torch.no_grad():
            batch = model.embed(prefixes, suffixes, features, targets, pad_token_id=pad)
            loaded.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                         position_ids=batch.position_ids, use_cache=False, logits_to_keep=1)

    compiled = CompiledLayers(model, not args.no_compile)
    compile_on = False

    def train_step() -> None:
        model.train()
        with attention_implementation(loaded.model, "eager"), (compiled.active() if compile_on else nullcontext()), \
                torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=use_autocast):
            batch = model.embed(prefixes, suffixes, features, targets, pad_token_id=pad, padding_side="right")
            loss = model(batch, cache_shared_prefix=not compile_on)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    real_tokens = args.batch * args.tokens
    fwd = median_time(forward_only, args.repeats)
    trn = median_time(train_step, args.repeats)
    compiled_time = compile_seconds = None
    if compiled.enabled:
        compile_on = True
        start = time.perf_counter()
        train_step()  # compiles (cached on disk by Inductor after the first run)
        compile_seconds = time.perf_counter() - start
        compiled_time = median_time(train_step, args.repeats)
    print(f"machine: {machine()}")
    print(f"model {loaded.name} ({loaded.info()['dtype']}), {args.method} N={args.num_tokens}, batch {args.batch} x "
          f"{args.tokens} tokens ({args.answer} answer), {model.trainable_parameters():,} trainable, median of {args.repeats}")
    print(f"forward-only: {fwd:.3f} s/batch  {real_tokens / fwd:8.0f} tok/s")
    print(f"train step  : {trn:.3f} s/batch  {real_tokens / trn:8.0f} tok/s")
    if compiled_time is not None:
        print(f"train, compiled: {compiled_time:.3f} s/batch  {real_tokens / compiled_time:8.0f} tok/s  "
              f"(first call, compiling: {compile_seconds:.1f} s)")
    for label, seconds in (("eager", trn), ("compiled", compiled_time)):
        if seconds is not None:
            ratio = fwd / seconds
            print(f"training ({label}) / forward-only throughput: {ratio:.2f}x (target >= 0.5x): {'OK' if ratio >= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
