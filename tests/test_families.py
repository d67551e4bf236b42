"""The per-family table (models/families.py) and the training loss from the model's own forward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from personalize.errors import ConfigError
from personalize.methods.e2p.model import E2PConfig
from personalize.methods.soft.features import UserFeatures
from personalize.modeling import PersonalizedModel
from personalize.models.families import FAMILIES, family_of
from personalize.models.llm import decoder_layers


def _tiny_gemma2(vocab_size: int, softcap: float):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                          final_logit_softcapping=softcap, attn_logit_softcapping=None, initializer_range=0.3,
                          query_pre_attn_scalar=8, sliding_window=64, pad_token_id=2, bos_token_id=1, eos_token_id=2)
    return Gemma2ForCausalLM(config).eval().requires_grad_(False)


def _reference_loss(model: PersonalizedModel, batch) -> torch.Tensor:
    """Cross-entropy of the targets on the full logits of one plain forward of the base model."""
    with model.active(batch.memory):
        logits = model.base(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                            position_ids=batch.position_ids).logits
    shifted, labels = logits[:, :-1], batch.labels[:, 1:]
    keep = labels != -100
    return nn.functional.cross_entropy(shifted[keep].float(), labels[keep])


@pytest.mark.parametrize("family", ["llama", "gemma2-softcapped"])
def test_loss_is_the_cross_entropy_of_the_models_own_logits(family: str, tiny_model) -> None:
    base = tiny_model.model if family == "llama" else _tiny_gemma2(tiny_model.model.config.vocab_size, softcap=2.0)
    torch.manual_seed(0)
    model = PersonalizedModel.create(base, "e2p", E2PConfig(num_tokens=2, mlp_hidden=16), base_name="tiny", encoder_dim=8)
    feats = UserFeatures(3, vector=torch.randn(3, 8))
    prefixes, suffixes = [[5, 6, 7], [5, 6, 7, 9], [5, 6, 7, 9, 10]], [[8], [8, 9, 10], [11]]
    targets = [[12, 13, 2], [14, 2], [15, 16, 17, 2]]
    for padding_side in ("left", "right"):  # right: the shared prefix runs first, as a KV cache
        batch = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2, padding_side=padding_side)
        with torch.no_grad():
            expected = _reference_loss(model, batch)
        loss = model(batch)
        assert torch.allclose(loss, expected, atol=1e-5), (padding_side, float(loss), float(expected))
    if family != "llama":  # the soft-capping matters here: without it the loss would differ
        with torch.no_grad():
            batch = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2)
            base.config.final_logit_softcapping = None
            uncapped = _reference_loss(model, batch)
            base.config.final_logit_softcapping = 2.0
        assert not torch.allclose(model(batch), uncapped, atol=1e-3)


def test_family_table_gives_layers_and_lora_targets(tiny_model) -> None:
    family = family_of(tiny_model.model)
    assert family.name == "Llama" and decoder_layers(tiny_model.model) is tiny_model.model.model.layers
    model = PersonalizedModel.create(tiny_model.model, "e2p", E2PConfig(num_tokens=1, mlp_hidden=16, lora_rank=2),
                                     base_name="tiny", encoder_dim=8)
    try:
        targeted = {key.rsplit("__", 1)[-1] for key in model.adapter.lora}
        assert targeted == set(family.lora_targets) == {"q_proj", "v_proj"}
    finally:
        model.remove_hooks()
    assert all(f.model_types for f in FAMILIES)


def test_unknown_family_is_one_clear_error() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=32))
    with pytest.raises(ConfigError) as err:
        decoder_layers(gpt2)
    message = str(err.value)
    assert "'gpt2'" in message and "families.py" in message and "\n" not in message
