"""Run every method of a comparison on the same examples and measure what each one costs.

For each method (in config order) :func:`run_comparison`:

1. trains its adapter first when the config says ``train`` (into ``OUT/train/<name>/``; a finished
   run with the same settings is reused), or checks the ``adapter`` folder it names;
2. evaluates it with :func:`personalize.evaluation.evaluate` on the same examples (same split, same
   limit, same decoding) into ``OUT/runs/<name>/``;
3. reads the peak memory of steps 1-2;

then, once every row is evaluated, measures the latency columns of all model-based rows together,
interleaved (round-robin over the rows, ``latency_repeats`` passes), on the dataset's first
examples and on copies of a few examples whose history is resized to each ``history_lengths``,
with the machine's load and a verdict on whether the numbers hold
(:mod:`personalize.compare.latency`, :mod:`personalize.compare.timing`).

It then writes ``OUT/comparison.json`` (rows, config, provenance), ``OUT/comparison.md`` and, via
:func:`personalize.compare.report.write_report`, the plots and ``OUT/report.html``. Every step
continues from the evaluations in memory; the files are written for people and later commands.

The parts live beside it: :mod:`~personalize.compare.adapters` (check or train a row's adapter),
:mod:`~personalize.compare.latency` (TTFT, decode speed, memory), :mod:`~personalize.compare.history`
(resized histories), :mod:`~personalize.compare.rows` (compression, paired differences, samples)
and :mod:`~personalize.compare.tables` (the table and ``comparison.md``).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from personalize.compare.adapters import check_adapters, read_train_summary, train_inline
from personalize.compare.config import ComparisonConfig
from personalize.compare.latency import measure_rows, peak_memory, reset_peak_memory
from personalize.compare.rows import apply_compression, pick_samples, row_differences
from personalize.compare.tables import MEASUREMENT_NOTES, markdown_table
from personalize.compare.timing import table_note
from personalize.data.schema import PersonalizationDataset
from personalize.errors import ConfigError, PersonalizeError
from personalize.io import atomic_write_text, ensure_writable_dir


def _user_gain(method: Any, dataset: PersonalizationDataset, loaded: Any, config: ComparisonConfig,
               shuffled_dir: Path, encoder_factory: Callable[[], Any], show_progress: bool,
               limit: int | None, own_scores: dict[str, dict[str, Any]], merged: bool = False) -> dict[str, Any]:
    """Evaluate ``method`` again with every example given another user's history, once per
    derangement of the users (``config.derangements``, seeded); own minus the mean over the
    derangements of every mean metric, with a user-level bootstrap interval
    (:func:`personalize.evaluation.gains.paired_gain`).

    ``merged``: the derangements run as one evaluation of all their examples (ids suffixed
    ``#k``) in batches ``derangements`` times the configured size, written to one folder. For
    soft rows, whose prompts do not grow with the history, a generation batch of 96 costs about
    a quarter less than three of 32 on a 2-core CPU (fixed per-step work; E2P-1 on the demo:
    19.5 → 14.2 s); text rows, whose long prompts make them prefill-bound, got slower merged
    (34 → 38 s), so they run one pass per derangement.
    """
    from personalize.data.ablation import shuffle_profiles
    from personalize.evaluation import evaluate
    from personalize.evaluation.gains import headline, paired_gain, with_probabilities
    from personalize.metrics import per_example_scores

    seed = config.eval.seed
    golds = dataset.golds()
    passes: list[tuple[dict[str, str], dict[str, float]]] = []  # per derangement: answers, probabilities
    dirs: list[str] = []
    extra = {"comparison": config.name, "limit": limit, "encoder": config.encoder, "shuffle_profiles": True}
    model = loaded if method.needs_model else None
    if merged and config.derangements > 1:
        parts = [shuffle_profiles(dataset, seed + k) for k in range(config.derangements)]
        combined = replace(dataset, examples=[replace(e, id=f"{e.id}#{k + 1}") for k, part in enumerate(parts)
                                              for e in part.examples],
                           source=f"{dataset.source} (profiles shuffled, seeds {seed}-{seed + config.derangements - 1})")
        options = replace(config.eval, batch_size=config.eval.batch_size * config.derangements)
        shuffled = evaluate(method, combined, model=model, options=options,
                            encoder_factory=encoder_factory, show_progress=show_progress,
                            extra={**extra, "row": shuffled_dir.name,
                                   "derangement_seeds": list(range(seed, seed + config.derangements))})
        shuffled.write(shuffled_dir)
        dirs.append(shuffled_dir.name)
        for k in range(config.derangements):
            ids = {e.id: f"{e.id}#{k + 1}" for e in dataset.examples}
            passes.append(({i: shuffled.predictions[j] for i, j in ids.items()},
                           {i: shuffled.probabilities[j] for i, j in ids.items() if j in shuffled.probabilities}))
    else:
        for k in range(config.derangements):
            target = shuffled_dir if k == 0 else shuffled_dir.with_name(f"{shuffled_dir.name}-{k + 1}")
            shuffled = evaluate(method, shuffle_profiles(dataset, seed + k), model=model, options=config.eval,
                                encoder_factory=encoder_factory, show_progress=show_progress,
                                extra={**extra, "row": target.name, "derangement_seed": seed + k})
            shuffled.write(target)
            dirs.append(target.name)
            passes.append((shuffled.predictions, shuffled.probabilities))
    _remove_stale_derangements(shuffled_dir, keep=dirs)
    others = [with_probabilities(dataset.task, per_example_scores(dataset.task, answers, golds), probabilities, golds)
              for answers, probabilities in passes]
    user_of = {e.id: e.owner for e in dataset.examples}
    gains = paired_gain(dataset.task, own_scores, others, user_of, seed=seed)
    task = dataset.task
    metric = headline(task, gains)
    return {"metric": metric, "higher_is_better": task.higher_is_better, **gains[metric],
            "by_metric": gains, "derangements": config.derangements, "interval": "user-level bootstrap 95%",
            "run_dirs": dirs}


def _remove_stale_derangements(shuffled_dir: Path, keep: list[str]) -> None:
    """Remove ``<row>-shuffled-<k>`` folders that this run did not write: an earlier comparison
    into the same folder with more derangements, or one pass per derangement where this run
    merged them, would otherwise leave other results beside this row's, which nothing refers to."""
    for stale in shuffled_dir.parent.glob(f"{shuffled_dir.name}-*"):
        suffix = stale.name[len(shuffled_dir.name) + 1 :]
        if suffix.isdigit() and stale.name not in keep and stale.is_dir():
            shutil.rmtree(stale)


def _measure_latency_interleaved(timed: dict[str, Any], dataset: PersonalizationDataset, loaded: Any,
                                 config: ComparisonConfig, rows: list[dict[str, Any]],
                                 say: Callable[[str], None]) -> dict[str, Any] | None:
    """Fill the latency fields of the model-based ``rows``, measured interleaved
    (:func:`personalize.compare.latency.measure_rows`); returns the load and the table's verdict."""
    if not timed:
        return None
    say(f"measuring latency: {len(timed)} rows interleaved, {config.latency_repeats} passes")
    measured = measure_rows(timed, dataset, loaded, n=config.latency_examples, new_tokens=config.latency_new_tokens,
                            repeats=config.latency_repeats, history_lengths=config.history_lengths,
                            history_examples=config.history_examples)
    for row in rows:
        row.update(measured["rows"].get(row["name"], {}))
    say("  " + table_note(measured["assessment"], measured["load"], passes=config.latency_repeats))
    return {"load": measured["load"], "assessment": measured["assessment"], "passes": config.latency_repeats}


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
    from personalize.evaluation.gains import with_probabilities
    from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
    from personalize.methods import make_method
    from personalize.metrics import per_example_scores

    say = log or (lambda _message: None)
    out = Path(out_dir)
    limit = limit if limit is not None else config.limit
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be positive, got {limit}")
    dataset = load_dataset(config.data, config.split, config.task).limit(limit, sample=config.limit_sample)
    golds = dataset.golds()
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
    predictions: dict[str, dict[str, str]] = {}  # row -> example id -> answer (what the report shows)
    timed: dict[str, Any] = {}  # model-based rows, set up, for the interleaved latency measurement
    for index, spec in enumerate(config.methods, 1):
        say(f"[{index}/{len(config.methods)}] {spec.name} ({spec.method}) on {len(dataset)} examples")
        adapter: Path | None = None
        summary: dict[str, Any] | None = None
        if spec.train is not None:
            adapter = out / "train" / spec.name
            summary = train_inline(config, spec, adapter, loaded, show_progress, say)
        elif spec.adapter is not None:
            adapter = Path(spec.adapter)
            summary = read_train_summary(adapter)
        settings = {**spec.settings, **({"adapter": str(adapter)} if adapter is not None else {})}
        method = make_method(spec.method, settings)
        run_dir = out / "runs" / spec.name
        rss_scope = reset_peak_memory(device)
        results = evaluate(method, dataset, model=loaded if method.needs_model else None, options=config.eval,
                           encoder_factory=encoder_factory, show_progress=show_progress,
                           extra={"comparison": config.name, "row": spec.name, "limit": limit, "encoder": config.encoder})
        results.write(run_dir)
        predictions[spec.name] = results.predictions
        if [str(k) for k in results.predictions] != example_ids:
            raise PersonalizeError(f"method {spec.name!r} did not answer the comparison's examples")
        if method.needs_model:
            timed[spec.name] = method  # kept set up: the latency columns are measured interleaved below
        memory = peak_memory(device)
        scores[spec.name] = with_probabilities(dataset.task, per_example_scores(dataset.task, results.predictions, golds),
                                               results.probabilities, golds)
        user_gain = None
        if config.shuffled_ablation and method.reads_profile:
            say(f"  the same with another user's history ({config.derangements} derangements)")
            user_gain = _user_gain(method, dataset, loaded, config, out / "runs" / f"{spec.name}-shuffled",
                                   encoder_factory, show_progress, limit, scores[spec.name], merged=spec.is_soft)
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
            "ttft_ms": None,
            "prepare_ms": None,
            "decode_tokens_per_second": None,
            "latency_examples": 0,
            **memory,
            "peak_rss_scope": rss_scope,
            "latency_by_history": [],
            "latency": None,
            "user_gain": user_gain,
            "run_dir": os.path.relpath(run_dir, out),
        })
        del method
    latency = _measure_latency_interleaved(timed, dataset, loaded, config, rows, say)
    timed.clear()  # drops the adapters and their hooks on the shared base model
    gc.collect()
    apply_compression(rows, config.baseline)
    row_differences(rows, scores, config, dataset)

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
        "latency": latency,
        "git": git_commit(),
        "created": now_iso(),
    }
    atomic_write_text(out / "comparison.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "comparison.md", markdown_table(record))
    write_report(out, rows, samples, meta=record, predictions=predictions)
    return rows
