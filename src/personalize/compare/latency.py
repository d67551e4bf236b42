"""The latency columns of a comparison, measured interleaved across its rows.

``personalize compare`` (and ``make demo``) evaluate one row after another; timing each row right
after its evaluation let whatever load came and went land on some rows and not on others. Here
every model-based row is kept set up until all are evaluated, then :func:`measure_rows` times
them together, round-robin (:func:`personalize.compare.timing.run_interleaved`):

* a **pass** of a row: time to first token (:func:`personalize.compare.bench.time_request`,
  batch 1) on each of the first ``n`` examples, then one greedy ``generate`` of ``new_tokens``
  on example ``pass mod n`` for the decode speed; a pass's TTFT is the median over its examples;
* ``repeats`` passes of every row, the starting row rotated each pass, after one untimed warm-up
  pass (per-user caches warm, as for users the system has seen);
* the same, without decoding and with at most 3 passes, on copies of the first
  ``history_examples`` examples with the history resized to each of ``history_lengths`` (the
  latency-vs-history plot);
* the machine's load over the whole phase (:class:`~personalize.compare.timing.LoadMonitor`), the
  spread of each row's passes, and the physical-bounds check on the forward time (TTFT minus
  input building) of the rows without hooks inside the base model, judged by
  :func:`personalize.compare.timing.assess` and :func:`~personalize.compare.timing.check_bounds`.

Also here: the peak-memory columns (:func:`reset_peak_memory`, :func:`peak_memory`) and
:func:`measure_latency`, one row alone (a notebook, a test). Every timed request goes through
the one request path (:func:`personalize.evaluation.request.prepare_request` and the method's
session).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from personalize.compare.bench import has_hooks, time_request
from personalize.compare.history import history_dataset
from personalize.compare.timing import LoadMonitor, Thresholds, judge_table, run_interleaved, spread
from personalize.data.schema import Example, PersonalizationDataset
from personalize.errors import ConfigError
from personalize.evaluation.request import prepare_request

HISTORY_PASSES = 3  # the history sweep's passes (at most ``repeats``): its long histories are the costly part
KEYS = ("ttft_ms", "prepare_ms", "forward_ms", "decode_tokens_per_second")


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


@torch.inference_mode()
def decode_rate(method: Any, dataset: Any, loaded: Any, example: Any, new_tokens: int) -> float:
    """Decode tokens per second of one greedy ``generate`` of ``new_tokens`` (EOS cannot stop it):
    the ``new_tokens - 1`` steps after the prefill, timed inside the call."""
    from transformers import LogitsProcessorList

    from personalize.generation import eos_token_ids

    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    clock = StepClock(lambda: torch.cuda.synchronize(device) if device.type == "cuda" else None)
    request = prepare_request(method, [example], [dataset.profile(example)], device)
    with request.session():
        model.generate(**request.inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=False, temperature=None, top_p=None, top_k=None, num_beams=1,
                       pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_token_ids(model, tokenizer), use_cache=True,
                       logits_processor=LogitsProcessorList([clock]))
    steps, seconds = len(clock.times) - 1, clock.times[-1] - clock.times[0]
    return steps / seconds if steps > 0 and seconds > 0 else float("nan")


def _pass(method: Any, dataset: Any, loaded: Any, examples: list, new_tokens: int, decode: bool) -> Callable[[int], dict]:
    """The callable :func:`run_interleaved` calls once per pass (negative pass: warm-up)."""

    def run(r: int) -> dict[str, float]:
        timings = [time_request(method, loaded, dataset, [e], 1) for e in examples]
        out = {
            "ttft_ms": statistics.median(t["ttft_ms"] for t in timings),
            "prepare_ms": statistics.median(t["prepare_ms"] for t in timings),
            "forward_ms": statistics.median(t["ttft_ms"] - t["prepare_ms"] for t in timings),
            "prompt_tokens": statistics.mean(t["prompt_tokens"] for t in timings),
        }
        if decode and new_tokens > 1:
            example = examples[r % len(examples)] if r >= 0 else examples[0]
            out["decode_tokens_per_second"] = decode_rate(method, dataset, loaded, example, new_tokens if r >= 0 else 2)
        return out

    return run


def measure_rows(methods: Mapping[str, Any], dataset: Any, loaded: Any, *, n: int = 8, new_tokens: int = 32,
                 repeats: int = 5, history_lengths: tuple[int, ...] | list[int] = (), history_examples: int = 3,
                 thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """Time every set-up model-based method in ``methods`` interleaved; see the module docstring.

    Returns:
        ``{"rows": {name: row fields}, "load": machine load, "assessment": table verdict}``; a
        row's fields: ``ttft_ms``, ``prepare_ms``, ``decode_tokens_per_second`` (medians of the
        passes), ``latency_examples``, ``latency_by_history`` (``history_items``, ``ttft_ms``,
        ``ttft_q1_ms``, ``ttft_q3_ms``, ``prepare_ms``, ``prompt_tokens``) and ``latency``:
        ``{"passes", "prompt_tokens", <each of KEYS>: spread, "check": {"status", "reasons"}, "load",
        "table": {"disturbed", "reasons"}}``.
    """
    examples = dataset.examples[:n]
    if not methods:
        return {"rows": {}, "load": None, "assessment": None}
    with LoadMonitor() as monitor:
        passes = run_interleaved({name: _pass(m, dataset, loaded, examples, new_tokens, True)
                                  for name, m in methods.items()}, repeats)
        by_history: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
        for length in history_lengths:
            resized = history_dataset(dataset, length, history_examples)
            timed = run_interleaved({name: _pass(m, resized, loaded, resized.examples, 0, False)
                                     for name, m in methods.items()}, min(repeats, HISTORY_PASSES))
            for name, runs in timed.items():
                s = spread(r["ttft_ms"] for r in runs)
                by_history[name].append({
                    "history_items": length, "ttft_ms": s["median"], "ttft_q1_ms": s["q1"], "ttft_q3_ms": s["q3"],
                    "prepare_ms": spread(r["prepare_ms"] for r in runs)["median"],
                    "prompt_tokens": round(statistics.mean(r["prompt_tokens"] for r in runs), 1)})
    load = monitor.load
    spreads = {name: {key: spread(r.get(key) for r in runs) for key in KEYS} for name, runs in passes.items()}
    tokens = {name: round(statistics.mean(r["prompt_tokens"] for r in runs), 1) for name, runs in passes.items()}
    judged = [{"name": name, "spread": spreads[name], "tokens": tokens[name], "comparable": not has_hooks(m)}
              for name, m in methods.items()]
    table = judge_table(judged, load, thresholds=thresholds)
    table.pop("load")
    checks = {r["name"]: r["check"] for r in judged}
    rows = {}
    for name in methods:
        s = spreads[name]
        rows[name] = {
            "ttft_ms": s["ttft_ms"]["median"],
            "prepare_ms": s["prepare_ms"]["median"],
            "decode_tokens_per_second": None if s["decode_tokens_per_second"]["median"] is None
            else round(s["decode_tokens_per_second"]["median"], 2),
            "latency_examples": len(examples),
            "latency_by_history": by_history[name],
            "latency": {"passes": repeats, "prompt_tokens": tokens[name], **s, "check": checks[name],
                        "load": load, "table": table},
        }
    return {"rows": rows, "load": load, "assessment": table}
