"""``personalize train`` (a soft-token adapter) and ``demo`` (the main job, end to end)."""

from __future__ import annotations

from pathlib import Path

import typer

from personalize.cli.common import console, parse_settings, quiet_libraries, read_json_object, registry_help
from personalize.cli.compare import print_comparison
from personalize.errors import ConfigError
from personalize.methods.registry import METHODS, listing

SOFT_METHOD_HELP = registry_help(lambda: f"{listing(METHODS.names(family='soft'))} (`personalize methods` describes them).")


def train_cmd(
    method: str = typer.Option(..., help=SOFT_METHOD_HELP),
    data: str = typer.Option(..., help="A LaMP or native folder, or a synthetic task."),
    out: Path = typer.Option(..., help="Output folder: the best adapter, logs, checkpoint."),
    task: str | None = typer.Option(None),
    num_tokens: int | None = typer.Option(None, help="Soft tokens N."),
    placement: str | None = typer.Option(None, help="user_start, before_input, after_input, answer_start or system."),
    settings: str | None = typer.Option(None, help="Adapter settings: inline JSON or a JSON file."),
    config: Path | None = typer.Option(None, help="A full TrainConfig JSON file (other options override it)."),
    model: str | None = typer.Option(None, help="Base model (default smollm2-135m)."),
    epochs: int | None = typer.Option(None),
    batch_size: int | None = typer.Option(None),
    grad_accum: int | None = typer.Option(None),
    lr: float | None = typer.Option(None),
    max_train_examples: int | None = typer.Option(None, help="Only N training examples (spread over users)."),
    dev_limit: int | None = typer.Option(None, help="Only N dev examples (spread over users) for model selection."),
    limit_sample: str | None = typer.Option(None, help="How the limits pick examples: users (seeded, spread over "
                                                          "the users; default) or first (the first N in file order)."),
    select_on: str | None = typer.Option(None, help="Model selection: dev_loss (teacher-forced, own history; "
                                                       "default) or metric (the task's metric on a dev evaluation; "
                                                       "AUC on movielens-like)."),
    patience: int | None = typer.Option(None, help="Stop after this many epochs without a dev improvement."),
    stop_after: int | None = typer.Option(None, "--stop-after", help="Run only this many epochs of the --epochs schedule "
                                                                        "(the learning rate still decays over --epochs)."),
    dev_eval: bool | None = typer.Option(None, "--dev-eval/--no-dev-eval",
                                            help="Greedy dev evaluation every epoch (needed by --select-on metric)."),
    init_adapter: str | None = typer.Option(None, help="Start from this saved adapter's weights (same method and "
                                                           "settings): a longer schedule continued from a finished run."),
    init_control: str | None = typer.Option(None, help="Start E2P (or PERSOMA's MLP) as this saved control (a prompt "
                                                           "adapter, same soft-prompt and LoRA settings): its LoRA, and "
                                                           "its tokens until the user's part grows."),
    freeze_shared: bool | None = typer.Option(None, "--freeze-shared/--no-freeze-shared",
                                                 help="With --init-control: keep the control's LoRA frozen."),
    encoder: str | None = typer.Option(None, help="Encoder of the history items (minilm-l6, or llm:smollm2-135m for "
                                                     "the frozen base model's own mean-pooled hidden states)."),
    seed: int | None = typer.Option(None),
    dtype: str | None = typer.Option(None),
    compile: bool | None = typer.Option(None, "--compile/--no-compile",
                                           help="torch.compile the base model's layers while training (prefix adapters)."),
    augment: str | None = typer.Option(None, help="Extra training examples from the users' histories: none, "
                                                     "profile-loo (leave-one-out rewriting examples, input neutralized "
                                                     "by rule) or profile-paraphrase (input paraphrased by the base "
                                                     "model); LaMP-7."),
    augment_per_user: int | None = typer.Option(None, help="Profile items turned into examples per training user."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    replace: bool = typer.Option(False, help="Overwrite the adapter (and training run) already in --out; "
                                             "without it such a folder is refused."),
) -> None:
    """Train a soft-token adapter with the base LLM frozen; the best dev epoch is kept."""
    quiet_libraries()
    from personalize.training import TrainConfig, train

    base = read_json_object(config, "--config") if config is not None else {}
    if not isinstance(base.get("adapter", {}), dict):
        raise ConfigError(f"--config {config}: 'adapter' must be a JSON object")
    adapter = {**base.get("adapter", {}), **parse_settings(settings)}
    if num_tokens is not None:
        adapter["num_tokens"] = num_tokens
    if placement is not None:
        adapter["placement"] = placement
    if encoder is not None:
        adapter["encoder"] = encoder
    overrides = {"method": method, "data": data, "task": task, "model": model, "epochs": epochs, "batch_size": batch_size,
                 "grad_accum": grad_accum, "lr": lr, "max_train_examples": max_train_examples, "dev_limit": dev_limit,
                 "seed": seed, "dtype": dtype, "compile": compile, "augment": augment,
                 "augment_per_user": augment_per_user, "limit_sample": limit_sample, "select_on": select_on,
                 "patience": patience, "dev_eval": dev_eval, "init_adapter": init_adapter,
                 "init_control": init_control, "freeze_shared": freeze_shared,
                 "stop_after_epochs": stop_after}
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}, "adapter": adapter}
    cfg = TrainConfig.from_dict(merged, source=str(config) if config else "command line")
    summary = train(cfg, out, resume=resume, replace=replace)
    console.print(f"[green]done[/]: best dev {summary['best_dev']} at epoch {summary['best_epoch']}, "
                  f"{summary['trainable_parameters']:,} trainable parameters, {summary['train_seconds']:.0f} s, "
                  f"{summary['train_tokens_per_second']:.0f} tok/s; adapter in {out}")


def demo(
    quick: bool = typer.Option(False, help="Fewer examples (for smoke tests)."),
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its results."),
) -> None:
    """The main job: personalize generations for synthetic users with the bundled models."""
    quiet_libraries()
    from personalize.demo import run_demo

    run_demo(out=out, quick=quick, console=console, print_table=print_comparison)
