"""Settings shared by every soft-token method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from personalize.config import JsonConfig

Placement = Literal["user_start", "before_input", "after_input", "answer_start", "system"]


@dataclass(frozen=True)
class SoftPrefixConfig(JsonConfig):
    """Common settings; each method's config extends this.

    Attributes:
        num_tokens: soft tokens N the adapter produces.
        placement: where they sit in the chat-formatted prompt: ``user_start`` (first thing in
            the user turn), ``before_input`` (between the task instruction and the input text,
            e.g. right before the tweet), ``after_input`` (last thing in the user turn),
            ``answer_start`` (after the generation prompt, where the answer begins: nearest to
            every answer token) or ``system`` (as the system message).
        encoder: sentence encoder of the history items (frozen, embeddings cached on disk).
        max_items: at most this many history items per user, the most recent ones (``None``: all).
        template: prompt template style of the request (the user turn of ``none``).
        norm_match: scale soft tokens to the typical norm of the model's own token embeddings.
        lora_rank: > 0 also trains one LoRA of this rank on the base model, shared by all users
            (task adaptation); its control is the ``prompt`` method with the same LoRA.
        lora_alpha: LoRA scaling numerator (update scaled by ``lora_alpha / lora_rank``).
        lora_targets: names of the base model's linear layers that get a LoRA (``None``: the
            model family's default in :mod:`personalize.models.families`, ``q_proj`` and
            ``v_proj`` for Llama-like models).
        user_init: ``random`` (the usual initialisation of the adapter's last layer) or ``zero``:
            the weights of the layer that maps the user representation to the soft tokens start at
            zero, so the adapter starts as a shared soft prompt (the control) and the user's part
            grows from nothing during training instead of starting as per-user noise.
    """

    num_tokens: int = 1
    placement: Placement = "user_start"
    encoder: str = "minilm-l6"
    max_items: int | None = 64
    template: str = "lamp"
    norm_match: bool = True
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] | list[str] | None = None
    user_init: Literal["random", "zero"] = "random"
    min_tokens: ClassVar[int] = 1  # fewest soft tokens that still carry the user
    has_user_projection: ClassVar[bool] = False  # a last layer from the user to the tokens (user_init applies)

    def __post_init__(self) -> None:
        from personalize.validation import check_soft_config

        check_soft_config(self)


WHITEN_COMPONENTS = 128  # the default size of a whitened input (``input_norm: whiten``)


def check_whitening(input_norm: str, whiten_components: int | None) -> int:
    """``whiten_components`` is set only with ``input_norm: whiten``; returns the components to use."""
    from personalize.errors import ConfigError
    from personalize.validation import check_int

    if whiten_components is not None:
        check_int("adapter setting whiten_components", whiten_components, minimum=1)
        if input_norm != "whiten":
            raise ConfigError(f"adapter setting whiten_components applies only with input_norm 'whiten', not {input_norm!r}")
    return whiten_components or WHITEN_COMPONENTS
