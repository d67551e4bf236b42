"""Extra training examples built from the users' own histories (a training setting, off by default).

LaMP-7 gives one (paraphrase -> tweet) pair per user: 983 training pairs, while the same users'
profiles hold 17,098 tweets they wrote themselves, with no paraphrase beside them. ``profile-loo``
turns profile items into leave-one-out examples:

* target: one profile item, exactly as the user wrote it;
* input: the task's instruction with that item *neutralized*: the surface habits that the
  official paraphrases (written by a model) take out are removed by rule (HTML entities, URLs,
  ``#``, emoticons, letter elongations, runs of ``!?.``, chat abbreviations such as ``u``,
  ``ur``, ``w/``, ``cuz``); the content words stay;
* user context: the rest of the profile, with the target item left out, so that the user's
  features cannot carry the answer (the example gets its own user id, ``<user>~loo<j>``).

The model thus learns to copy the content and put back the habits of this user, which only the
user's context can tell it. These inputs are closer to the target than a real paraphrase is, so
the examples also teach copying; the real pairs are always kept. Results record the setting.

``profile-paraphrase`` chooses the same items but writes the input the way LaMP-7's own inputs
were made, by a model: the frozen base model paraphrases each item zero-shot with the task's
instruction (back-translation, as in STRAP, Krishna et al. 2020). The adapter then learns to undo
a model's paraphrase into this user's words. Pairs whose paraphrase is nearly a copy or shares
almost nothing with the item are dropped (:data:`PARAPHRASE_OVERLAP`); the paraphrases come from
:class:`personalize.training.paraphrase.ModelParaphraser`, cached on disk.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import replace

from personalize.data.schema import Example, PersonalizationDataset, UserProfile
from personalize.errors import ConfigError

# Chat abbreviations -> the spelled-out words a paraphrase uses (matched as whole words, any case).
_ABBREVIATIONS = {
    "u": "you", "ur": "your", "r": "are", "ya": "you", "yu": "you", "w/": "with", "w/o": "without",
    "b/c": "because", "bc": "because", "cuz": "because", "coz": "because", "cos": "because",
    "gonna": "going to", "wanna": "want to", "gotta": "have to", "im": "I'm", "ive": "I've",
    "dont": "don't", "cant": "can't", "wont": "won't", "didnt": "didn't", "doesnt": "doesn't",
    "isnt": "isn't", "wasnt": "wasn't", "havent": "haven't", "couldnt": "couldn't", "thats": "that's",
    "whats": "what's", "theres": "there's", "youre": "you're", "ill": "I'll", "id": "I'd",
    "2day": "today", "2nite": "tonight", "2morrow": "tomorrow", "tmrw": "tomorrow", "tomoro": "tomorrow",
    "nite": "night", "pls": "please", "plz": "please", "thx": "thanks", "thanx": "thanks", "luv": "love",
    "b4": "before", "ppl": "people", "bday": "birthday", "idk": "I don't know", "omg": "oh my god",
    "lol": "", "lmao": "", "haha": "", "hahaha": "", "xoxo": "", "kinda": "kind of", "sorta": "sort of",
    "ya'll": "you all", "yall": "you all", "abt": "about", "tho": "though", "thru": "through",
    "n": "and", "msg": "message", "pic": "picture", "pics": "pictures", "fav": "favorite", "fave": "favorite",
}
_WORD = re.compile(r"(?<![\w/'])(" + "|".join(re.escape(k) for k in sorted(_ABBREVIATIONS, key=len, reverse=True))
                   + r")(?![\w/'])", re.IGNORECASE)
_ENTITIES = {"&amp;": " and ", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&#39;": "'"}
_URL = re.compile(r"(https?://\S+|www\.\S+)")
_EMOTICON = re.compile(r"(?<!\w)(:-?[()DPpOo/\\|]|;-?[()DPp]|:'\(|<3+|xD+|XD+|\^_\^|-_-|o_O|O_o)(?!\w)")
_ELONGATION = re.compile(r"([A-Za-z])\1{2,}")
_PUNCT_RUN = re.compile(r"([!?.])[!?.]{1,}")


def neutralize(text: str) -> str:
    """``text`` without the surface habits a formal paraphrase drops (see the module docstring)."""
    out = text
    for entity, plain in _ENTITIES.items():
        out = out.replace(entity, plain)
    out = _URL.sub(" ", out)
    out = _EMOTICON.sub(" ", out)
    out = out.replace("#", "")
    out = _ELONGATION.sub(r"\1", out)
    out = _PUNCT_RUN.sub(r"\1", out)
    out = _WORD.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], out)
    out = re.sub(r"(?<![\w'])i(?![\w'])", "I", out)
    out = re.sub(r"\s+", " ", out).strip()
    out = re.sub(r"\s+([,.!?])", r"\1", out)
    return out[:1].upper() + out[1:]


Paraphraser = Callable[[list[str]], list[str]]

# Back-translated pairs are kept only when they look like LaMP-7's official train pairs, whose
# ROUGE-1 between input and target has 5th-95th percentiles 0.23-0.70 (median 0.46) and whose
# input/target word-count ratio has 2nd-98th percentiles 0.65-1.9. A near-copy teaches copying;
# little overlap, or a much shorter or longer answer, is a failed paraphrase (a refusal, a reply
# to the tweet, a sentence cut short or looping).
PARAPHRASE_OVERLAP = (0.25, 0.8)
PARAPHRASE_LENGTH_RATIO = (0.6, 2.0)


def _leave_one_out(dataset: PersonalizationDataset, per_user: int, seed: int, what: str):
    """Yield ``(example, instruction, profile, item index, j)`` for the chosen profile items.

    Raises:
        ConfigError: the task does not qualify, or ``per_user`` < 1.
    """
    task = dataset.task
    if per_user < 1:
        raise ConfigError(f"augment_per_user must be >= 1, got {per_user}")
    if task.kind != "generation" or not task.query_marker or task.item_fields != ("text",):
        raise ConfigError(f"augment {what!r} needs a rewriting task whose history items are its outputs "
                          f"(LaMP-7, synthetic-style), not {task.name}")
    rng = random.Random(seed)
    seen: set[str] = set()
    for example in dataset.examples:
        if task.query_marker not in example.input or example.user_id in seen:
            continue
        seen.add(example.user_id)
        instruction = example.input.split(task.query_marker, 1)[0] + task.query_marker
        profile = dataset.profile(example)
        usable = [i for i, item in enumerate(profile.items) if len(item.get("text", "").split()) >= 3]
        if len(profile.items) < 2 or not usable:
            continue  # leaving the only item out would leave no context
        for j, index in enumerate(sorted(rng.sample(usable, min(per_user, len(usable))))):
            yield example, instruction, profile, index, j


def _loo_example(example: Example, profile: UserProfile, index: int, j: int, input_text: str,
                 profiles: dict[str, UserProfile]) -> Example:
    """The example for profile item ``index``, its user being the rest of the profile."""
    user_id = f"{profile.user_id}~loo{j}"
    profiles[user_id] = UserProfile(user_id, profile.items[:index] + profile.items[index + 1 :])
    return Example(id=f"{example.id}~loo{j}", user_id=user_id, input=input_text, output=profile.items[index]["text"])


def profile_leave_one_out(dataset: PersonalizationDataset, per_user: int, seed: int,
                          paraphraser: Paraphraser | None = None) -> PersonalizationDataset:
    """``dataset`` plus up to ``per_user`` leave-one-out examples per user (see the module docstring).

    Only tasks whose profile items are the task's own outputs and whose inputs end in the text
    to rewrite (a ``query_marker``) qualify: LaMP-7 and the synthetic style task.

    Raises:
        ConfigError: the task does not qualify, or ``per_user`` < 1.
    """
    examples = list(dataset.examples)
    profiles = dict(dataset.profiles)
    for example, instruction, profile, index, j in _leave_one_out(dataset, per_user, seed, "profile-loo"):
        text = instruction + neutralize(profile.items[index]["text"])
        examples.append(_loo_example(example, profile, index, j, text, profiles))
    return replace(dataset, examples=examples, profiles=profiles)


def profile_paraphrase(dataset: PersonalizationDataset, per_user: int, seed: int,
                       paraphraser: Paraphraser | None = None) -> PersonalizationDataset:
    """``dataset`` plus back-translated leave-one-out examples (STRAP-style; see the module docstring).

    The same profile items as ``profile-loo`` are chosen; each one's input is the task's
    instruction followed by ``paraphraser``'s answer to that same instruction on the item. Pairs
    whose ROUGE-1 between paraphrase and item lies outside :data:`PARAPHRASE_OVERLAP`, or whose
    word-count ratio lies outside :data:`PARAPHRASE_LENGTH_RATIO`, are dropped; how many is in
    ``skipped["paraphrase unlike a real pair"]``.

    Raises:
        ConfigError: no paraphraser, the task does not qualify, or ``per_user`` < 1.
    """
    if paraphraser is None:
        raise ConfigError("augment 'profile-paraphrase' needs a paraphraser (the trainer passes the base model)")
    from personalize.data.overlap import rouge_1

    chosen = list(_leave_one_out(dataset, per_user, seed, "profile-paraphrase"))
    prompts = [instruction + profile.items[index]["text"] for _, instruction, profile, index, _ in chosen]
    answers = paraphraser(prompts)
    examples = list(dataset.examples)
    profiles = dict(dataset.profiles)
    low, high = PARAPHRASE_OVERLAP
    shortest, longest = PARAPHRASE_LENGTH_RATIO
    dropped = 0
    for (example, instruction, profile, index, j), answer in zip(chosen, answers):
        answer, item = answer.strip(), profile.items[index]["text"]
        ratio = len(answer.split()) / max(1, len(item.split()))
        if not answer or not low <= rouge_1(item, answer) <= high or not shortest <= ratio <= longest:
            dropped += 1
            continue
        examples.append(_loo_example(example, profile, index, j, instruction + answer, profiles))
    skipped = dict(dataset.skipped)
    if dropped:
        skipped["paraphrase unlike a real pair"] = skipped.get("paraphrase unlike a real pair", 0) + dropped
    return replace(dataset, examples=examples, profiles=profiles, skipped=skipped)


_AUGMENTERS = {
    "none": lambda dataset, per_user, seed, paraphraser=None: dataset,
    "profile-loo": profile_leave_one_out,
    "profile-paraphrase": profile_paraphrase,
}
NEEDS_PARAPHRASER = frozenset({"profile-paraphrase"})
AUGMENTATIONS = tuple(_AUGMENTERS)


def check_augment(kind: str) -> None:
    """Raise :class:`ConfigError` unless ``kind`` names an augmentation (before any work is done)."""
    if kind not in _AUGMENTERS:
        raise ConfigError(f"unknown augment {kind!r}; choose one of {', '.join(AUGMENTATIONS)}")


def augment(dataset: PersonalizationDataset, kind: str, per_user: int, seed: int,
            paraphraser: Paraphraser | None = None) -> PersonalizationDataset:
    """Apply the training-data augmentation ``kind`` (``none`` returns ``dataset`` unchanged).

    ``paraphraser`` (prompts -> answers) is needed by the kinds in :data:`NEEDS_PARAPHRASER`.
    """
    check_augment(kind)
    return _AUGMENTERS[kind](dataset, per_user, seed, paraphraser)
