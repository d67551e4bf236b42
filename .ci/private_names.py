"""Fail when a module of ``src/personalize`` uses another module's private name.

A name with one leading underscore belongs to the module that defines it. Flags
``from personalize.x import _name`` and ``x._name`` where ``x`` is an imported personalize module,
in every module but the one defining it. (ruff's PLC2701 skips first-party imports, hence this.)

Run: ``python .ci/private_names.py``; exit status 1 and one line per use when any is found.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src"

# Known uses that are allowed (none: issue 15 part 3 removed the last one).
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def uses(path: Path) -> list[tuple[int, str]]:
    """``(line, 'module.name')`` for each private name of another personalize module used here."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: dict[str, str] = {}  # local name -> personalize module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "personalize":
            for alias in node.names:
                if private(alias.name):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "personalize":
                    modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in modules:
                found.append((node.lineno, ".".join([modules[value.id], *reversed(chain)])))
    return found


def main() -> int:
    bad = []
    for path in sorted((ROOT / "personalize").rglob("*.py")):
        here = module_name(path)
        for line, name in uses(path):
            owner = name.rsplit(".", 1)[0]
            if owner != here and (here, name) not in ALLOWED:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: uses {name}, private to {owner}")
    for entry in bad:
        print(entry)
    if bad:
        print(f"{len(bad)} use(s) of another module's private name; make the name public or move the code", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
