"""The native folder format: each user's history stored once, examples in one JSONL file per split.

::

    users.jsonl       {"user_id": ..., "history": [{"id": ..., <task item fields>...}, ...]}
    {split}.jsonl     {"id": ..., "user_id": ..., "input": ..., "output": ...}
    dataset.json      optional: {"task": "synthetic-style"}; names the task when none is given

This is the format of ``shared/data/amazon-books-6users`` (a LaMP-3-like rating task, items
``{"id", "text", "score"}``) and of synthetic data exported with :func:`save_native`.

Loading rules (:func:`load_native`):

* Values are converted to ``str``; history items keep exactly ``id`` plus the task's
  ``item_fields`` (other fields are dropped). An item without ``id`` gets
  ``<user_id>-<4-digit index>``.
* ``output`` may be absent or ``null`` (a split without golds): the example's output is ``None``.
* Only the users that the split's examples refer to are kept in ``dataset.profiles``.
* Examples of a user whose history is empty are skipped and counted in
  ``dataset.skipped["empty_profile"]``.
* Blank lines are ignored. Anything else that is wrong (malformed JSON, a missing field, a
  duplicate id, an example whose user is not in ``users.jsonl``) raises
  :class:`~personalize.errors.DataError` naming ``file:line`` and the record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from personalize.data.lamp_format import as_str, list_ids, resolve_task
from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError, DataError

USERS_FILE = "users.jsonl"
META_FILE = "dataset.json"
DEFAULT_TASK = "LaMP-3"


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; errors name ``file:line``."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    with f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(
                        f"{path}:{lineno}: malformed JSON at column {e.colno}: {e.msg}"
                    ) from e
                if not isinstance(record, dict):
                    raise DataError(
                        f"{path}:{lineno}: expected a JSON object, found {type(record).__name__}"
                    )
                yield lineno, record
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno + 1}: not UTF-8 text ({e.reason})") from e


def _field(record: dict[str, Any], name: str, where: str) -> str:
    value = as_str(record.get(name))
    if value is None:
        kind = "invalid" if name in record else "missing"
        raise DataError(f"{where}: {kind} field {name!r}")
    return value


def read_native_task(folder: str | Path) -> str | None:
    """The task named in the folder's ``dataset.json``, or ``None`` when there is none."""
    meta = Path(folder) / META_FILE
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{meta}: malformed JSON at line {e.lineno}, column {e.colno}") from e
    if not isinstance(data, dict) or not isinstance(data.get("task"), str):
        raise DataError(f'{meta}: expected {{"task": "<task name>"}}')
    return data["task"]


def _load_users(path: Path, spec: TaskSpec) -> dict[str, tuple[HistoryItem, ...]]:
    users: dict[str, tuple[HistoryItem, ...]] = {}
    for lineno, record in _jsonl(path):
        where = f"{path}:{lineno}"
        user_id = _field(record, "user_id", where)
        where = f"{where} (user {user_id!r})"
        if user_id in users:
            raise DataError(f"{where}: duplicate user_id")
        history = record.get("history")
        if not isinstance(history, list):
            raise DataError(f"{where}: missing or invalid field 'history' (expected a list)")
        items: list[HistoryItem] = []
        seen: set[str] = set()
        for index, item in enumerate(history):
            item_where = f"{where}, history item {index}"
            if not isinstance(item, dict):
                raise DataError(f"{item_where}: is a {type(item).__name__}, not an object")
            out: dict[str, str] = {}
            out["id"] = (
                f"{user_id}-{index:04d}" if item.get("id") is None else _field(item, "id", item_where)
            )
            if out["id"] in seen:
                raise DataError(f"{item_where}: duplicate item id {out['id']!r}")
            seen.add(out["id"])
            for name in spec.item_fields:
                out[name] = _field(item, name, f"{item_where} (id {out['id']!r}) [{spec.name}]")
            items.append(out)
        users[user_id] = tuple(items)
    return users


def load_native(
    folder: str | Path, split: str, task: str | TaskSpec | None = None
) -> PersonalizationDataset:
    """Load ``{split}.jsonl`` and ``users.jsonl`` from ``folder`` (rules in the module docstring).

    Args:
        folder: the dataset folder.
        split: the split file to read, e.g. ``dev`` for ``dev.jsonl``.
        task: the task name or spec; default: the folder's ``dataset.json``, else ``LaMP-3``.
    """
    folder = Path(folder)
    if task is None:
        task = read_native_task(folder) or DEFAULT_TASK
    try:
        spec = resolve_task(task)
    except ConfigError as e:
        raise DataError(f"{folder}: {e}") from e
    users_path = folder / USERS_FILE
    split_path = folder / f"{split}.jsonl"
    for path in (users_path, split_path):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
    users = _load_users(users_path, spec)

    examples: list[Example] = []
    seen: set[str] = set()
    unknown: dict[str, int] = {}
    empty = 0
    for lineno, record in _jsonl(split_path):
        where = f"{split_path}:{lineno}"
        example_id = _field(record, "id", where)
        where = f"{where} (id {example_id!r})"
        if example_id in seen:
            raise DataError(f"{where}: duplicate example id")
        seen.add(example_id)
        user_id = _field(record, "user_id", where)
        text = _field(record, "input", where)
        output: str | None = None
        if record.get("output") is not None:
            output = _field(record, "output", where)
        if user_id not in users:
            unknown.setdefault(user_id, lineno)
            continue
        if not users[user_id]:
            empty += 1
            continue
        examples.append(Example(example_id, user_id, text, output))
    if unknown:
        first = next(iter(unknown.values()))
        raise DataError(
            f"{split_path}:{first}: {len(unknown)} user id(s) not in {users_path.name}: "
            f"{list_ids(list(unknown))}"
        )
    used = {e.user_id for e in examples}
    profiles = {u: UserProfile(u, items) for u, items in users.items() if u in used}
    return PersonalizationDataset(
        task=spec,
        split=split,
        examples=examples,
        profiles=profiles,
        source=str(folder),
        skipped={"empty_profile": empty} if empty else {},
    )


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_native(dataset: PersonalizationDataset, folder: str | Path) -> Path:
    """Write ``dataset`` to ``folder`` in the native format; returns the folder.

    Writes ``{split}.jsonl`` (replacing it), ``dataset.json`` (the task name, so that
    :func:`load_native` and ``load_dataset`` find the task, and synthetic data stays labelled
    synthetic) and ``users.jsonl``. Users already in an existing ``users.jsonl`` are kept, so
    the splits of one dataset can be saved one after another into the same folder; a user that
    is already there with a different history raises DataError, as does a folder that holds
    another task.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing_task = read_native_task(folder)
    if existing_task is not None and resolve_task(existing_task).name != dataset.task.name:
        raise DataError(
            f"{folder / META_FILE}: the folder holds task {existing_task!r}, "
            f"not {dataset.task.name!r}"
        )
    users_path = folder / USERS_FILE
    users: dict[str, list[dict[str, str]]] = {}
    if users_path.is_file():
        for _, record in _jsonl(users_path):
            users[str(record.get("user_id"))] = list(record.get("history") or [])
    for user_id, profile in dataset.profiles.items():
        history = [dict(item) for item in profile.items]
        if user_id in users and users[user_id] != history:
            raise DataError(
                f"{users_path}: user {user_id!r} is already there with a different history"
            )
        users[user_id] = history
    _write_jsonl(users_path, ({"user_id": u, "history": h} for u, h in users.items()))
    _write_jsonl(
        folder / f"{dataset.split}.jsonl",
        (
            {"id": e.id, "user_id": e.user_id, "input": e.input, "output": e.output}
            for e in dataset.examples
        ),
    )
    meta = {"task": dataset.task.name, "synthetic": dataset.synthetic, "source": dataset.source}
    (folder / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return folder


__all__ = ["load_native", "read_native_task", "save_native"]
