"""Where a soft-token method's tokens go in the chat-formatted prompt.

The prompt is rendered with a marker (``SOFT_SLOT``) where the soft tokens belong, split there,
and the two halves are tokenized separately; the model then sees
``[prefix tokens] [N soft tokens] [suffix tokens]``. Each ``placement`` is one entry of
:data:`PLACEMENTS`; a method that puts its tokens somewhere else gives its kind another
``layout`` (:class:`~personalize.methods.soft.adapter.SoftMethodKind`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.prompts import SOFT_SLOT, PromptBuilder, get_template

# (prompt builder, task, input text) -> the whole chat-formatted prompt, SOFT_SLOT marking the spot
Render = Callable[[PromptBuilder, TaskSpec, str], str]


def _system(builder: PromptBuilder, task: TaskSpec, input_text: str) -> str:
    return builder.wrap((SOFT_SLOT, builder.template.no_context.format(input=input_text)))


def _user_start(builder: PromptBuilder, task: TaskSpec, input_text: str) -> str:
    return builder.wrap((None, SOFT_SLOT + builder.template.no_context.format(input=input_text)))


def _before_input(builder: PromptBuilder, task: TaskSpec, input_text: str) -> str:
    # right before the input text (e.g. the tweet), after the task instruction; an input without
    # the task's marker has no such spot and gets the tokens first in the user turn
    if task.query_marker and task.query_marker in input_text:
        marked = input_text.replace(task.query_marker, task.query_marker + SOFT_SLOT, 1)
        return builder.wrap((None, builder.template.no_context.format(input=marked)))
    return _user_start(builder, task, input_text)


def _after_input(builder: PromptBuilder, task: TaskSpec, input_text: str) -> str:
    return builder.wrap((None, builder.template.no_context.format(input=input_text) + SOFT_SLOT))


def _answer_start(builder: PromptBuilder, task: TaskSpec, input_text: str) -> str:
    # the nearest spot to every answer token: after the generation prompt, where the answer begins
    return builder.wrap((None, builder.template.no_context.format(input=input_text))) + SOFT_SLOT


PLACEMENTS: dict[str, Render] = {
    "user_start": _user_start,
    "before_input": _before_input,
    "after_input": _after_input,
    "answer_start": _answer_start,
    "system": _system,
}


class SoftPromptLayout:
    """Token ids before and after the soft tokens for each input, per ``placement``."""

    def __init__(self, tokenizer: Any, task: TaskSpec, config: SoftPrefixConfig) -> None:
        self.tokenizer, self.task, self.config = tokenizer, task, config
        self.builder = PromptBuilder(tokenizer, get_template(task, config.template))
        if config.placement not in PLACEMENTS:
            raise ConfigError(f"unknown placement {config.placement!r}; known: {', '.join(PLACEMENTS)}")
        self.render = PLACEMENTS[config.placement]

    def split(self, input_text: str) -> tuple[list[int], list[int]]:
        """``(prefix ids, suffix ids)``: the chat-formatted prompt before and after the soft tokens."""
        text = self.render(self.builder, self.task, input_text)
        left, right = text.split(SOFT_SLOT, 1)
        # BPE tokenizers attach a space to the word after it ("it: hello" -> "it", ":", " hello"):
        # split after "it: " the space would become a token of its own and "hello" lose its
        # space, so the prompt would differ from `none`'s by more than the soft tokens.
        stripped = left.rstrip(" ")
        left, right = stripped, left[len(stripped):] + right
        encode = lambda s: self.tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        return encode(left), encode(right)
