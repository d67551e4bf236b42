"""Build a blind pairwise study from eval or compare run folders.

A *pair* is one example and two methods' outputs for it. :func:`create_study`:

1. reads every run (``predictions.json``, ``results.json``, ``details.jsonl``); a compare folder
   (``comparison.json`` + ``runs/<name>/``) contributes each of its rows;
2. checks that all runs answered the same data (source, split, task) and keeps the examples that
   every run answered, in the dataset's order;
3. for every method pair, draws ``per_pair`` examples (without replacement while there are enough),
   from a seeded cycle through the examples that starts at a different place for each method
   pair, so that every example is used about as often as any other;
4. puts each method on the left in half of its pairs with the other method (randomly which
   half), then shuffles all pairs, so that neither a side nor a position gives a method away;
5. writes the study file; pairs whose two outputs are identical (after stripping whitespace) are
   recorded as ties by the rater ``identical-outputs`` and never shown.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from personalize.config import JsonConfig
from personalize.errors import ConfigError, DataError
from personalize.study import store


@dataclass(frozen=True)
class StudyConfig(JsonConfig):
    """How pairs are drawn.

    Attributes:
        per_pair: pairs per method pair (the sample size); capped at the number of examples.
        seed: seeds the draw of examples, sides and order.
        output: ``prediction`` (the answer as scored, from ``predictions.json``) or ``raw`` (the
            model's raw output, from ``details.jsonl``).
    """

    per_pair: int = 20
    seed: int = 0
    output: Literal["prediction", "raw"] = "prediction"

    def __post_init__(self) -> None:
        if self.per_pair < 1:
            raise ConfigError(f"per_pair must be >= 1, got {self.per_pair}")


@dataclass
class Run:
    """One method's answers: ``outputs`` maps example id to the text shown to raters."""

    name: str
    path: Path
    results: dict[str, Any]
    outputs: dict[str, str]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def _run_folders(path: Path) -> list[Path]:
    """The eval run folders inside ``path``: itself, or a compare folder's rows."""
    if (path / "predictions.json").is_file():
        return [path]
    if (path / "comparison.json").is_file():
        rows = _read_json(path / "comparison.json").get("rows", [])
        return [path / row.get("run_dir", f"runs/{row['name']}") for row in rows]
    if (path / "runs").is_dir():
        found = sorted(p for p in (path / "runs").iterdir() if (p / "predictions.json").is_file())
        if found:
            return found
    raise DataError(f"{path}: neither an eval run folder (predictions.json) nor a compare folder (comparison.json, runs/)")


def read_run(path: Path, output: str = "prediction") -> Run:
    """Read one eval run folder.

    Raises:
        DataError: a missing or malformed file, or (``output="raw"``) no ``details.jsonl``.
    """
    if not (path / "results.json").is_file():
        raise DataError(f"{path}: no results.json (was it written by `personalize eval` or `compare`?)")
    results = _read_json(path / "results.json")
    predictions = _read_json(path / "predictions.json")
    try:
        outputs = {str(g["id"]): str(g["output"]) for g in predictions["golds"]}
    except (KeyError, TypeError):
        raise DataError(f"{path / 'predictions.json'}: expected {{'task', 'golds': [{{'id', 'output'}}]}}") from None
    if output == "raw":
        details = path / "details.jsonl"
        if not details.is_file():
            raise DataError(f"{path}: no details.jsonl, so no raw outputs")
        raw = {}
        for number, line in enumerate(details.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    record = json.loads(line)
                    raw[str(record["id"])] = str(record["raw"])
                except (json.JSONDecodeError, KeyError) as exc:
                    raise DataError(f"{details}:{number}: not a details record ({exc})") from None
        outputs = raw
    # Within a compare folder the row name is the method's name; an eval folder's name says
    # more than its method ("text-k4-bm25" rather than "text").
    name = str(results.get("row") or path.name)
    return Run(name=name, path=path, results=results, outputs=outputs)


def read_runs(paths: list[str | Path], output: str = "prediction") -> list[Run]:
    """Every run in ``paths`` (eval or compare folders), with unique names.

    Raises:
        DataError: a folder without runs; ConfigError: fewer than two methods.
    """
    runs: list[Run] = []
    for given in paths:
        for folder in _run_folders(Path(given)):
            runs.append(read_run(folder, output))
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:  # two eval folders "a/copy" and "b/copy"
            run.name = f"{run.path.parent.name}/{run.path.name}"
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"two runs have the same name: {sorted(n for n in names if names.count(n) > 1)}")
    if len(runs) < 2:
        raise ConfigError(f"a study compares at least two methods; {', '.join(map(str, paths))} holds {len(runs)}")
    return runs


def _same_data(runs: list[Run]) -> tuple[str, str, str]:
    """``(data, split, task)`` that every run answered."""
    seen = {(str(r.results.get("data")), str(r.results.get("split")), str(r.results.get("task"))) for r in runs}
    if len(seen) != 1:
        listing = "; ".join(f"{r.name}: {r.results.get('data')} {r.results.get('split')} {r.results.get('task')}"
                            for r in runs)
        raise ConfigError(f"the runs did not answer the same data: {listing}")
    return next(iter(seen))


def item_text(item: dict[str, Any], text_fields: tuple[str, ...], label_field: str | None) -> str:
    """A history item as raters read it: its text fields, then its label in brackets."""
    parts = [str(item[f]) for f in text_fields if f in item and str(item[f]).strip()]
    text = " · ".join(parts) if parts else json.dumps({k: v for k, v in item.items() if k != "id"}, ensure_ascii=False)
    if label_field and label_field in item and label_field not in text_fields:
        text += f" [{item[label_field]}]"
    return text


def draw_pairs(methods: list[str], example_ids: list[str], config: StudyConfig) -> list[tuple[str, str, str]]:
    """``(example_id, left_method, right_method)`` for every pair, in presentation order.

    Every method pair gets ``min(per_pair, len(example_ids))`` pairs on distinct examples, and
    each of its two methods is on the left in half of them (one more for one of them when the
    count is odd).
    """
    rng = random.Random(config.seed)
    per_pair = min(config.per_pair, len(example_ids))
    cycle = list(example_ids)
    rng.shuffle(cycle)
    method_pairs = list(itertools.combinations(methods, 2))
    drawn: list[tuple[str, str, str]] = []
    for index, (a, b) in enumerate(method_pairs):
        # a different starting point for each method pair spreads the examples evenly
        start = (index * per_pair) % len(cycle)
        chosen = [cycle[(start + i) % len(cycle)] for i in range(per_pair)]
        a_left = [True] * (per_pair // 2) + [False] * (per_pair // 2)
        if per_pair % 2:
            a_left.append(rng.random() < 0.5)
        rng.shuffle(a_left)
        drawn += [(ex, a, b) if left else (ex, b, a) for ex, left in zip(chosen, a_left)]
    rng.shuffle(drawn)
    return drawn


def create_study(runs_paths: list[str | Path], out: str | Path, config: StudyConfig | None = None, *,
                 data: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write a new study file ``out`` from run folders; returns a summary.

    Args:
        data: the data source to read inputs, golds and histories from (default: the ``data``
            recorded in the runs' ``results.json``; give it when that path was relative to
            another working directory).
        force: replace an existing study file (and every judgment in it).

    Returns:
        ``{"study", "methods", "method_pairs", "examples", "pairs", "shown", "identical", "per_pair"}``.

    Raises:
        ConfigError: ``out`` exists (without ``force``), fewer than two methods, runs on different data.
        DataError: unreadable runs or data, no example that every run answered.
    """
    from personalize.data.loading import load_dataset

    config = config or StudyConfig()
    out = Path(out)
    if out.exists() and not force:
        raise ConfigError(f"{out} exists and may hold judgments; give --force to replace it")
    runs = read_runs(runs_paths, config.output)
    source, split, task = _same_data(runs)
    try:
        dataset = load_dataset(data or source, split, task)
    except DataError as exc:
        if data:
            raise
        # results.json records the source as it was given, perhaps relative to another directory
        raise DataError(f"{exc} (the runs' data source; give --data to read it from elsewhere)") from None
    answered = set.intersection(*(set(r.outputs) for r in runs))
    examples = [e for e in dataset.examples if e.id in answered]
    if not examples:
        raise DataError(f"no example of {dataset.source} ({split}) was answered by every run")
    by_name = {r.name: r for r in runs}
    methods = [r.name for r in runs]
    drawn = draw_pairs(methods, [e.id for e in examples], config)
    used = {ex for ex, _, _ in drawn}
    spec = dataset.task

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    conn = store.connect(partial, create=True)
    try:
        store.initialise(conn)
        with store.transaction(conn):
            meta = {"config": config.to_dict(), "task": spec.name, "task_kind": spec.kind, "data": dataset.source,
                    "split": split, "synthetic": dataset.synthetic, "created": store.now(),
                    "runs": {r.name: str(r.path) for r in runs}, "n_common_examples": len(examples)}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v, ensure_ascii=False)) for k, v in meta.items()])
            conn.executemany("INSERT INTO methods VALUES (?, ?)", [(r.name, os.path.abspath(r.path)) for r in runs])
            # every user's history (the user-likeness rater compares each user with all others)
            for user_id, profile in dataset.profiles.items():
                texts = [item_text(dict(item), spec.text_fields, spec.label_field) for item in profile.items]
                conn.execute("INSERT INTO users VALUES (?, ?)", (user_id, json.dumps(texts, ensure_ascii=False)))
            conn.executemany("INSERT INTO examples VALUES (?, ?, ?, ?)",
                             [(e.id, e.user_id, e.input, e.output) for e in examples if e.id in used])
            identical_pairs = []
            for pair_id, (ex, left, right) in enumerate(drawn, 1):
                lo, ro = by_name[left].outputs[ex], by_name[right].outputs[ex]
                same = lo.strip() == ro.strip()
                conn.execute("INSERT INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?)", (pair_id, ex, left, right, lo, ro, int(same)))
                if same:
                    identical_pairs.append(pair_id)
            if identical_pairs:
                store.ensure_rater(conn, store.IDENTICAL_RATER, "identical", {"rule": "outputs equal after strip()"})
                conn.executemany("INSERT INTO judgments (pair_id, rater, choice, seconds, created) VALUES (?, ?, 'tie', NULL, ?)",
                                 [(p, store.IDENTICAL_RATER, store.now()) for p in identical_pairs])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for old in (out, Path(f"{out}-wal"), Path(f"{out}-shm")):
        old.unlink(missing_ok=True)
    os.replace(partial, out)  # a half-written study never takes the name
    for leftover in (Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    return {"study": str(out), "methods": methods, "method_pairs": len(methods) * (len(methods) - 1) // 2,
            "examples": len(examples), "pairs": len(drawn), "shown": len(drawn) - len(identical_pairs),
            "identical": len(identical_pairs), "per_pair": min(config.per_pair, len(examples))}
