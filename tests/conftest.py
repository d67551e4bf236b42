"""Shared fixtures: a tiny random Llama and a tiny byte-level BPE tokenizer, built offline in ms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    "Paraphrase the following tweet without any explanation before or after it: the cat sat on the mat",
    "What is the score of the following review on a scale of 1 to 5? review: great book, loved it",
    "honestly the weather is lovely today!!! see you at the park #sunny",
    "The team recommended the backyard over the weekend. mystery romance science history travel",
    "are written by a person. Following the given patterns 1 2 3 4 5 is the score for",
]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never touch the user's cache; integration tests reuse one shared per session."""
    if "PERSONALIZE_HOME" not in os.environ:
        monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path_factory.getbasetemp() / "personalize_home"))


def build_tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>", unk_token="<|endoftext|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llama(vocab_size: int, seed: int = 0, hidden_size: int = 32, layers: int = 2, init_range: float = 0.02):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        initializer_range=init_range,
    )
    model = LlamaForCausalLM(config).eval()
    model.requires_grad_(False)
    return model


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    """A :class:`LoadedModel` around a 2-layer random Llama (fp32, CPU)."""
    from personalize.models.llm import LoadedModel

    model = build_tiny_llama(len(tiny_tokenizer))
    return LoadedModel(
        name="tiny-llama", model=model, tokenizer=tiny_tokenizer, dtype=torch.float32,
        device=torch.device("cpu"), load_seconds=0.0, source="test fixture",
    )


@pytest.fixture(scope="session")
def steerable_tiny_model(tiny_tokenizer):
    """A 1-layer random Llama with large initial weights.

    With the usual 0.02 init a random tiny model is inert: its logits barely depend on its
    inputs, so no soft token can steer it and every training test would trivially tie. Larger
    weights make the output depend on the input, which is what learning tests need.
    """
    from personalize.models.llm import LoadedModel

    model = build_tiny_llama(len(tiny_tokenizer), hidden_size=64, layers=1, init_range=0.3)
    return LoadedModel(
        name="tiny-llama-steerable", model=model, tokenizer=tiny_tokenizer, dtype=torch.float32,
        device=torch.device("cpu"), load_seconds=0.0, source="test fixture",
    )


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


class HashingEncoder:
    """A deterministic stand-in for MiniLM: bag of hashed words, L2-normalised, ``dim`` wide."""

    def __init__(self, dim: int = 32, name: str = "hashing-test-encoder") -> None:
        self.dim, self.name, self.calls = dim, name, 0

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False):
        import hashlib

        import numpy as np

        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@pytest.fixture
def fake_encoder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HashingEncoder:
    """Every ``load_encoder`` call returns one shared :class:`HashingEncoder` (no MiniLM).

    It stands in under MiniLM's name, so the test also gets its own cache folder: embeddings of
    the real encoder (integration tests) and of this one must never meet in one cache.
    """
    encoder = HashingEncoder()
    monkeypatch.setattr("personalize.models.load_encoder", lambda name="minilm-l6", device="auto": encoder)
    monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path / "personalize_home"))
    return encoder
