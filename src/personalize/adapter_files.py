"""The on-disk format of a saved adapter: ``adapter_config.json`` + ``adapter_model.safetensors``.

It sits low in the layers so that validation (checking a folder before anything runs) can read
it without importing :mod:`personalize.modeling`, which writes and loads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from personalize.errors import ConfigError, PersonalizeError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
FORMAT_VERSION = 1


def read_adapter_config(directory: str | Path) -> dict[str, Any]:
    """The saved ``adapter_config.json`` of ``directory`` as a dict; one-line errors when the
    folder is not an adapter or its config is damaged or incomplete."""
    directory = Path(directory)
    path = directory / ADAPTER_CONFIG
    if not path.is_file() or not (directory / ADAPTER_WEIGHTS).is_file():
        raise PersonalizeError(f"{directory} is not a saved adapter (needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is damaged (not valid JSON: {exc}); restore the adapter folder or train it again") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} is damaged (a JSON {type(saved).__name__}, not an object); restore the adapter "
                          "folder or train it again")
    missing = [k for k in ("method", "base_model", "hidden_size", "config") if k not in saved]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {missing}")
    return saved
