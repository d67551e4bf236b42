"""The ``personalize`` command line: a thin layer over the library.

Every command that can fail because of the user's input raises :class:`PersonalizeError`
inside the library; :func:`main` prints it as one line and exits with status 2.

One module per command group (``models``, ``data``, ``evaluate``: score/eval/generate,
``compare``: compare/bench, ``train``: train/demo, ``study``, ``methods``); this module builds the
app from them, in the order ``personalize --help`` lists the commands.
"""

from __future__ import annotations

import os
import sys

import typer

from personalize.cli import compare, data, evaluate, methods, models, study, train
from personalize.cli.common import DEBUG, err_console
from personalize.cli.compare import print_comparison
from personalize.errors import DataError, PersonalizeError
from personalize.methods.registry import PLUGINS_ENV

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Personalize a frozen LLM with a user's context, and measure what it costs.")
models_app = typer.Typer(no_args_is_help=True, help="Base LLMs and sentence encoders.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: LaMP, native folders, synthetic users.")
study_app = typer.Typer(no_args_is_help=True, help="Preference study: blind pairwise judgments of methods' outputs.")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="On an error, also print the Python traceback."),
    plugin: list[str] | None = typer.Option(None, "--plugin", help=f"Import this module for the methods it "
                                               f"registers (repeatable; also the {PLUGINS_ENV} variable)."),
) -> None:
    if debug:
        DEBUG["on"] = True
    if plugin:
        named = [p for p in os.environ.get(PLUGINS_ENV, "").split(",") if p.strip()]
        os.environ[PLUGINS_ENV] = ",".join([*named, *(p for p in plugin if p not in named)])


models_app.command("list")(models.models_list)
models_app.command("info")(models.models_info)
data_app.command("download")(data.data_download)
data_app.command("inspect")(data.data_inspect)
data_app.command("synth")(data.data_synth)
app.command("score")(evaluate.score)
app.command("eval")(evaluate.eval_cmd)
app.command("compare")(compare.compare_cmd)
app.command("generate")(evaluate.generate_cmd)
app.command("bench")(compare.bench_cmd)
app.command("train")(train.train_cmd)
app.command("demo")(train.demo)
app.command("methods")(methods.methods_cmd)
app.add_typer(study_app, name="study")
study_app.command("create")(study.study_create)
study_app.command("serve")(study.study_serve)
study_app.command("judge")(study.study_judge)
study_app.command("rank")(study.study_rank)


def error_line(kind: str, message: str) -> None:
    from rich.markup import escape

    # one line however long (paths, id lists): newlines folded, soft_wrap; escape: "[...]" is text
    message = " ".join(message.split())
    err_console.print(f"[bold red]{kind}:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: every failure is one line on stderr and exit status 2 (130 for Ctrl-C);
    ``--debug`` (or ``PERSONALIZE_DEBUG=1``) adds the traceback."""
    import traceback

    from personalize.io import describe_os_error

    DEBUG["on"] = bool(os.environ.get("PERSONALIZE_DEBUG"))
    try:
        app(args=argv)
    except PersonalizeError as exc:
        if DEBUG["on"]:
            traceback.print_exc()
        error_line("data error" if isinstance(exc, DataError) else "error", str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a silent exit 130
            err_console.print("interrupted")
        raise
    except OSError as exc:  # a full disk, a read-only folder, a vanished file
        if DEBUG["on"]:
            traceback.print_exc()
        error_line("error", describe_os_error(exc, "read or write"))
        sys.exit(2)
    except MemoryError:
        error_line("error", "out of memory; try a smaller --batch-size or --limit")
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if DEBUG["on"]:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        error_line("error", f"unexpected {type(exc).__name__}: {first} (a bug in personalize; rerun with --debug "
                             "for the traceback and report it)")
        sys.exit(2)


__all__ = ["app", "main", "print_comparison"]
