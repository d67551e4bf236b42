"""One personalized generation for one user (``personalize generate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from personalize.data.schema import Example, UserProfile
from personalize.data.tasks import TaskSpec, get_task
from personalize.errors import ConfigError, DataError
from personalize.methods.base import Method, MethodContext


def profile_from_source(
    task_name: str, profile_path: Path | None, data: str | None, user: str | None, split: str
) -> tuple[UserProfile, TaskSpec]:
    """A user profile from a JSON file (list of items) or from a user of a data source."""
    if (profile_path is None) == (data is None):
        raise ConfigError("give either --profile PROFILE.json or --data DIR --user ID")
    if data is not None:
        from personalize.data.loading import load_dataset

        if user is None:
            raise ConfigError("--data needs --user ID")
        ds = load_dataset(data, split, task_name if task_name else None)
        if user not in ds.profiles:
            sample = ", ".join(list(ds.profiles)[:5])
            raise DataError(f"user {user!r} is not in {ds.source} ({split}); some users: {sample}")
        return ds.profiles[user], ds.task
    task = get_task(task_name)
    return read_profile_file(profile_path, task), task  # type: ignore[arg-type]


def read_profile_file(path: Path, task: TaskSpec) -> UserProfile:
    """Read a JSON list of history items (objects with the task's fields, ``id`` optional)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read profile {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if isinstance(raw, dict) and "profile" in raw:
        raw = raw["profile"]
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: expected a non-empty JSON list of history items")
    items = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and len(task.item_fields) == 1:
            item = {task.item_fields[0]: item}
        if not isinstance(item, dict):
            raise DataError(f"{path}: item {index} is not an object")
        missing = [f for f in task.item_fields if f not in item]
        if missing:
            raise DataError(f"{path}: item {index} lacks field(s) {missing} needed by {task.name}")
        items.append({"id": str(item.get("id", f"item{index:04d}")), **{f: str(item[f]) for f in task.item_fields}})
    return UserProfile(user_id=Path(path).stem, items=tuple(items))


def generate_for_user(
    method: Method,
    task: TaskSpec,
    profile: UserProfile,
    input_text: str,
    *,
    model: str | Any,
    encoder: str = "minilm-l6",
    dtype: str = "auto",
    device: str = "auto",
    decoding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``method`` for one (profile, input) and return the answer with token accounting."""
    from personalize.evaluation.request import answer_request, prepare_request
    from personalize.generation import DecodingConfig
    from personalize.models import load_base_model, load_encoder
    from personalize.validation import check_device, clean_text, context_length

    cfg = DecodingConfig.from_dict({k: v for k, v in (decoding or {}).items() if v is not None})  # before any load
    if isinstance(model, str):
        check_device(device)
    example = Example(id="query", user_id=profile.user_id, input=clean_text(input_text), output=None)
    if not method.needs_model:
        method.setup(MethodContext(task=task))
        answer = method.predict_direct(example, profile)
        return {"answer": answer, "prompt_tokens": 0, "context_tokens": 0, "used_items": [], "prompt": None}
    loaded = load_base_model(model, dtype=dtype, device=device) if isinstance(model, str) else model
    method.setup(MethodContext(task=task, model=loaded.model, tokenizer=loaded.tokenizer, model_name=loaded.name,
                               encoder_factory=lambda: load_encoder(encoder, device=device)))
    max_new = cfg.max_new_tokens or task.max_new_tokens
    request = prepare_request(method, [example], [profile], loaded.device, context=context_length(loaded.model),
                              answer_room=max_new)
    answer = answer_request(request, loaded, mode="generate", decoding=cfg, max_new_tokens=max_new).raws[0]
    prepared = request.prepared
    prompt = loaded.tokenizer.decode(prepared.input_ids[0][prepared.attention_mask[0].bool()]) if prepared.input_ids is not None else None
    details = prepared.details[0] if prepared.details else {}
    return {
        "answer": answer,
        "prompt_tokens": prepared.prompt_tokens[0],
        "context_tokens": prepared.context_tokens[0],
        "used_items": details.get("used_items", []),
        "prompt": prompt,
    }
