"""The adapters shipped under adapters/ load strictly onto the bundled SmolLM2 and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ADAPTERS = sorted(p for p in (Path(__file__).resolve().parents[1] / "adapters").glob("*") if p.is_dir())


def test_every_shipped_adapter_says_how_it_was_trained() -> None:
    assert ADAPTERS, "no adapters shipped"
    for folder in ADAPTERS:
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["base_model"] == "smollm2-135m" and config["hidden_size"] == 576
        assert "personalize train" in (folder / "README.md").read_text()
        # adapter weights only, never a base model (~270 MB in bf16): the largest, PERSOMA-4 with
        # its MLP of width 1024, a LoRA and user steering, is 5.3M float32 parameters (21.5 MB)
        assert (folder / "adapter_model.safetensors").stat().st_size < 25_000_000


@pytest.mark.integration
@pytest.mark.parametrize("folder", ADAPTERS, ids=[p.name for p in ADAPTERS])
def test_shipped_adapter_loads_and_generates(folder: Path) -> None:
    import torch

    from personalize.data.schema import UserProfile
    from personalize.data.tasks import get_task
    from personalize.generate_one import generate_for_user
    from personalize.methods import make_method
    from personalize.models import load_base_model

    loaded = load_base_model("smollm2-135m")
    profile = UserProfile("u", ({"id": "1", "text": "omg cant wait for the weekend!!"}, {"id": "2", "text": "so tired lol"}))
    config = json.loads((folder / "adapter_config.json").read_text())
    method = make_method(config["method"], {"adapter": str(folder)})
    result = generate_for_user(method, get_task("LaMP-7"), profile,
                               "Paraphrase the following tweet without any explanation before or after it: I am very tired today.",
                               model=loaded, decoding={"max_new_tokens": 12})
    # xattn's user is a cross-attention memory, not tokens in the context (num_tokens 0)
    assert isinstance(result["answer"], str) and result["context_tokens"] == config["config"]["num_tokens"]
    with torch.no_grad():
        assert all(torch.isfinite(p).all() for p in method.model.adapter.parameters())
    method.model.remove_hooks()
