"""What a method costs at 135M and at a 1B-shaped model: training step, memory, TTFT, decode.

For each model of ``--models`` (default: the bundled SmolLM2-135M and ``random:llama-1.2b``, a
Llama-architecture model of 1.17B parameters with random weights built from a config, see
:mod:`personalize.models.shapes`; costs do not depend on trained weights), one after another in
one process:

1. **training** with the base frozen: an untrained E2P-1 adapter's train step (embed + forward +
   loss + backward + AdamW, eager, as the trainer runs it) interleaved with the frozen forward
   on the same batch (``--train-batch`` x ``--train-tokens``, ``--train-answer`` of them the
   loss's): median [quartiles] of ``--repeats``, tokens/s, and the peak memory of those steps
   (process RSS high-water mark on the CPU, ``torch.cuda.max_memory_allocated`` on a GPU);
2. **serving**: ``personalize bench``'s measurement (:func:`personalize.compare.bench.run_bench`)
   of ``none``, ``text-k4`` and ``e2p-1`` at ``--batch-sizes`` (warm users, round-robin,
   ``--repeats``, ``--new-tokens``; E2P reads MiniLM user vectors): TTFT and decode tokens/s, each judged (disturbed / out of
   bounds) with the machine's load beside it.

It prints the table with one column per model and the last model's ratio to the first, and
writes ``scale.json`` (everything, with the machine and the load) and ``scale.md`` to ``--out``.

    python benchmarks/scale_1b.py --data ../shared/data/lamp7 [--repeats 5] [--out runs/scale]
    python benchmarks/scale_1b.py --device cuda --dtype bf16 ...     # on a GPU
    python benchmarks/scale_1b.py --models random:llama-tiny --repeats 1 --batch-sizes 1,2 \\
        --train-batch 2 --train-tokens 40 --train-answer 10   # a quick check
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any

import torch
from common import train_bench

from personalize.cli.common import quiet_libraries as _quiet_libraries
from personalize.compare.bench import BenchOptions, run_bench
from personalize.compare.latency import peak_memory, reset_peak_memory
from personalize.compare.timing import MARK, LoadMonitor, assess, run_interleaved, spread, table_note
from personalize.errors import PersonalizeError
from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions

METHODS = ["none", "text-k4", "e2p-1"]


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"error: {flag} expects comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"error: {flag} expects positive integers, got {text!r}")
    return values


def measure_training(loaded: Any, args: argparse.Namespace) -> dict[str, Any]:
    """E2P-1 train step vs frozen forward, interleaved; seconds per batch [B x T] and peak memory."""
    bench = train_bench(loaded, method="e2p", num_tokens=1, batch=args.train_batch, tokens=args.train_tokens,
                        answer=args.train_answer)

    scope = reset_peak_memory(loaded.device)
    with LoadMonitor() as monitor:
        runs = run_interleaved({"forward": bench.timed(bench.forward_only), "train": bench.timed(bench.train_step)}, args.repeats)
    memory = peak_memory(loaded.device)
    spreads = {name: spread(values) for name, values in runs.items()}
    verdict = assess(spreads, monitor.load)
    train, forward = spreads["train"]["median"], spreads["forward"]["median"]
    return {
        "batch": args.train_batch, "tokens": args.train_tokens, "answer": args.train_answer,
        "trainable_parameters": bench.trainable,
        "train_step_s": spreads["train"], "forward_s": spreads["forward"],
        "train_tokens_per_second": round(bench.real_tokens / train, 1),
        "forward_tokens_per_second": round(bench.real_tokens / forward, 1),
        "train_over_forward_throughput": round(forward / train, 3),
        "peak_mb": memory["peak_cuda_mb"] if memory["peak_cuda_mb"] is not None else memory["peak_rss_mb"],
        "peak_kind": "cuda allocated" if memory["peak_cuda_mb"] is not None else f"process RSS ({scope})",
        "weights_mb": round(sum(p.numel() * p.element_size() for p in loaded.model.parameters()) / 2**20, 1),
        "load": monitor.load, "disturbed": verdict["disturbed"], "reasons": verdict["reasons"],
    }


def measure_model(name: str, args: argparse.Namespace, dataset: Any, say: Any) -> dict[str, Any]:
    from personalize.models import load_base_model, load_encoder

    say(f"{name}: loading ({args.dtype}, {args.device})")
    loaded = load_base_model(name, dtype=args.dtype, device=args.device)
    say(f"{name}: {loaded.num_parameters:,} parameters; training step (E2P-1, base frozen), {args.repeats} repeats")
    training = measure_training(loaded, args)
    say(f"{name}: serving none, text-k4, e2p-1 at batch {args.batch_sizes}, {args.repeats} repeats")
    options = BenchOptions(methods=METHODS, batch_sizes=args.batch_sizes, repeats=args.repeats,
                           new_tokens=args.new_tokens, history_lengths=[], cold=False, prefix_cache=False)
    serving = run_bench(dataset, loaded, lambda: load_encoder("minilm-l6", device=args.device), options,
                        log=lambda row: None)
    record = {"model": loaded.info(), "training": training, "serving": serving}
    del loaded
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return record


def _row(record: dict[str, Any], method: str, batch: int) -> dict[str, Any] | None:
    return next((r for r in record["serving"]["rows"] if r["method"] == method and r["batch"] == batch
                 and r["state"] == "warm"), None)


def table(records: list[dict[str, Any]], batch_sizes: list[int]) -> tuple[list[str], list[list[str]]]:
    """One line per quantity, one column per model, then last / first (⚠: a disturbed measurement)."""
    headers = ["quantity", *[r["model"]["name"] for r in records]] + (
        [f"{records[-1]['model']['name']} / {records[0]['model']['name']}"] if len(records) > 1 else [])
    lines: list[list[str]] = []

    def add(label: str, values: list[float | None], flags: list[bool], digits: int = 1) -> None:
        cells = [("–" if v is None else f"{v:,.{digits}f}") + (f" {MARK}" if bad else "") for v, bad in zip(values, flags)]
        if len(values) > 1:
            a, b = values[0], values[-1]
            cells.append("–" if not a or b is None else f"{b / a:.2f}x" + (f" {MARK}" if flags[0] or flags[-1] else ""))
        lines.append([label, *cells])

    add("parameters (M)", [r["model"]["parameters"] / 1e6 for r in records], [False] * len(records))
    t = [r["training"] for r in records]
    tflags = [x["disturbed"] for x in t]
    add(f"train step s (E2P-1, batch {t[0]['batch']} x {t[0]['tokens']} tok)", [x["train_step_s"]["median"] for x in t],
        tflags, 3)
    add("frozen forward s (same batch)", [x["forward_s"]["median"] for x in t], tflags, 3)
    add("train tokens/s", [x["train_tokens_per_second"] for x in t], tflags, 0)
    add("train / forward throughput", [x["train_over_forward_throughput"] for x in t], tflags, 2)
    add("peak memory MB (training)", [x["peak_mb"] for x in t], [False] * len(t), 0)
    for batch in batch_sizes:
        for key, label, digits in (("ttft_ms", "TTFT ms", 1), ("decode_tokens_per_second", "decode tok/s", 1)):
            for method in METHODS:
                rows = [_row(r, method, batch) for r in records]
                add(f"{label} {method}, batch {batch}", [x[key] if x else None for x in rows],
                    [bool(x) and x.get("check", {}).get("status", "ok") != "ok" for x in rows], digits)
        for other in ("none", "text-k4"):
            values, flags = [], []
            for r in records:
                a, b = _row(r, "e2p-1", batch), _row(r, other, batch)
                values.append(a["ttft_ms"] / b["ttft_ms"] if a and b else None)
                flags.append(any(x and x.get("check", {}).get("status", "ok") != "ok" for x in (a, b)))
            add(f"TTFT e2p-1 / {other}, batch {batch}", values, flags, 2)
    return headers, lines


def notes(records: list[dict[str, Any]], repeats: int) -> list[str]:
    out = []
    for r in records:
        name, t = r["model"]["name"], r["training"]
        out.append(f"{name} training: " + table_note({"disturbed": t["disturbed"], "reasons": t["reasons"]}, t["load"],
                                                     what="timings", passes=repeats))
        for check in r["serving"].get("checks", []):
            out.append(f"{name} serving, batch {check['batch']}: " + table_note(check, check.get("load"), passes=repeats))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2-135m,random:llama-1.2b", help="comma-separated base models")
    parser.add_argument("--data", default="synthetic-style", help="as for `personalize bench --data`")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-tokens", type=int, default=100, help="prompt+answer tokens per example (LaMP-7: ~100)")
    parser.add_argument("--train-answer", type=int, default=30)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto, fp32, bf16 (bf16 with --device cuda on a GPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/scale"))
    args = parser.parse_args()
    args.batch_sizes = _ints(args.batch_sizes, "--batch-sizes")
    for flag, value, minimum in (("--repeats", args.repeats, 1), ("--new-tokens", args.new_tokens, 1),
                                 ("--train-batch", args.train_batch, 1), ("--train-answer", args.train_answer, 1)):
        if value < minimum:
            raise SystemExit(f"error: {flag} must be >= {minimum}, got {value}")
    if args.train_tokens < args.train_answer + 3:
        raise SystemExit(f"error: --train-tokens must exceed --train-answer + 2, got {args.train_tokens}")
    _quiet_libraries()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from personalize.data.loading import load_dataset
    from personalize.io import atomic_write_text, ensure_writable_dir
    from personalize.validation import check_device

    console = Console(width=None if sys.stdout.isatty() else 160)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        check_device(args.device)
        ensure_writable_dir(args.out)
        dataset = load_dataset(args.data, args.split, None)
        if len(dataset) < max(args.batch_sizes):
            raise PersonalizeError(f"batch {max(args.batch_sizes)} needs as many examples; {dataset.source} has {len(dataset)}")
        records = []
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} models"),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("scale", total=len(models))
            for name in models:
                records.append(measure_model(name, args, dataset,
                                             lambda text: progress.update(task, description=text)))
                progress.advance(task)
    except PersonalizeError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    headers, lines = table(records, args.batch_sizes)
    result = {"models": records, "table": {"headers": headers, "rows": lines}, "options": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "machine": machine(),
        "torch_threads": torch.get_num_threads(), "versions": package_versions(), "git": git_commit(), "created": now_iso()}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "scale.json", json.dumps(result, indent=2) + "\n")
    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(cells) + " |" for cells in lines]
    md += ["", *notes(records, args.repeats)]
    atomic_write_text(args.out / "scale.md", "\n".join(md) + "\n")
    view = Table(title=f"cost from {records[0]['model']['name']} to {records[-1]['model']['name']} on {dataset.task.name} "
                       f"({machine()}, median of {args.repeats})")
    for i, header in enumerate(headers):
        view.add_column(header, justify="left" if i == 0 else "right")
    for cells in lines:
        view.add_row(*cells)
    console.print(view)
    for line in notes(records, args.repeats):
        console.print(line, markup=False, highlight=False)
    console.print(f"results in {args.out}/scale.json and scale.md")


if __name__ == "__main__":
    main()
