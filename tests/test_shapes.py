"""Random-weight models of a given shape (``random:<shape>``): parameter counts and a forward."""

from __future__ import annotations

import pytest
import torch

from personalize.errors import ConfigError
from personalize.models.llm import load_random_model
from personalize.models.shapes import SHAPES, parameter_count, shape_config


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_parameter_count_formula_matches_the_built_model(shape: str) -> None:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):  # no memory, no initialisation: only the shapes
        model = AutoModelForCausalLM.from_config(shape_config(shape))
    assert sum(p.numel() for p in model.parameters()) == parameter_count(shape)


def test_the_1b_shape_is_about_1_2b_parameters_and_llama() -> None:
    config = shape_config("llama-1.2b")
    assert config.model_type == "llama" and config.vocab_size == 49152
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads,
            config.intermediate_size) == (2048, 16, 32, 8, 8192)
    assert 1.15e9 < parameter_count("llama-1.2b") < 1.25e9
    assert parameter_count("smollm2-135m") == 134_515_008


def test_random_tiny_model_runs_and_is_seeded(tiny_tokenizer) -> None:
    a = load_random_model("random:llama-tiny", dtype="fp32", device="cpu", tokenizer=tiny_tokenizer)
    b = load_random_model("random:llama-tiny", dtype="fp32", device="cpu", tokenizer=tiny_tokenizer)
    assert a.name == "random:llama-tiny" and a.info()["parameters"] == parameter_count("llama-tiny")
    assert not any(p.requires_grad for p in a.model.parameters())
    ids = torch.tensor([[1, 5, 9, 2]])
    with torch.no_grad():
        out = a.model(input_ids=ids).logits
    assert out.shape == (1, 4, 49152)
    assert torch.equal(out, b.model(input_ids=ids).logits.detach())


def test_unknown_shape_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="unknown model shape 'llama-7b'; known: llama-1.2b"):
        shape_config("llama-7b")
