"""The latency benchmark on a tiny model: every preset runs, numbers are sane, ratios computed."""

from __future__ import annotations

import pytest
import torch

from personalize.compare.bench import BenchOptions, kv_cache_bytes, markdown, ratios, run_bench
from personalize.data.loading import load_dataset


def test_bench_runs_every_preset_on_a_tiny_model(tiny_model, fake_encoder) -> None:
    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)
    options = BenchOptions(methods=["none", "text-k4", "e2p-1", "persoma-4", "xattn", "rag-prefix-4"],
                           batch_sizes=[1, 2], repeats=1, new_tokens=3, history_lengths=[5, 20], cold=True)
    result = run_bench(ds, tiny_model, lambda: fake_encoder, options, log=lambda row: None)
    warm = {(r["method"], r["batch"]): r for r in result["rows"] if r["state"] == "warm"}
    assert len(warm) == 12
    assert {r["method"] for r in result["rows"] if r["state"] == "cold"} == {"e2p-1", "persoma-4", "xattn", "rag-prefix-4"}
    for row in result["rows"]:
        assert row["ttft_ms"] > 0 and row["ttft_ms"] >= row["prepare_ms"] and row["decode_tokens_per_second"] > 0
    # soft tokens: e2p-1 adds exactly 1 prompt position over its own no-context prompt; text adds history
    assert warm[("text-k4", 1)]["prompt_tokens"] > warm[("none", 1)]["prompt_tokens"]
    assert warm[("xattn", 1)]["kv_bytes"] < warm[("text-k4", 1)]["kv_bytes"]
    result["ratios"] = ratios(result["rows"])
    assert [e["batch"] for e in result["ratios"]] == [1, 2] and "e2p-1/text-k4" in result["ratios"][0]
    assert {h["history"] for h in result["history"]} == {5, 20}
    assert "| e2p-1/none |" in markdown(result)


def test_kv_cache_bytes_formula(tiny_model) -> None:
    cfg = tiny_model.model.config
    # 2 layers x (K and V) x 2 kv heads x head size 8 x 10 positions x 4 bytes (fp32)
    assert kv_cache_bytes(tiny_model.model, 10, torch.float32) == cfg.num_hidden_layers * 2 * 2 * 8 * 10 * 4
    ids = torch.arange(5, 15)[None]
    out = tiny_model.model(input_ids=ids, use_cache=True)
    from personalize.generation import _output_cache

    cache = _output_cache(out)
    real = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 4
    assert kv_cache_bytes(tiny_model.model, 10, torch.float32) == real


@pytest.mark.parametrize("bad", ["nonsense", "1,x"])
def test_bench_cli_rejects_bad_options(bad) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app

    args = ["bench", "--methods", bad] if bad == "nonsense" else ["bench", "--batch-sizes", bad]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
