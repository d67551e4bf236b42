"""JsonConfig: JSON round trips, unknown keys, type and Literal checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from personalize.config import JsonConfig
from personalize.errors import ConfigError
from personalize.evaluation import EvalOptions
from personalize.generation import DecodingConfig
from personalize.methods.text import TextConfig


def test_text_config_round_trip(tmp_path) -> None:
    cfg = TextConfig(retriever="dense", k=3, template="list", max_prompt_tokens=None, max_item_tokens=64,
                     system_prompt="Be brief.")  # fmt: skip
    data = cfg.to_dict()
    assert data["retriever"] == "dense" and data["max_prompt_tokens"] is None
    assert TextConfig.from_dict(data) == cfg
    assert TextConfig.from_dict(json.loads(json.dumps(data))) == cfg
    path = tmp_path / "text.json"
    cfg.save(path)
    assert json.loads(path.read_text()) == data
    assert TextConfig.load(path) == cfg


def test_defaults_from_empty_dict() -> None:
    assert TextConfig.from_dict({}) == TextConfig()
    assert EvalOptions.from_dict({}) == EvalOptions()


def test_eval_options_nested_round_trip(tmp_path) -> None:
    opts = EvalOptions(mode="score", batch_size=4, seed=7, label_eos=False,
                       decoding=DecodingConfig(max_new_tokens=8, no_repeat_ngram_size=3, postprocess="clean"))  # fmt: skip
    data = opts.to_dict()
    assert data["decoding"] == {"max_new_tokens": 8, "no_repeat_ngram_size": 3, "repetition_penalty": 1.0,
                                "postprocess": "clean"}  # fmt: skip
    back = EvalOptions.from_dict(data)
    assert back == opts
    assert isinstance(back.decoding, DecodingConfig)
    path = tmp_path / "opts.json"
    opts.save(path)
    loaded = EvalOptions.load(path)
    assert loaded == opts and isinstance(loaded.decoding, DecodingConfig)
    # a partial decoding section keeps the other defaults
    partial = EvalOptions.from_dict({"decoding": {"postprocess": "clean"}})
    assert partial.decoding == DecodingConfig(postprocess="clean")


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        TextConfig.from_dict({"k": 2, "retreiver": "bm25"})
    message = str(info.value)
    assert "'retreiver'" in message and "retriever" in message  # the typo and the known keys
    with pytest.raises(ConfigError, match="batchsize"):
        EvalOptions.from_dict({"batchsize": 4})
    with pytest.raises(ConfigError, match="top_p"):
        EvalOptions.from_dict({"decoding": {"top_p": 0.9}})


def test_source_is_named() -> None:
    with pytest.raises(ConfigError, match="my-settings.json"):
        TextConfig.from_dict({"x": 1}, source="my-settings.json")


@pytest.mark.parametrize(
    ("cls", "data", "key"),
    [
        (TextConfig, {"k": "4"}, "k"),
        (TextConfig, {"k": True}, "k"),  # a bool is not an int
        (TextConfig, {"k": 2.0}, "k"),
        (TextConfig, {"max_prompt_tokens": "lots"}, "max_prompt_tokens"),
        (TextConfig, {"system_prompt": 3}, "system_prompt"),
        (EvalOptions, {"label_eos": "yes"}, "label_eos"),
        (EvalOptions, {"batch_size": None}, "batch_size"),
        (EvalOptions, {"decoding": {"repetition_penalty": "1.2"}}, "repetition_penalty"),
        (EvalOptions, {"decoding": "greedy"}, "DecodingConfig"),
    ],
)
def test_wrong_type(cls, data, key) -> None:
    with pytest.raises(ConfigError, match=key):
        cls.from_dict(data)


def test_accepted_types() -> None:
    assert TextConfig.from_dict({"max_prompt_tokens": None, "system_prompt": None}).max_prompt_tokens is None
    assert DecodingConfig.from_dict({"repetition_penalty": 2}).repetition_penalty == 2  # int for float is fine


def test_literal_check() -> None:
    with pytest.raises(ConfigError, match="fast"):
        EvalOptions.from_dict({"mode": "fast"})
    with pytest.raises(ConfigError, match="postprocess"):
        EvalOptions.from_dict({"decoding": {"postprocess": "tidy"}})
    for mode in ("auto", "generate", "score"):
        assert EvalOptions.from_dict({"mode": mode}).mode == mode


def test_non_object_and_bad_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="expected a JSON object"):
        TextConfig.from_dict([1, 2])  # type: ignore[arg-type]
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ConfigError, match="bad.json"):
        TextConfig.load(bad)
    with pytest.raises(ConfigError, match="absent.json"):
        TextConfig.load(tmp_path / "absent.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"k": "two"}))
    with pytest.raises(ConfigError, match="wrong.json"):
        TextConfig.load(wrong)


@dataclass(frozen=True)
class _Nested(JsonConfig):
    tags: list = None  # type: ignore[assignment]
    extra: dict | None = None
    choice: Literal["a", "b"] | None = None


def test_containers_and_optional_literal() -> None:
    assert _Nested.from_dict({"tags": ["x"], "extra": {"a": 1}, "choice": "b"}).choice == "b"
    assert _Nested.from_dict({"choice": None}).choice is None
    with pytest.raises(ConfigError, match="tags"):
        _Nested.from_dict({"tags": "x"})
    with pytest.raises(ConfigError, match="extra"):
        _Nested.from_dict({"extra": [1]})
    with pytest.raises(ConfigError, match="choice"):
        _Nested.from_dict({"choice": "c"})


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted((CONFIGS / "train").glob("*.json")), ids=lambda p: p.name)
def test_shipped_train_configs_load_strictly(path: Path) -> None:
    from personalize.methods.soft.adapter import ADAPTERS
    from personalize.training import TrainConfig

    config = TrainConfig.load(path)
    ADAPTERS.get(config.method).config_class.from_dict(config.adapter, source=str(path))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("compare-*.json")), ids=lambda p: p.name)
def test_shipped_comparison_configs_load_strictly(path: Path) -> None:
    from personalize.compare.config import load_comparison_config

    assert load_comparison_config(path).methods


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("compare-*.json")), ids=lambda p: p.name)
def test_shipped_comparison_configs_name_shipped_adapters_of_their_method(path: Path, monkeypatch) -> None:
    from personalize.compare.adapters import check_adapters
    from personalize.compare.config import load_comparison_config

    monkeypatch.chdir(CONFIGS.parent)  # the configs' adapter paths are relative to the repository root
    check_adapters(load_comparison_config(path))
