"""Copy trained adapters (LaMP-7, synthetic, MovieLens) from runs/ into adapters/ with the command that trained them.

    python benchmarks/ship_adapters.py runs/soft-lamp7 e2p-1:lamp7-e2p-1 e2p-5:lamp7-e2p-5 ...
Each target folder gets adapter_config.json, adapter_model.safetensors, train_summary.json and a
README.md with the training command, settings and the dev numbers of its evaluation.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

SHIPPED: dict[Path, Path] = {}  # run folder -> where this invocation shipped it (a two-stage run names its control)


def ship(run: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((run / "train_config.json").read_text())
    if not (run / "train_summary.json").exists() or cfg.get("init_adapter") or cfg.get("stop_after_epochs"):
        return ship_stopped(run, target)
    for name in ("adapter_config.json", "adapter_model.safetensors", "train_summary.json"):
        shutil.copy2(run / name, target / name)
    summary = json.loads((run / "train_summary.json").read_text())
    cfg = summary["config"]
    adapter = json.dumps(cfg["adapter"], separators=(",", ":"))
    if "lamp7" not in cfg["data"]:  # synthetic or MovieLens: the data string says it all
        command = (f"personalize train --method {cfg['method']} --data '{cfg['data']}' "
                   + (f"--task {cfg['task']} " if cfg.get("task") else "") + f"--epochs {cfg['epochs']} "
                   f"--lr {cfg['lr']} --dev-limit {cfg['dev_limit']} --patience {cfg['patience']} "
                   + ("--no-dev-eval " if not cfg.get("dev_eval", True) else "")
                   + (f"--select-on {cfg['select_on']} " if cfg.get("select_on", "dev_loss") != "dev_loss" else "")
                   + f"--settings '{adapter}' --out {target}")
    else:
        command = (f"personalize train --method {cfg['method']} --data ../shared/data/lamp7 "
                   f"--config configs/train/lamp7-base.json --dev-limit {cfg['dev_limit']} --epochs {cfg['epochs']} "
                   f"--lr {cfg['lr']} --settings '{adapter}' --out {target}")
    if cfg.get("init_control"):  # two stages: started as a control, shipped beside it where this call shipped it
        control = Path(cfg["init_control"]).resolve()
        command = command.replace(f" --out {target}", f" --init-control {SHIPPED.get(control, control)}"
                                  + (" --freeze-shared" if cfg.get("freeze_shared") else "") + f" --out {target}")
    if cfg.get("augment", "none") != "none":
        command += f" --augment {cfg['augment']} --augment-per-user {cfg['augment_per_user']}"
    lines = [f"# {target.name}", "", f"{summary['method']} adapter for {summary['model']['name']} on {summary['task']}, "
             f"{summary['trainable_parameters']:,} trainable parameters (base model frozen).", "",
             "Trained with (code at git commit " + (summary.get("git") or {}).get("commit", "?")[:12]
             + (", with uncommitted changes" if (summary.get("git") or {}).get("dirty") else "") + "):", "",
             "```bash", command, "```", "",
             f"Training: {summary['train_examples']} examples"
             + (f" ({summary['augmented_examples']} of them leave-one-out examples from profiles)"
                if summary.get("augmented_examples") else "")
             + f", {summary['epochs_run']} epoch(s), "
             f"{summary['train_seconds']:.0f} s at {summary['train_tokens_per_second']:.0f} tokens/s "
             f"({_machine(summary)}).", ""]
    log = run / "train_log.jsonl"
    if log.exists():
        lines += ["Per epoch (teacher-forced dev loss with the user's own history / another user's):", ""]
        for entry in map(json.loads, log.read_text().splitlines()):
            other = entry.get("dev_loss_other_user")
            dev_metrics = entry.get("dev") or {}
            lines.append(f"- epoch {entry['epoch']}: train {entry['train_loss']:.3f}, dev {entry['dev_loss']:.3f}"
                         + (f" / {other:.3f} (gap {other - entry['dev_loss']:+.3f})" if other is not None else "")
                         + (f"; dev AUC {dev_metrics['auc']:.4f}" if dev_metrics.get("auc") is not None else ""))
        if summary.get("best_epoch"):
            rule = ("the lowest teacher-forced dev loss" if summary.get("selected_on", "dev_loss") == "dev_loss"
                    else f"the best dev {next(iter(summary['best_dev'])).replace('auc', 'AUC')}")
            lines.append(f"\nKept: epoch {summary['best_epoch']} ({rule}).")
        lines.append("")
    scored = run.parent if run.name == "train" else run  # style_recipe.sh: RUN/train, RUN/own, RUN/other
    # MovieLens runs are laid out alike (train_and_score.sh) but have no style attributes to report
    if (cfg["data"].startswith("synthetic-style") and (scored / "own" / "results.json").exists()
            and (scored / "other" / "results.json").exists()):
        lines += style_scores(scored)
    results = run / "eval" / "results.json"
    if results.exists():
        r = json.loads(results.read_text())
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
        lines += ["Dev (all 200 users, decoding `--postprocess clean --no-repeat-ngram 3`): " + metrics + ".", "",
                  "```bash", f"personalize eval --adapter {target} --data ../shared/data/lamp7 --out runs/{target.name} "
                  "--postprocess clean --no-repeat-ngram 3", "```", ""]
    (target / "README.md").write_text("\n".join(lines))


def style_scores(run: Path) -> list[str]:
    """The measured paragraph of a synthetic-style run that benchmarks/style_recipe.sh scored on the
    held-out test users with their own history (``own/``) and another user's (``other/``)."""
    import levers_table  # beside this script

    from personalize.data.loading import load_dataset, parse_synthetic_options
    from personalize.data.synthetic import user_styles

    data = json.loads((run / "own" / "results.json").read_text())["data"].removeprefix("synthetic:")
    test = load_dataset(data, "test").examples
    golds, owner = {e.id: e.output for e in test}, {e.id: e.owner for e in test}
    scored = [json.loads(line)["id"] for line in (run / "own" / "details.jsonl").read_text().splitlines()]
    r = levers_table.row(run, golds, owner)
    assert r is not None and r["own"] and r["other"] and r["own_minus_other"]
    options = parse_synthetic_options(data.partition(":")[2], data)
    names = {"signoff": "sign-off", "rouge-1": "ROUGE-1"}

    def both(key: str) -> str:
        digits = 3 if key == "rouge-1" else 2
        return f"{names.get(key, key)} {r['own'][key]:.{digits}f} / {r['other'][key]:.{digits}f}"

    gains = ", ".join(f"{names.get(k, k)} {g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
                      for k, g in r["own_minus_other"].items() if k in (*levers_table.ATTRIBUTES[:-1], "rouge-1"))
    degenerate = ("no degenerate answer" if not r["own"]["degenerate"]
                  else f"degenerate answers {r['own']['degenerate']:.2f} of the outputs")
    by_case = levers_table.by_letter_case(run, golds, {e.id: e.user_id for e in test},
                                          user_styles(int(options["n_users"]), seed=int(options.get("seed", 0))))
    return [f"On {len(scored)} examples of the {len({owner[i] for i in scored})} held-out test users (plain greedy; "
            f"`bash benchmarks/style_recipe.sh {run.parent} {run.name}`, then `python benchmarks/levers_table.py "
            f"{run.parent} --data n_users={options['n_users']}`), with each user's own history / another user's: "
            + ", ".join(both(k) for k in (*levers_table.ATTRIBUTES, "rouge-1")) + f"; {degenerate}. "
            f"Own − other (user-level 95%): {gains}. By the user's letter case (right / examples): {by_case}.", ""]


def _machine(summary: dict) -> str:
    """The CPU (or GPU) the run recorded, e.g. "2-core Intel(R) Xeon(R) Processor, bf16 matmuls on amx"."""
    device = (summary.get("machine") or {}).get("cpu") or {}
    if not device:
        return "machine not recorded"
    return (f"{device.get('cores', '?')}-core {device.get('model', 'CPU')}"
            + (f", bf16 matmuls on {device['bf16_matmul']}" if device.get("bf16_matmul") else ""))


def ship_stopped(run: Path, target: Path) -> None:
    """A run stopped before its last epoch (no train_summary.json), or trained in stages (init_adapter) or
    for part of a schedule (stop_after_epochs): ship its best adapter,
    and say so, with the per-epoch log of this run and of the run it continued (init_adapter)."""
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(run / name, target / name)
    cfg = json.loads((run / "train_config.json").read_text())
    adapter = json.dumps(cfg["adapter"], separators=(",", ":"))
    runs = [run]
    while (init := json.loads((runs[-1] / "train_config.json").read_text()).get("init_adapter")):
        runs.append(Path(init))
    lines = [f"# {target.name}", "", f"{cfg['method']} adapter for {cfg['model']} on `{cfg['data']}` "
             "(synthetic data), base model frozen.", "",
             "Trained in stages (each continues the previous one's weights with a new warm-up and decay); "
             "a stage marked *stopped* was killed after the epoch shown to save time, and the adapter is its "
             "best epoch by teacher-forced dev loss so far:", ""]
    for stage in reversed(runs):
        stage_cfg = json.loads((stage / "train_config.json").read_text())
        log = [json.loads(line) for line in (stage / "train_log.jsonl").read_text().splitlines()]
        planned = stage_cfg.get("stop_after_epochs") or stage_cfg["epochs"]
        stopped = len(log) < planned
        command = (f"personalize train --method {stage_cfg['method']} --data '{stage_cfg['data']}' "
                   f"--epochs {stage_cfg['epochs']} --lr {stage_cfg['lr']} --dev-limit {stage_cfg['dev_limit']} "
                   f"--patience {stage_cfg['patience']} --no-dev-eval --settings '{adapter}'"
                   + (" --compile" if stage_cfg.get("compile") else "")
                   + (f" --stop-after {stage_cfg['stop_after_epochs']}" if stage_cfg.get("stop_after_epochs") else "")
                   + (" --init-adapter <previous stage>" if stage_cfg.get("init_adapter") else "") + " --out OUT")
        lines += ["```bash", command, "```", "",
                  f"{len(log)} of {planned} epochs" + (" (*stopped*)" if stopped else "") + ", "
                  f"{sum(e['seconds'] for e in log):.0f} s (2-core CPU shared with other training runs):", ""]
        for entry in log:
            other = entry.get("dev_loss_other_user")
            lines.append(f"- epoch {entry['epoch']}: train loss {entry['train_loss']:.3f}, dev loss {entry['dev_loss']:.3f}"
                         + (f", with another user's history {other:.3f} (gap {other - entry['dev_loss']:+.3f})"
                            if other is not None else ""))
        lines.append("")
    summary = {"method": cfg["method"], "task": "synthetic-style",
               "stopped_early": any(len((r / "train_log.jsonl").read_text().splitlines())
                                    < (json.loads((r / "train_config.json").read_text()).get("stop_after_epochs")
                                       or json.loads((r / "train_config.json").read_text())["epochs"]) for r in runs),
               "train_seconds": round(sum(sum(json.loads(line)["seconds"] for line in (r / "train_log.jsonl").read_text().splitlines())
                                          for r in runs), 1),
               "epochs_run": sum(len((r / "train_log.jsonl").read_text().splitlines()) for r in runs),
               "stages": [json.loads((r / "train_config.json").read_text()) for r in reversed(runs)]}
    (target / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (target / "README.md").write_text("\n".join(lines))


def main() -> None:
    root = Path(sys.argv[1])
    for pair in sys.argv[2:]:
        run, name = pair.split(":")
        ship(root / run, Path("adapters") / name)
        SHIPPED[(root / run).resolve()] = Path("adapters") / name
        print(f"adapters/{name} <- {root / run}")


if __name__ == "__main__":
    main()
