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
from personalize.methods.reference import CopyMethod, UserMajorityMethod
from personalize.methods.text import TextMethod

register_method("none", TextMethod, {"k": 0})
register_method("text", TextMethod)
register_method("copy", CopyMethod)
register_method("user-majority", UserMajorityMethod)

__all__ = ["METHODS", "Method", "MethodContext", "PreparedBatch", "left_pad", "make_method", "register_method"]
