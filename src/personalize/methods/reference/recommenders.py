"""Model-free recommender baselines for tasks over (user, item) records (MovieLens).

Each one estimates the target ``y`` of a record: on ``movielens-like`` ``y`` is 1 for "Yes"
and 0 for "No", so the estimate is a probability of "Yes" (the AUC is computed from it, the
answer is "Yes" from 0.5 up); on ``movielens-rating`` ``y`` is the rating, and the answer is the
estimate (a decimal, clipped to the training ratings' range).

What they learn from: the *training records* (the ``train`` split of the evaluated source, or
of ``settings.train``): each record's target item and gold; and the record's own history (its
profile: the user's earlier ratings). Nothing else: a test user unseen in training (``users``
protocol) is known through their history only.

* ``global-mean``: the mean training ``y`` (AUC 0.5 by construction).
* ``user-mean``: the mean ``y`` of the history (on ``movielens-like`` this is ``like-rate``).
* ``item-mean``: the target movie's mean training ``y``; a movie never seen in training gets
  the global mean.
* ``like-rate`` (TALLRec's rule, no training): the share of liked movies in the history.
* ``like-rate-item``: the mean of ``like-rate`` and the target movie's like rate in the
  training records (a movie never seen there counts as the global like rate).
* ``bias``: damped user + item biases (Koren 2010; LensKit's ``BiasScorer``): ``mu + b_i + b_u``
  with ``b_i = sum(y - mu) / (n_i + damping)`` over training records and ``b_u`` the same over
  the history's residuals ``y - mu - b_i``.
* ``mf``: biased matrix factorization by alternating least squares from LensKit
  (``lenskit.als.BiasedMFScorer``), trained on the training records; the user's vector is
  folded in from the history (so unseen users work); a movie it cannot score gets ``bias``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from personalize.config import JsonConfig
from personalize.data.schema import Example, UserProfile
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError, DataError, ModelNotAvailableError
from personalize.methods.base import Method, MethodContext


@dataclass(frozen=True)
class RecommenderSettings(JsonConfig):
    """``train``: a data source whose ``train`` split is fitted (default: the evaluated
    dataset's own training records); ``damping``: for ``bias`` and ``mf``, how many
    global-mean observations every user and item starts with."""

    train: str | None = None
    damping: float = 5.0


@dataclass(frozen=True)
class MFSettings(JsonConfig):
    """LensKit biased ALS: ``features`` latent factors, ``regularization`` (L2), ``epochs``,
    ``damping`` of its bias model, ``seed`` of its initialisation."""

    train: str | None = None
    damping: float = 5.0
    features: int = 20
    regularization: float = 0.1
    epochs: int = 10
    seed: int = 0


@dataclass
class TrainStats:
    """What the training records say: ``mu`` (mean y), per item ``sums``/``counts`` of y, and
    the raw triples ``(person, item, y)`` for the factorization."""

    mu: float
    sums: dict[str, float]
    counts: dict[str, int]
    lowest: float
    highest: float
    triples: list[tuple[str, str, float]]

    @classmethod
    def collect(cls, triples: list[tuple[str, str, float]]) -> TrainStats:
        """From ``(person, item, y)`` triples, at least one."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _, item, y in triples:
            sums[item] = sums.get(item, 0.0) + y
            counts[item] = counts.get(item, 0) + 1
        ys = np.array([t[2] for t in triples])
        return cls(float(ys.mean()), sums, counts, float(ys.min()), float(ys.max()), triples)

    def item_bias(self, item: str, damping: float) -> float:
        """The item's damped deviation from ``mu``: ``sum(y - mu) / (count + damping)``, 0 for an
        item no training record has."""
        count = self.counts.get(item, 0)
        return (self.sums.get(item, 0.0) - count * self.mu) / (count + damping) if count else 0.0


def target_value(task: TaskSpec, value: str) -> float:
    """``y`` of a gold or history label: 1/0 for the positive label, else the rating."""
    if task.positive_label is not None:
        return 1.0 if value.strip() == task.positive_label else 0.0
    return float(value)


@functools.lru_cache(maxsize=8)
def fit_train_stats(source: str, task_name: str) -> TrainStats:
    """Read the ``train`` split of ``source`` for ``task_name`` and collect :class:`TrainStats`."""
    from personalize.data.loading import load_dataset

    train = load_dataset(source, "train", task_name)
    task = train.task
    triples: list[tuple[str, str, float]] = []
    for e in train.examples:
        if e.item is None or e.output is None:
            raise DataError(f"{source} train: example {e.id!r} has no target item or no gold; "
                            "recommender baselines need a MovieLens source")
        triples.append((e.owner, e.item, target_value(task, e.output)))
    if not triples:
        raise DataError(f"{source}: the train split is empty")
    return TrainStats.collect(triples)


class RecommenderBaseline(Method):
    """Shared plumbing: fit in :meth:`setup`, answer from :meth:`estimate`."""

    config_class: type[JsonConfig] = RecommenderSettings
    needs_model = False
    uses_history = True
    uses_training = True
    like_only = False

    def __init__(self, config: JsonConfig) -> None:
        super().__init__(config)
        self.stats: TrainStats | None = None

    @property
    def reads_profile(self) -> bool:
        return self.uses_history

    def setup(self, ctx: MethodContext) -> None:
        task = ctx.task
        ranked = task.kind == "classification" and task.positive_label is not None
        if not ranked and task.kind != "rating":
            raise ConfigError(f"{self.name!r} predicts a like probability or a rating; {task.name} is neither")
        if self.like_only and not ranked:
            raise ConfigError(f"{self.name!r} is a rule for movielens-like; {task.name} is not a like task")
        if self.uses_training:
            source = getattr(self.config, "train", None) or ctx.train_source
            if source is None:
                raise ConfigError(f"{self.name!r} fits on training records: evaluate a MovieLens source, or give "
                                  'settings {"train": SOURCE}')
            self.stats = fit_train_stats(source, task.name)
        super().setup(ctx)

    def history_values(self, profile: UserProfile) -> list[tuple[str, float]]:
        """``(item id, y)`` of every history item."""
        assert self.ctx is not None
        task = self.ctx.task
        field = task.label_field
        if field is None:
            raise ConfigError(f"{task.name} items carry no label field")
        return [(str(item["id"]), target_value(task, str(item[field]))) for item in profile.items if field in item]

    def item_mean(self, item: str | None, default: float) -> float:
        assert self.stats is not None
        if item is None:
            raise DataError("an example without a target item id; recommender baselines need a MovieLens source")
        n = self.stats.counts.get(item, 0)
        return self.stats.sums[item] / n if n else default

    def estimate(self, example: Example, profile: UserProfile) -> float:
        raise NotImplementedError

    def predict_probability(self, example: Example, profile: UserProfile) -> float | None:
        assert self.ctx is not None
        if self.ctx.task.positive_label is None:
            return None
        return float(np.clip(self.estimate(example, profile), 0.0, 1.0))

    def predict_direct(self, example: Example, profile: UserProfile) -> str:
        assert self.ctx is not None
        task = self.ctx.task
        if task.positive_label is not None:
            p = self.predict_probability(example, profile)
            assert task.labels is not None and p is not None
            other = next(label for label in task.labels if label != task.positive_label)
            return task.positive_label if p >= 0.5 else other
        low, high = (self.stats.lowest, self.stats.highest) if self.stats else (1.0, 5.0)
        return f"{float(np.clip(self.estimate(example, profile), low, high)):.4f}"

    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> None:
        return None


class GlobalMean(RecommenderBaseline):
    uses_history = False

    def estimate(self, example: Example, profile: UserProfile) -> float:
        assert self.stats is not None
        return self.stats.mu


class UserMean(RecommenderBaseline):
    def estimate(self, example: Example, profile: UserProfile) -> float:
        assert self.stats is not None
        values = [y for _, y in self.history_values(profile)]
        return float(np.mean(values)) if values else self.stats.mu


class ItemMean(RecommenderBaseline):
    uses_history = False

    def estimate(self, example: Example, profile: UserProfile) -> float:
        assert self.stats is not None
        return self.item_mean(example.item, self.stats.mu)


class LikeRate(RecommenderBaseline):
    uses_training = False
    like_only = True

    def estimate(self, example: Example, profile: UserProfile) -> float:
        values = [y for _, y in self.history_values(profile)]
        return float(np.mean(values)) if values else 0.5


class LikeRateItem(RecommenderBaseline):
    like_only = True

    def estimate(self, example: Example, profile: UserProfile) -> float:
        assert self.stats is not None
        values = [y for _, y in self.history_values(profile)]
        user = float(np.mean(values)) if values else self.stats.mu
        return (user + self.item_mean(example.item, self.stats.mu)) / 2


class DampedBias(RecommenderBaseline):
    def __init__(self, config: JsonConfig) -> None:
        super().__init__(config)
        self.item_bias: dict[str, float] = {}

    def setup(self, ctx: MethodContext) -> None:
        super().setup(ctx)
        assert self.stats is not None
        d = float(self.config.damping)  # type: ignore[attr-defined]
        if d < 0:
            raise ConfigError(f"damping must be >= 0, got {d}")
        self.item_bias = {i: self.stats.item_bias(i, d) for i in self.stats.counts}

    def estimate(self, example: Example, profile: UserProfile) -> float:
        assert self.stats is not None
        mu, d = self.stats.mu, float(self.config.damping)  # type: ignore[attr-defined]
        residuals = [y - mu - self.item_bias.get(i, 0.0) for i, y in self.history_values(profile)]
        user_bias = sum(residuals) / (len(residuals) + d) if residuals or d else 0.0
        if example.item is None:
            raise DataError(f"example {example.id!r} has no target item id; recommender baselines need a MovieLens source")
        return mu + self.item_bias.get(example.item, 0.0) + user_bias


class LensKitMF(DampedBias):
    """LensKit's biased ALS; falls back to :class:`DampedBias` for items it does not know."""

    config_class = MFSettings

    def __init__(self, config: JsonConfig) -> None:
        super().__init__(config)
        self.scorer: Any = None

    def setup(self, ctx: MethodContext) -> None:
        super().setup(ctx)
        assert self.stats is not None
        self.scorer = _train_mf(self.config, self.stats)  # type: ignore[arg-type]

    def estimate(self, example: Example, profile: UserProfile) -> float:
        from lenskit.data import ItemList, RecQuery

        fallback = super().estimate(example, profile)
        history = self.history_values(profile)
        if not history:
            return fallback
        query = RecQuery(user_items=ItemList(item_ids=[i for i, _ in history], rating=np.array([y for _, y in history])))
        scored = self.scorer(query, ItemList(item_ids=[example.item]))
        value = float(scored.scores()[0])
        return value if np.isfinite(value) else fallback


def _train_mf(settings: MFSettings, stats: TrainStats) -> Any:
    try:
        import pandas as pd
        from lenskit.als import BiasedMFScorer
        from lenskit.data import from_interactions_df
        from lenskit.training import TrainingOptions
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"'mf' needs LensKit ({exc.name} is missing): pip install 'personalize[recsys]' (or lenskit)"
        ) from None
    frame = pd.DataFrame(stats.triples, columns=["user_id", "item_id", "rating"])
    data = from_interactions_df(frame, user_col="user_id", item_col="item_id", rating_col="rating")
    scorer = BiasedMFScorer(
        embedding_size=settings.features, regularization=settings.regularization, epochs=settings.epochs,
        damping=settings.damping, user_embeddings=False,
    )
    scorer.train(data, TrainingOptions(rng=settings.seed))
    return scorer

