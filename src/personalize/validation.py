"""Checks that run when a value is read, before any model loads or any row runs.

Each check fails with one line that names the option (or file and record), the value and what
is allowed. Kept in one module so that the CLI, the configs and the library share the wording.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from personalize.errors import ConfigError, DataError

# Soft tokens beyond this are no longer a compact user representation, and a typo such as
# 100000 would allocate tens of GB before failing.
MAX_SOFT_TOKENS = 1024


def warn(message: str) -> None:
    """A one-line warning on stderr (the CLI silences Python's ``warnings``)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
              allow_none: bool = False, where: str = "") -> None:
    """``value`` is an integer in ``[minimum, maximum]`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{prefix}{name} must be an integer, got {value!r}")
    allowed = _range_text(minimum, maximum) + (" (or unset)" if allow_none else "")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{prefix}{name} must be an integer {allowed}, got {value}")


def check_float(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_minimum: bool = False, exclusive_maximum: bool = False, where: str = "") -> None:
    """``value`` is a finite number in the range (NaN and infinities are refused)."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{prefix}{name} must be a finite number, got {value!r}")
    low_bad = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    high_bad = maximum is not None and (value >= maximum if exclusive_maximum else value > maximum)
    if low_bad or high_bad:
        low = (f"> {minimum}" if exclusive_minimum else f">= {minimum}") if minimum is not None else ""
        high = (f"< {maximum}" if exclusive_maximum else f"<= {maximum}") if maximum is not None else ""
        raise ConfigError(f"{prefix}{name} must be a number {' and '.join(x for x in (low, high) if x)}, got {value}")


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"from {minimum} to {maximum}"
    if minimum is not None:
        return f">= {minimum}"
    return f"<= {maximum}" if maximum is not None else ""


# --------------------------------------------------------------------------------------------
# training settings
# --------------------------------------------------------------------------------------------


def _train_name(field: str) -> str:
    cli = {"epochs", "batch_size", "grad_accum", "lr", "max_train_examples", "dev_limit", "augment_per_user", "seed"}
    return f"{field} ({option_name(field)})" if field in cli else f"train setting {field}"


def check_train_config(cfg: Any) -> None:
    """Ranges of a :class:`~personalize.training.TrainConfig`; types are checked by ``from_dict``."""
    for field, minimum in (("epochs", 1), ("batch_size", 1), ("grad_accum", 1), ("max_target_tokens", 1),
                           ("patience", 1), ("augment_per_user", 1)):
        check_int(_train_name(field), getattr(cfg, field), minimum=minimum)
    for field in ("max_train_examples", "dev_limit", "max_batch_area", "stop_after_epochs"):
        check_int(_train_name(field), getattr(cfg, field), minimum=1, allow_none=True)
    check_float(_train_name("lr"), cfg.lr, minimum=0, exclusive_minimum=True)
    check_float(_train_name("weight_decay"), cfg.weight_decay, minimum=0)
    check_float(_train_name("warmup_ratio"), cfg.warmup_ratio, minimum=0, maximum=1)
    check_float(_train_name("max_grad_norm"), cfg.max_grad_norm, minimum=0, exclusive_minimum=True)


def check_soft_config(cfg: Any) -> None:
    """Ranges shared by every soft-token adapter config."""
    check_int("num_tokens (--num-tokens)", cfg.num_tokens, minimum=getattr(cfg, "min_tokens", 1), maximum=MAX_SOFT_TOKENS)
    check_int("adapter setting max_items", cfg.max_items, minimum=1, allow_none=True)
    check_int("adapter setting lora_rank", cfg.lora_rank, minimum=0)
    check_float("adapter setting lora_alpha", cfg.lora_alpha, minimum=0, exclusive_minimum=True)
    user_init = getattr(cfg, "user_init", "random")
    if user_init not in ("random", "zero"):
        raise ConfigError(f"adapter setting user_init must be 'random' or 'zero', not {user_init!r}")
    if user_init == "zero" and not getattr(cfg, "has_user_projection", False):
        raise ConfigError(f"adapter setting user_init 'zero' needs a method that projects the user into its tokens "
                          f"(e2p, persoma, rag-prefix), not {type(cfg).__name__}")


def check_decoding(cfg: Any) -> None:
    check_int("max_new_tokens (--max-new-tokens)", cfg.max_new_tokens, minimum=1, maximum=8192, allow_none=True)
    check_int("no_repeat_ngram_size (--no-repeat-ngram)", cfg.no_repeat_ngram_size, minimum=0)
    check_float("repetition_penalty (--repetition-penalty)", cfg.repetition_penalty, minimum=0, exclusive_minimum=True)


def check_device(device: str) -> None:
    """Refuse a CUDA device that this machine does not have, before anything loads."""
    import torch

    if not isinstance(device, str) or not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); "
                          "use --device cpu or auto")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


# --------------------------------------------------------------------------------------------
# saved tensors: adapters, checkpoints
# --------------------------------------------------------------------------------------------


def load_tensors(path: str | Path, what: str, remedy: str) -> dict[str, Any]:
    """A safetensors file's tensors; a truncated, garbled or foreign file is a one-line error
    that calls it damaged and says what to do, and non-finite values are refused."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise DataError(f"{what} {path} is missing; {remedy}") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own, unexported error types for damage
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{what} {path} is damaged ({reason}); {remedy}") from None
    check_finite(tensors, f"{what} {path}", remedy)
    return tensors


def check_finite(tensors: dict[str, Any], where: str, remedy: str) -> None:
    import torch

    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise DataError(f"{where}: tensor {name!r} holds {bad} NaN or infinite value(s) of {tensor.numel()}; {remedy}")


def check_adapter_folder(directory: str | Path) -> dict[str, Any]:
    """Config readable and weights loadable and finite: what a row needs before anything runs."""
    from personalize.adapter_files import ADAPTER_WEIGHTS, read_adapter_config

    directory = Path(directory)
    saved = read_adapter_config(directory)
    load_tensors(directory / ADAPTER_WEIGHTS, "adapter weights", "train the adapter again or restore the folder from a copy")
    return saved


# --------------------------------------------------------------------------------------------
# data: labels and text
# --------------------------------------------------------------------------------------------

_UNWRITABLE = re.compile("[\ud800-\udfff\x00]")


def clean_text(text: str) -> str:
    """Lone surrogates (which no UTF-8 file can hold) become U+FFFD; NUL bytes are dropped."""
    return _UNWRITABLE.sub(lambda m: "" if m.group(0) == "\x00" else "\ufffd", text)


def clean_dataset(ds: Any) -> Any:
    """Clean every text of ``ds`` that holds a lone surrogate or a NUL byte, in place.

    Rule: the record is kept; ``ds.skipped["cleaned_text_fields"]`` counts the fields changed,
    and one warning names the first of them.
    """
    import dataclasses

    changed: list[str] = []

    def fix(value: Any, where: str) -> Any:
        if isinstance(value, str) and _UNWRITABLE.search(value):
            changed.append(where)
            return clean_text(value)
        return value

    for i, e in enumerate(ds.examples):
        text, output = fix(e.input, f"example {e.id!r} field 'input'"), fix(e.output, f"example {e.id!r} field 'output'")
        if text is not e.input or output is not e.output:
            ds.examples[i] = dataclasses.replace(e, input=text, output=output)
    for user_id, profile in list(ds.profiles.items()):
        items, dirty = [], False
        for item in profile.items:
            new = {k: fix(v, f"user {user_id!r} history item {item.get('id')!r} field {k!r}") for k, v in item.items()}
            dirty = dirty or any(new[k] is not item[k] for k in item)
            items.append(new if dirty else item)
        if dirty:
            ds.profiles[user_id] = dataclasses.replace(profile, items=tuple(items))
    if changed:
        ds.skipped["cleaned_text_fields"] = ds.skipped.get("cleaned_text_fields", 0) + len(changed)
        warn(f"{ds.source} ({ds.split}): {len(changed)} text field(s) held lone surrogates or NUL bytes, which "
             f"cannot be written as UTF-8; replaced by U+FFFD / removed, first in {changed[0]}")
    return ds


def check_rating_labels(ds: Any) -> None:
    """Rating tasks: every gold output and every history rating must be one of the task's labels.

    Rule: refused, naming the data, the record and the value; a value such as "6" would
    otherwise be scored as 6, or answered by ``user-majority``.
    """
    task = ds.task
    if task.kind != "rating" or not task.labels:
        return
    allowed = ", ".join(task.labels)
    labels = set(task.labels)
    for e in ds.examples:
        if e.output is not None and e.output.strip() not in labels:
            raise DataError(f"{_golds_file(ds)}: example {e.id!r}: gold output {e.output!r} is not a {task.name} "
                            f"rating ({allowed}); fix or remove that record")
    field = task.label_field
    if field is None:
        return
    for user_id, profile in ds.profiles.items():
        for item in profile.items:
            if field in item and str(item[field]).strip() not in labels:
                raise DataError(f"{_history_file(ds)}: user {user_id!r} history item {item.get('id')!r}: {field} "
                                f"{item[field]!r} is not a {task.name} rating ({allowed}); fix or remove that item")


def _golds_file(ds: Any) -> str:
    return _data_file(ds, (f"{ds.split}_outputs.json", f"{ds.split}.jsonl"))


def _history_file(ds: Any) -> str:
    return _data_file(ds, ("users.jsonl", f"{ds.split}_questions.json"))


def _data_file(ds: Any, names: Iterable[str]) -> str:
    folder = Path(str(ds.source))
    for name in names:
        if (folder / name).is_file():
            return str(folder / name)
    return f"{ds.source} ({ds.split})"


# --------------------------------------------------------------------------------------------
# prompts against the model's context
# --------------------------------------------------------------------------------------------


def context_length(model: Any) -> int | None:
    """Positions the base model was built for (``max_position_embeddings``), if it says."""
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def check_prompt_lengths(ids: list[str], lengths: list[int], limit: int, new_tokens: int, what: str = "prompt") -> None:
    """Rule: a prompt that, with its answer, does not fit the context is refused (never cut
    silently, never run into garbage); the message names the example and the numbers."""
    room = limit - new_tokens
    for example_id, n in zip(ids, lengths):
        if n > room:
            raise DataError(f"example {example_id!r}: the {what} has {n:,} tokens, but the model's context is {limit:,} "
                            f"tokens and {new_tokens} are kept for the answer; shorten that input or leave it out")


__all__ = [
    "MAX_SOFT_TOKENS", "check_adapter_folder", "check_decoding", "check_device", "check_finite", "check_float",
    "check_int", "check_prompt_lengths", "check_rating_labels", "check_soft_config", "check_train_config",
    "clean_dataset", "clean_text", "context_length", "load_tensors", "warn",
]
