"""Integration tests with the real bundled models (SmolLM2-135M, MiniLM) and ../shared/data.

Run with ``pytest -m integration``. The de-quantized SmolLM2 copy is cached under
``$PERSONALIZE_HOME``; when that is not set, the session's pytest base temp folder is used (the
same one conftest's autouse fixture uses), so the GGUF is converted at most once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from personalize.data.loading import load_dataset
from personalize.data.schema import UserProfile
from personalize.data.tasks import get_task
from personalize.evaluation import EvalOptions, evaluate
from personalize.methods import make_method

pytestmark = pytest.mark.integration

_HOME_AT_IMPORT = os.environ.get("PERSONALIZE_HOME")  # set from outside pytest, or None


@pytest.fixture(scope="module")
def integration_home(tmp_path_factory: pytest.TempPathFactory):
    """The cache folder for the whole module: the external one, else the per-session temp one.

    Module-scoped fixtures run before conftest's function-scoped autouse fixture, so this one
    sets the variable itself (to the very path that fixture would use).
    """
    if "PERSONALIZE_HOME" in os.environ:
        yield Path(os.environ["PERSONALIZE_HOME"])
        return
    home = tmp_path_factory.getbasetemp() / "personalize_home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERSONALIZE_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def smollm(integration_home):
    from personalize.models import load_base_model

    return load_base_model("smollm2-135m", dtype="fp32", device="cpu")


@pytest.fixture(scope="module")
def minilm(integration_home):
    from personalize.models import load_encoder

    return load_encoder("minilm-l6", device="cpu")


def test_model_cache_is_per_session(integration_home, tmp_path_factory) -> None:
    assert os.environ["PERSONALIZE_HOME"] == str(integration_home)
    if _HOME_AT_IMPORT is None:
        # the base temp folder is one per session: every test of the session shares this cache
        assert integration_home == tmp_path_factory.getbasetemp() / "personalize_home"


def test_load_smollm2(smollm, integration_home) -> None:
    assert smollm.name == "smollm2-135m"
    assert smollm.hidden_size == 576
    assert smollm.source.startswith(("converted from", "cache"))
    assert (integration_home / "models" / "smollm2-135m" / "model.safetensors").is_file()
    assert not smollm.model.training
    linears = 0
    for name, module in smollm.model.named_modules():
        kind = type(module).__name__.lower()
        assert "gguf" not in kind, name
        if "linear" in kind:
            assert type(module) is torch.nn.Linear, (name, type(module))
            assert module.weight.dtype == torch.float32, name
            assert not module.weight.requires_grad
            linears += 1
    assert linears >= 30 * 7  # q, k, v, o, gate, up, down in each of the 30 layers
    assert all(p.dtype.is_floating_point for p in smollm.model.parameters())
    info = smollm.info()
    assert info["layers"] == 30 and info["dtype"] == "fp32"
    assert 100e6 < info["parameters"] < 200e6


def test_second_load_in_new_process_reads_the_cache(smollm) -> None:
    code = (
        "from personalize.models import load_base_model\n"
        "m = load_base_model('smollm2-135m', dtype='fp32', device='cpu')\n"
        "print('SOURCE=' + m.source)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    source = [ln for ln in proc.stdout.splitlines() if ln.startswith("SOURCE=")][0].removeprefix("SOURCE=")
    assert source.startswith("cache"), source


def test_generate_one_answer(smollm) -> None:
    from personalize.generate_one import generate_for_user

    profile = UserProfile("u", ({"id": "0", "text": "loving the sunshine today!!! #blessed"},
                                {"id": "1", "text": "coffee first, then the world #coffeetime"}))  # fmt: skip
    prompt = "Paraphrase the following tweet without any explanation before or after it: I am going to the beach."
    result = generate_for_user(make_method("text", {"k": 2, "retriever": "recency"}), get_task("LaMP-7"), profile,
                               prompt, model=smollm, decoding={"max_new_tokens": 12})  # fmt: skip
    assert isinstance(result["answer"], str) and result["answer"].strip()
    assert result["used_items"] == [1, 0]
    assert 0 < result["context_tokens"] < result["prompt_tokens"]
    assert "#coffeetime" in result["prompt"]


def test_minilm_encoder(minilm) -> None:
    texts = ["A man is playing a guitar.", "Someone is playing the guitar.", "The stock market fell sharply today."]
    pair = minilm.encode(texts[:2])
    assert pair.shape == (2, 384) and pair.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(pair, axis=1), 1.0, atol=1e-5)
    emb = minilm.encode(texts)
    paraphrase, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert paraphrase > unrelated + 0.3
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.shared_data
def test_copy_on_lamp7_dev(shared_data, tmp_path) -> None:
    ds = load_dataset(shared_data / "lamp7", "dev")
    assert ds.task.name == "LaMP-7" and len(ds) > 100
    results = evaluate(make_method("copy"), ds, out_dir=tmp_path, show_progress=False)
    assert 0.40 < results["metrics"]["rouge-1"] < 0.55
    assert results["n_examples"] == len(ds)


@pytest.mark.shared_data
def test_text_label_scoring_on_amazon_books(shared_data, smollm, tmp_path) -> None:
    ds = load_dataset(shared_data / "amazon-books-6users", "dev").limit(8)
    assert len(ds) == 8 and ds.task.name == "LaMP-3"
    # a 512-token budget keeps this fast on a CPU; reviews are long, so it also exercises the budget
    method = make_method("text", {"k": 2, "retriever": "bm25", "max_prompt_tokens": 512, "max_item_tokens": 128})
    results = evaluate(method, ds, model=smollm, options=EvalOptions(batch_size=4), out_dir=tmp_path, show_progress=False)
    assert results["mode"] == "score"
    assert {"mae", "rmse"} <= set(results["metrics"])  # the official LaMP-3 metrics (extras allowed)
    assert 0 <= results["metrics"]["mae"] <= 4

    preds = json.loads((tmp_path / "predictions.json").read_text())["golds"]
    assert [p["id"] for p in preds] == [e.id for e in ds.examples]
    assert all(p["output"] in ("1", "2", "3", "4", "5") for p in preds)
    details = [json.loads(line) for line in (tmp_path / "details.jsonl").read_text().splitlines()]
    assert all(len(d["used_items"]) <= 2 for d in details)
    assert any(d["context_tokens"] > 0 for d in details)
    # the input is never cut, so only prompts whose history fitted are bounded by the budget
    assert all(d["prompt_tokens"] <= 512 for d in details if d["context_tokens"] > 0)


@pytest.mark.parametrize("placement", ["user_start", "before_input", "after_input", "answer_start"])
def test_a_soft_prompt_is_the_none_prompt_plus_n_tokens(smollm, placement) -> None:
    """With the real tokenizer, the ids around the soft tokens are exactly the ``none`` prompt's
    ids (no stray space token, no first word that lost its leading space)."""
    from personalize.methods.soft.config import SoftPrefixConfig
    from personalize.modeling import SoftPromptLayout
    from personalize.prompts import PromptBuilder, get_template

    task = get_task("LaMP-7")
    text = "Paraphrase the following tweet without any explanation before or after it: I love the new cafe!"
    layout = SoftPromptLayout(smollm.tokenizer, task, SoftPrefixConfig(placement=placement, template="lamp"))
    left, right = layout.split(text)
    none_prompt = PromptBuilder(smollm.tokenizer, get_template(task, "lamp")).build(text, []).text
    assert left + right == smollm.tokenizer(none_prompt, add_special_tokens=False)["input_ids"]
    assert len(left) > 0 and (len(right) > 0) == (placement != "answer_start")
