"""Base LLM and sentence-encoder registries."""

from personalize.models.device import cpu_has_native_bf16, resolve_device, resolve_dtype
from personalize.models.encoders import DEFAULT_ENCODER, ENCODERS, SentenceEncoder, load_encoder
from personalize.models.llm import BASE_MODELS, DEFAULT_MODEL, LoadedModel, load_base_model

__all__ = [
    "BASE_MODELS",
    "DEFAULT_ENCODER",
    "DEFAULT_MODEL",
    "ENCODERS",
    "LoadedModel",
    "SentenceEncoder",
    "cpu_has_native_bf16",
    "load_base_model",
    "load_encoder",
    "resolve_device",
    "resolve_dtype",
]
