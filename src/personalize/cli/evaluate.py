"""``personalize score``, ``eval`` and ``generate``: a method's answers and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from personalize.cli.common import build_method, console, parse_settings, print_json, quiet_libraries, registry_help
from personalize.errors import ConfigError
from personalize.methods.registry import METHODS, listing

# help texts list what the method registry holds (a plugin's methods too, when PERSONALIZE_PLUGINS names it)
METHOD_HELP = registry_help(lambda: f"{listing(METHODS.names())} (`personalize methods` describes them).")
TEMPLATE_HELP = "Template style: lamp, list or system (text method)."  # prompts.TEMPLATE_SETS (importing it loads the data layer)


def score(
    golds: Path = typer.Option(..., help="Gold outputs, LaMP format {task, golds: [{id, output}]}."),
    preds: Path = typer.Option(..., help="Predictions in the same format."),
    task: str | None = typer.Option(None, help="Task (default: the golds file's 'task')."),
    against: Path | None = typer.Option(None, help="Another method's predictions for the same ids: adds the "
                                                      "paired difference per example with a bootstrap 95% interval."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score predictions with the task's official LaMP metrics (plus BLEU for generation)."""
    from personalize.metrics import score_files

    result = score_files(task, golds, preds, against)
    if as_json:
        print_json(result)
        return
    metrics = result["metrics"] if against is not None else result
    table = Table(title=f"{task or 'scores'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    if against is not None:
        paired = Table(title=f"{preds} minus {against}, paired over the same examples")
        for column in ("metric", "difference", "95% interval", "wins", "losses", "ties"):
            paired.add_column(column, justify="left" if column == "metric" else "right")
        for key, d in result["paired"].items():
            paired.add_row(key, f"{d['difference']:+.4f}", f"[{d['low']:+.4f}, {d['high']:+.4f}]",
                           str(d["wins"]), str(d["losses"]), str(d["ties"]))
        console.print(paired)


def eval_cmd(
    data: str = typer.Option(..., help="A LaMP or native folder, a synthetic task, or a LaMP task name."),
    out: Path = typer.Option(..., help="Output folder for predictions.json and results.json."),
    method: str | None = typer.Option(None, help=METHOD_HELP),
    task: str | None = typer.Option(None, help="Task name (default: what the data says)."),
    split: str = typer.Option("dev"),
    retriever: str | None = typer.Option(None, help="bm25, dense, recency or random (text method)."),
    k: int | None = typer.Option(None, help="History items in the prompt (text method)."),
    template: str | None = typer.Option(None, help=TEMPLATE_HELP),
    max_prompt_tokens: int | None = typer.Option(None, help="Token budget for the whole prompt."),
    settings: str | None = typer.Option(None, help="Method settings: inline JSON or a JSON file."),
    adapter: Path | None = typer.Option(None, help="A trained adapter folder."),
    limit: int | None = typer.Option(None, help="Only N examples (see --limit-sample: by default a seeded sample spread over the users)."),
    model: str = typer.Option("smollm2-135m", help="Base model: registry name, HF id or folder."),
    encoder: str = typer.Option("minilm-l6", help="Sentence encoder for dense retrieval / soft methods."),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
    mode: str = typer.Option("auto", help="auto, generate or score (label scoring)."),
    batch_size: int = typer.Option(16),
    seed: int = typer.Option(0),
    max_new_tokens: int | None = typer.Option(None, help="Default: the task's."),
    no_repeat_ngram: int = typer.Option(0, help="Forbid repeating n-grams of the generated text (0: off)."),
    repetition_penalty: float = typer.Option(1.0, help="Penalty on already generated tokens (1: off)."),
    postprocess: str = typer.Option("strip", help="strip or clean (first line, no quotes/labels)."),
    shuffle_profiles: bool = typer.Option(False, help="Ablation: give every example another user's history "
                                                      "(seeded); a method that does not drop does not use the user."),
    limit_sample: str = typer.Option("users", help="How --limit picks its examples: users (a seeded sample spread "
                                                   "over the users) or first (the first N in file order)."),
) -> None:
    """Evaluate a method on a dataset; writes predictions.json, results.json, details.jsonl."""
    quiet_libraries()
    from personalize.data.loading import load_dataset
    from personalize.evaluation import EvalOptions, evaluate
    from personalize.io import OutputLock
    from personalize.models import load_base_model, load_encoder
    from personalize.validation import check_device

    if limit is not None and limit <= 0:
        raise ConfigError("--limit must be positive")
    check_device(device)
    dataset = load_dataset(data, split, task).limit(limit, sample=limit_sample, seed=seed)
    if shuffle_profiles:
        from personalize.data.ablation import shuffle_profiles as shuffled

        dataset = shuffled(dataset, seed)
    chosen = build_method(method, adapter, parse_settings(settings), retriever, k, template, max_prompt_tokens)
    options = EvalOptions.from_dict({
        "mode": mode, "batch_size": batch_size, "seed": seed,
        "decoding": {"max_new_tokens": max_new_tokens, "no_repeat_ngram_size": no_repeat_ngram,
                     "repetition_penalty": repetition_penalty, "postprocess": postprocess},
    }, source="command line")
    lock = OutputLock(out).acquire()  # also proves --out writable, once every setting is known good
    loaded = None
    if chosen.needs_model:
        with console.status(f"loading {model} ..."):
            loaded = load_base_model(model, dtype=dtype, device=device)
    console.print(f"{chosen.name} on {dataset.task.name} {split}: {len(dataset)} examples from {dataset.source}"
                  + (" [yellow](synthetic)[/]" if dataset.synthetic else ""))
    results = evaluate(chosen, dataset, model=loaded, options=options,
                       encoder_factory=lambda: load_encoder(encoder, device=device),
                       extra={"limit": limit, "limit_sample": limit_sample, "encoder": encoder,
                              "shuffle_profiles": shuffle_profiles})
    results.write(out)
    lock.release()
    print_results(results)
    console.print(f"results in {out}/results.json")


def print_results(results: dict[str, Any]) -> None:
    table = Table(title=f"{results['method']} on {results['task']} ({results['split']}, n={results['n_examples']})")
    for col in [*results["metrics"], "context tok", "prompt tok", "ex/s"]:
        table.add_column(col, justify="right")
    table.add_row(*[f"{v:.4f}" for v in results["metrics"].values()],
                  f"{results['mean_context_tokens']:.1f}", f"{results['mean_prompt_tokens']:.1f}",
                  f"{results['examples_per_second']:.2f}")
    console.print(table)


def generate_cmd(
    input_text: str = typer.Option(..., "--input", help="The current input (e.g. a tweet to paraphrase)."),
    method: str | None = typer.Option(None, help="Default: text (or the --adapter's method)."),
    profile: Path | None = typer.Option(None, help="JSON list of history items, e.g. [{\"text\": ...}]."),
    data: str | None = typer.Option(None, help="Take the profile of --user from this data source."),
    user: str | None = typer.Option(None, help="User id in --data."),
    task: str = typer.Option("LaMP-7", help="Task (fields, template, labels)."),
    split: str = typer.Option("dev"),
    retriever: str | None = typer.Option(None),
    k: int | None = typer.Option(None),
    template: str | None = typer.Option(None),
    max_prompt_tokens: int | None = typer.Option(None),
    settings: str | None = typer.Option(None),
    adapter: Path | None = typer.Option(None),
    model: str = typer.Option("smollm2-135m"),
    encoder: str = typer.Option("minilm-l6"),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
    max_new_tokens: int | None = typer.Option(None),
    no_repeat_ngram: int = typer.Option(0),
    postprocess: str = typer.Option("strip"),
    show_prompt: bool = typer.Option(False, help="Print the prompt too."),
) -> None:
    """Personalize one generation for one user and print it with its token accounting."""
    quiet_libraries()
    from personalize.generate_one import generate_for_user, profile_from_source

    user_profile, spec = profile_from_source(task, profile, data, user, split)
    if method is None and adapter is None:
        method = "text"
    chosen = build_method(method, adapter, parse_settings(settings), retriever, k, template, max_prompt_tokens)
    result = generate_for_user(
        chosen, spec, user_profile, input_text, model=model, encoder=encoder, dtype=dtype, device=device,
        decoding={"max_new_tokens": max_new_tokens, "no_repeat_ngram_size": no_repeat_ngram, "postprocess": postprocess},
    )
    if show_prompt and result.get("prompt"):
        console.print("[bold]prompt[/]", result["prompt"], markup=False)
    console.print(f"[bold]answer[/] ({chosen.name})")
    console.print(result["answer"], markup=False)
    console.print(f"prompt tokens: {result['prompt_tokens']}  context tokens: {result['context_tokens']}  "
                  f"history items used: {result['used_items']}")
