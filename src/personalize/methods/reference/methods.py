"""Model-free reference baselines.

- ``copy`` (rewriting tasks): answer with the input text unchanged; the floor a paraphraser
  must beat (LaMP-7 dev: ROUGE-1 about 0.46).
- ``user-majority`` (classification/rating): the user's most frequent label in their history;
  ties go to the label used most recently.
- ``constant`` (classification/rating): the same ``answer`` for everyone, e.g. the training
  set's most frequent rating: what a method that ignores the user and the input can reach.
  A trained method that beats ``none`` but not ``constant`` has learned the label prior only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from personalize.config import JsonConfig
from personalize.data.schema import Example, UserProfile
from personalize.errors import ConfigError
from personalize.methods.base import Method, MethodContext


@dataclass(frozen=True)
class NoSettings(JsonConfig):
    pass


class CopyMethod(Method):
    config_class = NoSettings
    needs_model = False
    reads_profile = False

    def setup(self, ctx: MethodContext) -> None:
        if ctx.task.kind != "generation":
            raise ConfigError(f"'copy' answers with the input text; task {ctx.task.name} is {ctx.task.kind}")
        super().setup(ctx)

    def predict_direct(self, example: Example, profile: UserProfile) -> str:
        assert self.ctx is not None
        return self.ctx.task.query_text(example.input)

    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> None:
        return None


@dataclass(frozen=True)
class ConstantSettings(JsonConfig):
    answer: str = ""


class ConstantMethod(Method):
    config_class = ConstantSettings
    config: ConstantSettings
    needs_model = False
    reads_profile = False

    def setup(self, ctx: MethodContext) -> None:
        if ctx.task.kind == "generation":
            raise ConfigError(f"'constant' is a reference for label tasks; {ctx.task.name} is a generation task")
        answer = self.config.answer.strip()
        if not answer:
            raise ConfigError("'constant' needs settings {\"answer\": LABEL}, e.g. the training set's most frequent label")
        labels = ctx.task.labels
        if labels and answer not in labels:
            raise ConfigError(f"'constant' answer {answer!r} is not a label of {ctx.task.name}: {', '.join(labels)}")
        super().setup(ctx)

    def predict_direct(self, example: Example, profile: UserProfile) -> str:
        return self.config.answer.strip()

    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> None:
        return None


class UserMajorityMethod(Method):
    config_class = NoSettings
    needs_model = False

    def setup(self, ctx: MethodContext) -> None:
        if ctx.task.kind == "generation" or ctx.task.label_field is None:
            raise ConfigError(f"'user-majority' needs a task with labels in the history; {ctx.task.name} has none")
        super().setup(ctx)

    def predict_direct(self, example: Example, profile: UserProfile) -> str:
        assert self.ctx is not None
        field_name = self.ctx.task.label_field
        labels = [str(item[field_name]).strip() for item in profile.items if field_name in item]
        if not labels:
            return ""  # scored as invalid, like any unusable answer
        counts = Counter(labels)
        best = max(counts.values())
        for label in reversed(labels):  # most recent among the tied
            if counts[label] == best:
                return label
        raise AssertionError("unreachable")

    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> None:
        return None
