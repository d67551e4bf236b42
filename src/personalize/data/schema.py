"""One data model for every source: user profiles (history items) and examples.

LaMP stores a profile with every question; native folders store each user's history once.
Both load into :class:`PersonalizationDataset`, which keeps one :class:`UserProfile` per user
and a list of :class:`Example` that refer to it by ``user_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError

HistoryItem = Mapping[str, str]
"""One history item: ``{"id": ..., <task fields>: ...}``, all values strings."""


@dataclass(frozen=True)
class UserProfile:
    """A user's history, oldest first where the source has an order."""

    user_id: str
    items: tuple[HistoryItem, ...]

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Example:
    """One query for one user; ``output`` is ``None`` when no gold is known (e.g. a test split).

    ``user_id`` keys the profile the query comes with. Where every query has its own history
    (MovieLens records), that key is per query and ``person`` names the real user behind it (for
    per-user metrics); ``item`` is the target item's id where the source has one (recommender
    baselines look items up by it). Both are ``None`` elsewhere.
    """

    id: str
    user_id: str
    input: str
    output: str | None
    person: str | None = None
    item: str | None = None

    @property
    def owner(self) -> str:
        """The real user this query is about: ``person`` where set, else ``user_id``."""
        return self.person if self.person is not None else self.user_id


@dataclass
class PersonalizationDataset:
    """Examples and the profiles they refer to.

    Attributes:
        task: the task spec (fields, labels, metrics).
        split: ``train``/``dev``/``test`` or whatever the source calls it.
        source: where the data came from (a path, or ``synthetic:<task>:seed=<n>``).
        skipped: records dropped while loading, by reason, so that nothing is lost silently.
        train_source: a source for :func:`~personalize.data.load_dataset` whose ``train`` split
            is this dataset's training data (MovieLens sets it, so that model-free recommenders
            fit item statistics on the training records of the same protocol); ``None`` if unknown.
    """

    task: TaskSpec
    split: str
    examples: list[Example]
    profiles: dict[str, UserProfile]
    source: str
    skipped: dict[str, int] = field(default_factory=dict)
    train_source: str | None = None

    @property
    def synthetic(self) -> bool:
        return self.task.synthetic

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def profile(self, example_or_user: Example | str) -> UserProfile:
        user_id = example_or_user if isinstance(example_or_user, str) else example_or_user.user_id
        return self.profiles[user_id]

    def limit(self, n: int | None, *, sample: str = "users", seed: int = 0) -> PersonalizationDataset:
        """``n`` examples (and only the profiles they use), in file order.

        ``sample="users"`` (default) spreads them over the users: users in a seeded random
        order, one example of each in turn (each user's own in a seeded order), so that a
        sample of a file ordered by user is not one user's examples. ``sample="first"``: the
        first ``n`` in file order.
        """
        if sample not in LIMIT_SAMPLES:
            raise ConfigError(f"limit sample must be one of {', '.join(LIMIT_SAMPLES)}, not {sample!r}")
        if n is None or n >= len(self.examples):
            return self
        if sample == "first":
            examples = self.examples[:n]
        else:
            examples = _spread_over_users(self.examples, n, seed)
        users = {e.user_id for e in examples}
        return PersonalizationDataset(
            task=self.task,
            split=self.split,
            examples=examples,
            profiles={u: p for u, p in self.profiles.items() if u in users},
            source=self.source,
            skipped=dict(self.skipped),
            train_source=self.train_source,
        )

    def golds(self) -> dict[str, str]:
        return {e.id: e.output for e in self.examples if e.output is not None}


LIMIT_SAMPLES = ("users", "first")


def _spread_over_users(examples: list[Example], n: int, seed: int) -> list[Example]:
    """``n`` of ``examples`` taken round-robin over users (seeded orders), kept in file order."""
    import random

    rng = random.Random(seed)
    by_user: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_user.setdefault(example.owner, []).append(index)
    queues = [rng.sample(indices, len(indices)) for indices in by_user.values()]
    rng.shuffle(queues)
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return [examples[i] for i in sorted(chosen)]
