"""PERSOMA: each history item encoded separately, resampled into N soft tokens."""

from personalize.methods.registry import lazy_exports, register_method

# bench presets: an untrained adapter, its tokens where the shipped LaMP-7 adapters put them
_BEFORE_INPUT = {"placement": "before_input"}
register_method("persoma", "personalize.methods.persoma.model:KIND", family="soft",
                description="items -> Perceiver/MLP resampler -> N soft tokens",
                presets={"persoma-4": {"num_tokens": 4, **_BEFORE_INPUT}})

__getattr__ = lazy_exports(__name__, {name: "personalize.methods.persoma.model" for name in ("PersomaAdapter", "PersomaConfig")})
__all__ = ["PersomaAdapter", "PersomaConfig"]
