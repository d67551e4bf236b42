"""Users with histories of a chosen length: the latency-by-history measurements (compare, bench)."""

from __future__ import annotations

from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile


def resize_history(profile: UserProfile, length: int, *, user_id: str | None = None) -> UserProfile:
    """``profile`` with exactly ``length`` items: its most recent ``length`` items, or all of them
    repeated cyclically (repeats get ids ``<id>#r<k>``) up to ``length``. An empty history stays empty."""
    items = profile.items
    uid = user_id or profile.user_id
    if not items:
        return UserProfile(uid, ())
    if length <= len(items):
        return UserProfile(uid, tuple(items[len(items) - length :]))
    out: list[HistoryItem] = []
    for i in range(length):
        item, repeat = items[i % len(items)], i // len(items)
        out.append(item if repeat == 0 else {**item, "id": f"{item.get('id', i % len(items))}#r{repeat}"})
    return UserProfile(uid, tuple(out))


def history_dataset(dataset: PersonalizationDataset, length: int, n: int) -> PersonalizationDataset:
    """Copies of the first ``n`` examples whose users' histories have ``length`` items.

    The copies get user ids ``<user>@h<length>`` so that no per-user cache built on the real
    history is reused for the resized one.
    """
    examples, profiles = [], {}
    for example in dataset.examples[:n]:
        uid = f"{example.user_id}@h{length}"
        profiles[uid] = resize_history(dataset.profile(example), length, user_id=uid)
        examples.append(Example(example.id, uid, example.input, example.output))
    return PersonalizationDataset(dataset.task, dataset.split, examples, profiles, f"{dataset.source} (history {length})")
