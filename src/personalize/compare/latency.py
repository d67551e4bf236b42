"""What a comparison row costs at run time: time to first token, decode speed, peak memory."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from personalize.compare.bench import time_request
from personalize.data.schema import Example, PersonalizationDataset
from personalize.errors import ConfigError
from personalize.evaluation.request import prepare_request


def round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def reset_peak_memory(device: torch.device | None = None) -> str:
    """Reset the peak-memory counters; returns the RSS scope: ``row`` or ``process``.

    On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the resident-set high-water mark
    (``VmHWM``, also what ``getrusage`` reports); elsewhere the peak stays the process lifetime's.
    """
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "row"
    except OSError:
        return "process"


def peak_memory(device: torch.device | None = None) -> dict[str, float | None]:
    """``peak_rss_mb`` (``getrusage`` ``ru_maxrss``) and ``peak_cuda_mb`` (``None`` off GPU)."""
    rss: float | None = None
    try:
        import resource

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB on Linux
    except ImportError:  # Windows
        pass
    cuda = None
    if device is not None and device.type == "cuda":
        cuda = torch.cuda.max_memory_allocated(device) / 2**20
    return {"peak_rss_mb": round_or_none(rss, 1), "peak_cuda_mb": round_or_none(cuda, 1)}


class StepClock:
    """A logits processor that reads the clock each time ``generate`` has computed a token's logits."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.sync()
        self.times.append(time.perf_counter())
        return scores


@torch.inference_mode()
def measure_latency(
    method: Any,
    dataset: PersonalizationDataset,
    loaded_model: Any,
    n: int = 8,
    *,
    new_tokens: int = 32,
    decode: bool = True,
) -> dict[str, Any]:
    """Time to first token and decode speed of a set-up model-based ``method``, batch 1.

    ``method`` must have been set up on ``loaded_model`` (``evaluate`` does that). The first ``n``
    examples of ``dataset`` are each run once untimed (warm-up: lazy initialisation and per-user
    caches such as retrieval indexes and user vectors, as for a user the system has seen), then:

    * **time to first token**: ``method.prepare`` on the example (retrieval, prompt rendering,
      tokenization, user features and soft tokens), one forward of the base model over the whole
      prompt with the KV cache (``logits_to_keep=1``, as ``generate`` does) and the greedy first
      token, the same span as ``personalize bench``'s TTFT; CUDA is synchronised before the
      clock is read. Reported as the median over examples, with its ``prepare`` part.
    * **decode speed** (``decode=True``): ``model.generate`` greedily with
      ``min_new_tokens = max_new_tokens = new_tokens`` (EOS cannot end it early); a logits
      processor reads the clock each time a token's logits are ready, so the ``new_tokens - 1``
      steps after the prefill are timed inside one call (``generate``'s per-step overhead
      included). Decode steps / their seconds, summed over the examples.

    Returns:
        ``{"n", "ttft_ms", "prepare_ms", "prompt_tokens", "decode_tokens_per_second"}``
        (``decode_tokens_per_second`` is ``None`` when ``decode`` is false).
    """
    from personalize.generation import eos_token_ids

    if method.ctx is None:
        raise ConfigError(f"method {method.name!r} is not set up; run it through evaluate() first")
    examples = dataset.examples[:n]
    if not examples:
        raise ConfigError("no examples to measure latency on")
    model, tokenizer, device = loaded_model.model, loaded_model.tokenizer, loaded_model.device

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def first_token(example: Example) -> tuple[float, float, float]:
        timing = time_request(method, loaded_model, dataset, [example], 1)
        return timing["ttft_ms"], timing["prepare_ms"], timing["prompt_tokens"]

    eos = eos_token_ids(model, tokenizer)

    def decode_steps(example: Example, count: int) -> tuple[int, float]:
        """(decode steps, their seconds) of one greedy generate() of ``count`` tokens."""
        from transformers import LogitsProcessorList

        request = prepare_request(method, [example], [dataset.profile(example)], device)
        clock = StepClock(sync)
        with request.session():
            model.generate(**request.inputs, max_new_tokens=count, min_new_tokens=count, do_sample=False,
                           temperature=None, top_p=None, top_k=None, num_beams=1, pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=eos, use_cache=True, logits_processor=LogitsProcessorList([clock]))
        return len(clock.times) - 1, clock.times[-1] - clock.times[0]

    for example in examples:  # warm-up
        first_token(example)
    if decode:
        decode_steps(examples[0], 2)
    timed = [first_token(e) for e in examples]
    decode_rate = None
    if decode and new_tokens > 1:
        steps, seconds = 0, 0.0
        for example in examples:
            n_steps, n_seconds = decode_steps(example, new_tokens)
            steps, seconds = steps + n_steps, seconds + n_seconds
        decode_rate = round(steps / seconds, 2) if seconds > 0 else None
    return {
        "n": len(examples),
        "ttft_ms": round(statistics.median(t[0] for t in timed), 3),
        "prepare_ms": round(statistics.median(t[1] for t in timed), 3),
        "prompt_tokens": round(statistics.mean(t[2] for t in timed), 1),
        "decode_tokens_per_second": decode_rate,
    }
