"""LaMP benchmark files: loading the official JSON format, and downloading it from the LaMP site.

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

import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.data.tasks import TASKS, TaskSpec, get_task
from personalize.errors import ConfigError, DataError
from personalize.paths import cache_dir

OFFICIAL_BASE = "https://ciir.cs.umass.edu/downloads/LaMP"
"""The LaMP download site; ``{OFFICIAL_BASE}/LaMP_7/dev/dev_questions.json`` and so on."""

SplitKind = Literal["user", "time"]
SPLIT_KINDS: tuple[str, ...] = ("user", "time")

_MAX_LISTED = 5  # how many offending ids an error message lists


# --------------------------------------------------------------------------------------------
# Small helpers shared with the native loader
# --------------------------------------------------------------------------------------------


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


def _read_json(path: Path, what: str | None = None) -> Any:
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


# --------------------------------------------------------------------------------------------
# Parsing (pure functions on already-parsed JSON, shared by the loader and the downloader)
# --------------------------------------------------------------------------------------------


def _parse_questions(
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
            _parse_item(item, qid, i, spec, f"{where}, profile item {i}")
            for i, item in enumerate(profile)
        )
        parsed.append((qid, text, items))
    return parsed, ids


def _parse_item(item: Any, owner: str, index: int, spec: TaskSpec, where: str) -> HistoryItem:
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


def _parse_outputs(data: Any, name: str, spec: TaskSpec) -> dict[str, str]:
    """Validate an outputs file; returns ``{id: output}``."""
    if not isinstance(data, dict) or not isinstance(data.get("golds"), list):
        raise DataError(f'{name}: expected an object {{"task": ..., "golds": [...]}}')
    file_task = data.get("task")
    if file_task is not None:
        try:
            named = get_task(str(file_task))
        except ConfigError:  # an unknown task name is a data problem here, not a config one
            named = None
        if named is None or named.name != spec.name:
            raise DataError(
                f"{name}: the file is for task {file_task!r}, but {spec.name!r} was requested"
            )
    golds: dict[str, str] = {}
    for index, record in enumerate(data["golds"]):
        if not isinstance(record, dict):
            raise DataError(f"{name}: gold {index} is a {type(record).__name__}, not an object")
        gid = as_str(record.get("id"))
        where = f"{name}: gold {index}" + (f" (id {gid!r})" if gid is not None else "")
        if gid is None:
            raise DataError(f"{where}: missing or invalid field 'id'")
        if gid in golds:
            raise DataError(f"{where}: duplicate gold id {gid!r}")
        output = as_str(record.get("output"))
        if output is None:
            raise DataError(f"{where}: missing or invalid field 'output'")
        golds[gid] = output
    return golds


def lamp_files(folder: str | Path, split: str) -> tuple[Path, Path]:
    """The questions and outputs paths of ``split`` in ``folder``."""
    folder = Path(folder)
    return folder / f"{split}_questions.json", folder / f"{split}_outputs.json"


def read_lamp_task(folder: str | Path, split: str) -> str | None:
    """The task named in ``{split}_outputs.json`` (e.g. ``"LaMP-7"``), or ``None`` if unknown."""
    _, outputs = lamp_files(folder, split)
    if not outputs.is_file():
        return None
    data = _read_json(outputs)
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
    questions, all_ids = _parse_questions(_read_json(questions_path), str(questions_path), spec)
    empty = len(all_ids) - len(questions)

    golds: dict[str, str] | None = None
    if outputs_path.is_file():
        golds = _parse_outputs(_read_json(outputs_path), str(outputs_path), spec)
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


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def lamp_url(
    task: str | TaskSpec,
    split: str,
    kind: Literal["questions", "outputs"],
    *,
    split_kind: str = "user",
    base_url: str = OFFICIAL_BASE,
) -> str:
    """The official URL of one LaMP file, e.g. ``.../time/LaMP_2/new/dev/dev_outputs.json``."""
    spec = resolve_task(task)
    if spec.lamp_dir is None:
        raise DataError(f"{spec.name} is not a LaMP task; there is nothing to download")
    if split_kind not in SPLIT_KINDS:
        raise DataError(f"unknown LaMP split kind {split_kind!r}; use 'user' or 'time'")
    prefix = "time/" if split_kind == "time" else ""
    return f"{base_url.rstrip('/')}/{prefix}{spec.lamp_dir}/{split}/{split}_{kind}.json"


def default_lamp_dir(task: str | TaskSpec, split_kind: str = "user") -> Path:
    """The cache folder of a downloaded LaMP task: ``<home>/data/LaMP-2/user`` (created)."""
    return cache_dir("data", resolve_task(task).name, split_kind)


def download_lamp(
    task: str | TaskSpec,
    split: str,
    dest: str | Path | None = None,
    *,
    split_kind: str = "user",
    base_url: str = OFFICIAL_BASE,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    force: bool = False,
    backoff: float = 1.0,
) -> Path:
    """Download one split of a LaMP task and return the folder that holds it.

    Fetches ``{split}_questions.json`` and, except for the ``test`` split (LaMP publishes no
    test golds), ``{split}_outputs.json``. Each file is streamed to a temporary file next to
    its destination, checked to be JSON of the expected shape (a wrong URL can answer HTTP 200
    with an HTML page), and only then moved into place with :func:`os.replace`; if any file
    fails, nothing is cached. Files that are already cached and look complete are not fetched
    again unless ``force`` is true.

    Network errors and HTTP 5xx/429 are retried ``retries`` times with exponential backoff
    (``backoff``, ``2*backoff``, ...seconds); other HTTP errors such as 404 fail at once.

    Args:
        task: a LaMP task name or spec.
        split: ``train``, ``dev`` or ``test``.
        dest: target folder; default ``cache_dir("data", <task>, <split_kind>)``.
        split_kind: ``"user"`` (the default LaMP split) or ``"time"`` (the time-based split).
        base_url: the site to download from (tests point it at a local server).
        retries: how many times a failed request is retried.
        timeout: socket timeout per request, in seconds.
        progress: show a ``rich`` progress bar (bytes) while downloading.
        force: download again even when valid files are cached.
        backoff: the first retry delay in seconds.

    Raises:
        DataError: an HTTP error, a network failure after all retries, or a response that is
            not the expected JSON.
    """
    spec = resolve_task(task)
    kinds: tuple[Literal["questions", "outputs"], ...] = (
        ("questions",) if split == "test" else ("questions", "outputs")
    )  # LaMP publishes no test golds
    urls = {k: lamp_url(spec, split, k, split_kind=split_kind, base_url=base_url) for k in kinds}
    folder = Path(dest) if dest is not None else default_lamp_dir(spec, split_kind)
    folder.mkdir(parents=True, exist_ok=True)
    questions_path, outputs_path = lamp_files(folder, split)
    targets = {"questions": questions_path, "outputs": outputs_path}

    if not force and all(_looks_cached(targets[k]) for k in urls):
        return folder

    parts: dict[str, Path] = {}
    try:
        for kind, url in urls.items():
            part = _fetch(url, folder, retries=retries, timeout=timeout, backoff=backoff,
                          progress=progress)
            parts[kind] = part
            data = _read_json(part, what=url)
            if kind == "questions":
                _parse_questions(data, url, spec)
            else:
                _parse_outputs(data, url, spec)
        for kind, part in parts.items():
            os.replace(part, targets[kind])
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return folder


def _looks_cached(path: Path) -> bool:
    """A cheap completeness check: non-empty, starts with ``[``/``{`` and ends with ``]``/``}``.

    Files are fully validated before they are cached and again when loaded; this only guards
    against a truncated or foreign file that did not come from :func:`download_lamp`.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
            f.seek(max(0, size - 4096))
            tail = f.read().rstrip()
    except OSError:
        return False
    return head[:1] in (b"[", b"{") and tail[-1:] in (b"]", b"}")


_RETRY_STATUS = {429, 500, 502, 503, 504}


def _fetch(
    url: str,
    folder: Path,
    *,
    retries: int,
    timeout: float,
    backoff: float,
    progress: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``url`` into a temporary file in ``folder``, retrying transient failures."""
    attempt = 0
    while True:
        try:
            return _fetch_once(url, folder, timeout=timeout, progress=progress)
        except urllib.error.HTTPError as e:
            if e.code not in _RETRY_STATUS:
                hint = " (no such file on the server; check the task, split and split kind)"
                raise DataError(
                    f"download failed: HTTP {e.code} {e.reason} for {url}"
                    + (hint if e.code == 404 else "")
                ) from e
            error: Exception = e
        except (OSError, http.client.HTTPException) as e:
            # URLError (an OSError): DNS/connection problems; OSError: timeouts and resets;
            # HTTPException: incomplete reads and bad status lines.
            error = e
        if attempt >= retries:
            raise DataError(
                f"download failed after {attempt + 1} attempt(s): {url}: {_describe(error)}"
            ) from error
        sleep(backoff * 2**attempt)
        attempt += 1


def _describe(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _fetch_once(url: str, folder: Path, *, timeout: float, progress: bool) -> Path:
    """One GET of ``url`` streamed to a temp file; refuses responses that are not JSON."""
    headers = {"User-Agent": "personalize", "Accept": "application/json"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        content_type = (response.headers.get("Content-Type") or "").lower()
        if "html" in content_type or "xml" in content_type:
            raise DataError(
                f"{url}: the server answered with {content_type.split(';')[0]!r}, not JSON "
                "(a wrong URL, a login page or an error page?); nothing was cached"
            )
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
        part = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                _stream(response, out, total, Path(url).name, progress)
            if total is not None and part.stat().st_size != total:
                raise OSError(f"incomplete download: {part.stat().st_size} of {total} bytes")
            _check_starts_like_json(part, url)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return part


def _stream(response: Any, out: Any, total: int | None, label: str, progress: bool) -> None:
    chunk = 1 << 20
    if not progress:
        while block := response.read(chunk):
            out.write(block)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task_id = bar.add_task(label, total=total)
        while block := response.read(chunk):
            out.write(block)
            bar.update(task_id, advance=len(block))


def _check_starts_like_json(path: Path, url: str) -> None:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head[:1] not in (b"[", b"{"):
        preview = head[:60].decode("utf-8", "replace").replace("\n", " ")
        raise DataError(
            f"{url}: the response is not JSON (it starts with {preview!r}); nothing was cached"
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
    "available_splits",
    "default_lamp_dir",
    "download_lamp",
    "lamp_files",
    "lamp_task_names",
    "lamp_url",
    "load_lamp",
    "read_lamp_task",
]
