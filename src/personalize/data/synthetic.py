"""Seeded synthetic users whose right answer depends on their history, for fast, checkable tests.

Two tasks, both registered in :mod:`personalize.data.tasks` with ``synthetic=True`` so that no
result on them can pass for a real benchmark (``dataset.synthetic`` is true and ``source``
starts with ``synthetic:``):

``synthetic-style`` (generation, LaMP-7-like)
    Every user has a fixed writing style: a letter case (lower, UPPER or as written), an
    optional filler word at the start ("honestly, ..."), an ending ("." "!" "!!!" "..."),
    British or American spelling, and a sign-off (emoji, hashtag or name) that no other user
    shares while there are enough of them (16). Neutral sentences are built from templates
    (subject x verb x object x time; 20,160 distinct sentences), many of them with words that
    British and American English spell differently. History items ``{"id", "text"}`` are the
    user's own styled sentences; an example's input is the LaMP-7 prompt on a neutral sentence
    and its output the same sentence in the user's style.

``synthetic-pref`` (classification over mystery/romance/science/history/travel, LaMP-2-like)
    Every user ranks the five genres (a distinct ranking per user). Each item's description
    mentions cues of two genres; the user always picks the one they rank higher. History
    items ``{"id", "text", "label"}`` cover the genre pairs in turn (all ten when a user has
    at least ten items), and examples only use pairs that the user's history shows, so the
    answer can always be inferred from the history, and differs between users.

Two ways to split (the ``split_by`` option):

``example`` (default)
    Every user appears in ``train``, ``dev`` and ``test``, each with ``examples_per_user``
    examples of their own, none of whose sentences occur in the user's history or in another
    split. Per-user methods can be trained on ``train`` and evaluated on ``dev`` for the same
    users, as with a LaMP time split.
``user``
    ``train``, ``dev`` and ``test`` hold **different users** (about 60/20/20%, at least two
    each), every user with ``examples_per_user`` examples. A held-out user's style as a whole
    (the tuple of attributes, or the genre ranking) occurs for no training user, while every
    single attribute value of a held-out user does occur in training: a method can only be right
    on them by reading their history. This is the probe for personalization.

``shared_inputs=k`` (synthetic-style; default 1) gives the training users' examples in groups of
``k`` users the same neutral sentences (each user still answers in their own style, from their
own history). With one sentence per user, an adapter can fit a choice such as a spelling to the
training sentence instead of reading it from the user; when ``k`` users of differing styles
answer the same sentence, only the user tells the answers apart. Histories, dev and test
are the same as with ``k = 1``.

Everything is drawn from ``random.Random(seed)``: the same seed and sizes give the same data.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.data.tasks import EXAMPLE_SCORERS, STYLE_ATTRIBUTES, get_task
from personalize.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")

STYLE_PROMPT = "Paraphrase the following tweet without any explanation before or after it: "
PREF_LABELS = ("mystery", "romance", "science", "history", "travel")
PREF_PROMPT = (
    "Which one of the following genres would this user pick for the book below? "
    "Just answer with the genre name without further explanation. "
    "genres: [" + ", ".join(PREF_LABELS) + "] book: "
)

# ---------------------------------------------------------------------------------------------
# Style
# ---------------------------------------------------------------------------------------------

_SUBJECTS = (
    "My neighbor", "The new barista", "Our team", "My sister", "The bus driver",
    "A friend from work", "The boy next door", "My landlord", "The local band", "Our coach",
    "My roommate", "The mail carrier", "Grandma", "The whole office",
)  # fmt: skip
_VERBS = (
    "painted", "finally organized", "just finished", "cannot stop talking about",
    "spent all day fixing", "recommended", "complained about", "is planning", "loved",
    "forgot about", "rearranged", "took photos of",
)  # fmt: skip
_OBJECTS = (
    "the color of the kitchen", "my favorite coffee mug", "the theater downtown",
    "the old bike in the garage", "a new flavor of ice cream", "the garden fence",
    "the program for the weekend", "the center table", "our traveling plans",
    "the backyard", "the movie night", "a gray sweater",
)  # fmt: skip
_TAILS = (
    "this morning", "after lunch", "before the storm", "over the weekend", "last night",
    "during the holidays", "at the neighborhood party", "on the way home",
    "yesterday afternoon", "for the third time",
)  # fmt: skip

# the two-spelling words, American -> British
BRITISH_SPELLINGS = {
    "neighbor": "neighbour", "neighborhood": "neighbourhood", "organized": "organised",
    "color": "colour", "favorite": "favourite", "theater": "theatre", "flavor": "flavour",
    "program": "programme", "center": "centre", "traveling": "travelling", "gray": "grey",
}  # fmt: skip
_BRITISH_RE = re.compile(r"\b(" + "|".join(sorted(BRITISH_SPELLINGS, key=len, reverse=True)) + r")\b", re.I)

_DETERMINERS = {"My", "The", "Our", "A"}
_CASES = ("lower", "upper", "as-is")
_FILLERS = (None, "honestly", "literally", "basically", "tbh", "like")
_ENDINGS = (".", "!", "!!!", "...")
_SPELLINGS = ("american", "british")
_SIGNOFFS = (
    "#blessed", "#mondaymood", "\U0001f680", "\U0001f60e", "xoxo", "~ Sam", "#coffeetime",
    "\U0001f33b", "lol", "#justsaying", "\U0001f64c", "cheers!", "#nofilter",
    "peace \u270c\ufe0f", "\U0001f3b8", "#yolo",
)  # fmt: skip

# every value each style attribute can take (``None`` filler: the user writes none)
STYLE_VALUES: dict[str, tuple] = {"case": _CASES, "filler": _FILLERS, "ending": _ENDINGS, "spelling": _SPELLINGS,
                                  "signoff": _SIGNOFFS}


def _britishize(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        british = BRITISH_SPELLINGS[word.lower()]
        return british.capitalize() if word[0].isupper() else british

    return _BRITISH_RE.sub(swap, text)


@dataclass(frozen=True)
class UserStyle:
    """One synthetic user's writing style; :meth:`apply` turns a neutral sentence into theirs."""

    case: str
    filler: str | None
    ending: str
    spelling: str
    signoff: str

    def apply(self, sentence: str) -> str:
        """Style a neutral sentence (which starts with a capital and ends with ``.``)."""
        text = sentence.rstrip(".")
        if self.spelling == "british":
            text = _britishize(text)
        if self.filler:
            first, rest = text.split(" ", 1)
            if first in _DETERMINERS:  # "my neighbor", but still "Grandma"
                first = first.lower()
            text = f"{self.filler.capitalize()}, {first} {rest}"
        text += self.ending
        if self.case == "lower":
            text = text.lower()
        elif self.case == "upper":
            text = text.upper()
        return f"{text} {self.signoff}"


def _draw_styles(rng: random.Random, n_users: int) -> list[UserStyle]:
    limit = len(_CASES) * len(_FILLERS) * len(_ENDINGS) * len(_SPELLINGS) * len(_SIGNOFFS)
    if n_users > limit:
        raise ConfigError(f"synthetic-style supports at most {limit} users, not {n_users}")
    signoffs = list(_SIGNOFFS)
    rng.shuffle(signoffs)
    styles: list[UserStyle] = []
    seen: set[UserStyle] = set()
    for i in range(n_users):
        signoff = signoffs[i % len(signoffs)]
        while True:
            style = UserStyle(
                case=rng.choice(_CASES),
                filler=rng.choice(_FILLERS),
                ending=rng.choice(_ENDINGS),
                spelling=rng.choice(_SPELLINGS),
                signoff=signoff,
            )
            if style not in seen:
                break
        seen.add(style)
        styles.append(style)
    return styles


def _neutral_sentence(index: int) -> str:
    """Sentence ``index``; past the template space, variants marked "(take 2)", "(take 3)", ...
    keep sentences distinct for very long synthetic histories (100,000 items)."""
    take, index = divmod(index, _N_SENTENCES)
    suffix = f" (take {take + 1})" if take else ""
    index, tail = divmod(index, len(_TAILS))
    index, obj = divmod(index, len(_OBJECTS))
    subject, verb = divmod(index, len(_VERBS))
    return f"{_SUBJECTS[subject]} {_VERBS[verb]} {_OBJECTS[obj]} {_TAILS[tail]}{suffix}."


_N_SENTENCES = len(_SUBJECTS) * len(_VERBS) * len(_OBJECTS) * len(_TAILS)
_MAX_TAKES = 64


def user_styles(n_users: int = 8, seed: int = 0) -> list[UserStyle]:
    """The styles that :func:`make_style_dataset` gives its users for this seed, in user order."""
    return _draw_styles(random.Random(seed), n_users)


def style_of(user_id: str, styles: Sequence[UserStyle]) -> UserStyle:
    """The style of ``synthetic-style`` user ``user_id`` (``style-003``) among :func:`user_styles`."""
    prefix, _, number = user_id.partition("-")
    if prefix != "style" or not number.isdigit() or int(number) >= len(styles):
        raise DataError(f"{user_id!r} is not a synthetic-style user of these {len(styles)} styles")
    return styles[int(number)]


def _check_sizes(n_users: int, items_per_user: int, examples_per_user: int) -> None:
    for name, value in (("n_users", n_users), ("items_per_user", items_per_user),
                        ("examples_per_user", examples_per_user)):  # fmt: skip
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"synthetic data: {name} must be a positive integer, not {value!r}")


SPLIT_BY = ("example", "user")
# the options a generator takes besides ``seed`` (``shared_inputs``: synthetic-style only)
SIZE_OPTIONS = ("n_users", "items_per_user", "examples_per_user", "split_by", "shared_inputs")


def _source(task: str, seed: int, n_users: int, items: int, examples: int, split_by: str = "example",
            shared_inputs: int = 1) -> str:
    source = (
        f"synthetic:{task}:seed={seed},n_users={n_users},items_per_user={items},"
        f"examples_per_user={examples}"
    )
    # Defaults are left out so that sources (and cache keys) of earlier runs stay the same.
    if split_by != "example":
        source += f",split_by={split_by}"
    return source if shared_inputs == 1 else f"{source},shared_inputs={shared_inputs}"


def _check_split_by(split_by: str) -> None:
    if split_by not in SPLIT_BY:
        raise ConfigError(f"synthetic data: split_by must be one of {', '.join(SPLIT_BY)}, not {split_by!r}")


def _user_splits(rng: random.Random, attributes: list[tuple[object, ...]]) -> list[str]:
    """The split of each user for ``split_by=user``: about 20% dev, 20% test, the rest train.

    ``attributes[u]`` are user ``u``'s attribute values (one per position); the draw is
    repeated until every held-out user's values each occur among the training users, so
    that nothing a held-out user needs is unseen in training (only its combination is).
    """
    n_users = len(attributes)
    if n_users < 6:
        raise ConfigError(f"synthetic data: split_by=user needs at least 6 users, not {n_users}")
    held = max(2, round(0.2 * n_users))
    for _ in range(1000):
        order = list(range(n_users))
        rng.shuffle(order)
        dev, test, train = order[:held], order[held : 2 * held], order[2 * held :]
        seen = [{attributes[u][k] for u in train} for k in range(len(attributes[0]))]
        if all(attributes[u][k] in seen[k] for u in dev + test for k in range(len(seen))):
            split = ["train"] * n_users
            for u in dev:
                split[u] = "dev"
            for u in test:
                split[u] = "test"
            return split
    raise ConfigError(
        f"synthetic data: could not split {n_users} users so that every held-out user's attributes "
        "also occur in training; use more users"
    )


def make_style_dataset(
    n_users: int = 8, items_per_user: int = 12, examples_per_user: int = 4, seed: int = 0,
    split_by: str = "example", shared_inputs: int = 1,
) -> dict[str, PersonalizationDataset]:
    """``{"train", "dev", "test"}`` datasets of the ``synthetic-style`` task (see module doc).

    Args:
        n_users: number of users (distinct sign-offs for up to 16).
        items_per_user: history length of every user.
        examples_per_user: examples per user in each split (``split_by=example``), or in the
            one split the user belongs to (``split_by=user``).
        seed: random seed; same seed and sizes give identical datasets.
        split_by: ``example`` or ``user`` (see the module doc).
        shared_inputs: training users answer the same sentences in groups of this many (see the
            module doc); 1 gives every example its own sentence.
    """
    _check_sizes(n_users, items_per_user, examples_per_user)
    _check_split_by(split_by)
    if not isinstance(shared_inputs, int) or isinstance(shared_inputs, bool) or shared_inputs < 1:
        raise ConfigError(f"synthetic data: shared_inputs must be a positive integer, not {shared_inputs!r}")
    spec = get_task("synthetic-style")
    rng = random.Random(seed)
    styles = _draw_styles(rng, n_users)
    by_user = split_by == "user"
    user_split = _user_splits(rng, [astuple(s) for s in styles]) if by_user else None
    per_user = items_per_user + (1 if by_user else len(SPLITS)) * examples_per_user
    needed = n_users * per_user
    if needed > _N_SENTENCES * _MAX_TAKES:
        raise ConfigError(
            f"synthetic-style has {_N_SENTENCES * _MAX_TAKES} distinct sentences; "
            f"{n_users} users x {per_user} sentences is too many"
        )
    # Small datasets draw from the template space alone; larger ones also from its "(take n)" variants.
    pool = _N_SENTENCES * -(-needed // _N_SENTENCES) if needed > _N_SENTENCES else _N_SENTENCES
    indices = rng.sample(range(pool), needed)
    # Groups of training users, in user order, take their examples' sentences from the group's
    # first user; nothing is drawn for it, so histories, dev and test stay those of shared_inputs=1.
    trains = [u for u in range(n_users) if user_split is None or user_split[u] == "train"]
    source_of = {u: trains[i - i % shared_inputs] for i, u in enumerate(trains)}
    profiles: dict[str, UserProfile] = {}
    examples: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for u, style in enumerate(styles):
        user_id = f"style-{u:03d}"
        sentences = [_neutral_sentence(i) for i in indices[u * per_user : (u + 1) * per_user]]
        lead = source_of.get(u, u)
        history: tuple[HistoryItem, ...] = tuple(
            {"id": f"{user_id}-h{j:03d}", "text": style.apply(s)}
            for j, s in enumerate(sentences[:items_per_user])
        )
        profiles[user_id] = UserProfile(user_id, history)
        rest = sentences[items_per_user:]
        user_splits = (user_split[u],) if user_split is not None else SPLITS
        for k, split in enumerate(user_splits):
            chosen = rest[k * examples_per_user : (k + 1) * examples_per_user]
            if split == "train" and lead != u:
                start = lead * per_user + items_per_user + k * examples_per_user
                chosen = [_neutral_sentence(i) for i in indices[start : start + examples_per_user]]
            for j, sentence in enumerate(chosen):
                examples[split].append(
                    Example(f"{user_id}-{split}-{j:03d}", user_id, STYLE_PROMPT + sentence,
                            style.apply(sentence))
                )  # fmt: skip
    source = _source(spec.name, seed, n_users, items_per_user, examples_per_user, split_by, shared_inputs)
    return _datasets(spec, examples, profiles, source, user_split)


def _datasets(spec, examples: dict[str, list[Example]], profiles: dict[str, UserProfile], source: str,
              user_split: list[str] | None) -> dict[str, PersonalizationDataset]:
    """One dataset per split; with a user split each holds only its own users' profiles."""
    out = {}
    for split in SPLITS:
        users = {e.user_id for e in examples[split]}
        kept = {u: p for u, p in profiles.items() if user_split is None or u in users}
        out[split] = PersonalizationDataset(spec, split, examples[split], kept, source)
    return out


# ---------------------------------------------------------------------------------------------
# Preference
# ---------------------------------------------------------------------------------------------

_GENRE_CUES: dict[str, tuple[str, ...]] = {
    "mystery": (
        "a detective chasing a missing heiress", "a locked-room murder",
        "an anonymous letter that exposes a crime", "a stolen painting and a trail of clues",
        "a small town hiding a cold case",
    ),
    "romance": (
        "two rivals who slowly fall in love", "a summer love affair",
        "a wedding planner who falls for the best man", "love letters between separated sweethearts",
        "a second chance at first love",
    ),
    "science": (
        "the physics of black holes", "a lab racing to decode a virus",
        "how quantum computers work", "the chemistry of everyday cooking",
        "a new theory of how the brain learns",
    ),
    "history": (
        "the fall of the Roman Empire", "a medieval royal court",
        "life in a Victorian factory town", "the building of the pyramids",
        "the printing press and the Renaissance",
    ),
    "travel": (
        "a backpacking trip across Patagonia", "street food markets in Bangkok",
        "a train journey through the Alps", "island hopping in Greece",
        "a road trip along the Pacific coast",
    ),
}  # fmt: skip
_ITEM_TEMPLATES = (
    "A book about {a}, and about {b}.",
    "A novel that mixes {a} with {b}.",
    "The story of {a}, set against {b}.",
    "Part one covers {a}; part two covers {b}.",
)
_PAIRS = tuple(itertools.combinations(PREF_LABELS, 2))  # the ten genre pairs


def user_preferences(n_users: int = 8, seed: int = 0) -> list[tuple[str, ...]]:
    """Each user's genre ranking (favourite first) in :func:`make_preference_dataset`."""
    return _draw_rankings(random.Random(seed), n_users)


def _draw_rankings(rng: random.Random, n_users: int) -> list[tuple[str, ...]]:
    rankings = list(itertools.permutations(PREF_LABELS))
    if n_users > len(rankings):
        raise ConfigError(f"synthetic-pref supports at most {len(rankings)} users, not {n_users}")
    return rng.sample(rankings, n_users)


def _item_text(rng: random.Random, pair: tuple[str, str], used: set[str]) -> str:
    """A description with cues of both genres (random order), not in ``used``; adds it there."""
    for _ in range(10_000):
        a, b = rng.sample(pair, 2)
        template = rng.choice(_ITEM_TEMPLATES)
        text = template.format(a=rng.choice(_GENRE_CUES[a]), b=rng.choice(_GENRE_CUES[b]))
        if text not in used:
            used.add(text)
            return text
    raise ConfigError(
        f"synthetic-pref: ran out of distinct descriptions for genres {pair}; "
        "use fewer examples per user or more history items"
    )


def make_preference_dataset(
    n_users: int = 8, items_per_user: int = 12, examples_per_user: int = 4, seed: int = 0,
    split_by: str = "example",
) -> dict[str, PersonalizationDataset]:
    """``{"train", "dev", "test"}`` datasets of the ``synthetic-pref`` task (see module doc).

    Args:
        n_users: number of users (at most 120, one genre ranking each).
        items_per_user: history length of every user (ten or more covers every genre pair).
        examples_per_user: examples per user in each split (``split_by=example``), or in the
            one split the user belongs to (``split_by=user``).
        seed: random seed; same seed and sizes give identical datasets.
        split_by: ``example`` or ``user`` (see the module doc).
    """
    _check_sizes(n_users, items_per_user, examples_per_user)
    _check_split_by(split_by)
    # 10 pairs x 25 cue combinations x 2 orders x 4 templates descriptions per user at most.
    if items_per_user + len(SPLITS) * examples_per_user > 1000:
        raise ConfigError("synthetic-pref: at most 1000 items and examples per user")
    spec = get_task("synthetic-pref")
    rng = random.Random(seed)
    rankings = _draw_rankings(rng, n_users)
    # a held-out user's ranking is new, but each of its pairwise choices occurs in training
    user_split = (_user_splits(rng, [tuple(min(p, key=r.index) for p in _PAIRS) for r in rankings])
                  if split_by == "user" else None)
    profiles: dict[str, UserProfile] = {}
    examples: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for u, ranking in enumerate(rankings):
        user_id = f"pref-{u:03d}"
        rank = {label: r for r, label in enumerate(ranking)}

        def choose(pair: tuple[str, str], rank: dict[str, int] = rank) -> str:
            return min(pair, key=rank.__getitem__)

        order = list(_PAIRS)
        rng.shuffle(order)
        used: set[str] = set()
        history: list[HistoryItem] = []
        for j in range(items_per_user):
            pair = order[j % len(order)]
            history.append(
                {"id": f"{user_id}-h{j:03d}", "text": _item_text(rng, pair, used),
                 "label": choose(pair)}
            )  # fmt: skip
        profiles[user_id] = UserProfile(user_id, tuple(history))
        shown = order[: min(items_per_user, len(order))]  # pairs the history demonstrates
        for split in (user_split[u],) if user_split is not None else SPLITS:
            for j in range(examples_per_user):
                pair = rng.choice(shown)
                text = _item_text(rng, pair, used)
                examples[split].append(
                    Example(f"{user_id}-{split}-{j:03d}", user_id, PREF_PROMPT + text, choose(pair))
                )
    source = _source(spec.name, seed, n_users, items_per_user, examples_per_user, split_by)
    return _datasets(spec, examples, profiles, source, user_split)


# ---------------------------------------------------------------------------------------------
# Style attributes of an output: what only the user's history can tell
# ---------------------------------------------------------------------------------------------

_AMERICAN = {british: american for american, british in BRITISH_SPELLINGS.items()}
_SIGNOFFS_LONGEST_FIRST = sorted(_SIGNOFFS, key=len, reverse=True)
_ENDINGS_LONGEST_FIRST = sorted(_ENDINGS, key=len, reverse=True)
_WORD_RE = re.compile(r"[a-z0-9]+")


def parse_style(text: str) -> dict[str, str | None]:
    """The style attributes an output shows: ``case``, ``filler``, ``ending``, ``spelling``,
    ``signoff`` (``None`` where it shows none: no sign-off, no ending, or no word whose spelling
    differs between British and American English) and ``words``, its neutral content words
    (lower case, American spelling, filler left out) joined by spaces."""
    rest = text.strip()
    signoff = next((s for s in _SIGNOFFS_LONGEST_FIRST if rest.endswith(s)), None)
    if signoff:
        rest = rest[: -len(signoff)].rstrip()
    ending = next((e for e in _ENDINGS_LONGEST_FIRST if rest.endswith(e)), None)
    body = rest[: -len(ending)] if ending else rest
    if not any(c.isalpha() for c in body):
        case = None
    else:
        case = "lower" if body == body.lower() else "upper" if body == body.upper() else "as-is"
    lowered = body.lower()
    filler = next((f for f in _FILLERS if f and lowered.startswith(f + ",")), None)
    words = _WORD_RE.findall(lowered[len(filler) + 1 :] if filler else lowered)
    british = any(w in _AMERICAN for w in words)
    american = any(w in BRITISH_SPELLINGS for w in words)
    spelling = None if british == american else ("british" if british else "american")
    neutral = " ".join(_AMERICAN.get(w, w) for w in words)
    return {"case": case, "filler": filler, "ending": ending, "spelling": spelling, "signoff": signoff,
            "words": neutral}


def style_scores(prediction: str, gold: str) -> dict[str, float | None]:
    """Per-example style metrics of ``synthetic-style``: for each attribute, 1.0 when the
    prediction shows the gold's value (no filler where the user uses none counts as a value),
    ``None`` where the gold shows none (a sentence without a British/American word says
    nothing about spelling); ``content``: the share of the gold's neutral words that the
    prediction keeps (spelling and case aside)."""
    want, got = parse_style(gold), parse_style(prediction)
    scores: dict[str, float | None] = {}
    for attribute in STYLE_ATTRIBUTES:
        if attribute == "spelling" and want["spelling"] is None:
            scores[attribute] = None
        else:
            scores[attribute] = float(got[attribute] == want[attribute])
    needed = set(want["words"].split())
    scores["content"] = len(needed & set(got["words"].split())) / len(needed) if needed else None
    return scores


EXAMPLE_SCORERS["synthetic-style"] = style_scores

# ---------------------------------------------------------------------------------------------

_GENERATORS = {"synthetic-style": make_style_dataset, "synthetic-pref": make_preference_dataset}


def synthetic_task_names() -> list[str]:
    return list(_GENERATORS)


def load_synthetic(
    task_name: str, split: str = "dev", seed: int = 0, **sizes: int
) -> PersonalizationDataset:
    """One split of a synthetic task: ``load_synthetic("synthetic-pref", "train", seed=1)``.

    ``sizes`` are passed on to the generator (``n_users``, ``items_per_user``,
    ``examples_per_user``, ``split_by``).
    """
    name = get_task(task_name).name
    if name not in _GENERATORS:
        raise ConfigError(
            f"{task_name!r} is not a synthetic task; known: {', '.join(_GENERATORS)}"
        )
    if split not in SPLITS:
        raise DataError(f"synthetic data has splits {', '.join(SPLITS)}, not {split!r}")
    unknown = set(sizes) - set(SIZE_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown synthetic size option(s): {', '.join(sorted(unknown))}")
    if "shared_inputs" in sizes and name != "synthetic-style":
        raise ConfigError(f"shared_inputs is an option of synthetic-style, not of {name}")
    return _GENERATORS[name](seed=seed, **sizes)[split]


__all__ = [
    "PREF_LABELS",
    "SIZE_OPTIONS",
    "SPLITS",
    "SPLIT_BY",
    "STYLE_VALUES",
    "UserStyle",
    "load_synthetic",
    "make_preference_dataset",
    "make_style_dataset",
    "parse_style",
    "style_scores",
    "synthetic_task_names",
    "user_preferences",
    "user_styles",
]
