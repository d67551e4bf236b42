"""``personalize study``: blind pairwise judgments of methods' outputs, and their ranking."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from personalize.cli.common import console, print_json, quiet_libraries
from personalize.errors import ConfigError


def study_create(
    runs: list[Path] = typer.Option(..., "--runs", help="Eval or compare run folders (--runs A B C, or --runs A --runs B)."),
    more: list[Path] | None = typer.Argument(None, help="More run folders.", show_default=False),
    out: Path = typer.Option(..., help="The study file to write (SQLite), e.g. study.sqlite."),
    per_pair: int = typer.Option(20, help="Pairs per method pair (the sample size)."),
    seed: int = typer.Option(0, help="Seeds the examples drawn, the sides and the order."),
    output: str = typer.Option("prediction", help="prediction (as scored) or raw (details.jsonl)."),
    data: str | None = typer.Option(None, help="Data source (default: the one in the runs' results.json)."),
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


def study_serve(
    study: Path = typer.Argument(..., help="The study file."),
    port: int = typer.Option(8000, help="Port."),
    host: str = typer.Option("127.0.0.1", help="Interface (127.0.0.1: this machine only)."),
) -> None:
    """Serve the judging page locally (several raters at once; every judgment is saved before the next pair)."""
    from personalize.study.server import serve

    serve(study, host=host, port=port,
          announce=lambda url: console.print(f"study page on {url}  (Ctrl-C stops it)", highlight=False))


def study_judge(
    study: Path = typer.Argument(..., help="The study file."),
    rater: str = typer.Option(..., help="oracle (closer to the gold) or user-likeness (sounds like this user)."),
    features: str = typer.Option("char-tfidf", help="user-likeness: char-tfidf or a sentence encoder (minilm-l6)."),
    force: bool = typer.Option(False, help="Judge every pair again, replacing this rater's judgments."),
    device: str = typer.Option("auto", help="Device of the encoder."),
) -> None:
    """Let a machine rater judge every pair; recorded under its own name, never pooled with people."""
    quiet_libraries()
    from personalize.study import judge_study

    s = judge_study(study, rater, features=features, force=force, device=device)
    console.print(f"[green]ok[/] {s['rater']}: {s['judged']} pairs judged (A {s['left']}, B {s['right']}, tie {s['tie']})"
                  + (f", {s['already']} judged before" if s["already"] else "")
                  + (f", {s['skipped_no_gold']} without a gold left out" if s["skipped_no_gold"] else ""), highlight=False)


def study_rank(
    study: Path = typer.Argument(..., help="The study file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    bootstrap: int = typer.Option(1000, help="Bootstrap replicates (raters and examples resampled)."),
    seed: int = typer.Option(0),
    rater: list[str] | None = typer.Option(None, help="Only these rater groups (human, oracle, user-likeness...)."),
    identical: bool = typer.Option(True, help="Count pairs with identical outputs as ties."),
    out: Path | None = typer.Option(None, help="JSON file (default: STUDY's name + .ranking.json)."),
    plot: Path | None = typer.Option(None, help="Plot file (default: STUDY's name + .ranking.png)."),
    report: Path | None = typer.Option(None, help="A compare folder whose report.html gets the ranking "
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
        print_json(result)
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
