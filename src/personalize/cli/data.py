"""``personalize data``: download, inspect and synthesize datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from personalize.cli.common import console, print_json


def data_download(
    task: str = typer.Argument(..., help="LaMP task (e.g. LaMP-2), movielens-100k or movielens-latest-small."),
    split: str = typer.Option("dev", help="train, dev or test (LaMP)."),
    kind: str = typer.Option("user", help="user or time split (LaMP)."),
    dest: Path | None = typer.Option(None, help="Folder (default: the personalize cache)."),
    force: bool = typer.Option(False, help="Download again even if cached."),
) -> None:
    """Download a LaMP task's official files, or a MovieLens release from GroupLens, into the cache
    (verified, atomic, with retries)."""
    from personalize.data.lamp import download_lamp
    from personalize.data.movielens import MOVIELENS_DOWNLOADS, download_movielens

    if task in MOVIELENS_DOWNLOADS:
        path = download_movielens(task, dest, force=force)
        console.print(f"[green]ok[/] {task} verified in {path} (licence: research use, no redistribution)")
        return

    path = download_lamp(task, split, dest, split_kind=kind, force=force)
    console.print(f"[green]ok[/] {task} {split} ({kind} split) in {path}")


def data_inspect(
    source: str = typer.Argument(..., help="A LaMP or native folder, a synthetic task, or a LaMP task name."),
    split: str = typer.Option("dev", help="Split to read."),
    task: str | None = typer.Option(None, help="Task name, when the folder does not say."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Counts, profile-length statistics and label distribution of a dataset."""
    from personalize.data.inspect import inspect_dataset
    from personalize.data.loading import load_dataset

    report = inspect_dataset(load_dataset(source, split, task))
    if as_json:
        print_json(report)
        return
    _print_report(report)


def _print_report(report: dict[str, Any], prefix: str = "") -> None:
    table = Table(title=f"{report.get('task', '')} {report.get('split', '')}".strip() or None, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            table.add_row(key, ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()))
        elif isinstance(value, dict):
            for k, v in value.items():
                add(f"{key}.{k}", v)
        else:
            table.add_row(key, _fmt(value))

    for key, value in report.items():
        add(prefix + key, value)
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def data_synth(
    task: str = typer.Argument("synthetic-style", help="synthetic-style or synthetic-pref."),
    out: Path = typer.Option(..., help="Folder to write (native format: users.jsonl + {split}.jsonl)."),
    seed: int = typer.Option(0),
    users: int = typer.Option(8, help="Number of users."),
) -> None:
    """Write a synthetic dataset in the native folder format."""
    from personalize.data.loading import load_dataset
    from personalize.data.native import save_native

    for split in ("train", "dev", "test"):
        save_native(load_dataset(task, split, seed=seed, n_users=users), out)
    console.print(f"[green]ok[/] {task} (synthetic, seed {seed}) written to {out}")
