"""Prompt templates (exact strings, overrides) and the token-budgeted PromptBuilder."""

from __future__ import annotations

import json

import pytest

from personalize.data.tasks import get_task
from personalize.errors import ConfigError
from personalize.prompts import PromptBuilder, PromptTemplate, get_template, load_template_file

LAMP7 = get_task("LaMP-7")
LAMP3 = get_task("LaMP-3")
TWEET_INPUT = "Paraphrase the following tweet without any explanation before or after it: the cat sat on the mat"


def items(*texts: str) -> list[dict[str, str]]:
    return [{"id": str(i), "text": t} for i, t in enumerate(texts)]


def user_turn(template: PromptTemplate, input_text: str, history) -> str:
    """The user turn of a template without a system part (the lamp and list styles)."""
    system, user = template.render(input_text, history)
    assert system is None
    return user


# ------------------------------------------------------------------------------------ templates


def test_lamp7_template_exact_string() -> None:
    template = get_template(LAMP7)
    rendered = user_turn(template, "<input>", items("a", "b"))
    assert rendered == '"a", and "b" are written by a person. Following the given patterns <input>'


def test_lamp7_single_item() -> None:
    assert user_turn(get_template(LAMP7), "X", items("only")) == '"only" are written by a person. Following the given patterns X'


def test_lamp3_template_exact_string() -> None:
    template = get_template(LAMP3)
    history = [{"id": "1", "text": "great book", "score": "5"}, {"id": "2", "text": "dull", "score": "2"}]
    assert user_turn(template, "<input>", history) == '5 is the score for "great book", and 2 is the score for "dull". <input>'


def test_no_context_form_equals_input() -> None:
    for task in (LAMP7, LAMP3, get_task("LaMP-2"), get_task("synthetic-pref")):
        assert user_turn(get_template(task), "just the input", []) == "just the input"


def test_list_style_and_unknown_style() -> None:
    t = get_template(LAMP7, "list")
    assert user_turn(t, "IN", items("a", "b")) == "Here are some tweets this person wrote:\n- a\n- b\n\nIN"
    # "list" falls back to the lamp template for tasks it does not define
    assert get_template(get_task("LaMP-2"), "list") == get_template(get_task("LaMP-2"), "lamp")
    with pytest.raises(ConfigError, match="unknown template style"):
        get_template(LAMP7, "fancy")


def test_item_pattern_with_missing_field_is_config_error() -> None:
    t = PromptTemplate("{title}")
    with pytest.raises(ConfigError, match="title"):
        t.render("x", items("a"))


def test_template_override_from_json(tmp_path) -> None:
    path = tmp_path / "templates.json"
    path.write_text(json.dumps({"LaMP_7": {"item": "<{text}>", "joiner": " | ", "context": "[{items}] {input}"}}))
    t = get_template(LAMP7, overrides=path)
    assert t.render("IN", items("a", "b")) == (None, "[<a> | <b>] IN")
    assert t.render("IN", []) == (None, "IN")  # no_context keeps its default
    # a task the file does not name keeps the built-in template
    assert get_template(LAMP3, overrides=path) == get_template(LAMP3)


def test_template_override_from_yaml(tmp_path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text(
        "LaMP-3:\n"
        "  item: 'score {score}: {text}'\n"
        "  joiner: '; '\n"
        "  context: 'History: {items}. Now: {input}'\n"
        "  no_context: 'Now: {input}'\n"
    )
    t = get_template(LAMP3, overrides=path)
    history = [{"id": "1", "text": "ok", "score": "3"}, {"id": "2", "text": "bad", "score": "1"}]
    assert t.render("IN", history) == (None, "History: score 3: ok; score 1: bad. Now: IN")
    assert t.render("IN", []) == (None, "Now: IN")


def test_template_file_unknown_key_is_config_error(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"LaMP-7": {"item": "{text}", "separator": ", "}}))
    with pytest.raises(ConfigError, match="separator"):
        load_template_file(path)
    with pytest.raises(ConfigError, match="separator"):
        get_template(LAMP7, overrides=path)


def test_template_file_errors(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_template_file(bad)
    with pytest.raises(ConfigError, match="missing.json"):
        load_template_file(tmp_path / "missing.json")
    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_template_file(not_mapping)
    unknown_task = tmp_path / "task.json"
    unknown_task.write_text(json.dumps({"LaMP-99": {"item": "{text}"}}))
    with pytest.raises(ConfigError, match="LaMP-99"):
        load_template_file(unknown_task)


# ------------------------------------------------------------------------------------- builder


def count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def chat(user: str) -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def test_builder_applies_chat_template(tiny_tokenizer) -> None:
    builder = PromptBuilder(tiny_tokenizer, get_template(LAMP7))
    built = builder.build(TWEET_INPUT, items("a", "b"))
    assert built.text.startswith("<|im_start|>user")
    assert built.text.endswith("<|im_start|>assistant\n")
    assert built.text == chat('"a", and "b" are written by a person. Following the given patterns ' + TWEET_INPUT)
    assert built.used_items == [0, 1]
    assert built.truncated_items == []


def test_builder_system_prompt_and_no_chat(tiny_tokenizer) -> None:
    with_system = PromptBuilder(tiny_tokenizer, get_template(LAMP7), system_prompt="Be brief.")
    assert with_system.build("IN", []).text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nIN")
    raw = PromptBuilder(tiny_tokenizer, get_template(LAMP7), use_chat_template=False)
    assert raw.build("IN", items("a")).text == '"a" are written by a person. Following the given patterns IN'


def test_token_accounting_matches_independent_tokenization(tiny_tokenizer) -> None:
    builder = PromptBuilder(tiny_tokenizer, get_template(LAMP7))
    history = items("honestly the weather is lovely today", "see you at the park #sunny", "the team recommended it")
    built = builder.build(TWEET_INPUT, history, order=[7, 3, 5])
    with_items = count(tiny_tokenizer, built.text)
    bare = count(tiny_tokenizer, chat(TWEET_INPUT))
    assert built.prompt_tokens == with_items
    assert built.context_tokens == with_items - bare
    assert built.context_tokens > 0
    assert built.used_items == [7, 3, 5]  # the profile indices given in `order`
    empty = builder.build(TWEET_INPUT, [])
    assert (empty.prompt_tokens, empty.context_tokens, empty.used_items) == (bare, 0, [])


def test_budget_drops_items_that_do_not_fit(tiny_tokenizer) -> None:
    # Short items (<= 32 characters) are never cut, so the third one is simply dropped.
    history = items("the cat sat on the mat", "see you at the park", "great book, loved it", "lovely today")
    template = get_template(LAMP7)
    budget = count(tiny_tokenizer, chat(user_turn(template, TWEET_INPUT, history[:2])))
    assert budget < count(tiny_tokenizer, chat(user_turn(template, TWEET_INPUT, history[:3])))
    builder = PromptBuilder(tiny_tokenizer, template, max_prompt_tokens=budget)
    built = builder.build(TWEET_INPUT, history)
    assert built.used_items == [0, 1]
    assert built.truncated_items == []
    assert built.prompt_tokens == budget
    assert TWEET_INPUT in built.text


@pytest.mark.parametrize(("extra", "expected_used"), [(15, [0, 1, 2]), (5, [0, 1])])
def test_budget_truncates_or_drops_long_items(tiny_tokenizer, extra, expected_used) -> None:
    long = "honestly the weather is lovely today!!! see you at the park #sunny "
    history = items(long + "one", long + "two", long + "three", long + "four")
    template = get_template(LAMP7)
    two = count(tiny_tokenizer, chat(user_turn(template, TWEET_INPUT, history[:2])))
    budget = two + extra  # room for part of the third item (15), or for too little of it (5 < 8 tokens)
    builder = PromptBuilder(tiny_tokenizer, template, max_prompt_tokens=budget)
    built = builder.build(TWEET_INPUT, history)
    assert built.prompt_tokens <= budget
    assert built.prompt_tokens == count(tiny_tokenizer, built.text)
    assert built.used_items == expected_used
    if len(expected_used) == 3:
        assert built.truncated_items == [2]
        assert long + "three" not in built.text
        assert '"' + long[:20] in built.text.split(", and ")[2]  # a prefix of the third item survives
    else:
        assert built.truncated_items == []
        assert built.prompt_tokens == two
    assert TWEET_INPUT in built.text  # the input is never cut
    assert built.text.endswith(TWEET_INPUT + "<|im_end|>\n<|im_start|>assistant\n")


def test_budget_never_cuts_the_input(tiny_tokenizer) -> None:
    long_input = TWEET_INPUT + " and then the team recommended the backyard over the weekend" * 3
    builder = PromptBuilder(tiny_tokenizer, get_template(LAMP7), max_prompt_tokens=20)
    built = builder.build(long_input, items("a b c", "the cat sat on the mat and more words here"))
    assert long_input in built.text
    assert built.used_items == []
    assert built.context_tokens == 0


def test_item_longer_than_max_item_tokens_is_truncated(tiny_tokenizer) -> None:
    long = "honestly the weather is lovely today!!! see you at the park #sunny mystery romance science history travel"
    short = "the cat sat"
    assert count(tiny_tokenizer, long) > 10
    builder = PromptBuilder(tiny_tokenizer, get_template(LAMP7), max_item_tokens=10)
    built = builder.build(TWEET_INPUT, items(short, long), order=[4, 9])
    assert built.used_items == [4, 9]
    assert built.truncated_items == [9]
    assert long not in built.text
    prefix = tiny_tokenizer.decode(tiny_tokenizer(long, add_special_tokens=False)["input_ids"][:10]).rstrip()
    assert f'"{prefix}"' in built.text
    assert f'"{short}"' in built.text
    assert built.context_tokens == built.prompt_tokens - count(tiny_tokenizer, chat(TWEET_INPUT))


def test_budget_smaller_than_bare_prompt_gives_no_items(tiny_tokenizer) -> None:
    bare = count(tiny_tokenizer, chat(TWEET_INPUT))
    builder = PromptBuilder(tiny_tokenizer, get_template(LAMP7), max_prompt_tokens=bare - 5)
    long = "honestly the weather is lovely today!!! see you at the park #sunny"
    built = builder.build(TWEET_INPUT, items(long, "short one"))
    assert built.used_items == []
    assert built.truncated_items == []
    assert built.context_tokens == 0
    assert built.text == chat(TWEET_INPUT)
    assert built.prompt_tokens == bare


def test_system_style_keeps_the_user_turn_unchanged(tiny_tokenizer) -> None:
    template = get_template(LAMP7, "system")
    system, user = template.render(TWEET_INPUT, items("a", "b"))
    assert user == TWEET_INPUT
    assert system is not None and system.endswith("\n- a\n- b")
    bare_system, bare_user = template.render(TWEET_INPUT, [])
    assert bare_user == TWEET_INPUT and bare_system == template.system_no_context
    builder = PromptBuilder(tiny_tokenizer, template, system_prompt="Be brief.")
    built = builder.build(TWEET_INPUT, items("a", "b"))
    assert built.text == (
        f"<|im_start|>system\nBe brief.\n\n{system}<|im_end|>\n" + chat(TWEET_INPUT)
    )
    bare = builder.build(TWEET_INPUT, [])
    assert bare.text == f"<|im_start|>system\nBe brief.\n\n{bare_system}<|im_end|>\n" + chat(TWEET_INPUT)
    assert built.context_tokens == count(tiny_tokenizer, built.text) - count(tiny_tokenizer, bare.text) > 0
