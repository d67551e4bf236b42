"""``make demo``: personalization you can see, on synthetic users the adapters never trained on.

Synthetic users with distinct writing styles (seeded; labelled synthetic everywhere), split **by
user**: the comparison runs on held-out test users, so a method can only get a user's style right
by reading that user's history. The demo

1. trains E2P (1 soft token) briefly from scratch with SmolLM2-135M frozen, printing each epoch's
   dev loss with the user's own history and with another user's: training at work, the
   personalization gap opening;
2. runs ``none``, ``text`` (4 history items in the prompt) and the adapters shipped in
   ``adapters/`` (E2P-1 and PERSOMA-4, each with a shared LoRA, its input whitened and user
   steering of the model's hidden states, and their control, the same LoRA with a 1-token soft
   prompt, trained 6 to 12 epochs on this data's training users, groups of 4 of them answering
   the same sentences (``shared_inputs=4``), by ``configs/train/synthetic-style-*.json``, see
   their READMEs)
   on the same held-out users, each history-reading row again with other users' histories,
   and prints the quality, the two gains (task adaptation and personalization, user-level
   intervals), the style attributes with own vs another user's history, and the costs;
   writes ``runs/demo/`` (comparison.md/.json, report.html).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

DEMO_DATA = "synthetic-style:seed=0,n_users=480,items_per_user=16,examples_per_user=4,split_by=user"
SHIPPED = Path(__file__).resolve().parents[2] / "adapters"
ENCODER = "char-ngrams"


def shipped_adapter(name: str) -> str:
    """A synthetic-style adapter shipped in the repository's ``adapters/`` folder."""
    return str(SHIPPED / name)


def demo_config(quick: bool = False) -> dict[str, Any]:
    """The demo's comparison config (a plain dict, as a ``configs/*.json`` file would hold)."""
    return {
        "name": "demo",
        "data": DEMO_DATA,
        "split": "test",
        "limit": 16 if quick else 32,
        "model": "smollm2-135m",
        # one batch of the 32 examples: on 2 cores a decode step of 32 rows costs far less than two of
        # 16 (fixed work per layer and step), so each soft row's pass takes a third less (10 → 6-7 s
        # on an AMD EPYC); the text row, whose long prompts make it prefill-bound, is unchanged
        "eval": {"batch_size": 32, "decoding": {"postprocess": "clean", "no_repeat_ngram_size": 3}},
        "baseline": "text-k4",
        "report_samples": 6,
        "history_lengths": [10, 100],
        "history_examples": 1,
        # 3 interleaved passes (the fewest the bounds check accepts) of 1 example: the demo's
        # latency columns are a sketch; `personalize bench` is the measurement to quote
        "latency_examples": 1,
        "latency_new_tokens": 6,
        "latency_repeats": 3,
        "shuffled_ablation": True,
        # averaged over 3 derangements (the default) even here: with one example per user, one
        # derangement's "other" column moves by a few points with the draw
        "derangements": 1 if quick else 3,
        "methods": [
            {"name": "none", "method": "none", "settings": {"template": "system"}},
            {"name": "text-k4", "method": "text", "settings": {"retriever": "recency", "k": 4, "template": "system"}},
            # E2P with a shared rank-8 LoRA: the LoRA learns the task (shared by all users), so the
            # soft token only has to carry the user; its control is the same LoRA with a soft prompt.
            # Trained on this data's training users, groups of 4 answering the same sentences so that
            # only the user tells their answers apart (configs/train/synthetic-style-*.json).
            # E2P's user vector is whitened (input_norm whiten: standardised, case stopped at 0.92) and
            # also steers the model after layers 10 and 20 (steer_layers): through the soft token
            # alone, the upper-case users' spelling stayed at chance.
            {"name": "e2p-1-lora", "method": "e2p", "adapter": shipped_adapter("synthetic-style-e2p-1-lora8"),
             "control": "control-prompt-1-lora"},
            # PERSOMA-4 with the same recipe and budget, its MLP adapter (width 1024), its items whitened
            # (input_norm whiten): the Perceiver's soft tokens came out nearly the same for every user
            # (benchmarks/soft_token_probe.py); standardised items stopped at sign-off 0.85. Its same-size
            # control, a 4-token prompt with the LoRA, is not trained: it is held to the 1-token one.
            {"name": "persoma-4-lora", "method": "persoma", "adapter": shipped_adapter("synthetic-style-persoma-4-mlp-lora8"),
             "control": "control-prompt-1-lora"},
            {"name": "control-prompt-1-lora", "method": "prompt",
             "adapter": shipped_adapter("synthetic-style-prompt-1-lora8")},
        ],
    }


def demo_training(quick: bool = False) -> dict[str, Any]:
    """The short from-scratch E2P run that shows training at work (not a table row)."""
    # the shipped adapters' recipe (configs/train/synthetic-style-e2p.json), cut to one short epoch
    # on the plain training sentences
    return {"method": "e2p", "data": DEMO_DATA,
            # whitening needs more training users than components: the quick run's 64 examples come
            # from 64 users, so it keeps 32 of the shipped 128
            "adapter": {"num_tokens": 1, "encoder": ENCODER, "lora_rank": 8, "input_norm": "whiten",
                        "whiten_components": 32 if quick else 128, "steer_layers": [10, 20]},
            "epochs": 1, "lr": 3e-3, "batch_size": 8, "max_train_examples": 64 if quick else 192,
            "dev_limit": 32, "dev_eval": False, "patience": 10, "warmup_ratio": 0.05}


def run_demo(out: Path = Path("runs/demo"), quick: bool = False, console: Console | None = None,
             print_table: Callable[[list[dict[str, Any]], str], None] | None = None) -> list[dict[str, Any]]:
    from personalize import models
    from personalize.compare import run_comparison
    from personalize.compare.config import ComparisonConfig
    from personalize.training import TrainConfig, train

    console = console or Console()
    config = ComparisonConfig.from_dict(demo_config(quick), source="demo")
    training = TrainConfig.from_dict(demo_training(quick), source="demo")
    console.rule("[bold]personalize demo")
    console.print(
        f"Offline, on the CPU: {'about 1.5 minutes' if quick else 'about 2.5 minutes'} on 2 idle cores with AVX-512 bf16 "
        "(AMD EPYC), longer without it or on a busy machine (plus ~20 s once to convert the bundled model).\n"
        "  [yellow]Synthetic[/] users (seeded), each with a writing style (case, filler word, ending, spelling, "
        "sign-off),\n  split by user: the table is on [bold]held-out users[/] that no adapter trained on.\n"
        f"  1. training at work: E2P (1 soft token, {ENCODER} user vectors) from scratch for {training.epochs} "
        f"epoch on {training.max_train_examples} examples,\n"
        "     SmolLM2-135M-Instruct frozen; its dev loss with the user's own history and with another user's;\n"
        "  2. none, text (4 history items in the prompt), the shipped E2P-1 and PERSOMA-4 (each + a shared LoRA) and\n"
        "     their control (the same LoRA with a soft prompt that does not read the user)\n"
        f"     on {config.limit} test examples of held-out users, again with another user's history; the table "
        "splits\n     task adaptation (− none) from personalization (− control, own − other), user-level 95% "
        "intervals.\n"
        f"Results: {out}/ (comparison.md, comparison.json, report.html)."
    )
    start = time.perf_counter()
    loaded = models.load_base_model(config.model, dtype=config.dtype, device=config.device)
    console.print("[bold]1. training at work[/]")
    train(training, out / "train-e2p-1", loaded_model=loaded, show_progress=True, replace=True)
    console.print(f"[bold]2. the comparison on held-out users[/] ({time.perf_counter() - start:.0f} s so far)")
    rows = run_comparison(config, out, loaded_model=loaded,
                          log=lambda line: console.print(line, markup=False, highlight=False))
    if print_table is not None:
        print_table(rows, "demo: synthetic-style, held-out test users (synthetic data), SmolLM2-135M frozen")
    console.print(f"done in {time.perf_counter() - start:.0f} s. Report: {out / 'report.html'}")
    console.print("The same comparison on real LaMP-7 data: personalize compare --config configs/compare-lamp7.json")
    return rows
