"""Tasks built from any MovieLens folder: records, protocols, splits, item text and prompts.

A *record* is one rating of one user (the *target*) with the user's earlier ratings as history.
Each user's ratings are ordered by time, ties by file order; the record at position ``t``
(0-based) exists for ``t >= 10`` (the 11th rating on), as in TALLRec, whatever the history
setting, so that ``history=10`` and ``history=all`` give the same records.

Protocols (which records go to which split):

* ``tallrec`` (TALLRec, Bao et al. 2023, ``preprocess_movie.py``): users in order of first
  appearance in the ratings file, each user's records in time order; the last 10,000 records
  (option ``records``) are cut 80/10/10 into train/dev/test. On ml-100k the test split has
  1,000 records of 16 users, positive rate 0.528. Few users, and the test users' earlier records
  are in train: a reproduction protocol, not the one to trust.
* ``users``: a seeded split of the users (``test_users`` = 20%, ``dev_users`` = 10%);
  train users give all their records, dev/test users the records of their last ``per_user``
  (10) ratings. Hundreds of test users on ml-100k (189), none seen in training.
* ``time`` (the default of ``movielens-rating``): every user in every split; each user's last
  10% of ratings (at least one) are test, the 10% before them dev, the earlier ones train.

``history=10`` (default) keeps the 10 ratings before the target; ``history=all`` every earlier
rating (the full-history setting). ``shots=N`` keeps a seeded sample of N training records (the
few-shot settings 16/64/256; ``shots=all`` keeps them all); it changes only the train split.

``item_stats=1`` adds what the other viewers said of the target movie to the input, from the
training split only (every training record, before ``shots`` samples them): on
``movielens-like`` ``Other viewers: 73% of 41 liked it.``, on ``movielens-rating`` ``Other
viewers: mean rating 3.8 of 5 from 41.``, ``Other viewers: none yet.`` for a movie no training
record rated. A training record's own rating is left out of its line (leave-one-out), so that
no input carries its own answer; dev and test ratings are in no line. This is the item side
the recommender baselines have (``item-mean``, ``bias``) given to the LLM rows as text: an LLM
cannot learn every movie's appeal from its title in a few thousand steps.

``user_stats=1`` adds the user's side the same way, from the record's own history: on
``movielens-like`` ``This user liked 6 of 10 earlier movies; other viewers liked 48% of those.``
(on ``movielens-rating`` the user's mean rating and the other viewers' mean of those movies),
the other viewers' share being the mean over the history's movies of their training like rate,
each leave-one-out (the user's own rating of a movie is not among its other viewers'). With
``item_stats=1`` too, an LLM row reads as text everything the ``bias`` baseline computes with:
the target movie's rate, the user's rate, and how generous the movies the user liked are.

Tasks: ``movielens-like`` (gold ``Yes`` if the target's rating is > 3, else ``No``; scored by
accuracy, macro-F1, AUC and per-user AUC of P("Yes")) and ``movielens-rating`` (gold: the rating;
MAE and RMSE).

History items are ``{"id", "title", "year", "genres", "rating", "liked", "text"}``: ``title``
as MovieLens writes it (year included, as TALLRec shows it), ``genres`` comma-separated,
``rating`` the user's own (``4`` or ``3.5``), ``liked`` ``Yes``/``No``, and ``text``, what
retrievers and sentence encoders see (the task's only ``text_field``), e.g.
``Toy Story (1995); Animation, Children's, Comedy; rated 4 of 5``.

Prompts: the ``movielens-like`` input is TALLRec's instruction and question (labels without the
final period: ``Yes``/``No`` instead of TALLRec's ``Yes.``/``No.``)::

    Given the user's preference and unpreference, identify whether the user will like the
    target movie by answering "Yes" or "No".
    Whether the user will like the target movie "Toy Story (1995)"?

and :func:`tallrec_input` writes TALLRec's full input with the history inside
(``User Preference: "A", "B"\\nUser Unpreference: "C"\\nWhether ...?``).

Each record's profile key (``Example.user_id``) is the record's own id, ``<user>-<t>``, because
every record has its own history; ``Example.person`` is the MovieLens user and ``Example.item``
the target movie id.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from personalize.data.movielens.files import MovieLens, read_movielens
from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.data.tasks import get_task
from personalize.errors import ConfigError, DataError

LIKE_TASK = "movielens-like"
RATING_TASK = "movielens-rating"
PROTOCOLS = ("tallrec", "users", "time")
SPLITS = ("train", "dev", "test")
MIN_HISTORY = 10
LIKE_THRESHOLD = 3.0  # liked = rating > 3 (TALLRec)

TALLREC_INSTRUCTION = (
    "Given the user's preference and unpreference, identify whether the user will like the target "
    'movie by answering "Yes" or "No".'
)
LIKE_QUESTION = 'Whether the user will like the target movie "{title}"?'
LIKE_MARKER = "Whether the user will like the target movie "
RATING_QUESTION = (
    'How would the user rate the movie "{title}" ({genres}) on a scale of 1 to 5? '
    "Answer with 1, 2, 3, 4 or 5."
)
RATING_MARKER = "How would the user rate the movie "


@dataclass(frozen=True)
class MovieLensOptions:
    """How records are built and split (the ``key=value`` options of a MovieLens source).

    Attributes:
        protocol: ``tallrec``, ``users`` or ``time``; ``None``: ``tallrec`` for
            ``movielens-like``, ``time`` for ``movielens-rating``.
        history: ratings before the target in the history; 0 means all of them (``history=all``).
        shots: training records kept (seeded sample); ``None`` keeps all (``shots=all``).
        seed: seeds the user split (``users``) and the few-shot sample.
        records: ``tallrec``: how many of the last records are used.
        per_user: ``users``: records per dev/test user (their last ratings).
        test_users / dev_users: ``users``: share of users in test / dev.
        item_stats: 1 adds the target movie's training-split like rate (or mean rating) and
            count to the input (leave-one-out on training records); 0 (default) leaves it out.
        user_stats: 1 adds the user's side as the bias baseline sees it: the share liked (or
            mean rating) of the history, and what the training records say of those same
            movies (leave-one-out); 0 (default) leaves it out.
    """

    protocol: str | None = None
    history: int = 10
    shots: int | None = None
    seed: int = 0
    records: int = 10_000
    per_user: int = 10
    test_users: float = 0.2
    dev_users: float = 0.1
    item_stats: int = 0
    user_stats: int = 0

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ConfigError(f"MovieLens protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if self.history < 0:
            raise ConfigError(f"history must be a positive number of ratings or 'all', got {self.history}")
        if self.shots is not None and self.shots < 1:
            raise ConfigError(f"shots must be positive or 'all', got {self.shots}")
        if self.records < 10 or self.per_user < 1:
            raise ConfigError("records must be >= 10 and per_user >= 1")
        for name in ("item_stats", "user_stats"):
            if getattr(self, name) not in (0, 1):
                raise ConfigError(f"{name} must be 0 or 1, got {getattr(self, name)}")
        if not (0 < self.test_users < 1 and 0 < self.dev_users < 1 and self.test_users + self.dev_users < 1):
            raise ConfigError("test_users and dev_users must be shares between 0 and 1 that leave training users")

    def resolved(self, task: str) -> MovieLensOptions:
        if self.protocol is not None:
            return self
        return replace(self, protocol="time" if task == RATING_TASK else "tallrec")

    def to_string(self) -> str:
        """The options as ``key=value`` pairs, defaults left out except ``protocol``."""
        default = MovieLensOptions()
        parts = [f"protocol={self.protocol}"] if self.protocol else []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "protocol" or value == getattr(default, f.name):
                continue
            if f.name == "history" and value == 0:
                value = "all"
            parts.append(f"{f.name}={value}")
        return ",".join(parts)


def parse_options(text: str, source: str) -> dict[str, Any]:
    """``protocol=users,history=all,shots=64`` -> keyword arguments of :class:`MovieLensOptions`."""
    known = {f.name: f for f in fields(MovieLensOptions)}
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in known:
            raise ConfigError(f"{source!r}: bad option {part!r}; use key=value with key one of {', '.join(known)}")
        out[key] = _option_value(key, value, source)
    return out


def _option_value(key: str, value: Any, source: str) -> Any:
    if key == "protocol":
        return str(value)
    if key in ("history", "shots") and str(value).lower() == "all":
        return 0 if key == "history" else None
    if key in ("test_users", "dev_users"):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{source!r}: {key} must be a number, not {value!r}") from None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source!r}: {key} must be an integer{' or all' if key in ('history', 'shots') else ''}, "
                          f"not {value!r}") from None


def make_options(source: str, options: dict[str, Any]) -> MovieLensOptions:
    """Options from parsed strings or keyword arguments (``history="all"`` works too)."""
    values = {k: _option_value(k, v, source) if isinstance(v, str) else v for k, v in options.items()}
    known = {f.name for f in fields(MovieLensOptions)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source!r}: unknown MovieLens option(s) {unknown}; known: {sorted(known)}")
    return MovieLensOptions(**values)


# --------------------------------------------------------------------------------------------
# Records and splits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One target rating: ``index`` into the rating arrays, ``t`` its position in the user's
    time-ordered ratings, ``history`` the indices of the earlier ratings shown (oldest first)."""

    user: int
    t: int
    index: int
    history: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.user}-{self.t}"


def split_records(data: MovieLens, options: MovieLensOptions) -> dict[str, list[Record]]:
    """``{"train", "dev", "test"}`` -> records, for a resolved ``options`` (protocol set)."""
    sequences = data.sequences()
    window = options.history

    def record(user: int, t: int) -> Record:
        seq = sequences[user]
        start = 0 if window == 0 else max(0, t - window)
        return Record(user, t, int(seq[t]), tuple(int(i) for i in seq[start:t]))

    splits: dict[str, list[Record]] = {s: [] for s in SPLITS}
    if options.protocol == "tallrec":
        keys = [(u, t) for u, seq in sequences.items() for t in range(MIN_HISTORY, len(seq))]
        keys = keys[-options.records :]
        cut1, cut2 = int(len(keys) * 0.8), int(len(keys) * 0.9)  # TALLRec's own int() cuts
        for name, part in zip(SPLITS, (keys[:cut1], keys[cut1:cut2], keys[cut2:])):
            splits[name] = [record(u, t) for u, t in part]
    elif options.protocol == "users":
        users = np.array(sorted(sequences))
        rng = np.random.default_rng(options.seed)
        shuffled = users[rng.permutation(len(users))]
        n_test = max(1, round(options.test_users * len(users)))
        n_dev = max(1, round(options.dev_users * len(users)))
        role = {int(u): "test" for u in shuffled[:n_test]}
        role.update({int(u): "dev" for u in shuffled[n_test : n_test + n_dev]})
        for user, seq in sequences.items():
            name = role.get(user, "train")
            first = MIN_HISTORY if name == "train" else max(MIN_HISTORY, len(seq) - options.per_user)
            splits[name].extend(record(user, t) for t in range(first, len(seq)))
    elif options.protocol == "time":
        for user, seq in sequences.items():
            n = len(seq)
            held = max(1, math.ceil(0.1 * n))
            test_from, dev_from = max(MIN_HISTORY, n - held), max(MIN_HISTORY, n - 2 * held)
            for t in range(MIN_HISTORY, n):
                name = "test" if t >= test_from else "dev" if t >= dev_from else "train"
                splits[name].append(record(user, t))
    else:
        raise ConfigError(f"protocol not resolved: {options.protocol!r}")
    if options.shots is not None and options.shots < len(splits["train"]):
        rng = np.random.default_rng(options.seed)
        keep = np.sort(rng.choice(len(splits["train"]), size=options.shots, replace=False))
        splits["train"] = [splits["train"][i] for i in keep]
    return splits


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def format_rating(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def item_text(title: str, genres: str, rating: str) -> str:
    """What retrieval and sentence encoders see of one rated movie."""
    return f"{title}; {genres or 'no genres'}; rated {rating} of 5"


class _Items:
    """One history item per rating index, built once and shared by every record that shows it."""

    def __init__(self, data: MovieLens) -> None:
        self.data = data
        self.cache: dict[int, HistoryItem] = {}

    def __call__(self, index: int) -> HistoryItem:
        item = self.cache.get(index)
        if item is None:
            movie = self.data.movies[int(self.data.items[index])]
            rating = float(self.data.ratings[index])
            genres = ", ".join(movie.genres)
            text = format_rating(rating)
            item = {
                "id": str(movie.id),
                "title": movie.title,
                "year": movie.year,
                "genres": genres,
                "rating": text,
                "liked": "Yes" if rating > LIKE_THRESHOLD else "No",
                "text": item_text(movie.title, genres, text),
            }
            self.cache[index] = item
        return item


def like_input(title: str) -> str:
    return TALLREC_INSTRUCTION + "\n" + LIKE_QUESTION.format(title=title)


def rating_input(title: str, genres: str) -> str:
    return RATING_QUESTION.format(title=title, genres=genres or "no genres")


def tallrec_input(history: Sequence[HistoryItem], title: str) -> str:
    """TALLRec's own ``input`` field: the liked and the other history titles, then the question."""
    liked = ", ".join(f'"{h["title"]}"' for h in history if h["liked"] == "Yes")
    other = ", ".join(f'"{h["title"]}"' for h in history if h["liked"] != "Yes")
    return f'User Preference: {liked}\nUser Unpreference: {other}\nWhether the user will like the target movie "{title}"?'


class ItemStats:
    """Per movie, the sum and count of the training records' targets (liked 1/0, or the rating)."""

    def __init__(self, data: MovieLens, train: Sequence[Record], like: bool) -> None:
        self.like = like
        self.train = {r.index for r in train}
        self.sums: dict[int, float] = {}
        self.counts: dict[int, int] = {}
        for rec in train:
            movie = int(data.items[rec.index])
            self.sums[movie] = self.sums.get(movie, 0.0) + self.value(float(data.ratings[rec.index]))
            self.counts[movie] = self.counts.get(movie, 0) + 1
        self.data = data

    def value(self, rating: float) -> float:
        return float(rating > LIKE_THRESHOLD) if self.like else rating

    def others(self, index: int) -> tuple[float, int]:
        """Sum and count of the training targets on rating ``index``'s movie, without that rating."""
        movie = int(self.data.items[index])
        total, count = self.sums.get(movie, 0.0), self.counts.get(movie, 0)
        if index in self.train:
            total, count = total - self.value(float(self.data.ratings[index])), count - 1
        return total, count

    def line(self, index: int) -> str:
        """The other viewers' line for the target rating ``index``, without that rating."""
        total, count = self.others(index)
        if count == 0:
            return "Other viewers: none yet."
        if self.like:
            return f"Other viewers: {round(100 * total / count)}% of {count} liked it."
        return f"Other viewers: mean rating {total / count:.1f} of 5 from {count}."

    def user_line(self, history: Sequence[int]) -> str:
        """The user's line for a record with history ratings ``history``: their own share liked
        (mean rating) and the other viewers' mean of those movies (each movie counted once,
        leave-one-out: the user's own rating of a movie is not among its other viewers')."""
        if not history:
            return "This user: no earlier ratings."
        own = [self.value(float(self.data.ratings[i])) for i in history]
        rates = [total / count for total, count in map(self.others, history) if count > 0]
        if self.like:
            line = f"This user liked {round(sum(own))} of {len(own)} earlier movies"
            others = f"; other viewers liked {round(100 * sum(rates) / len(rates))}% of those." if rates else ""
        else:
            line = f"This user's mean rating: {sum(own) / len(own):.1f} of 5 over {len(own)} earlier movies"
            others = f"; other viewers' mean for those: {sum(rates) / len(rates):.1f}." if rates else ""
        return line + (others or "; other viewers: none yet for those.")


def build_dataset(
    data: MovieLens, split: str, task: str, options: MovieLensOptions, source: str
) -> PersonalizationDataset:
    """The ``split`` of ``task`` over ``data`` under ``options`` (resolved)."""
    if split not in SPLITS:
        raise DataError(f"{data.folder}: MovieLens tasks have splits {', '.join(SPLITS)}, not {split!r}")
    spec = get_task(task)
    splits = split_records(data, options)
    records = splits[split]
    stats = None
    if options.item_stats or options.user_stats:
        # every training record, not only the ones `shots` keeps
        train = splits["train"] if options.shots is None else split_records(data, replace(options, shots=None))["train"]
        stats = ItemStats(data, train, like=spec.name == LIKE_TASK)
    items = _Items(data)
    examples: list[Example] = []
    profiles: dict[str, UserProfile] = {}
    for rec in records:
        target = items(rec.index)
        if spec.name == LIKE_TASK:
            text, gold = like_input(target["title"]), target["liked"]
        else:
            text, gold = rating_input(target["title"], target["genres"]), target["rating"]
        if options.item_stats:
            text += "\n" + stats.line(rec.index)
        if options.user_stats:
            text += "\n" + stats.user_line(rec.history)
        profiles[rec.id] = UserProfile(rec.id, tuple(items(i) for i in rec.history))
        examples.append(Example(rec.id, rec.id, text, gold, person=str(rec.user), item=target["id"]))
    return PersonalizationDataset(
        task=spec, split=split, examples=examples, profiles=profiles, source=source, train_source=source,
    )


@functools.lru_cache(maxsize=4)
def _cached_read(folder: str, stamp: tuple[int, ...]) -> MovieLens:
    return read_movielens(folder)


def read_cached(folder: str | Path) -> MovieLens:
    """:func:`read_movielens`, cached while the files' sizes and times stay the same."""
    folder = Path(folder).resolve()
    stamp = tuple(
        int(v) for p in sorted(folder.iterdir()) if p.is_file() for v in (p.stat().st_size, p.stat().st_mtime_ns)
    )
    return _cached_read(str(folder), stamp)


def load_movielens(
    folder: str | Path, split: str = "test", task: str | None = None, **options: Any
) -> PersonalizationDataset:
    """Load ``split`` of a MovieLens task from ``folder``.

    Args:
        folder: a MovieLens folder (ml-100k, ml-1m or CSV-family files).
        task: ``movielens-like`` (default) or ``movielens-rating``.
        **options: :class:`MovieLensOptions` fields; ``history`` and ``shots`` also take ``"all"``.

    Raises:
        DataError: the folder is not a verified MovieLens folder, or no such split.
        ConfigError: an unknown task or option.
    """
    name = get_task(task).name if task else LIKE_TASK
    if name not in (LIKE_TASK, RATING_TASK):
        raise ConfigError(f"a MovieLens folder serves {LIKE_TASK} or {RATING_TASK}, not {name}")
    opts = make_options(str(folder), options).resolved(name)
    source = f"{os.fspath(folder)}:{opts.to_string()}"
    return build_dataset(read_cached(folder), split, name, opts, source)


__all__ = [
    "LIKE_TASK",
    "MovieLensOptions",
    "RATING_TASK",
    "Record",
    "build_dataset",
    "load_movielens",
    "parse_options",
    "split_records",
    "tallrec_input",
]
