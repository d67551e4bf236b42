"""A frozen base LLM wrapped with one trainable soft-token ``adapter``.

The base model is never edited: it stays in eval mode with ``requires_grad=False``, and the
adapter's soft tokens ``[batch, N, hidden]`` enter through ``inputs_embeds``. Where they sit in
the chat-formatted prompt is the ``placement`` setting: the prompt text is rendered with a
marker, split there, and the two halves are tokenized separately, so that::

    [left padding] [prefix tokens] [N soft tokens] [suffix tokens] [target tokens + EOS]

with the attention mask 0 on padding and labels ``-100`` everywhere but the target, as PEFT does
for prompt tuning.

A saved adapter is ``adapter_config.json`` + ``adapter_model.safetensors`` (adapter weights
only); :meth:`PersonalizedModel.from_pretrained` refuses another base model and loads strictly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from personalize.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, FORMAT_VERSION, read_adapter_config
from personalize.errors import ConfigError
from personalize.generation import cache_argument
from personalize.methods.soft.adapter import ADAPTERS, SoftTokenAdapter
from personalize.methods.soft.config import SoftPrefixConfig
from personalize.methods.soft.features import UserFeatures
from personalize.methods.soft.layout import SoftPromptLayout  # noqa: F401 - re-exported: callers import it here
from personalize.models.families import family_of


def embedding_norm(model: nn.Module) -> float:
    """Median L2 norm of the base model's input token embeddings (the scale soft tokens match).

    Computed on the embedding module's output, not its weight, so that models that scale their
    embeddings (Gemma multiplies by sqrt(hidden)) get the scale their layers actually see.
    """
    embedding = model.get_input_embeddings()
    weight = embedding.weight
    with torch.no_grad():
        sample = torch.arange(0, weight.shape[0], max(1, weight.shape[0] // 8192), device=weight.device)
        vectors = embedding(sample).float()
    return float(vectors.norm(dim=-1).median())


@dataclass
class EmbeddedBatch:
    """``inputs_embeds [B, T, H]``, ``attention_mask [B, T]``, ``labels [B, T]`` (or ``None``),
    ``position_ids [B, T]``; ``prompt_tokens`` counts real prompt positions incl. soft tokens.

    ``shared_prefix``: the first positions that are real tokens in every row and come before
    every soft token (right-padded batches only; 0 otherwise). Nothing trainable reaches them,
    so training runs them without autograd, as a KV cache for the rest.
    """

    inputs_embeds: torch.Tensor
    attention_mask: torch.LongTensor
    position_ids: torch.LongTensor
    labels: torch.LongTensor | None
    prompt_tokens: list[int]
    memory: Any = None
    shared_prefix: int = 0


class PersonalizedModel(nn.Module):
    """Frozen ``base`` + trainable ``adapter``.

    Args:
        base: a causal LM (``transformers`` model); frozen here.
        adapter: the soft-token adapter (the only trainable module).
        method: registry name of the soft-token method (``personalize methods`` lists them).
        base_name: the base model's id, recorded in and checked against saved adapters.
    """

    def __init__(self, base: nn.Module, adapter: SoftTokenAdapter, *, method: str, base_name: str, encoder_dim: int) -> None:
        super().__init__()
        self.encoder_dim = encoder_dim
        self.base = base
        self.base.eval()
        self.base.requires_grad_(False)
        self.adapter = adapter
        self.method = method
        self.base_name = base_name
        self._active = False
        self._memory: Any = None
        # The hooks see this wrapper only through a weak reference, so that dropping the wrapper
        # also removes its hooks from a base model that lives on (e.g. shared in a comparison).
        ref = weakref.ref(self)
        self._hooks = adapter.install_hooks(
            base,
            lambda: (m := ref()) is not None and m._active,
            lambda: m._memory if (m := ref()) is not None else None,
        )
        weakref.finalize(self, _remove_handles, list(self._hooks))

    @contextlib.contextmanager
    def active(self, memory: Any = None) -> Iterator[None]:
        """Inside this block the base model runs with this adapter's hooks (a LoRA, cross-attention
        to ``memory``); on leaving, the previous state is restored, so a batch's memory can never
        leak into the next batch or into another method sharing the base model."""
        previous = (self._active, self._memory)
        self._active, self._memory = True, memory
        try:
            yield
        finally:
            self._active, self._memory = previous

    @property
    def has_hooks(self) -> bool:
        """Whether the adapter acts inside the base model (LoRA, cross-attention), not only on its inputs."""
        return bool(self._hooks)

    def remove_hooks(self) -> None:
        _remove_handles(self._hooks)
        self._hooks = []

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def create(cls, base: nn.Module, method: str, config: SoftPrefixConfig, *, base_name: str, encoder_dim: int) -> PersonalizedModel:
        kind = ADAPTERS.get(method)
        if not isinstance(config, kind.config_class):
            raise ConfigError(f"{method} needs a {kind.config_class.__name__}, got {type(config).__name__}")
        hidden = int(base.config.hidden_size)
        adapter = kind.build(config, hidden, encoder_dim, embedding_norm(base))
        try:
            adapter.attach(base)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(base, adapter, method=method, base_name=base_name, encoder_dim=encoder_dim)

    def train(self, mode: bool = True) -> PersonalizedModel:
        # The base stays in eval mode (no dropout) whatever the wrapper's mode.
        self.training = mode
        self.adapter.train(mode)
        self.base.eval()
        return self

    @property
    def config(self) -> SoftPrefixConfig:
        return self.adapter.config

    @property
    def hidden_size(self) -> int:
        return int(self.base.config.hidden_size)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -- inputs ---------------------------------------------------------------------------------

    def embed(
        self,
        prefixes: Sequence[Sequence[int]],
        suffixes: Sequence[Sequence[int]],
        features: UserFeatures,
        targets: Sequence[Sequence[int]] | None = None,
        pad_token_id: int = 0,
        padding_side: str = "left",
    ) -> EmbeddedBatch:
        """Assemble padded ``inputs_embeds`` with the soft tokens in place.

        Args:
            prefixes / suffixes: token ids before / after the soft tokens, per example.
            features: the users' features for the adapter.
            targets: answer token ids (with EOS) for training; ``None`` for inference.
            padding_side: ``left`` for generation (prompts end together); ``right`` for
                training, where the rows then share their leading prefix positions.
        """
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        embedding = self.base.get_input_embeddings()
        device = embedding.weight.device
        dtype = embedding.weight.dtype
        soft = self.adapter(features.to(device)).to(dtype)  # [B, N, H]
        rows, labels, lengths = [], [], []
        for i, (prefix, suffix) in enumerate(zip(prefixes, suffixes)):
            target = list(targets[i]) if targets is not None else []
            ids = torch.tensor([*prefix, *suffix, *target], dtype=torch.long, device=device)
            tok = embedding(ids)
            n_prefix = len(prefix)
            rows.append(torch.cat([tok[:n_prefix], soft[i], tok[n_prefix:]], dim=0))
            n_prompt = n_prefix + soft.shape[1] + len(suffix)
            lengths.append(n_prompt)
            labels.append([-100] * n_prompt + target)
        width = max(r.shape[0] for r in rows)
        hidden = rows[0].shape[1]
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
        label_tensor = torch.full((len(rows), width), -100, dtype=torch.long, device=device)
        padded_rows = []
        for i, row in enumerate(rows):
            pad = width - row.shape[0]
            real = slice(pad, width) if padding_side == "left" else slice(0, row.shape[0])
            if pad:
                filler = row.new_zeros(pad, hidden)
                row = torch.cat([filler, row] if padding_side == "left" else [row, filler], dim=0)
            padded_rows.append(row)
            mask[i, real] = 1
            label_tensor[i, real] = torch.tensor(labels[i], dtype=torch.long, device=device)
        inputs = torch.stack(padded_rows)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        memory = self.adapter.memory(features.to(device))
        shared = min(len(p) for p in prefixes) if padding_side == "right" and prefixes else 0
        return EmbeddedBatch(inputs, mask, position_ids, label_tensor if targets is not None else None, lengths, memory,
                             shared_prefix=shared)

    def forward(self, batch: EmbeddedBatch, *, cache_shared_prefix: bool = True) -> torch.Tensor:
        """Mean cross-entropy over target tokens (labels != -100), on the logits of the base
        model's own forward (its head and any logit scaling, e.g. Gemma-2's soft-capping).

        The LM head runs only on positions that predict a target token in some row
        (``logits_to_keep``): on a 135M model it is a fifth of the compute per position, and most
        positions are prompt.

        When gradients are on and the batch has a ``shared_prefix`` that no trainable part
        touches (a prefix adapter, no hooks in the base), that prefix runs first without
        autograd and becomes a KV cache: the backward pass then skips those positions, which it
        would otherwise traverse only to find gradients that are thrown away. Measured on SmolLM2
        (batch 8 x 100 tokens, 34 shared): about 10% off an eager train step. Compiled layers
        turn it off (``cache_shared_prefix=False``): the KV cache breaks their graphs and cost
        more than it saved.
        """
        start = batch.shared_prefix if cache_shared_prefix and torch.is_grad_enabled() and not self.has_hooks else 0
        start = min(start, batch.inputs_embeds.shape[1] - 1)
        labels = batch.labels[:, start + 1 :]  # [B, T - start - 1]: label j is predicted at position start + j
        positions = (labels != -100).any(0).nonzero().squeeze(-1)  # [K] positions (after start) that predict one
        with self.active(batch.memory):
            cached: dict[str, Any] = {"use_cache": False}
            if start > 0:
                family = family_of(self.base)
                cache = family.new_cache(self.base.config)
                inner = family.decoder(self.base)
                with torch.no_grad():
                    inner(inputs_embeds=batch.inputs_embeds[:, :start], attention_mask=batch.attention_mask[:, :start],
                          position_ids=batch.position_ids[:, :start], use_cache=True, **{cache_argument(inner): cache})
                cached = {cache_argument(self.base): cache, "use_cache": True}
            logits = self.base(
                inputs_embeds=batch.inputs_embeds[:, start:],
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids[:, start:],
                logits_to_keep=positions,
                **cached,
            ).logits  # [B, K, vocab]
        picked = labels[:, positions]  # [B, K]
        keep = picked != -100
        return nn.functional.cross_entropy(logits[keep].float(), picked[keep])

    # -- save / load ----------------------------------------------------------------------------

    def adapter_config(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "base_model": self.base_name,
            "hidden_size": self.hidden_size,
            "encoder_dim": self.encoder_dim,
            # the whole adapter, also a part kept frozen in this run (a control's LoRA: freeze_shared)
            "trainable_parameters": sum(p.numel() for p in self.adapter.parameters()),
            "config": self.config.to_dict(),
            **(extra or {}),
        }

    def save_pretrained(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``adapter_config.json`` + ``adapter_model.safetensors`` (adapter weights only)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.adapter.state_dict().items()}
        tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".save-"))
        try:
            save_file(state, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt", "method": self.method})
            (tmp / ADAPTER_CONFIG).write_text(json.dumps(self.adapter_config(extra), indent=2) + "\n")
            for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
                os.replace(tmp / name, directory / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def from_pretrained(cls, base: nn.Module, directory: str | Path, *, base_name: str) -> PersonalizedModel:
        """Load a saved adapter onto ``base``; refuses another base model, damaged or non-finite
        weights, and loads strictly."""
        from personalize.validation import load_tensors

        directory = Path(directory)
        saved = read_adapter_config(directory)
        if saved["base_model"] != base_name:
            raise ConfigError(f"adapter in {directory} was trained on base model {saved['base_model']!r}, not {base_name!r}")
        if saved["hidden_size"] != int(base.config.hidden_size):
            raise ConfigError(f"adapter in {directory} expects hidden size {saved['hidden_size']}, "
                              f"the base model has {base.config.hidden_size}")
        kind = ADAPTERS.get(saved["method"])
        config = kind.config_class.from_dict(saved["config"], source=str(directory / ADAPTER_CONFIG))
        model = cls.create(base, saved["method"], config, base_name=base_name,
                           encoder_dim=int(saved.get("encoder_dim", 0)))
        state = load_tensors(directory / ADAPTER_WEIGHTS, "adapter weights",
                             "train the adapter again or restore the folder from a copy")
        try:
            model.adapter.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"adapter weights in {directory} do not match its config: {exc}") from None
        return model


def _remove_handles(handles: list[Any]) -> None:
    for handle in handles:
        handle.remove()
