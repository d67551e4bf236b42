"""Reference baselines that answer without the model: ``copy``, ``user-majority``, ``constant``."""

from personalize.methods.reference.methods import ConstantMethod, CopyMethod, UserMajorityMethod

__all__ = ["ConstantMethod", "CopyMethod", "UserMajorityMethod"]
