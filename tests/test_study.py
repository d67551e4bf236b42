"""Preference study: blind pairs, the judging server (HTTP client, a real browser, kill -9),
machine raters, and the Bradley-Terry ranking. Offline, no model, synthetic data only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from personalize.data.loading import load_dataset
from personalize.errors import ConfigError, DataError
from personalize.metrics import write_lamp_outputs
from personalize.study import StudyConfig, create_study, judge_study, rank_study, store
from personalize.study.rank import krippendorff_alpha_nominal

SOURCE = "synthetic-style:seed=0,n_users=4"


def write_runs(root: Path, outputs: dict[str, object], source: str = SOURCE) -> dict[str, Path]:
    """Eval-like run folders (predictions.json, results.json, details.jsonl), one per method;
    ``outputs[name](example, task)`` is the method's answer."""
    dataset = load_dataset(source, "dev")
    folders = {}
    for name, answer in outputs.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        predictions = {e.id: answer(e, dataset.task) for e in dataset.examples}
        write_lamp_outputs(folder / "predictions.json", dataset.task.name, predictions)
        (folder / "results.json").write_text(json.dumps({"task": dataset.task.name, "data": dataset.source,
                                                         "split": "dev", "method": name}))
        (folder / "details.jsonl").write_text("".join(json.dumps({"id": k, "raw": "raw " + v}) + "\n"
                                                      for k, v in predictions.items()))
        folders[name] = folder
    return folders


STANDARD = {
    "gold": lambda e, task: e.output,                      # the user's own style
    "copy": lambda e, task: task.query_text(e.input),      # the neutral sentence
    "lower": lambda e, task: e.output.lower(),             # the style, case lost
    "twin": lambda e, task: e.output,                      # identical to gold: ties, never shown
}


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    return write_runs(tmp_path / "runs", STANDARD)


@pytest.fixture
def study(tmp_path: Path, runs: dict[str, Path]) -> Path:
    path = tmp_path / "study.sqlite"
    create_study(list(runs.values()), path, StudyConfig(per_pair=6, seed=1))
    return path


def rows(path: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------
# pairs
# ------------------------------------------------------------------------------------------


def test_pairs_are_balanced_blind_seeded_and_identical_outputs_are_ties(study: Path, runs, tmp_path: Path) -> None:
    pairs = rows(study, "SELECT * FROM pairs ORDER BY id")
    by_method_pair = Counter(frozenset((p["left_method"], p["right_method"])) for p in pairs)
    assert len(by_method_pair) == 6 and set(by_method_pair.values()) == {6}  # 4 methods, 6 pairs each
    for methods in by_method_pair:
        these = [p for p in pairs if frozenset((p["left_method"], p["right_method"])) == methods]
        assert len({p["example_id"] for p in these}) == 6  # distinct examples within a method pair
        assert sorted(Counter(p["left_method"] for p in these).values()) == [3, 3]  # each side half the time
    # pairs are shuffled: the first six are not all one method pair
    assert len({frozenset((p["left_method"], p["right_method"])) for p in pairs[:6]}) > 1

    identical = [p for p in pairs if p["identical"]]
    assert {frozenset((p["left_method"], p["right_method"])) for p in identical} == {frozenset(("gold", "twin"))}
    assert len(identical) == 6
    ties = rows(study, "SELECT pair_id, rater, choice FROM judgments")
    assert {(t["pair_id"], t["rater"], t["choice"]) for t in ties} == {(p["id"], "identical-outputs", "tie") for p in identical}

    again = tmp_path / "again.sqlite"
    create_study(list(runs.values()), again, StudyConfig(per_pair=6, seed=1))
    assert [tuple(p) for p in rows(again, "SELECT * FROM pairs ORDER BY id")] == [tuple(p) for p in pairs]
    other = tmp_path / "other.sqlite"
    create_study(list(runs.values()), other, StudyConfig(per_pair=6, seed=2))
    assert [tuple(p) for p in rows(other, "SELECT * FROM pairs ORDER BY id")] != [tuple(p) for p in pairs]

    # every example of the study file carries its input, gold and user; the histories are stored
    users = rows(study, "SELECT user_id, items FROM users")
    assert len(users) == 4 and all(len(json.loads(u["items"])) == 12 for u in users)


def test_sample_size_is_capped_and_raw_outputs_come_from_details(runs, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    summary = create_study([runs["gold"], runs["copy"]], path, StudyConfig(per_pair=100, output="raw"))
    assert summary["per_pair"] == summary["examples"] == 16 and summary["pairs"] == 16
    assert all(p["left_output"].startswith("raw ") for p in rows(path, "SELECT left_output FROM pairs"))


def test_create_reads_compare_folders(runs, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    (out / "runs").mkdir(parents=True)
    for name in ("gold", "copy", "lower"):
        shutil.copytree(runs[name], out / "runs" / name)
    shutil.copytree(runs["gold"], out / "runs" / "gold-shuffled")  # an ablation run, not a row
    (out / "comparison.json").write_text(json.dumps({"rows": [{"name": n, "run_dir": f"runs/{n}"}
                                                              for n in ("gold", "copy", "lower")]}))
    summary = create_study([out], out / "study.sqlite", StudyConfig(per_pair=2))
    assert summary["methods"] == ["gold", "copy", "lower"] and summary["pairs"] == 6


def test_create_refuses_mixed_data_overwrites_and_single_methods(runs, tmp_path: Path) -> None:
    other = write_runs(tmp_path / "other", {"gold": STANDARD["gold"]}, source="synthetic-style:seed=1,n_users=4")
    with pytest.raises(ConfigError, match="same data"):
        create_study([runs["copy"], other["gold"]], tmp_path / "x.sqlite")
    with pytest.raises(ConfigError, match="at least two"):
        create_study([runs["copy"]], tmp_path / "x.sqlite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither an eval run folder"):
        create_study([tmp_path / "empty", runs["copy"]], tmp_path / "x.sqlite")
    path = tmp_path / "s.sqlite"
    create_study([runs["gold"], runs["copy"]], path)
    with pytest.raises(ConfigError, match="--force"):
        create_study([runs["gold"], runs["copy"]], path)
    create_study([runs["gold"], runs["copy"]], path, force=True)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "personalize.cli", "study", "rank", str(tmp_path / "none.sqlite")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no such study file" in lines[0] and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------
# server
# ------------------------------------------------------------------------------------------


def client_for(study: Path):
    from starlette.testclient import TestClient

    from personalize.study.server import create_app

    return TestClient(create_app(study))


def test_server_through_an_http_client(study: Path) -> None:
    client = client_for(study)
    page = client.get("/")
    assert page.status_code == 200 and "Output A" in page.text
    assert "Content-Security-Policy" in page.headers and "default-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("/static/study.js", "/static/study.css"):
        response = client.get(asset)
        assert response.status_code == 200 and response.text
    # no network: nothing on the page or in its assets points to another host
    assert all("http://" not in t and "https://" not in t and "//cdn" not in t
               for t in (page.text, client.get("/static/study.js").text, client.get("/static/study.css").text))

    first = client.get("/api/next", params={"rater": "alice"}).json()
    assert first["done"] is False and first["progress"] == {"judged": 0, "total": 30}  # 36 pairs, 6 identical
    pair = first["pair"]
    assert set(pair) == {"id", "history", "history_total", "input", "a", "b"}  # no method name is sent
    assert pair["history_total"] == 12 and len(pair["history"]) == 12

    saved = client.post("/api/judge", json={"rater": "alice", "pair_id": pair["id"], "choice": "A", "seconds": 2.5})
    assert saved.status_code == 200 and saved.json() == {"ok": True, "stored": "A", "new": True,
                                                         "progress": {"judged": 1, "total": 30}}
    # a retried or double-clicked request keeps the first judgment
    again = client.post("/api/judge", json={"rater": "alice", "pair_id": pair["id"], "choice": "B"}).json()
    assert again["stored"] == "A" and again["new"] is False
    second = client.get("/api/next", params={"rater": "alice"}).json()
    assert second["pair"]["id"] != pair["id"] and second["progress"]["judged"] == 1

    # another rater has their own progress (and their own order), at the same time
    bob = client.get("/api/next", params={"rater": "bob"}).json()
    assert bob["progress"]["judged"] == 0
    assert client.post("/api/judge", json={"rater": "bob", "pair_id": bob["pair"]["id"], "choice": "tie"}).status_code == 200

    # resume: a fresh server (a restart) gives alice the pair she had not judged yet
    assert client_for(study).get("/api/next", params={"rater": "alice"}).json()["pair"]["id"] == second["pair"]["id"]
    info = client.get("/api/study").json()
    assert info["raters"] == {"alice": 1, "bob": 1} and info["pairs"] == 30

    identical = rows(study, "SELECT id FROM pairs WHERE identical = 1")[0]["id"]
    bad = [({"rater": "alice", "pair_id": second["pair"]["id"], "choice": "C"}, "choice"),
           ({"rater": "", "pair_id": second["pair"]["id"], "choice": "A"}, "rater name"),
           ({"rater": "oracle", "pair_id": second["pair"]["id"], "choice": "A"}, "machine rater"),
           ({"rater": "alice", "pair_id": 10_000, "choice": "A"}, "no pair"),
           ({"rater": "alice", "pair_id": identical, "choice": "A"}, "identical"),
           ({"rater": "alice", "pair_id": "1", "choice": "A"}, "integer")]
    for body, message in bad:
        response = client.post("/api/judge", json=body)
        assert response.status_code == 400 and message in response.json()["error"], (body, response.text)
    assert client.get("/api/next").status_code == 400

    # alice finishes: every shown pair once, then done
    seen = {pair["id"]}
    while True:
        nxt = client.get("/api/next", params={"rater": "alice"}).json()
        if nxt["done"]:
            break
        assert nxt["pair"]["id"] not in seen
        seen.add(nxt["pair"]["id"])
        client.post("/api/judge", json={"rater": "alice", "pair_id": nxt["pair"]["id"], "choice": "skip"})
    assert len(seen) == 30 and nxt["progress"] == {"judged": 30, "total": 30}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer {url} within {timeout} s")


def test_kill_9_mid_study_loses_no_acknowledged_judgment(study: Path) -> None:
    """Three raters judge at once through the real `personalize study serve`; the server is killed
    with SIGKILL while requests are in flight; every judgment it acknowledged is in the file."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "personalize.cli", "study", "serve", str(study), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(f"{base}/api/study")
        acknowledged: list[tuple[int, str, str]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def rate(name: str) -> None:
            choices = ["A", "B", "tie"]
            with httpx.Client(base_url=base, timeout=10.0) as http:
                for n in range(1000):
                    if stop.is_set():
                        return
                    try:
                        pair = http.get("/api/next", params={"rater": name}).json()["pair"]
                        if pair is None:
                            return
                        answer = http.post("/api/judge", json={"rater": name, "pair_id": pair["id"],
                                                               "choice": choices[n % 3]})
                    except httpx.HTTPError:
                        return  # the server is gone: this judgment was never acknowledged
                    if answer.status_code == 200:
                        with lock:
                            acknowledged.append((pair["id"], name, answer.json()["stored"]))

        threads = [threading.Thread(target=rate, args=(name,)) for name in ("ann", "ben", "cat")]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)  # mid-study: the raters are still sending
        server.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert server.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 20
    stored = {(r["pair_id"], r["rater"]): r["choice"]
              for r in rows(study, "SELECT pair_id, rater, choice FROM judgments WHERE rater != 'identical-outputs'")}
    back = {"left": "A", "right": "B", "tie": "tie"}
    missing = [a for a in acknowledged if back.get(stored.get((a[0], a[1]), "")) != a[2]]
    assert not missing, f"{len(missing)} acknowledged judgments lost: {missing[:5]}"

    # the study resumes: a new server continues each rater after what the file holds
    client = client_for(study)
    for name in ("ann", "ben", "cat"):
        judged = {pid for pid, rater in stored if rater == name}
        nxt = client.get("/api/next", params={"rater": name}).json()
        assert nxt["progress"]["judged"] == len(judged)
        assert nxt["pair"] is None or nxt["pair"]["id"] not in judged


@contextlib.contextmanager
def served(study: Path):
    """The study served by uvicorn in a thread of this process; yields its URL."""
    import uvicorn

    from personalize.study.server import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(study), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(f"http://127.0.0.1:{port}/api/study")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_headless_browser_clicks_through_five_judgments(study: Path) -> None:
    """Chromium, driven by Playwright, judges five pairs with buttons and keys; the file holds them."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    expect = playwright_api.expect
    with served(study) as url, playwright_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=browser_path, headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
        except playwright_api.Error as exc:  # a chromium that Playwright cannot drive is an environment problem
            pytest.skip(f"playwright cannot launch {browser_path}: {exc}")
        try:
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url)
            page.fill("#rater", "dana")
            page.click("#start")
            page.wait_for_selector("#task:not([hidden])")
            assert page.inner_text("#progress-text") == "0 of 30 judged"
            # the history shows three items until it is expanded
            assert page.locator("#history li:visible").count() == 3
            page.click("#history-toggle")
            assert page.locator("#history li:visible").count() == 12

            actions = [("click", "#choose-a", "left"), ("key", "b", "right"), ("click", "#choose-tie", "tie"),
                       ("key", "ArrowLeft", "left"), ("click", "#choose-skip", "skip")]
            shown: list[int] = []
            for n, (how, what, _) in enumerate(actions, 1):
                pair_id = int(page.get_attribute("body", "data-pair-id"))
                shown.append(pair_id)
                if how == "click":
                    page.click(what)
                else:
                    page.keyboard.press(what)
                # the page moves on only once the server acknowledged the judgment
                expect(page.locator("#progress-text")).to_have_text(f"{n} of 30 judged")
                expect(page.locator("body")).not_to_have_attribute("data-pair-id", str(pair_id))
            assert page.inner_text("#status").startswith("saved")
        finally:
            browser.close()
    assert all(u.startswith(url) for u in requested), [u for u in requested if not u.startswith(url)]
    stored = {r["pair_id"]: r["choice"] for r in rows(study, "SELECT pair_id, choice FROM judgments WHERE rater = 'dana'")}
    assert stored == {pid: choice for pid, (_, _, choice) in zip(shown, actions)}
    assert rows(study, "SELECT kind FROM raters WHERE name = 'dana'")[0]["kind"] == "human"


# ------------------------------------------------------------------------------------------
# machine raters
# ------------------------------------------------------------------------------------------


def test_oracle_prefers_the_output_closer_to_the_gold(study: Path) -> None:
    summary = judge_study(study, "oracle")
    assert summary["judged"] == 30 and summary["tie"] == 0
    judged = rows(study, "SELECT p.left_method, p.right_method, j.choice FROM judgments j JOIN pairs p ON p.id = j.pair_id "
                         "WHERE j.rater = 'oracle'")
    winners = Counter((r["left_method"] if r["choice"] == "left" else r["right_method"]) for r in judged)
    losers = Counter((r["right_method"] if r["choice"] == "left" else r["left_method"]) for r in judged)
    # gold and twin (the gold itself) never lose; lower (same words, case lost) beats copy
    assert losers["gold"] == 0 and losers["twin"] == 0 and winners["copy"] == 0
    assert judge_study(study, "oracle")["judged"] == 0  # resumes: nothing left to judge
    assert judge_study(study, "oracle", force=True)["judged"] == 30
    assert rows(study, "SELECT COUNT(*) AS n FROM judgments WHERE rater = 'oracle'")[0]["n"] == 30


def test_user_likeness_prefers_the_users_own_style(study: Path) -> None:
    summary = judge_study(study, "user-likeness")
    assert summary["rater"] == "user-likeness" and summary["judged"] == 30
    judged = rows(study, "SELECT p.left_method, p.right_method, j.choice FROM judgments j JOIN pairs p ON p.id = j.pair_id "
                         "WHERE j.rater = 'user-likeness'")
    gold_vs_copy = [r for r in judged if {r["left_method"], r["right_method"]} == {"gold", "copy"}]
    gold_won = sum((r["left_method"] if r["choice"] == "left" else r["right_method"]) == "gold" for r in gold_vs_copy)
    assert len(gold_vs_copy) == 6 and gold_won >= 5
    # cased character n-grams: the user's style beats the same text lower-cased
    gold_vs_lower = [r for r in judged if {r["left_method"], r["right_method"]} == {"gold", "lower"}]
    assert sum((r["left_method"] if r["choice"] == "left" else r["right_method"]) == "gold" for r in gold_vs_lower) >= 4


def test_user_likeness_with_an_encoder_is_a_rater_of_its_own(study: Path, fake_encoder) -> None:
    summary = judge_study(study, "user-likeness", features="minilm-l6")
    assert summary["rater"] == "user-likeness:minilm-l6" and fake_encoder.calls >= 1
    kinds = {r["name"]: r["kind"] for r in rows(study, "SELECT name, kind FROM raters")}
    assert kinds["user-likeness:minilm-l6"] == "user-likeness"


# ------------------------------------------------------------------------------------------
# ranking
# ------------------------------------------------------------------------------------------


def simulate(study: Path, strengths: dict[str, float], raters: list[str], seed: int = 0,
             tie_band: float = 0.2) -> int:
    """Judgments drawn from a Bradley-Terry model with ``strengths``: a pair whose left win
    probability is within ``tie_band`` of 0.5 is a tie one time in three."""
    rng = np.random.default_rng(seed)
    conn = store.connect(study)
    pairs = conn.execute("SELECT id, left_method, right_method FROM pairs WHERE identical = 0").fetchall()
    made = 0
    with store.transaction(conn):
        for rater in raters:
            store.ensure_rater(conn, rater, store.HUMAN)
            for pair_id, left, right in pairs:
                p_left = 1.0 / (1.0 + np.exp(strengths[right] - strengths[left]))
                if abs(p_left - 0.5) < tie_band and rng.random() < 1 / 3:
                    choice = "tie"
                else:
                    choice = "left" if rng.random() < p_left else "right"
                if rng.random() < 0.03:
                    choice = "skip"
                conn.execute("INSERT INTO judgments (pair_id, rater, choice, seconds, created) VALUES (?, ?, ?, 1.0, ?)",
                             (pair_id, rater, choice, store.now()))
                made += 1
    conn.close()
    return made


def test_ranking_recovers_a_known_order_from_simulated_judgments(tmp_path: Path) -> None:
    truth = {"m-best": 1.6, "m-good": 0.8, "m-mid": 0.0, "m-weak": -0.8, "m-worst": -1.6}
    source = "synthetic-style:seed=0,n_users=8"
    runs = write_runs(tmp_path / "runs", {name: (lambda e, task, n=name: f"{n} says {e.output}") for name in truth},
                      source=source)
    path = tmp_path / "sim.sqlite"
    create_study(list(runs.values()), path, StudyConfig(per_pair=32, seed=0))
    made = simulate(path, truth, ["r1", "r2", "r3"])
    judge_study(path, "oracle")  # a machine rater too: it must stay out of the human ranking

    result = rank_study(path, bootstrap=200, seed=0)
    assert list(result["rankings"]) == ["human", "oracle"]  # never pooled
    human = result["rankings"]["human"]
    assert human["raters"] == {"r1": 320, "r2": 320, "r3": 320} and made == 960
    assert human["n_judgments"] + human["n_skipped"] == 960 and human["n_ties"] > 0
    assert [m["name"] for m in human["methods"]] == list(truth)
    estimated = {m["name"]: m["strength"] for m in human["methods"]}
    assert all(abs(estimated[n] - s) < 0.35 for n, s in truth.items()), estimated
    for m in human["methods"]:
        assert m["low"] <= m["strength"] <= m["high"]
        assert m["low"] < truth[m["name"]] < m["high"], m
    assert human["methods"][0]["rank_low"] == 1 and human["methods"][-1]["rank_high"] == 5
    # the win-rate matrix: row beats column, ties counted as halves
    names = human["win_rate"]["methods"]
    matrix = human["win_rate"]["matrix"]
    best, worst = names.index("m-best"), names.index("m-worst")
    assert matrix[best][worst] > 0.85 and abs(matrix[best][worst] + matrix[worst][best] - 1) < 1e-6
    assert matrix[best][best] is None and human["win_rate"]["counts"][best][worst] > 0
    agreement = human["agreement"]
    assert agreement["pairs_judged_by_several"] > 300 and 0.3 < agreement["pairwise_agreement"] < 1
    assert agreement["krippendorff_alpha"] is not None
    assert result["rankings"]["oracle"]["agreement"] is None  # one rater

    assert list(rank_study(path, bootstrap=0, groups=["oracle"])["rankings"]) == ["oracle"]
    with pytest.raises(DataError, match="no judgments by"):
        rank_study(path, bootstrap=0, groups=["nobody"])


def test_identical_outputs_count_as_ties(study: Path) -> None:
    judge_study(study, "oracle")
    result = rank_study(study, bootstrap=20)
    oracle = {m["name"]: m for m in result["rankings"]["oracle"]["methods"]}
    assert result["rankings"]["oracle"]["n_identical"] == 6
    assert oracle["gold"]["ties"] == oracle["twin"]["ties"] == 6
    without = {m["name"]: m for m in rank_study(study, bootstrap=0, include_identical=False)["rankings"]["oracle"]["methods"]}
    assert without["gold"]["ties"] == 0


def test_no_judgments_is_a_clear_error(tmp_path: Path, runs) -> None:
    path = tmp_path / "s.sqlite"
    create_study([runs["gold"], runs["copy"]], path)
    with pytest.raises(DataError, match="no judgments yet"):
        rank_study(path)


def test_krippendorff_alpha_nominal() -> None:
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "b"]]) == pytest.approx(1 - 5 * 2 / 18)
    assert krippendorff_alpha_nominal([["a", "a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None  # no variation: undefined
    assert krippendorff_alpha_nominal([["a"]]) is None


def test_rank_cli_writes_json_plot_and_the_comparison_report(runs, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app
    from personalize.compare.report import write_report

    out = tmp_path / "compare"
    rows_ = []
    for name in ("gold", "copy", "lower"):
        shutil.copytree(runs[name], out / "runs" / name)
        rows_.append({"name": name, "method": name, "kind": "reference", "metrics": {"rouge-1": 0.5},
                      "primary_metric": "rouge-1", "higher_is_better": True, "mean_context_tokens": 0.0,
                      "compression_ratio": None, "trainable_parameters": 0, "train_seconds": None, "ttft_ms": None,
                      "prepare_ms": None, "decode_tokens_per_second": None, "peak_rss_mb": 1.0, "peak_cuda_mb": None,
                      "latency_by_history": [], "run_dir": f"runs/{name}"})
    record = {"name": "c", "rows": rows_, "samples": []}
    (out / "comparison.json").write_text(json.dumps(record))
    write_report(out, rows_, [], meta=record)
    assert 'id="study"' not in (out / "report.html").read_text()

    runner = CliRunner()
    study = out / "study.sqlite"
    result = runner.invoke(app, ["study", "create", "--runs", str(out), "--out", str(study), "--per-pair", "4"])
    assert result.exit_code == 0, result.output
    assert "3 methods" in result.output and "12 to judge" in result.output
    result = runner.invoke(app, ["study", "judge", str(study), "--rater", "oracle"])
    assert result.exit_code == 0 and "12 pairs judged" in result.output, result.output
    result = runner.invoke(app, ["study", "rank", str(study), "--json", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.output)
    assert ranking["rankings"]["oracle"]["methods"][0]["name"] == "gold"
    assert (out / "study.ranking.json").is_file() and (out / "study.ranking.png").stat().st_size > 5_000
    page = (out / "report.html").read_text()
    assert 'id="study"' in page and "Preference study" in page and 'id="plot-study"' in page
    result = runner.invoke(app, ["study", "rank", str(study), "--bootstrap", "20"])
    assert result.exit_code == 0 and "oracle: 12 judgments" in result.output, result.output
