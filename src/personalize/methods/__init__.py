"""Personalization methods, registered by name."""

from personalize.methods.base import (
    METHODS,
    Method,
    MethodContext,
    PreparedBatch,
    left_pad,
    make_method,
    register_method,
)
from personalize.methods.reference import ConstantMethod, CopyMethod, UserMajorityMethod
from personalize.methods.soft.method import SoftPrefixMethod
from personalize.methods.text import TextMethod

register_method("none", TextMethod, {"k": 0})
register_method("text", TextMethod)
register_method("copy", CopyMethod)
register_method("user-majority", UserMajorityMethod)
register_method("constant", ConstantMethod)
# Soft-token methods: evaluated from a trained adapter (`--adapter DIR`), trained by `personalize train`.
for _name in ("e2p", "persoma", "prompt", "xattn", "rag-prefix"):
    register_method(_name, SoftPrefixMethod)

__all__ = ["METHODS", "Method", "MethodContext", "PreparedBatch", "left_pad", "make_method", "register_method"]
