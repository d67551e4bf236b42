"""Prompt templates and the token-budgeted prompt builder.

A template turns (input, retrieved history items) into the user turn of a chat. The defaults
follow LaMP's profile-augmented prompts (Salemi et al., 2023): each item is rendered with
``item``, the rendered items are joined with ``joiner``, and ``context`` places them before the
input. With no items the ``no_context`` form is used, so that ``none`` and ``text`` differ only by
the user's history. Instruct models get the user turn inside their chat template.

Templates are overridable from a JSON or YAML file mapping a task name to the four fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from personalize.config import JsonConfig
from personalize.data.schema import HistoryItem
from personalize.data.tasks import TaskSpec
from personalize.errors import ConfigError

SOFT_SLOT = "<|personalize_soft|>"
"""Marker where soft tokens go; never reaches the tokenizer (the prompt is split around it)."""


@dataclass(frozen=True)
class PromptTemplate(JsonConfig):
    """How one task's prompt is written.

    ``item`` is a ``str.format`` pattern over the item's fields; ``context`` over ``{items}`` and
    ``{input}``; ``no_context`` over ``{input}``. With ``system`` set, the rendered items go into
    the system message instead (``system`` over ``{items}``) and the user turn stays exactly the
    ``no_context`` form, so that the request itself is the same with and without history;
    ``system_no_context`` is the system message when there are no items (``none`` with this
    template), so that the history is the only difference.
    """

    item: str
    joiner: str = ", and "
    context: str = "{items}. {input}"
    no_context: str = "{input}"
    system: str | None = None
    system_no_context: str | None = None

    def render(self, input_text: str, items: Sequence[HistoryItem]) -> tuple[str | None, str]:
        """``(system message or None, user turn)`` for this input and these items."""
        if not items:
            return self.system_no_context, self.no_context.format(input=input_text)
        rendered = self.joiner.join(self.render_item(it) for it in items)
        if self.system is not None:
            return self.system.format(items=rendered), self.no_context.format(input=input_text)
        return None, self.context.format(items=rendered, input=input_text)

    def render_item(self, item: HistoryItem) -> str:
        try:
            return self.item.format(**item)
        except KeyError as exc:
            raise ConfigError(f"template item pattern {self.item!r} uses field {exc} the item lacks") from None


_LAMP_STYLE = {
    "LaMP-1": PromptTemplate('"{title}"', context="The author has written papers titled {items}. {input}"),
    "LaMP-2": PromptTemplate('the tag for the movie: "{description}" is "{tag}"'),
    "LaMP-3": PromptTemplate('{score} is the score for "{text}"'),
    "LaMP-4": PromptTemplate('"{title}" is the title for "{text}"'),
    "LaMP-5": PromptTemplate('"{title}" is the title for "{abstract}"', context="{items}. Following the given patterns {input}"),
    "LaMP-7": PromptTemplate('"{text}"', context="{items} are written by a person. Following the given patterns {input}"),
    "synthetic-style": PromptTemplate('"{text}"', context="{items} are written by a person. Following the given patterns {input}"),
    "synthetic-pref": PromptTemplate('the label for "{text}" is "{label}"'),
    # MovieLens: the history in time order, each movie with the user's own rating
    "movielens-like": PromptTemplate('"{title}" ({genres}): rated {rating} of 5', joiner="\n",
                                     context="Movies this user rated before, oldest first:\n{items}\n\n{input}"),
    "movielens-rating": PromptTemplate('"{title}" ({genres}): rated {rating} of 5', joiner="\n",
                                       context="Movies this user rated before, oldest first:\n{items}\n\n{input}"),
}  # fmt: skip

# A structured variant: the history as a bulleted list in front of the request. Small instruct
# models follow it more reliably than one long run-on sentence.
_LIST_STYLE = {
    "LaMP-7": PromptTemplate(
        "- {text}",
        joiner="\n",
        context="Here are some tweets this person wrote:\n{items}\n\n{input}",
    ),
    "synthetic-style": PromptTemplate(
        "- {text}", joiner="\n", context="Here are some sentences this person wrote:\n{items}\n\n{input}"
    ),
    "LaMP-3": PromptTemplate(
        '- score {score}: "{text}"', joiner="\n", context="Reviews this person wrote, with their own scores:\n{items}\n\n{input}"
    ),
}  # fmt: skip

# The history as a system message; the user turn is the unchanged request, as in `none`.
_SYSTEM_STYLE = {
    "LaMP-7": PromptTemplate(
        "- {text}", joiner="\n",
        system="You write tweets for one person, in their own words and style. Tweets they wrote before:\n{items}",
        system_no_context="You write tweets for one person, in their own words and style.",
    ),
    "synthetic-style": PromptTemplate(
        "- {text}", joiner="\n",
        system="You write for one person, in their own words and style. Sentences they wrote before:\n{items}",
        system_no_context="You write for one person, in their own words and style.",
    ),
    "LaMP-3": PromptTemplate(
        '- score {score}: "{text}"', joiner="\n",
        system="You predict how one person scores reviews. Reviews they wrote, with their own scores:\n{items}",
        system_no_context="You predict how one person scores reviews.",
    ),
}  # fmt: skip

TEMPLATE_SETS: dict[str, dict[str, PromptTemplate]] = {"lamp": _LAMP_STYLE, "list": _LIST_STYLE, "system": _SYSTEM_STYLE}


def get_template(task: TaskSpec, style: str = "lamp", overrides: str | Path | None = None) -> PromptTemplate:
    """The template for ``task``: from ``overrides`` (a JSON/YAML file) if it names the task, else
    the built-in ``style`` (``lamp``, ``list`` or ``system``; a style without an entry for the
    task falls back to ``lamp``)."""
    if overrides is not None:
        table = load_template_file(overrides)
        if task.name in table:
            return table[task.name]
    if style not in TEMPLATE_SETS:
        raise ConfigError(f"unknown template style {style!r}; known: {sorted(TEMPLATE_SETS)}")
    chosen = TEMPLATE_SETS[style].get(task.name) or _LAMP_STYLE.get(task.name)
    if chosen is None:
        fields = " ".join("{" + f + "}" for f in task.text_fields)
        chosen = PromptTemplate(f'"{fields}"')
    return chosen


def load_template_file(path: str | Path) -> dict[str, PromptTemplate]:
    """Read ``{task name: {item, joiner?, context?, no_context?, system?}}`` from JSON or YAML."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read template file {path}: {exc}") from None
    except Exception as exc:  # json/yaml parse errors carry the position
        raise ConfigError(f"template file {path} is not valid: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"template file {path}: expected a mapping of task name to template")
    from personalize.data.tasks import get_task

    return {get_task(k).name: PromptTemplate.from_dict(v, source=f"{path}[{k}]") for k, v in data.items()}


@dataclass
class BuiltPrompt:
    """A prompt ready for the tokenizer, with its token accounting.

    ``text`` is the full prompt (chat template applied); ``prompt_tokens`` its length in tokens;
    ``context_tokens`` how many of those the user's history added (prompt with context minus the
    same prompt without); ``used_items`` the indices of the history items that made it in, and
    ``truncated_items`` those of them that were cut to fit the budget.
    """

    text: str
    prompt_tokens: int
    context_tokens: int
    used_items: list[int] = field(default_factory=list)
    truncated_items: list[int] = field(default_factory=list)


class PromptBuilder:
    """Builds chat-formatted prompts under a token budget.

    Args:
        tokenizer: a Hugging Face tokenizer (its chat template is used when it has one).
        template: the task's :class:`PromptTemplate`.
        max_prompt_tokens: hard cap on the whole prompt (``None``: no cap). The user's history
            is what gives way: items are dropped or cut, never the input.
        max_item_tokens: cap per history item before the budget is applied (``None``: no cap).
        system_prompt: a system message; ``None`` keeps the chat template's own default.
        use_chat_template: wrap the user turn in the tokenizer's chat template if it has one.
    """

    def __init__(
        self,
        tokenizer: object,
        template: PromptTemplate,
        *,
        max_prompt_tokens: int | None = None,
        max_item_tokens: int | None = None,
        system_prompt: str | None = None,
        use_chat_template: bool = True,
    ) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.max_prompt_tokens = max_prompt_tokens
        self.max_item_tokens = max_item_tokens
        self.system_prompt = system_prompt
        self.use_chat = use_chat_template and bool(getattr(tokenizer, "chat_template", None))

    def wrap(self, rendered: tuple[str | None, str]) -> str:
        """The full prompt text for ``(system context, user turn)``, ending where the answer starts.

        A system context from the template is appended to ``system_prompt`` when both exist.
        """
        context_system, user_content = rendered
        system = "\n\n".join(s for s in (self.system_prompt, context_system) if s) or None
        if not self.use_chat:
            return "\n\n".join(s for s in (system, user_content) if s)
        messages = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user_content})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _cut(self, text: str, max_tokens: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
        return self.tokenizer.decode(ids, skip_special_tokens=True).rstrip()

    def build(self, input_text: str, items: Sequence[HistoryItem], order: Sequence[int] | None = None) -> BuiltPrompt:
        """Prompt for ``input_text`` with ``items`` (already ranked, best first) as context.

        ``order`` gives each item's index in the user's profile, for the record.
        """
        order = list(order) if order is not None else list(range(len(items)))
        base_text = self.wrap(self.template.render(input_text, []))
        base_tokens = self.count(base_text)
        chosen: list[dict[str, str]] = []
        used: list[int] = []
        truncated: list[int] = []
        text, tokens = base_text, base_tokens
        for idx, item in zip(order, items):
            item = dict(item)
            cut = False
            if self.max_item_tokens is not None:
                for key in self._content_fields(item):
                    if self.count(item[key]) > self.max_item_tokens:
                        item[key] = self._cut(item[key], self.max_item_tokens)
                        cut = True
            candidate = self.wrap(self.template.render(input_text, [*chosen, item]))
            cand_tokens = self.count(candidate)
            if self.max_prompt_tokens is not None and cand_tokens > self.max_prompt_tokens:
                fitted = self._fit(input_text, chosen, item, cand_tokens)
                if fitted is not None:
                    chosen.append(fitted[0])
                    used.append(idx)
                    truncated.append(idx)
                    text, tokens = fitted[1], fitted[2]
                break  # the budget is spent: later (lower-ranked) items would not fit either
            chosen.append(item)
            used.append(idx)
            if cut:
                truncated.append(idx)
            text, tokens = candidate, cand_tokens
        return BuiltPrompt(text, tokens, tokens - base_tokens, used, truncated)

    def _content_fields(self, item: Mapping[str, str]) -> list[str]:
        # Labels (tag, score) are short and carry the signal; only long text fields are cut.
        return [k for k, v in item.items() if k != "id" and isinstance(v, str) and len(v) > 32]

    def _fit(
        self, input_text: str, chosen: list[dict[str, str]], item: dict[str, str], over: int
    ) -> tuple[dict[str, str], str, int] | None:
        """Cut ``item``'s longest text field so that the prompt fits; ``None`` if too little room."""
        fields = self._content_fields(item)
        if not fields:
            return None
        key = max(fields, key=lambda k: len(item[k]))
        length = self.count(item[key])
        keep = length - (over - self.max_prompt_tokens)  # type: ignore[operator]
        while keep >= 8:  # an item cut to a few tokens is noise, not context
            trial = dict(item)
            trial[key] = self._cut(item[key], keep)
            text = self.wrap(self.template.render(input_text, [*chosen, trial]))
            tokens = self.count(text)
            if tokens <= self.max_prompt_tokens:  # type: ignore[operator]
                return trial, text, tokens
            keep -= max(1, tokens - self.max_prompt_tokens)  # type: ignore[operator]
        return None
