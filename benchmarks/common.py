"""Shared helpers of the benchmark scripts (run as `python benchmarks/<script>.py`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs, after one untimed warm-up run."""
    return statistics.median(times(fn, repeats))


def times(fn: Callable[[], object], repeats: int, *, sync: Callable[[], None] = lambda: None) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``fn()`` after one untimed warm-up run (``sync`` is
    called before each clock read: a GPU's queue drained)."""
    fn()
    out = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


@dataclass
class TrainBench:
    """A soft-token adapter's training step and the frozen base model's forward on the same batch.

    Attributes:
        forward_only: the frozen base on the assembled ``inputs_embeds [B, T, H]``, no grad
            (inference: SDPA attention, ``logits_to_keep=1``).
        train_step: embed (adapter) + forward + loss over the answer positions + backward + AdamW
            step, as the trainer runs it (eager attention, right padding, the prompt positions
            before the soft tokens without autograd as a KV cache; decoder layers under
            ``torch.compile`` once :meth:`use_compiled` is called).
        real_tokens: non-padding positions per batch (``B x tokens``).
    """

    forward_only: Callable[[], None]
    train_step: Callable[[], None]
    real_tokens: int
    trainable: int
    compiled: Any
    _state: dict

    def use_compiled(self, on: bool = True) -> None:
        self._state["compile"] = on

    def sync(self) -> None:
        if self._state["device"].type == "cuda":
            torch.cuda.synchronize(self._state["device"])

    def timed(self, fn: Callable[[], Any]) -> Callable[[int], float]:
        """``fn`` as a :func:`run_interleaved` task: seconds of one call, device-synchronised."""
        def run(_pass: int) -> float:
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            return time.perf_counter() - start
        return run


def train_bench(loaded: Any, *, method: str = "e2p", num_tokens: int = 1, batch: int = 8, tokens: int = 100,
                answer: int = 30, compile: bool = False, encoder_dim: int = 384, seed: int = 0) -> TrainBench:
    """Build a :class:`TrainBench`: an untrained ``method`` adapter on ``loaded`` (frozen) and a
    random batch of ``batch`` examples of ``tokens`` positions (``answer`` of them the loss's)."""
    from torch.profiler import record_function

    from personalize.methods.soft.adapter import ADAPTERS
    from personalize.methods.soft.features import UserFeatures
    from personalize.modeling import PersonalizedModel
    from personalize.training.trainer import CompiledLayers, attention_implementation

    kind = ADAPTERS.get(method)
    config = kind.config_class(num_tokens=num_tokens)
    torch.manual_seed(seed)
    model = PersonalizedModel.create(loaded.model, method, config, base_name=loaded.name, encoder_dim=encoder_dim)
    model.to(loaded.device)
    gen = torch.Generator().manual_seed(seed)
    vocab = loaded.tokenizer.vocab_size
    n_prompt = tokens - answer - num_tokens
    prefixes = [torch.randint(100, vocab, (n_prompt // 2,), generator=gen).tolist() for _ in range(batch)]
    suffixes = [torch.randint(100, vocab, (n_prompt - n_prompt // 2,), generator=gen).tolist() for _ in range(batch)]
    targets = [torch.randint(100, vocab, (answer,), generator=gen).tolist() for _ in range(batch)]
    features = UserFeatures(batch, vector=torch.randn(batch, encoder_dim, generator=gen),
                            items=torch.randn(batch, 16, encoder_dim, generator=gen),
                            item_mask=torch.ones(batch, 16, dtype=torch.long))
    optimizer = torch.optim.AdamW(model.adapter.parameters(), lr=1e-4)
    use_autocast = loaded.dtype == torch.bfloat16
    pad = loaded.tokenizer.pad_token_id
    state = {"compile": False, "device": loaded.device}
    compiled = CompiledLayers(model, compile)

    def forward_only() -> None:
        with torch.no_grad(), record_function("phase: embed"):
            embedded = model.embed(prefixes, suffixes, features, targets, pad_token_id=pad)
        with torch.no_grad(), record_function("phase: forward"):
            loaded.model(inputs_embeds=embedded.inputs_embeds, attention_mask=embedded.attention_mask,
                         position_ids=embedded.position_ids, use_cache=False, logits_to_keep=1)

    def train_step() -> None:
        model.train()
        on = state["compile"]
        with attention_implementation(loaded.model, "eager"), (compiled.active() if on else nullcontext()), \
                torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=use_autocast):
            with record_function("phase: embed"):
                embedded = model.embed(prefixes, suffixes, features, targets, pad_token_id=pad, padding_side="right")
            with record_function("phase: forward + loss"):
                loss = model(embedded, cache_shared_prefix=not on)
        with record_function("phase: backward"):
            loss.backward()
        with record_function("phase: optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return TrainBench(forward_only, train_step, batch * tokens, model.trainable_parameters(), compiled, state)
