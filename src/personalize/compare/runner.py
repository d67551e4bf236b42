"""Run every method of a comparison on the same examples and measure what each one costs.

For each method (in config order) :func:`run_comparison`:

1. trains its adapter first when the config says ``train`` (into ``OUT/train/<name>/``; a finished
   run with the same settings is reused), or checks the ``adapter`` folder it names;
2. evaluates it with :func:`personalize.evaluation.evaluate` on the same examples (same split, same
   limit, same decoding) into ``OUT/runs/<name>/``;
3. for model-based methods, measures latency with :func:`measure_latency`, on the dataset's first
   examples and on copies of a few examples whose history is resized to each ``history_lengths``;
4. reads the peak memory of steps 2-3.

It then writes ``OUT/comparison.json`` (rows, config, provenance), ``OUT/comparison.md`` and, via
:func:`personalize.compare.report.write_report`, the plots and ``OUT/report.html``.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from personalize.compare.config import ComparisonConfig, MethodSpec
from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.errors import ConfigError, PersonalizeError
from personalize.io import atomic_write_text, ensure_writable_dir

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")

MEASUREMENT_NOTES: dict[str, str] = {
    "metrics": "the task's official metrics on the same examples for every row (same split, limit, decoding)",
    "mean_context_tokens": "prompt positions per example that carry user context: history text for text methods, "
                           "soft tokens for soft methods, 0 for none and model-free methods",
    "compression_ratio": "baseline's mean context tokens / this row's; null when this row has 0 context tokens "
                         "or there is no baseline (or it has 0 context tokens)",
    "trainable_parameters": "parameters trained for this method (the base model is frozen)",
    "train_seconds": "from the training summary (inline training, or train_summary.json beside a loaded adapter); "
                     "null when unknown",
    "ttft_ms": "median over examples, batch 1, after an untimed warm-up pass over the same examples (per-user "
               "caches warm): build the inputs (prepare: retrieval / user features / soft tokens, tokenization) "
               "+ one forward over the prompt with the KV cache and the greedy first token",
    "prepare_ms": "the input-building part of ttft_ms",
    "decode_tokens_per_second": "greedy generate() of N new tokens (min_new_tokens=N, so EOS cannot stop it), "
                                "batch 1: the N - 1 steps after the prefill, timed inside the call from the first "
                                "token's logits to the last's; steps / seconds summed over the examples",
    "peak_rss_mb": "process resident-set high-water mark during this row's evaluation and latency measurement "
                   "(reset before each row through /proc/self/clear_refs; where that is not possible, the "
                   "process-lifetime maximum from getrusage); includes the base model and the Python runtime",
    "peak_cuda_mb": "torch.cuda.max_memory_allocated during the same steps (GPU only)",
    "user_gain": "(with shuffled_ablation) personalization: the row's metrics with each user's own history minus "
                 "the same with another user's (the mean over `derangements` seeded derangements of the users), "
                 "with a user-level bootstrap 95% interval (users resampled with all their examples); an interval "
                 "containing 0 means the row's gain does not come from the user; for an error metric (MAE) a "
                 "negative difference means the own history helps (higher_is_better says which); by_metric holds "
                 "every mean metric with both sides' means; null for rows that read no history",
    "vs_none": "the row minus the `none` row on the same examples (user-level bootstrap 95%): for a control, the "
               "task adaptation; for a personalized row, task adaptation plus personalization",
    "vs_control": "the row minus its same-size non-personalized control row (user-level bootstrap 95%): "
                  "personalization measured against a method that learned the task but reads no user",
    "latency_by_history": "ttft_ms on copies of the first examples whose user history is cut to its most recent "
                          "L items, or extended to L by repeating the user's items cyclically",
}


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------


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
    return {"peak_rss_mb": _round(rss, 1), "peak_cuda_mb": _round(cuda, 1)}


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------


class _StepClock:
    """A logits processor that reads the clock each time ``generate`` has computed a token's logits."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.sync()
        self.times.append(time.perf_counter())
        return scores


def _inputs(prepared: Any, device: torch.device) -> dict[str, torch.Tensor]:
    inputs = {"attention_mask": prepared.attention_mask.to(device)}
    if prepared.input_ids is not None:
        inputs["input_ids"] = prepared.input_ids.to(device)
    if prepared.inputs_embeds is not None:
        inputs["inputs_embeds"] = prepared.inputs_embeds.to(device)
    return inputs


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
        from personalize.compare.bench import time_request  # bench imports this module

        timing = time_request(method, loaded_model, dataset, [example], 1)
        return timing["ttft_ms"], timing["prepare_ms"], timing["prompt_tokens"]

    eos = eos_token_ids(model, tokenizer)

    def decode_steps(example: Example, count: int) -> tuple[int, float]:
        """(decode steps, their seconds) of one greedy generate() of ``count`` tokens."""
        from transformers import LogitsProcessorList

        prepared = method.prepare([example], [dataset.profile(example)])
        clock = _StepClock(sync)
        with method.session(prepared):
            model.generate(**_inputs(prepared, device), max_new_tokens=count, min_new_tokens=count, do_sample=False,
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


def resize_history(profile: UserProfile, length: int, *, user_id: str | None = None) -> UserProfile:
    """``profile`` with exactly ``length`` items: its most recent ``length`` items, or all of them
    repeated cyclically (repeats get ids ``<id>#r<k>``) up to ``length``. An empty history stays empty."""
    items = profile.items
    uid = user_id or profile.user_id
    if not items:
        return UserProfile(uid, ())
    if length <= len(items):
        return UserProfile(uid, tuple(items[len(items) - length :]))
    out: list[HistoryItem] = []
    for i in range(length):
        item, repeat = items[i % len(items)], i // len(items)
        out.append(item if repeat == 0 else {**item, "id": f"{item.get('id', i % len(items))}#r{repeat}"})
    return UserProfile(uid, tuple(out))


def history_dataset(dataset: PersonalizationDataset, length: int, n: int) -> PersonalizationDataset:
    """Copies of the first ``n`` examples whose users' histories have ``length`` items.

    The copies get user ids ``<user>@h<length>`` so that no per-user cache built on the real
    history is reused for the resized one.
    """
    examples, profiles = [], {}
    for example in dataset.examples[:n]:
        uid = f"{example.user_id}@h{length}"
        profiles[uid] = resize_history(dataset.profile(example), length, user_id=uid)
        examples.append(Example(example.id, uid, example.input, example.output))
    return PersonalizationDataset(dataset.task, dataset.split, examples, profiles, f"{dataset.source} (history {length})")


# --------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _has_adapter(directory: Path) -> bool:
    return all((directory / f).is_file() for f in ADAPTER_FILES)


def check_adapters(config: ComparisonConfig) -> None:
    """Fail early, in one line, for a row whose adapter folder is missing, damaged or of another
    method, or whose inline training settings are out of range."""
    from personalize.validation import check_adapter_folder

    for spec in config.methods:
        if spec.train is not None:
            from personalize.methods.soft.adapter import ADAPTERS

            cfg = config.train_config(spec)  # TrainConfig checks its ranges when built
            ADAPTERS.get(spec.method).config_class.from_dict(cfg.adapter, source=f"methods {spec.name!r} train.adapter")
        if spec.adapter is None:
            continue
        path = Path(spec.adapter)
        if not _has_adapter(path):
            task = f" --task {config.task}" if config.task else ""
            raise ConfigError(
                f"method {spec.name!r}: no trained adapter in {path} (it needs {' and '.join(ADAPTER_FILES)}); "
                f"train it first: personalize train --method {spec.method} --data {config.data}{task} --out {path}")
        try:
            saved = check_adapter_folder(path)["method"]
        except PersonalizeError as exc:
            raise type(exc)(f"method {spec.name!r}: {exc}") from None
        if saved != spec.method:
            raise ConfigError(f"method {spec.name!r}: {path} holds a {saved!r} adapter, not {spec.method!r}")


def _train_inline(config: ComparisonConfig, spec: MethodSpec, directory: Path, loaded: Any,
                  show_progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Train ``spec``'s adapter into ``directory``, or reuse a finished run with the same settings."""
    from personalize.training import TrainConfig, train

    cfg = config.train_config(spec)
    summary_path = directory / "train_summary.json"
    if summary_path.is_file() and _has_adapter(directory):
        saved_path = directory / "train_config.json"
        if not saved_path.is_file() or TrainConfig.load(saved_path) != cfg:
            raise ConfigError(f"{directory} holds an adapter trained with other settings than method {spec.name!r} "
                              "asks for; delete that folder or choose another --out")
        log(f"  reusing the adapter trained in {directory}")
        return {**json.loads(summary_path.read_text()), "reused": True}
    resume = (directory / "checkpoint").exists()
    log(f"  training {spec.method} into {directory}" + (" (resuming)" if resume else ""))
    return train(cfg, directory, resume=resume, show_progress=show_progress, loaded_model=loaded)


def _read_train_summary(adapter: Path) -> dict[str, Any] | None:
    path = adapter / "train_summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _prediction_ids(run_dir: Path) -> list[str]:
    data = json.loads((run_dir / "predictions.json").read_text())
    return [str(g["id"]) for g in data["golds"]]


def pick_samples(dataset: PersonalizationDataset, n: int) -> list[dict[str, Any]]:
    """``n`` examples for the report, one per user first (in file order), then the rest."""
    seen: set[str] = set()
    first, rest = [], []
    for example in dataset.examples:
        (rest if example.user_id in seen else first).append(example)
        seen.add(example.user_id)
    chosen = (first + rest)[:n]
    return [{"id": e.id, "user_id": e.user_id, "input": e.input, "gold": e.output,
             "history_items": len(dataset.profile(e))} for e in chosen]


def apply_compression(rows: list[dict[str, Any]], baseline: str | None) -> None:
    """Set each row's ``compression_ratio`` (baseline's mean context tokens / the row's) and
    ``compression_note`` (why the ratio is null, where it is)."""
    base = next((r for r in rows if r["name"] == baseline), None) if baseline else None
    base_tokens = base["mean_context_tokens"] if base is not None else None
    for row in rows:
        ratio, note = None, None
        if base is None:
            note = "no baseline" if baseline is None else f"baseline {baseline!r} has no row"
        elif not base_tokens:
            note = f"baseline {baseline!r} has 0 context tokens"
        elif not row["mean_context_tokens"]:
            note = "0 context tokens"
        else:
            ratio = round(base_tokens / row["mean_context_tokens"], 3)
        row["compression_ratio"], row["compression_note"] = ratio, note


def _user_gain(method: Any, dataset: PersonalizationDataset, loaded: Any, config: ComparisonConfig, run_dir: Path,
               shuffled_dir: Path, encoder_factory: Callable[[], Any], show_progress: bool,
               limit: int | None, own_scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Evaluate ``method`` again with every example given another user's history, once per
    derangement of the users (``config.derangements``, seeded); own minus the mean over the
    derangements of every mean metric, with a user-level bootstrap interval
    (:func:`personalize.evaluation.gains.paired_gain`)."""
    from personalize.data.ablation import shuffle_profiles
    from personalize.evaluation import evaluate
    from personalize.evaluation.gains import paired_gain
    from personalize.metrics import per_example_scores, read_lamp_outputs

    seed = config.eval.seed
    golds = dataset.golds()
    others, dirs = [], []
    for k in range(config.derangements):
        target = shuffled_dir if k == 0 else shuffled_dir.with_name(f"{shuffled_dir.name}-{k + 1}")
        evaluate(method, shuffle_profiles(dataset, seed + k), model=loaded if method.needs_model else None,
                 options=config.eval, out_dir=target, encoder_factory=encoder_factory, show_progress=show_progress,
                 extra={"comparison": config.name, "row": target.name, "limit": limit, "encoder": config.encoder,
                        "shuffle_profiles": True, "derangement_seed": seed + k})
        others.append(per_example_scores(dataset.task, read_lamp_outputs(target / "predictions.json")[1], golds))
        dirs.append(target.name)
    user_of = {e.id: e.owner for e in dataset.examples}
    gains = paired_gain(dataset.task, own_scores, others, user_of, seed=seed)
    task = dataset.task
    return {"metric": task.primary_metric, "higher_is_better": task.higher_is_better, **gains[task.primary_metric],
            "by_metric": gains, "derangements": config.derangements, "interval": "user-level bootstrap 95%",
            "run_dirs": dirs}


def _row_differences(rows: list[dict[str, Any]], scores: dict[str, dict[str, dict[str, Any]]], config: ComparisonConfig,
                     dataset: PersonalizationDataset) -> None:
    """Each model row minus ``none`` (what it adds at all: task adaptation for a control) and minus
    its ``control`` row (what reading the user adds at the same size), user-level intervals."""
    from personalize.evaluation.gains import paired_gain

    user_of = {e.id: e.owner for e in dataset.examples}
    task = dataset.task
    none_row = next((r["name"] for r in rows if r["method"] == "none"), None)
    controls = {spec.name: spec.control for spec in config.methods}
    for row in rows:
        row["vs_none"] = row["vs_control"] = None
        if none_row and row["name"] != none_row and row["kind"] != "reference":
            gains = paired_gain(task, scores[row["name"]], [scores[none_row]], user_of, seed=config.eval.seed)
            row["vs_none"] = {"reference": none_row, **gains[task.primary_metric], "by_metric": gains}
        control = controls.get(row["name"])
        if control:
            gains = paired_gain(task, scores[row["name"]], [scores[control]], user_of, seed=config.eval.seed)
            row["vs_control"] = {"reference": control, **gains[task.primary_metric], "by_metric": gains}


def run_comparison(
    config: ComparisonConfig,
    out_dir: str | Path,
    *,
    loaded_model: Any = None,
    show_progress: bool = True,
    limit: int | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the comparison described by ``config`` into ``out_dir``; returns its rows.

    Args:
        loaded_model: an already loaded :class:`~personalize.models.LoadedModel` (tests, notebooks);
            else ``config.model`` is loaded once, if any method needs a model.
        limit: overrides ``config.limit`` (the first N examples of the split).
        log: receives one progress line per step (the CLI prints them).

    Raises:
        ConfigError: a missing adapter (before anything runs), or an inline-training folder
            holding another run.
    """
    from personalize import models
    from personalize.compare.report import write_report
    from personalize.data.loading import load_dataset
    from personalize.evaluation import evaluate
    from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
    from personalize.methods import make_method
    from personalize.metrics import per_example_scores, read_lamp_outputs

    say = log or (lambda _message: None)
    out = Path(out_dir)
    limit = limit if limit is not None else config.limit
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be positive, got {limit}")
    dataset = load_dataset(config.data, config.split, config.task).limit(limit, sample=config.limit_sample)
    if len(dataset) == 0:
        raise ConfigError(f"no examples in {dataset.source} ({config.split})")
    check_adapters(config)
    ensure_writable_dir(out)  # before the first row: a read-only --out must not cost a whole comparison
    example_ids = [e.id for e in dataset.examples]

    loaded = loaded_model
    needs_model = any(spec.is_soft or make_method(spec.method, spec.settings).needs_model for spec in config.methods)
    if loaded is None and needs_model:
        say(f"loading {config.model} ...")
        loaded = models.load_base_model(config.model, dtype=config.dtype, device=config.device)
    device = loaded.device if loaded is not None else None
    out.mkdir(parents=True, exist_ok=True)

    def encoder_factory() -> Any:
        return models.load_encoder(config.encoder, device=config.device)

    rows: list[dict[str, Any]] = []
    scores: dict[str, dict[str, dict[str, Any]]] = {}  # row -> example id -> per-example scores
    for index, spec in enumerate(config.methods, 1):
        say(f"[{index}/{len(config.methods)}] {spec.name} ({spec.method}) on {len(dataset)} examples")
        adapter: Path | None = None
        summary: dict[str, Any] | None = None
        if spec.train is not None:
            adapter = out / "train" / spec.name
            summary = _train_inline(config, spec, adapter, loaded, show_progress, say)
        elif spec.adapter is not None:
            adapter = Path(spec.adapter)
            summary = _read_train_summary(adapter)
        settings = {**spec.settings, **({"adapter": str(adapter)} if adapter is not None else {})}
        method = make_method(spec.method, settings)
        run_dir = out / "runs" / spec.name
        rss_scope = reset_peak_memory(device)
        results = evaluate(method, dataset, model=loaded if method.needs_model else None, options=config.eval,
                           out_dir=run_dir, encoder_factory=encoder_factory, show_progress=show_progress,
                           extra={"comparison": config.name, "row": spec.name, "limit": limit, "encoder": config.encoder})
        if _prediction_ids(run_dir) != example_ids:
            raise PersonalizeError(f"method {spec.name!r} did not answer the comparison's examples")
        latency: dict[str, Any] | None = None
        by_history: list[dict[str, Any]] = []
        if method.needs_model:
            say("  measuring latency")
            latency = measure_latency(method, dataset, loaded, n=config.latency_examples,
                                      new_tokens=config.latency_new_tokens)
            for length in config.history_lengths:
                resized = history_dataset(dataset, length, config.history_examples)
                timing = measure_latency(method, resized, loaded, n=config.history_examples, decode=False)
                by_history.append({"history_items": length, "ttft_ms": timing["ttft_ms"],
                                   "prepare_ms": timing["prepare_ms"], "prompt_tokens": timing["prompt_tokens"]})
        memory = peak_memory(device)
        scores[spec.name] = per_example_scores(dataset.task, read_lamp_outputs(run_dir / "predictions.json")[1],
                                               dataset.golds())
        user_gain = None
        if config.shuffled_ablation and method.reads_profile:
            say(f"  the same with another user's history ({config.derangements} derangements)")
            user_gain = _user_gain(method, dataset, loaded, config, run_dir, out / "runs" / f"{spec.name}-shuffled",
                                   encoder_factory, show_progress, limit, scores[spec.name])
        train_seconds = summary.get("train_seconds") if summary else None
        rows.append({
            "name": spec.name,
            "method": spec.method,
            "kind": "soft" if spec.is_soft else ("text" if method.needs_model else "reference"),
            "settings": spec.settings,
            "adapter": str(adapter) if adapter is not None else None,
            "trained_inline": spec.train is not None,
            "n_examples": results["n_examples"],
            "mode": results["mode"],
            "metrics": results["metrics"],
            "primary_metric": dataset.task.primary_metric,
            "higher_is_better": dataset.task.higher_is_better,
            "mean_context_tokens": round(results["mean_context_tokens"], 3),
            "mean_prompt_tokens": round(results["mean_prompt_tokens"], 3),
            "compression_ratio": None,
            "compression_note": None,
            "trainable_parameters": results["trainable_parameters"],
            "train_seconds": train_seconds,
            "eval_seconds": results["wall_seconds"],
            "examples_per_second": results["examples_per_second"],
            "ttft_ms": latency["ttft_ms"] if latency else None,
            "prepare_ms": latency["prepare_ms"] if latency else None,
            "decode_tokens_per_second": latency["decode_tokens_per_second"] if latency else None,
            "latency_examples": latency["n"] if latency else 0,
            **memory,
            "peak_rss_scope": rss_scope,
            "latency_by_history": by_history,
            "user_gain": user_gain,
            "run_dir": os.path.relpath(run_dir, out),
        })
        del method  # drops the adapter and its hooks on the shared base model
        gc.collect()
    apply_compression(rows, config.baseline)
    _row_differences(rows, scores, config, dataset)

    samples = pick_samples(dataset, config.report_samples)
    record = {
        "name": config.name,
        "task": dataset.task.name,
        "synthetic": dataset.synthetic,
        "data": dataset.source,
        "split": dataset.split,
        "limit": limit,
        "n_examples": len(dataset),
        "example_ids": example_ids,
        "baseline": config.baseline,
        "model": loaded.info() if loaded is not None else None,
        "rows": rows,
        "measurement": MEASUREMENT_NOTES,
        "config": config.to_dict(),
        "samples": samples,
        "versions": package_versions(),
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "git": git_commit(),
        "created": now_iso(),
    }
    atomic_write_text(out / "comparison.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "comparison.md", markdown_table(record))
    write_report(out, rows, samples, meta=record)
    return rows


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1, *, thousands: bool = False, suffix: str = "") -> str:
    if value is None:
        return "–"
    if thousands:
        return f"{int(value):,}"
    return f"{value:.{digits}f}{suffix}"


def table_cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Column headers and formatted cells of the comparison table (markdown, HTML and terminal)."""
    metrics: list[str] = []
    for row in rows:
        metrics += [m for m in row["metrics"] if m not in metrics]
    gains = [row["user_gain"] for row in rows if row.get("user_gain")]
    ablated = bool(gains)
    differences = [(key, title) for key, title in (("vs_none", "− none (adaptation)"),
                                                  ("vs_control", "− control (personalization)"))
                   if any(row.get(key) for row in rows)]
    primary = next((row.get("primary_metric") for row in rows if row.get("primary_metric")), None)
    ablation_header = []
    if gains:  # every row's gain is in the task's primary metric; for an error (MAE) lower is better
        helps = ">" if gains[0].get("higher_is_better", True) else "<"
        ablation_header = [f"own − other user's history ({gains[0]['metric']}; {helps} 0: own helps)"]
    difference_headers = [f"{title} ({primary})" for _, title in differences]
    headers = ["method", *metrics, *difference_headers, *ablation_header, "context tok", "compression",
               "trainable params", "train s", "TTFT ms", "prepare ms", "decode tok/s", "peak MB"]
    body = []
    for row in rows:
        peak = row["peak_cuda_mb"] if row.get("peak_cuda_mb") is not None else row["peak_rss_mb"]
        gain = row.get("user_gain")
        body.append([
            row["name"],
            *[_fmt(row["metrics"].get(m), 4) for m in metrics],
            *[_interval(row.get(key)) for key, _ in differences],
            *([_interval(gain)] if ablated else []),
            _fmt(row["mean_context_tokens"], 1),
            _fmt(row["compression_ratio"], 1, suffix="×"),
            _fmt(row["trainable_parameters"], thousands=True),
            _fmt(row["train_seconds"], 0),
            _fmt(row["ttft_ms"], 1),
            _fmt(row["prepare_ms"], 1),
            _fmt(row["decode_tokens_per_second"], 1),
            _fmt(peak, 0),
        ])
    return headers, body


def _interval(gain: dict[str, Any] | None) -> str:
    if not gain:
        return "–"
    return f"{gain['difference']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]"


def attribute_cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]] | None:
    """The task's extra metrics (e.g. synthetic-style's attribute accuracies) with each user's own
    history and, for rows with the ablation, with another user's: ``own / other``; ``None`` when
    the task has no extra metrics or no row was ablated."""
    ablated = [row for row in rows if row.get("user_gain") and row["user_gain"].get("by_metric")]
    if not ablated:
        return None
    official = {"rouge-1", "rouge-L", "bleu", "accuracy", "f1", "mae", "rmse"}
    names = [m for m in ablated[0]["user_gain"]["by_metric"] if m not in official]
    if not names:
        return None
    body = []
    for row in rows:
        by_metric = (row.get("user_gain") or {}).get("by_metric") or {}
        cells = [row["name"]]
        for name in names:
            own = row["metrics"].get(name)
            other = by_metric.get(name, {}).get("theirs")
            cells.append(_fmt(own, 2) + (f" / {other:.2f}" if other is not None else ""))
        body.append(cells)
    return ["method", *[f"{n} (own / other)" for n in names]], body


def markdown_table(record: dict[str, Any]) -> str:
    """``comparison.md``: the table, then what was measured and how."""
    rows = record["rows"]
    headers, body = table_cells(rows)
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731
    model = (record.get("model") or {}).get("name", "no model")
    lines = [
        f"# Comparison {record['name']}",
        "",
        f"{record['task']} {record['split']}, {record['n_examples']} examples from `{record['data']}`"
        + (" (synthetic data)" if record.get("synthetic") else "") + f"; base model {model}; "
        f"baseline for the compression ratio: {record['baseline'] or 'none'}.",
        "",
        "| " + " | ".join(escape(h) for h in headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
        *("| " + " | ".join(escape(c) for c in cells) + " |" for cells in body),
        "",
    ]
    attributes = attribute_cells(rows)
    if attributes is not None:
        lines += ["With each user's own history / with another user's (mean over the derangements):", "",
                  "| " + " | ".join(attributes[0]) + " |", "|" + "|".join("---" for _ in attributes[0]) + "|",
                  *("| " + " | ".join(escape(c) for c in cells) + " |" for cells in attributes[1]), ""]
    nulls = [f"{r['name']}: {r['compression_note']}" for r in rows if r["compression_ratio"] is None and r["compression_note"]]
    if nulls:
        lines += ["Compression ratio not defined for " + "; ".join(nulls) + ".", ""]
    peak = "GPU memory allocated (torch.cuda.max_memory_allocated)" if any(
        r.get("peak_cuda_mb") is not None for r in rows) else "process RSS high-water mark"
    lines += [f"peak MB: {peak}.", "", "## What is measured", ""]
    lines += [f"- **{key}**: {text}" for key, text in MEASUREMENT_NOTES.items()]
    return "\n".join(lines) + "\n"
