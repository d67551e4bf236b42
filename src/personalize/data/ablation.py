"""Ablations on the user side of a dataset: does a method's gain depend on the right user?"""

from __future__ import annotations

import random
from dataclasses import replace

from personalize.data.schema import PersonalizationDataset
from personalize.errors import ConfigError


def shuffle_profiles(dataset: PersonalizationDataset, seed: int) -> PersonalizationDataset:
    """Every example gets the history of another user (a seeded derangement of the users).

    Inputs and gold outputs stay as they are; only the user context moves. A personalized method
    whose quality does not drop under this ablation does not use what is specific to the user
    (its gain over ``none`` is task adaptation, or a prior shared by everyone).

    Raises:
        ConfigError: fewer than two users.
    """
    users = sorted({e.user_id for e in dataset.examples})
    if len(users) < 2:
        raise ConfigError(f"shuffling profiles needs at least two users, {dataset.source} has {len(users)}")
    shifted = users[:]
    random.Random(seed).shuffle(shifted)
    # a rotation of a random order: every user gets another user's history, nobody their own
    other = {shifted[i]: shifted[(i + 1) % len(shifted)] for i in range(len(shifted))}
    examples = [replace(e, user_id=other[e.user_id]) for e in dataset.examples]
    return replace(dataset, examples=examples, source=f"{dataset.source} (profiles shuffled, seed {seed})")
