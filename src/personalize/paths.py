"""Where personalize keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def personalize_home() -> Path:
    """``$PERSONALIZE_HOME``, default ``~/.cache/personalize``; created on first use."""
    home = Path(os.environ.get("PERSONALIZE_HOME") or Path.home() / ".cache" / "personalize")
    _make(home, home)
    return home


def cache_dir(*parts: str) -> Path:
    """A cache folder under the home, created and proven writable: a read-only home is then one
    error at the start, not a failure after the work whose results it was to keep."""
    home = personalize_home()
    path = home.joinpath(*parts)
    _make(path, home)
    if not os.access(path, os.W_OK):
        from personalize.io import OutputError

        raise OutputError(f"the cache folder {path} is not writable; make it writable or set PERSONALIZE_HOME to a "
                          "folder you can write to")
    return path


def _make(path: Path, home: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from personalize.io import OutputError, describe_os_error

        raise OutputError(f"PERSONALIZE_HOME {home}: {describe_os_error(exc, 'create')}; set PERSONALIZE_HOME to a "
                          "folder you can write to") from None
