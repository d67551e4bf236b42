"""The study file: one SQLite database that holds everything a study needs and everything it got.

A study is self-contained: the pairs carry both outputs, the examples their input and gold, the
users their history texts, so that ``serve``, ``judge`` and ``rank`` never need the run folders or
the dataset again.

Tables:

* ``meta(key, value)``: JSON values: ``config``, ``task``, ``data``, ``split``, ``runs``, ``created``;
* ``methods(name, run_dir)``: the compared methods;
* ``users(user_id, items)``: each user's history texts, a JSON list, oldest first;
* ``examples(id, user_id, input, gold)``;
* ``pairs(id, example_id, left_method, right_method, left_output, right_output, identical)``:
  ``identical`` pairs are never shown; they are recorded as ties by the rater ``identical-outputs``;
* ``raters(name, kind, settings, created)``: ``kind`` is ``human`` or a machine rater's kind
  (``oracle``, ``user-likeness``, ``identical``);
* ``judgments(pair_id, rater, choice, seconds, created)``: ``choice`` is ``left``, ``right``,
  ``tie`` or ``skip``; one judgment per pair and rater.

Durability: WAL journal with ``synchronous=FULL``; a judgment is committed before the server
acknowledges it, so killing the server (even ``kill -9``) loses no acknowledged judgment.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from personalize.errors import DataError

SCHEMA_VERSION = 1
CHOICES = ("left", "right", "tie", "skip")
HUMAN = "human"
IDENTICAL_RATER = "identical-outputs"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE methods (name TEXT PRIMARY KEY, run_dir TEXT NOT NULL);
CREATE TABLE users (user_id TEXT PRIMARY KEY, items TEXT NOT NULL);
CREATE TABLE examples (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id),
                       input TEXT NOT NULL, gold TEXT);
CREATE TABLE pairs (id INTEGER PRIMARY KEY, example_id TEXT NOT NULL REFERENCES examples(id),
                    left_method TEXT NOT NULL REFERENCES methods(name),
                    right_method TEXT NOT NULL REFERENCES methods(name),
                    left_output TEXT NOT NULL, right_output TEXT NOT NULL, identical INTEGER NOT NULL);
CREATE TABLE raters (name TEXT PRIMARY KEY, kind TEXT NOT NULL, settings TEXT, created TEXT NOT NULL);
CREATE TABLE judgments (id INTEGER PRIMARY KEY AUTOINCREMENT,
                        pair_id INTEGER NOT NULL REFERENCES pairs(id),
                        rater TEXT NOT NULL REFERENCES raters(name),
                        choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'skip')),
                        seconds REAL, created TEXT NOT NULL, UNIQUE (pair_id, rater));
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def connect(path: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open a study database (one connection per thread or request: sqlite3 objects are not shared).

    Raises:
        DataError: ``path`` does not exist (and ``create`` is false) or is not a study file.
    """
    path = Path(path)
    if not create and not path.is_file():
        raise DataError(f"{path}: no such study file (make one with `personalize study create`)")
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) so that a
    # write is on disk exactly when the function that made it returns.
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 30000")
    if not create:
        try:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DataError(f"{path}: not a study file ({exc})") from None
        if version is None or json.loads(version[0]) != SCHEMA_VERSION:
            conn.close()
            raise DataError(f"{path}: study schema version {version and version[0]}, expected {SCHEMA_VERSION}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): writers queue instead of failing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def initialise(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer (several raters)
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (json.dumps(SCHEMA_VERSION),))


def get_meta(conn: sqlite3.Connection) -> dict[str, Any]:
    return {row["key"]: json.loads(row["value"]) for row in conn.execute("SELECT key, value FROM meta")}


def ensure_rater(conn: sqlite3.Connection, name: str, kind: str, settings: dict[str, Any] | None = None) -> None:
    """Register ``name`` as a ``kind`` rater, or check that it already is one.

    Raises:
        DataError: the name belongs to a rater of another kind (a person cannot take a machine
            rater's name, so judgments of the two kinds never mix under one name).
    """
    row = conn.execute("SELECT kind FROM raters WHERE name = ?", (name,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO raters VALUES (?, ?, ?, ?)", (name, kind, json.dumps(settings or {}), now()))
    elif row["kind"] != kind:
        raise DataError(f"rater name {name!r} is taken by a {row['kind']} rater; choose another")


def record_judgment(conn: sqlite3.Connection, pair_id: int, rater: str, choice: str, seconds: float | None,
                    kind: str = HUMAN) -> tuple[str, bool]:
    """Commit one judgment; returns ``(stored choice, new)``.

    A second judgment of the same pair by the same rater (a double click, a retried request)
    keeps the first: ``new`` is then false and the stored choice is returned.

    Raises:
        DataError: an unknown pair or choice, a hidden (identical) pair, or a rater name of another kind.
    """
    if choice not in CHOICES:
        raise DataError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    with transaction(conn):
        pair = conn.execute("SELECT identical FROM pairs WHERE id = ?", (pair_id,)).fetchone()
        if pair is None:
            raise DataError(f"no pair {pair_id}")
        if pair["identical"] and kind != "identical":
            raise DataError(f"pair {pair_id} has identical outputs; it is a tie and is not judged")
        ensure_rater(conn, rater, kind)
        cur = conn.execute("INSERT INTO judgments (pair_id, rater, choice, seconds, created) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (pair_id, rater) DO NOTHING", (pair_id, rater, choice, seconds, now()))
        if cur.rowcount:
            return choice, True
        stored = conn.execute("SELECT choice FROM judgments WHERE pair_id = ? AND rater = ?", (pair_id, rater)).fetchone()
        return stored["choice"], False


def judgments(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every judgment with its pair: ``{pair_id, example_id, user_id, rater, kind, choice, left_method,
    right_method, seconds}``, in the order they were made."""
    rows = conn.execute(
        "SELECT j.pair_id, p.example_id, e.user_id, j.rater, r.kind, j.choice, p.left_method, p.right_method, j.seconds "
        "FROM judgments j JOIN pairs p ON p.id = j.pair_id JOIN raters r ON r.name = j.rater "
        "JOIN examples e ON e.id = p.example_id ORDER BY j.id")
    return [dict(row) for row in rows]
