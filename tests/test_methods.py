"""The method registry, the reference baselines and the text baseline's batch preparation."""

from __future__ import annotations

import pytest

from personalize.data.schema import Example, UserProfile
from personalize.data.tasks import get_task
from personalize.errors import ConfigError
from personalize.methods import METHODS, MethodContext, make_method
from personalize.methods.text import TextConfig

LAMP7 = get_task("LaMP-7")
LAMP3 = get_task("LaMP-3")
TWEET_PROMPT = "Paraphrase the following tweet without any explanation before or after it: "


def style_profile(n: int, user: str = "u1") -> UserProfile:
    return UserProfile(user, tuple({"id": f"{user}-{i}", "text": f"tweet number {i} about the park"} for i in range(n)))


def rating_profile(*scores: str) -> UserProfile:
    return UserProfile("r1", tuple({"id": str(i), "text": f"review {i}", "score": s} for i, s in enumerate(scores)))


def rating_example(text: str = "fine") -> Example:
    return Example("q1", "r1", f"What is the score of the following review on a scale of 1 to 5? review: {text}", "4")


# ------------------------------------------------------------------------------------ registry


def test_registry_names() -> None:
    names = METHODS.names()
    for name in ("none", "text", "copy", "user-majority"):
        assert name in names


def test_none_is_text_with_k0() -> None:
    method = make_method("none")
    assert method.name == "none"
    assert isinstance(method.config, TextConfig) and method.config.k == 0
    assert make_method("none", {"k": 0}).config.k == 0  # restating the fixed value is fine
    assert make_method("none", {"template": "list"}).config.template == "list"


def test_none_refuses_k() -> None:
    with pytest.raises(ConfigError, match="'none'"):
        make_method("none", {"k": 4})


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError, match="topk"):
        make_method("text", {"topk": 4})
    with pytest.raises(ConfigError, match="'k'|\\.k"):
        make_method("text", {"k": "four"})
    with pytest.raises(ConfigError):
        make_method("copy", {"k": 1})  # copy has no settings at all


def test_unknown_method_lists_names() -> None:
    with pytest.raises(ConfigError) as info:
        make_method("magic")
    message = str(info.value)
    assert "'magic'" in message
    for name in ("none", "text", "copy", "user-majority"):
        assert name in message


def test_method_names_are_case_insensitive_and_describe() -> None:
    method = make_method("TEXT", {"k": 2, "retriever": "recency"})
    assert method.describe()["config"]["k"] == 2
    assert method.describe()["config"]["retriever"] == "recency"


# ------------------------------------------------------------------------------- copy / majority


def test_copy_returns_the_tweet() -> None:
    method = make_method("copy")
    assert method.needs_model is False
    method.setup(MethodContext(task=LAMP7))
    example = Example("1", "u1", TWEET_PROMPT + "the cat sat on the mat #cats", "gold")
    assert method.predict_direct(example, style_profile(3)) == "the cat sat on the mat #cats"
    assert method.prepare([example], [style_profile(3)]) is None


def test_copy_without_marker_returns_input() -> None:
    method = make_method("copy")
    method.setup(MethodContext(task=LAMP7))
    assert method.predict_direct(Example("1", "u1", "just a tweet", None), style_profile(1)) == "just a tweet"


def test_copy_on_rating_task_fails_at_setup() -> None:
    with pytest.raises(ConfigError, match="copy"):
        make_method("copy").setup(MethodContext(task=LAMP3))


def test_user_majority_needs_labels() -> None:
    with pytest.raises(ConfigError, match="user-majority"):
        make_method("user-majority").setup(MethodContext(task=LAMP7))


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (("1", "1", "1", "5"), "1"),  # plain majority, even though 5 is the most recent
        (("5", "4", "4", "5", "3"), "5"),  # 4 and 5 tie (2 each); 5 was used more recently
        (("4", "5", "5", "4"), "4"),  # tie; 4 is the last item
        (("2",), "2"),
        (("3", "2", "1"), "1"),  # all tied: the most recent
    ],
)
def test_user_majority(scores: tuple[str, ...], expected: str) -> None:
    method = make_method("user-majority")
    method.setup(MethodContext(task=LAMP3))
    assert method.predict_direct(rating_example(), rating_profile(*scores)) == expected


def test_user_majority_strips_and_handles_empty_history() -> None:
    method = make_method("user-majority")
    method.setup(MethodContext(task=LAMP3))
    assert method.predict_direct(rating_example(), rating_profile(" 4", "4 ", "5")) == "4"
    assert method.predict_direct(rating_example(), UserProfile("r1", ())) == ""


# ------------------------------------------------------------------------------------- text


def setup_text(tokenizer, settings: dict, task=LAMP7, name: str = "text"):
    method = make_method(name, settings)
    method.setup(MethodContext(task=task, tokenizer=tokenizer))
    return method


def test_text_needs_a_tokenizer() -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        make_method("text").setup(MethodContext(task=LAMP7))


def test_text_k0_has_no_context(tiny_tokenizer) -> None:
    method = setup_text(tiny_tokenizer, {"k": 0})
    example = Example("1", "u1", TWEET_PROMPT + "the cat sat on the mat", None)
    batch = method.prepare([example], [style_profile(5)])
    assert batch.context_tokens == [0]
    assert batch.details == [{"used_items": [], "truncated_items": []}]
    expected = f"<|im_start|>user\n{example.input}<|im_end|>\n<|im_start|>assistant\n"
    assert batch.input_ids[0].tolist() == tiny_tokenizer(expected, add_special_tokens=False)["input_ids"]
    assert batch.prompt_tokens == [batch.input_ids.shape[1]]
    # `none` builds exactly the same prompt
    none = setup_text(tiny_tokenizer, {}, name="none").prepare([example], [style_profile(5)])
    assert none.input_ids.tolist() == batch.input_ids.tolist()


def test_text_recency_uses_last_two_items(tiny_tokenizer) -> None:
    method = setup_text(tiny_tokenizer, {"k": 2, "retriever": "recency"})
    profile = style_profile(6)
    example = Example("1", "u1", TWEET_PROMPT + "the cat sat on the mat", None)
    batch = method.prepare([example], [profile])
    assert batch.details[0]["used_items"] == [5, 4]
    assert batch.details[0]["truncated_items"] == []
    text = tiny_tokenizer.decode(batch.input_ids[0])
    assert '"tweet number 5 about the park", and "tweet number 4 about the park" are written by a person' in text
    assert "tweet number 3" not in text
    bare = len(tiny_tokenizer(f"<|im_start|>user\n{example.input}<|im_end|>\n<|im_start|>assistant\n",
                              add_special_tokens=False)["input_ids"])  # fmt: skip
    assert batch.context_tokens == [batch.prompt_tokens[0] - bare]
    assert batch.context_tokens[0] > 0


def test_text_left_pads_the_batch(tiny_tokenizer) -> None:
    method = setup_text(tiny_tokenizer, {"k": 1, "retriever": "recency"})
    examples = [
        Example("1", "u1", TWEET_PROMPT + "hi", None),
        Example("2", "u2", TWEET_PROMPT + "the team recommended the backyard over the weekend, mystery romance science", None),
    ]
    profiles = [style_profile(2, "u1"), style_profile(3, "u2")]
    batch = method.prepare(examples, profiles)
    ids, mask = batch.input_ids, batch.attention_mask
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert batch.prompt_tokens == mask.sum(-1).tolist()
    short = batch.prompt_tokens[0]
    assert short < batch.prompt_tokens[1] == ids.shape[1]
    pad = ids.shape[1] - short
    assert mask[0, :pad].tolist() == [0] * pad  # zeros on the left
    assert mask[0, pad:].tolist() == [1] * short
    assert mask[1].tolist() == [1] * ids.shape[1]
    assert (ids[0, :pad] == tiny_tokenizer.pad_token_id).all()
    assert tiny_tokenizer.decode(ids[0, pad:]).endswith("<|im_start|>assistant\n")
    assert batch.details[0]["used_items"] == [1]
    assert batch.details[1]["used_items"] == [2]


def test_text_bad_settings_fail_when_the_method_is_made() -> None:
    # before setup(), i.e. before any model is loaded
    with pytest.raises(ConfigError) as info:
        make_method("text", {"k": 2, "retriever": "xyz"})
    for name in ("'xyz'", "bm25", "dense", "recency", "random"):
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="k must be >= 0"):
        make_method("text", {"k": -1})


def test_constant_reference_answers_the_same_label_and_checks_it() -> None:
    from personalize.data.schema import Example, UserProfile
    from personalize.data.tasks import get_task

    rating = get_task("LaMP-3")
    method = make_method("constant", {"answer": "5"})
    method.setup(MethodContext(task=rating))
    profile = UserProfile("u", ({"text": "fine", "score": "1"},))
    assert method.predict_direct(Example("e", "u", "Rate this review: meh", None), profile) == "5"
    with pytest.raises(ConfigError, match="not a label"):
        make_method("constant", {"answer": "6"}).setup(MethodContext(task=rating))
    with pytest.raises(ConfigError, match="needs settings"):
        make_method("constant").setup(MethodContext(task=rating))
    with pytest.raises(ConfigError, match="label tasks"):
        make_method("constant", {"answer": "x"}).setup(MethodContext(task=LAMP7))
