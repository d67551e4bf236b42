"""Latency numbers that say when they cannot be trusted.

A timing is only as good as the machine it ran on. This module holds what every latency table
of the package (``personalize compare``, ``make demo``, ``personalize bench``, the HTML report)
uses to measure and to judge its numbers:

* :func:`schedule` / :func:`run_interleaved`: methods measured **round-robin** (one pass of
  every method, then the next pass), the starting method rotated at each pass, so that load that
  comes and goes lands on every row alike instead of on whichever row ran at that moment;
* :func:`spread`: median and quartiles of the passes; ``rel_iqr`` = IQR / median;
* :func:`take_snapshot` / :func:`machine_load`: the 1-minute load average before and after, the
  usable cores, torch's intra-op threads, and the CPU time of this process and of every other
  process between the two snapshots (from ``/proc/stat`` and ``/proc/self/stat``);
* :func:`assess`: a table is **disturbed** when a row's spread is too wide, when the load
  average exceeds the cores, or when other processes used the cores this process's threads need;
* :func:`check_bounds`: a row is **out of bounds** when it computes fewer prompt positions than
  another row of the same table and is nevertheless slower beyond the noise (its first quartile
  above the other's third and its median above the other's by more than the tolerance): on one
  machine a forward over fewer positions cannot be slower, so such a row measured load, not cost.

Everything here is deterministic given its inputs (the ``/proc`` root and the clock are
arguments), so the tests run it on fake timings and fake ``/proc`` files.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

OK, DISTURBED, OUT_OF_BOUNDS = "ok", "disturbed", "out of bounds"
MARK = "⚠"


@dataclass(frozen=True)
class Thresholds:
    """When a latency table stops being trustworthy.

    Attributes:
        max_spread: a row whose passes have IQR / median above this is disturbed.
        load_margin: the table is disturbed when the 1-minute load average (before or after)
            exceeds the usable cores by more than this (the load includes this process's own
            threads: an idle machine running the benchmark sits at about its torch threads).
        other_cpu_margin: the table is disturbed when other processes used more cores than this
            process's torch threads leave free, by more than this many cores.
        bounds_tolerance: a row with fewer prompt positions is "slower beyond the noise" only
            when its median is more than this fraction above the other row's (and the
            interquartile ranges do not overlap).
    """

    max_spread: float = 0.25
    load_margin: float = 0.5
    other_cpu_margin: float = 0.25
    bounds_tolerance: float = 0.05

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if not value >= 0:
                raise ValueError(f"latency threshold {key} must be >= 0, got {value}")


# --------------------------------------------------------------------------------------------
# order of measurement
# --------------------------------------------------------------------------------------------


def schedule(names: Sequence[str], repeats: int, *, rotate: bool = True) -> list[tuple[int, str]]:
    """The order of measurement: ``(pass, name)`` pairs, every name once per pass.

    With ``rotate``, pass ``r`` starts at name ``r mod len(names)``, so no method is always the
    one measured first (right after another method's different working set) or last.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    order: list[tuple[int, str]] = []
    names = list(names)
    for r in range(repeats):
        shift = r % len(names) if rotate and names else 0
        order += [(r, name) for name in names[shift:] + names[:shift]]
    return order


def run_interleaved(tasks: Mapping[str, Callable[[int], T]], repeats: int, *, warmup: int = 1,
                    rotate: bool = True) -> dict[str, list[T]]:
    """Call every task ``warmup`` times untimed, then once per pass in :func:`schedule` order.

    Args:
        tasks: name -> a callable taking the pass index and returning that pass's measurement.

    Returns:
        name -> its ``repeats`` measurements, in pass order.
    """
    for w in range(warmup):
        for task in tasks.values():
            task(-1 - w)
    results: dict[str, list[T]] = {name: [] for name in tasks}
    for r, name in schedule(list(tasks), repeats, rotate=rotate):
        results[name].append(tasks[name](r))
    return results


# --------------------------------------------------------------------------------------------
# spread
# --------------------------------------------------------------------------------------------


def spread(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """``{"median", "q1", "q3", "rel_iqr", "n"}`` of ``values`` (``None`` and NaN dropped).

    Quartiles are the inclusive ones (``statistics.quantiles(method="inclusive")``): with 5
    passes, q1 and q3 are the 2nd and 4th smallest. One value: q1 = q3 = median, rel_iqr 0.
    No values: every field ``None`` and ``n`` 0.
    """
    xs = sorted(float(v) for v in values if v is not None and v == v)
    if not xs:
        return {"median": None, "q1": None, "q3": None, "rel_iqr": None, "n": 0}
    median = statistics.median(xs)
    q1, q3 = (statistics.quantiles(xs, n=4, method="inclusive")[::2] if len(xs) > 1 else (xs[0], xs[0]))
    rel = (q3 - q1) / median if median > 0 else 0.0
    return {"median": round(median, 3), "q1": round(q1, 3), "q3": round(q3, 3), "rel_iqr": round(rel, 4), "n": len(xs)}


# --------------------------------------------------------------------------------------------
# machine load
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSnapshot:
    """What ``/proc`` says at one moment; fields are ``None`` where it could not be read."""

    wall: float
    load_1min: float | None
    busy_ticks: int | None  # all CPUs: user + nice + system + irq + softirq + steal
    total_ticks: int | None  # busy + idle + iowait
    cpus: int | None  # CPUs counted in /proc/stat
    own_ticks: int | None  # this process (all its threads): utime + stime


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def take_snapshot(proc: str | Path = "/proc", *, clock: Callable[[], float] = time.perf_counter) -> LoadSnapshot:
    """Read the load average and CPU tick counters (missing files give ``None`` fields)."""
    root = Path(proc)
    load = busy = total = cpus = own = None
    try:
        load = float((root / "loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:
        lines = (root / "stat").read_text().splitlines()
        fields = [int(x) for x in lines[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        busy = user + nice + system + irq + softirq + steal
        total = busy + idle + iowait
        cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    except (OSError, ValueError, IndexError):
        busy = total = cpus = None
    try:
        text = (root / "self" / "stat").read_text()
        after_name = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
        own = int(after_name[11]) + int(after_name[12])  # fields 14 and 15: utime, stime
    except (OSError, ValueError, IndexError):
        pass
    return LoadSnapshot(clock(), load, busy, total, cpus, own)


def machine_load(before: LoadSnapshot, after: LoadSnapshot, *, torch_threads: int | None = None,
                 cores: int | None = None) -> dict[str, Any]:
    """The machine's load over the interval between two snapshots.

    ``own_cpu`` and ``other_cpu`` are cores (0..cpus) used on average over the interval by this
    process and by every other process: the busy ticks of all CPUs minus this process's, over the
    interval's ticks, times the CPUs. ``None`` where ``/proc`` could not be read.
    """
    import torch

    own_cpu = other_cpu = None
    if None not in (before.busy_ticks, after.busy_ticks, before.total_ticks, after.total_ticks, after.cpus):
        elapsed = after.total_ticks - before.total_ticks  # type: ignore[operator]
        if elapsed > 0 and after.cpus:
            busy = (after.busy_ticks - before.busy_ticks) / elapsed * after.cpus  # type: ignore[operator]
            if before.own_ticks is not None and after.own_ticks is not None:
                own_cpu = (after.own_ticks - before.own_ticks) / elapsed * after.cpus
                other_cpu = max(0.0, busy - own_cpu)
    return {
        "cores": cores if cores is not None else usable_cores(),
        "torch_threads": torch_threads if torch_threads is not None else torch.get_num_threads(),
        "load_1min_before": before.load_1min,
        "load_1min_after": after.load_1min,
        "own_cpu": None if own_cpu is None else round(own_cpu, 3),
        "other_cpu": None if other_cpu is None else round(other_cpu, 3),
        "seconds": round(after.wall - before.wall, 3),
    }


class LoadMonitor:
    """``with LoadMonitor() as monitor: ...``; then ``monitor.load`` is :func:`machine_load` of the block."""

    def __init__(self, proc: str | Path = "/proc") -> None:
        self.proc = proc
        self.load: dict[str, Any] | None = None
        self._before: LoadSnapshot | None = None

    def __enter__(self) -> LoadMonitor:
        self._before = take_snapshot(self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._before is not None
        self.load = machine_load(self._before, take_snapshot(self.proc))


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------


def load_reasons(load: Mapping[str, Any], thresholds: Thresholds = Thresholds()) -> list[str]:
    """Why the machine was too busy for the numbers to hold (empty: it was not, or unknown)."""
    reasons = []
    cores = int(load.get("cores") or 1)
    loads = [v for v in (load.get("load_1min_before"), load.get("load_1min_after")) if v is not None]
    if loads and max(loads) > cores + thresholds.load_margin:
        reasons.append(f"1-min load {max(loads):.2f} above {cores} cores")
    other = load.get("other_cpu")
    threads = int(load.get("torch_threads") or 1)
    free = max(0, cores - min(threads, cores))
    if other is not None and other > free + thresholds.other_cpu_margin:
        reasons.append(f"other processes used {other:.2f} of {cores} cores ({threads} torch threads)")
    return reasons


def assess(spreads: Mapping[str, Mapping[str, Any]], load: Mapping[str, Any] | None,
           thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The verdict on one table of interleaved measurements.

    Args:
        spreads: row name -> :func:`spread` of the row's headline timing (e.g. TTFT per pass).
        load: :func:`machine_load` over the table's measurement (``None``: unknown).

    Returns:
        ``{"disturbed": bool, "reasons": [...], "rows": {name: [row reasons]}}``: the table is
        disturbed when the machine was busy (every row then carries the reason) or any row's
        spread is too wide (that row carries it).
    """
    machine = load_reasons(load, thresholds) if load else []
    rows: dict[str, list[str]] = {}
    for name, s in spreads.items():
        rel = s.get("rel_iqr")
        mine = list(machine)
        if rel is not None and rel > thresholds.max_spread:
            mine.append(f"spread IQR/median {rel:.2f} > {thresholds.max_spread:.2f}")
        rows[name] = mine
    wide = sorted(name for name, reasons in rows.items() if len(reasons) > len(machine))
    reasons = machine + ([f"spread too wide in {', '.join(wide)}"] if wide else [])
    return {"disturbed": bool(reasons), "reasons": reasons, "rows": rows}


def check_bounds(rows: Sequence[Mapping[str, Any]], *, tokens: str = "tokens", timing: str = "timing",
                 name: str = "name", tolerance: float = Thresholds.bounds_tolerance,
                 min_passes: int = 3) -> dict[str, list[str]]:
    """Rows slower than a row that computes more prompt positions, beyond the noise.

    Args:
        rows: one table's comparable rows (same batch size, same machine, no adapter hooks
            inside the base model), each with ``name``, ``tokens`` (prompt positions computed)
            and ``timing`` (a :func:`spread` of the forward time).

    Returns:
        name -> reasons, for the rows out of bounds (empty when all are physical). Row ``a`` is
        out of bounds against ``b`` when ``a`` has fewer positions, ``a``'s first quartile lies
        above ``b``'s third, and ``a``'s median exceeds ``b``'s by more than ``tolerance``. Rows
        with fewer than ``min_passes`` passes are not judged (their noise is unknown).
    """
    out: dict[str, list[str]] = {}
    for a in rows:
        sa = a[timing]
        if sa.get("median") is None or sa.get("n", 0) < min_passes:
            continue
        for b in rows:
            sb = b[timing]
            if b is a or sb.get("median") is None or sb.get("n", 0) < min_passes or not a[tokens] < b[tokens]:
                continue
            if sa["q1"] > sb["q3"] and sa["median"] > sb["median"] * (1 + tolerance):
                out.setdefault(a[name], []).append(
                    f"forward {sa['median']:.1f} ms > {b[name]}'s {sb['median']:.1f} ms with "
                    f"{b[tokens] - a[tokens]:.0f} fewer positions")
    return out


def verdict(name: str, assessment: Mapping[str, Any], bounds: Mapping[str, list[str]]) -> dict[str, Any]:
    """One row's ``{"status", "reasons"}``: ``out of bounds`` over ``disturbed`` over ``ok``."""
    reasons = list(assessment["rows"].get(name, []))
    out_of_bounds = bounds.get(name, [])
    if out_of_bounds:
        return {"status": OUT_OF_BOUNDS, "reasons": list(out_of_bounds) + reasons}
    return {"status": DISTURBED if reasons else OK, "reasons": reasons}


# --------------------------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------------------------


def timing_cell(s: Mapping[str, Any] | None, status: str | None = None, digits: int = 1) -> str:
    """``"61.5 [59.8–63.0]"`` (median [quartiles]); ``"61.5 [..] ⚠"`` when the row is not ok;
    ``"–"`` without a value."""
    if not s or s.get("median") is None:
        return "–"
    text = f"{s['median']:.{digits}f}"
    if s.get("n", 0) > 1:
        text += f" [{s['q1']:.{digits}f}–{s['q3']:.{digits}f}]"
    return text + (f" {MARK}" if status not in (None, OK) else "")


def load_summary(load: Mapping[str, Any] | None) -> str:
    """``"load 1.95→2.02 on 2 cores, 2 torch threads, other processes 0.04 cores"``."""
    if not load:
        return "machine load unknown"
    fmt = lambda v: "?" if v is None else f"{v:.2f}"  # noqa: E731
    text = (f"load {fmt(load.get('load_1min_before'))}→{fmt(load.get('load_1min_after'))} on {load.get('cores')} "
            f"cores, {load.get('torch_threads')} torch threads")
    if load.get("other_cpu") is not None:
        text += f", other processes {load['other_cpu']:.2f} cores"
    return text


def table_note(assessment: Mapping[str, Any] | None, load: Mapping[str, Any] | None, *,
               what: str = "latency", passes: int | None = None) -> str:
    """One line under a table: how it was measured and whether the numbers hold."""
    how = f"{what}: median [quartiles] of {passes} interleaved passes; " if passes else f"{what}: "
    how += load_summary(load)
    if assessment is None:
        return how + "."
    if assessment["disturbed"]:
        return (f"{how}. {MARK} DISTURBED ({'; '.join(assessment['reasons'])}): rows marked {MARK} measured the "
                "machine's load, not the method; rerun on an idle machine.")
    return how + ". Undisturbed."


def judge_table(rows: Sequence[dict[str, Any]], load: Mapping[str, Any] | None, *, thresholds: Thresholds = Thresholds(),
                timing: str = "ttft_ms", forward: str = "forward_ms", tokens: str = "tokens",
                group: str | None = None) -> dict[str, Any]:
    """Judge one table of interleaved rows in place; returns the table's ``{"disturbed", "reasons", "load"}``.

    Args:
        rows: dicts with ``name``, ``spread`` (key -> :func:`spread`), ``tokens`` (prompt positions
            computed) and ``comparable`` (whether the bounds check applies: no hooks inside the
            base model, warm state); each gets ``check`` (:func:`verdict`).
        group: a row key; the bounds check compares rows with the same value only (e.g. the
            state: warm rows with warm rows, rows with the prefix cache with each other).
    """
    assessment = assess({r["name"]: r["spread"][timing] for r in rows}, load, thresholds)
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("comparable", True):
            groups.setdefault(r.get(group) if group else None, []).append(
                {"name": r["name"], "tokens": r[tokens], "timing": r["spread"][forward]})
    bounds: dict[str, list[str]] = {}
    for members in groups.values():
        bounds.update(check_bounds(members, tolerance=thresholds.bounds_tolerance))
    for r in rows:
        r["check"] = verdict(r["name"], assessment, bounds)
    reasons = assessment["reasons"] + ([f"out of bounds: {', '.join(sorted(bounds))}"] if bounds else [])
    return {"disturbed": bool(reasons), "reasons": reasons, "load": dict(load) if load else None}
