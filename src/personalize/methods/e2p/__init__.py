"""E2P (Embedding-to-Prefix): one user vector -> MLP -> N soft tokens."""

from personalize.methods.registry import lazy_exports, register_method

# bench presets: an untrained adapter, its tokens where the shipped LaMP-7 adapters put them
_BEFORE_INPUT = {"placement": "before_input"}
register_method("e2p", "personalize.methods.e2p.model:KIND", family="soft",
                description="user vector -> MLP -> N soft tokens",
                presets={"e2p-1": {"num_tokens": 1, **_BEFORE_INPUT}, "e2p-5": {"num_tokens": 5, **_BEFORE_INPUT}})

__getattr__ = lazy_exports(__name__, {name: "personalize.methods.e2p.model" for name in ("E2PAdapter", "E2PConfig")})
__all__ = ["E2PAdapter", "E2PConfig"]
