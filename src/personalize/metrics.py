"""Task metrics with the official LaMP evaluation semantics, and LaMP's output-file format.

* **classification** (LaMP-1, LaMP-2, synthetic-pref): ``accuracy`` and ``f1``, the macro-F1
  over the task's fixed label list. Predictions and golds are stripped; a prediction that is not
  exactly one of the labels maps to ``-1`` (wrong, in no class). The macro average runs over
  *every* label in the list, a label that never occurs contributing an F1 of 0 — the same as
  ``sklearn.metrics.f1_score(labels=range(len(labels)), average="macro", zero_division=0)``.
* **ranked binary classification** (``movielens-like``, a task with a ``positive_label``):
  ``accuracy`` and ``f1`` as above, plus ``auc`` (ROC AUC of the probability of the positive
  label, scikit-learn's ``roc_auc_score``) and ``user-auc`` (the same within each user, averaged
  over the users who have both classes, as in CoLLM's UAUC). The probabilities come from the
  method (label scoring: the softmax of the label log-likelihoods; recommender baselines: their
  own estimate); without them (free generation, files scored offline) the answer itself is the
  score (1 for the positive label, 0 for the other, 0.5 for an invalid answer), so AUC is then
  balanced accuracy. A metric with no defined value (one class only) is ``nan``.
* **rating** (LaMP-3): ``mae`` and ``rmse`` (official), plus ``accuracy`` (the prediction parses
  to the gold rating exactly; an extra, not a LaMP metric). A prediction is stripped and parsed with
  :func:`float`; one that is not a number is scored as whichever of 1 and 5 the official code
  picks: ``1.0 if abs(1 - y) > abs(5 - y) else 5.0`` for gold ``y`` (gold 1, 2 and 3 → 5;
  gold 4 and 5 → 1). ``nan`` and ``inf`` parse as floats but count as not a number here, so that
  a single such output cannot turn the whole score into ``nan``.
* **generation** (LaMP-4/5/7, synthetic-style): ``rouge-1`` and ``rouge-L`` are the mean over
  examples of the F-measure from ``rouge_score`` (no stemming; its tokenizer lowercases and
  keeps only ``[a-z0-9]`` runs), and ``bleu`` is sacrebleu's corpus BLEU on a **0-100** scale.
  Predictions and golds are stripped first, as the official post-processing does.

All ids are strings: an integer id read from a file (or passed in a mapping) is converted
with :func:`str`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from personalize.data.lamp_format import read_lamp_outputs
from personalize.data.overlap import rouge_1, rouge_scorer
from personalize.data.tasks import TaskSpec, get_task
from personalize.errors import DataError, PersonalizeError

__all__ = [
    "compute_metrics",
    "parse_rating",
    "per_example_scores",
    "read_lamp_outputs",
    "rouge_1",
    "score_files",
    "write_lamp_outputs",
]

_MAX_IDS_SHOWN = 10
INVALID_LABEL = -1
"""Class index of a classification prediction that is not in the task's label list."""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def compute_metrics(
    task: TaskSpec,
    predictions: Mapping[str, str],
    golds: Mapping[str, str],
    *,
    probabilities: Mapping[str, float] | None = None,
    owners: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Score ``predictions`` against ``golds`` (both ``id -> output``) for ``task``.

    ``probabilities`` (``id -> P(task.positive_label)``, every id) and ``owners`` (``id -> user``,
    for ``user-auc``; without it each id is its own user, so ``user-auc`` is ``nan``) matter only
    for tasks with a ``positive_label``.

    Returns:
        A dict with exactly the keys of ``task.metric_names``: ``accuracy``/``f1``,
        ``mae``/``rmse`` or ``rouge-1``/``rouge-L``/``bleu`` (BLEU on a 0-100 scale; accuracy,
        F1 and ROUGE on 0-1), then the task's ``extra_metrics`` (0-1).

    Raises:
        DataError: no examples; ids that are in one mapping but not the other (named, with
            counts); a gold label outside the task's label list; a non-numeric rating gold.
    """
    ids, preds, refs = _aligned(predictions, golds)
    return {**_official_metrics(task, ids, preds, refs, probabilities, owners), **_extra_metrics(task, preds, refs)}


def _extra_scores(task: TaskSpec, preds: list[str], refs: list[str]) -> list[dict[str, float | None]]:
    if not task.extra_metrics:
        return [{} for _ in preds]
    import personalize.data.synthetic  # noqa: F401  (registers the synthetic tasks' scorers)
    from personalize.data.tasks import EXAMPLE_SCORERS

    if task.name not in EXAMPLE_SCORERS:
        raise PersonalizeError(f"task {task.name!r} declares metrics {task.extra_metrics} but has no scorer")
    scorer = EXAMPLE_SCORERS[task.name]
    return [scorer(p.strip(), r.strip()) for p, r in zip(preds, refs)]


def _extra_metrics(task: TaskSpec, preds: list[str], refs: list[str]) -> dict[str, float]:
    """Each extra metric's mean over the examples where it applies (``nan`` where none does)."""
    rows = _extra_scores(task, preds, refs)
    out = {}
    for name in task.extra_metrics:
        values = [row[name] for row in rows if row.get(name) is not None]
        out[name] = float(np.mean(values)) if values else float("nan")
    return out


def _official_metrics(task: TaskSpec, ids: list[str], preds: list[str], refs: list[str],
                      probabilities: Mapping[str, float] | None = None,
                      owners: Mapping[str, str] | None = None) -> dict[str, float]:
    if task.kind == "classification":
        pred_idx, gold_idx = _class_indices(task, ids, preds, refs)
        scores = {
            "accuracy": float(np.mean(pred_idx == gold_idx)),
            "f1": _macro_f1(pred_idx, gold_idx, len(_labels(task))),
        }
        if task.positive_label is not None:
            scores.update(_ranking_metrics(task, ids, pred_idx, gold_idx, probabilities, owners))
        return scores
    if task.kind == "rating":
        errors = _rating_errors(ids, preds, refs)
        exact = [parse_rating(p) == parse_rating(r) for p, r in zip(preds, refs)]
        return {
            "mae": float(np.mean(errors)),
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "accuracy": float(np.mean(exact)),
        }
    if task.kind == "generation":
        preds = [p.strip() for p in preds]
        refs = [r.strip() for r in refs]
        rouge = _rouge_scores(preds, refs)
        return {
            "rouge-1": float(np.mean([r[0] for r in rouge])),
            "rouge-L": float(np.mean([r[1] for r in rouge])),
            "bleu": _corpus_bleu(preds, refs),
        }
    raise PersonalizeError(f"task {task.name!r} has unknown kind {task.kind!r}")


def per_example_scores(
    task: TaskSpec, predictions: Mapping[str, str], golds: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Per-example scores, in the golds' order, for reports and error analysis.

    Each id maps to:

    * classification: ``correct`` (1.0/0.0) and ``valid`` (1.0 if the prediction is a label);
    * rating: ``abs_error`` and ``valid`` (1.0 if the prediction parsed as a number);
    * generation: ``rouge-1`` and ``rouge-L`` (F-measures; BLEU is corpus-level only);
    * plus the task's ``extra_metrics`` (``None`` where one does not apply to the example).

    Raises the same :class:`DataError` as :func:`compute_metrics`.
    """
    ids, preds, refs = _aligned(predictions, golds)
    official = _official_per_example(task, ids, preds, refs)
    for i, extra in zip(ids, _extra_scores(task, preds, refs)):
        official[i].update(extra)
    return official


def _official_per_example(task: TaskSpec, ids: list[str], preds: list[str], refs: list[str]) -> dict[str, dict[str, Any]]:
    if task.kind == "classification":
        pred_idx, gold_idx = _class_indices(task, ids, preds, refs)
        return {
            i: {"correct": float(p == g), "valid": float(p != INVALID_LABEL)}
            for i, p, g in zip(ids, pred_idx.tolist(), gold_idx.tolist())
        }
    if task.kind == "rating":
        errors = _rating_errors(ids, preds, refs)
        return {
            i: {"abs_error": float(e), "valid": float(parse_rating(p) is not None)}
            for i, p, e in zip(ids, preds, errors.tolist())
        }
    if task.kind == "generation":
        rouge = _rouge_scores([p.strip() for p in preds], [r.strip() for r in refs])
        return {i: {"rouge-1": r1, "rouge-L": rl} for i, (r1, rl) in zip(ids, rouge)}
    raise PersonalizeError(f"task {task.name!r} has unknown kind {task.kind!r}")


_PAIRED = {"generation": (("rouge-1", "rouge-1"), ("rouge-L", "rouge-L")), "classification": (("accuracy", "correct"),),
           "rating": (("mae", "abs_error"),)}


def paired_difference(
    task: TaskSpec, predictions: Mapping[str, str], baseline: Mapping[str, str], golds: Mapping[str, str],
    *, resamples: int = 10_000, seed: int = 0,
) -> dict[str, dict[str, float]]:
    """How ``predictions`` differ from ``baseline`` on the same examples, with uncertainty.

    For each metric that is a mean over examples (ROUGE-1/L, accuracy, MAE; not macro-F1, RMSE
    or corpus BLEU), the mean per-example difference ``predictions - baseline``, a paired bootstrap
    95% interval (examples resampled with replacement, ``resamples`` times, seeded), and how many
    examples each side wins. An interval that contains 0 means the data cannot tell them apart.

    Returns:
        ``{metric: {"difference", "low", "high", "wins", "losses", "ties", "n"}}``; for ``mae``
        a negative difference is the better side, and ``wins`` counts smaller errors.

    Raises:
        DataError: the three files' ids differ (as :func:`compute_metrics`).
    """
    ours = per_example_scores(task, predictions, golds)
    theirs = per_example_scores(task, baseline, golds)
    ids = list(ours)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ids), size=(resamples, len(ids)))
    result: dict[str, dict[str, float]] = {}
    for metric, field in _PAIRED.get(task.kind, ()):
        delta = np.array([ours[i][field] - theirs[i][field] for i in ids], dtype=np.float64)
        better = -delta if metric == "mae" else delta
        means = delta[picks].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        result[metric] = {"difference": float(delta.mean()), "low": float(low), "high": float(high),
                          "wins": int((better > 0).sum()), "losses": int((better < 0).sum()),
                          "ties": int((better == 0).sum()), "n": len(ids)}
    return result


def write_lamp_outputs(
    path: str | Path, task_name: str | None, predictions: Mapping[str, str]
) -> Path:
    """Write ``predictions`` in LaMP's outputs format (what :func:`read_lamp_outputs` reads).

    ``task_name`` is written as given (``None`` becomes ``null``); pass LaMP's own spelling,
    e.g. ``"LaMP_7"``, for files meant for the official evaluation. Ids are written as strings,
    in the mapping's order; the file is UTF-8 with ``ensure_ascii=False`` and ``indent=1``.
    Parent folders are created.

    Returns:
        The path written.
    """
    path = Path(path)
    records: list[dict[str, str]] = []
    seen: set[str] = set()
    for raw_id, output in predictions.items():
        example_id = str(raw_id)
        if example_id in seen:
            raise DataError(f"{path}: duplicate id {example_id!r} in the predictions to write")
        seen.add(example_id)
        records.append({"id": example_id, "output": _as_text(output, "prediction", example_id)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        json.dump({"task": task_name, "golds": records}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return path


def score_files(
    task_name: str | None, golds_path: str | Path, preds_path: str | Path, against_path: str | Path | None = None
) -> dict[str, Any]:
    """Score a LaMP predictions file against a LaMP golds file.

    With ``against_path`` (another method's predictions for the same ids), the result is
    ``{"metrics": ..., "against": path, "paired": paired_difference(...)}`` instead of the metrics.

    The task is ``task_name`` when given, else the golds file's ``task`` field (``LaMP_7`` and
    ``LaMP-7`` both work). When a name is given *and* the golds file names a different task,
    that is an error rather than a silent choice.

    Raises:
        DataError: either file is malformed, no task is known, the tasks disagree, or the ids of
            the two files differ (the message names them).
    """
    gold_task, golds = read_lamp_outputs(golds_path)
    _, preds = read_lamp_outputs(preds_path)
    if task_name is None and gold_task is None:
        raise DataError(
            f"{golds_path}: no 'task' field in the golds file; name the task explicitly"
        )
    task = get_task(task_name) if task_name is not None else _task_from_file(gold_task, golds_path)
    if task_name is not None and gold_task is not None:
        file_task = _task_from_file(gold_task, golds_path)
        if file_task.name != task.name:
            raise DataError(
                f"{golds_path}: the file is for task {gold_task!r}, but task {task_name!r} "
                "was requested"
            )
    try:
        scores = compute_metrics(task, preds, golds)
    except DataError as exc:
        raise DataError(f"scoring {preds_path} against {golds_path}: {exc}") from exc
    if against_path is None:
        return scores
    _, baseline = read_lamp_outputs(against_path)
    try:
        paired = paired_difference(task, preds, baseline, golds)
    except DataError as exc:
        raise DataError(f"comparing {preds_path} with {against_path}: {exc}") from exc
    return {"metrics": scores, "against": str(against_path), "paired": paired}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _task_from_file(name: str, path: str | Path) -> TaskSpec:
    try:
        return get_task(name)
    except PersonalizeError as exc:
        raise DataError(f"{path}: unknown task {name!r} in the 'task' field ({exc})") from exc


def _as_text(value: Any, what: str, example_id: str) -> str:
    """An output as a string; ints and floats (e.g. a rating) are converted, others refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{what} for id {example_id!r} must be a string, got {type(value).__name__}")


def _show_ids(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_MAX_IDS_SHOWN])
    more = len(ids) - _MAX_IDS_SHOWN
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _string_keyed(outputs: Mapping[Any, Any], what: str) -> dict[str, str]:
    """``outputs`` with string ids and string values; ``what`` names a value in errors."""
    result: dict[str, str] = {}
    for raw_id, value in outputs.items():
        example_id = str(raw_id)
        if example_id in result:
            raise DataError(f"{what}s: ids {example_id!r} collide once converted to strings")
        result[example_id] = _as_text(value, what, example_id)
    return result


def _aligned(
    predictions: Mapping[str, str], golds: Mapping[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """Ids (in the golds' order), predictions and golds, after checking the ids match."""
    preds = _string_keyed(predictions, "prediction")
    refs = _string_keyed(golds, "gold")
    if not refs and not preds:
        raise DataError("nothing to score: no predictions and no golds")
    missing = [i for i in refs if i not in preds]
    extra = [i for i in preds if i not in refs]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} gold id(s) have no prediction: {_show_ids(missing)}")
        if extra:
            parts.append(f"{len(extra)} predicted id(s) have no gold: {_show_ids(extra)}")
        raise DataError(
            f"prediction and gold ids differ ({len(preds)} predictions, {len(refs)} golds); "
            + "; ".join(parts)
        )
    ids = list(refs)
    return ids, [preds[i] for i in ids], [refs[i] for i in ids]


def _labels(task: TaskSpec) -> tuple[str, ...]:
    if not task.labels:
        raise PersonalizeError(f"classification task {task.name!r} has no label list")
    return task.labels


def _class_indices(
    task: TaskSpec, ids: list[str], preds: list[str], refs: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Map stripped predictions/golds to label indices; unknown predictions become ``-1``."""
    index = {label: k for k, label in enumerate(_labels(task))}
    gold_idx = []
    for example_id, gold in zip(ids, refs):
        k = index.get(gold.strip())
        if k is None:
            raise DataError(
                f"gold for id {example_id!r} is {gold!r}, not one of the {task.name} labels: "
                + ", ".join(task.labels or ())
            )
        gold_idx.append(k)
    pred_idx = [index.get(p.strip(), INVALID_LABEL) for p in preds]
    return np.asarray(pred_idx, dtype=np.int64), np.asarray(gold_idx, dtype=np.int64)


def _macro_f1(pred: np.ndarray, gold: np.ndarray, n_labels: int) -> float:
    """Macro-F1 over labels ``0..n_labels-1``; a label with no tp, fp or fn counts as 0.

    Per label, F1 = 2·tp / (2·tp + fp + fn), which equals sklearn's value with
    ``zero_division=0``. A ``-1`` prediction is a false negative for the gold's label only.
    """
    labels = np.arange(n_labels)[:, None]
    is_pred = pred[None, :] == labels
    is_gold = gold[None, :] == labels
    tp = np.sum(is_pred & is_gold, axis=1)
    fp = np.sum(is_pred & ~is_gold, axis=1)
    fn = np.sum(~is_pred & is_gold, axis=1)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_labels, dtype=float), where=denom > 0)
    return float(np.mean(f1))


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores`` ``[n]`` for the boolean ``positive`` ``[n]``; ``nan`` with one class.

    Ties count one half, as in scikit-learn's ``roc_auc_score``: the Mann-Whitney statistic from
    average ranks (fast enough for the thousands of calls of a bootstrap)."""
    if positive.all() or not positive.any():
        return float("nan")
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ranking_metrics(
    task: TaskSpec, ids: list[str], pred_idx: np.ndarray, gold_idx: np.ndarray,
    probabilities: Mapping[str, float] | None, owners: Mapping[str, str] | None,
) -> dict[str, float]:
    """``auc`` and ``user-auc`` of P(positive label) (see the module docstring)."""
    positive_index = _labels(task).index(task.positive_label)
    positive = gold_idx == positive_index
    if probabilities is not None:
        missing = [i for i in ids if i not in probabilities]
        if missing:
            raise DataError(f"{len(missing)} id(s) have no probability: {_show_ids(missing)}")
        scores = np.asarray([float(probabilities[i]) for i in ids], dtype=np.float64)
    else:
        scores = np.where(pred_idx == positive_index, 1.0, np.where(pred_idx == INVALID_LABEL, 0.5, 0.0))
    users = [owners.get(example_id, example_id) if owners else example_id for example_id in ids]
    return {"auc": roc_auc(positive, scores), "user-auc": user_auc(positive, scores, users)}


def user_auc(positive: np.ndarray, scores: np.ndarray, users: Sequence[str]) -> float:
    """The mean of each user's AUC over the users whose examples have both answers (NaN if none):
    ``positive`` and ``scores`` ``[examples]``, ``users[i]`` the owner of example ``i``."""
    groups: dict[str, list[int]] = {}
    for row, user in enumerate(users):
        groups.setdefault(user, []).append(row)
    per_user = [roc_auc(positive[rows], scores[rows]) for rows in groups.values()]
    per_user = [a for a in per_user if not math.isnan(a)]
    return float(np.mean(per_user)) if per_user else float("nan")


def parse_rating(text: str) -> float | None:
    """``float(text.strip())``, or ``None`` when it is not a finite number."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _rating_errors(ids: list[str], preds: list[str], refs: list[str]) -> np.ndarray:
    """Absolute errors; an unparseable prediction counts as the official far end (1 or 5)."""
    errors = []
    for example_id, pred, gold in zip(ids, preds, refs):
        y = parse_rating(gold)
        if y is None or not 1 <= y <= 5:
            raise DataError(f"gold rating for id {example_id!r} is not a rating from 1 to 5: {gold!r}")
        x = parse_rating(pred)
        if x is None:
            # Official LaMP: `if abs(1 - y) > abs(5 - y): return 1.0 else: return 5.0`.
            x = 1.0 if abs(1 - y) > abs(5 - y) else 5.0
        errors.append(abs(x - y))
    return np.asarray(errors, dtype=float)


def _rouge_scores(preds: list[str], refs: list[str]) -> list[tuple[float, float]]:
    """Per-example (ROUGE-1 F, ROUGE-L F) from ``rouge_score``, without stemming."""
    scores = []
    for pred, ref in zip(preds, refs):
        s = rouge_scorer().score(ref, pred)  # score(target, prediction)
        scores.append((float(s["rouge1"].fmeasure), float(s["rougeL"].fmeasure)))
    return scores


def _corpus_bleu(preds: list[str], refs: list[str]) -> float:
    """sacrebleu corpus BLEU (default 13a tokenization), 0-100."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(preds, [refs]).score)
