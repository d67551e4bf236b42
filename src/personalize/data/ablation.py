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
    # Derange the real users (``owner``), not the history keys: where every record has its own
    # history (MovieLens), the key of another record can still be the same person's.
    users = sorted({e.owner for e in dataset.examples})
    if len(users) < 2:
        raise ConfigError(f"shuffling profiles needs at least two users, {dataset.source} has {len(users)}")
    shifted = users[:]
    rng = random.Random(seed)
    rng.shuffle(shifted)
    # a rotation of a random order: every user gets another user's history, nobody their own
    other = {shifted[i]: shifted[(i + 1) % len(shifted)] for i in range(len(shifted))}
    keys_of: dict[str, list[str]] = {}
    for e in dataset.examples:
        keys = keys_of.setdefault(e.owner, [])
        if e.user_id not in keys:
            keys.append(e.user_id)
    # The n-th record of a user gets the n-th history of the other user (cyclically): one history
    # key per user where histories are per user, as before; a varied one where they are per record.
    seen: dict[str, int] = {}
    examples = []
    for e in dataset.examples:
        n = seen.get(e.owner, 0)
        seen[e.owner] = n + 1
        donor = keys_of[other[e.owner]]
        examples.append(replace(e, user_id=donor[n % len(donor)]))
    return replace(dataset, examples=examples, source=f"{dataset.source} (profiles shuffled, seed {seed})")
