"""Base models of a given shape with random weights, built from a config (no download).

The cost side of a method (time to first token, decode speed, training step time, memory) does
not depend on trained weights, only on the architecture. ``load_base_model("random:<shape>")``
builds a Llama-architecture model of one of :data:`SHAPES` with seeded random weights and the
SmolLM2 tokenizer (vocabulary 49,152), so every benchmark of the package runs on a 1B-shaped
model offline. Its outputs are noise: use it for costs, never for quality.

Shapes (parameters with the 49,152-token vocabulary):

* ``llama-1.2b``: the body of Llama-3.2-1B (hidden 2048, 16 layers, 32 query / 8 key-value heads
  of 64, MLP 8192) with an untied output head: 1,174,472,704 parameters (tied, as Llama-3.2-1B ties it:
  1,073,809,408);
* ``smollm2-135m``: SmolLM2-135M's shape (hidden 576, 30 layers, 9 / 3 heads, MLP 1536, tied
  head): 134,515,008 parameters, the same as the bundled model;
* ``llama-tiny``: hidden 64, 2 layers, 4 / 2 heads, MLP 128 (tests, quick checks of scripts).
"""

from __future__ import annotations

from typing import Any

from personalize.errors import ConfigError

PREFIX = "random:"
VOCAB = 49152  # SmolLM2's tokenizer

SHAPES: dict[str, dict[str, Any]] = {
    "llama-1.2b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "intermediate_size": 8192, "tie_word_embeddings": False},
    "smollm2-135m": {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                     "intermediate_size": 1536, "tie_word_embeddings": True},
    "llama-tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                   "intermediate_size": 128, "tie_word_embeddings": True},
}


def shape_config(shape: str, vocab_size: int = VOCAB) -> Any:
    """The ``LlamaConfig`` of ``shape`` (SmolLM2's rope, norm and special tokens)."""
    from transformers import LlamaConfig

    if shape not in SHAPES:
        raise ConfigError(f"unknown model shape {shape!r}; known: {', '.join(SHAPES)}")
    fields = SHAPES[shape]
    return LlamaConfig(vocab_size=vocab_size, head_dim=fields["hidden_size"] // fields["num_attention_heads"],
                       max_position_embeddings=8192, rms_norm_eps=1e-5, hidden_act="silu",
                       rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                       bos_token_id=1, eos_token_id=2, pad_token_id=2, **fields)


def parameter_count(shape: str, vocab_size: int = VOCAB) -> int:
    """Parameters of ``shape`` by formula (no model built): embeddings, per layer q/k/v/o, the
    gated MLP and two norms, the final norm, and the head unless tied."""
    f = SHAPES[shape]
    h, inter, layers = f["hidden_size"], f["intermediate_size"], f["num_hidden_layers"]
    head_dim = h // f["num_attention_heads"]
    attention = h * f["num_attention_heads"] * head_dim * 2 + h * f["num_key_value_heads"] * head_dim * 2
    per_layer = attention + 3 * h * inter + 2 * h
    return vocab_size * h * (1 if f["tie_word_embeddings"] else 2) + layers * per_layer + h
