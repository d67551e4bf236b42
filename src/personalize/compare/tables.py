"""The comparison table, as cells (terminal, markdown, HTML) and as ``comparison.md``, and the
notes on what each column measures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MEASUREMENT_NOTES: dict[str, str] = {
    "metrics": "the task's official metrics on the same examples for every row (same split, limit, decoding)",
    "mean_context_tokens": "prompt positions per example that carry user context: history text for text methods, "
                           "soft tokens for soft methods, 0 for none and model-free methods",
    "compression_ratio": "baseline's mean context tokens / this row's; null when this row has 0 context tokens "
                         "or there is no baseline (or it has 0 context tokens)",
    "trainable_parameters": "parameters trained for this method (the base model is frozen)",
    "train_seconds": "from the training summary (inline training, or train_summary.json beside a loaded adapter); "
                     "null when unknown",
    "ttft_ms": "batch 1, measured interleaved with the other model-based rows: round-robin passes (the starting "
               "row rotated each pass) after an untimed warm-up pass (per-user caches warm); a pass times each "
               "of the first latency_examples examples: build the inputs (prepare: retrieval / user features / "
               "soft tokens, tokenization) + one forward over the prompt with the KV cache and the greedy first "
               "token; the cell is the median of the passes' medians [first–third quartile of the passes]",
    "prepare_ms": "the input-building part of ttft_ms (median of the passes)",
    "decode_tokens_per_second": "one greedy generate() of N new tokens per pass (min_new_tokens=N, so EOS cannot "
                                "stop it), batch 1, on example (pass mod latency_examples): the N - 1 steps after "
                                "the prefill, timed inside the call; median of the passes",
    "latency": "per row: the passes' median and quartiles of each latency column, and the check (the table's `latency "
               "check` column): ok, disturbed (the machine's 1-min load average above its cores, other processes using "
               "the cores this process's torch threads need, or the row's passes spread with IQR/median above 0.25) or "
               "out of bounds (a row with fewer prompt positions whose forward time, TTFT minus prepare, is slower than"
               " another row's beyond the noise; rows with hooks inside the base model are not compared): marked ⚠ next"
               " to the number; the machine's load is in latency.load",
    "peak_rss_mb": "process resident-set high-water mark during this row's evaluation (reset before each row "
                   "through /proc/self/clear_refs; where that is not possible, the process-lifetime maximum from "
                   "getrusage); includes the base model and the Python runtime",
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
    "latency_by_history": "ttft_ms (measured as ttft_ms, interleaved, without decoding, at most 3 passes) on copies of "
                          "the first examples whose user history is cut to its most recent L items, or extended to L by"
                          " repeating the user's items cyclically; the plot's band: first to third quartile",
}


def fmt_cell(value: Any, digits: int = 1, *, thousands: bool = False, suffix: str = "") -> str:
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
    if gains:  # in the task's primary metric (AUC where it ranks); for an error (MAE) lower is better
        helps = ">" if gains[0].get("higher_is_better", True) else "<"
        ablation_header = [f"own − other user's history ({gains[0]['metric']}; {helps} 0: own helps)"]
    # a gain is quoted in AUC where the task ranks (every row gave probabilities), else the primary metric
    quoted = {key: next((row[key].get("metric", primary) for row in rows if row.get(key)), primary) for key, _ in differences}
    difference_headers = [f"{title} ({quoted[key]})" for key, title in differences]
    checked = any(row.get("latency") for row in rows)
    headers = ["method", *metrics, *difference_headers, *ablation_header, "context tok", "compression",
               "trainable params", "train s", "TTFT ms", "prepare ms", "decode tok/s",
               *(["latency check"] if checked else []), "peak MB"]
    body = []
    for row in rows:
        peak = row["peak_cuda_mb"] if row.get("peak_cuda_mb") is not None else row["peak_rss_mb"]
        gain = row.get("user_gain")
        body.append([
            row["name"],
            *[fmt_cell(row["metrics"].get(m), 4) for m in metrics],
            *[fmt_interval(row.get(key), quoted[key]) for key, _ in differences],
            *([fmt_interval(gain, gains[0]["metric"])] if ablated else []),
            fmt_cell(row["mean_context_tokens"], 1),
            fmt_cell(row["compression_ratio"], 1, suffix="×"),
            fmt_cell(row["trainable_parameters"], thousands=True),
            fmt_cell(row["train_seconds"], 0),
            *latency_cells(row, checked),
            fmt_cell(peak, 0),
        ])
    return headers, body


def latency_cells(row: dict[str, Any], checked: bool) -> list[str]:
    """TTFT [quartiles], prepare, decode and (``checked``) the verdict; ⚠ where the numbers do not hold."""
    from personalize.compare.timing import timing_cell

    latency = row.get("latency")
    if not latency:  # a row measured before interleaving, or a model-free row
        plain = [fmt_cell(row.get("ttft_ms"), 1), fmt_cell(row.get("prepare_ms"), 1), fmt_cell(row.get("decode_tokens_per_second"), 1)]
        return plain + (["–"] if checked else [])
    status = latency["check"]["status"]
    return [timing_cell(latency["ttft_ms"], status), fmt_cell(row.get("prepare_ms"), 1),
            timing_cell(latency["decode_tokens_per_second"], status),
            "; ".join([status, *(r for r in latency["check"]["reasons"] if r not in latency["table"]["reasons"])])]


def latency_note(rows: Sequence[dict[str, Any]]) -> str | None:
    """The line under a comparison table: passes, the machine's load, and whether the latency holds."""
    from personalize.compare.timing import table_note

    latency = next((row["latency"] for row in rows if row.get("latency")), None)
    if latency is None:
        return None
    return table_note(latency["table"], latency["load"], passes=latency["passes"])


def fmt_interval(gain: dict[str, Any] | None, column_metric: str | None = None) -> str:
    """``+d [low, high]``; the gain's metric named when it is not the column's."""
    if not gain:
        return "–"
    other = f" ({gain['metric']})" if column_metric and gain.get("metric", column_metric) != column_metric else ""
    return f"{gain['difference']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]{other}"


def attribute_cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]] | None:
    """The task's extra metrics (e.g. synthetic-style's attribute accuracies) with each user's own
    history and, for rows with the ablation, with another user's: ``own / other``; ``None`` when
    the task has no extra metrics or no row was ablated."""
    ablated = [row for row in rows if row.get("user_gain") and row["user_gain"].get("by_metric")]
    if not ablated:
        return None
    official = {"rouge-1", "rouge-L", "bleu", "accuracy", "f1", "mae", "rmse", "auc", "user-auc"}
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
            cells.append(fmt_cell(own, 2) + (f" / {other:.2f}" if other is not None else ""))
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
    note = latency_note(rows)
    if note:
        lines += [note, ""]
    lines += [f"peak MB: {peak}.", "", "## What is measured", ""]
    lines += [f"- **{key}**: {text}" for key, text in MEASUREMENT_NOTES.items()]
    return "\n".join(lines) + "\n"
