"""Downloading LaMP from its site: one split's files, streamed, checked and cached atomically."""

from __future__ import annotations

import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from personalize.data.lamp_format import check_outputs_task, lamp_files, parse_outputs, parse_questions, read_json, resolve_task
from personalize.data.tasks import TaskSpec
from personalize.errors import DataError
from personalize.paths import cache_dir

OFFICIAL_BASE = "https://ciir.cs.umass.edu/downloads/LaMP"
"""The LaMP download site; ``{OFFICIAL_BASE}/LaMP_7/dev/dev_questions.json`` and so on."""

SplitKind = Literal["user", "time"]
SPLIT_KINDS: tuple[str, ...] = ("user", "time")


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
            data = read_json(part, what=url)
            if kind == "questions":
                parse_questions(data, url, spec)
            else:
                check_outputs_task(parse_outputs(data, url)[0], url, spec)
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
