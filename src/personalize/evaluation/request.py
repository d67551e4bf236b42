"""The one request path: a set-up method prepares a batch, and the base model runs inside the
method's session.

Evaluation (:func:`personalize.evaluation.evaluate`), one-off generation
(:mod:`personalize.generate_one`), the comparison's latency measurement and ``personalize bench``
all go through :func:`prepare_request` and :meth:`Request.session`; evaluation and generation
also share the model call (:func:`answer_request`), while the timing code runs its own clocked model
calls inside the same session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from personalize.data.schema import Example, UserProfile
from personalize.generation import DecodingConfig, generate, score_labels
from personalize.methods.base import Method, PreparedBatch
from personalize.validation import check_prompt_lengths


def model_inputs(prepared: PreparedBatch, device: torch.device | str) -> dict[str, torch.Tensor]:
    """The base model's keyword inputs on ``device``: ``attention_mask [B, T]`` and either
    ``input_ids [B, T]`` or ``inputs_embeds [B, T, hidden]`` (whichever the method prepared)."""
    inputs = {"attention_mask": prepared.attention_mask.to(device)}
    if prepared.input_ids is not None:
        inputs["input_ids"] = prepared.input_ids.to(device)
    if prepared.inputs_embeds is not None:
        inputs["inputs_embeds"] = prepared.inputs_embeds.to(device)
    return inputs


@dataclass
class Request:
    """A prepared batch of requests: what the method built and the model inputs it becomes.

    Attributes:
        method: the set-up method that prepared it (its session wraps every model call).
        examples: the batch, B examples.
        prepared: the method's :class:`PreparedBatch` (token accounting, details, state).
        inputs: :func:`model_inputs` of ``prepared``, on the model's device.
    """

    method: Method
    examples: Sequence[Example]
    prepared: PreparedBatch
    inputs: dict[str, torch.Tensor]

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """The method's hooks (a LoRA, a cross-attention memory) for this batch, and only for it."""
        with self.method.session(self.prepared):
            yield


def prepare_request(method: Method, examples: Sequence[Example], profiles: Sequence[UserProfile],
                    device: torch.device | str, *, context: int | None = None, answer_room: int = 0) -> Request:
    """``method.prepare`` the batch and move its inputs to ``device``; with ``context`` (the model's
    context length), refuse a prompt that leaves no room for ``answer_room`` answer tokens."""
    prepared = method.prepare(examples, profiles)
    if context is not None:
        check_prompt_lengths([e.id for e in examples], list(prepared.prompt_tokens), context, answer_room)
    return Request(method, examples, prepared, model_inputs(prepared, device))


@dataclass
class Answers:
    """What the model answered for a request: ``raws`` (as generated, or the top label) and, when
    scoring labels, ``scores [B, labels]`` (log-likelihood of each label)."""

    raws: list[str]
    scores: torch.Tensor | None = None


def answer_request(request: Request, loaded: Any, *, mode: Literal["generate", "score"], decoding: DecodingConfig,
           max_new_tokens: int, labels: Sequence[str] = (), label_ids: list[list[int]] | None = None) -> Answers:
    """Run the base model of ``loaded`` (a :class:`~personalize.models.LoadedModel`) on the
    request inside the method's session: greedy generation, or label scoring over ``labels``
    (token ids ``label_ids``)."""
    with request.session():
        if mode == "score":
            scores = score_labels(loaded.model, label_ids=label_ids, pad_token_id=loaded.tokenizer.pad_token_id,
                                  **request.inputs)
            return Answers([labels[i] for i in scores.argmax(-1).tolist()], scores)
        return Answers(generate(loaded.model, loaded.tokenizer, decoding=decoding, max_new_tokens=max_new_tokens,
                                **request.inputs))
