"""The text baseline: retrieved history items as a prompt prefix under a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from personalize.config import JsonConfig
from personalize.data.schema import Example, UserProfile
from personalize.errors import ConfigError
from personalize.methods.base import Method, MethodContext, PreparedBatch, left_pad
from personalize.prompts import PromptBuilder, get_template


@dataclass(frozen=True)
class TextConfig(JsonConfig):
    """Settings of the text baseline.

    Attributes:
        retriever: ``bm25``, ``dense``, ``recency`` or ``random``: how the k items are chosen.
        k: number of history items (0: no personalization, the ``none`` baseline).
        template: built-in template style (``lamp`` or ``list``).
        template_file: a JSON/YAML file overriding the template per task.
        max_prompt_tokens: the whole prompt never exceeds this; history items give way.
        max_item_tokens: each history item is cut to this many tokens first.
        system_prompt: system message (``None`` keeps the chat template's default).
        encoder: sentence encoder for the ``dense`` retriever.
    """

    retriever: str = "bm25"
    k: int = 4
    template: str = "lamp"
    template_file: str | None = None
    max_prompt_tokens: int | None = 1024
    max_item_tokens: int | None = 256
    system_prompt: str | None = None
    encoder: str = "minilm-l6"

    def __post_init__(self) -> None:
        # Checked here, not in setup(), so that a typo fails before any model is loaded.
        from personalize.validation import check_int

        if self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k} (--k)")
        check_int("max_prompt_tokens (--max-prompt-tokens)", self.max_prompt_tokens, minimum=1, allow_none=True)
        check_int("text setting max_item_tokens", self.max_item_tokens, minimum=1, allow_none=True)
        from personalize.retrieval import RETRIEVERS

        RETRIEVERS.get(self.retriever)  # ConfigError listing the known retrievers


def dense_retrieval(encoder_name: str, encoder_factory: Any) -> dict[str, Any]:
    """Embedder and FAISS index store for dense retrieval: item embeddings cached on disk, one
    persisted index per user (exact below 10,000 items, HNSW above)."""
    from personalize.encoding import EmbeddingCache
    from personalize.retrieval import HistoryIndexStore

    cache = EmbeddingCache(encoder_name, encoder_factory)
    return {"embedder": cache, "index_store": HistoryIndexStore(cache, search_threads=1)}


class TextMethod(Method):
    config_class = TextConfig
    config: TextConfig

    @property
    def reads_profile(self) -> bool:
        return self.config.k > 0  # ``none`` is this method with k=0

    def setup(self, ctx: MethodContext) -> None:
        super().setup(ctx)
        cfg = self.config
        if cfg.k < 0:
            raise ConfigError(f"k must be >= 0, got {cfg.k}")
        if ctx.tokenizer is None:
            raise ConfigError(f"method {self.name!r} needs a model and tokenizer")
        self.builder = PromptBuilder(
            ctx.tokenizer,
            get_template(ctx.task, cfg.template, cfg.template_file),
            max_prompt_tokens=cfg.max_prompt_tokens,
            max_item_tokens=cfg.max_item_tokens,
            system_prompt=cfg.system_prompt,
        )
        self.retriever = None
        if cfg.k > 0:
            from personalize.retrieval import make_retriever

            kwargs: dict[str, Any] = {}
            if cfg.retriever == "dense":
                if ctx.encoder_factory is None:
                    raise ConfigError("the dense retriever needs a sentence encoder")
                kwargs.update(dense_retrieval(cfg.encoder, ctx.encoder_factory))
            elif cfg.retriever == "random":
                kwargs["seed"] = ctx.seed
            self.retriever = make_retriever(cfg.retriever, **kwargs)

    def prepare(self, examples: Sequence[Example], profiles: Sequence[UserProfile]) -> PreparedBatch:
        assert self.ctx is not None, "call setup() first"
        task = self.ctx.task
        prompts, details = [], []
        for example, profile in zip(examples, profiles):
            order: list[int] = []
            if self.retriever is not None:
                order = self.retriever.retrieve(task.query_text(example.input), profile, self.config.k, task)
            built = self.builder.build(example.input, [profile.items[i] for i in order], order)
            prompts.append(built)
            details.append({"used_items": built.used_items, "truncated_items": built.truncated_items})
            budget = self.config.max_prompt_tokens
            if budget is not None and built.prompt_tokens > budget:
                # The rule: history items give way to the budget, the input is never cut; a prompt
                # whose input alone exceeds it is marked, and the harness counts and reports it.
                details[-1]["over_budget"] = True
        tokenizer = self.ctx.tokenizer
        encoded = [tokenizer(p.text, add_special_tokens=False)["input_ids"] for p in prompts]
        input_ids, mask = left_pad(encoded, tokenizer.pad_token_id)
        return PreparedBatch(
            attention_mask=mask,
            input_ids=input_ids,
            prompt_tokens=[len(e) for e in encoded],
            context_tokens=[p.context_tokens for p in prompts],
            details=details,
        )
