"""Read a MovieLens folder by the files it holds, and refuse copies that are not as published.

Formats (chosen by the files present):

* ``ml-100k``: ``u.data`` (``user \\t item \\t rating \\t unix time``, no header), ``u.item``
  (latin-1, ``item|title|release date|video date|IMDb URL|`` + 19 genre flags), ``u.user``
  (``user|age|gender|occupation|zip``).
* ``ml-1m``: ``ratings.dat`` (``user::item::rating::time``), ``movies.dat``
  (``item::title::genre|genre``), ``users.dat`` (``user::gender::age::occupation::zip``); latin-1.
* CSV family (ml-latest-small, ml-latest, ml-20m/25m/32m): ``ratings.csv``
  (``userId,movieId,rating,timestamp`` header, half-star ratings 0.5-5.0) and ``movies.csv``
  (``movieId,title,genres``, UTF-8, titles quoted where they hold commas).

What is verified, so that an edited copy fails with one line naming the problem (many public
copies are edited: a fake user 0 prepended, a header line added, every "1" deleted, users
995-998 appended, CRLF line endings):

* line endings are ``\\n`` (a ``\\r`` anywhere is refused), every line has the format's number
  of fields, numbers are integers where they must be, no field is empty;
* ``.dat``/``u.*`` files have no header line; ``.csv`` files have exactly the official header,
  once;
* user ids are exactly ``1..U`` (no user 0, no gap), every rated movie is in the movies file,
  every user in the users file (where there is one), ratings are in the format's range and
  step, timestamps fall between 1995 and today, no (user, movie) pair is rated twice;
* ml-100k and ml-1m: every user has at least 20 ratings (as their READMEs promise);
* ml-100k: a folder that claims to be the published set (its ``u.info``, or 100,000 ratings,
  943 users or 1,682 movies) must match the published SHA-256 of ``u.data``, ``u.item`` and
  ``u.user`` byte for byte.

Order: the ratings keep file order; :meth:`MovieLens.sequences` sorts each user's ratings by
time with ties broken by file order (a stable sort), which is what TALLRec's preprocessing does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personalize.errors import DataError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
"""The 19 genre flags of ``u.item``, in column order (``u.genre``)."""

ML100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
}
"""SHA-256 of the published ml-100k files (checked against three independent public copies)."""
ML100K_COUNTS = {"users": 943, "movies": 1682, "ratings": 100_000}

EARLIEST = 788_918_400  # 1995-01-01: no MovieLens release has an earlier rating
MIN_RATINGS_PER_USER = 20
CSV_RATINGS_HEADER = ["userId", "movieId", "rating", "timestamp"]
CSV_MOVIES_HEADER = ["movieId", "title", "genres"]
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")

FORMATS = {
    "ml-100k": ("u.data", "u.item"),
    "ml-1m": ("ratings.dat", "movies.dat"),
    "csv": ("ratings.csv", "movies.csv"),
}


@dataclass(frozen=True)
class Movie:
    """One movie: ``title`` as MovieLens writes it (year included), ``year`` ('' if unknown)."""

    id: int
    title: str
    year: str
    genres: tuple[str, ...]


@dataclass
class MovieLens:
    """All ratings of a MovieLens folder, in file order.

    Attributes:
        format: ``ml-100k``, ``ml-1m`` or ``csv``.
        users / items: ``[n]`` int64 ids of each rating.
        ratings: ``[n]`` float64 (1-5; half stars in the CSV family).
        times: ``[n]`` int64 unix seconds.
        movies: every movie of the movies file, by id.
        checksum: ``"sha256"`` when the files matched the published checksums, else ``None``
            (only the structure was verified).
    """

    folder: Path
    format: str
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    times: np.ndarray
    movies: dict[int, Movie]
    checksum: str | None = None

    def __len__(self) -> int:
        return len(self.ratings)

    @property
    def n_users(self) -> int:
        return int(self.users.max()) if len(self.users) else 0

    def sequences(self) -> dict[int, np.ndarray]:
        """Per user, in order of first appearance in the ratings file: indices into the rating
        arrays sorted by time, ties in file order (``[n_u]`` int64 each)."""
        order = np.lexsort((np.arange(len(self.times)), self.times, self.users))
        users_sorted = self.users[order]
        starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
        ends = np.r_[starts[1:], len(order)]
        by_user = {int(users_sorted[s]): order[s:e] for s, e in zip(starts, ends)}
        _, first = np.unique(self.users, return_index=True)
        appearance = self.users[np.sort(first)]
        return {int(u): by_user[int(u)] for u in appearance}


def detect_format(folder: str | Path) -> str | None:
    """``ml-100k``, ``ml-1m``, ``csv`` or ``None``, by the files present."""
    folder = Path(folder)
    for name, (ratings, movies) in FORMATS.items():
        if (folder / ratings).is_file() and (folder / movies).is_file():
            return name
    return None


def read_movielens(folder: str | Path) -> MovieLens:
    """Read and verify a MovieLens folder (see the module docstring for what is checked).

    Raises:
        DataError: no MovieLens files, or a file that is not as published (the message names
            the file, the line and the problem).
    """
    folder = Path(folder)
    fmt = detect_format(folder)
    if fmt is None:
        raise DataError(
            f"{folder}: not a MovieLens folder (expected u.data + u.item, ratings.dat + movies.dat, "
            "or ratings.csv + movies.csv)"
        )
    reader = {"ml-100k": _read_100k, "ml-1m": _read_1m, "csv": _read_csv}[fmt]
    data = reader(folder)
    _check_ratings(data)
    return data


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def _read_100k(folder: Path) -> MovieLens:
    checksum = _check_published_100k(folder)
    movies: dict[int, Movie] = {}
    for where, parts in _rows(folder / "u.item", "|", 5 + len(ML100K_GENRES), "latin-1"):
        movie_id = _int(parts[0], where, "movie id")
        flags = parts[5:]
        if any(f not in ("0", "1") for f in flags):
            raise DataError(f"{where}: genre flags must be 0 or 1, got {'|'.join(flags)!r}")
        genres = tuple(g for g, f in zip(ML100K_GENRES, flags) if f == "1")
        year = _year(parts[1]) or parts[2][-4:]  # release date 01-Jan-1995
        _add_movie(movies, Movie(movie_id, parts[1], year if year.isdigit() else "", genres), where)
    users = _user_ids(folder / "u.user", "|", 5, "latin-1")
    data = _rating_arrays(_rows(folder / "u.data", "\t", 4, "latin-1"), integer_ratings=True)
    return _check_users(MovieLens(folder, "ml-100k", *data, movies=movies, checksum=checksum), users)


def _read_1m(folder: Path) -> MovieLens:
    movies: dict[int, Movie] = {}
    for where, parts in _rows(folder / "movies.dat", "::", 3, "latin-1"):
        movie_id = _int(parts[0], where, "movie id")
        genres = tuple(g for g in parts[2].split("|") if g)
        _add_movie(movies, Movie(movie_id, parts[1], _year(parts[1]), genres), where)
    users = _user_ids(folder / "users.dat", "::", 5, "latin-1") if (folder / "users.dat").is_file() else None
    data = _rating_arrays(_rows(folder / "ratings.dat", "::", 4, "latin-1"), integer_ratings=True)
    return _check_users(MovieLens(folder, "ml-1m", *data, movies=movies), users)


def _read_csv(folder: Path) -> MovieLens:
    movies: dict[int, Movie] = {}
    for where, parts in _rows(folder / "movies.csv", ",", 3, "utf-8", header=CSV_MOVIES_HEADER):
        movie_id = _int(parts[0], where, "movie id")
        genres = () if parts[2] == "(no genres listed)" else tuple(g for g in parts[2].split("|") if g)
        _add_movie(movies, Movie(movie_id, parts[1].strip(), _year(parts[1]), genres), where)
    rows = _rows(folder / "ratings.csv", ",", 4, "utf-8", header=CSV_RATINGS_HEADER)
    data = _rating_arrays(rows, integer_ratings=False)
    return MovieLens(folder, "csv", *data, movies=movies)


def _check_users(data: MovieLens, users: set[int] | None) -> MovieLens:
    """Check that every rating's user is in the users file (where the format has one)."""
    if users is not None:
        where = data.folder / FORMATS[data.format][0]
        name = "u.user" if data.format == "ml-100k" else "users.dat"
        rated = set(np.unique(data.users).tolist())
        unknown = sorted(rated - users)
        if 0 in unknown or 0 in users:
            raise DataError(f"{where}: user id 0: MovieLens user ids start at 1 (a fake user 0 added?)")
        if unknown:
            raise DataError(
                f"{where}: {len(unknown)} rating user(s) are not in {name} "
                f"(e.g. {_span(unknown)}; {name} has users {min(users)}-{max(users)}): users added?"
            )
        if users != set(range(1, len(users) + 1)):
            raise DataError(f"{data.folder / name}: user ids are not exactly 1..{len(users)} (users added?)")
    return data


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_published_100k(folder: Path) -> str | None:
    """``"sha256"`` if the files are the published ones; an error if they claim to be and are not."""
    info = folder / "u.info"
    claims = info.is_file() and info.read_bytes().split() == b"943 users 1682 items 100000 ratings".split()
    if not claims:
        claims = _count_lines(folder / "u.data") == ML100K_COUNTS["ratings"] or _count_lines(
            folder / "u.item"
        ) == ML100K_COUNTS["movies"] or _count_lines(folder / "u.user") == ML100K_COUNTS["users"]
    if not claims:
        return None
    for name, expected in ML100K_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{folder}: looks like MovieLens 100K but has no {name}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            # Name the edit where it is recognisable, else just the mismatch.
            _raise_if_edited(path)
            raise DataError(
                f"{path}: not the published MovieLens 100K file (sha256 {digest[:12]}..., expected "
                f"{expected[:12]}...): an edited copy; get the official zip with "
                "`personalize data download movielens-100k`"
            )
    return "sha256"


def _raise_if_edited(path: Path) -> None:
    """Parse the file once for the structural errors, which name the edit more clearly."""
    sep, fields = {"u.data": ("\t", 4), "u.item": ("|", 24), "u.user": ("|", 5)}[path.name]
    for where, parts in _rows(path, sep, fields, "latin-1"):
        for part in parts[:1]:
            _int(part, where, "id")


def _check_ratings(data: MovieLens) -> None:
    where = data.folder / FORMATS[data.format][0]
    if len(data) == 0:
        raise DataError(f"{where}: no ratings")
    users = np.unique(data.users)
    if users[0] < 1:
        raise DataError(f"{where}: user id {users[0]}: MovieLens user ids start at 1 (a fake user {users[0]} added?)")
    if len(users) != users[-1]:
        gap = int(np.flatnonzero(np.diff(np.r_[0, users]) != 1)[0])
        raise DataError(
            f"{where}: user ids are not 1..{len(users)} without gaps: after user {users[gap - 1] if gap else 0} "
            f"comes user {users[gap]} (highest {users[-1]}): users added or removed?"
        )
    unknown = sorted(set(np.unique(data.items).tolist()) - set(data.movies))
    if unknown:
        raise DataError(
            f"{where}: {len(unknown)} rated movie id(s) are not in the movies file, e.g. {_span(unknown)}"
        )
    if data.format == "csv":
        bad = (data.ratings < 0.5) | (data.ratings > 5) | (data.ratings * 2 != np.round(data.ratings * 2))
        allowed = "0.5-5.0 in half stars"
    else:
        bad = (data.ratings < 1) | (data.ratings > 5)
        allowed = "1-5"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: rating {data.ratings[i]:g} of user {data.users[i]} is outside {allowed}")
    now = int(time.time())
    bad = (data.times < EARLIEST) | (data.times > now)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where}: timestamp {data.times[i]} of user {data.users[i]} is not between 1995 and today "
            "(digits removed?)"
        )
    pairs = data.users.astype(np.int64) * (int(data.items.max()) + 1) + data.items
    if len(np.unique(pairs)) != len(pairs):
        uniq, counts = np.unique(pairs, return_counts=True)
        dup = int(uniq[counts > 1][0])
        div = int(data.items.max()) + 1
        raise DataError(f"{where}: user {dup // div} rated movie {dup % div} more than once")
    if data.format in ("ml-100k", "ml-1m"):
        counts = np.bincount(data.users)[1:]
        if counts.min() < MIN_RATINGS_PER_USER:
            user = int(np.argmin(counts)) + 1
            raise DataError(
                f"{where}: user {user} has {counts.min()} ratings; every {data.format} user has at "
                f"least {MIN_RATINGS_PER_USER} (users added?)"
            )


# --------------------------------------------------------------------------------------------
# Line-level parsing
# --------------------------------------------------------------------------------------------


def _read_text(path: Path, encoding: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    if b"\r" in raw:
        line = raw[: raw.index(b"\r")].count(b"\n") + 1
        raise DataError(f"{path}:{line}: CRLF (\\r) line endings; the published files use \\n only (an edited copy)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise DataError(f"{path}: starts with a UTF-8 byte-order mark; the published files have none (an edited copy)")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not {encoding} text ({e.reason} at byte {e.start})") from e


def _rows(
    path: Path, sep: str, fields: int, encoding: str, header: list[str] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """``("file:line", fields)`` for every line; refuses blank lines, wrong field counts, empty
    fields and (for ``header``) a missing, different or repeated header line."""
    text = _read_text(path, encoding)
    if sep == ",":
        lines: Iterator[list[str]] = csv.reader(io.StringIO(text))
    else:
        lines = (line.split(sep) for line in text.split("\n"))
    ended = text.endswith("\n")
    count = text.count("\n") + (0 if ended else 1)
    for lineno, parts in enumerate(lines, start=1):
        where = f"{path}:{lineno}"
        if lineno > count:  # the empty string after the final newline
            break
        if header is not None and lineno == 1:
            if parts != header:
                raise DataError(f"{where}: expected the header {','.join(header)!r}, got {','.join(parts)[:80]!r}")
            continue
        if header is not None and parts == header:
            raise DataError(f"{where}: a second header line (an edited copy)")
        if parts == [] or parts == [""]:
            raise DataError(f"{where}: blank line (an edited copy?)")
        if len(parts) != fields:
            raise DataError(f"{where}: expected {fields} fields separated by {sep!r}, got {len(parts)}")
        if lineno == 1 and header is None and parts[0].strip() and not parts[0].strip().isdigit():
            raise DataError(
                f"{where}: starts with {sep.join(parts)[:60]!r}, which looks like a header line; "
                f"the published {path.name} has none (an edited copy)"
            )
        yield where, parts


def _int(text: str, where: str, what: str) -> int:
    if not text.isdigit():
        hint = " (every '1' deleted?)" if text == "" else ""
        raise DataError(f"{where}: {what} {text!r} is not a non-negative integer{hint}")
    return int(text)


def _rating_arrays(
    rows: Iterator[tuple[str, list[str]]], *, integer_ratings: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    users: list[int] = []
    items: list[int] = []
    ratings: list[float] = []
    times: list[int] = []
    for where, (u, i, r, t) in rows:
        users.append(_int(u, where, "user id"))
        items.append(_int(i, where, "movie id"))
        if integer_ratings:
            ratings.append(_int(r, where, "rating"))
        else:
            try:
                ratings.append(float(r))
            except ValueError:
                raise DataError(f"{where}: rating {r!r} is not a number") from None
        times.append(_int(t, where, "timestamp"))
    return (
        np.asarray(users, dtype=np.int64),
        np.asarray(items, dtype=np.int64),
        np.asarray(ratings, dtype=np.float64),
        np.asarray(times, dtype=np.int64),
    )


def _user_ids(path: Path, sep: str, fields: int, encoding: str) -> set[int]:
    users: set[int] = set()
    for where, parts in _rows(path, sep, fields, encoding):
        user = _int(parts[0], where, "user id")
        if user in users:
            raise DataError(f"{where}: user {user} listed twice")
        users.add(user)
    return users


def _add_movie(movies: dict[int, Movie], movie: Movie, where: str) -> None:
    if movie.id in movies:
        raise DataError(f"{where}: movie id {movie.id} listed twice")
    movies[movie.id] = movie


def _year(title: str) -> str:
    match = _YEAR.search(title)
    return match.group(1) if match else ""


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n") if path.is_file() else 0
    except OSError:
        return 0


def _span(ids: list[int]) -> str:
    if not ids:
        return ""
    shown = ", ".join(str(i) for i in ids[:4])
    return shown + (f" ... {ids[-1]}" if len(ids) > 4 else "")


__all__ = [
    "ML100K_GENRES",
    "ML100K_SHA256",
    "Movie",
    "MovieLens",
    "detect_format",
    "read_movielens",
]
