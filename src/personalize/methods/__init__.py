"""Personalization methods, one folder each, registered by name in :data:`METHODS`.

See :mod:`personalize.methods.registry` for how a folder (or a plugin) registers a method. This
package imports nothing heavy: the interface (:mod:`personalize.methods.base`, which needs torch)
loads on first use of its names.
"""

from personalize.methods.registry import METHODS, MethodInfo, lazy_exports, register_method

__getattr__ = lazy_exports(__name__, {name: "personalize.methods.base" for name in (
    "Method", "MethodContext", "PreparedBatch", "left_pad", "make_method")})

__all__ = ["METHODS", "Method", "MethodContext", "MethodInfo", "PreparedBatch", "left_pad", "make_method",
           "register_method"]
