"""The study's local web page (Starlette, served by uvicorn).

Routes (JSON unless said otherwise; method names never leave the server, outputs are "A" and "B"):

* ``GET /``: the page (``static/index.html``; its script and style sheet under ``/static/``);
* ``GET /api/study``: ``{"task", "pairs", "raters": {name: judged}}``;
* ``GET /api/next?rater=NAME``: the rater's next unjudged pair, ``{"done", "progress": {"judged",
  "total"}, "pair": {"id", "history", "history_total", "input", "a", "b"}}`` (``pair`` is null when
  done). Each rater sees the pairs in an order of their own (seeded by the study seed and the
  name), and picks up where they left off: the next pair is the first one they have not judged;
* ``POST /api/judge`` with ``{"rater", "pair_id", "choice": "A"|"B"|"tie"|"skip", "seconds"}``: commits
  the judgment to SQLite, then answers ``{"ok": true, "stored", "new", "progress"}``; the page
  only moves on after this answer, so whatever was acknowledged is on disk.

Every request opens its own SQLite connection (Starlette runs these plain functions in a thread
pool), so several raters can work at once; writers queue on SQLite's lock.
Nothing on the page comes from the network: no CDN, and a Content-Security-Policy that only
allows this server.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from personalize.errors import DataError, PersonalizeError
from personalize.study import store

STATIC = Path(__file__).parent / "static"
MAX_HISTORY = 50  # items sent per pair; the page shows a few and expands to these
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_RESERVED = re.compile(r"^(oracle|identical-outputs|user-likeness)(\b|$)", re.IGNORECASE)
_CHOICE = {"A": "left", "B": "right", "tie": "tie", "skip": "skip"}


def check_rater_name(name: Any) -> str:
    """A human rater's name: 1-64 printable characters, not a machine rater's name.

    Raises:
        DataError: an empty, long, or reserved name.
    """
    if not isinstance(name, str) or not name.strip():
        raise DataError("give a rater name")
    name = name.strip()
    if len(name) > 64 or not name.isprintable():
        raise DataError("a rater name has at most 64 printable characters")
    if _RESERVED.match(name):
        raise DataError(f"{name!r} is the name of a machine rater; choose another")
    return name


def _order_key(seed: int, rater: str, pair_id: int) -> str:
    # sha256 rather than hash(): the same order in every process and after every restart
    return hashlib.sha256(f"{seed}\0{rater}\0{pair_id}".encode()).hexdigest()


def next_pair(conn: Any, rater: str, seed: int) -> dict[str, Any]:
    """The ``/api/next`` answer for ``rater`` (see the module docstring)."""
    shown = [row[0] for row in conn.execute("SELECT id FROM pairs WHERE identical = 0")]
    judged = {row[0] for row in conn.execute("SELECT pair_id FROM judgments WHERE rater = ?", (rater,))}
    progress = {"judged": sum(1 for p in shown if p in judged), "total": len(shown)}
    todo = [p for p in shown if p not in judged]
    if not todo:
        return {"done": True, "progress": progress, "pair": None}
    pair_id = min(todo, key=lambda p: _order_key(seed, rater, p))
    row = conn.execute("SELECT p.id, p.left_output, p.right_output, e.input, u.items FROM pairs p "
                       "JOIN examples e ON e.id = p.example_id JOIN users u ON u.user_id = e.user_id "
                       "WHERE p.id = ?", (pair_id,)).fetchone()
    items = json.loads(row["items"])
    history = list(reversed(items))[:MAX_HISTORY]  # most recent first
    return {"done": False, "progress": progress,
            "pair": {"id": row["id"], "history": history, "history_total": len(items), "input": row["input"],
                     "a": row["left_output"], "b": row["right_output"]}}


def create_app(study: str | Path):
    """The Starlette application serving ``study`` (checked to be a study file first)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    path = Path(study)
    conn = store.connect(path)  # fail now, not at the first request
    try:
        meta = store.get_meta(conn)
    finally:
        conn.close()
    seed = int(meta["config"]["seed"])

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"ok": False, "error": message}, status_code=status)

    def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    def study_info(request: Request) -> JSONResponse:
        conn = store.connect(path)
        try:
            shown = conn.execute("SELECT COUNT(*) FROM pairs WHERE identical = 0").fetchone()[0]
            raters = {r[0]: r[1] for r in conn.execute(
                "SELECT r.name, COUNT(j.id) FROM raters r LEFT JOIN judgments j ON j.rater = r.name "
                "WHERE r.kind = ? GROUP BY r.name ORDER BY r.name", (store.HUMAN,))}
        finally:
            conn.close()
        return JSONResponse({"task": meta["task"], "synthetic": meta.get("synthetic", False), "pairs": shown,
                             "raters": raters})

    def next_view(request: Request) -> JSONResponse:
        try:
            rater = check_rater_name(request.query_params.get("rater"))
        except PersonalizeError as exc:
            return error(str(exc))
        conn = store.connect(path)
        try:
            return JSONResponse(next_pair(conn, rater, seed))
        finally:
            conn.close()

    async def judge(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error("expected a JSON body")
        if not isinstance(body, dict):
            return error("expected a JSON object")
        try:
            rater = check_rater_name(body.get("rater"))
            choice = _CHOICE.get(body.get("choice"))
            if choice is None:
                raise DataError(f"choice must be one of {', '.join(_CHOICE)}")
            pair_id = body.get("pair_id")
            if not isinstance(pair_id, int) or isinstance(pair_id, bool):
                raise DataError("pair_id must be an integer")
            seconds = body.get("seconds")
            seconds = float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None
        except PersonalizeError as exc:
            return error(str(exc))
        from starlette.concurrency import run_in_threadpool

        def write() -> dict[str, Any]:
            conn = store.connect(path)
            try:
                stored, new = store.record_judgment(conn, pair_id, rater, choice, seconds)
                shown = conn.execute("SELECT COUNT(*) FROM pairs WHERE identical = 0").fetchone()[0]
                judged = conn.execute("SELECT COUNT(*) FROM judgments j JOIN pairs p ON p.id = j.pair_id "
                                      "WHERE j.rater = ? AND p.identical = 0", (rater,)).fetchone()[0]
            finally:
                conn.close()
            back = {v: k for k, v in _CHOICE.items()}
            return {"ok": True, "stored": back[stored], "new": new, "progress": {"judged": judged, "total": shown}}

        try:
            # the commit (fsync) blocks, so it runs in a worker thread, not on the event loop
            return JSONResponse(await run_in_threadpool(write))
        except PersonalizeError as exc:
            return error(str(exc))

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/study", study_info),
        Route("/api/next", next_view),
        Route("/api/judge", judge, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ])
    return _with_headers(app)


_HEADERS = [(b"content-security-policy", _CSP.encode()), (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff")]


def _with_headers(app: Any) -> Any:
    """ASGI middleware: the CSP (only this server), no caching (a restarted study is never stale)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_HEADERS]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def serve(study: str | Path, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning",
          announce: Any = None) -> None:
    """Serve ``study`` until interrupted (blocking); ``announce(url)`` is called once the study file
    has been checked, before the server starts."""
    import uvicorn

    app = create_app(study)
    if announce is not None:
        announce(f"http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
