"""User steering (``steer_layers`` of E2P and PERSOMA): a vector from the user added after chosen decoder layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from personalize.errors import ConfigError
from personalize.methods.e2p import E2PConfig
from personalize.methods.soft.features import UserFeatures
from personalize.modeling import PersonalizedModel

ENC_DIM = 8


def _steered(tiny_model, layers=(0, 1)) -> PersonalizedModel:
    torch.manual_seed(0)
    config = E2PConfig(num_tokens=1, mlp_hidden=16, steer_layers=list(layers))
    return PersonalizedModel.create(tiny_model.model, "e2p", config, base_name=tiny_model.name, encoder_dim=ENC_DIM)


def _users(batch: int, seed: int) -> UserFeatures:
    return UserFeatures(batch, vector=torch.randn(batch, ENC_DIM, generator=torch.Generator().manual_seed(seed)))


def _logits(model: PersonalizedModel, features: UserFeatures) -> torch.Tensor:
    batch = model.embed([[5, 6], [7]], [[8], [8, 9]], features, pad_token_id=2)
    with model.active(batch.memory):
        return model.base(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                          position_ids=batch.position_ids).logits


def test_fresh_steering_is_an_exact_no_op(tiny_model) -> None:
    steered, plain = _steered(tiny_model), _steered(tiny_model, layers=())
    try:
        assert steered.has_hooks and not plain.has_hooks
        assert torch.equal(_logits(steered, _users(2, 1)), _logits(plain, _users(2, 1)))
    finally:
        steered.remove_hooks()


def test_steering_moves_every_position_by_user_and_round_trips(tiny_model, tmp_path: Path) -> None:
    model = _steered(tiny_model)
    try:
        with torch.no_grad():
            model.adapter.steer[-1].weight.normal_(std=0.5)
        tokens_only = _steered(tiny_model)  # the same soft tokens, steering still zero
        tokens_only.adapter.projector.load_state_dict(model.adapter.projector.state_dict())
        a, b = _logits(model, _users(2, 1)), _logits(model, _users(2, 2))
        plain = _logits(tokens_only, _users(2, 1))
        tokens_only.remove_hooks()
        # every position of the prompt moves, the first one too (before the soft token)
        assert (a - plain)[0].abs().amax(-1).min() > 0 and not torch.allclose(a, b)
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        assert any(name.startswith("adapter.steer.") for name in trainable)
        assert all(name.startswith("adapter.") for name in trainable)
        model.save_pretrained(tmp_path)
        model.remove_hooks()
        loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name)
        assert torch.equal(_logits(loaded, _users(2, 1)), a)
        loaded.remove_hooks()
    finally:
        model.remove_hooks()


@pytest.mark.parametrize("layers, message", [((0, 0), "twice"), ((-1,), "steer_layers"), ((99,), "past the base model")])
def test_bad_steer_layers_are_one_line_errors(tiny_model, layers, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _steered(tiny_model, layers).remove_hooks()


def test_persoma_steering_reads_the_mean_item_and_starts_as_a_no_op(tiny_model) -> None:
    from personalize.methods.persoma import PersomaConfig

    torch.manual_seed(0)
    config = PersomaConfig(num_tokens=2, dim=16, heads=2, resampler="mlp", steer_layers=[1])
    model = PersonalizedModel.create(tiny_model.model, "persoma", config, base_name=tiny_model.name, encoder_dim=ENC_DIM)
    try:
        g = torch.Generator().manual_seed(3)
        items, mask = torch.randn(2, 4, ENC_DIM, generator=g), torch.ones(2, 4, dtype=torch.long)
        mask[1, 2:] = 0
        features = UserFeatures(2, items=items, item_mask=mask)
        steer = model.adapter.memory(features)
        assert steer.shape == (2, 1, tiny_model.model.config.hidden_size) and not steer.any()
        # the padded items of row 1 do not count: its input is the mean of its first two items
        assert torch.allclose(model.adapter.steering_input(features)[1], items[1, :2].mean(0))
    finally:
        model.remove_hooks()
