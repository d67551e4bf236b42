"""Raters that are not people, so that a study can run unattended and its machinery be tested.

* ``oracle``: prefers the output closer to the gold: for generation tasks the higher ROUGE-L F1,
  and where that ties (ROUGE lowercases and drops punctuation) the higher cased character
  similarity (``difflib``), which sees case, punctuation and emoji; for classification a correct
  label; for ratings a smaller absolute error.
* ``user-likeness``: "sounds like this user": prefers the output whose style is closer to the
  user's own history than to the other users' histories. Score of an output o for user u:
  cos(o, profile_u) - mean over other users v of cos(o, profile_v), where a profile is the mean of
  the (L2-normalised) vectors of the user's history items. Vectors (``features``):

  - ``char-tfidf`` (default, model-free): TF-IDF over character 2-4-grams, **cased**, on the raw
    text, so that case, punctuation, emoji and sign-offs count (scikit-learn's vectorizer, fitted
    on every user's history);
  - an encoder name (e.g. ``minilm-l6``): sentence embeddings from
    :func:`personalize.models.load_encoder`. MiniLM is uncased and trained on meaning, so it sees
    topic more than style; it is offered for comparison.

A difference of scores within ``margin`` is a tie. Machine raters are recorded under their own
names and kinds (``oracle``, ``user-likeness``; ``user-likeness:<encoder>`` for an encoder), so
their judgments are never pooled with people's (see :mod:`personalize.study.rank`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from personalize.errors import ConfigError
from personalize.study import store

RATERS = ("oracle", "user-likeness")
MARGIN = 1e-9


def oracle_scorer(task_name: str) -> Callable[[str, str], tuple[float, ...]]:
    """``score(output, gold)``: a tuple compared in order, higher is closer to the gold."""
    import difflib

    from personalize.data.overlap import rouge_scorer
    from personalize.data.tasks import get_task
    from personalize.metrics import parse_rating

    task = get_task(task_name)
    if task.kind == "generation":
        scorer = rouge_scorer()

        def generation(output: str, gold: str) -> tuple[float, ...]:
            rouge = float(scorer.score(gold.strip(), output.strip())["rougeL"].fmeasure)
            return rouge, difflib.SequenceMatcher(None, output.strip(), gold.strip(), autojunk=False).ratio()
        return generation
    if task.kind == "rating":
        def rating(output: str, gold: str) -> tuple[float, ...]:
            value, target = parse_rating(output), parse_rating(gold)
            return (-abs(value - target) if value is not None and target is not None else float("-inf"),)
        return rating
    return lambda output, gold: (float(output.strip().lower() == gold.strip().lower()),)


class UserLikeness:
    """Scores how much an output sounds like its user rather than like the other users.

    Args:
        histories: user id -> that user's history texts.
        embed: texts -> ``(n, d)`` L2-normalised vectors; ``None``: fit character TF-IDF on the histories.
    """

    def __init__(self, histories: dict[str, Sequence[str]], embed: Callable[[list[str]], np.ndarray] | None = None):
        users = [u for u, items in histories.items() if items]
        if len(users) < 2:
            raise ConfigError("the user-likeness rater needs at least two users with a history")
        texts = [t for u in users for t in histories[u]]
        if embed is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            # cased, raw characters: "!!!", "colour", "xoxo" and emoji are the style
            vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), lowercase=False, sublinear_tf=True)
            vectorizer.fit(texts)

            def embed(batch: list[str]) -> np.ndarray:
                return vectorizer.transform(batch).toarray().astype(np.float32)  # rows are L2-normalised

        self.embed = embed
        self.users = users
        vectors = np.asarray(embed(texts), dtype=np.float32)
        profiles, start = [], 0
        for u in users:
            count = len(histories[u])
            profiles.append(vectors[start : start + count].mean(axis=0))
            start += count
        profiles = np.stack(profiles)
        self.profiles = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        self.index = {u: i for i, u in enumerate(users)}

    def scores(self, outputs: list[str], user_ids: list[str]) -> np.ndarray:
        """``(n,)``: own-profile cosine minus the mean cosine to the other users' profiles."""
        vectors = np.asarray(self.embed(outputs), dtype=np.float32)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        sims = vectors @ self.profiles.T  # (n, users)
        own = np.array([self.index[u] for u in user_ids])
        own_sim = sims[np.arange(len(outputs)), own]
        others = (sims.sum(axis=1) - own_sim) / (len(self.users) - 1)
        return own_sim - others


def _decide(left: Sequence[float], right: Sequence[float], margin: float) -> str:
    """``left``/``right``/``tie``: the first score that differs by more than ``margin`` decides."""
    for a, b in zip(left, right):
        if a == b or abs(a - b) <= margin:
            continue
        return "left" if a > b else "right"
    return "tie"


def judge_study(path: str | Path, rater: str, *, features: str = "char-tfidf", margin: float = MARGIN,
                force: bool = False, device: str = "auto") -> dict[str, Any]:
    """Let a machine rater judge every shown pair of the study ``path`` it has not judged yet.

    Args:
        rater: ``oracle`` or ``user-likeness``.
        features: for ``user-likeness``: ``char-tfidf`` or a sentence encoder name.
        force: judge every pair again (this rater's earlier judgments are replaced).

    Returns:
        ``{"rater", "kind", "judged", "left", "right", "tie", "already", "skipped_no_gold"}``.

    Raises:
        ConfigError: an unknown rater, or a user-likeness study with fewer than two users.
    """
    if rater not in RATERS:
        raise ConfigError(f"unknown rater {rater!r}; known: {', '.join(RATERS)}")
    conn = store.connect(path)
    try:
        meta = store.get_meta(conn)
        name = rater if rater == "oracle" or features == "char-tfidf" else f"{rater}:{features}"
        settings: dict[str, Any] = {"margin": margin}
        if rater == "user-likeness":
            settings["features"] = features
        rows = [dict(r) for r in conn.execute(
            "SELECT p.id, p.left_output, p.right_output, e.gold, e.user_id FROM pairs p "
            "JOIN examples e ON e.id = p.example_id WHERE p.identical = 0 ORDER BY p.id")]
        done = {r[0] for r in conn.execute("SELECT pair_id FROM judgments WHERE rater = ?", (name,))}
        todo = rows if force else [r for r in rows if r["id"] not in done]
        skipped = 0
        if rater == "oracle":
            score = oracle_scorer(meta["task"])
            with_gold = [r for r in todo if r["gold"] is not None]
            skipped = len(todo) - len(with_gold)
            todo = with_gold
            left = [score(r["left_output"], r["gold"]) for r in todo]
            right = [score(r["right_output"], r["gold"]) for r in todo]
        else:
            histories = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT user_id, items FROM users")}
            embed = None
            if features != "char-tfidf":
                from personalize import models

                encoder = models.load_encoder(features, device=device)

                def embed(texts: list[str]) -> np.ndarray:
                    return np.asarray(encoder.encode(texts), dtype=np.float32)

            likeness = UserLikeness(histories, embed)
            users = [r["user_id"] for r in todo]
            left = [(float(x),) for x in likeness.scores([r["left_output"] for r in todo], users)] if todo else []
            right = [(float(x),) for x in likeness.scores([r["right_output"] for r in todo], users)] if todo else []
        choices = [_decide(a, b, margin) for a, b in zip(left, right)]
        with store.transaction(conn):
            store.ensure_rater(conn, name, rater, settings)
            if force:
                conn.execute("DELETE FROM judgments WHERE rater = ?", (name,))
            conn.executemany("INSERT INTO judgments (pair_id, rater, choice, seconds, created) VALUES (?, ?, ?, NULL, ?)",
                             [(r["id"], name, c, store.now()) for r, c in zip(todo, choices)])
    finally:
        conn.close()
    return {"rater": name, "kind": rater, "judged": len(todo), "left": choices.count("left"),
            "right": choices.count("right"), "tie": choices.count("tie"),
            "already": 0 if force else len(done), "skipped_no_gold": skipped}
