"""Where a method's gain comes from, with intervals that resample **users**.

Examples of one user are not independent: they share the user's history, and on a benchmark with
a few users (6 book reviewers, the demo's held-out users) an interval that resamples examples
claims far more certainty than the data has. Every interval here is a cluster bootstrap: users
are drawn with replacement, and each drawn user brings all of their examples.

Two gains are kept apart (see the README's "Is any of it personalization?"):

* **task adaptation**: what a trained method gains without reading the user, e.g. the soft-prompt
  control minus ``none``;
* **personalization**: what reading *this* user's history adds, measured two ways: the method with
  each user's own history minus the same method with another user's history (averaged over
  several derangements of the users), and the method minus its same-size control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from personalize.data.tasks import TaskSpec

# the per-example field behind each metric that is a mean over examples (not macro-F1, RMSE, BLEU)
PER_EXAMPLE_FIELD = {"rouge-1": "rouge-1", "rouge-L": "rouge-L", "accuracy": "correct", "mae": "abs_error"}


def mean_metrics(task: TaskSpec) -> list[str]:
    """The task's metrics that are means over examples, hence comparable example by example."""
    names = [m for m in task.metric_names if m in PER_EXAMPLE_FIELD and (task.kind != "rating" or m == "mae")]
    return names + list(task.extra_metrics)


def field_of(metric: str) -> str:
    return PER_EXAMPLE_FIELD.get(metric, metric)


def cluster_bootstrap(
    delta: Sequence[float | None], users: Sequence[str], *, resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean of ``delta`` (per example; ``None`` = not applicable) with a 95% interval from a
    user-level bootstrap: users drawn with replacement, each with all of their examples, the
    statistic the mean over the drawn examples.

    Returns ``{"difference", "low", "high", "n", "users"}`` (``nan`` when nothing applies).
    """
    pairs = [(u, float(d)) for u, d in zip(users, delta) if d is not None and not np.isnan(d)]
    if not pairs:
        return {"difference": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "users": 0}
    names = sorted({u for u, _ in pairs})
    index = {u: i for i, u in enumerate(names)}
    sums = np.zeros(len(names))
    counts = np.zeros(len(names))
    for u, d in pairs:
        sums[index[u]] += d
        counts[index[u]] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    means = sums[draws].sum(1) / counts[draws].sum(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"difference": float(sums.sum() / counts.sum()), "low": float(low), "high": float(high),
            "n": len(pairs), "users": len(names)}


def paired_gain(
    task: TaskSpec,
    ours: Mapping[str, Mapping[str, float | None]],
    theirs: Sequence[Mapping[str, Mapping[str, float | None]]],
    user_of: Mapping[str, str],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``ours`` minus the mean of ``theirs`` (per-example scores from
    :func:`personalize.metrics.per_example_scores`, same ids), per mean metric of the task, with a
    user-level bootstrap interval. ``theirs`` may hold several runs (e.g. several derangements),
    averaged per example first (the AUC per run, :func:`auc_gain`). Also records each side's mean (``ours``, ``theirs``). Where the
    task ranks and every run carries P(positive) (:func:`with_probabilities`), adds ``auc``
    (:func:`auc_gain`)."""
    ids = list(ours)
    out: dict[str, dict[str, float]] = {}
    if task.positive_label is not None and all(PROBABILITY in ours[i] and all(PROBABILITY in t[i] for t in theirs)
                                               for i in ids):
        out["auc"] = auc_gain([bool(ours[i][POSITIVE]) for i in ids], [ours[i][PROBABILITY] for i in ids],
                              [[t[i][PROBABILITY] for i in ids] for t in theirs], [user_of[i] for i in ids],
                              resamples=resamples, seed=seed)
    for metric in mean_metrics(task):
        key = field_of(metric)
        mine: list[float | None] = []
        other: list[float | None] = []
        for i in ids:
            a = ours[i].get(key)
            bs = [t[i].get(key) for t in theirs if t[i].get(key) is not None]
            mine.append(a)
            other.append(float(np.mean(bs)) if bs else None)
        delta = [None if a is None or b is None else a - b for a, b in zip(mine, other)]
        stats = cluster_bootstrap(delta, [user_of[i] for i in ids], resamples=resamples, seed=seed)
        stats["ours"] = _mean(mine)
        stats["theirs"] = _mean(other)
        out[metric] = stats
    return out


def headline(task: TaskSpec, gains: Mapping[str, Any]) -> str:
    """The metric a gain is quoted in: AUC where the task ranks and both runs gave probabilities
    (MovieLens: what the literature reports), else the task's primary metric, else accuracy (a
    ranked task's run without a probability for every example has no AUC to quote)."""
    return next((metric for metric in ("auc", task.primary_metric, "accuracy") if metric in gains), task.primary_metric)


PROBABILITY = "p_positive"
POSITIVE = "positive"


def with_probabilities(task: TaskSpec, scores: Mapping[str, Mapping[str, Any]], probabilities: Mapping[str, float],
                       golds: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``scores`` (per example) with each example's P(positive label) and whether its gold is
    the positive label added, so that :func:`paired_gain` also reports the AUC gain. Unchanged
    when the task ranks nothing or the run has no probability for some example."""
    if task.positive_label is None or any(i not in probabilities for i in scores):
        return {i: dict(s) for i, s in scores.items()}
    return {i: {**s, PROBABILITY: float(probabilities[i]), POSITIVE: golds[i].strip() == task.positive_label}
            for i, s in scores.items()}


def auc_gain(positive: Sequence[bool], ours: Sequence[float], theirs: Sequence[Sequence[float]], users: Sequence[str],
             *, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """AUC of ``ours`` minus the mean AUC of the runs in ``theirs`` (per-example P(positive)) on
    the same examples, with a user-level bootstrap 95% interval: users drawn with replacement, each
    bringing all of their examples, every AUC computed on the pooled draw (a draw with one class
    is redrawn).

    Each run of ``theirs`` (e.g. one derangement of the users) is scored on its own and the AUCs
    averaged, not the probabilities: the mean of several other users' P(positive) is an ensemble
    that ranks better than any one of them, and would shrink the own − other gain.

    Returns ``{"difference", "low", "high", "n", "users", "ours", "theirs"}``.
    """
    from personalize.metrics import roc_auc

    gold = np.asarray(positive, dtype=bool)
    mine = np.asarray(ours, dtype=np.float64)
    others = np.asarray(theirs, dtype=np.float64)  # [runs, examples]
    names = sorted(set(users))
    rows_of = {u: [] for u in names}
    for row, u in enumerate(users):
        rows_of[u].append(row)
    groups = [np.asarray(rows_of[u]) for u in names]

    def aucs(rows: np.ndarray | slice) -> tuple[float, float]:
        """(AUC of ours, mean AUC of the runs in theirs) on ``rows``."""
        return roc_auc(gold[rows], mine[rows]), float(np.mean([roc_auc(gold[rows], run[rows]) for run in others]))

    ours_auc, theirs_auc = aucs(slice(None))
    rng = np.random.default_rng(seed)
    draws: list[float] = []
    for _ in range(resamples * 2):
        if len(draws) == resamples:
            break
        rows = np.concatenate([groups[k] for k in rng.integers(0, len(groups), size=len(groups))])
        ours_draw, theirs_draw = aucs(rows)
        delta = ours_draw - theirs_draw
        if not np.isnan(delta):
            draws.append(delta)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return {"difference": ours_auc - theirs_auc, "low": float(low), "high": float(high), "n": len(gold),
            "users": len(names), "ours": ours_auc, "theirs": theirs_auc}


def _mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")
