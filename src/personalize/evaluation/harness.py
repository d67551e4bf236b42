"""Run a method over a dataset and score it with the task's official metrics; write the result
files as a separate step (:meth:`Evaluation.write`).

:func:`evaluate` returns an :class:`Evaluation`: the ``results.json`` record, the predictions and
the per-example records, all in memory, so that callers (the comparison, the trainer's dev
evaluation, the paraphraser) continue from them without reading files back. Output folder:
- ``predictions.json``: LaMP format ``{"task", "golds": [{"id", "output"}]}``;
- ``results.json``: metrics, token accounting, speed, every setting, seed, versions, git commit;
- ``details.jsonl``: one line per example (raw output, tokens, history items used).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from personalize.config import JsonConfig
from personalize.data.schema import PersonalizationDataset
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError
from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
from personalize.evaluation.request import answer_request, prepare_request
from personalize.generation import DecodingConfig, label_token_ids
from personalize.io import staged
from personalize.methods.base import Method, MethodContext
from personalize.metrics import compute_metrics
from personalize.validation import check_prompt_lengths, context_length, warn


@dataclass
class Evaluation(Mapping[str, Any]):
    """One evaluation, in memory; as a mapping it reads as its ``results`` record.

    Attributes:
        results: the ``results.json`` record (metrics, token accounting, speed, settings, provenance).
        predictions: example id -> the answer as scored (after post-processing), in dataset order.
        records: one ``details.jsonl`` record per example (raw output, tokens, history items used).
        probabilities: example id -> P(positive label), for tasks that rank (else empty).
        task: the evaluated task (names the ``predictions.json`` file's task).
    """

    results: dict[str, Any]
    predictions: dict[str, str]
    records: list[dict[str, Any]]
    probabilities: dict[str, float]
    task: TaskSpec

    def __getitem__(self, key: str) -> Any:
        return self.results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``predictions.json``, ``details.jsonl`` and ``results.json`` into ``out_dir``."""
        write_eval_files(Path(out_dir), self.task, self.predictions, self.records, self.results)
        return Path(out_dir)


@dataclass(frozen=True)
class EvalOptions(JsonConfig):
    """Harness settings.

    Attributes:
        mode: ``generate`` (free generation), ``score`` (label scoring: every allowed label is
            scored by log-likelihood, so the answer is always valid) or ``auto`` (``score`` for
            classification/rating tasks, ``generate`` otherwise).
        batch_size: examples per forward pass.
        seed: seeds Python, NumPy and torch.
        label_eos: label scoring scores ``label + EOS`` (the answer is exactly the label).
    """

    mode: Literal["auto", "generate", "score"] = "auto"
    batch_size: int = 16
    seed: int = 0
    label_eos: bool = True
    decoding: DecodingConfig = field(default_factory=DecodingConfig)

    def __post_init__(self) -> None:
        if isinstance(self.decoding, dict):  # EvalOptions(decoding={...}) from code
            object.__setattr__(self, "decoding", DecodingConfig.from_dict(self.decoding, source="decoding"))
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> EvalOptions:
        data = dict(data)
        decoding = DecodingConfig.from_dict(data.pop("decoding", {}), source=source)
        base = super().from_dict(data, source=source)
        return cls(**{**asdict(base), "decoding": decoding})

    def resolved_mode(self, task: TaskSpec) -> str:
        if self.mode != "auto":
            if self.mode == "score" and not task.labels:
                raise ConfigError(f"label scoring needs a fixed label list; task {task.name} has none")
            return self.mode
        return "score" if task.labels and task.kind in ("classification", "rating") else "generate"


_DIGIT = re.compile(r"[1-5]")


def normalise_answer(text: str, task: TaskSpec) -> str:
    """Map a free-generated answer onto the task's label set where one applies.

    Rating: the first digit 1-5 in the answer. Classification: the label the answer starts with,
    else the first label mentioned (longest match first). Generation: unchanged. An answer with
    no label stays as it is and is scored as invalid.
    """
    if task.kind == "rating":
        match = _DIGIT.search(text)
        return match.group(0) if match else text
    if task.kind == "classification" and task.labels:
        lowered = text.strip().lower()
        by_length = sorted(task.labels, key=len, reverse=True)
        for label in by_length:
            if lowered.startswith(label.lower()):
                return label
        hits = [(lowered.find(label.lower()), -len(label), label) for label in by_length if label.lower() in lowered]
        return min(hits)[2] if hits else text
    return text


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def evaluate(
    method: Method,
    dataset: PersonalizationDataset,
    *,
    model: Any = None,
    options: EvalOptions | None = None,
    out_dir: str | Path | None = None,
    encoder_factory: Any = None,
    show_progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> Evaluation:
    """Evaluate ``method`` on every example of ``dataset``, in memory.

    Args:
        model: a :class:`personalize.models.LoadedModel` (``None`` for model-free methods).
        out_dir: shorthand for ``evaluate(...).write(out_dir)`` (``None``: write nothing).
        extra: additional fields recorded in ``results.json`` (e.g. the data path, ``--limit``).

    Returns:
        The :class:`Evaluation` (results record, predictions, per-example records).
    """
    options = options or EvalOptions()
    task = dataset.task
    if len(dataset) == 0:
        raise ConfigError(f"no examples to evaluate in {dataset.source} ({dataset.split})")
    seed_everything(options.seed)
    if method.needs_model and model is None:
        raise ConfigError(f"method {method.name!r} needs a base model")
    ctx = MethodContext(
        task=task,
        model=model.model if model is not None else None,
        tokenizer=model.tokenizer if model is not None else None,
        model_name=model.name if model is not None else None,
        encoder_factory=encoder_factory,
        seed=options.seed,
        train_source=dataset.train_source,
    )
    method.setup(ctx)
    mode = options.resolved_mode(task) if method.needs_model else "direct"
    max_new = options.decoding.max_new_tokens or task.max_new_tokens
    label_ids = label_token_ids(model.tokenizer, list(task.labels), append_eos=options.label_eos) if mode == "score" else None
    context = context_length(model.model) if method.needs_model else None
    answer_room = max_new if mode == "generate" else max(len(ids) for ids in label_ids) if label_ids else 0
    if context is not None:
        # Inputs alone first, before any batch runs: one over-long input must not cost a run.
        inputs = model.tokenizer([e.input for e in dataset.examples], add_special_tokens=False)["input_ids"]
        check_prompt_lengths([e.id for e in dataset.examples], [len(x) for x in inputs], context, answer_room, "input")

    predictions: dict[str, str] = {}
    # P(positive label) per example, for the AUC of tasks that rank (task.positive_label)
    probabilities: dict[str, float] = {}
    positive = task.labels.index(task.positive_label) if task.positive_label and task.labels else None
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    examples = dataset.examples
    progress = _progress() if show_progress else None
    bar = progress.add_task(f"{method.name} on {task.name}", total=len(examples), rate="") if progress else None
    if progress:
        progress.start()
    try:
        for first in range(0, len(examples), options.batch_size):
            batch = examples[first : first + options.batch_size]
            profiles = [dataset.profile(e) for e in batch]
            if not method.needs_model:
                for e, p in zip(batch, profiles):
                    answer = method.predict_direct(e, p)
                    predictions[e.id] = answer
                    record = {"id": e.id, "raw": answer, "prompt_tokens": 0, "context_tokens": 0}
                    if positive is not None and (prob := method.predict_probability(e, p)) is not None:
                        probabilities[e.id] = record["p_positive"] = float(prob)
                    records.append(record)
            else:
                request = prepare_request(method, batch, profiles, model.device, context=context, answer_room=answer_room)
                prepared = request.prepared
                answered = answer_request(request, model, mode=mode, decoding=options.decoding, max_new_tokens=max_new,
                                  labels=task.labels, label_ids=label_ids)
                raws, scores = answered.raws, answered.scores
                answers = raws if mode == "score" else [normalise_answer(r, task) for r in raws]
                for i, e in enumerate(batch):
                    predictions[e.id] = answers[i]
                    record = {
                        "id": e.id,
                        "raw": raws[i],
                        "prompt_tokens": prepared.prompt_tokens[i],
                        "context_tokens": prepared.context_tokens[i],
                    }
                    if prepared.details:
                        record.update(prepared.details[i])
                    if mode == "score":
                        record["label_logprobs"] = [round(float(x), 4) for x in scores[i].tolist()]
                        if positive is not None:
                            # the labels' softmax: P(positive) among the allowed answers only
                            probabilities[e.id] = record["p_positive"] = float(torch.softmax(scores[i].float(), -1)[positive])
                    records.append(record)
            if progress:
                elapsed = time.perf_counter() - start
                progress.update(bar, advance=len(batch), rate=f"{len(records) / max(elapsed, 1e-9):.2f} ex/s")
    finally:
        if progress:
            progress.stop()
    wall = time.perf_counter() - start

    golds = dataset.golds()
    scored = {k: v for k, v in predictions.items() if k in golds}
    ranked = probabilities if len(probabilities) == len(predictions) else None  # all or nothing
    owners = {e.id: e.owner for e in examples}
    metrics = compute_metrics(task, scored, golds, probabilities=ranked, owners=owners) if golds else {}
    results: dict[str, Any] = {
        "task": task.name,
        "synthetic": task.synthetic,
        "split": dataset.split,
        "data": dataset.source,
        "n_examples": len(examples),
        "skipped": dict(dataset.skipped),
        "method": method.name,
        "method_config": method.config.to_dict(),
        "trainable_parameters": method.trainable_parameters,
        "mode": mode,
        "options": options.to_dict(),
        "max_new_tokens": max_new if mode == "generate" else None,
        "model": model.info() if model is not None else None,
        "metrics": metrics,
        **({"auc_from": "probabilities" if ranked else "answers"} if positive is not None else {}),
        "mean_context_tokens": float(np.mean([r["context_tokens"] for r in records])),
        "mean_prompt_tokens": float(np.mean([r["prompt_tokens"] for r in records])),
        "max_prompt_tokens_seen": max(r["prompt_tokens"] for r in records),
        "context_length": context,
        "prompts_over_budget": sum(1 for r in records if r.get("over_budget")),
        "wall_seconds": round(wall, 3),
        "examples_per_second": round(len(examples) / wall, 3) if wall > 0 else None,
        "seed": options.seed,
        "versions": package_versions(),
        "machine": machine(),
        "git": git_commit(),
        "created": now_iso(),
        **(extra or {}),
    }
    if results["prompts_over_budget"]:
        warn(f"{results['prompts_over_budget']} of {len(records)} prompts exceed the prompt token budget because "
             "their input alone is longer (the input is never cut); counted as prompts_over_budget in the results")
    evaluation = Evaluation(results, predictions, records, probabilities, task)
    if out_dir is not None:
        evaluation.write(out_dir)
    return evaluation


def write_eval_files(out: Path, task: TaskSpec, predictions: dict[str, str], records: list[dict[str, Any]],
                     results: dict[str, Any]) -> None:
    """All three files are complete on disk before any replaces its old version: a full disk or
    a kill leaves the previous evaluation's files, never a mix of two runs or a cut line."""
    out.mkdir(parents=True, exist_ok=True)
    lamp_name = task.name.replace("-", "_") if task.is_lamp else task.name
    golds = [{"id": str(k), "output": v} for k, v in predictions.items()]
    with staged(out) as files:
        # the format of metrics.write_lamp_outputs, staged like the other two files
        files.add_text("predictions.json", json.dumps({"task": lamp_name, "golds": golds}, ensure_ascii=False, indent=1) + "\n")
        files.add_text("details.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        files.add_text("results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
