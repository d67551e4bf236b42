"""The reliability catalogue: bad inputs and faults through the CLI, each a one-line error.

Every case runs ``personalize.cli.main`` in-process (the tiny random Llama stands in for the base
model) and asserts the exit status, one error line naming the problem, no traceback, and, where
the case has earlier outputs, that they are byte for byte as they were. Cases that must succeed
with a warning (text cleaned, a prompt over its budget, ``--replace``) are in the same table.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import personalize.models
from personalize.cli import main

SYNTH = "synthetic-pref:n_users=2,items_per_user=4,examples_per_user=2"
TRAIN = ["train", "--method", "prompt", "--data", SYNTH, "--num-tokens", "1", "--epochs", "1", "--batch-size", "4",
         "--dev-limit", "2", "--max-train-examples", "4"]


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@dataclass
class Case:
    """``args`` for the CLI; ``fragments`` the error line must hold; ``code`` 0 for the cases that
    succeed, then ``warning`` is a fragment of the expected warning line; ``intact`` folders whose
    files must not change; ``check`` a last look at the result."""

    args: list[str]
    fragments: tuple[str, ...] = ()
    code: int = 2
    warning: str | None = None
    intact: list[Path] = field(default_factory=list)
    check: Callable[[Outcome], None] | None = None


def run_main(capsys: pytest.CaptureFixture, args: list[str]) -> Outcome:
    capsys.readouterr()
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return Outcome(code, out, err)


def snapshot(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder`` (the lock file aside: it exists to be touched)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".personalize.lock"}


# --------------------------------------------------------------------------------------------
# data builders
# --------------------------------------------------------------------------------------------


def native(folder: Path, task: str = "LaMP-3", *, users: list[dict] | None = None, dev: list[dict] | None = None,
           raw_dev: str | None = None) -> Path:
    """A native dataset folder; ratings by default (two users, three reviews each)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps({"task": task}))
    if users is None:
        users = [{"user_id": u, "history": [{"id": f"{u}-{i}", "text": f"review {i} of {u}", "score": str(1 + i)}
                                            for i in range(3)]} for u in ("a", "b")]
    if dev is None:
        dev = [{"id": f"{u}-q{i}", "user_id": u, "input": f"What is the score? review: good book {i}", "output": "4"}
               for u in ("a", "b") for i in range(2)]
    (folder / "users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in users))
    (folder / "dev.jsonl").write_text(raw_dev if raw_dev is not None else "".join(json.dumps(e) + "\n" for e in dev))
    return folder


def tweets(folder: Path, inputs: list[str] | None = None, raw_inputs: list[str] | None = None) -> Path:
    """A native LaMP-7 folder; ``raw_inputs`` are pasted into the JSON as written (escapes)."""
    users = [{"user_id": "a", "history": [{"id": "a-0", "text": "the cat sat on the mat"}]}]
    if raw_inputs is not None:
        raw = "".join(f'{{"id": "q{i}", "user_id": "a", "input": "{text}", "output": "the cat"}}\n'
                      for i, text in enumerate(raw_inputs))
        return native(folder, "LaMP-7", users=users, raw_dev=raw)
    dev = [{"id": f"q{i}", "user_id": "a", "input": text, "output": "the cat"} for i, text in enumerate(inputs or [])]
    return native(folder, "LaMP-7", users=users, dev=dev)


# --------------------------------------------------------------------------------------------
# fixtures: the tiny model stands in for the base model; a trained adapter and a checkpoint
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _tiny_base_model(monkeypatch: pytest.MonkeyPatch, tiny_model) -> None:
    monkeypatch.setattr(personalize.models, "load_base_model", lambda *a, **k: tiny_model)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("PERSONALIZE_DEBUG", raising=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    """One tiny ``prompt`` adapter trained through the CLI (with its checkpoint)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(personalize.models, "load_base_model", lambda *a, **k: tiny_model)
        try:
            main([*TRAIN, "--out", str(out)])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
    assert (out / "adapter_model.safetensors").is_file() and (out / "checkpoint" / "trainer_state.json").is_file()
    return out


@pytest.fixture
def adapter(trained: Path, tmp_path: Path) -> Path:
    """A shipped-style adapter folder (no checkpoint), a copy per test."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "train_summary.json"):
        shutil.copy2(trained / name, folder / name)
    (folder / "README.md").write_text("# the shipped adapter\n")
    return folder


@pytest.fixture
def checkpointed(trained: Path, tmp_path: Path) -> Path:
    """A copy of a training run with its checkpoint, to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.fixture
def previous_eval(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    """An output folder holding a complete earlier evaluation."""
    out = tmp_path / "eval"
    outcome = run_main(capsys, ["eval", "--method", "none", "--data", SYNTH, "--out", str(out), "--max-new-tokens", "2"])
    assert outcome.code == 0, outcome.err
    return out


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------

CASES: dict[str, Callable[..., Case]] = {}


def case(name: str):
    def register(fn: Callable[..., Case]) -> Callable[..., Case]:
        assert name not in CASES, name
        CASES[name] = fn
        return fn

    return register


def _eval(out: Path, *extra: str, data: str = SYNTH, method: str | None = "none") -> list[str]:
    return ["eval", *(["--method", method] if method else []), "--data", data, "--out", str(out), *extra]


# -- options out of range: refused before any model loads ------------------------------------

TRAIN_OPTIONS = {
    "epochs-0": (["--epochs", "0"], "--epochs"),
    "batch-size-0": (["--batch-size", "0"], "--batch-size"),
    "grad-accum-0": (["--grad-accum", "0"], "--grad-accum"),
    "lr-negative": (["--lr", "-1"], "--lr"),
    "lr-nan": (["--lr", "nan"], "--lr"),
    "lr-inf": (["--lr", "inf"], "--lr"),
    "num-tokens-0": (["--num-tokens", "0"], "--num-tokens"),
    "num-tokens-negative": (["--num-tokens", "-3"], "--num-tokens"),
    "num-tokens-huge": (["--num-tokens", "100000"], "--num-tokens"),
    "max-train-examples-0": (["--max-train-examples", "0"], "--max-train-examples"),
    "dev-limit-0": (["--dev-limit", "0"], "--dev-limit"),
    "augment-per-user-0": (["--augment-per-user", "0"], "--augment-per-user"),
}
for _name, (_extra, _fragment) in TRAIN_OPTIONS.items():
    def _train_option(tmp_path: Path, extra=_extra, fragment=_fragment, **_: object) -> Case:
        out = tmp_path / "out"
        return Case([*TRAIN, *extra, "--out", str(out)], (fragment,),
                    check=lambda o, out=out: _assert(not out.exists(), "a refused run created --out"))
    case(f"train-option-{_name}")(_train_option)

EVAL_OPTIONS = {
    "max-new-tokens-0": (["--max-new-tokens", "0"], "--max-new-tokens"),
    "max-new-tokens-negative": (["--max-new-tokens", "-5"], "--max-new-tokens"),
    "batch-size-0": (["--batch-size", "0"], "batch_size"),
    "limit-0": (["--limit", "0"], "--limit"),
    "repetition-penalty-0": (["--repetition-penalty", "0"], "--repetition-penalty"),
    "repetition-penalty-nan": (["--repetition-penalty", "nan"], "--repetition-penalty"),
    "no-repeat-ngram-negative": (["--no-repeat-ngram", "-1"], "--no-repeat-ngram"),
    "max-prompt-tokens-0": (["--max-prompt-tokens", "0"], "--max-prompt-tokens"),
    "k-negative": (["--k", "-1"], "--k"),
}
for _name, (_extra, _fragment) in EVAL_OPTIONS.items():
    def _eval_option(tmp_path: Path, extra=_extra, fragment=_fragment, **_: object) -> Case:
        out = tmp_path / "out"
        method = "text" if fragment in ("--max-prompt-tokens", "--k") else "none"
        return Case(_eval(out, *extra, method=method), (fragment,),
                    check=lambda o, out=out: _assert(not out.exists(), "a refused run created --out"))
    case(f"eval-option-{_name}")(_eval_option)


def _assert(condition: bool, message: str) -> None:
    assert condition, message


@case("generate-max-new-tokens-0")
def _(tmp_path: Path, **_: object) -> Case:
    profile = _write(tmp_path / "p.json", json.dumps([{"id": "1", "text": "hi there"}]))
    return Case(["generate", "--input", "hello", "--profile", str(profile), "--method", "none", "--max-new-tokens", "0"],
                ("--max-new-tokens",))


@case("bench-repeats-0")
def _(tmp_path: Path, **_: object) -> Case:
    return Case(["bench", "--repeats", "0", "--out", str(tmp_path / "b")], ("--repeats",))


@case("bench-batch-sizes-0")
def _(tmp_path: Path, **_: object) -> Case:
    return Case(["bench", "--batch-sizes", "0", "--out", str(tmp_path / "b")], ("--batch-sizes",))


@case("eval-device-cuda-without-cuda")
def _(tmp_path: Path, **_: object) -> Case:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    return Case(_eval(tmp_path / "out", "--device", "cuda"), ("--device cuda", "CUDA is not available"))


@case("train-device-cuda-without-cuda")
def _(tmp_path: Path, **_: object) -> Case:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    return Case([*TRAIN, "--out", str(tmp_path / "out"), "--config", str(_write(
        tmp_path / "c.json", json.dumps({"device": "cuda"})))], ("--device cuda", "CUDA is not available"))


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@case("train-config-not-json")
def _(tmp_path: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(tmp_path / "o"), "--config", str(_write(tmp_path / "c.json", "{nope"))],
                ("--config", "c.json"))


@case("train-config-not-utf8")
def _(tmp_path: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(tmp_path / "o"), "--config", str(_write(tmp_path / "c.json", b"\xff\xfe{"))],
                ("--config",))


@case("train-config-a-list")
def _(tmp_path: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(tmp_path / "o"), "--config", str(_write(tmp_path / "c.json", "[1]"))],
                ("--config", "JSON object"))


@case("train-config-unknown-key")
def _(tmp_path: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(tmp_path / "o"), "--config", str(_write(tmp_path / "c.json", '{"epoch": 3}'))],
                ("unknown key", "epoch"))


@case("train-config-warmup-ratio-2")
def _(tmp_path: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(tmp_path / "o"), "--config", str(_write(tmp_path / "c.json",
                                                                               '{"warmup_ratio": 2}'))],
                ("warmup_ratio",))


@case("eval-settings-not-json")
def _(tmp_path: Path, **_: object) -> Case:
    return Case(_eval(tmp_path / "o", "--settings", "{k: 3"), ("--settings",))


@case("train-resume-and-replace")
def _(checkpointed: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(checkpointed), "--resume", "--replace"], ("--resume", "--replace"),
                intact=[checkpointed])


# -- data files --------------------------------------------------------------------------------


@case("data-missing-path")
def _(tmp_path: Path, **_: object) -> Case:
    return Case(["data", "inspect", str(tmp_path / "nothing-here")], ("nothing-here",))


@case("data-truncated-jsonl")
def _(tmp_path: Path, **_: object) -> Case:
    folder = native(tmp_path / "d", raw_dev='{"id": "a-q0", "user_id": "a", "input": "x review: y", "outp')
    return Case(["data", "inspect", str(folder)], ("dev.jsonl",))


@case("data-not-utf8")
def _(tmp_path: Path, **_: object) -> Case:
    folder = native(tmp_path / "d")
    _write(folder / "dev.jsonl", b'{"id": "a-q0", "user_id": "a", "input": "\xff\xfe", "output": "4"}\n')
    return Case(["data", "inspect", str(folder)], ("dev.jsonl", "UTF-8"))


@case("rating-gold-outside-labels")
def _(tmp_path: Path, **_: object) -> Case:
    dev = [{"id": "a-q0", "user_id": "a", "input": "score? review: fine", "output": "6"}]
    return Case(["data", "inspect", str(native(tmp_path / "d", dev=dev))], ("dev.jsonl", "a-q0", "'6'", "1, 2, 3, 4, 5"))


@case("rating-history-outside-labels")
def _(tmp_path: Path, **_: object) -> Case:
    users = [{"user_id": "a", "history": [{"id": "h1", "text": "meh", "score": "6"}, {"id": "h2", "text": "ok", "score": "6"}]}]
    dev = [{"id": "a-q0", "user_id": "a", "input": "score? review: fine", "output": "4"}]
    folder = native(tmp_path / "d", users=users, dev=dev)
    return Case(_eval(tmp_path / "o", data=str(folder), method="user-majority"), ("users.jsonl", "h1", "'6'"),
                check=lambda o: _assert(not (tmp_path / "o").exists(), "refused data created --out"))


@case("score-gold-rating-outside-labels")
def _(tmp_path: Path, **_: object) -> Case:
    golds = _write(tmp_path / "g.json", json.dumps({"task": "LaMP_3", "golds": [{"id": "1", "output": "6"}]}))
    preds = _write(tmp_path / "p.json", json.dumps({"task": "LaMP_3", "golds": [{"id": "1", "output": "5"}]}))
    return Case(["score", "--golds", str(golds), "--preds", str(preds)], ("'6'", "1 to 5"))


@case("inspect-reports-history-outside-labels")
def _(tmp_path: Path, **_: object) -> Case:
    users = [{"user_id": "a", "history": [{"id": "h1", "text": "x", "label": "poetry"}, {"id": "h2", "text": "y",
                                                                                         "label": "travel"}]}]
    dev = [{"id": "q", "user_id": "a", "input": "which genre?", "output": "travel"}]
    folder = native(tmp_path / "d", "synthetic-pref", users=users, dev=dev)

    def check(o: Outcome) -> None:
        report = json.loads(o.out)
        assert report["history_outside_labels"] == 1 and report["history_label_distribution"]["poetry"] == 1

    return Case(["data", "inspect", str(folder), "--json"], code=0, check=check)


@case("text-lone-surrogate-cleaned")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "o"
    folder = tweets(tmp_path / "d", raw_inputs=["bad \\ud800 text", "fine text"])

    def check(o: Outcome) -> None:
        predictions = json.loads((out / "predictions.json").read_text(encoding="utf-8"))
        assert predictions["golds"][0]["output"] == "bad \ufffd text"
        assert json.loads((out / "results.json").read_text())["skipped"]["cleaned_text_fields"] == 1

    return Case(_eval(out, data=str(folder), method="copy"), code=0, warning="lone surrogates", check=check)


@case("text-nul-bytes-cleaned")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "o"
    folder = tweets(tmp_path / "d", raw_inputs=["nul \\u0000 byte"])

    def check(o: Outcome) -> None:
        assert json.loads((out / "predictions.json").read_text())["golds"][0]["output"] == "nul  byte"

    return Case(_eval(out, data=str(folder), method="copy"), code=0, warning="NUL", check=check)


@case("prompt-longer-than-context")
def _(tmp_path: Path, previous_eval: Path, **_: object) -> Case:
    folder = tweets(tmp_path / "d", inputs=["short one", "word " * 700])
    return Case(_eval(previous_eval, "--max-new-tokens", "2", data=str(folder)), ("q1", "context is 512"),
                intact=[previous_eval])


@case("prompt-over-its-budget-counted")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "o"

    def check(o: Outcome) -> None:
        results = json.loads((out / "results.json").read_text())
        assert results["prompts_over_budget"] == results["n_examples"] > 0

    return Case(_eval(out, "--max-prompt-tokens", "1", "--max-new-tokens", "2", method="text"), code=0,
                warning="prompts_over_budget", check=check)


# -- adapters ----------------------------------------------------------------------------------


def _damage(adapter: Path, how: str) -> None:
    weights = adapter / "adapter_model.safetensors"
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    elif how == "garbled":
        weights.write_bytes(os.urandom(300))
    elif how == "pickled":
        torch.save({"weight": torch.zeros(3)}, weights)
    elif how == "empty":
        weights.write_bytes(b"")
    elif how in ("nan", "inf"):
        from safetensors.torch import load_file, save_file

        state = load_file(str(weights))
        value = float(how)
        save_file({k: torch.full_like(v, value) for k, v in state.items()}, str(weights))
    elif how == "config-garbled":
        (adapter / "adapter_config.json").write_bytes(b"\xff\x00{")
    elif how == "config-a-list":
        (adapter / "adapter_config.json").write_text("[]")
    elif how == "no-weights":
        weights.unlink()


for _how, _fragment in (("truncated", "damaged"), ("garbled", "damaged"), ("pickled", "damaged"), ("empty", "damaged"),
                        ("nan", "NaN"), ("inf", "infinite"), ("config-garbled", "damaged"),
                        ("config-a-list", "damaged"), ("no-weights", "not a saved adapter")):
    def _adapter_case(tmp_path: Path, adapter: Path, previous_eval: Path, how=_how, fragment=_fragment,
                      **_: object) -> Case:
        _damage(adapter, how)
        return Case(_eval(previous_eval, "--adapter", str(adapter), "--model", "tiny-llama", method=None),
                    (str(adapter), fragment), intact=[previous_eval])
    case(f"eval-adapter-{_how}")(_adapter_case)


@case("compare-late-row-damaged-adapter")
def _(tmp_path: Path, adapter: Path, **_: object) -> Case:
    _damage(adapter, "truncated")
    out = tmp_path / "cmp"
    config = _write(tmp_path / "c.json", json.dumps({
        "name": "late", "data": SYNTH, "eval": {"decoding": {"max_new_tokens": 2}}, "model": "tiny-llama",
        "methods": [{"name": "none", "method": "none"}, {"name": "copy-like", "method": "user-majority"},
                    {"name": "soft", "method": "prompt", "adapter": str(adapter)}],
        "history_lengths": [2], "latency_examples": 1, "history_examples": 1}))
    return Case(["compare", "--config", str(config), "--out", str(out)], ("'soft'", "damaged"),
                check=lambda o: _assert(not (out / "runs").exists(), "a row ran before the adapters were checked"))


@case("compare-row-with-bad-training-setting")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "cmp"
    config = _write(tmp_path / "c.json", json.dumps({
        "name": "badtrain", "data": SYNTH, "methods": [
            {"name": "none", "method": "none"},
            {"name": "soft", "method": "prompt", "train": {"adapter": {"num_tokens": 0}, "epochs": 1}}]}))
    return Case(["compare", "--config", str(config), "--out", str(out)], ("--num-tokens",),
                check=lambda o: _assert(not (out / "runs").exists(), "a row ran before the settings were checked"))


# -- training faults ---------------------------------------------------------------------------


for _file, _content, _fragment in (
    ("trainer_state.json", b'{"epoch": 1, "st', "damaged"),
    ("trainer_state.json", b'{"epoch": 1}', "checkpoint"),
    ("optimizer.json", b"\xff\xfe", "damaged"),
    ("optimizer.safetensors", None, "damaged"),
    ("adapter.safetensors", b"garbage" * 10, "damaged"),
):
    def _checkpoint_case(checkpointed: Path, file=_file, content=_content, fragment=_fragment, **_: object) -> Case:
        path = checkpointed / "checkpoint" / file
        path.write_bytes(content if content is not None else path.read_bytes()[: path.stat().st_size // 2])
        named = file if fragment == "damaged" else "checkpoint"
        return Case([*TRAIN, "--out", str(checkpointed), "--resume"], (named, fragment), intact=[checkpointed])
    case(f"resume-damaged-{_file}-{'truncated' if _content is None else len(_content)}")(_checkpoint_case)


@case("train-out-holds-a-shipped-adapter")
def _(adapter: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(adapter)], ("already holds an adapter", "--replace"), intact=[adapter])


@case("train-resume-without-checkpoint")
def _(adapter: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(adapter), "--resume"], ("nothing to resume",), intact=[adapter])


@case("train-out-holds-a-finished-run")
def _(checkpointed: Path, **_: object) -> Case:
    return Case([*TRAIN, "--out", str(checkpointed)], ("--resume", "--replace"), intact=[checkpointed])


@case("train-replace-overwrites-and-says-what-is-left")
def _(adapter: Path, **_: object) -> Case:
    before = (adapter / "adapter_config.json").read_bytes()

    def check(o: Outcome) -> None:
        assert (adapter / "checkpoint").is_dir() and (adapter / "train_log.jsonl").is_file()
        assert json.loads((adapter / "adapter_config.json").read_bytes())["method"] == json.loads(before)["method"]
        assert len((adapter / "train_log.jsonl").read_text().splitlines()) == 1

    return Case([*TRAIN, "--out", str(adapter), "--replace"], code=0, warning="README.md", check=check)


@case("train-out-is-a-file")
def _(tmp_path: Path, **_: object) -> Case:
    path = _write(tmp_path / "file", "keep me")
    return Case([*TRAIN, "--out", str(path)], ("is a file",),
                check=lambda o: _assert(path.read_text() == "keep me", "the file was touched"))


@case("eval-out-is-a-file")
def _(tmp_path: Path, **_: object) -> Case:
    path = _write(tmp_path / "file", "keep me")
    return Case(_eval(path), ("is a file",), check=lambda o: _assert(path.read_text() == "keep me", "touched"))


@case("train-second-run-same-out")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "busy"
    out.mkdir()
    _hold_lock(out)
    return Case([*TRAIN, "--out", str(out)], ("in use by another personalize run", str(out)),
                check=lambda o: _assert(not (out / "train_config.json").exists(), "the second run wrote"))


@case("eval-second-run-same-out")
def _(previous_eval: Path, **_: object) -> Case:
    _hold_lock(previous_eval)
    return Case(_eval(previous_eval, "--max-new-tokens", "2"), ("in use by another personalize run",),
                intact=[previous_eval])


@case("compare-second-run-same-out")
def _(tmp_path: Path, **_: object) -> Case:
    out = tmp_path / "cmp"
    out.mkdir()
    _hold_lock(out)
    config = _write(tmp_path / "c.json", json.dumps({"name": "x", "data": SYNTH, "methods": [{"name": "none",
                                                                                               "method": "none"}]}))
    return Case(["compare", "--config", str(config), "--out", str(out)], ("in use by another personalize run",))


_HELD: list[int] = []


def _hold_lock(folder: Path) -> None:
    """Lock ``folder`` as another process would: a separate open file, so this process's own
    re-entrant bookkeeping does not know it."""
    fd = os.open(folder / ".personalize.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, b"4242\n", 0)
    _HELD.append(fd)


@pytest.fixture(autouse=True)
def _release_held_locks():
    yield
    while _HELD:
        os.close(_HELD.pop())


# -- full disk, read-only folders ----------------------------------------------------------------


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fh, data: bytes) -> None:
        fh.write(data[: len(data) // 3])
        raise OSError(errno.ENOSPC, "No space left on device", fh.name)

    monkeypatch.setattr("personalize.io._write_all", no_space)


@case("eval-disk-full-keeps-the-previous-results")
def _(previous_eval: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    _full_disk(monkeypatch)
    return Case(_eval(previous_eval, "--max-new-tokens", "3"), ("No space left on device", "disk is full"),
                intact=[previous_eval],
                check=lambda o: _assert(not list(previous_eval.glob(".*.tmp")), "temporary files were left"))


@case("train-disk-full")
def _(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    _full_disk(monkeypatch)
    return Case([*TRAIN, "--out", str(tmp_path / "o")], ("No space left on device",))


@case("eval-out-read-only")
def _(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    def read_only(folder: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(folder))

    monkeypatch.setattr("personalize.io._probe", read_only)
    return Case(_eval(tmp_path / "o"), ("--out", "not writable", "Read-only"))


@case("train-out-read-only")
def _(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    def no_permission(folder: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr("personalize.io._probe", no_permission)
    return Case([*TRAIN, "--out", str(tmp_path / "o")], ("--out", "not writable", "Permission denied"))


@case("personalize-home-not-creatable")
def _(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    monkeypatch.setenv("PERSONALIZE_HOME", str(_write(tmp_path / "afile", "x") / "home"))
    return Case(["data", "inspect", "LaMP-7"], ("PERSONALIZE_HOME",))


@case("personalize-home-read-only-cache")
def _(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: object) -> Case:
    monkeypatch.setenv("PERSONALIZE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setattr("personalize.paths.os.access", lambda *a, **k: False)  # root ignores chmod
    return Case(_eval(tmp_path / "o", "--k", "2", "--retriever", "dense", method="text"),
                ("embeddings", "not writable", "PERSONALIZE_HOME"))


# -- Ctrl-C and bugs -----------------------------------------------------------------------------


@case("ctrl-c-is-one-line")
def _(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, previous_eval: Path, **_: object) -> Case:
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("personalize.evaluation.evaluate", interrupted)
    return Case(_eval(previous_eval), code=130, intact=[previous_eval])


@case("unexpected-exception-is-one-line")
def _(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **_: object) -> Case:
    def bug(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("personalize.evaluation.evaluate", bug)
    return Case(_eval(tmp_path / "o"), ("unexpected RuntimeError", "boom", "--debug"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_catalogue(name: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture,
                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import inspect

    fn = CASES[name]
    wanted = inspect.signature(fn).parameters
    kwargs = {"tmp_path": tmp_path, "monkeypatch": monkeypatch}
    for fixture in ("adapter", "checkpointed", "previous_eval"):
        if fixture in wanted:
            kwargs[fixture] = request.getfixturevalue(fixture)
    spec = fn(**kwargs)
    before = {folder: snapshot(folder) for folder in spec.intact}
    outcome = run_main(capsys, spec.args)
    text = outcome.out + outcome.err
    assert "Traceback" not in text, text
    assert outcome.code == spec.code, text
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    warnings = [ln for ln in lines if ln.startswith("warning:")]
    errors = [ln for ln in lines if not ln.startswith("warning:")]
    if spec.code == 2:
        assert len(errors) == 1, outcome.err
        assert errors[0].startswith(("error:", "data error:")), errors[0]
        for fragment in spec.fragments:
            assert fragment in errors[0], (fragment, errors[0])
    elif spec.code == 130:
        assert errors == ["interrupted"], outcome.err
    else:
        assert not errors, outcome.err
    if spec.warning is not None:
        assert len(warnings) == 1 and spec.warning in warnings[0], outcome.err
    for folder, files in before.items():
        assert snapshot(folder) == files, f"{folder} changed"
    if spec.check is not None:
        spec.check(outcome)


def test_catalogue_is_large() -> None:
    assert len(CASES) >= 70, len(CASES)


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    outcome = run_main(capsys, ["--debug", *_eval(tmp_path / "o", "--max-new-tokens", "0")])
    assert outcome.code == 2 and "Traceback" in outcome.err and "error:" in outcome.err.splitlines()[-1]


# --------------------------------------------------------------------------------------------
# outside the catalogue: a real full disk, and what a replaced adapter holds
# --------------------------------------------------------------------------------------------


def test_real_full_disk_keeps_the_previous_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A 1 MB tmpfs (root only): the earlier evaluation survives a run that fills the disk."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        out = disk / "eval"
        ok = run_main(capsys, _eval(out, "--max-new-tokens", "2"))
        assert ok.code == 0, ok.err
        before = snapshot(out)
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk, then free a little less room than the new files need
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, filler.stat().st_size - 2048)
        outcome = run_main(capsys, _eval(out, "--max-new-tokens", "3", "--seed", "1"))
        assert outcome.code == 2 and "Traceback" not in outcome.err, outcome.err
        assert "No space left on device" in outcome.err and len(outcome.err.strip().splitlines()) == 1, outcome.err
        assert snapshot(out) == before
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, check=False)
