"""``download_lamp`` against a real HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from personalize.data import download_lamp, load_dataset, load_lamp
from personalize.data.lamp import lamp_url
from personalize.errors import DataError

QUESTIONS = [
    {"id": "1", "input": "paraphrase: hi", "profile": [{"id": "10", "text": "hey there"}]},
    {"id": "2", "input": "paraphrase: bye", "profile": [{"id": "20", "text": "see ya"}]},
]
OUTPUTS = {"task": "LaMP_7", "golds": [{"id": "1", "output": "hello"}, {"id": "2", "output": "ciao"}]}
HTML = b"<!DOCTYPE html><html><body>Not the file you wanted</body></html>"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class Server:
    """Serves scripted replies per path; a path's last reply repeats. Counts requests."""

    base_url: str = ""
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def set(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def serve_lamp(self, lamp_dir: str = "LaMP_7", split: str = "dev", prefix: str = "") -> None:
        base = f"/{prefix}{lamp_dir}/{split}/{split}"
        self.set(f"{base}_questions.json", Reply(body=json.dumps(QUESTIONS).encode()))
        self.set(f"{base}_outputs.json", Reply(body=json.dumps(OUTPUTS).encode()))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            state.hits[self.path] += 1
            replies = state.routes.get(self.path) or [Reply(404, b"not found", "text/plain")]
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _download(server: Server, dest: Path, task: str = "LaMP-7", split: str = "dev", **kw: object) -> Path:
    options: dict[str, object] = {"base_url": server.base_url, "progress": False, "backoff": 0.001}
    options.update(kw)
    return download_lamp(task, split, dest, **options)  # type: ignore[arg-type]


def _cached(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_good_download(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    folder = _download(server, tmp_path / "lamp7", progress=True)
    assert _cached(folder) == ["dev_outputs.json", "dev_questions.json"]  # no temp files left
    ds = load_lamp(folder, "LaMP-7", "dev")
    assert len(ds) == 2 and ds.golds() == {"1": "hello", "2": "ciao"}


def test_official_url_layout() -> None:
    base = "https://ciir.cs.umass.edu/downloads/LaMP"
    assert lamp_url("LaMP-1", "train", "questions") == f"{base}/LaMP_1/train/train_questions.json"
    assert lamp_url("LaMP-2", "dev", "outputs") == f"{base}/LaMP_2/new/dev/dev_outputs.json"
    assert (
        lamp_url("LaMP-2", "dev", "questions", split_kind="time")
        == f"{base}/time/LaMP_2/new/dev/dev_questions.json"
    )


def test_time_split_and_lamp2_layout(server: Server, tmp_path: Path) -> None:
    server.serve_lamp("LaMP_2/new", prefix="time/")
    movies = [{"id": "1", "input": "tag?", "profile": [{"id": "9", "description": "d", "tag": "comedy"}]}]
    server.set("/time/LaMP_2/new/dev/dev_questions.json", Reply(body=json.dumps(movies).encode()))
    server.set(
        "/time/LaMP_2/new/dev/dev_outputs.json",
        Reply(body=json.dumps({"task": "LaMP_2", "golds": [{"id": "1", "output": "comedy"}]}).encode()),
    )
    folder = _download(server, tmp_path / "l2", task="LaMP-2", split_kind="time")
    assert len(load_lamp(folder, "LaMP-2", "dev")) == 1


def test_html_page_with_200_is_refused_and_nothing_cached(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    server.set("/LaMP_7/dev/dev_outputs.json", Reply(body=HTML, content_type="text/html; charset=utf-8"))
    with pytest.raises(DataError, match=r"dev_outputs\.json.*'text/html', not JSON"):
        _download(server, tmp_path / "d")
    assert _cached(tmp_path / "d") == []  # the good questions file was not cached either


def test_html_body_without_html_content_type_is_refused(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    server.set("/LaMP_7/dev/dev_questions.json", Reply(body=b"\n  " + HTML, content_type="application/octet-stream"))
    with pytest.raises(DataError, match=r"not JSON \(it starts with '<!DOCTYPE"):
        _download(server, tmp_path / "d")
    assert _cached(tmp_path / "d") == []


def test_json_of_the_wrong_shape_is_refused(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    server.set("/LaMP_7/dev/dev_questions.json", Reply(body=b'{"error": "moved"}'))
    with pytest.raises(DataError, match="expected a JSON list of questions"):
        _download(server, tmp_path / "d")
    server.serve_lamp()
    server.set("/LaMP_7/dev/dev_outputs.json", Reply(body=json.dumps({**OUTPUTS, "task": "LaMP_4"}).encode()))
    with pytest.raises(DataError, match="for task 'LaMP_4'"):
        _download(server, tmp_path / "d")
    assert _cached(tmp_path / "d") == []


def test_404_fails_at_once_naming_the_url(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"HTTP 404 .*/LaMP_7/dev/dev_questions\.json"):
        _download(server, tmp_path / "d", retries=3)
    assert server.hits["/LaMP_7/dev/dev_questions.json"] == 1
    assert _cached(tmp_path / "d") == []


def test_500_is_retried(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    good = server.routes["/LaMP_7/dev/dev_questions.json"][0]
    server.set("/LaMP_7/dev/dev_questions.json", Reply(500, b"oops", "text/plain"), good)
    folder = _download(server, tmp_path / "d")
    assert server.hits["/LaMP_7/dev/dev_questions.json"] == 2
    assert len(load_lamp(folder, "LaMP-7", "dev")) == 2


def test_persistent_500_gives_up_after_retries(server: Server, tmp_path: Path) -> None:
    server.set("/LaMP_7/dev/dev_questions.json", Reply(503, b"down", "text/plain"))
    with pytest.raises(DataError, match=r"after 3 attempt\(s\).*HTTP 503"):
        _download(server, tmp_path / "d", retries=2)
    assert server.hits["/LaMP_7/dev/dev_questions.json"] == 3


def test_cached_files_are_not_downloaded_again(server: Server, tmp_path: Path) -> None:
    server.serve_lamp()
    _download(server, tmp_path / "d")
    _download(server, tmp_path / "d")
    assert sum(server.hits.values()) == 2
    _download(server, tmp_path / "d", force=True)
    assert sum(server.hits.values()) == 4
    # A truncated cache file does not count as cached.
    (tmp_path / "d" / "dev_outputs.json").write_text('{"task": "LaMP_7", "golds": [')
    _download(server, tmp_path / "d")
    assert sum(server.hits.values()) == 6


def test_test_split_has_no_outputs_and_default_dest(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path / "home"))
    server.serve_lamp(split="test")
    folder = download_lamp("LaMP-7", "test", base_url=server.base_url, progress=False)
    assert folder == tmp_path / "home" / "data" / "LaMP-7" / "user"
    assert _cached(folder) == ["test_questions.json"]
    assert server.hits["/LaMP_7/test/test_outputs.json"] == 0
    ds = load_dataset("LaMP-7", "test")
    assert [e.output for e in ds] == [None, None]


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match=r"after 2 attempt\(s\): http://127\.0\.0\.1:\d+/LaMP_7"):
        download_lamp("LaMP-7", "dev", tmp_path / "d", base_url=f"http://127.0.0.1:{port}",
                      retries=1, backoff=0.001, progress=False, timeout=5)  # fmt: skip
    assert _cached(tmp_path / "d") == []
