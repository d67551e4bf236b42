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
from personalize.methods.reference.recommenders import RECOMMENDERS
from personalize.methods.soft.method import SoftPrefixMethod
from personalize.methods.text import TextMethod

register_method("none", TextMethod, {"k": 0})
register_method("text", TextMethod)
register_method("copy", CopyMethod)
register_method("user-majority", UserMajorityMethod)
register_method("constant", ConstantMethod)
# Recommender baselines for (user, item) tasks (MovieLens): global-mean, user-mean, item-mean,
# like-rate, like-rate-item, bias, mf.
for _name, _cls in RECOMMENDERS.items():
    register_method(_name, _cls)
# Soft-token methods: evaluated from a trained adapter (`--adapter DIR`), trained by `personalize train`.
for _name in ("e2p", "persoma", "prompt", "xattn", "rag-prefix"):
    register_method(_name, SoftPrefixMethod)

__all__ = ["METHODS", "Method", "MethodContext", "PreparedBatch", "left_pad", "make_method", "register_method"]
