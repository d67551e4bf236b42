"""The configuration of a comparison: one dataset, one base model, several methods.

A comparison file is JSON (or YAML, by its ``.yaml``/``.yml`` suffix)::

    {
      "name": "lamp7",
      "data": "../shared/data/lamp7",          # as for `personalize eval --data`
      "task": "LaMP-7",                        # optional: what the data says
      "split": "dev",
      "model": "smollm2-135m",
      "limit": 200,                            # optional: N examples spread over users (--limit overrides)
      "eval": {"mode": "auto", "batch_size": 16, "decoding": {"postprocess": "clean"}},
      "baseline": "text-k4",                   # whose context tokens define the compression ratio
      "methods": [
        {"name": "none", "method": "none"},
        {"name": "text-k4", "method": "text", "settings": {"k": 4, "retriever": "bm25"}},
        {"name": "e2p-1", "method": "e2p", "adapter": "adapters/lamp7-e2p-1"},
        {"name": "e2p-1-inline", "method": "e2p", "train": {"adapter": {"num_tokens": 1}, "epochs": 1}}
      ],
      "report_samples": 8,
      "history_lengths": [10, 100, 1000]
    }

Relative paths (``data``, ``adapter``) are relative to the working directory, as on the command
line. Unknown keys are errors everywhere, naming the key.

A soft-token method (``personalize methods`` lists them, family ``soft``) takes exactly one
of ``adapter`` (a trained adapter folder) or ``train`` (the :class:`~personalize.training.TrainConfig`
fields except ``data``, ``method`` and ``model``, which come from the comparison; its ``eval``
defaults to the comparison's ``eval``). Other methods take neither.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personalize.config import JsonConfig, check_type
from personalize.errors import ConfigError
from personalize.evaluation.harness import EvalOptions

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_FROM_COMPARISON = ("data", "method", "model")


@dataclass(frozen=True)
class MethodSpec(JsonConfig):
    """One row of the comparison.

    Attributes:
        name: the row's name, unique; also its folder name under ``runs/`` (and ``train/``).
        method: a registered method (``none``, ``text``, ``copy``, ``e2p``...).
        settings: the method's settings (e.g. ``{"k": 4, "retriever": "bm25"}`` for ``text``).
        adapter: a trained adapter folder (soft-token methods).
        train: train the adapter first, with these :class:`TrainConfig` fields (soft-token methods).
        control: the row that is this row's same-size non-personalized control (e.g. the
            ``prompt`` row with as many soft tokens): the table shows this row minus it.
    """

    name: str
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    train: dict[str, Any] | None = None
    control: str | None = None

    @property
    def is_soft(self) -> bool:
        return is_soft_method(self.method)


@dataclass(frozen=True)
class ComparisonConfig(JsonConfig):
    """A comparison of methods on the same examples with the same base model and decoding.

    Attributes:
        name: the comparison's name (the default output folder is ``runs/compare/<name>``).
        data / task / split: the examples, as for ``personalize eval``.
        model / dtype / device: the base model, loaded once for every method.
        encoder: sentence encoder for methods that need one (dense retrieval).
        limit: only N examples of ``split`` (``None``: all), picked by ``limit_sample``.
        limit_sample: ``users`` (a seeded sample spread over the users) or ``first`` (the first N
            in file order).
        eval: harness options (mode, batch size, seed, decoding), the same for every method.
        baseline: the row whose mean context tokens define the compression ratio of every row
            (``None``: no ratios).
        methods: the rows.
        report_samples: examples shown in the HTML report with every method's output.
        history_lengths: history sizes (items) at which time to first token is measured.
        history_examples: examples measured per history size.
        latency_examples: examples for the time-to-first-token and decode-speed measurement.
        latency_new_tokens: tokens generated for the decode-speed measurement.
        latency_repeats: interleaved passes over the model-based rows for the latency columns
            (median and quartiles of the passes; see :mod:`personalize.compare.latency`).
        shuffled_ablation: also evaluate every row that reads the user's history with another
            user's history instead (``eval --shuffle-profiles``) and report the paired difference:
            whether the row's gain comes from the user at all.
        derangements: how many seeded derangements of the users the ablation averages over.
    """

    name: str
    data: str
    methods: tuple[MethodSpec, ...]
    task: str | None = None
    split: str = "dev"
    model: str = "smollm2-135m"
    dtype: str = "auto"
    device: str = "auto"
    encoder: str = "minilm-l6"
    limit: int | None = None
    limit_sample: str = "users"
    eval: EvalOptions = field(default_factory=EvalOptions)
    baseline: str | None = None
    report_samples: int = 8
    history_lengths: tuple[int, ...] = (10, 100, 1000)
    history_examples: int = 3
    latency_examples: int = 8
    latency_new_tokens: int = 32
    latency_repeats: int = 5
    shuffled_ablation: bool = False
    derangements: int = 3

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"comparison name {self.name!r} must be letters, digits, '.', '_', '+' or '-'")
        if not self.methods:
            raise ConfigError("a comparison needs at least one method")
        names = [m.name for m in self.methods]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"method names must be unique; repeated: {dupes}")
        if self.baseline is not None and self.baseline not in names:
            raise ConfigError(f"baseline {self.baseline!r} is not one of the methods {names}")
        for key in ("report_samples", "history_examples", "latency_examples", "latency_new_tokens", "latency_repeats"):
            if getattr(self, key) < (0 if key == "report_samples" else 1):
                raise ConfigError(f"{key} must be {'>= 0' if key == 'report_samples' else '>= 1'}, got {getattr(self, key)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be positive, got {self.limit}")
        if self.derangements < 1:
            raise ConfigError(f"derangements must be >= 1, got {self.derangements}")
        for spec in self.methods:
            if spec.control is not None and (spec.control not in names or spec.control == spec.name):
                raise ConfigError(f"row {spec.name!r}: control {spec.control!r} is not another row of the comparison")
        if any(n < 1 for n in self.history_lengths):
            raise ConfigError(f"history_lengths must be positive, got {list(self.history_lengths)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> ComparisonConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(known)}")
        missing = [k for k in ("name", "data", "methods") if k not in data]
        if missing:
            raise ConfigError(f"{source}: missing key(s) {missing}")
        hints = typing.get_type_hints(cls)
        for key, value in data.items():
            if key not in ("methods", "eval"):
                check_type(hints[key], value, f"{source}: {cls.__name__}.{key}")
        raw_methods = data["methods"]
        if not isinstance(raw_methods, (list, tuple)):
            raise ConfigError(f"{source}: methods must be a list of {{name, method, ...}} objects")
        methods = tuple(MethodSpec.from_dict(m, source=f"{source}: methods[{i}]") for i, m in enumerate(raw_methods))
        options = EvalOptions.from_dict(data.get("eval", {}), source=f"{source}: eval")
        fields = {k: v for k, v in data.items() if k not in ("methods", "eval")}
        if "history_lengths" in fields:
            fields["history_lengths"] = tuple(fields["history_lengths"])
        config = cls(**fields, methods=methods, eval=options)
        for i, spec in enumerate(methods):
            validate_method(spec, config, f"{source}: methods[{i}] ({spec.name})")
        return config

    def only(self, names: Sequence[str]) -> ComparisonConfig:
        """The same comparison restricted to the rows ``names``, the controls they name and the
        ``none`` rows (what the − control and − none columns subtract), in the config's order.

        The baseline row stays only if it is kept (otherwise no compression ratios): rerunning one
        row of a long comparison should not rerun the text baseline's derangements too.

        Raises:
            ConfigError: no name, or a name that is not a row of this comparison.
        """
        rows = [m.name for m in self.methods]
        if not names:
            raise ConfigError(f"name at least one row of {self.name}: {', '.join(rows)}")
        unknown = [n for n in names if n not in rows]
        if unknown:
            raise ConfigError(f"{self.name} has no row {', '.join(map(repr, unknown))}; its rows: {', '.join(rows)}")
        keep = set(names) | {m.control for m in self.methods if m.name in names and m.control}
        keep |= {m.name for m in self.methods if m.method == "none"}
        return dataclasses.replace(self, methods=tuple(m for m in self.methods if m.name in keep),
                                   baseline=self.baseline if self.baseline in keep else None)

    def train_config(self, spec: MethodSpec) -> Any:
        """The :class:`~personalize.training.TrainConfig` of an inline-trained ``spec``."""
        from personalize.training import TrainConfig

        assert spec.train is not None
        fields: dict[str, Any] = {"task": self.task, "dtype": self.dtype, "device": self.device,
                                  "eval": self.eval.to_dict(), **spec.train}
        fields.update(method=spec.method, data=self.data, model=self.model)
        return TrainConfig.from_dict(fields, source=f"methods {spec.name!r} train")

    @classmethod
    def load(cls, path: str | Path) -> ComparisonConfig:  # type: ignore[override]
        """Read a JSON or YAML (``.yaml``/``.yml``) comparison file."""
        return load_comparison_config(path)


def load_comparison_config(path: str | Path) -> ComparisonConfig:
    """Read and validate a comparison file (JSON, or YAML by suffix)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read comparison config {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json/yaml parse errors carry the position
        raise ConfigError(f"{path} is not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                          f"{' '.join(str(exc).split())}") from None
    return ComparisonConfig.from_dict(data, source=str(path))


def is_soft_method(method: str) -> bool:
    """Whether registered method ``method`` is a soft-token method (evaluated from an adapter)."""
    from personalize.methods import METHODS

    return METHODS.get(method).soft


def validate_method(spec: MethodSpec, config: ComparisonConfig, where: str) -> None:
    """Check ``spec`` without loading anything: a known method, valid settings, and ``adapter``
    xor ``train`` exactly for soft-token methods."""
    from personalize.methods import make_method

    if not _NAME.match(spec.name):
        raise ConfigError(f"{where}: name {spec.name!r} must be letters, digits, '.', '_', '+' or '-' (it names a folder)")
    try:
        soft = is_soft_method(spec.method)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if soft:
        if "adapter" in spec.settings:
            raise ConfigError(f"{where}: give the adapter folder as the method's 'adapter' key, not in settings")
        if (spec.adapter is None) == (spec.train is None):
            raise ConfigError(f"{where}: a {spec.method!r} method needs exactly one of 'adapter' (a trained adapter "
                              "folder) or 'train' (train it first, with these settings)")
        if spec.train is not None:
            clash = [k for k in _FROM_COMPARISON if k in spec.train]
            if clash:
                raise ConfigError(f"{where}: train settings take {clash} from the comparison; remove them")
            config.train_config(spec)  # ConfigError on unknown or mistyped training fields
    elif spec.adapter is not None or spec.train is not None:
        raise ConfigError(f"{where}: method {spec.method!r} has no adapter; 'adapter' and 'train' are for "
                          "soft-token methods")
    try:
        make_method(spec.method, spec.settings)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
