"""What every command module shares: the consoles, quiet third-party logging, settings parsing,
and building a method from the command-line options."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from personalize.errors import ConfigError, PersonalizeError

console = Console()
err_console = Console(stderr=True)
DEBUG = {"on": bool(os.environ.get("PERSONALIZE_DEBUG"))}


def registry_help(listed: Callable[[], str]) -> str:
    """A help text listing what the method registry holds, computed when the CLI is imported; a
    plugin that fails to import must not break ``--help`` (the command itself reports it, in one line)."""
    try:
        return listed()
    except PersonalizeError:
        return "see `personalize methods`"


def quiet_libraries() -> None:
    """Keep third-party progress bars and advisories off the terminal; ours say what matters."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    for name in ("transformers", "sentence_transformers", "bm25s", "huggingface_hub", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_settings(settings: str | None) -> dict[str, Any]:
    """``--settings`` is inline JSON or the path of a JSON file."""
    if not settings:
        return {}
    try:
        text = Path(settings).read_text(encoding="utf-8") if Path(settings).is_file() else settings
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--settings is neither a JSON file nor valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("--settings must be a JSON object")
    return data


def read_json_object(path: Path, option: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: malformed JSON or not UTF-8
        raise ConfigError(f"{option} {path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{option} {path}: expected a JSON object, got {type(data).__name__}")
    return data


def build_method(method: str | None, adapter: Path | None, settings: dict[str, Any], retriever: str | None,
                  k: int | None, template: str | None, max_prompt_tokens: int | None):
    from personalize.methods import make_method

    if adapter is not None:
        from personalize.validation import check_adapter_folder

        saved = check_adapter_folder(adapter)["method"]
        if method is not None and method != saved:
            raise ConfigError(f"--method {method} but {adapter} holds a {saved!r} adapter")
        return make_method(saved, {**settings, "adapter": str(adapter)})
    if method is None:
        raise ConfigError("give --method (or --adapter DIR for a trained soft-token method)")
    for key, value in (("retriever", retriever), ("k", k), ("template", template), ("max_prompt_tokens", max_prompt_tokens)):
        if value is not None:
            settings[key] = value
    return make_method(method, settings)
