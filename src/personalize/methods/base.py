"""The method interface shared by every way of injecting user context.

A method turns a batch of examples (and their users' profiles) into model inputs: token ids
for text methods, ``inputs_embeds`` for soft-token methods. Reference baselines (``copy``,
``user-majority``) answer directly without the model. The evaluation harness drives them all
the same way, so their numbers are comparable.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from personalize.config import JsonConfig
from personalize.data.schema import Example, UserProfile
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError
from personalize.methods.registry import METHODS


@dataclass
class MethodContext:
    """What a method may use: the task, and (for model-based methods) the frozen base model.

    ``encoder_factory`` loads the sentence encoder lazily, so methods that never need one don't
    pay for it.
    """

    task: TaskSpec
    model: torch.nn.Module | None = None
    tokenizer: Any = None
    model_name: str | None = None
    encoder_factory: Callable[[], Any] | None = None
    seed: int = 0
    train_source: str | None = None  # the evaluated dataset's `train_source` (recommender baselines fit there)


@dataclass
class PreparedBatch:
    """Model inputs for a batch, left-padded.

    Attributes:
        attention_mask: ``[batch, prompt_len]``.
        input_ids: ``[batch, prompt_len]`` or ``None`` when ``inputs_embeds`` is used.
        inputs_embeds: ``[batch, prompt_len, hidden]`` or ``None``.
        prompt_tokens: real (non-padding) prompt positions per example, soft tokens included.
        context_tokens: positions per example that carry user context (history text or soft tokens).
        details: per-example extra records (e.g. which history items were used).
    """

    attention_mask: torch.LongTensor
    prompt_tokens: list[int]
    context_tokens: list[int]
    input_ids: torch.LongTensor | None = None
    inputs_embeds: torch.Tensor | None = None
    details: list[dict[str, Any]] = field(default_factory=list)
    state: Any = None  # per-batch state the method's session needs (e.g. a cross-attention memory)


class Method(ABC):
    """Base class; subclasses set ``config_class``; a method folder registers them by name
    (:func:`personalize.methods.registry.register_method`), and :func:`make_method` sets ``name``."""

    name: str = ""
    config_class: type[JsonConfig]
    needs_model: bool = True

    def __init__(self, config: JsonConfig) -> None:
        self.config = config
        self.ctx: MethodContext | None = None

    def setup(self, ctx: MethodContext) -> None:
        """Bind the method to a task and model; raise ConfigError if it cannot serve the task."""
        self.ctx = ctx

    @property
    def trainable_parameters(self) -> int:
        return 0

    @property
    def reads_profile(self) -> bool:
        """Whether the answer depends on the user's history (what the shuffled-history ablation tests)."""
        return True

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "config": self.config.to_dict()}

    # Model-free methods override this; model-based methods override `prepare`.
    def predict_direct(self, example: Example, profile: UserProfile) -> str:
        raise NotImplementedError

    def predict_probability(self, example: Example, profile: UserProfile) -> float | None:
        """Model-free methods that rank (the recommender baselines): their probability of the
        task's ``positive_label``, for AUC; ``None`` (the default): the answer is the only score."""
        return None

    def session(self, prepared: PreparedBatch | None = None) -> contextlib.AbstractContextManager:
        """Context in which the base model runs for this method's batches (generation and label
        scoring included): methods that hook into the model (a LoRA, a cross-attention memory)
        switch their hooks on here, and off again on leaving, so nothing leaks to other methods."""
        return contextlib.nullcontext()

    @abstractmethod
    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> PreparedBatch | None:
        """Model inputs for the batch, or ``None`` for model-free methods."""


def make_method(name: str, settings: dict[str, Any] | None = None) -> Method:
    """Build a registered method from its settings (unknown settings are errors).

    The registry entry's ``fixed`` fields pin config values (e.g. ``none`` is ``text`` with
    k=0); soft-token methods are all served by
    :class:`~personalize.evaluation.soft_method.SoftPrefixMethod` (their kind is loaded when set up).
    """
    info = METHODS.get(name)
    overrides = dict(settings or {})
    fixed = dict(info.fixed)
    clash = {k: v for k, v in overrides.items() if k in fixed and v != fixed[k]}
    if clash:
        raise ConfigError(f"method {name!r} fixes {fixed}; it cannot take {clash}")
    cls: type[Method] = info.method_class()
    method = cls(cls.config_class.from_dict({**overrides, **fixed}, source=f"method {name!r} settings"))
    method.name = name
    return method


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.LongTensor, torch.LongTensor]:
    """Left-pad token-id lists: returns ``(input_ids, attention_mask)``, both ``[batch, max_len]``."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids, mask
