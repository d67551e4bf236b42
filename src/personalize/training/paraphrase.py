"""The frozen base model as a paraphraser, for back-translated training pairs (``--augment profile-paraphrase``).

A user's profile tweets have no paraphrase beside them. Following STRAP (Krishna et al., 2020,
"Reformulating Unsupervised Style Transfer as Paraphrase Generation"), a paraphraser strips the
style from the user's own text, and the adapter learns the inverse: paraphrase -> the user's
words. Here the paraphraser is the frozen base model itself, prompted zero-shot with the task's
own instruction, through the same harness and decoding as the ``none`` method.

Paraphrases are cached on disk (one JSONL file per model, dtype and decoding; one line per prompt,
keyed by the prompt's SHA-256), written after every chunk, so that the E2P run and its control
share them and a killed run loses at most one chunk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from personalize.data.schema import Example, PersonalizationDataset, UserProfile
from personalize.generation import DecodingConfig
from personalize.paths import cache_dir


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ModelParaphraser:
    """``paraphraser(prompts) -> answers``: zero-shot greedy answers of a base model, cached.

    Args:
        loaded: a :class:`personalize.models.LoadedModel`.
        task: the task whose chat formatting and answer cleaning the prompts get.
        decoding: the decoding settings (part of the cache key).
        chunk: prompts generated between two cache writes.
    """

    def __init__(self, loaded: Any, task: Any, decoding: DecodingConfig, *, batch_size: int = 16,
                 chunk: int = 256, show_progress: bool = True, cache_root: str | Path | None = None) -> None:
        self.loaded, self.task, self.decoding = loaded, task, decoding
        self.batch_size, self.chunk, self.show_progress = batch_size, chunk, show_progress
        settings = {"model": loaded.name, "dtype": str(loaded.dtype), "task": task.name, "decoding": decoding.to_dict()}
        tag = _key(json.dumps(settings, sort_keys=True))[:16]
        root = Path(cache_root) if cache_root is not None else cache_dir("paraphrases")
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{loaded.name.replace('/', '_')}-{tag}.jsonl"
        self.cache: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill: that prompt is generated again
                self.cache[record["key"]] = record["answer"]
        self.generated = 0

    def __call__(self, prompts: list[str]) -> list[str]:
        from personalize.evaluation.harness import EvalOptions, evaluate
        from personalize.methods.base import make_method

        keys = [_key(p) for p in prompts]
        pending = sorted({key: p for key, p in zip(keys, prompts) if key not in self.cache}.items())
        options = EvalOptions(batch_size=self.batch_size, decoding=self.decoding, mode="generate")
        for first in range(0, len(pending), self.chunk):
            part = pending[first : first + self.chunk]
            examples = [Example(id=key, user_id="_", input=prompt, output=None) for key, prompt in part]
            dataset = PersonalizationDataset(self.task, "paraphrase", examples, {"_": UserProfile("_", ())},
                                             source="profile paraphrases")
            answers = evaluate(make_method("none"), dataset, model=self.loaded, options=options,
                               show_progress=self.show_progress).predictions
            with self.path.open("a", encoding="utf-8") as fh:
                for key, _ in part:
                    self.cache[key] = answers[key]
                    fh.write(json.dumps({"key": key, "answer": answers[key]}, ensure_ascii=False) + "\n")
            self.generated += len(part)
        return [self.cache[key] for key in keys]
