"""Summary statistics of a :class:`PersonalizationDataset`, as a JSON-serialisable dict."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from personalize.data.schema import PersonalizationDataset


def length_stats(values: Iterable[float]) -> dict[str, float | int | None]:
    """``count``, ``min``, ``median``, ``mean``, ``p90`` and ``max`` (``None`` when empty).

    Percentiles interpolate linearly between order statistics (numpy's default).
    """
    data = sorted(values)
    if not data:
        return {"count": 0, "min": None, "median": None, "mean": None, "p90": None, "max": None}
    return {
        "count": len(data),
        "min": data[0],
        "median": _percentile(data, 50),
        "mean": round(sum(data) / len(data), 3),
        "p90": _percentile(data, 90),
        "max": data[-1],
    }


def _percentile(data: Sequence[float], q: float) -> float:
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    value = data[lo] + (data[hi] - data[lo]) * (pos - lo)
    return round(value, 3) if isinstance(value, float) else value


def _words(text: str) -> int:
    return len(text.split())


def _distribution(values: Iterable[str], labels: Sequence[str] | None) -> dict[str, int]:
    """Counts in the task's label order first (zeros included), then any other value by count."""
    counts = Counter(values)
    out = {label: counts.pop(label, 0) for label in labels or ()}
    out.update(dict(counts.most_common()))
    return out


def inspect_dataset(ds: PersonalizationDataset) -> dict[str, Any]:
    """Counts and distributions that describe ``ds``.

    Keys: ``task``, ``kind``, ``split``, ``source``, ``synthetic``, ``examples``,
    ``examples_with_gold``, ``users`` (distinct users of the examples), ``items_total`` (history
    items over those users), ``profile_length`` (items per user), ``input_words`` and
    ``output_words`` (whitespace-separated words; outputs: gold ones only), ``skipped``; for
    classification and rating tasks also ``label_distribution`` (gold outputs, in the task's
    label order, with ``outside_labels`` counting golds not in the label set), and for tasks with
    a ``label_field`` ``history_label_distribution`` (that field over the users' history items)
    and, where the task has a label list, ``history_outside_labels`` (history values not in it).
    """
    task = ds.task
    user_ids = list(dict.fromkeys(e.user_id for e in ds.examples))
    profiles = [ds.profiles[u] for u in user_ids if u in ds.profiles]
    golds = [e.output for e in ds.examples if e.output is not None]
    info: dict[str, Any] = {
        "task": task.name,
        "kind": task.kind,
        "split": ds.split,
        "source": ds.source,
        "synthetic": ds.synthetic,
        "examples": len(ds.examples),
        "examples_with_gold": len(golds),
        "users": len(user_ids),
        "items_total": sum(len(p) for p in profiles),
        "profile_length": length_stats(len(p) for p in profiles),
        "input_words": length_stats(_words(e.input) for e in ds.examples),
        "output_words": length_stats(_words(g) for g in golds),
    }
    if task.kind in ("classification", "rating"):
        info["label_distribution"] = _distribution((g.strip() for g in golds), task.labels)
        known = set(task.labels or ())
        info["outside_labels"] = sum(1 for g in golds if g.strip() not in known) if known else 0
    if task.label_field:
        field = task.label_field
        values = [str(item[field]).strip() for p in profiles for item in p.items if field in item]
        info["history_label_distribution"] = _distribution(values, task.labels)
        if task.labels:
            known = set(task.labels)
            info["history_outside_labels"] = sum(1 for v in values if v not in known)
    info["skipped"] = dict(ds.skipped)
    return info


__all__ = ["inspect_dataset", "length_stats"]
