"""Retrieval-augmented prefix: the items most similar to the input, resampled into soft tokens."""

from personalize.methods.registry import lazy_exports, register_method

# bench presets: an untrained adapter, its tokens where the shipped LaMP-7 adapters put them
_BEFORE_INPUT = {"placement": "before_input"}
register_method("rag-prefix", "personalize.methods.rag_prefix.model:KIND", family="soft",
                description="retrieved items -> resampler -> N soft tokens",
                presets={"rag-prefix-4": {"num_tokens": 4, "retrieve_k": 8, **_BEFORE_INPUT}})

__getattr__ = lazy_exports(__name__, {
    "RagPrefixConfig": "personalize.methods.rag_prefix.model",
    "RetrievedItems": "personalize.methods.rag_prefix.features",
})
__all__ = ["RagPrefixConfig", "RetrievedItems"]
