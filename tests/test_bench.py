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
    # the shared-prefix rows: every method without hooks in the base, with a cached prefix in use
    prefixed = {(r["method"], r["batch"]): r for r in result["rows"] if r["state"] == "warm+prefix"}
    assert {m for m, _ in prefixed} >= {"none", "text-k4", "e2p-1", "persoma-4", "rag-prefix-4"}
    for (name, batch), row in prefixed.items():
        assert 0 < row["prefix_tokens"] < row["prompt_tokens"] == warm[(name, batch)]["prompt_tokens"]
    assert "e2p-1/text-k4 +prefix" in result["ratios"][0] and "| e2p-1/text-k4 +prefix |" in markdown(result)
    # every row judged, every batch size's table with the machine's load beside it
    assert all(r["check"]["status"] in ("ok", "disturbed", "out of bounds") for r in result["rows"] if r["state"] != "cold")
    assert [c["batch"] for c in result["checks"]] == [1, 2, None] and result["checks"][-1]["history"]
    assert all(c["load"]["cores"] >= 1 and "disturbed" in c for c in result["checks"])
    assert warm[("none", 1)]["spread"]["ttft_ms"]["n"] == 1
    text = markdown(result)
    assert "| check |" in text and "batch 1: latency: median [quartiles] of 1 interleaved passes; load" in text


def _judged_rows(none_ttft: float, status_of_none: str) -> list[dict]:
    from personalize.compare.timing import spread

    def row(method, ttft, status):
        return {"method": method, "batch": 1, "state": "warm", "ttft_ms": ttft, "prepare_ms": 1.0,
                "decode_tokens_per_second": 50.0, "prompt_tokens": 60, "kv_bytes": 1024, "prefix_tokens": 0,
                "spread": {"ttft_ms": spread([ttft]), "decode_tokens_per_second": spread([50.0])},
                "check": {"status": status, "reasons": []}}
    return [row("none", none_ttft, status_of_none), row("text-k4", 120.0, "ok"), row("e2p-1", 48.0, "ok")]


def test_bench_markdown_marks_ratios_from_rows_that_do_not_hold() -> None:
    idle = {"cores": 2, "torch_threads": 2, "load_1min_before": 1.9, "load_1min_after": 2.0, "other_cpu": 0.02}
    clean = {"rows": _judged_rows(45.0, "ok"), "history": [], "options": {"repeats": 5},
             "checks": [{"batch": 1, "disturbed": False, "reasons": [], "load": idle}]}
    clean["ratios"] = ratios(clean["rows"])
    text = markdown(clean)
    assert "⚠" not in text and "Undisturbed." in text
    busy = {"rows": _judged_rows(576.0, "out of bounds"), "history": [], "options": {"repeats": 5},
            "checks": [{"batch": 1, "disturbed": True, "reasons": ["out of bounds: none warm"],
                        "load": {**idle, "load_1min_after": 3.2, "other_cpu": 1.0}}]}
    busy["ratios"] = ratios(busy["rows"])
    text = markdown(busy)
    assert "| none | 1 | warm | 576.0 ⚠ |" in text and "| e2p-1/none | 0.08 ⚠ |" in text
    assert "| e2p-1/text-k4 | 0.40 |" in text  # both rows hold
    assert "DISTURBED (out of bounds: none warm)" in text and "not to be trusted" in text


def test_no_prefix_cache_for_adapters_that_act_inside_the_base(tiny_model, fake_encoder) -> None:
    from personalize.compare.bench import shared_prefix_cache
    from personalize.evaluation.soft_method import SoftPrefixMethod
    from personalize.methods import MethodContext
    from personalize.methods.e2p import E2PConfig
    from personalize.modeling import PersonalizedModel

    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)
    pm = PersonalizedModel.create(tiny_model.model, "e2p", E2PConfig(num_tokens=1, lora_rank=2), base_name=tiny_model.name,
                                  encoder_dim=fake_encoder.dim)
    try:
        method = SoftPrefixMethod.from_model(pm)
        method.setup(MethodContext(task=ds.task, model=tiny_model.model, tokenizer=tiny_model.tokenizer,
                                   model_name=tiny_model.name, encoder_factory=lambda: fake_encoder))
        assert pm.has_hooks and shared_prefix_cache(method, tiny_model, ds) is None
    finally:
        pm.remove_hooks()


@pytest.mark.parametrize("kind", ["input_ids", "inputs_embeds"])
def test_shared_prefix_cache_gives_the_logits_of_a_full_prefill(tiny_model, kind) -> None:
    from personalize.generation import SharedPrefixCache, cache_argument, output_cache, position_ids_from_mask

    model = tiny_model.model
    shared = [5, 6, 7, 8]
    prompts = [shared + [9, 10, 11], shared + [12], shared + [13, 14]]

    def left_padded(rows):
        width = max(map(len, rows))
        ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        if kind == "input_ids":
            return {"input_ids": ids, "attention_mask": mask}
        return {"inputs_embeds": model.get_input_embeddings()(ids).detach(), "attention_mask": mask}

    with torch.inference_mode():
        cache = SharedPrefixCache.build(model, [left_padded([p]) for p in prompts])
        assert cache is not None and len(cache) == 4 and cache.is_ids == (kind == "input_ids")
        batch = left_padded(prompts)
        full = model(**batch, position_ids=position_ids_from_mask(batch["attention_mask"]), use_cache=True)
        reused, mask = cache.prefill(batch)
        assert torch.allclose(reused.logits[:, -1], full.logits[:, -1], atol=1e-5)
        # one decode step on each cache gives the same next logits too
        token = full.logits[:, -1].argmax(-1, keepdim=True)
        steps = []
        for out, m in ((full, batch["attention_mask"]), (reused, mask)):
            m = torch.cat([m, m.new_ones(len(prompts), 1)], dim=1)
            steps.append(model(input_ids=token, attention_mask=m, position_ids=m.sum(-1, keepdim=True) - 1, use_cache=True,
                               **{cache_argument(model): output_cache(out)}).logits[:, -1])
        assert torch.allclose(steps[0], steps[1], atol=1e-5)
        # a request that does not start with the prefix is prefilled in full (None), never mixed
        assert cache.prefill(left_padded([[4, 6, 7, 8, 9]])) is None
        assert cache.prefill(left_padded([shared])) is None  # nothing left to prefill after the prefix
        assert SharedPrefixCache.build(model, [left_padded([[1, 2]]), left_padded([[3, 2]])]) is None


def test_kv_cache_bytes_formula(tiny_model) -> None:
    cfg = tiny_model.model.config
    # 2 layers x (K and V) x 2 kv heads x head size 8 x 10 positions x 4 bytes (fp32)
    assert kv_cache_bytes(tiny_model.model, 10, torch.float32) == cfg.num_hidden_layers * 2 * 2 * 8 * 10 * 4
    ids = torch.arange(5, 15)[None]
    out = tiny_model.model(input_ids=ids, use_cache=True)
    from personalize.generation import output_cache

    cache = output_cache(out)
    real = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 4
    assert kv_cache_bytes(tiny_model.model, 10, torch.float32) == real


@pytest.mark.parametrize("bad", ["nonsense", "1,x"])
def test_bench_cli_rejects_bad_options(bad) -> None:
    from typer.testing import CliRunner

    from personalize.cli import app

    args = ["bench", "--methods", bad] if bad == "nonsense" else ["bench", "--batch-sizes", bad]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_bench_times_a_saved_adapter_folder_with_its_lora(tiny_model, fake_encoder, tmp_path) -> None:
    from personalize.compare.bench import check_methods
    from personalize.errors import ConfigError
    from personalize.methods.e2p import E2PConfig
    from personalize.modeling import PersonalizedModel

    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=2)
    before = _hook_count(tiny_model.model)
    pm = PersonalizedModel.create(tiny_model.model, "e2p", E2PConfig(num_tokens=1, lora_rank=2), base_name=tiny_model.name,
                                  encoder_dim=fake_encoder.dim)
    folder = str(tmp_path / "my-e2p")
    pm.save_pretrained(folder)
    pm.remove_hooks()
    check_methods(["none", folder])
    with pytest.raises(ConfigError, match="neither a preset"):
        check_methods([str(tmp_path / "missing")])
    options = BenchOptions(methods=["none", "e2p-1", folder], batch_sizes=[1], repeats=1, new_tokens=2,
                           history_lengths=[5], cold=True)
    result = run_bench(ds, tiny_model, lambda: fake_encoder, options, log=lambda row: None)
    states = {(r["method"], r["state"]) for r in result["rows"]}
    # the saved LoRA acts inside the base model: timed warm and cold, never from a shared prefix cache
    assert {(folder, "warm"), (folder, "cold"), ("e2p-1", "warm+prefix")} <= states
    assert (folder, "warm+prefix") not in states
    warm = {r["method"]: r for r in result["rows"] if r["state"] == "warm"}
    assert warm[folder]["prompt_tokens"] == warm["e2p-1"]["prompt_tokens"]
    assert {h["method"] for h in result["history"]} == {"none", "e2p-1", folder}
    assert _hook_count(tiny_model.model) == before  # every adapter the bench built is detached again
