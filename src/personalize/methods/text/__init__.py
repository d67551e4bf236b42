"""Text baseline: the user's history pasted into the prompt (and ``none``: the same prompt without)."""

from personalize.methods.registry import lazy_exports, register_method

_METHOD = "personalize.methods.text.method:TextMethod"
register_method("none", _METHOD, family="text", fixed={"k": 0}, description="the task prompt alone, no user context",
                presets={"none": {"template": "system"}})
register_method("text", _METHOD, family="text", description="the user's history items (retrieved) pasted into the prompt",
                presets={"text-k4": {"retriever": "bm25", "k": 4, "template": "system"}})

__getattr__ = lazy_exports(__name__, {"TextConfig": "personalize.methods.text.method",
                                      "TextMethod": "personalize.methods.text.method"})
__all__ = ["TextConfig", "TextMethod"]
