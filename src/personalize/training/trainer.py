"""Train a soft-token adapter on a frozen base LLM.

Length-bucketed batches (little padding), AdamW on the adapter's parameters only, linear warm-up
then cosine decay, gradient accumulation, bf16 autocast where the CPU (or GPU) supports it, loss
on the answer tokens only, an atomic checkpoint every epoch (``--resume`` continues after a kill),
seeded.

After every epoch the dev answers' teacher-forced loss is measured twice: with each user's own
history and with another user's (a seeded derangement of the dev users). Their difference, the
**personalization gap**, shows during training whether the adapter reads the user; the control
(``prompt``) has none by construction. Model selection and early stopping use the own-history dev
loss by default (``select_on="dev_loss"``): greedy ROUGE on a few dev examples can fall while the
adapter learns the user (an answer in the user's style that drops a word scores lower than the
input copied), so it hid exactly what personalization is. ``select_on="metric"`` selects on the
task's primary metric instead, from a dev evaluation (``dev_eval``: greedy, or label scoring where
the task has labels). On ``movielens-like`` that metric is AUC over the dev users' records, since
a one-token answer's loss moves little while the ranking of users moves (for xattn with one block
both rules kept the same epoch: README, MovieLens).

Output folder: the best adapter (``adapter_config.json`` + ``adapter_model.safetensors``),
``train_config.json``, ``train_log.jsonl`` (one line per epoch), ``dev/`` (the best dev
evaluation: predictions.json, results.json), ``train_summary.json``, ``checkpoint/``.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from personalize.config import JsonConfig
from personalize.errors import ConfigError
from personalize.evaluation.harness import EvalOptions, evaluate, seed_everything
from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
from personalize.io import atomic_write_json
from personalize.models.llm import decoder_layers
from personalize.training.checkpoint import load_checkpoint, save_checkpoint
from personalize.training.output import guard_output


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Everything a training run depends on (saved as ``train_config.json``).

    Attributes:
        method: a soft-token method (``personalize methods`` lists them, family ``soft``).
        adapter: the method's settings (e.g. ``{"num_tokens": 1, "placement": "user_start"}``).
        data / task: the data source and task, as for ``personalize eval``.
        max_train_examples / dev_limit: N examples of train / dev (``None``: all), a seeded sample
            spread over the users (``limit_sample="users"``) or the first N (``"first"``).
        select_on: ``dev_loss`` (teacher-forced, own history; lower is better) or ``metric``
            (the task's primary metric on the dev evaluation; AUC where the task ranks).
        dev_eval: run the greedy dev evaluation every epoch (needed for ``select_on="metric"``;
            otherwise only informative, and it costs a generation pass).
        max_batch_area: cap on ``rows x longest_length**2`` of a training batch (``None``: no
            cap); the default, 2**21, keeps the attention kept for backward near 4 GB on SmolLM2
            (8 rows up to 512 tokens, one row of 1,448).
        max_target_tokens: answers are cut to this many tokens for the loss.
        patience: stop after this many epochs without a dev improvement.
        stop_after_epochs: run only this many epochs of the ``epochs`` schedule (the learning
            rate still warms up and decays over ``epochs``): equal budgets for a lever study
            whose runs share one schedule. ``None``: all of them.
        autocast: bf16 autocast when the base model runs in bf16.
        compile: run the base model's decoder layers through ``torch.compile`` while training
            (prefix adapters only). It fuses the elementwise forward and backward work (norms,
            rotary, SiLU, softmax) that otherwise costs as much as the matmuls on CPU; the first
            run pays a one-off compilation (about 50 s for SmolLM2, seconds once cached on disk).
        dev_loss: also report the dev answers' mean token loss each epoch (teacher-forced).
        augment: extra training examples from the users' histories: ``none``, ``profile-loo``
            (leave-one-out rewriting examples built from profile items, input neutralized by
            rule) or ``profile-paraphrase`` (the same, input paraphrased by the frozen base
            model; see :mod:`personalize.data.augment`). Dev data is never augmented.
        augment_per_user: profile items turned into examples per training user.
        init_adapter: start from this saved adapter's weights (same method and settings, loaded
            strictly) instead of a fresh initialisation: a longer schedule continued from a
            finished run, with a new warm-up and decay.
        eval: harness options for the dev evaluation (mode, batch size, decoding).
    """

    method: str
    data: str
    adapter: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    train_split: str = "train"
    dev_split: str = "dev"
    model: str = "smollm2-135m"
    dtype: str = "auto"
    device: str = "auto"
    epochs: int = 2
    batch_size: int = 8
    max_batch_area: int | None = 2**21
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    max_target_tokens: int = 64
    max_train_examples: int | None = None
    dev_limit: int | None = None
    limit_sample: str = "users"
    select_on: str = "dev_loss"
    dev_eval: bool = True
    patience: int = 1
    stop_after_epochs: int | None = None
    seed: int = 0
    autocast: bool = True
    compile: bool = False
    dev_loss: bool = True
    augment: str = "none"
    augment_per_user: int = 3
    init_adapter: str | None = None
    init_control: str | None = None
    freeze_shared: bool = False
    eval: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.select_on not in SELECT_ON:
            raise ConfigError(f"select_on must be one of {', '.join(SELECT_ON)}, not {self.select_on!r}")
        if self.select_on == "metric" and not self.dev_eval:
            raise ConfigError("select_on='metric' needs the greedy dev evaluation (dev_eval: true)")
        if self.select_on == "dev_loss" and not self.dev_loss:
            raise ConfigError("select_on='dev_loss' needs the dev loss (dev_loss: true)")
        if self.init_adapter and self.init_control:
            raise ConfigError("init_adapter and init_control both set: start from one saved adapter")
        if self.freeze_shared and not self.init_control:
            raise ConfigError("freeze_shared keeps a control's LoRA: it needs init_control")
        from personalize.validation import check_train_config

        check_train_config(self)  # ranges, when the config is read, before any model loads


SELECT_ON = ("dev_loss", "metric")


@contextlib.contextmanager
def attention_implementation(model: torch.nn.Module, name: str) -> Iterator[None]:
    """Run ``model`` with another attention implementation inside the block.

    Training uses ``eager`` attention: on CPU, the backward of PyTorch's fused SDPA kernel took
    14x its forward (0.94 s of a 2.25 s step for SmolLM2, batch 8 x 100 tokens), the eager one
    a few matmuls; forward results agree (relative gradient difference 1e-4 in fp32).
    """
    setter = getattr(model, "set_attn_implementation", None)
    previous = getattr(model.config, "_attn_implementation", None)
    if setter is None or previous is None or previous == name:
        yield
        return
    setter(name)
    try:
        yield
    finally:
        setter(previous)


class CompiledLayers:
    """``torch.compile`` for a frozen base model's decoder layers, switched on only inside
    :meth:`active` so that generation and label scoring (KV cache, other shapes) stay eager.

    Each layer's ``forward`` is compiled once (``dynamic=True``: length buckets change the
    sequence length every batch) and set as an instance attribute for the block; leaving the
    block deletes it, which restores the class's own ``forward``. Adapters that hook into the
    base model (LoRA, cross-attention) are not compiled: ``enabled`` is then ``False``.
    """

    def __init__(self, model: torch.nn.Module, requested: bool) -> None:
        layers = decoder_layers(model.base) if requested else None
        self.reason = None
        if requested and layers is None:
            self.reason = "the base model has no decoder layer list"
        elif requested and model.has_hooks:
            self.reason = f"the {model.method} adapter hooks into the base model"
        self.enabled = layers is not None and not model.has_hooks
        self._layers = list(layers) if self.enabled else []
        self._compiled = [torch.compile(layer.forward, dynamic=True) for layer in self._layers]

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        for layer, compiled in zip(self._layers, self._compiled):
            layer.forward = compiled
        try:
            yield
        finally:
            for layer in self._layers:
                layer.__dict__.pop("forward", None)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def length_buckets(lengths: list[int], batch_size: int, max_batch_area: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted, then chunked).

    ``max_batch_area`` caps ``rows x longest_length**2`` per batch: training keeps every
    layer's attention probabilities ``[rows, heads, T, T]`` for the backward pass, so a batch
    of 8 reviews of 1,100 tokens needs about 23 GB on SmolLM2. Long examples therefore go in
    smaller batches (at least one example each).
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        too_wide = max_batch_area is not None and (len(current) + 1) * lengths[i] ** 2 > max_batch_area
        if current and (len(current) == batch_size or too_wide):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:.0f} tok/s"),
                    TimeElapsedColumn(), TimeRemainingColumn())


@guard_output
def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, show_progress: bool = True,
          loaded_model: Any = None) -> dict[str, Any]:
    """Train ``config.method`` and write the best adapter into ``out_dir``.

    Args:
        resume: continue from ``out_dir/checkpoint`` (same config required).
        replace: (keyword, see :func:`~personalize.training.output.guard_output`) overwrite the
            adapter already in ``out_dir``; without it such a folder is refused. The folder is
            locked for the run.
        loaded_model: an already loaded :class:`LoadedModel` (tests, sweeps); else ``config.model``.

    Returns:
        The training summary (also written to ``train_summary.json``).
    """
    from personalize.data.augment import NEEDS_PARAPHRASER, augment, check_augment
    from personalize.data.loading import load_dataset
    from personalize.evaluation.soft_method import SoftPrefixMethod
    from personalize.methods.soft.adapter import ADAPTERS, make_feature_builder
    from personalize.modeling import PersonalizedModel
    from personalize.models import load_base_model

    check_augment(config.augment)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "train_config.json"
    if resume and config_path.exists():
        saved = TrainConfig.load(config_path)
        if saved != config:
            raise ConfigError(f"--resume with different settings than {config_path}; use a new --out or the same settings")
    elif not resume and (out / "checkpoint").exists():
        raise ConfigError(f"{out} already holds a training run; pass --resume to continue it, --replace to discard "
                          "it, or choose another --out")
    config.save(config_path)
    # the code this run starts from: a long run outlives commits made while it trains
    source_commit = git_commit()

    seed_everything(config.seed)
    kind = ADAPTERS.get(config.method)
    adapter_config = kind.config_class.from_dict(config.adapter, source="adapter settings")
    options = EvalOptions.from_dict({"seed": config.seed, **config.eval}, source="eval settings")
    loaded = loaded_model or load_base_model(config.model, dtype=config.dtype, device=config.device)
    tokenizer = loaded.tokenizer
    train_ds = load_dataset(config.data, config.train_split, config.task).limit(
        config.max_train_examples, sample=config.limit_sample, seed=config.seed)
    real_train_examples = len(train_ds.examples)
    paraphraser = None
    if config.augment in NEEDS_PARAPHRASER:
        from personalize.training.paraphrase import ModelParaphraser

        paraphraser = ModelParaphraser(loaded, train_ds.task, options.decoding, batch_size=options.batch_size,
                                       show_progress=show_progress)
    train_ds = augment(train_ds, config.augment, config.augment_per_user, config.seed, paraphraser)
    dev_ds = load_dataset(config.data, config.dev_split, config.task or train_ds.task.name).limit(
        config.dev_limit, sample=config.limit_sample, seed=config.seed)
    task = train_ds.task

    features = make_feature_builder(config.method, adapter_config, task)
    encoder_dim = 0  # the control reads no user features
    if features.embedder is not None:
        features.precompute([*train_ds.profiles.values(), *dev_ds.profiles.values()])
        encoder_dim = features.embedder.dim
    model = PersonalizedModel.create(loaded.model, config.method, adapter_config, base_name=loaded.name, encoder_dim=encoder_dim)
    if features.reads_profile:  # before init/resume, which bring fitted statistics of their own
        model.adapter.fit_inputs(lambda: features(list(train_ds.profiles.values())))
    if config.init_adapter and not resume:
        _init_from(model, config.init_adapter, loaded.name)
    if config.init_control and not resume:
        _init_from_control(model, config.init_control, loaded.name)
    if config.freeze_shared:
        for name, param in model.adapter.named_parameters():
            if name.startswith("lora."):
                param.requires_grad_(False)
    model.to(loaded.device)
    layout = kind.layout(tokenizer, task, adapter_config)  # where this method's tokens go
    eos = tokenizer.eos_token_id

    def tokenized(dataset):
        kept = [e for e in dataset.examples if e.output is not None]
        splits = [layout.split(e.input) for e in kept]
        targets = [tokenizer(e.output.strip(), add_special_tokens=False)["input_ids"][: config.max_target_tokens] + [eos]
                   for e in kept]
        return kept, splits, targets

    examples, splits, targets = tokenized(train_ds)
    if not examples:
        raise ConfigError(f"no training examples with outputs in {train_ds.source} ({config.train_split})")
    dev_examples, dev_splits, dev_targets = tokenized(dev_ds)
    if config.select_on == "metric" and task.primary_metric == "auc" and len({e.output.strip() for e in dev_examples}) < 2:
        raise ConfigError(f"select_on='metric' ranks epochs by dev AUC, and the {len(dev_examples)} dev examples of "
                          f"{dev_ds.source} have one answer only; use more dev examples or select_on='dev_loss'")
    # the same dev answers with another user's history: the personalization gap of each epoch
    other_dev = None
    if features.reads_profile and len({e.user_id for e in dev_examples}) >= 2:
        from personalize.data.ablation import shuffle_profiles

        other_dev = shuffle_profiles(dev_ds, config.seed)
    lengths = [len(p) + len(s) + len(t) for (p, s), t in zip(splits, targets)]
    batches = length_buckets(lengths, config.batch_size, config.max_batch_area)
    steps_per_epoch = math.ceil(len(batches) / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    warmup = int(config.warmup_ratio * total_steps)

    params = [p for p in model.adapter.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    state = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "bad_epochs": 0, "train_seconds": 0.0,
             "train_tokens": 0}
    if resume:
        restored = load_checkpoint(out, model.adapter, optimizer)
        if restored is not None:
            state.update(restored)
    use_autocast = config.autocast and loaded.dtype == torch.bfloat16
    device_type = loaded.device.type
    metric, higher = task.primary_metric, task.higher_is_better
    log_path = out / "train_log.jsonl"
    compiled = CompiledLayers(model, config.compile)
    if compiled.reason and show_progress:
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]compile skipped[/]: {compiled.reason}; training runs eager")

    for epoch in range(state["epoch"], config.epochs):
        if state["bad_epochs"] >= config.patience:
            break  # early stopping (also when resuming a run that had already stopped)
        if config.stop_after_epochs is not None and epoch >= config.stop_after_epochs:
            break
        torch.manual_seed(config.seed + epoch)
        order = list(range(len(batches)))
        random.Random(config.seed + epoch).shuffle(order)
        model.train()
        progress = _progress() if show_progress else None
        bar = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=len(order), loss=0.0, tps=0.0) if progress else None
        if progress:
            progress.start()
        epoch_start, epoch_tokens, losses = time.perf_counter(), 0, []
        try:
            with attention_implementation(loaded.model, "eager"), compiled.active():
                for position, batch_index in enumerate(order):
                    idx = batches[batch_index]
                    profiles = [train_ds.profile(examples[i]) for i in idx]
                    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_autocast):
                        queries = [task.query_text(examples[i].input) for i in idx]
                        batch = model.embed([splits[i][0] for i in idx], [splits[i][1] for i in idx], features(profiles, queries),
                                            [targets[i] for i in idx], pad_token_id=tokenizer.pad_token_id,
                                            padding_side="right")
                        loss = model(batch, cache_shared_prefix=not compiled.enabled)
                    (loss / config.grad_accum).backward()
                    losses.append(loss.item())
                    epoch_tokens += int(batch.attention_mask.sum())
                    if (position + 1) % config.grad_accum == 0 or position == len(order) - 1:
                        for group in optimizer.param_groups:
                            group["lr"] = config.lr * lr_factor(state["step"], total_steps, warmup)
                        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                        state["step"] += 1
                    if progress:
                        elapsed = time.perf_counter() - epoch_start
                        progress.update(bar, advance=1, loss=sum(losses[-20:]) / len(losses[-20:]), tps=epoch_tokens / max(elapsed, 1e-9))
        finally:
            if progress:
                progress.stop()
        epoch_seconds = time.perf_counter() - epoch_start
        state["train_seconds"] += epoch_seconds
        state["train_tokens"] += epoch_tokens

        model.eval()
        dev_loss = dev_loss_other = None
        if config.dev_loss and dev_examples:
            def loss_on(dataset):
                # the same answers in the same order; only whose history each example reads differs
                kept = [e for e in dataset.examples if e.output is not None]
                return target_loss(model, dataset, kept, dev_splits, dev_targets, features, config.batch_size,
                                   tokenizer.pad_token_id, use_autocast, device_type)

            dev_loss = loss_on(dev_ds)
            dev_loss_other = loss_on(other_dev) if other_dev is not None else None
        dev = None
        if config.dev_eval:
            dev = evaluate(SoftPrefixMethod.from_model(model), dev_ds, model=loaded, options=options,
                           show_progress=show_progress)
            dev.write(out / "dev-last")
        if config.select_on == "dev_loss":
            value, lower_better = dev_loss, True
        else:
            value, lower_better = dev["metrics"][metric], not higher
        improved = state["best"] is None or (value < state["best"] if lower_better else value > state["best"])
        if improved:
            state.update(best=value, best_epoch=epoch + 1, bad_epochs=0)
            model.save_pretrained(out, extra={"task": task.name, "train_config": config.to_dict()})
            if dev is not None:
                _replace_dir(out / "dev-last", out / "dev")
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        gap = dev_loss_other - dev_loss if dev_loss_other is not None and dev_loss is not None else None
        entry = {"epoch": epoch + 1, "train_loss": sum(losses) / len(losses), "dev_loss": dev_loss,
                 "dev_loss_other_user": dev_loss_other, "personalization_gap": gap,
                 "dev": dev["metrics"] if dev is not None else None,
                 "seconds": round(epoch_seconds, 1), "tokens_per_second": round(epoch_tokens / epoch_seconds, 1),
                 "improved": improved}
        if show_progress:
            from rich.console import Console

            Console().print(_epoch_line(entry, metric), highlight=False)  # a result, not a warning
        with log_path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        save_checkpoint(out, model.adapter, optimizer, state)

    summary = {
        "method": config.method,
        "task": task.name,
        "synthetic": task.synthetic,
        "adapter_config": model.adapter_config(),
        "trainable_parameters": model.trainable_parameters(),
        "train_examples": len(examples),
        "augmented_examples": len(train_ds.examples) - real_train_examples,
        "augment_skipped": {k: v for k, v in train_ds.skipped.items() if k.startswith("paraphrase")},
        "paraphrases_generated": paraphraser.generated if paraphraser is not None else 0,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "selected_on": config.select_on,
        "best_dev": {"dev_loss" if config.select_on == "dev_loss" else metric: state["best"]},
        "train_seconds": round(state["train_seconds"], 1),
        "train_tokens_per_second": round(state["train_tokens"] / max(state["train_seconds"], 1e-9), 1),
        "compiled": compiled.enabled,
        "model": loaded.info(),
        "config": config.to_dict(),
        "versions": package_versions(),
        "machine": machine(),
        "git": source_commit,
        "created": now_iso(),
    }
    atomic_write_json(out / "train_summary.json", summary)
    return summary


def _read_saved_adapter(option: str, folder: str, method: str, base_name: str, wanted: str) -> tuple[dict, dict]:
    """The ``(adapter_config.json, weights)`` of the adapter that ``option`` names, refused in one
    line unless it is a ``method`` adapter for ``base_name`` (``wanted`` says what was expected)."""
    from safetensors.torch import load_file

    from personalize.modeling import ADAPTER_WEIGHTS, read_adapter_config

    saved = read_adapter_config(folder)
    if saved["method"] != method or saved["base_model"] != base_name:
        raise ConfigError(f"{option} {folder} holds a {saved['method']!r} adapter for {saved['base_model']!r}, "
                          f"not {wanted} for {base_name!r}")
    try:
        return saved, load_file(str(Path(folder) / ADAPTER_WEIGHTS))
    except OSError as exc:
        raise ConfigError(f"{option} {folder}: weights do not load: {exc}") from None


def _init_from(model: Any, folder: str, base_name: str) -> None:
    """Copy a saved adapter's weights into ``model`` (same method, settings and base model)."""
    saved, state = _read_saved_adapter("init_adapter", folder, model.method, base_name, repr(model.method))
    if json.loads(json.dumps(saved["config"])) != json.loads(json.dumps(model.config.to_dict())):  # tuples vs lists
        raise ConfigError(f"init_adapter {folder} was trained with other adapter settings: {saved['config']}")
    try:
        model.adapter.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"init_adapter {folder}: weights do not load: {exc}") from None


def _init_from_control(model: Any, folder: str, base_name: str) -> None:
    """Start ``model``'s adapter as the saved control in ``folder`` (see ``init_control``)."""
    from personalize.methods.soft.adapter import SHARED_SETTINGS, start_as_control

    saved, state = _read_saved_adapter("init_control", folder, "prompt", base_name, "a 'prompt' control")
    own = json.loads(json.dumps(model.config.to_dict()))  # tuples vs lists
    differ = [k for k in SHARED_SETTINGS if saved["config"].get(k) != own.get(k)]
    if differ:
        raise ConfigError(f"init_control {folder} was trained with other shared settings: "
                          + ", ".join(f"{k} {saved['config'].get(k)!r} (here {own.get(k)!r})" for k in differ))
    start_as_control(model.adapter, state)


def _epoch_line(entry: dict[str, Any], metric: str) -> str:
    """One line per epoch: the losses, the personalization gap and the dev metric."""
    parts = [f"epoch {entry['epoch']}: train loss {entry['train_loss']:.3f}"]
    if entry["dev_loss"] is not None:
        parts.append(f"dev loss {entry['dev_loss']:.3f}")
    if entry["dev_loss_other_user"] is not None:
        parts.append(f"with another user's history {entry['dev_loss_other_user']:.3f} "
                     f"(personalization gap {entry['personalization_gap']:+.3f})")
    if entry["dev"] is not None:
        parts.append(f"dev {metric} {entry['dev'][metric]:.3f}")
    return ", ".join(parts) + (" *" if entry["improved"] else "")


@torch.no_grad()
def target_loss(model, dataset, examples, splits, targets, features, batch_size, pad_id, use_autocast, device_type) -> float:
    """Mean cross-entropy per answer token (teacher-forced) over ``examples``."""
    total, count = 0.0, 0
    for first in range(0, len(examples), batch_size):
        idx = range(first, min(first + batch_size, len(examples)))
        profiles = [dataset.profile(examples[i]) for i in idx]
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_autocast):
            queries = [dataset.task.query_text(examples[i].input) for i in idx]
            batch = model.embed([splits[i][0] for i in idx], [splits[i][1] for i in idx], features(profiles, queries),
                                [targets[i] for i in idx], pad_token_id=pad_id)
            n = int((batch.labels[:, 1:] != -100).sum())
            total += float(model(batch)) * n
        count += n
    return total / max(count, 1)


def _replace_dir(src: Path, dst: Path) -> None:
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    src.rename(dst)
