"""LaMP benchmark files: loading one split of a task (the format is parsed in
:mod:`~personalize.data.lamp_format`, downloads are :mod:`~personalize.data.lamp_download`).

Official format (one folder per task and split kind)::

    {split}_questions.json  [{"id", "input", "profile": [{"id", <task item fields>...}, ...]}, ...]
    {split}_outputs.json    {"task": "LaMP_7", "golds": [{"id", "output"}, ...]}

The outputs file is optional (LaMP's test splits have none); examples then have ``output=None``.

Loading rules (:func:`load_lamp`):

* Every LaMP question carries its own profile, so each question is its own "user":
  ``user_id`` is the question id.
* Every value is converted to ``str`` (ids may be ints, LaMP-3 scores may be numbers; a float
  that is a whole number becomes ``"5"``, not ``"5.0"``).
* A profile item keeps exactly ``id`` plus the task's ``TaskSpec.item_fields``; any other field
  (LaMP-1/4/5 items sometimes carry e.g. a ``date``) is dropped. A profile item without an
  ``id`` gets ``<question id><3-digit index>``, the convention of the LaMP-7 copy in shared data.
* A question with an empty profile is skipped and counted in
  ``dataset.skipped["empty_profile"]``; it is not an error.
* Anything else that is wrong (malformed JSON, a missing field, a question without a gold, a
  gold without a question, duplicate ids, an outputs file for another task) raises
  :class:`~personalize.errors.DataError` naming the file, the record index and id, and the field.
"""

from __future__ import annotations

from pathlib import Path

from personalize.data.lamp_download import OFFICIAL_BASE, SPLIT_KINDS, SplitKind, default_lamp_dir, download_lamp, lamp_url
from personalize.data.lamp_format import (
    as_str,
    check_outputs_task,
    lamp_files,
    list_ids,
    parse_outputs,
    parse_questions,
    read_json,
    read_lamp_outputs,
    resolve_task,
)
from personalize.data.schema import Example, PersonalizationDataset, UserProfile
from personalize.data.tasks import TASKS, TaskSpec, get_task
from personalize.errors import ConfigError, DataError


def read_lamp_task(folder: str | Path, split: str) -> str | None:
    """The task named in ``{split}_outputs.json`` (e.g. ``"LaMP-7"``), or ``None`` if unknown."""
    _, outputs = lamp_files(folder, split)
    if not outputs.is_file():
        return None
    data = read_json(outputs)
    name = data.get("task") if isinstance(data, dict) else None
    if name is None:
        return None
    try:
        return get_task(str(name)).name
    except ConfigError as e:
        raise DataError(f"{outputs}: unknown task {name!r}") from e


def load_lamp(folder: str | Path, task: str | TaskSpec, split: str) -> PersonalizationDataset:
    """Load one split of a LaMP task from ``folder`` (see the module docstring for the rules).

    Args:
        folder: the folder holding ``{split}_questions.json`` (and ``{split}_outputs.json``).
        task: a LaMP task name (``"LaMP-7"``, ``"LaMP_7"``) or spec.
        split: ``train``, ``dev`` or ``test``.

    Raises:
        DataError: a missing or malformed file, a record without a needed field, ids without
            golds or golds without questions, or an outputs file for another task.
    """
    spec = resolve_task(task)
    questions_path, outputs_path = lamp_files(folder, split)
    if not questions_path.is_file():
        raise DataError(f"{questions_path}: no such file (LaMP questions for split {split!r})")
    questions, all_ids = parse_questions(read_json(questions_path), str(questions_path), spec)
    empty = len(all_ids) - len(questions)

    golds: dict[str, str] | None = None
    if outputs_path.is_file():
        file_task, golds = parse_outputs(read_json(outputs_path), str(outputs_path))
        check_outputs_task(file_task, str(outputs_path), spec)
        # Compare against all question ids, skipped ones included.
        missing = [q for q in all_ids if q not in golds]
        if missing:
            raise DataError(
                f"{outputs_path}: no gold output for {len(missing)} question id(s) of "
                f"{questions_path.name}: {list_ids(missing)}"
            )
        known = set(all_ids)
        orphans = [g for g in golds if g not in known]
        if orphans:
            raise DataError(
                f"{outputs_path}: {len(orphans)} gold id(s) have no question in "
                f"{questions_path.name}: {list_ids(orphans)}"
            )

    examples: list[Example] = []
    profiles: dict[str, UserProfile] = {}
    for qid, text, items in questions:
        examples.append(Example(qid, qid, text, golds[qid] if golds is not None else None))
        profiles[qid] = UserProfile(qid, items)
    skipped = {"empty_profile": empty} if empty else {}
    return PersonalizationDataset(
        task=spec,
        split=split,
        examples=examples,
        profiles=profiles,
        source=str(Path(folder)),
        skipped=skipped,
    )


def available_splits(folder: str | Path) -> list[str]:
    """The splits that have a ``{split}_questions.json`` in ``folder``, sorted."""
    suffix = "_questions.json"
    return sorted(p.name[: -len(suffix)] for p in Path(folder).glob(f"*{suffix}"))


def lamp_task_names() -> list[str]:
    """The registered tasks that can be downloaded from the LaMP site."""
    return [name for name, spec in TASKS.items() if spec.is_lamp]


__all__ = [
    "OFFICIAL_BASE",
    "SPLIT_KINDS",
    "SplitKind",
    "as_str",
    "available_splits",
    "default_lamp_dir",
    "download_lamp",
    "lamp_files",
    "lamp_task_names",
    "lamp_url",
    "list_ids",
    "load_lamp",
    "read_lamp_outputs",
    "read_lamp_task",
    "resolve_task",
]
