"""Batched greedy generation and label scoring on a (possibly soft-prompted) causal LM.

Both take either token ids or ``inputs_embeds`` (soft-token methods), always left-padded, so the
same code serves every method in a comparison.

Loop control looks at the generated tokens only. transformers' ``repetition_penalty`` and
``no_repeat_ngram_size`` also count the prompt, so they forbid copying words of the input,
which ruins paraphrasing tasks.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch

from personalize.config import JsonConfig


@dataclass(frozen=True)
class DecodingConfig(JsonConfig):
    """Decoding settings, the same for every method in a comparison and recorded in results.

    Attributes:
        max_new_tokens: generation budget; ``None`` uses the task's default.
        no_repeat_ngram_size: forbid repeating an n-gram of the *generated* tokens (0: off).
        repetition_penalty: CTRL-style penalty on tokens already *generated* (1.0: off).
        postprocess: ``strip`` (whitespace only) or ``clean`` (the first non-empty line after any
            preamble lines ending in ":", without surrounding quotes or a leading
            "Paraphrase:"-style label).
    """

    max_new_tokens: int | None = None
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    postprocess: Literal["strip", "clean"] = "strip"

    def __post_init__(self) -> None:
        from personalize.validation import check_decoding

        check_decoding(self)


class GeneratedNoRepeatNGram:
    """``no_repeat_ngram_size`` restricted to tokens generated after position ``start``."""

    def __init__(self, n: int, start: int) -> None:
        self.n, self.start = n, start

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.start :]
        if generated.shape[1] < self.n:
            return scores
        rows = generated.tolist()
        for b, seq in enumerate(rows):
            prefix = tuple(seq[len(seq) - self.n + 1 :])
            banned = [seq[i + self.n - 1] for i in range(len(seq) - self.n + 1) if tuple(seq[i : i + self.n - 1]) == prefix]
            if banned:
                scores[b, banned] = -float("inf")
        return scores


class GeneratedRepetitionPenalty:
    """CTRL repetition penalty over tokens generated after position ``start`` only."""

    def __init__(self, penalty: float, start: int) -> None:
        self.penalty, self.start = penalty, start

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.start :]
        if generated.shape[1] == 0:
            return scores
        picked = torch.gather(scores, 1, generated)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, generated, picked)


_LABEL_PREFIX = re.compile(r"^(paraphrase(d)?( tweet)?|rewritten( tweet)?|answer|output|tweet)\s*:\s*", re.I)


def postprocess(text: str, mode: str) -> str:
    text = text.strip()
    if mode == "strip":
        return text
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # A preamble line ("Sure, here is the paraphrase:") announces the answer on the next line.
    while len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = lines[0] if lines else ""
    text = _LABEL_PREFIX.sub("", text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def eos_token_ids(model: torch.nn.Module, tokenizer: object) -> list[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def loop_control(decoding: DecodingConfig, start: int) -> Any:
    """The logits processors of ``decoding``'s loop control, looking only at tokens after ``start``.

    ``start`` is the prompt's length in ``input_ids`` (0 when generating from ``inputs_embeds``,
    whose output holds only the new tokens).
    """
    from transformers import LogitsProcessorList

    processors = LogitsProcessorList()
    if decoding.no_repeat_ngram_size > 0:
        processors.append(GeneratedNoRepeatNGram(decoding.no_repeat_ngram_size, start))
    if decoding.repetition_penalty != 1.0:
        processors.append(GeneratedRepetitionPenalty(decoding.repetition_penalty, start))
    return processors


@torch.inference_mode()
def generate(
    model: torch.nn.Module,
    tokenizer: object,
    *,
    input_ids: torch.LongTensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    attention_mask: torch.LongTensor,
    decoding: DecodingConfig,
    max_new_tokens: int,
    min_new_tokens: int = 0,
) -> list[str]:
    """Greedy generation with a KV cache for a left-padded batch.

    Args:
        input_ids: ``[batch, prompt_len]`` left-padded, or ``None`` when ``inputs_embeds`` is given.
        inputs_embeds: ``[batch, prompt_len, hidden]`` left-padded.
        attention_mask: ``[batch, prompt_len]``, 0 on padding.
        min_new_tokens: suppress EOS until this many tokens (benchmarks: a fixed decode length).

    Returns:
        The decoded, post-processed continuation of each row.
    """
    start = 0 if input_ids is None else input_ids.shape[1]
    out = model.generate(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens or None,
        do_sample=False,
        temperature=None,
        top_p=None,
        top_k=None,
        num_beams=1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos_token_ids(model, tokenizer),
        logits_processor=loop_control(decoding, start),
        use_cache=True,
    )
    new_tokens = out[:, start:]
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [postprocess(t, decoding.postprocess) for t in texts]


def cache_argument(model: torch.nn.Module) -> str:
    """The forward() keyword for a KV cache: ``cache`` in recent transformers, else ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(output: object) -> object:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.LongTensor:
    """Positions that skip left padding: ``[batch, len]``, 0 at each row's first real token."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def label_token_ids(tokenizer: object, labels: list[str], *, append_eos: bool = True) -> list[list[int]]:
    """Token ids of each label as the start of the answer, optionally followed by EOS.

    Appending EOS scores "the answer is exactly this label", so that a label that is a prefix of
    a longer answer is not favoured.
    """
    eos = tokenizer.eos_token_id
    result = []
    for label in labels:
        ids = tokenizer(label, add_special_tokens=False)["input_ids"]
        result.append(ids + ([eos] if append_eos and eos is not None else []))
    return result


# Rows of the output layer converted to float32 at a time: bounds the transient copy (a 262k-token
# vocabulary, Gemma-3's, would otherwise add 670 MB at once).
_HEAD_ROWS = 16384


@contextlib.contextmanager
def float32_logits(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, ``model``'s output layer returns float32 logits, computed from the hidden
    states it is given with float32 weights (a no-op for a float32 model).

    Why: a bf16 output layer rounds each logit to bf16, whose step is 0.125 for logits in
    [16, 32) and 0.25 in [32, 64), where a 135M model's logits lie. Label scores, the difference of
    two such logits, then take a few dozen values, and records tie: ranking metrics (AUC, per-user
    AUC) lose what the model could tell apart. Only the rounding of the output is removed; the
    hidden states stay as the model computed them.
    """
    head = model.get_output_embeddings()
    if head is None or head.weight.dtype == torch.float32:
        yield
        return

    def exact(module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        hidden = args[0].float()  # [..., hidden]
        parts = [torch.nn.functional.linear(hidden, rows.float()) for rows in module.weight.split(_HEAD_ROWS)]
        logits = torch.cat(parts, dim=-1)  # [..., vocab]
        return logits if module.bias is None else logits + module.bias.float()

    handle = head.register_forward_hook(exact)
    try:
        yield
    finally:
        handle.remove()


@torch.inference_mode()
def score_labels(
    model: torch.nn.Module,
    *,
    label_ids: list[list[int]],
    attention_mask: torch.LongTensor,
    input_ids: torch.LongTensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    pad_token_id: int = 0,
) -> torch.Tensor:
    """Log-likelihood of every label as the continuation of every prompt.

    The prompt runs once (one forward over the left-padded batch, KV cache kept). All labels are
    then scored in one more forward over that cache: each row continues with the tokens of
    every label side by side, under a block attention mask in which a label's tokens see the
    prompt and their own earlier tokens only, with positions restarting after the prompt for
    each label. That costs only the label tokens, and never copies the prompt's cache per label.
    Single-token labels need no second forward at all.

    Args:
        label_ids: ``L`` token-id lists (e.g. from :func:`label_token_ids`).
        attention_mask: ``[batch, prompt_len]``.
        input_ids / inputs_embeds: the prompts, ``[batch, prompt_len]`` / ``[batch, prompt_len, hidden]``.

    Returns:
        ``[batch, L]`` float32 summed log-probabilities, from float32 logits (:func:`float32_logits`).
    """
    with float32_logits(model):
        return _score_labels(model, label_ids, attention_mask, input_ids, inputs_embeds)


def _score_labels(model: torch.nn.Module, label_ids: list[list[int]], attention_mask: torch.LongTensor,
                  input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
    device = attention_mask.device
    batch, prompt_len = attention_mask.shape
    positions = position_ids_from_mask(attention_mask)
    out = model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
    )
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # [batch, vocab]
    first_tokens = torch.tensor([ids[0] for ids in label_ids], device=device)
    scores = first[:, first_tokens]  # [batch, L]
    if max(len(ids) for ids in label_ids) == 1:
        return scores

    # The continuation: tokens 0..T-2 of every label, side by side; their logits predict 1..T-1.
    feed, owner, offset, targets = [], [], [], []
    for label, ids in enumerate(label_ids):
        for j in range(len(ids) - 1):
            feed.append(ids[j])
            owner.append(label)
            offset.append(j)
            targets.append(ids[j + 1])
    width = len(feed)
    feed_ids = torch.tensor(feed, device=device).expand(batch, width)
    owner_t = torch.tensor(owner, device=device)
    offset_t = torch.tensor(offset, device=device)
    # [width, width]: a token sees the earlier tokens of its own label (and itself).
    own = (owner_t[:, None] == owner_t[None, :]) & (offset_t[None, :] <= offset_t[:, None])
    # [batch, width, prompt_len + width]: the prompt's real tokens, then its own label's.
    allowed = torch.cat([attention_mask.bool()[:, None, :].expand(batch, width, prompt_len),
                         own[None].expand(batch, width, width)], dim=-1)
    dtype = next(model.parameters()).dtype
    mask4d = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    cont = model(
        input_ids=feed_ids,
        attention_mask=mask4d[:, None],
        position_ids=attention_mask.sum(-1, keepdim=True) + offset_t[None, :],
        use_cache=True,
        **{cache_argument(model): output_cache(out)},
    )
    logprobs = torch.log_softmax(cont.logits.float(), dim=-1)  # [batch, width, vocab]
    picked = torch.gather(logprobs, 2, torch.tensor(targets, device=device).expand(batch, width)[:, :, None]).squeeze(-1)
    per_label = torch.zeros(batch, len(label_ids), device=device, dtype=picked.dtype)
    per_label.index_add_(1, owner_t, picked)
    return scores + per_label


class SharedPrefixCache:
    """The KV cache of the prompt prefix that every request of a method shares (chat template,
    system prompt, instruction up to the first user-specific token), computed once and reused
    by each request's prefill, as a server with prefix caching (e.g. vLLM's automatic prefix
    caching) does. A request then prefills only its own part.

    Valid only when the prefix's keys and values cannot depend on the user: the base model
    alone, with no adapter hooks inside it (cross-attention memory, LoRA). ``build`` is given the
    prepared inputs of sample requests and finds their longest common prefix of real tokens (token
    ids, or identical embedding rows); ``prefill`` checks every row of a request against it and
    returns ``None`` (prefill everything) when one does not start with it.
    """

    def __init__(self, model: torch.nn.Module, prefix: torch.Tensor, is_ids: bool) -> None:
        self.model = model
        self.prefix = prefix  # [P] ids or [P, hidden] embeddings
        self.is_ids = is_ids
        with torch.inference_mode():
            key = "input_ids" if is_ids else "inputs_embeds"
            out = model(**{key: prefix[None]}, use_cache=True, logits_to_keep=1)
        from personalize.models.families import family_of

        self.family = family_of(model)
        self.layers = self.family.cache_layers(output_cache(out))  # each ([1, kv_heads, P, head_dim], same)

    def __len__(self) -> int:
        return int(self.prefix.shape[0])

    @staticmethod
    def _padding(mask: torch.LongTensor) -> list[int]:
        """Left padding of each row of ``[batch, width]``: the index of its first real token."""
        return [int(n) for n in (mask.shape[1] - mask.sum(-1)).tolist()]

    @classmethod
    def _rows(cls, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        data = inputs.get("input_ids")
        data = inputs["inputs_embeds"] if data is None else data
        return [row[start:] for row, start in zip(data, cls._padding(inputs["attention_mask"]))]

    @classmethod
    def build(cls, model: torch.nn.Module, samples: list[dict[str, torch.Tensor]], min_length: int = 1) -> SharedPrefixCache | None:
        """From the left-padded inputs of sample requests; ``None`` when they share fewer than
        ``min_length`` leading positions (nothing worth caching)."""
        rows = [row for inputs in samples for row in cls._rows(inputs)]
        if not rows:
            return None
        first = rows[0]
        length = min(len(r) for r in rows) - 1  # every request keeps at least one token to prefill
        for row in rows[1:]:
            same = row[:length] == first[:length]
            same = same if same.dim() == 1 else same.all(-1)
            length = int(same.long().cumprod(0).sum())
        if length < min_length:
            return None
        return cls(model, first[:length].clone(), "input_ids" in samples[0] and samples[0]["input_ids"] is not None)

    def prefill(self, inputs: dict[str, torch.Tensor], **kwargs: Any) -> tuple[Any, torch.LongTensor] | None:
        """One forward over a left-padded request batch that reuses the prefix's KV cache.

        The batch ``[pad][prefix][rest]`` runs as ``[prefix (cached)][pad][rest]``: the mask gets
        the prefix's ones in front and positions continue after it, so every row sees what it
        would see without the cache. Returns ``(model output, attention mask [batch, width])``
        for the decode steps, or ``None`` when a row does not start with the prefix.
        """
        key = "input_ids" if self.is_ids else "inputs_embeds"
        data, mask = inputs.get(key), inputs["attention_mask"]
        if data is None:
            return None
        n, width = len(self), mask.shape[1]
        rest_rows, rest_masks = [], []
        for row, row_mask, start in zip(data, mask, self._padding(mask)):
            if width - start <= n or not torch.equal(row[start : start + n], self.prefix):
                return None
            rest_rows.append(torch.cat([row[:start], row[start + n :]]))
            rest_masks.append(torch.cat([row_mask[:start], row_mask[start + n :]]))
        batch = len(rest_rows)
        full_mask = torch.cat([mask.new_ones(batch, n), torch.stack(rest_masks)], dim=1)
        cache = self.family.new_cache(self.model.config)
        for index, (k, v) in enumerate(self.layers):
            cache.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1), index)
        positions = position_ids_from_mask(full_mask)[:, n:]
        out = self.model(**{key: torch.stack(rest_rows)}, attention_mask=full_mask, position_ids=positions,
                         use_cache=True, **{cache_argument(self.model): cache}, **kwargs)
        return out, full_mask
