"""``personalize bench``: time to first token, decode speed and KV-cache size of every method,
at several batch sizes, in one process so that ratios hold on a noisy machine.

Methods are measured round-robin (one repeat of every method, then the next repeat, the starting
method rotated each repeat: :func:`personalize.compare.timing.schedule`), after a warm-up;
medians are reported with the first and third quartiles of the repeats. Each batch size's table
records the machine's load over its measurement (1-min load average before/after, torch
threads, other processes' CPU share) and is judged: **disturbed** when the load exceeds the
cores, other processes took cores this process needs, or a row's repeats spread too wide;
a warm row is **out of bounds** when it computes fewer prompt positions than another warm row
(same state, no hooks in the base model) and its forward (TTFT minus prepare) is slower beyond
the noise (:mod:`personalize.compare.timing`). Such rows are marked ⚠ in ``bench.md``.
A preset's soft-token adapter is untrained (latency does not depend on its weights); a method
may also be a trained adapter's folder (``adapter_config.json`` + weights, loaded strictly), timed
as saved: its LoRA, its layers, its settings. Per-request cost is
measured twice for methods that keep per-user state:

* **warm**: the user was seen before (history embeddings, user vector, retrieval index cached);
* **cold**: a user never seen (fresh caches): encoding the history is part of the request;
* **warm+prefix**: warm, and the prompt prefix that all requests share (chat template, system
  prompt, instruction up to the first user-specific token) comes from a KV cache computed once
  (:class:`~personalize.generation.SharedPrefixCache`), as a server with prefix caching would
  run it. Only methods whose prefix cannot depend on the user (no hooks in the base model, so
  not ``xattn``) get this row. Text methods put the user's history early in the prompt, so
  little of their prompt is shared; soft-prefix methods put the user just before the input.

KV-cache bytes per request are counted from the cache ``generate`` would keep after the prompt:
layers x 2 (keys, values) x key-value heads x head size x prompt positions x bytes per value.
"""

from __future__ import annotations

import atexit
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from personalize.compare.history import history_dataset
from personalize.compare.timing import MARK, OK, LoadMonitor, judge_table, run_interleaved, spread, table_note, timing_cell
from personalize.data.schema import PersonalizationDataset
from personalize.errors import ConfigError
from personalize.evaluation.request import model_inputs, prepare_request
from personalize.generation import SharedPrefixCache, cache_argument, output_cache, position_ids_from_mask
from personalize.methods.registry import METHODS, bench_presets

# preset name -> (method, settings), as each method's folder declares them (soft methods get an
# untrained adapter of these settings)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = bench_presets()


@dataclass
class BenchOptions:
    methods: list[str] = field(default_factory=lambda: ["none", "text-k4", "e2p-1", "persoma-4", "xattn", "rag-prefix-4"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 16])
    repeats: int = 5
    new_tokens: int = 16
    history_lengths: list[int] = field(default_factory=lambda: [10, 100, 1000])
    cold: bool = True
    prefix_cache: bool = True


def is_adapter_folder(name: str) -> bool:
    """Whether bench method ``name`` is a saved adapter's folder rather than a preset."""
    return name not in PRESETS and (Path(name) / "adapter_config.json").is_file()


def check_methods(names: list[str]) -> None:
    """Every name is a preset or a saved adapter's folder; a one-line error names the others."""
    unknown = [name for name in names if name not in PRESETS and not is_adapter_folder(name)]
    if unknown:
        raise ConfigError(f"unknown bench method(s) {unknown}: neither a preset ({', '.join(PRESETS)}) "
                          "nor a folder with adapter_config.json")


def method_kind(name: str) -> str:
    """The registered method a preset or an adapter folder runs."""
    if is_adapter_folder(name):
        from personalize.adapter_files import read_adapter_config

        return str(read_adapter_config(name)["method"])
    return PRESETS[name][0]


def build_method(name: str, loaded: Any, task: Any, encoder_factory: Any, cache_root: str | None = None) -> Any:
    """A set-up method for preset ``name`` (soft methods: an untrained adapter on ``loaded``) or
    for the trained adapter in folder ``name``; with ``cache_root``, its per-user caches start
    empty there (a user never seen: cold)."""
    from personalize.evaluation.soft_method import SoftPrefixMethod
    from personalize.methods import MethodContext, make_method
    from personalize.methods.soft.adapter import ADAPTERS
    from personalize.modeling import PersonalizedModel

    ctx = MethodContext(task=task, model=loaded.model, tokenizer=loaded.tokenizer, model_name=loaded.name,
                        encoder_factory=encoder_factory)
    if is_adapter_folder(name):
        method = make_method(method_kind(name), {"adapter": name})
        method.setup(ctx)
        if cache_root is not None:
            method.start_cold(cache_root)
        return method
    kind_name, settings = PRESETS[name]
    if kind_name in ADAPTERS:
        kind = ADAPTERS.get(kind_name)
        torch.manual_seed(0)
        pm = PersonalizedModel.create(loaded.model, kind_name, kind.config_class.from_dict(settings),
                                      base_name=loaded.name, encoder_dim=int(encoder_factory().dim))
        pm.to(loaded.device)
        method = SoftPrefixMethod.from_model(pm)
    else:
        method = make_method(kind_name, settings)
    method.setup(ctx)
    if cache_root is not None and isinstance(method, SoftPrefixMethod):
        method.start_cold(cache_root)
    return method


def has_hooks(method: Any) -> bool:
    """Whether ``method`` acts inside the base model (its forward time is not comparable by length,
    and its prompt prefix may depend on the user)."""
    return bool(getattr(getattr(method, "model", None), "has_hooks", False))


def kv_cache_bytes(model: torch.nn.Module, prompt_tokens: int, dtype: torch.dtype) -> int:
    config = model.config
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return int(config.num_hidden_layers * 2 * heads * head_dim * prompt_tokens * torch.tensor([], dtype=dtype).element_size())


@torch.inference_mode()
def time_request(method: Any, loaded: Any, dataset: PersonalizationDataset, examples: list, new_tokens: int,
                 prefix_cache: SharedPrefixCache | None = None) -> dict[str, float]:
    """One batched request: prepare + prefill + first token (TTFT), then ``new_tokens - 1`` decode steps.

    With ``prefix_cache``, the prefill reuses the shared prefix's KV cache when every row starts
    with it (else it prefills everything); ``prefix_tokens`` reports how many positions came
    from the cache.
    """
    model, device = loaded.model, loaded.device
    cache_kw = cache_argument(model)

    def sync() -> None:  # on a GPU, the clock is read only after the device has finished
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sync()
    start = time.perf_counter()
    request = prepare_request(method, examples, [dataset.profile(e) for e in examples], device)
    prepared, inputs = request.prepared, request.inputs
    sync()
    prepared_at = time.perf_counter()
    with request.session():
        mask = inputs["attention_mask"]
        reused = prefix_cache.prefill(inputs, logits_to_keep=1) if prefix_cache is not None else None
        if reused is not None:
            out, mask = reused
        else:
            out = model(**inputs, position_ids=position_ids_from_mask(mask), use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        cache = output_cache(out)
        sync()
        first_at = time.perf_counter()
        positions = mask.sum(-1, keepdim=True)
        for _ in range(new_tokens - 1):
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            step = model(input_ids=token, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                         **{cache_kw: cache})
            cache = output_cache(step)
            token = step.logits[:, -1].argmax(-1, keepdim=True)
            positions = positions + 1
        token.tolist()  # waits for the device
    done = time.perf_counter()
    batch = len(examples)
    return {
        "ttft_ms": 1000 * (first_at - start),
        "prepare_ms": 1000 * (prepared_at - start),
        "forward_ms": 1000 * (first_at - prepared_at),
        "padded_tokens": float(inputs["attention_mask"].shape[1]),
        "decode_tokens_per_second": batch * (new_tokens - 1) / (done - first_at) if new_tokens > 1 else float("nan"),
        "prompt_tokens": float(statistics.mean(prepared.prompt_tokens)),
        "kv_bytes": float(statistics.mean(kv_cache_bytes(model, n, loaded.dtype) for n in prepared.prompt_tokens)),
        "prefix_tokens": float(len(prefix_cache) if reused is not None else 0),
    }


def shared_prefix_cache(method: Any, loaded: Any, dataset: PersonalizationDataset, n: int = 8) -> SharedPrefixCache | None:
    """The prefix cache for ``method`` from its prompts for the first ``n`` examples, or ``None``
    when the method acts inside the base model (its prefix could depend on the user)."""
    if has_hooks(method):
        return None
    examples = dataset.examples[:n]
    samples = []
    for example in examples:
        prepared = method.prepare([example], [dataset.profile(example)])
        samples.append(model_inputs(prepared, loaded.device))
    with torch.inference_mode():
        return SharedPrefixCache.build(loaded.model, samples)


def run_bench(dataset: PersonalizationDataset, loaded: Any, encoder_factory: Any, options: BenchOptions,
              log: Any = print) -> dict[str, Any]:
    """All measurements; returns ``{"rows": [...], "history": [...], "options": ...}``. The base
    model is left as it came: the hooks of every adapter built here are removed at the end."""
    methods: dict[str, Any] = {}
    try:
        for name in options.methods:
            methods[name] = build_method(name, loaded, dataset.task, encoder_factory)
        return _measure(dataset, loaded, encoder_factory, options, methods, log)
    finally:
        for method in methods.values():
            release(method)


def release(method: Any) -> None:
    """Detach ``method``'s adapter from the base model (a no-op for methods without one)."""
    model = getattr(method, "model", None)
    if hasattr(model, "remove_hooks"):
        model.remove_hooks()


def _measure(dataset: PersonalizationDataset, loaded: Any, encoder_factory: Any, options: BenchOptions,
             methods: dict[str, Any], log: Any) -> dict[str, Any]:
    prefix_caches = {name: shared_prefix_cache(m, loaded, dataset) for name, m in methods.items()} if options.prefix_cache else {}
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for batch_size in options.batch_sizes:
        examples = dataset.examples[:batch_size]
        if len(examples) < batch_size:
            raise ValueError(f"batch {batch_size} needs {batch_size} examples; the data has {len(dataset)}")
        caches = {n: prefix_caches[n] for n in methods if prefix_caches.get(n) is not None}
        for name, method in methods.items():  # warm-up: lazy initialisation, per-user caches
            time_request(method, loaded, dataset, examples, 2)
            if name in caches:
                time_request(method, loaded, dataset, examples, 2, caches[name])
        tasks = {}
        for name, method in methods.items():  # round-robin over methods and states, so that ratios hold
            tasks[(name, "warm")] = lambda r, m=method, ex=examples: time_request(m, loaded, dataset, ex, options.new_tokens)
            if name in caches:
                tasks[(name, "warm+prefix")] = lambda r, m=method, c=caches[name], ex=examples: time_request(
                    m, loaded, dataset, ex, options.new_tokens, c)
        with LoadMonitor() as monitor:
            samples = run_interleaved(tasks, options.repeats, warmup=0)
        section = []
        for (name, state), runs in sorted(samples.items(), key=lambda item: item[0][1] == "warm+prefix"):
            row = {"method": name, "batch": batch_size, "state": state, **_medians(runs), "spread": _spreads(runs)}
            section.append(row)
        checks.append({"batch": batch_size, **judge_bench(section, monitor.load, methods)})
        for row in section:
            rows.append(row)
            log(row)
        if options.cold:
            for name in options.methods:
                if METHODS.get(method_kind(name)).family == "text":
                    continue  # text methods keep no per-user state beyond an in-memory BM25 index
                cold_runs = []
                for _ in range(max(1, options.repeats // 2)):
                    # A cache folder of its own per run (cold). Removed at exit, after the caches'
                    # own exit-time flush into it: atexit runs the handlers registered later first.
                    cache_root = tempfile.mkdtemp(prefix="bench-cold-")
                    atexit.register(shutil.rmtree, cache_root, True)
                    fresh = build_method(name, loaded, dataset.task, encoder_factory, cache_root=cache_root)
                    try:
                        cold_runs.append(time_request(fresh, loaded, dataset, examples, options.new_tokens))
                    finally:
                        release(fresh)
                row = {"method": name, "batch": batch_size, "state": "cold", **_medians(cold_runs)}
                rows.append(row)
                log(row)
    history = []
    with LoadMonitor() as monitor:
        for length in options.history_lengths:
            resized = history_dataset(dataset, length, 3)
            for method in methods.values():
                for example in resized.examples:  # warm-up: this user's history is encoded/indexed here
                    time_request(method, loaded, resized, [example], 2)
            timed: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
            for example in resized.examples:  # interleaved: each example through every method in turn
                for name, method in methods.items():
                    timed[name].append(time_request(method, loaded, resized, [example], options.new_tokens))
            for name, runs in timed.items():
                entry = {"method": name, "history": length, **_medians(runs)}
                history.append(entry)
                log(entry)
    if options.history_lengths:
        checks.append({"batch": None, "history": True, **judge_bench([], monitor.load, methods)})
    return {"rows": rows, "history": history, "checks": checks, "options": options.__dict__}


def _spreads(runs: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {key: spread(r[key] for r in runs) for key in ("ttft_ms", "forward_ms", "decode_tokens_per_second")}


def judge_bench(section: list[dict[str, Any]], load: dict[str, Any] | None, methods: dict[str, Any]) -> dict[str, Any]:
    """Judge one batch size's interleaved rows in place (each gets ``check``); the bounds check
    compares warm rows with warm rows and +prefix rows with +prefix rows, by the positions the
    forward computes (padded prompt minus the cached prefix), skipping methods with hooks."""
    table = [{"name": f"{r['method']} {r['state']}", "spread": r["spread"], "state": r["state"],
              "tokens": r["padded_tokens"] - r.get("prefix_tokens", 0),
              "comparable": not has_hooks(methods[r["method"]])} for r in section]
    verdict = judge_table(table, load, group="state")
    for row, judged in zip(section, table):
        row["check"] = judged["check"]
    return verdict


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def ratios(rows: list[dict[str, Any]], target: str = "e2p-1") -> list[dict[str, Any]]:
    """TTFT of ``target`` over ``none`` and over ``text-k4``, per batch size: both warm, and
    (keys ending in ``+prefix``) both warm with their shared-prefix caches."""
    out = []
    for batch in sorted({r["batch"] for r in rows}):
        entry: dict[str, Any] = {"batch": batch}
        for state, suffix in (("warm", ""), ("warm+prefix", " +prefix")):
            warm = {r["method"]: r for r in rows if r["batch"] == batch and r["state"] == state}
            if target in warm:
                for other in ("none", "text-k4"):
                    if other in warm:
                        entry[f"{target}/{other}{suffix}"] = round(warm[target]["ttft_ms"] / warm[other]["ttft_ms"], 3)
        if len(entry) > 1:
            out.append(entry)
    return out


def _status(rows: list[dict[str, Any]], batch: int, state: str, *methods: str) -> str:
    """``ok`` when every named row of this batch and state was judged ok (or never judged)."""
    found = [r.get("check", {}).get("status", OK) for r in rows
             if r["batch"] == batch and r["state"] == state and r["method"] in methods]
    return OK if all(s == OK for s in found) else "not ok"


def markdown(result: dict[str, Any]) -> str:
    """``bench.md``: the rows (median [quartiles] of the repeats, ⚠ where the numbers do not hold,
    with the reason), one note per batch size on the machine's load, the ratios and the history sweep."""
    passes = result.get("options", {}).get("repeats")
    lines = ["| method | batch | state | TTFT ms | prepare ms | decode tok/s | prompt tok | of which cached prefix | "
             "KV cache KB/request | check |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        check = r.get("check") or {}
        status = check.get("status")
        spreads = r.get("spread") or {}
        ttft = timing_cell(spreads.get("ttft_ms"), status) if spreads else f"{r['ttft_ms']:.1f}"
        decode = timing_cell(spreads.get("decode_tokens_per_second"), status) if spreads else \
            f"{r['decode_tokens_per_second']:.1f}"
        own = [x for x in check.get("reasons", []) if not x.startswith(("1-min load", "other processes"))]
        lines.append(f"| {r['method']} | {r['batch']} | {r['state']} | {ttft} | {r['prepare_ms']:.1f} | "
                     f"{decode} | {r['prompt_tokens']:.0f} | {r.get('prefix_tokens', 0):.0f} | "
                     f"{r['kv_bytes'] / 1024:.0f} | {'; '.join([status or '–', *own])} |")
    checks = result.get("checks", [])
    for c in checks:
        if c.get("batch") is not None:
            lines += ["", f"batch {c['batch']}: " + table_note(c, c.get("load"), passes=passes)]
    lines += ["", "| target/baseline TTFT | " + " | ".join(f"batch {e['batch']}" for e in result["ratios"]) + " |",
              "|---|" + "---|" * len(result["ratios"])]
    keys = [k for k in ("e2p-1/none", "e2p-1/text-k4", "e2p-1/none +prefix", "e2p-1/text-k4 +prefix")
            if any(k in e for e in result["ratios"])]
    for key in keys:
        other, state = key.split("/")[1].split(" ")[0], "warm+prefix" if key.endswith("+prefix") else "warm"
        cells = []
        for e in result["ratios"]:
            value = e.get(key, float("nan"))
            mark = "" if _status(result["rows"], e["batch"], state, "e2p-1", other) == OK else f" {MARK}"
            cells.append(f"{value:.2f}{mark}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    if keys and any(MARK in line for line in lines[-len(keys):]):
        lines += ["", f"{MARK}: a ratio from a row judged disturbed or out of bounds: not to be trusted."]
    lines += ["", "| method | history items | TTFT ms | prepare ms | prompt tok |", "|---|---|---|---|---|"]
    for h in result["history"]:
        lines.append(f"| {h['method']} | {h['history']:,} | {h['ttft_ms']:.1f} | {h['prepare_ms']:.1f} | {h['prompt_tokens']:.0f} |")
    for c in checks:
        if c.get("history"):
            lines += ["", table_note(c, c.get("load"), what="history sweep (3 users, each through every method in turn)")]
    return "\n".join(lines) + "\n"
