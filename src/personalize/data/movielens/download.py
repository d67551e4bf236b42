"""``personalize data download movielens-100k`` / ``movielens-latest-small``: GroupLens zips, verified.

The zip is fetched from GroupLens together with the MD5 that GroupLens publishes beside it
(``<zip>.md5``); the zip must match it, must hold only files under its one top folder, and the
extracted folder must pass :func:`~personalize.data.movielens.read_movielens` (for ml-100k: the
published SHA-256 of every data file). Only then is the folder moved into place, atomically, so
a failed download leaves nothing behind. The data's licence forbids redistribution: it stays in
the user's cache (``$PERSONALIZE_HOME/data/<name>``) and never goes into the repository.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from personalize.data.movielens.files import read_movielens
from personalize.errors import ConfigError, DataError
from personalize.paths import personalize_home

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
MOVIELENS_DOWNLOADS = {"movielens-100k": "ml-100k", "movielens-latest-small": "ml-latest-small"}
"""Download name -> the GroupLens zip (and top folder) name."""
_MD5 = re.compile(rb"\b([0-9a-fA-F]{32})\b")


def movielens_dir(name: str) -> Path:
    """Where ``name`` is (or will be) downloaded: ``$PERSONALIZE_HOME/data/<name>`` (not created)."""
    return personalize_home() / "data" / name


def download_movielens(
    name: str,
    dest: str | Path | None = None,
    *,
    base_url: str = GROUPLENS,
    force: bool = False,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> Path:
    """Download, check and unpack one MovieLens release; returns the verified folder.

    Args:
        name: ``movielens-100k`` or ``movielens-latest-small``.
        dest: target folder (default :func:`movielens_dir`).
        base_url: where the zips are (tests use a ``file://`` folder).
        force: download again even if ``dest`` already holds a verified copy.

    Raises:
        ConfigError: an unknown name.
        DataError: a network or HTTP failure after ``retries``, an MD5 mismatch, a zip that is
            not the expected release, or files that fail verification.
    """
    if name not in MOVIELENS_DOWNLOADS:
        raise ConfigError(f"unknown MovieLens download {name!r}; known: {', '.join(MOVIELENS_DOWNLOADS)}")
    stem = MOVIELENS_DOWNLOADS[name]
    folder = Path(dest) if dest is not None else movielens_dir(name)
    if not force and folder.is_dir():
        try:
            read_movielens(folder)
            return folder
        except DataError:
            pass  # incomplete or edited: fetch again
    url = f"{base_url.rstrip('/')}/{stem}.zip"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder.parent) as tmp:
        archive = Path(tmp) / f"{stem}.zip"
        archive.write_bytes(_fetch(url, retries=retries, timeout=timeout, backoff=backoff))
        found = _MD5.search(_fetch(url + ".md5", retries=retries, timeout=timeout, backoff=backoff))
        if found is None:
            raise DataError(f"{url}.md5: no MD5 sum in GroupLens' checksum file")
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != found.group(1).decode().lower():
            raise DataError(f"{url}: MD5 {digest} differs from the published {found.group(1).decode()} "
                            "(a corrupt or altered download); nothing was kept")
        unpacked = Path(tmp) / "unpacked"
        _extract(archive, stem, unpacked, url)
        read_movielens(unpacked / stem)  # DataError naming the problem
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(unpacked / stem, folder)
    return folder


def _extract(archive: Path, stem: str, into: Path, url: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            outside = [n for n in names if not n.startswith(stem + "/") or ".." in Path(n).parts]
            if outside:
                raise DataError(f"{url}: the zip holds {outside[0]!r}, outside its folder {stem}/; refused")
            zf.extractall(into)
    except zipfile.BadZipFile as e:
        raise DataError(f"{url}: not a zip file ({e})") from e


_RETRY_STATUS = {429, 500, 502, 503, 504}


def _fetch(url: str, *, retries: int, timeout: float, backoff: float) -> bytes:
    """GET ``url``; transient failures (network, 5xx, 429) are retried with exponential backoff."""
    attempt = 0
    while True:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "personalize"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            if e.code not in _RETRY_STATUS:
                raise DataError(f"download failed: HTTP {e.code} {e.reason} for {url}") from e
            error: Exception = e
        except (OSError, http.client.HTTPException) as e:
            error = e
        if attempt >= retries:
            reason = getattr(error, "reason", None) or error
            raise DataError(f"download failed after {attempt + 1} attempt(s): {url}: {reason}") from error
        time.sleep(backoff * 2**attempt)
        attempt += 1


__all__ = ["GROUPLENS", "MOVIELENS_DOWNLOADS", "download_movielens", "movielens_dir"]
