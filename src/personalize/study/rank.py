"""Rank the study's methods: Bradley-Terry strengths with bootstrap intervals, win rates, agreement.

Rankings are made **per group of raters and never pooled across groups**: all human raters form
the group ``human``; every machine rater (``oracle``, ``user-likeness``, ``user-likeness:<encoder>``)
is a group of its own. Skips are not comparisons. Pairs whose outputs are identical were recorded
as ties at creation (rater ``identical-outputs``); they join every group once, as if one rater had
judged them, unless ``include_identical`` is false.

Model: Bradley-Terry, P(i beats j) = exp(s_i) / (exp(s_i) + exp(s_j)), fitted by
``choix.ilsr_pairwise_dense`` (maximum likelihood through the Markov chain of Maystre &
Grossglauser 2015) on a matrix of wins where **a tie counts as half a win for each side**; a small
``alpha`` regularises it, so that a method that won every comparison still gets a finite
strength. Strengths are natural-log and centred (mean 0).

Intervals: a two-level bootstrap that resamples raters and examples (both with replacement); a
judgment's weight in a replicate is (times its rater was drawn) x (times its example was drawn).
The 95% interval is the 2.5-97.5 percentile range of the replicates (strengths and ranks).

Agreement (a group with several raters): over the pairs that two or more raters judged (skips
left out), the share of rater pairs that made the same choice, and Krippendorff's alpha for
nominal data over the choices left / right / tie.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from personalize.errors import DataError
from personalize.study import store

ALPHA = 0.01
_OUTCOMES = ("left", "right", "tie")


def fit_bradley_terry(comp: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Log-strengths ``(n,)``, centred, from ``comp`` ``(n, n)``: ``comp[i, j]`` = wins of i over j
    (ties already split as 0.5 each way)."""
    import choix

    params = choix.ilsr_pairwise_dense(np.asarray(comp, dtype=np.float64), alpha=alpha, max_iter=1000)
    return params - params.mean()


def krippendorff_alpha_nominal(units: list[list[str]]) -> float | None:
    """Krippendorff's alpha for nominal values; ``units`` holds each item's values (one per rater).

    Items with fewer than two values are not pairable and are left out. Returns ``None`` when it
    is undefined (no pairable item, or a single value throughout: no expected disagreement).
    """
    units = [u for u in units if len(u) >= 2]
    if not units:
        return None
    categories = sorted({v for u in units for v in u})
    index = {c: i for i, c in enumerate(categories)}
    coincidence = np.zeros((len(categories), len(categories)))
    for unit in units:
        counts = Counter(unit)
        m = len(unit)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nk - 1) if c == k else nc * nk
                coincidence[index[c], index[k]] += pairs / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Agreement between the raters of ``rows`` (skips left out); ``None`` with fewer than two raters."""
    by_pair: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        if row["choice"] != "skip":
            by_pair[row["pair_id"]].append(row["choice"])
    if len({row["rater"] for row in rows}) < 2:
        return None
    units = [v for v in by_pair.values() if len(v) >= 2]
    agree = total = 0
    for unit in units:
        counts = Counter(unit)
        agree += sum(c * (c - 1) for c in counts.values())
        total += len(unit) * (len(unit) - 1)
    return {"pairs_judged_by_several": len(units),
            "pairwise_agreement": round(agree / total, 4) if total else None,
            "krippendorff_alpha": None if (a := krippendorff_alpha_nominal(units)) is None else round(a, 4)}


def _comparison_matrix(n: int, winners: np.ndarray, losers: np.ndarray, ties_a: np.ndarray, ties_b: np.ndarray,
                       win_weights: np.ndarray, tie_weights: np.ndarray) -> np.ndarray:
    comp = np.zeros((n, n))
    np.add.at(comp, (winners, losers), win_weights)
    np.add.at(comp, (ties_a, ties_b), 0.5 * tie_weights)
    np.add.at(comp, (ties_b, ties_a), 0.5 * tie_weights)
    return comp


def _ranks(strengths: np.ndarray) -> np.ndarray:
    """1 for the strongest; ``(..., n)`` -> same shape."""
    order = np.argsort(-strengths, axis=-1, kind="stable")
    return np.argsort(order, axis=-1, kind="stable") + 1


def rank_group(rows: list[dict[str, Any]], identical: list[dict[str, Any]], methods: list[str], *,
               bootstrap: int = 1000, seed: int = 0, alpha: float = ALPHA) -> dict[str, Any]:
    """The ranking of one rater group.

    Args:
        rows: the group's judgments (as :func:`personalize.study.store.judgments` gives them).
        identical: ties recorded for identical outputs (added once, resampled with their example).
        methods: every method of the study (each gets a strength, judged or not).

    Returns:
        ``{"raters": {name: judgments}, "n_judgments", "n_skipped", "n_ties", "n_identical",
        "methods": [{"name", "strength", "low", "high", "rank", "rank_low", "rank_high", "wins",
        "losses", "ties", "comparisons", "win_rate"}] (strongest first), "win_rate": {"methods",
        "matrix", "counts"}, "agreement", "bootstrap": {...}}``.
    """
    index = {m: i for i, m in enumerate(methods)}
    n = len(methods)
    judged = [r for r in rows if r["choice"] != "skip"]
    everything = judged + identical
    raters = sorted({r["rater"] for r in judged})
    examples = sorted({r["example_id"] for r in everything})
    r_index = {r: i for i, r in enumerate(raters)}
    e_index = {e: i for i, e in enumerate(examples)}

    left = np.array([index[r["left_method"]] for r in everything], dtype=int)
    right = np.array([index[r["right_method"]] for r in everything], dtype=int)
    choice = np.array([r["choice"] for r in everything])
    ex = np.array([e_index[r["example_id"]] for r in everything], dtype=int)
    # identical ties have no rater of the group: their rater weight is always 1
    rater = np.array([r_index.get(r["rater"], -1) for r in everything], dtype=int)
    decisive = choice != "tie"
    winners = np.where(choice == "left", left, right)[decisive]
    losers = np.where(choice == "left", right, left)[decisive]
    tie_a, tie_b = left[~decisive], right[~decisive]

    def comp_for(weights: np.ndarray) -> np.ndarray:
        return _comparison_matrix(n, winners, losers, tie_a, tie_b, weights[decisive], weights[~decisive])

    comp = comp_for(np.ones(len(everything)))
    counts = comp + comp.T
    strengths = fit_bradley_terry(comp, alpha) if len(everything) else np.zeros(n)

    rng = np.random.default_rng(seed)
    samples = np.zeros((bootstrap, n))
    for b in range(bootstrap if everything else 0):
        r_counts = np.bincount(rng.integers(0, len(raters), len(raters)), minlength=len(raters)) if raters else np.zeros(0)
        e_counts = np.bincount(rng.integers(0, len(examples), len(examples)), minlength=len(examples))
        r_weight = np.where(rater >= 0, r_counts[np.maximum(rater, 0)] if raters else 1, 1)
        samples[b] = fit_bradley_terry(comp_for(r_weight * e_counts[ex]), alpha)
    low, high = (np.percentile(samples, [2.5, 97.5], axis=0) if bootstrap else (strengths, strengths))
    rank = _ranks(strengths)
    boot_ranks = _ranks(samples) if bootstrap else rank[None, :]
    rank_low, rank_high = np.percentile(boot_ranks, [2.5, 97.5], axis=0)

    wins = comp.sum(axis=1)  # ties included as halves
    ties_per = np.zeros(n)
    np.add.at(ties_per, tie_a, 1)
    np.add.at(ties_per, tie_b, 1)
    total = counts.sum(axis=1)
    table = []
    for i in np.argsort(-strengths, kind="stable"):
        decisive_wins = float(wins[i] - 0.5 * ties_per[i])
        table.append({
            "name": methods[i], "strength": round(float(strengths[i]), 4),
            "low": round(float(low[i]), 4), "high": round(float(high[i]), 4),
            "rank": int(rank[i]), "rank_low": int(np.floor(rank_low[i])), "rank_high": int(np.ceil(rank_high[i])),
            "wins": round(decisive_wins), "losses": round(float(total[i] - decisive_wins - ties_per[i])),
            "ties": int(ties_per[i]), "comparisons": int(total[i]),
            "win_rate": round(float(wins[i] / total[i]), 4) if total[i] else None,
        })
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, comp / np.where(counts > 0, counts, 1), np.nan)
    return {
        "raters": dict(sorted(Counter(r["rater"] for r in rows).items())),
        "n_judgments": len(judged),
        "n_skipped": len(rows) - len(judged),
        "n_ties": int((choice[: len(judged)] == "tie").sum()),
        "n_identical": len(identical),
        "methods": table,
        "win_rate": {"methods": methods,
                     "matrix": [[None if np.isnan(v) else round(float(v), 4) for v in line] for line in rates],
                     "counts": [[int(v) for v in line] for line in counts]},
        "agreement": agreement(rows),
        "bootstrap": {"replicates": bootstrap, "seed": seed, "resampled": ["raters", "examples"], "interval": 0.95},
    }


def group_of(row: dict[str, Any]) -> str:
    """The rater group: ``human`` for every person, the rater's own name for a machine."""
    return "human" if row["kind"] == store.HUMAN else row["rater"]


def rank_study(path: str | Path, *, bootstrap: int = 1000, seed: int = 0, include_identical: bool = True,
               groups: list[str] | None = None, alpha: float = ALPHA) -> dict[str, Any]:
    """Rank the methods of the study file ``path``, one ranking per rater group.

    Returns:
        ``{"study", "task", "data", "split", "synthetic", "methods", "model", "rankings": {group: ...}}``
        with each group's record as :func:`rank_group` returns it.

    Raises:
        DataError: not a study file, no judgment at all, or an unknown group.
    """
    conn = store.connect(path)
    try:
        meta = store.get_meta(conn)
        methods = [row[0] for row in conn.execute("SELECT name FROM methods ORDER BY rowid")]
        rows = store.judgments(conn)
    finally:
        conn.close()
    identical = [r for r in rows if r["kind"] == "identical"] if include_identical else []
    judged = [r for r in rows if r["kind"] != "identical"]
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in judged:
        by_group[group_of(row)].append(row)
    if groups:
        unknown = [g for g in groups if g not in by_group]
        if unknown:
            raise DataError(f"{path}: no judgments by {', '.join(unknown)}; there are: {', '.join(sorted(by_group)) or 'none'}")
        by_group = {g: by_group[g] for g in groups}
    if not by_group:
        raise DataError(f"{path}: no judgments yet (serve it to people, or run `personalize study judge`)")
    order = sorted(by_group, key=lambda g: (g != "human", g))
    return {
        "study": str(path), "task": meta.get("task"), "data": meta.get("data"), "split": meta.get("split"),
        "synthetic": meta.get("synthetic"), "methods": methods,
        "model": f"Bradley-Terry via choix.ilsr_pairwise_dense (alpha={alpha}); a tie is half a win for each side; "
                 "rater groups are never pooled",
        "rankings": {g: rank_group(by_group[g], identical, methods, bootstrap=bootstrap, seed=seed, alpha=alpha)
                     for g in order},
    }


def plot_ranking(result: dict[str, Any], path: str | Path) -> Path:
    """Strengths with 95% intervals, one panel per rater group, strongest on top."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    groups = list(result["rankings"])
    n_methods = len(result["methods"])
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups) + 1.2, 0.45 * n_methods + 1.6), dpi=110,
                             squeeze=False, sharey=False)
    for ax, group in zip(axes[0], groups):
        ranking = result["rankings"][group]
        table = list(reversed(ranking["methods"]))
        ys = np.arange(len(table))
        xs = np.array([m["strength"] for m in table])
        err = np.array([[m["strength"] - m["low"] for m in table], [m["high"] - m["strength"] for m in table]])
        ax.errorbar(xs, ys, xerr=np.maximum(err, 0), fmt="o", color="#1f77b4", ecolor="#7aa6d6", capsize=3)
        ax.set_yticks(ys, [m["name"] for m in table], fontsize=8)
        ax.axvline(0, color="#999", linewidth=0.8, linestyle=":")
        ax.set_xlabel("Bradley-Terry log-strength (95% bootstrap interval)", fontsize=8)
        ax.set_title(f"{group}: {ranking['n_judgments']} judgments, {len(ranking['raters'])} rater(s)", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"Preference study, {result.get('task')}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_ranking(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path


RANKING_JSON = "study_ranking.json"
RANKING_PLOT = "study_ranking.png"


def add_to_report(result: dict[str, Any], compare_dir: str | Path) -> Path:
    """Save the ranking into a compare folder and write its ``report.html`` again with it.

    ``compare_dir/study_ranking.json`` and ``.png`` are what the report's "Preference study"
    section shows (:func:`personalize.compare.report.write_report` reads them whenever they exist).

    Raises:
        DataError: ``compare_dir`` holds no ``comparison.json``.
    """
    from personalize.compare.report import write_report

    folder = Path(compare_dir)
    record_path = folder / "comparison.json"
    if not record_path.is_file():
        raise DataError(f"{folder}: no comparison.json, so no report to add the ranking to")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    write_ranking(result, folder / RANKING_JSON)
    plot_ranking(result, folder / RANKING_PLOT)
    return write_report(folder, record["rows"], record.get("samples", []), meta=record)
