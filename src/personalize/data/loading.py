"""One entry point for every data source: :func:`load_dataset`.

``source`` may be:

* a folder with LaMP files (``{split}_questions.json``) -> :func:`~personalize.data.lamp.load_lamp`;
  the task comes from ``task``, else from the ``"task"`` field of ``{split}_outputs.json``;
* a folder with ``users.jsonl`` -> :func:`~personalize.data.native.load_native`;
* ``synthetic-style`` or ``synthetic-pref``, optionally with options:
  ``synthetic-style:seed=3`` or ``synthetic-pref:seed=1,n_users=4,examples_per_user=2``
  (``split_by=user`` holds different users out for dev and test)
  (the ``source`` string of a synthetic dataset, ``synthetic:<task>:...``, works too);
* a LaMP task name, ``LaMP-2`` (user split) or ``LaMP-2:time`` (time split) -> the folder that
  ``personalize data download`` filled in the cache;
* a MovieLens folder (ml-100k, ml-1m or CSV-family files), optionally with options after a
  colon: ``/data/ml-100k:protocol=users,history=all,shots=64`` ->
  :func:`~personalize.data.movielens.load_movielens` (task ``movielens-like`` unless
  ``movielens-rating`` is asked for; options: ``protocol``, ``history``, ``shots``, ``seed``,
  ``records``, ``per_user``, ``test_users``, ``dev_users``); ``movielens-100k`` and
  ``movielens-latest-small`` (with the same options) name the folders that
  ``personalize data download`` fills.

An existing path always wins over a name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personalize.data.lamp import (
    SPLIT_KINDS,
    available_splits,
    lamp_files,
    load_lamp,
    read_lamp_task,
)
from personalize.data.movielens import MOVIELENS_DOWNLOADS, detect_format, load_movielens, movielens_dir
from personalize.data.movielens import parse_options as parse_movielens_options
from personalize.data.native import USERS_FILE, load_native
from personalize.data.schema import PersonalizationDataset
from personalize.data.synthetic import SIZE_OPTIONS, load_synthetic, synthetic_task_names
from personalize.data.tasks import TASKS, get_task
from personalize.errors import ConfigError, DataError
from personalize.paths import personalize_home

_SIZE_OPTIONS = ("seed", *SIZE_OPTIONS)
_TEXT_OPTIONS = ("split_by",)


def load_dataset(
    source: str | Path, split: str = "dev", task: str | None = None, **kw: Any
) -> PersonalizationDataset:
    """Load ``split`` of ``source`` (a folder, a synthetic task or a LaMP task name).

    Args:
        source: see the module docstring.
        split: ``train``, ``dev``, ``test``...
        task: the task name; needed for a LaMP folder whose outputs file names none, and
            overrides the ``dataset.json`` of a native folder.
        **kw: options for synthetic sources (``seed``, ``n_users``, ``items_per_user``,
            ``examples_per_user``); they override those given in the source string.

    Every source then goes through the same checks: text that cannot be written as UTF-8 (lone
    surrogates, NUL bytes) is cleaned with a counted warning, and rating tasks refuse gold and
    history values outside their labels (:mod:`personalize.validation`).

    Raises:
        DataError: the source does not exist or holds no such split, or the data is invalid.
        ConfigError: an unknown task name or option.
    """
    from personalize.validation import check_rating_labels, clean_dataset

    dataset = _load_any(source, split, task, **kw)
    clean_dataset(dataset)
    check_rating_labels(dataset)
    return dataset


def _load_any(source: str | Path, split: str, task: str | None, **kw: Any) -> PersonalizationDataset:
    text = str(source)
    path = Path(text).expanduser()
    movielens = _movielens_source(text)
    if movielens is not None:
        folder, options = movielens
        return load_movielens(folder, split, task, **{**options, **kw})
    if path.exists():
        if kw:
            raise ConfigError(f"options {', '.join(sorted(kw))} only apply to synthetic sources")
        return _load_folder(path, split, task)

    name, _, options = text.removeprefix("synthetic:").partition(":")
    if name.lower() in (n.lower() for n in synthetic_task_names()):
        if task is not None and get_task(task).name.lower() != name.lower():
            raise ConfigError(f"source {text!r} and task {task!r} disagree")
        params = {**parse_synthetic_options(options, text), **kw}
        seed = int(params.pop("seed", 0))
        return load_synthetic(name, split, seed=seed, **params)

    if kw:
        raise ConfigError(f"options {', '.join(sorted(kw))} only apply to synthetic sources")
    if name in TASKS or _looks_like_lamp(name):
        spec = get_task(name)  # ConfigError for an unknown LaMP-like name
        if spec.is_lamp:
            return _load_cached_lamp(spec.name, split, options or "user", task)
    raise DataError(
        f"{text!r} is neither an existing folder nor a known data source; give a folder with "
        "LaMP files or users.jsonl, one of "
        + ", ".join(synthetic_task_names())
        + ", or a LaMP task name ("
        + ", ".join(n for n, s in TASKS.items() if s.is_lamp)
        + ")"
    )


def _movielens_source(text: str) -> tuple[Path, dict[str, Any]] | None:
    """``(folder, options)`` when ``text`` is a MovieLens folder or download name, with or
    without ``:options``; ``None`` otherwise."""
    head, sep, options = text.rpartition(":")
    candidates = [(text, "")]
    if sep and ("=" in options or not options):
        candidates.append((head, options))
    for where, opts in candidates:
        name = where.strip()
        if name in MOVIELENS_DOWNLOADS:
            folder = movielens_dir(name)
            if detect_format(folder) is None:
                raise DataError(f"{name} is not downloaded yet (looked in {folder}); run "
                                f"`personalize data download {name}`")
            return folder, parse_movielens_options(opts, text)
        folder = Path(where).expanduser()
        if folder.is_dir() and detect_format(folder) is not None:
            return folder, parse_movielens_options(opts, text)
    return None


def _looks_like_lamp(name: str) -> bool:
    return name.lower().replace("_", "-").startswith("lamp")


def parse_synthetic_options(options: str, source: str) -> dict[str, int | str]:
    """``"n_users=480,split_by=user"`` -> ``{"n_users": 480, "split_by": "user"}``, checked: an
    unknown key or a size that is not an integer is a :class:`ConfigError` naming ``source``."""
    params: dict[str, int | str] = {}
    for part in filter(None, (p.strip() for p in options.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _SIZE_OPTIONS:
            raise ConfigError(
                f"{source!r}: bad option {part!r}; use key=value with key one of "
                + ", ".join(_SIZE_OPTIONS)
            )
        if key in _TEXT_OPTIONS:
            params[key] = value.strip()
            continue
        try:
            params[key] = int(value)
        except ValueError as e:
            raise ConfigError(f"{source!r}: {key} must be an integer, not {value!r}") from e
    return params


def _load_folder(path: Path, split: str, task: str | None) -> PersonalizationDataset:
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder (with LaMP files or users.jsonl), not a file")
    questions, _ = lamp_files(path, split)
    if questions.is_file():
        name = task or read_lamp_task(path, split)
        if name is None:
            raise DataError(
                f"{path}: cannot tell which LaMP task this is ({split}_outputs.json is missing "
                "or names no task); pass the task, e.g. --task LaMP-7"
            )
        return load_lamp(path, name, split)
    if (path / USERS_FILE).is_file():
        if not (path / f"{split}.jsonl").is_file():
            have = sorted(p.stem for p in path.glob("*.jsonl") if p.name != USERS_FILE)
            raise DataError(
                f"{path}: no split {split!r} ({split}.jsonl); available: {', '.join(have) or 'none'}"
            )
        return load_native(path, split, task)
    lamp_splits = available_splits(path)
    if lamp_splits:
        raise DataError(
            f"{path}: no split {split!r} ({split}_questions.json); available: "
            + ", ".join(lamp_splits)
        )
    raise DataError(
        f"{path}: not a dataset folder (no {split}_questions.json, no {USERS_FILE}, no MovieLens files)"
    )


def _load_cached_lamp(
    name: str, split: str, split_kind: str, task: str | None
) -> PersonalizationDataset:
    if split_kind not in SPLIT_KINDS:
        raise ConfigError(f"{name}:{split_kind}: the LaMP split kind is 'user' or 'time'")
    if task is not None and get_task(task).name != name:
        raise ConfigError(f"source {name!r} and task {task!r} disagree")
    folder = personalize_home() / "data" / name / split_kind
    questions, _ = lamp_files(folder, split)
    if not questions.is_file():
        kind_flag = " --split-kind time" if split_kind == "time" else ""
        raise DataError(
            f"{name} {split} ({split_kind} split) is not downloaded yet (looked in {folder}); "
            f"run `personalize data download {name} --split {split}{kind_flag}`"
        )
    return load_lamp(folder, name, split)


__all__ = ["load_dataset"]
