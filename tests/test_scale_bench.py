"""benchmarks/scale_1b.py and train_throughput.py's pieces on the tiny model (seconds, not minutes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(scope="module")
def training(tiny_model):
    import scale_1b

    args = argparse.Namespace(train_batch=2, train_tokens=24, train_answer=6, repeats=2)
    return scale_1b.measure_training(tiny_model, args)


def test_training_measurement_has_spread_memory_and_load(training) -> None:
    assert training["train_step_s"]["n"] == 2 and training["train_step_s"]["median"] > 0
    assert training["forward_s"]["median"] > 0 and training["train_tokens_per_second"] > 0
    assert training["peak_mb"] > 0 and training["weights_mb"] > 0 and training["trainable_parameters"] > 0
    assert training["load"]["cores"] >= 1 and isinstance(training["disturbed"], bool)


def test_scale_table_has_ratios_and_marks_disturbed_cells(training) -> None:
    import scale_1b

    def record(name, params, ttft, status="ok"):
        rows = [{"method": m, "batch": 1, "state": "warm", "ttft_ms": t, "decode_tokens_per_second": 100.0,
                 "check": {"status": status if m == "none" else "ok", "reasons": []}}
                for m, t in zip(scale_1b.METHODS, ttft)]
        return {"model": {"name": name, "parameters": params}, "training": {**training, "disturbed": False},
                "serving": {"rows": rows, "checks": []}}

    small = record("smollm2-135m", 134.5e6, [60.0, 130.0, 59.0])
    big = record("random:llama-1.2b", 1174.5e6, [400.0, 900.0, 410.0], status="disturbed")
    headers, lines = scale_1b.table([small, big], [1])
    assert headers == ["quantity", "smollm2-135m", "random:llama-1.2b", "random:llama-1.2b / smollm2-135m"]
    by_label = {cells[0]: cells[1:] for cells in lines}
    assert by_label["parameters (M)"] == ["134.5", "1,174.5", "8.73x"]
    assert by_label["TTFT ms text-k4, batch 1"] == ["130.0", "900.0", "6.92x"]
    assert by_label["TTFT ms none, batch 1"] == ["60.0", "400.0 ⚠", "6.67x ⚠"]
    assert by_label["TTFT e2p-1 / text-k4, batch 1"][0] == "0.45"


def test_profiler_op_times_per_step(tiny_model) -> None:
    import torch
    from common import train_bench
    from train_throughput import _op_times

    bench = train_bench(tiny_model, batch=2, tokens=24, answer=6)
    ops = _op_times(bench.train_step, 1, torch.device("cpu"))
    assert ops["phase: backward"]["total_cpu_ms"] > 0 and ops["phase: optimizer"]["calls"] == 1
    assert any(name.startswith("aten::") and v["self_cpu_ms"] > 0 for name, v in ops.items() if "self_cpu_ms" in v)
