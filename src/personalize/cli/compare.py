"""``personalize compare`` and ``bench``: methods side by side, quality and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from personalize.cli.common import console, quiet_libraries, registry_help
from personalize.errors import ConfigError
from personalize.methods.registry import bench_presets

PRESET_HELP = registry_help(lambda: f"Comma-separated presets ({', '.join(bench_presets())}) or trained "
                            "adapter folders (timed as saved, LoRA included).")


def compare_cmd(
    config: Path = typer.Option(..., help="Comparison config (JSON or YAML): data, model, methods, baseline."),
    out: Path | None = typer.Option(None, help="Output folder (default: runs/compare/<config name>)."),
    limit: int | None = typer.Option(None, help="Only N examples, a seeded sample spread over the users (overrides the config's limit)."),
    only: str | None = typer.Option(None, help="Comma-separated row names: run only these rows, the controls they name "
                                    "and the `none` row (for the − control and − none columns)."),
) -> None:
    """Compare methods on the same examples: quality, context tokens, compression, training cost,
    time to first token, decode speed, memory; writes comparison.json/.md, plots and report.html."""
    quiet_libraries()
    from personalize.compare import load_comparison_config, run_comparison

    if limit is not None and limit <= 0:
        raise ConfigError("--limit must be positive")
    from personalize.io import OutputLock
    from personalize.validation import check_device

    cfg = load_comparison_config(config)
    if only is not None:
        cfg = cfg.only([name.strip() for name in only.split(",") if name.strip()])
        console.print(f"rows: {', '.join(m.name for m in cfg.methods)}", markup=False, highlight=False)
    check_device(cfg.device)
    target = out or Path("runs") / "compare" / cfg.name
    with OutputLock(target):
            rows = run_comparison(cfg, target, limit=limit, log=lambda line: console.print(line, markup=False, highlight=False))
    print_comparison(rows, f"{cfg.name} (baseline for compression: {cfg.baseline or 'none'})")
    console.print(f"report in {target / 'report.html'}  (table: {target / 'comparison.md'})")


def print_comparison(rows: list[dict[str, Any]], title: str) -> None:
    from personalize.compare import table_cells

    headers, body = table_cells(rows)
    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for cells in body:
        table.add_row(*cells)
    # A pipe or log file gets the whole table rather than rich's 80-column default.
    wide = console if console.is_terminal else Console(width=max(console.width, 200))
    wide.print(table)
    from personalize.compare.tables import attribute_cells, latency_note

    note = latency_note(rows)
    if note:
        wide.print(note, markup=False, highlight=False)

    attributes = attribute_cells(rows)
    if attributes is not None:
        extra = Table(title="with each user's own history / with another user's")
        for i, header in enumerate(attributes[0]):
            extra.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for cells in attributes[1]:
            extra.add_row(*cells)
        wide.print(extra)


def bench_cmd(
    data: str = typer.Option("synthetic-style", help="Data source whose users and inputs are used."),
    out: Path = typer.Option(Path("runs/bench"), help="Folder for bench.json and bench.md."),
    split: str = typer.Option("dev"),
    task: str | None = typer.Option(None),
    methods: str = typer.Option("none,text-k4,e2p-1,persoma-4,xattn,rag-prefix-4",
                                help=PRESET_HELP),
    batch_sizes: str = typer.Option("1,16", help="Comma-separated batch sizes."),
    repeats: int = typer.Option(5, help="Timed repeats per method and batch size (median reported)."),
    new_tokens: int = typer.Option(16, help="Tokens generated per request (decode speed)."),
    history_lengths: str = typer.Option("10,100,1000", help="History lengths for the sweep (empty: skip)."),
    cold: bool = typer.Option(True, help="Also measure first requests of unseen users (history encoding)."),
    prefix_cache: bool = typer.Option(True, help="Also measure with the prompt prefix shared by all requests KV-cached."),
    model: str = typer.Option("smollm2-135m"),
    encoder: str = typer.Option("minilm-l6"),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
) -> None:
    """Latency benchmark: TTFT, decode tokens/s, KV-cache bytes per method, batch 1 and 16."""
    quiet_libraries()
    from personalize.compare.bench import BenchOptions, check_methods, markdown, ratios, run_bench
    from personalize.data.loading import load_dataset
    from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
    from personalize.models import load_base_model, load_encoder

    def ints(text: str) -> list[int]:
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"expected comma-separated integers, got {text!r}") from None

    names = [m.strip() for m in methods.split(",") if m.strip()]
    check_methods(names)
    from personalize.io import atomic_write_text, ensure_writable_dir
    from personalize.validation import check_device, check_int

    for name, values, minimum in (("--batch-sizes", ints(batch_sizes), 1), ("--history-lengths", ints(history_lengths), 1),
                                  ("--repeats", [repeats], 1), ("--new-tokens", [new_tokens], 1)):
        for value in values:
            check_int(name, value, minimum=minimum)
    if not ints(batch_sizes):
        raise ConfigError("--batch-sizes needs at least one batch size")
    check_device(device)
    ensure_writable_dir(out)
    options = BenchOptions(methods=names, batch_sizes=ints(batch_sizes), repeats=repeats, new_tokens=new_tokens,
                           history_lengths=ints(history_lengths), cold=cold,
                           prefix_cache=prefix_cache)
    dataset = load_dataset(data, split, task)
    need = max(options.batch_sizes)
    if len(dataset) < need:
        raise ConfigError(f"batch {need} needs {need} examples; {dataset.source} ({split}) has {len(dataset)}")
    with console.status(f"loading {model} ..."):
        loaded = load_base_model(model, dtype=dtype, device=device)
    console.print(f"bench: {', '.join(names)} on {dataset.task.name} ({len(dataset)} examples), batch sizes "
                  f"{options.batch_sizes}, {repeats} repeats, {new_tokens} new tokens")
    result = run_bench(dataset, loaded, lambda: load_encoder(encoder, device=device), options,
                       log=lambda row: console.print(row, highlight=False))
    result["ratios"] = ratios(result["rows"])
    result.update(model=loaded.info(), data=dataset.source, versions=package_versions(), machine=machine(), git=git_commit(),
                  created=now_iso())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "bench.md", markdown(result))
    console.print(markdown(result), markup=False, highlight=False)
    console.print(f"results in {out}/bench.json and bench.md")
