"""The comparison's plots and its self-contained HTML report.

``report.html`` needs no network and no other file: the CSS is inline and the plots are embedded
as base64 ``data:`` URIs (they are also saved beside it as PNG). Every text taken from data or
model output is HTML-escaped.

Plots (matplotlib, Agg backend):

* ``quality_vs_context.png``: the task's primary metric against mean context tokens per example,
  one labelled point per method; the x axis is symmetric-log (so 0 context stays visible) when
  the context sizes span more than a factor of 20. The dashed line is the Pareto frontier of the
  model-based methods (no other method has as little context and better quality); model-free
  references (``copy``, ``user-majority``) are hollow squares, outside the frontier.
* ``latency_vs_history.png``: time to first token (median, batch 1, input building included; the
  band: first to third quartile of the interleaved passes)
  against the number of history items of the user, one line per model-based method.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personalize.compare.tables import MEASUREMENT_NOTES, latency_note, table_cells

QUALITY_PLOT = "quality_vs_context.png"
LATENCY_PLOT = "latency_vs_history.png"
REPORT = "report.html"

_KIND_STYLE = {
    "reference": {"marker": "s", "color": "#777777", "hollow": True, "label": "model-free reference"},
    "text": {"marker": "o", "color": "#1f77b4", "hollow": False, "label": "text in the prompt"},
    "soft": {"marker": "^", "color": "#d62728", "hollow": False, "label": "soft tokens"},
}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 24px auto;
       max-width: 1400px; padding: 0 16px; color: #1b1b1b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.9em; }
table.results th, table.results td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
table.results td:first-child, table.results th:first-child { text-align: left; font-weight: 600; }
table.results thead th { background: #f0f3f7; }
table.results tbody tr:nth-child(even) { background: #fafafa; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; flex: 1 1 560px; max-width: 680px; }
figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.sample { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.sample h3 { font-size: 1em; margin: 4px 0 8px; }
.io { display: flex; gap: 12px; flex-wrap: wrap; }
.io > div { flex: 1 1 400px; }
.io h4, .outputs th { font-size: 0.85em; color: #555; margin: 0 0 2px; text-align: left; font-weight: 600; }
pre, .outputs td { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, Menlo, Consolas, monospace;
                   font-size: 0.85em; margin: 0; }
pre { background: #f6f8fa; padding: 6px 8px; border-radius: 4px; }
table.outputs { width: 100%; margin-top: 8px; }
table.outputs th, table.outputs td { border-top: 1px solid #eee; padding: 3px 8px; vertical-align: top; }
table.outputs th { width: 12em; }
em.missing { color: #999; font-family: inherit; }
dl dt { font-weight: 600; } dl dd { margin: 0 0 6px 16px; color: #333; font-size: 0.9em; }
"""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _primary(rows: Sequence[dict[str, Any]]) -> tuple[str | None, bool]:
    for row in rows:
        if row.get("primary_metric"):
            return row["primary_metric"], bool(row.get("higher_is_better", True))
    return None, True


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool = True) -> list[int]:
    """Indices of the points no other point dominates (less or equal context, better or equal
    quality, one of them strictly), ordered by context."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if sign * points[i][1] > best:
            front.append(i)
            best = sign * points[i][1]
    return front


def _label_offsets(xs: Sequence[float], ys: Sequence[float], height_points: float, step: float = 10.0) -> list[float]:
    """Vertical label offsets (points) that keep the names of near-coincident points apart.

    Labels of points at the same x are stacked top-down, each at least ``step`` points below
    the previous one; ``height_points`` (the axes' height) converts data units to points.
    """
    if not ys:
        return []
    span = (max(ys) - min(ys)) or 1.0
    per_unit = height_points / (1.1 * span)  # matplotlib's default 5% margins on each side
    offsets = [5.0] * len(xs)
    order = sorted(range(len(xs)), key=lambda i: (round(xs[i], 6), -ys[i]))
    for prev, cur in zip(order, order[1:]):
        if round(xs[prev], 6) == round(xs[cur], 6):
            highest = offsets[prev] - step + (ys[prev] - ys[cur]) * per_unit
            offsets[cur] = min(5.0, highest)
    return offsets


def plot_quality_vs_context(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Primary metric against mean context tokens, one labelled point per row (the Pareto view)."""
    plt = _pyplot()
    metric, higher = _primary(rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    shown = [r for r in rows if metric and r["metrics"].get(metric) is not None]
    xs = [float(r["mean_context_tokens"]) for r in shown]
    ys = [float(r["metrics"][metric]) for r in shown]
    kinds_seen: set[str] = set()
    for row, x, y in zip(shown, xs, ys):
        style = _KIND_STYLE.get(row.get("kind", "text"), _KIND_STYLE["text"])
        label = style["label"] if row.get("kind") not in kinds_seen else None
        kinds_seen.add(row.get("kind", "text"))
        ax.scatter([x], [y], s=60, marker=style["marker"], zorder=3, label=label,
                   facecolors="none" if style["hollow"] else style["color"], edgecolors=style["color"])
    height = ax.get_window_extent().height * 72.0 / fig.dpi
    for (x, y, row), dy in zip(zip(xs, ys, shown), _label_offsets(xs, ys, height)):
        ax.annotate(row["name"], (x, y), textcoords="offset points", xytext=(6, dy), fontsize=8)
    model_based = [i for i, r in enumerate(shown) if r.get("kind") != "reference"]
    front = [model_based[i] for i in pareto_front([(xs[i], ys[i]) for i in model_based], higher)]
    if len(front) > 1:
        ax.plot([xs[i] for i in front], [ys[i] for i in front], linestyle="--", color="#2ca02c", linewidth=1,
                drawstyle="steps-post", zorder=2, label="Pareto frontier")
    positive = [x for x in xs if x > 0]
    wide = bool(positive) and (max(positive) / max(min(positive), 1.0) > 20 or (0.0 in xs and max(positive) > 20))
    if wide:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=-0.3, right=max(positive) * 2.5)
        ax.set_xlabel("mean context tokens per example (symlog scale)")
    else:
        ax.set_xlabel("mean context tokens per example")
        if xs:
            ax.set_xlim(left=min(-0.5, min(xs) - 0.5), right=max(xs) * 1.25 + 1)
    if metric:
        ax.set_ylabel(f"{metric} ({'higher' if higher else 'lower'} is better)")
    if not shown:
        ax.text(0.5, 0.5, "no metrics (no gold outputs)", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"Quality vs context size ({metric or 'no metric'})", fontsize=11)
    ax.grid(True, alpha=0.3)
    if shown:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def plot_latency_vs_history(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Time to first token against history length, one line per model-based row."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    measured = [r for r in rows if r.get("latency_by_history")]
    lengths: list[int] = []
    for i, row in enumerate(measured):
        points = sorted((p["history_items"], p["ttft_ms"]) for p in row["latency_by_history"] if p.get("ttft_ms") is not None)
        if not points:
            continue
        style = _KIND_STYLE.get(row.get("kind", "text"), _KIND_STYLE["text"])
        lengths += [p[0] for p in points]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=style["marker"], linewidth=1.2,
                label=row["name"], color=plt.get_cmap("tab10")(i % 10))
        band = sorted((p["history_items"], p["ttft_q1_ms"], p["ttft_q3_ms"]) for p in row["latency_by_history"]
                      if p.get("ttft_q1_ms") is not None and p.get("ttft_q3_ms") is not None)
        if len(band) == len(points):  # the passes' quartiles, where measured interleaved
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], alpha=0.15,
                            color=plt.get_cmap("tab10")(i % 10), linewidth=0)
    if lengths and max(lengths) / max(min(lengths), 1) >= 10:
        ax.set_xscale("log")
    if lengths:
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no model-based method was measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("history items of the user")
    ax.set_ylabel("time to first token, ms (median, batch 1)")
    disturbed = any((r.get("latency") or {}).get("table", {}).get("disturbed") for r in measured)
    ax.set_title("Latency vs history length" + (" (DISTURBED: see the table's note)" if disturbed else ""), fontsize=11,
                 **({"color": "#b00"} if disturbed else {}))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def read_predictions(out: Path, row: dict[str, Any]) -> dict[str, str]:
    """A finished comparison's answers of one row, from its run folder (``{}`` when unreadable)."""
    path = out / row.get("run_dir", f"runs/{row['name']}") / "predictions.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(g["id"]): str(g["output"]) for g in data.get("golds", [])}


def _table_html(rows: Sequence[dict[str, Any]]) -> str:
    headers, body = table_cells(rows)
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    lines = "\n".join('<tr class="row">' + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in body)
    return f'<table class="results" id="results">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{lines}\n</tbody>\n</table>'


def _answer_html(answer: str | None) -> str:
    if answer is None:
        return '<em class="missing">(no prediction)</em>'
    if not answer.strip():
        return '<em class="missing">(empty answer)</em>'
    return html.escape(answer)


def _samples_html(rows: Sequence[dict[str, Any]], samples: Sequence[dict[str, Any]],
                  predictions: dict[str, dict[str, str]]) -> str:
    e = html.escape
    parts = []
    for sample in samples:
        sid = str(sample["id"])
        gold = sample.get("gold")
        outputs = "\n".join(f"<tr><th>{e(row['name'])}</th><td>{_answer_html(predictions.get(row['name'], {}).get(sid))}</td></tr>"
                            for row in rows)
        history = sample.get("history_items")
        parts.append(
            f'<section class="sample" id="sample-{e(sid)}">\n'
            f"<h3>example {e(sid)} &middot; user {e(str(sample.get('user_id', '')))}"
            + (f" &middot; {int(history)} history items" if history is not None else "") + "</h3>\n"
            f'<div class="io"><div><h4>input</h4><pre>{e(str(sample.get("input", "")))}</pre></div>'
            f"<div><h4>gold</h4><pre>{e(gold) if gold is not None else '(none)'}</pre></div></div>\n"
            f'<table class="outputs">\n{outputs}\n</table>\n</section>')
    return "\n".join(parts) if parts else "<p>No samples (report_samples is 0).</p>"


def _study_html(out: Path) -> str:
    """The "Preference study" section, when ``personalize study rank`` left a ranking in ``out``."""
    path = out / "study_ranking.json"
    if not path.is_file():
        return ""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ""
    e = html.escape
    parts = ['<h2 id="study">Preference study</h2>',
             (f'<p class="meta">Blind pairwise judgments from {e(str(result.get("study", "")))}; '
              f'{e(str(result.get("model", "")))}. 95% intervals: bootstrap over raters and examples.</p>')]
    for group, ranking in result.get("rankings", {}).items():
        rows = "\n".join(
            f"<tr><td>{m['rank']}</td><td>{e(m['name'])}</td><td>{m['strength']:+.3f}</td>"
            f"<td>[{m['low']:+.3f}, {m['high']:+.3f}]</td><td>{m['wins']}-{m['losses']}-{m['ties']}</td></tr>"
            for m in ranking["methods"])
        parts.append(f"<h3>{e(group)}: {ranking['n_judgments']} judgments by {len(ranking['raters'])} rater(s)</h3>\n"
                     '<table class="results study"><thead><tr><th>rank</th><th>method</th><th>strength</th>'
                     f"<th>95% interval</th><th>W-L-T</th></tr></thead>\n<tbody>\n{rows}\n</tbody></table>")
    plot = out / "study_ranking.png"
    if plot.is_file():
        parts.append(f'<figure><img id="plot-study" alt="Bradley-Terry strengths" src="{_data_uri(plot)}"></figure>')
    return "\n".join(parts)


def write_report(out_dir: str | Path, rows: Sequence[dict[str, Any]], samples: Sequence[dict[str, Any]],
                 *, meta: dict[str, Any] | None = None, predictions: dict[str, dict[str, str]] | None = None) -> Path:
    """Draw the two plots into ``out_dir`` and write ``out_dir/report.html``.

    Args:
        rows: the comparison rows (as :func:`personalize.compare.run_comparison` returns them).
        samples: ``{"id", "user_id", "input", "gold", "history_items"}`` per example to show.
        predictions: row name -> example id -> answer, as the comparison holds them in memory;
            ``None`` (a report drawn again later, e.g. by ``personalize study rank``): each
            row's answers are read from ``out_dir/<row's run_dir>/predictions.json``.
        meta: the ``comparison.json`` record (title, data, model, baseline, provenance), optional.

    Returns:
        The path of ``report.html``.
    """
    out = Path(out_dir)
    if predictions is None:
        predictions = {row["name"]: read_predictions(out, row) for row in rows}
    out.mkdir(parents=True, exist_ok=True)
    quality = plot_quality_vs_context(rows, out / QUALITY_PLOT)
    latency = plot_latency_vs_history(rows, out / LATENCY_PLOT)
    meta = meta or {}
    e = html.escape
    title = f"Comparison {meta.get('name', out.name)}"
    model = (meta.get("model") or {}).get("name")
    git = meta.get("git") or {}
    facts = [
        f"{meta['task']} {meta.get('split', '')}" if meta.get("task") else None,
        f"{meta['n_examples']} examples from {meta['data']}" if meta.get("data") else None,
        "synthetic data" if meta.get("synthetic") else None,
        f"base model {model}" if model else None,
        f"compression baseline: {meta.get('baseline') or 'none'}" if "baseline" in meta else None,
        f"created {meta['created']}" if meta.get("created") else None,
        f"git {git.get('commit', '')[:12]}{' (dirty)' if git.get('dirty') else ''}" if git else None,
    ]
    notes = [f"{r['name']}: {r['compression_note']}" for r in rows
             if r.get("compression_ratio") is None and r.get("compression_note")]
    peak = ("GPU memory allocated (torch.cuda.max_memory_allocated)" if any(r.get("peak_cuda_mb") is not None for r in rows)
            else "process RSS high-water mark")
    measured = "\n".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in MEASUREMENT_NOTES.items())
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{e(title)}</h1>
<p class="meta">{e(" · ".join(f for f in facts if f))}</p>
<h2>Results</h2>
{_table_html(rows)}
<p class="meta" id="latency-note">{e(latency_note(rows) or "")}</p>
<p class="meta">peak MB: {e(peak)}.{(" Compression ratio not defined for " + e("; ".join(notes)) + ".") if notes else ""}</p>
<h2>Quality, context and latency</h2>
<div class="plots">
<figure><img id="plot-quality" alt="quality vs context tokens" src="{_data_uri(quality)}">
<figcaption>{e(QUALITY_PLOT)}: primary metric vs mean context tokens;
dashed: Pareto frontier of the model-based methods.</figcaption></figure>
<figure><img id="plot-latency" alt="time to first token vs history length" src="{_data_uri(latency)}">
<figcaption>{e(LATENCY_PLOT)}: time to first token (input building included) vs the user's history length.</figcaption></figure>
</div>
<h2>Samples</h2>
<p class="meta">The same examples for every method; answers as scored (after post-processing).</p>
{_samples_html(rows, samples, predictions)}
{_study_html(out)}
<h2>What is measured</h2>
<dl>
{measured}
</dl>
</body>
</html>
"""
    path = out / REPORT
    path.write_text(document, encoding="utf-8")
    return path
