"""What a comparison's rows say about each other: compression against the baseline, paired
differences against ``none`` and against each row's control; and the examples the report shows."""

from __future__ import annotations

from typing import Any

from personalize.compare.config import ComparisonConfig
from personalize.data.schema import PersonalizationDataset


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


def row_differences(rows: list[dict[str, Any]], scores: dict[str, dict[str, dict[str, Any]]], config: ComparisonConfig,
                     dataset: PersonalizationDataset) -> None:
    """Each model row minus ``none`` (what it adds at all: task adaptation for a control) and minus
    its ``control`` row (what reading the user adds at the same size), user-level intervals."""
    from personalize.evaluation.gains import headline, paired_gain

    user_of = {e.id: e.owner for e in dataset.examples}
    task = dataset.task
    none_row = next((r["name"] for r in rows if r["method"] == "none"), None)
    controls = {spec.name: spec.control for spec in config.methods}

    def difference(row: dict[str, Any], reference: str) -> dict[str, Any]:
        gains = paired_gain(task, scores[row["name"]], [scores[reference]], user_of, seed=config.eval.seed)
        metric = headline(task, gains)
        return {"reference": reference, "metric": metric, **gains[metric], "by_metric": gains}

    for row in rows:
        row["vs_none"] = row["vs_control"] = None
        if none_row and row["name"] != none_row and row["kind"] != "reference":
            row["vs_none"] = difference(row, none_row)
        control = controls.get(row["name"])
        if control:
            row["vs_control"] = difference(row, control)
