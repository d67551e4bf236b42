"""Where personalize keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def personalize_home() -> Path:
    """``$PERSONALIZE_HOME``, default ``~/.cache/personalize``; created on first use."""
    home = Path(os.environ.get("PERSONALIZE_HOME") or Path.home() / ".cache" / "personalize")
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(*parts: str) -> Path:
    path = personalize_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
