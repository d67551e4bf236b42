"""The LaMP file format: parsing the official JSON files (pure functions on parsed JSON, shared by
the loader, the downloader and the metrics), and the helpers the native loader shares.

Official format (one folder per task and split kind)::

    {split}_questions.json  [{"id", "input", "profile": [{"id", <task item fields>...}, ...]}, ...]
    {split}_outputs.json    {"task": "LaMP_7", "golds": [{"id", "output"}, ...]}

The outputs format also holds predictions (``personalize score``); :func:`parse_outputs` is its
one parser. Every value becomes a ``str``: ids may be ints, LaMP-3 outputs may be numbers, and a
float that is a whole number becomes ``"5"``, not ``"5.0"``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personalize.data.schema import HistoryItem
from personalize.data.tasks import TaskSpec, get_task
from personalize.errors import ConfigError, DataError

_MAX_LISTED = 5  # how many offending ids an error message lists


def as_str(value: Any) -> str | None:
    """``value`` as a string, or ``None`` when it is not a scalar that can stand for text.

    Strings pass through, ints become ``"3"``, whole floats ``"5"``, other floats ``"4.5"``.
    ``None``, booleans, lists and dicts give ``None`` (the caller reports the field as invalid).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def list_ids(ids: Sequence[str]) -> str:
    """``'a', 'b', 'c' and 2 more`` for error messages."""
    shown = ", ".join(repr(i) for i in ids[:_MAX_LISTED])
    more = len(ids) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def resolve_task(task: str | TaskSpec) -> TaskSpec:
    """A :class:`TaskSpec` from a name or a spec (unknown names raise ``ConfigError``)."""
    return task if isinstance(task, TaskSpec) else get_task(task)


def read_json(path: Path, what: str | None = None) -> Any:
    """Parse a JSON file; malformed JSON raises DataError naming the file, line and column."""
    name = what or str(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno}, column {e.colno}"
        raise DataError(f"{name}: malformed JSON at {where}: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise DataError(f"{name}: cannot read ({e.strerror or e})") from e


def parse_questions(
    data: Any, name: str, spec: TaskSpec
) -> tuple[list[tuple[str, str, tuple[HistoryItem, ...]]], list[str]]:
    """Validate a questions list; returns ``[(id, input, profile items)]`` and all ids.

    Questions with an empty profile are not in the first list, but their ids are in the second.
    """
    if not isinstance(data, list):
        raise DataError(
            f"{name}: expected a JSON list of questions, found {type(data).__name__}"
        )
    parsed: list[tuple[str, str, tuple[HistoryItem, ...]]] = []
    ids: list[str] = []
    seen: set[str] = set()
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise DataError(f"{name}: record {index} is a {type(record).__name__}, not an object")
        qid = as_str(record.get("id"))
        where = f"{name}: record {index}" + (f" (id {qid!r})" if qid is not None else "")
        if qid is None:
            raise DataError(f"{where}: missing or invalid field 'id'")
        if qid in seen:
            raise DataError(f"{where}: duplicate question id {qid!r}")
        seen.add(qid)
        ids.append(qid)
        text = as_str(record.get("input"))
        if text is None:
            raise DataError(f"{where}: missing or invalid field 'input'")
        profile = record.get("profile")
        if not isinstance(profile, list):
            raise DataError(f"{where}: missing or invalid field 'profile' (expected a list)")
        if not profile:
            continue
        items = tuple(
            parse_item(item, qid, i, spec, f"{where}, profile item {i}")
            for i, item in enumerate(profile)
        )
        parsed.append((qid, text, items))
    return parsed, ids


def parse_item(item: Any, owner: str, index: int, spec: TaskSpec, where: str) -> HistoryItem:
    """One LaMP profile item: ``id`` plus the task's item fields, all strings."""
    if not isinstance(item, dict):
        raise DataError(f"{where}: is a {type(item).__name__}, not an object")
    out: dict[str, str] = {}
    raw_id = item.get("id")
    if raw_id is None:
        out["id"] = f"{owner}{index:03d}"
    else:
        item_id = as_str(raw_id)
        if item_id is None:
            raise DataError(f"{where}: invalid field 'id'")
        out["id"] = item_id
    for field in spec.item_fields:
        value = as_str(item.get(field))
        if value is None:
            kind = "invalid" if field in item else "missing"
            raise DataError(f"{where} (id {out['id']!r}): {kind} field {field!r} for {spec.name}")
        out[field] = value
    return out


def parse_outputs(data: Any, name: str) -> tuple[str | None, dict[str, str]]:
    """Validate a LaMP outputs file (golds or predictions): ``{"task": ..., "golds": [{"id", "output"}]}``.

    Ids and outputs may be strings or numbers (converted by :func:`as_str`).

    Returns:
        ``(task, outputs)``: the file's ``task`` field as written (``None`` when absent) and
        ``id -> output`` in file order.

    Raises:
        DataError: not an object with a ``golds`` list, a mistyped ``task``, a record without
            ``id`` or ``output`` or with a value that is not a string or number, a duplicate id;
            the message names ``name`` and, for a record, its index in ``golds`` and its id.
    """
    if not isinstance(data, dict):
        raise DataError(f"{name}: expected a JSON object with a 'golds' list, got {type(data).__name__}")
    task = data.get("task")
    if task is not None and not isinstance(task, str):
        raise DataError(f"{name}: 'task' must be a string, got {type(task).__name__}")
    if "golds" not in data:
        raise DataError(f"{name}: missing key 'golds' (expected {{'task': ..., 'golds': [...]}})")
    records = data["golds"]
    if not isinstance(records, list):
        raise DataError(f"{name}: 'golds' must be a list, got {type(records).__name__}")
    outputs: dict[str, str] = {}
    for index, record in enumerate(records):
        where = f"{name}: golds[{index}]"
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object, got {type(record).__name__}")
        for key in ("id", "output"):
            if key not in record:
                raise DataError(f"{where}: missing key {key!r}")
        example_id = as_str(record["id"])
        if example_id is None:
            raise DataError(f"{where}: 'id' must be a string or number, got {record['id']!r}")
        output = as_str(record["output"])
        if output is None:
            raise DataError(f"{where} (id {example_id!r}): 'output' must be a string or number, "
                            f"got {type(record['output']).__name__}")
        if example_id in outputs:
            raise DataError(f"{where}: duplicate id {example_id!r}")
        outputs[example_id] = output
    return task, outputs


def read_lamp_outputs(path: str | Path) -> tuple[str | None, dict[str, str]]:
    """Read a LaMP outputs file (golds or predictions) with :func:`parse_outputs`.

    Raises:
        DataError: unreadable file, malformed JSON, or what :func:`parse_outputs` refuses.
    """
    return parse_outputs(read_json(Path(path)), str(path))


def check_outputs_task(file_task: str | None, name: str, spec: TaskSpec) -> None:
    """Refuse an outputs file whose ``task`` field names another task than ``spec``."""
    if file_task is None:
        return
    try:
        named = get_task(str(file_task))
    except ConfigError:  # an unknown task name is a data problem here, not a config one
        named = None
    if named is None or named.name != spec.name:
        raise DataError(f"{name}: the file is for task {file_task!r}, but {spec.name!r} was requested")


def lamp_files(folder: str | Path, split: str) -> tuple[Path, Path]:
    """The questions and outputs paths of ``split`` in ``folder``."""
    folder = Path(folder)
    return folder / f"{split}_questions.json", folder / f"{split}_outputs.json"
