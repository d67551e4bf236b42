"""Reference baselines that answer without the model: ``copy``, ``user-majority``, ``constant``,
and the recommender baselines of (user, item) tasks (MovieLens)."""

from personalize.methods.registry import lazy_exports, register_method

_REFERENCE = "personalize.methods.reference.methods"
register_method("copy", f"{_REFERENCE}:CopyMethod", family="reference", description="the input copied as the answer")
register_method("user-majority", f"{_REFERENCE}:UserMajorityMethod", family="reference",
                description="the user's most frequent label in their history")
register_method("constant", f"{_REFERENCE}:ConstantMethod", family="reference", description="one fixed answer for everyone")

_RECOMMENDERS = "personalize.methods.reference.recommenders"
for _name, _class, _description in (
    ("global-mean", "GlobalMean", "the mean target of the training records"),
    ("user-mean", "UserMean", "the mean target of the user's history"),
    ("item-mean", "ItemMean", "the target item's mean in the training records"),
    ("like-rate", "LikeRate", "the share of liked items in the history (TALLRec's rule)"),
    ("like-rate-item", "LikeRateItem", "the mean of like-rate and the item's like rate in training"),
    ("bias", "DampedBias", "global mean + damped user and item biases"),
    ("mf", "LensKitMF", "LensKit's biased ALS matrix factorization"),
):
    register_method(_name, f"{_RECOMMENDERS}:{_class}", family="recommender", description=_description)

__getattr__ = lazy_exports(__name__, {name: _REFERENCE for name in ("ConstantMethod", "CopyMethod", "UserMajorityMethod")})
__all__ = ["ConstantMethod", "CopyMethod", "UserMajorityMethod"]
