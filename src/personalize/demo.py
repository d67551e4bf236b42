"""``make demo``: the side-by-side comparison on synthetic users, offline, on the bundled models.

Synthetic users with distinct writing styles (seeded; labelled synthetic everywhere). E2P, PERSOMA
and the non-personalized soft-prompt control are trained briefly with SmolLM2-135M frozen; then
``none``, ``text`` (k=4), E2P, PERSOMA and the control run on the same dev examples, and the
comparison table, plots and ``report.html`` are written to ``runs/demo/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console


def demo_config(quick: bool = False) -> dict[str, Any]:
    """The demo's comparison config (a plain dict, as a ``configs/*.json`` file would hold)."""
    per_user = 3 if quick else 6
    train = {"epochs": 1 if quick else 3, "batch_size": 8, "lr": 3e-3, "dev_limit": 16, "warmup_ratio": 0.1}
    return {
        "name": "demo",
        "data": f"synthetic-style:seed=0,n_users=8,items_per_user=24,examples_per_user={per_user}",
        "split": "dev",
        "model": "smollm2-135m",
        "eval": {"batch_size": 16, "decoding": {"postprocess": "clean", "no_repeat_ngram_size": 3}},
        "baseline": "text-k4",
        "report_samples": 6,
        "history_lengths": [10, 100] if quick else [10, 100, 1000],
        "history_examples": 2,
        "latency_examples": 4,
        "latency_new_tokens": 16,
        "shuffled_ablation": True,
        "methods": [
            {"name": "none", "method": "none", "settings": {"template": "system"}},
            {"name": "text-k4", "method": "text", "settings": {"retriever": "dense", "k": 4, "template": "system"}},
            {"name": "e2p-1", "method": "e2p", "train": {**train, "adapter": {"num_tokens": 1}}},
            {"name": "persoma-4", "method": "persoma", "train": {**train, "adapter": {"num_tokens": 4}}},
            {"name": "control-prompt-1", "method": "prompt", "train": {**train, "adapter": {"num_tokens": 1}}},
        ],
    }


def run_demo(out: Path = Path("runs/demo"), quick: bool = False, console: Console | None = None,
             print_table: Callable[[list[dict[str, Any]], str], None] | None = None) -> list[dict[str, Any]]:
    from personalize.compare import run_comparison
    from personalize.compare.config import ComparisonConfig

    console = console or Console()
    config = ComparisonConfig.from_dict(demo_config(quick), source="demo")
    console.rule("[bold]personalize demo")
    console.print(
        f"Offline, on the CPU, about {1 if quick else 2} minutes on 2 idle cores, longer on a busy machine "
        "(plus ~20 s once to convert the bundled model):\n"
        "  1. make [yellow]synthetic[/] users (seeded): 8 users, each with a distinct writing style;\n"
        "  2. train E2P (1 soft token), PERSOMA (4) and the non-personalized soft-prompt control briefly,\n"
        "     with SmolLM2-135M-Instruct frozen and MiniLM embedding each user's history;\n"
        "  3. run none, text (4 history items in the prompt), E2P, PERSOMA and the control on the same dev\n"
        "     examples; print the comparison and write the report with its plots.\n"
        f"Results: {out}/ (comparison.md, comparison.json, report.html)."
    )
    start = time.perf_counter()
    rows = run_comparison(config, out, log=lambda line: console.print(line, markup=False, highlight=False))
    if print_table is not None:
        print_table(rows, "demo: synthetic-style dev (synthetic data), SmolLM2-135M frozen")
    console.print(f"done in {time.perf_counter() - start:.0f} s. Report: {out / 'report.html'}")
    console.print("The same comparison on real LaMP-7 data: personalize compare --config configs/compare-lamp7.json")
    return rows
