"""``personalize methods``: every registered method, from the registry (plugins included)."""

from __future__ import annotations

import typer
from rich.table import Table

from personalize.cli.common import console, print_json


def methods_cmd(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List the registered methods: name, family, what it does, its bench presets."""
    from personalize.methods.registry import METHODS

    rows = [{"name": name, "family": info.family, "description": info.description, "fixed": dict(info.fixed),
             "presets": list(info.presets)} for name, info in METHODS.items()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Methods (a folder in personalize/methods, or a plugin module)")
    for column in ("name", "family", "description", "bench presets"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["family"], row["description"], ", ".join(row["presets"]))
    console.print(table)
