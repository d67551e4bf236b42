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
    averaged per example first. Also records each side's mean (``ours``, ``theirs``)."""
    ids = list(ours)
    out: dict[str, dict[str, float]] = {}
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


def _mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")
