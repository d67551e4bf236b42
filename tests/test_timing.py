"""Latency that says when it cannot be trusted: order of measurement, spread, load, verdicts, bounds.

Fake timings and fake ``/proc`` files: deterministic and fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from personalize.compare import timing
from personalize.compare.timing import (
    DISTURBED,
    OK,
    OUT_OF_BOUNDS,
    LoadSnapshot,
    Thresholds,
    assess,
    check_bounds,
    machine_load,
    run_interleaved,
    schedule,
    spread,
    table_note,
    take_snapshot,
    timing_cell,
    verdict,
)


def test_schedule_is_round_robin_with_a_rotating_start() -> None:
    order = schedule(["none", "text-k4", "e2p-1"], 4)
    assert order == [
        (0, "none"), (0, "text-k4"), (0, "e2p-1"),
        (1, "text-k4"), (1, "e2p-1"), (1, "none"),
        (2, "e2p-1"), (2, "none"), (2, "text-k4"),
        (3, "none"), (3, "text-k4"), (3, "e2p-1"),
    ]
    assert schedule(["a", "b"], 2, rotate=False) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]
    with pytest.raises(ValueError):
        schedule(["a"], 0)


def test_run_interleaved_warms_up_then_alternates_methods() -> None:
    calls: list[tuple[str, int]] = []
    tasks = {name: (lambda r, name=name: calls.append((name, r)) or f"{name}{r}") for name in ("a", "b", "c")}
    results = run_interleaved(tasks, 2)
    assert calls[:3] == [("a", -1), ("b", -1), ("c", -1)]  # warm-up, untimed
    assert calls[3:] == [("a", 0), ("b", 0), ("c", 0), ("b", 1), ("c", 1), ("a", 1)]
    assert results == {"a": ["a0", "a1"], "b": ["b0", "b1"], "c": ["c0", "c1"]}
    # no two passes of one method back to back: load that comes and goes lands on every row
    names = [name for name, _ in calls[3:]]
    assert all(x != y for x, y in zip(names, names[1:]))


def test_spread_median_and_quartiles() -> None:
    s = spread([10, 12, 11, 13, 30])
    assert (s["median"], s["q1"], s["q3"], s["n"]) == (12, 11, 13, 5)
    assert s["rel_iqr"] == pytest.approx(2 / 12, abs=1e-4)
    assert spread([5.0]) == {"median": 5.0, "q1": 5.0, "q3": 5.0, "rel_iqr": 0.0, "n": 1}
    assert spread([None, float("nan")])["n"] == 0


def _proc(tmp_path: Path, load: float, busy: int, idle: int, own: int) -> Path:
    root = tmp_path / f"proc-{busy}-{own}"
    (root / "self").mkdir(parents=True)
    (root / "loadavg").write_text(f"{load} 1.0 1.0 2/300 12345\n")
    # user nice system idle iowait irq softirq steal guest guest_nice
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1\ncpu1 1 0 0 1\nintr 1\n")
    fields = ["S"] + ["0"] * 10 + [str(own), "0"] + ["0"] * 30
    (root / "self" / "stat").write_text("4242 (python (bench)) " + " ".join(fields) + "\n")
    return root


def test_take_snapshot_and_machine_load_from_fake_proc(tmp_path: Path) -> None:
    before = take_snapshot(_proc(tmp_path, 1.9, busy=1000, idle=1000, own=600), clock=lambda: 10.0)
    assert before == LoadSnapshot(10.0, 1.9, 1000, 2000, 2, 600)
    # 1000 ticks over 2 CPUs: the machine was fully busy, 700 of the 1000 busy ticks ours
    after = take_snapshot(_proc(tmp_path, 2.8, busy=2000, idle=1000, own=1300), clock=lambda: 15.0)
    load = machine_load(before, after, torch_threads=2, cores=2)
    assert load == {"cores": 2, "torch_threads": 2, "load_1min_before": 1.9, "load_1min_after": 2.8,
                    "own_cpu": 1.4, "other_cpu": 0.6, "seconds": 5.0}
    missing = take_snapshot(tmp_path / "nowhere")
    assert (missing.load_1min, missing.busy_ticks, missing.own_ticks) == (None, None, None)
    assert machine_load(missing, missing, torch_threads=1, cores=2)["other_cpu"] is None


IDLE = {"cores": 2, "torch_threads": 2, "load_1min_before": 1.8, "load_1min_after": 2.1, "other_cpu": 0.03}
HOG = {**IDLE, "load_1min_after": 3.1, "other_cpu": 0.97}


def test_assess_idle_machine_and_tight_spread_is_undisturbed() -> None:
    result = assess({"none": spread([60, 61, 62, 61, 60]), "e2p-1": spread([59, 60, 61, 60, 59])}, IDLE)
    assert result == {"disturbed": False, "reasons": [], "rows": {"none": [], "e2p-1": []}}
    assert verdict("none", result, {}) == {"status": OK, "reasons": []}


def test_assess_flags_a_busy_machine_on_every_row() -> None:
    result = assess({"none": spread([60, 61, 62]), "e2p-1": spread([59, 60, 61])}, HOG)
    assert result["disturbed"]
    assert any("1-min load 3.10 above 2 cores" in r for r in result["reasons"])
    assert any("other processes used 0.97 of 2 cores" in r for r in result["reasons"])
    assert all(result["rows"][name] for name in ("none", "e2p-1"))
    # one thread on two cores: a hog on the other core takes nothing this process needs
    one_thread = {**IDLE, "torch_threads": 1, "other_cpu": 0.97}
    assert not assess({"none": spread([60, 61])}, one_thread)["disturbed"]


def test_assess_flags_only_the_row_whose_spread_is_wide() -> None:
    result = assess({"none": spread([40, 60, 90, 120, 50]), "e2p-1": spread([59, 60, 61])}, IDLE)
    assert result["disturbed"] and result["reasons"] == ["spread too wide in none"]
    assert result["rows"]["e2p-1"] == [] and "spread IQR/median" in result["rows"]["none"][0]
    assert verdict("none", result, {})["status"] == DISTURBED
    assert not assess({"none": spread([40, 60, 90])}, None, Thresholds(max_spread=10))["disturbed"]


def _row(name: str, tokens: int, values: list[float]) -> dict:
    return {"name": name, "tokens": tokens, "timing": spread(values)}


def test_bounds_flag_a_shorter_prompt_that_is_slower_beyond_the_noise() -> None:
    physical = [_row("none", 60, [44, 45, 46]), _row("e2p-1", 61, [45, 46, 47]), _row("text-k4", 140, [120, 121, 125])]
    assert check_bounds(physical) == {}
    # the disturbed demo: none (shorter) far slower than e2p-1, e2p-1 slower than text-k4
    broken = [_row("none", 60, [570, 576, 590]), _row("e2p-1", 61, [47, 48, 49]), _row("text-k4", 140, [40, 41, 42])]
    bounds = check_bounds(broken)
    assert set(bounds) == {"none", "e2p-1"}
    assert "576.0 ms > e2p-1's 48.0 ms with 1 fewer positions" in bounds["none"][0]
    assert "e2p-1's" not in " ".join(bounds["e2p-1"]) and "text-k4" in bounds["e2p-1"][0]
    assessment = assess({r["name"]: r["timing"] for r in broken}, IDLE)
    assert verdict("none", assessment, bounds)["status"] == OUT_OF_BOUNDS


def test_bounds_allow_overlap_and_small_differences() -> None:
    overlapping = [_row("none", 60, [44, 50, 60]), _row("e2p-1", 61, [40, 45, 52])]
    assert check_bounds(overlapping) == {}  # quartiles overlap: within the noise
    close = [_row("none", 60, [45.9, 46.0, 46.1]), _row("e2p-1", 61, [44.9, 45.0, 45.1])]
    assert check_bounds(close) == {}  # 2% slower, under the 5% tolerance
    assert set(check_bounds(close, tolerance=0.01)) == {"none"}
    single = [_row("none", 60, [90.0]), _row("e2p-1", 61, [45.0])]
    assert check_bounds(single) == {}  # one pass: the noise is unknown, no claim
    assert set(check_bounds(single, min_passes=1)) == {"none"}


def test_cells_and_notes_say_when_the_numbers_do_not_hold() -> None:
    s = spread([60, 61, 62, 61, 60])
    assert timing_cell(s) == "61.0 [60.0–61.0]"
    assert timing_cell(s, DISTURBED).endswith(timing.MARK)
    assert timing_cell(None) == "–" and timing_cell(spread([5.0])) == "5.0"
    clean = table_note(assess({"none": s}, IDLE), IDLE, passes=5)
    assert "5 interleaved passes" in clean and clean.endswith("Undisturbed.") and "other processes 0.03 cores" in clean
    busy = table_note(assess({"none": s}, HOG), HOG, passes=5)
    assert "DISTURBED" in busy and "rerun on an idle machine" in busy


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_spread"):
        Thresholds(max_spread=-1)


# --------------------------------------------------------------------------------------------
# the comparison's latency columns (personalize.compare.latency) on fake passes and fake load
# --------------------------------------------------------------------------------------------


class _FakeMonitor:
    load = HOG

    def __init__(self, *args) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _fake_measure(monkeypatch, ttft: dict, tokens: dict, load: dict, hooked: tuple = ()) -> tuple[dict, list]:
    """measure_rows with each pass replaced by a recorder returning fixed timings."""
    from types import SimpleNamespace

    from personalize.compare import latency

    calls: list[tuple[str, int]] = []

    def fake_pass(method, dataset, loaded, examples, new_tokens, decode):
        def run(r: int) -> dict:
            calls.append((method.name, r))
            value = ttft[method.name][r % len(ttft[method.name])]
            return {"ttft_ms": value, "prepare_ms": 1.0, "forward_ms": value - 1.0,
                    "prompt_tokens": tokens[method.name], "decode_tokens_per_second": 100.0}
        return run

    monkeypatch.setattr(latency, "_pass", fake_pass)
    monkeypatch.setattr(latency, "LoadMonitor", type("M", (_FakeMonitor,), {"load": load}))
    methods = {name: SimpleNamespace(name=name, model=SimpleNamespace(has_hooks=name in hooked)) for name in ttft}
    dataset = SimpleNamespace(examples=["x", "y"])
    return latency.measure_rows(methods, dataset, None, n=2, repeats=3), calls


def test_compare_latency_is_interleaved_and_clean_on_an_idle_machine(monkeypatch) -> None:
    measured, calls = _fake_measure(monkeypatch, {"none": [45, 46, 44], "text-k4": [120, 121, 119], "e2p-1": [46, 47, 45]},
                                    {"none": 60, "text-k4": 140, "e2p-1": 61}, IDLE)
    assert calls == [("none", -1), ("text-k4", -1), ("e2p-1", -1),
                     ("none", 0), ("text-k4", 0), ("e2p-1", 0),
                     ("text-k4", 1), ("e2p-1", 1), ("none", 1),
                     ("e2p-1", 2), ("none", 2), ("text-k4", 2)]
    assert measured["assessment"] == {"disturbed": False, "reasons": []}
    row = measured["rows"]["none"]
    assert row["ttft_ms"] == 45 and row["latency"]["ttft_ms"]["q1"] == 44.5 and row["latency"]["passes"] == 3
    assert row["latency"]["check"] == {"status": OK, "reasons": []} and row["latency"]["load"] == IDLE


def test_compare_latency_says_disturbed_and_out_of_bounds(monkeypatch) -> None:
    from personalize.compare.tables import latency_note, table_cells

    measured, _ = _fake_measure(monkeypatch, {"none": [576, 590, 570], "text-k4": [40, 41, 42], "e2p-1": [48, 49, 47],
                                              "xattn": [300, 301, 302]},
                                {"none": 60, "text-k4": 140, "e2p-1": 61, "xattn": 20}, HOG, hooked=("xattn",))
    rows = measured["rows"]
    assert measured["assessment"]["disturbed"]
    assert rows["none"]["latency"]["check"]["status"] == OUT_OF_BOUNDS
    assert rows["e2p-1"]["latency"]["check"]["status"] == OUT_OF_BOUNDS  # slower than text-k4 with fewer tokens
    assert rows["text-k4"]["latency"]["check"]["status"] == DISTURBED  # the load
    assert rows["xattn"]["latency"]["check"]["status"] == DISTURBED  # hooks: never compared by length
    table_rows = [{"name": name, "metrics": {}, "mean_context_tokens": 0, "compression_ratio": None,
                   "trainable_parameters": 0, "train_seconds": None, "peak_rss_mb": 1.0, **fields}
                  for name, fields in rows.items()]
    headers, body = table_cells(table_rows)
    assert "latency check" in headers
    ttft = headers.index("TTFT ms")
    assert body[0][ttft] == "576.0 [573.0–583.0] ⚠"
    check = body[0][headers.index("latency check")]
    assert check == ("out of bounds; forward 575.0 ms > text-k4's 40.0 ms with 80 fewer positions; "
                     "forward 575.0 ms > e2p-1's 47.0 ms with 1 fewer positions")
    note = latency_note(table_rows)
    assert "DISTURBED" in note and "1-min load 3.10 above 2 cores" in note and "out of bounds: e2p-1, none" in note
