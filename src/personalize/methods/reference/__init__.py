"""Reference baselines that answer without the model: ``copy`` and ``user-majority``."""

from personalize.methods.reference.methods import CopyMethod, UserMajorityMethod

__all__ = ["CopyMethod", "UserMajorityMethod"]
