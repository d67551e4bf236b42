"""Gated cross-attention memory and retrieval-augmented prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from personalize.data.loading import load_dataset
from personalize.data.schema import UserProfile
from personalize.data.tasks import get_task
from personalize.evaluation import EvalOptions, evaluate
from personalize.methods import make_method
from personalize.methods.rag_prefix import RagPrefixConfig
from personalize.methods.rag_prefix.features import RetrievedItems
from personalize.methods.soft.features import UserFeatures
from personalize.methods.xattn import XAttnConfig
from personalize.modeling import PersonalizedModel

ENC_DIM = 32


def _xattn(tiny_model, **kw) -> PersonalizedModel:
    torch.manual_seed(0)
    cfg = XAttnConfig(every_k_layers=1, heads=2, **kw)
    return PersonalizedModel.create(tiny_model.model, "xattn", cfg, base_name=tiny_model.name, encoder_dim=ENC_DIM)


def _items(batch: int, n: int, seed: int) -> UserFeatures:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, n, dtype=torch.long)
    mask[-1, n // 2 :] = 0
    return UserFeatures(batch, items=torch.randn(batch, n, ENC_DIM, generator=g), item_mask=mask)


@pytest.mark.parametrize(("slots", "input_norm"), [(None, "none"), (3, "none"), (None, "standardize")])
def test_fresh_xattn_is_an_exact_no_op(tiny_model, slots, input_norm) -> None:
    model = _xattn(tiny_model, memory_slots=slots, input_norm=input_norm)
    try:
        assert len(model.adapter.blocks) == tiny_model.model.config.num_hidden_layers
        ids = torch.tensor([[5, 6, 7, 8], [2, 2, 9, 10]])
        mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
        plain = tiny_model.model(input_ids=ids, attention_mask=mask).logits
        with model.active(model.adapter.memory(_items(2, 6, 0))):
            wrapped = tiny_model.model(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(plain, wrapped)
    finally:
        model.remove_hooks()


def test_memory_changes_output_once_gates_open_and_never_leaks(tiny_model) -> None:
    model = _xattn(tiny_model)
    try:
        with torch.no_grad():
            for block in model.adapter.blocks.values():
                block.attn_gate.fill_(1.0)
                block.ff_gate.fill_(1.0)
        ids = torch.tensor([[5, 6, 7, 8]])
        plain = tiny_model.model(input_ids=ids).logits
        mem_a = model.adapter.memory(_items(1, 4, 1))
        mem_b = model.adapter.memory(_items(1, 4, 2))
        with model.active(mem_a):
            out_a = tiny_model.model(input_ids=ids).logits
        with model.active(mem_b):
            out_b = tiny_model.model(input_ids=ids).logits
        with model.active(mem_a):
            out_a_again = tiny_model.model(input_ids=ids).logits
        assert not torch.allclose(out_a, plain) and not torch.allclose(out_a, out_b)
        assert torch.equal(out_a, out_a_again)  # B's memory left nothing behind
        assert torch.equal(tiny_model.model(input_ids=ids).logits, plain)  # inactive outside the block
        with pytest.raises(RuntimeError), model.active(mem_a):
            raise RuntimeError("a failing batch")
        assert model._memory is None and not model._active  # restored even after an error
    finally:
        model.remove_hooks()


def test_xattn_trains_saves_and_evaluates(tiny_model, fake_encoder, tmp_path: Path) -> None:
    from personalize.training import TrainConfig, train

    cfg = TrainConfig(method="xattn", data="synthetic-pref:n_users=3,examples_per_user=2", epochs=1, batch_size=4,
                      adapter={"every_k_layers": 1, "heads": 2}, eval={"batch_size": 4})
    summary = train(cfg, tmp_path / "x", loaded_model=tiny_model, show_progress=False)
    assert summary["trainable_parameters"] > 0
    ds = load_dataset("synthetic-pref", "dev", n_users=3, examples_per_user=2)
    scored = evaluate(make_method("xattn", {"adapter": str(tmp_path / "x")}), ds, model=tiny_model,
                      options=EvalOptions(batch_size=3), show_progress=False)
    assert scored["mode"] == "score" and scored["mean_context_tokens"] == 0
    gen = evaluate(make_method("xattn", {"adapter": str(tmp_path / "x")}), ds, model=tiny_model,
                   options=EvalOptions(mode="generate", batch_size=3, decoding={"max_new_tokens": 4}), show_progress=False)
    assert gen["n_examples"] == len(ds)


def test_xattn_standardized_items_keep_their_statistics(tiny_model, fake_encoder, tmp_path: Path) -> None:
    """``input_norm: standardize`` learns the items' statistics in training and the saved adapter
    carries them: the reloaded memory equals the trained one."""
    from personalize.training import TrainConfig, train

    cfg = TrainConfig(method="xattn", data="synthetic-pref:n_users=3,examples_per_user=2", epochs=1, batch_size=4,
                      adapter={"every_k_layers": 1, "heads": 2, "input_norm": "standardize"}, eval={"batch_size": 4})
    train(cfg, tmp_path / "x", loaded_model=tiny_model, show_progress=False)
    loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path / "x", base_name=tiny_model.name)
    try:
        standardize = loaded.adapter.standardize
        assert standardize.count > 0 and not torch.equal(standardize.mean, torch.zeros_like(standardize.mean))
        items = _items(2, 4, 4)
        items = UserFeatures(2, items=items.items[..., : standardize.mean.shape[0]], item_mask=items.item_mask)
        loaded.adapter.eval()
        slots, _ = loaded.adapter.memory(items)
        centred = (items.items - standardize.mean) / (standardize.var + standardize.eps).sqrt()
        assert torch.allclose(slots[:, 1:], loaded.adapter.memory_proj(centred * items.item_mask[..., None]), atol=1e-5)
    finally:
        loaded.remove_hooks()


def test_label_scoring_with_memory_matches_per_label_forwards(tiny_model) -> None:
    """Label scoring continues each prompt with every label under a block mask; the memory must
    hold for that second forward exactly as for a plain forward of prompt + label."""
    from personalize.generation import position_ids_from_mask, score_labels

    model = _xattn(tiny_model)
    try:
        with torch.no_grad():
            for block in model.adapter.blocks.values():
                block.attn_gate.fill_(0.5)
        memory = model.adapter.memory(_items(2, 4, 3))
        ids = torch.tensor([[2, 5, 6, 7], [8, 9, 10, 11]])
        mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
        labels = [[12, 13, 2], [14, 2]]
        with torch.no_grad(), model.active(memory):
            fast = score_labels(tiny_model.model, input_ids=ids, attention_mask=mask, label_ids=labels, pad_token_id=2)
            for row in range(2):
                for j, lab in enumerate(labels):
                    full = torch.cat([ids[row], torch.tensor(lab)])[None]
                    fmask = torch.cat([mask[row], torch.ones(len(lab), dtype=torch.long)])[None]
                    one = (memory[0][row : row + 1], memory[1][row : row + 1])
                    with model.active(one):
                        logits = tiny_model.model(input_ids=full, attention_mask=fmask, position_ids=position_ids_from_mask(fmask)).logits
                    logp = torch.log_softmax(logits[0].float(), -1)
                    start = ids.shape[1]
                    expected = sum(logp[start - 1 + t, tok] for t, tok in enumerate(lab))
                    assert torch.allclose(fast[row, j], expected, atol=1e-4)
    finally:
        model.remove_hooks()


def test_retrieved_features_follow_the_query(fake_encoder) -> None:
    task = get_task("LaMP-7")
    items = tuple({"id": str(i), "text": t} for i, t in enumerate(
        ["pizza night with friends", "marathon training run", "new python release", "rainy monday", "pizza oven delivered"]))
    profile = UserProfile("u", items)
    builder = RetrievedItems(task, fake_encoder, max_items=2, retrieve_k=2)
    feats = builder([profile], ["best pizza in town"])
    assert feats.items.shape == (1, 2, fake_encoder.dim)
    expected = fake_encoder.encode(["pizza oven delivered", "pizza night with friends"])
    got = feats.items[0].numpy()
    assert {tuple(v.round(5)) for v in got} == {tuple(v.round(5)) for v in expected}
    with pytest.raises(ValueError, match="queries"):
        builder([profile])


def test_rag_prefix_trains_on_synthetic_style(tiny_model, fake_encoder, tmp_path: Path) -> None:
    from personalize.training import TrainConfig, train

    cfg = TrainConfig(method="rag-prefix", data="synthetic-style:n_users=2,examples_per_user=2", epochs=1, batch_size=4,
                      adapter={"num_tokens": 2, "dim": 16, "heads": 2, "retrieve_k": 3},
                      eval={"batch_size": 4, "decoding": {"max_new_tokens": 4}})
    summary = train(cfg, tmp_path / "r", loaded_model=tiny_model, show_progress=False)
    saved = json.loads((tmp_path / "r" / "adapter_config.json").read_text())
    assert saved["method"] == "rag-prefix" and saved["config"]["retrieve_k"] == 3
    assert summary["adapter_config"]["config"] == RagPrefixConfig(num_tokens=2, dim=16, heads=2, retrieve_k=3).to_dict()


def test_dropping_the_wrapper_removes_its_hooks(tiny_model) -> None:
    import gc

    gc.collect()  # wrappers other tests dropped take their hooks with them here, not below
    before = sum(len(m._forward_hooks) for m in tiny_model.model.modules())
    model = _xattn(tiny_model)
    assert sum(len(m._forward_hooks) for m in tiny_model.model.modules()) > before
    del model
    gc.collect()
    assert sum(len(m._forward_hooks) for m in tiny_model.model.modules()) == before
