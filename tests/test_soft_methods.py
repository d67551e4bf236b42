"""Soft-token methods: the frozen wrapper, adapters, save/load, training, resume."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch

from personalize.data.loading import load_dataset
from personalize.errors import ConfigError, PersonalizeError
from personalize.evaluation import EvalOptions, evaluate
from personalize.methods import make_method
from personalize.methods.e2p import E2PConfig
from personalize.methods.persoma import PersomaConfig
from personalize.methods.prompt import PromptConfig
from personalize.methods.soft.features import ItemEmbeddings, MeanVector, UserFeatures
from personalize.modeling import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PersonalizedModel, SoftPromptLayout, embedding_norm
from personalize.training import TrainConfig, train

ENC_DIM = 32


def _model(tiny_model, method="e2p", config=None) -> PersonalizedModel:
    config = config or {"e2p": E2PConfig(num_tokens=3, mlp_hidden=16), "persoma": PersomaConfig(num_tokens=2, dim=16, heads=2),
                        "prompt": PromptConfig(num_tokens=2)}[method]
    torch.manual_seed(0)
    return PersonalizedModel.create(tiny_model.model, method, config, base_name=tiny_model.name, encoder_dim=ENC_DIM)


def _features(batch: int, kind: str = "vector", items: int = 5) -> UserFeatures:
    g = torch.Generator().manual_seed(1)
    if kind == "vector":
        return UserFeatures(batch, vector=torch.randn(batch, ENC_DIM, generator=g))
    mask = torch.ones(batch, items, dtype=torch.long)
    mask[0, 3:] = 0
    return UserFeatures(batch, items=torch.randn(batch, items, ENC_DIM, generator=g), item_mask=mask)


@pytest.mark.parametrize("method", ["e2p", "persoma", "prompt"])
def test_only_adapter_parameters_are_trainable(tiny_model, method) -> None:
    model = _model(tiny_model, method)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(name.startswith("adapter.") for name in trainable)
    assert model.trainable_parameters() == sum(p.numel() for p in model.adapter.parameters())
    model.train()
    assert not model.base.training and model.adapter.training


@pytest.mark.parametrize(("method", "kind"), [("e2p", "vector"), ("persoma", "items"), ("prompt", "none")])
def test_soft_tokens_shape_and_norm(tiny_model, method, kind) -> None:
    model = _model(tiny_model, method)
    soft = model.adapter(_features(2, kind) if kind != "none" else UserFeatures(2))
    n = model.config.num_tokens
    assert soft.shape == (2, n, tiny_model.model.config.hidden_size)
    # norm-matched to the model's own embeddings (gain starts at 1)
    assert torch.allclose(soft.norm(dim=-1), torch.full((2, n), embedding_norm(tiny_model.model)), atol=1e-4)


def test_embed_places_soft_tokens_and_masks(tiny_model) -> None:
    model = _model(tiny_model)
    prefixes, suffixes, targets = [[5, 6], [7]], [[8, 9, 10], [11]], [[12, 2], [13, 14, 2]]
    feats = _features(2)
    batch = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2)
    n = 3
    lengths = [2 + n + 3 + 2, 1 + n + 1 + 3]
    width = max(lengths)
    assert batch.inputs_embeds.shape == (2, width, tiny_model.model.config.hidden_size)
    assert batch.attention_mask.tolist() == [[0] * (width - L) + [1] * L for L in lengths]
    assert batch.prompt_tokens == [2 + n + 3, 1 + n + 1]
    # labels: -100 on padding, prompt and soft tokens; the target ids after them
    assert batch.labels[0].tolist() == [-100] * (width - 2) + [12, 2]
    assert batch.labels[1].tolist() == [-100] * (width - 3) + [13, 14, 2]
    soft = model.adapter(feats)
    pad = width - lengths[1]
    assert torch.allclose(batch.inputs_embeds[1, pad + 1 : pad + 1 + n], soft[1])
    emb = tiny_model.model.get_input_embeddings()
    assert torch.allclose(batch.inputs_embeds[0, 0:2], emb(torch.tensor([5, 6])))
    assert torch.equal(batch.inputs_embeds[1, :pad], torch.zeros(pad, batch.inputs_embeds.shape[-1]))
    assert batch.position_ids[1, pad:].tolist() == list(range(lengths[1]))


def test_right_padded_batch_shares_its_prefix_and_gives_the_same_loss_and_gradients(tiny_model) -> None:
    model = _model(tiny_model)
    prefixes, suffixes, targets = [[5, 6, 7], [8, 9]], [[10], [11, 12, 13]], [[14, 2], [15, 16, 2]]
    feats = _features(2)
    right = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2, padding_side="right")
    lengths = [3 + 3 + 1 + 2, 2 + 3 + 3 + 3]
    width = max(lengths)
    assert right.attention_mask.tolist() == [[1] * L + [0] * (width - L) for L in lengths]
    assert right.labels[0].tolist() == [-100] * 7 + [14, 2] + [-100] * (width - 9)
    assert right.shared_prefix == 2  # the shorter prefix: both rows hold real, non-soft tokens there
    left = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2)
    assert left.shared_prefix == 0

    def loss_and_grads(batch, **kw):
        model.zero_grad(set_to_none=True)
        loss = model(batch, **kw)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.adapter.parameters()]

    reference, reference_grads = loss_and_grads(model.embed(prefixes, suffixes, feats, targets, pad_token_id=2))
    for kw in ({}, {"cache_shared_prefix": False}):
        batch = model.embed(prefixes, suffixes, feats, targets, pad_token_id=2, padding_side="right")
        loss, grads = loss_and_grads(batch, **kw)
        assert torch.allclose(loss, reference, atol=1e-5)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, reference_grads))
    with pytest.raises(ValueError):
        model.embed(prefixes, suffixes, feats, targets, padding_side="middle")


def test_compiled_layers_are_scoped_and_skip_adapters_with_hooks(tiny_model) -> None:
    from personalize.training.trainer import CompiledLayers, decoder_layers

    model = _model(tiny_model)
    layers = decoder_layers(tiny_model.model)
    compiled = CompiledLayers(model, True)
    assert compiled.enabled and compiled.reason is None
    with compiled.active():
        assert all("forward" in layer.__dict__ for layer in layers)
    assert not any("forward" in layer.__dict__ for layer in layers)  # generation runs the class's own forward
    assert not CompiledLayers(model, False).enabled
    lora = PersonalizedModel.create(tiny_model.model, "e2p", E2PConfig(num_tokens=1, mlp_hidden=16, lora_rank=2),
                                    base_name=tiny_model.name, encoder_dim=ENC_DIM)
    try:
        skipped = CompiledLayers(lora, True)
        assert not skipped.enabled and "hooks" in skipped.reason
    finally:
        lora.remove_hooks()


def test_compiled_layers_give_the_eager_loss_and_gradients(tiny_model) -> None:
    from personalize.training.trainer import CompiledLayers

    model = _model(tiny_model)
    compiled = CompiledLayers(model, True)
    for width in (2, 5):  # two sequence lengths: one dynamic graph serves both
        prefixes, suffixes, targets = [[5] * width, [6, 7]], [[8], [9] * width], [[10, 2], [11, 2]]
        results = []
        for context in (contextlib.nullcontext(), compiled.active()):
            model.zero_grad(set_to_none=True)
            with context:
                loss = model(model.embed(prefixes, suffixes, _features(2), targets, padding_side="right"), cache_shared_prefix=False)
                loss.backward()
            results.append((loss.detach(), [p.grad.clone() for p in model.adapter.parameters()]))
        (eager, eager_grads), (fused, fused_grads) = results
        assert torch.allclose(eager, fused, atol=1e-4)
        assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(eager_grads, fused_grads))


def test_loss_only_counts_target_tokens(tiny_model) -> None:
    model = _model(tiny_model)
    feats = _features(1)
    batch = model.embed([[5, 6]], [[8]], feats, [[12, 2]], pad_token_id=2)
    logits = tiny_model.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    t = batch.inputs_embeds.shape[1]
    expected = -(logp[t - 3, 12] + logp[t - 2, 2]) / 2
    assert torch.allclose(model(batch), expected, atol=1e-5)


@pytest.mark.parametrize("placement", ["user_start", "before_input", "after_input", "answer_start", "system"])
def test_layout_placements(tiny_tokenizer, placement) -> None:
    from personalize.data.tasks import get_task

    task = get_task("LaMP-7")
    layout = SoftPromptLayout(tiny_tokenizer, task, E2PConfig(placement=placement))
    prefix, suffix = layout.split(task.query_marker.join(["Paraphrase the following tweet without any explanation ", "the cat sat"]))
    left, right = tiny_tokenizer.decode(prefix), tiny_tokenizer.decode(suffix)
    if placement == "user_start":
        assert left.endswith("<|im_start|>user\n") and right.startswith("Paraphrase")
    elif placement == "before_input":
        # the space before the input goes with the input's first word, as in the `none` prompt
        assert left.endswith("before or after it:") and right.startswith(" the cat sat")
    elif placement == "after_input":
        assert left.endswith("the cat sat") and right.startswith("<|im_end|>")
    elif placement == "answer_start":
        assert left.endswith("the cat sat<|im_end|>\n<|im_start|>assistant\n") and suffix == []
    else:
        assert left.endswith("<|im_start|>system\n") and "<|im_start|>user\nParaphrase" in right
    if placement != "answer_start":
        assert right.endswith("<|im_start|>assistant\n")


def test_save_load_round_trip_gives_identical_logits(tiny_model, tmp_path: Path) -> None:
    model = _model(tiny_model, "persoma")
    with torch.no_grad():
        for p in model.adapter.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # not the initial values
    feats = _features(2, "items")
    batch = model.embed([[5], [6, 7]], [[8]], feats, pad_token_id=2)
    before = tiny_model.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    from safetensors.torch import load_file

    assert all(k in model.adapter.state_dict() for k in load_file(str(tmp_path / ADAPTER_WEIGHTS)))
    loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name)
    batch2 = loaded.embed([[5], [6, 7]], [[8]], feats, pad_token_id=2)
    after = tiny_model.model(inputs_embeds=batch2.inputs_embeds, attention_mask=batch2.attention_mask).logits
    assert torch.equal(before, after)


def test_wrong_base_model_is_refused(tiny_model, tmp_path: Path) -> None:
    from conftest import build_tiny_llama

    _model(tiny_model).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="trained on base model"):
        PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name="another-model")
    wider = build_tiny_llama(tiny_model.model.config.vocab_size, hidden_size=48)
    with pytest.raises(ConfigError, match="hidden size"):
        PersonalizedModel.from_pretrained(wider, tmp_path, base_name=tiny_model.name)


def test_strict_load_rejects_mismatched_weights(tiny_model, tmp_path: Path) -> None:
    _model(tiny_model).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / ADAPTER_CONFIG).read_text())
    cfg["config"]["num_tokens"] = 5  # weights were saved for 3 tokens
    (tmp_path / ADAPTER_CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="do not match"):
        PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name)
    with pytest.raises(PersonalizeError, match="not a saved adapter"):
        PersonalizedModel.from_pretrained(tiny_model.model, tmp_path / "nothing", base_name=tiny_model.name)


def test_feature_builder_uses_embedding_cache(fake_encoder, tmp_path: Path) -> None:
    from personalize.encoding import EmbeddingCache

    ds = load_dataset("synthetic-style", "dev", n_users=2, examples_per_user=1)
    cache = EmbeddingCache("hashing", lambda: fake_encoder, root=tmp_path)
    builder = ItemEmbeddings(ds.task, cache, max_items=4)
    feats = builder(list(ds.profiles.values()))
    assert feats.items.shape == (2, 4, ENC_DIM) and feats.item_mask.sum().item() == 8
    calls = fake_encoder.calls
    cache.flush()  # what the end of a process does (atexit); small batches are written lazily
    fresh = EmbeddingCache("hashing", lambda: fake_encoder, root=tmp_path)  # a new process, same disk
    again = ItemEmbeddings(ds.task, fresh, max_items=4)(list(ds.profiles.values()))
    assert fake_encoder.calls == calls and fresh.encoded == 0
    assert torch.equal(feats.items, again.items)
    vector = MeanVector(ds.task, fresh, max_items=4)(list(ds.profiles.values())).vector
    assert torch.allclose(vector, feats.items.mean(1), atol=1e-6)
    assert len(list(tmp_path.glob("shard-*.npy"))) == 1


def test_embedding_cache_batches_one_off_texts_into_few_shards(fake_encoder, tmp_path: Path) -> None:
    from personalize.encoding import EmbeddingCache

    cache = EmbeddingCache("hashing", lambda: fake_encoder, root=tmp_path, flush_every=10)
    for i in range(25):  # e.g. one retrieval query per example
        cache.encode([f"query number {i}"])
    assert len(list(tmp_path.glob("shard-*.npy"))) == 2  # flushed at 10 and 20 pending texts
    cache.flush()
    fresh = EmbeddingCache("hashing", lambda: fake_encoder, root=tmp_path)
    assert len(fresh) == 25


def test_soft_method_generates_and_scores_batched(tiny_model, fake_encoder, tmp_path: Path) -> None:
    model = _model(tiny_model)
    model.save_pretrained(tmp_path / "a")
    ds = load_dataset("synthetic-pref", "dev", n_users=3, examples_per_user=1)
    method = make_method("e2p", {"adapter": str(tmp_path / "a")})
    res = evaluate(method, ds, model=tiny_model, options=EvalOptions(batch_size=2), show_progress=False, out_dir=tmp_path / "ev")
    assert res["mode"] == "score" and res["mean_context_tokens"] == 3 and res["trainable_parameters"] == model.trainable_parameters()
    preds = json.loads((tmp_path / "ev" / "predictions.json").read_text())["golds"]
    assert all(p["output"] in ds.task.labels for p in preds)
    # generation: each row of a padded batch equals that example alone
    opts = EvalOptions(mode="generate", batch_size=3, decoding={"max_new_tokens": 5})
    together = evaluate(make_method("e2p", {"adapter": str(tmp_path / "a")}), ds, model=tiny_model, options=opts,
                        show_progress=False, out_dir=tmp_path / "g3")
    alone = evaluate(make_method("e2p", {"adapter": str(tmp_path / "a")}), ds,
                     model=tiny_model, options=EvalOptions(mode="generate", batch_size=1, decoding={"max_new_tokens": 5}),
                     show_progress=False, out_dir=tmp_path / "g1")
    read = lambda d: json.loads((tmp_path / d / "predictions.json").read_text())["golds"]  # noqa: E731
    assert read("g3") == read("g1")
    assert together["n_examples"] == alone["n_examples"] == 3


def test_adapter_of_another_method_is_refused(tiny_model, fake_encoder, tmp_path: Path) -> None:
    _model(tiny_model).save_pretrained(tmp_path)
    ds = load_dataset("synthetic-pref", "dev", n_users=1, examples_per_user=1)
    with pytest.raises(ConfigError, match="holds a 'e2p' adapter"):
        evaluate(make_method("persoma", {"adapter": str(tmp_path)}), ds, model=tiny_model, show_progress=False)
    with pytest.raises(ConfigError, match="needs a trained adapter"):
        evaluate(make_method("e2p"), ds, model=tiny_model, show_progress=False)


@pytest.mark.parametrize("name", ["e2p", "persoma", "xattn", "rag-prefix", "prompt"])
def test_whether_a_method_reads_users_is_known_before_and_after_setup(fake_encoder, name) -> None:
    """The shuffled-history ablations ask before a method is set up: its kind must give the
    answer its feature builder gives once set up (the control reads nothing)."""
    from personalize.methods.soft.adapter import ADAPTERS, make_feature_builder

    ds = load_dataset("synthetic-pref", "dev", n_users=1, examples_per_user=1)
    kind = ADAPTERS.get(name)
    before = make_method(name).reads_profile
    after = make_feature_builder(name, kind.config_class(), ds.task).reads_profile
    assert before == after == (name != "prompt")


def _train_config(method: str, **kw) -> TrainConfig:
    adapter = {"num_tokens": 2, "mlp_hidden": 32} if method == "e2p" else {"num_tokens": 2}
    base = dict(method=method, data="synthetic-pref:n_users=6,items_per_user=12,examples_per_user=6", adapter=adapter,
                epochs=8, batch_size=6, lr=5e-2, warmup_ratio=0.0, patience=100, eval={"batch_size": 16})
    base.update(kw)
    return TrainConfig(**base)


def test_e2p_beats_the_control_on_synthetic_preferences(steerable_tiny_model, fake_encoder, tmp_path: Path) -> None:
    """Each synthetic user picks genres by their own ranking, which their history shows.

    E2P sees a user vector and can learn each user's leanings; the shared soft prompt (the control,
    same N, same training) can only learn what all users have in common. On held-out examples of
    the same users, E2P's answers must be clearly more likely. (A random 1-layer model cannot read
    the item text, so its label accuracy stays near chance for both: the comparison is on the dev
    answers' token loss, which the trainer reports every epoch.)
    """
    e2p = train(_train_config("e2p"), tmp_path / "e2p", loaded_model=steerable_tiny_model, show_progress=False)
    control = train(_train_config("prompt"), tmp_path / "prompt", loaded_model=steerable_tiny_model, show_progress=False)
    read = lambda d: [json.loads(line) for line in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]  # noqa: E731
    e2p_log, control_log = read("e2p"), read("prompt")
    assert len(e2p_log) == len(control_log) == 8
    assert e2p_log[-1]["dev_loss"] < control_log[-1]["dev_loss"] - 0.3
    assert e2p_log[-1]["train_loss"] < e2p_log[0]["train_loss"] - 0.5  # it learned at all
    assert (tmp_path / "e2p" / ADAPTER_WEIGHTS).is_file() and (tmp_path / "e2p" / "dev" / "results.json").is_file()
    assert e2p["trainable_parameters"] > control["trainable_parameters"]


def test_training_is_reproducible_and_resumes_after_a_kill(tiny_model, fake_encoder, tmp_path: Path, monkeypatch) -> None:
    cfg = _train_config("e2p", epochs=2, max_train_examples=12, dev_limit=4)
    train(cfg, tmp_path / "full", loaded_model=tiny_model, show_progress=False)

    import personalize.training.trainer as trainer

    real_evaluate, calls = trainer.evaluate, {"n": 0}

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after epoch 1 was checkpointed
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", loaded_model=tiny_model, show_progress=False)
    state = json.loads((tmp_path / "killed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 1
    monkeypatch.setattr(trainer, "evaluate", real_evaluate)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tmp_path / "killed", loaded_model=tiny_model, show_progress=False)
    train(cfg, tmp_path / "killed", loaded_model=tiny_model, show_progress=False, resume=True)
    from safetensors.torch import load_file

    full = load_file(str(tmp_path / "full" / "checkpoint" / "adapter.safetensors"))
    resumed = load_file(str(tmp_path / "killed" / "checkpoint" / "adapter.safetensors"))
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.allclose(full[key], resumed[key], atol=1e-6), key


def test_lr_schedule_and_buckets() -> None:
    from personalize.training.trainer import length_buckets, lr_factor

    assert [round(lr_factor(s, 10, 2), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    assert length_buckets([10, 10, 10, 30, 30, 5], 4, max_batch_area=2000) == [[5, 0, 1, 2], [3, 4]]
    assert length_buckets([10, 50, 60], 4, max_batch_area=2000) == [[0], [1], [2]]  # too long alone: still kept
    buckets = length_buckets([5, 1, 9, 3, 7], 2)
    assert buckets == [[1, 3], [0, 4], [2]]


def test_lora_option_lives_in_the_adapter_and_only_acts_when_active(tiny_model, tmp_path: Path) -> None:
    cfg = E2PConfig(num_tokens=1, mlp_hidden=16, lora_rank=2)
    model = PersonalizedModel.create(tiny_model.model, "e2p", cfg, base_name=tiny_model.name, encoder_dim=ENC_DIM)
    try:
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert any(".lora." in n for n in trainable) and all(n.startswith("adapter.") for n in trainable)
        with torch.no_grad():
            for update in model.adapter.lora.values():
                update.B.normal_()  # B starts at 0 (a no-op); make the update visible
        ids = torch.tensor([[5, 6, 7]])
        plain = tiny_model.model(input_ids=ids).logits
        with model.active():
            adapted = tiny_model.model(input_ids=ids).logits
        assert not torch.allclose(plain, adapted)
        assert torch.equal(tiny_model.model(input_ids=ids).logits, plain)  # nothing leaks outside
        model.save_pretrained(tmp_path)
        reloaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name)
        with reloaded.active():
            assert torch.allclose(tiny_model.model(input_ids=ids).logits, adapted)
        reloaded.remove_hooks()
    finally:
        model.remove_hooks()


def test_training_attention_switch_is_scoped(tiny_model) -> None:
    from personalize.training.trainer import attention_implementation

    model = tiny_model.model
    before = model.config._attn_implementation
    ids = torch.tensor([[5, 6, 7, 8]])
    reference = model(input_ids=ids).logits
    with attention_implementation(model, "eager"):
        assert model.config._attn_implementation == "eager"
        assert torch.allclose(model(input_ids=ids).logits, reference, atol=1e-5)
    assert model.config._attn_implementation == before


def test_embedding_cache_refuses_vectors_of_another_width(tmp_path: Path) -> None:
    from conftest import HashingEncoder
    from personalize.encoding import EmbeddingCache

    EmbeddingCache("enc", lambda: HashingEncoder(dim=16), root=tmp_path).encode([f"t{i}" for i in range(70)])
    with pytest.raises(ConfigError, match="16-d vectors"):
        EmbeddingCache("enc", lambda: HashingEncoder(dim=32), root=tmp_path).encode(["something new"])


def test_running_standardize_learns_the_training_statistics_and_freezes_them_in_eval() -> None:
    from personalize.methods.soft.layers import RunningStandardize

    g = torch.Generator().manual_seed(0)
    # users who share most of their vector: a large common part, a small per-user offset
    data = 0.5 + 0.01 * torch.randn(40, 6, generator=g)
    layer = RunningStandardize(6).train()
    for batch in data.split(7):  # uneven batches, the last one of 5
        layer(batch)
    assert torch.allclose(layer.mean, data.mean(0), atol=1e-6)
    assert torch.allclose(layer.var, data.var(0, unbiased=False), atol=1e-7)
    out = layer.eval()(data)
    assert torch.allclose(out.mean(0), torch.zeros(6), atol=1e-3) and torch.allclose(out.std(0, unbiased=False), torch.ones(6), atol=1e-2)
    before = layer.mean.clone()
    layer(torch.full((3, 6), 9.0))  # eval: statistics frozen
    assert torch.equal(layer.mean, before)
    assert layer(data[:1]).shape == (1, 6)


def test_e2p_standardized_input_is_saved_with_the_adapter(tiny_model, tmp_path: Path) -> None:
    model = _model(tiny_model, "e2p", E2PConfig(num_tokens=2, mlp_hidden=16, input_norm="standardize"))
    feats = _features(4)
    model.train()
    model.adapter(feats)  # training updates the statistics
    model.eval()
    tokens = model.adapter(feats)
    assert int(model.adapter.projector.standardize.count) == 4
    model.save_pretrained(tmp_path)
    loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name).eval()
    assert loaded.config.input_norm == "standardize"
    assert torch.equal(loaded.adapter(feats), tokens)
    with pytest.raises(ConfigError):
        E2PConfig.from_dict({"input_norm": "pca"}, source="test")


def test_whitening_makes_an_attribute_of_two_dimensions_as_strong_as_one_of_a_hundred() -> None:
    from personalize.methods.soft.layers import Whiten

    g = torch.Generator().manual_seed(0)
    users, dim = 200, 120
    wide = torch.randint(0, 2, (users,), generator=g).float()  # moves 100 dimensions (letter case)
    narrow = torch.randint(0, 2, (users,), generator=g).float()  # moves 2 (a spelling)
    data = 0.01 * torch.randn(users, dim, generator=g)
    data[:, :100] += wide[:, None]
    data[:, 100:102] += narrow[:, None]

    def separation(x: torch.Tensor, label: torch.Tensor) -> float:
        return float((x[label == 1].mean(0) - x[label == 0].mean(0)).norm())

    standardized = (data - data.mean(0)) / data.std(0, unbiased=False)
    assert separation(standardized, wide) > 5 * separation(standardized, narrow)
    layer = Whiten(dim, components=2)
    with pytest.raises(RuntimeError, match="before fit"):
        layer(data)
    layer.fit(data)
    out = layer(data)
    assert out.shape == (users, 2)
    assert torch.allclose(out.T @ out / users, torch.eye(2), atol=1e-3)  # decorrelated, unit variance
    # a binary attribute of unit variance: class means about 2 apart, whichever dimensions it moves
    assert 1.8 < separation(out, narrow) < 2.2 and 1.8 < separation(out, wide) < 2.2
    with pytest.raises(ConfigError, match="more than 8 distinct training users"):
        Whiten(dim, components=8).fit(data[:8])


@pytest.mark.parametrize("method", ["e2p", "persoma"])
def test_whitened_input_is_fitted_by_training_and_saved_with_the_adapter(tiny_model, fake_encoder, tmp_path: Path,
                                                                         method) -> None:
    settings = {"mlp_hidden": 16} if method == "e2p" else {"dim": 16, "heads": 2, "resampler": "mlp"}
    config = TrainConfig(method=method, data="synthetic-style:seed=0,n_users=16,items_per_user=4,examples_per_user=2",
                         adapter={"num_tokens": 1, **settings, "input_norm": "whiten", "whiten_components": 4},
                         epochs=1, batch_size=8, dev_limit=4, dev_eval=False)
    train(config, tmp_path / "run", loaded_model=tiny_model, show_progress=False)
    loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path / "run", base_name=tiny_model.name).eval()
    whiten = loaded.adapter.projector.standardize if method == "e2p" else loaded.adapter.standardize
    assert loaded.config.input_norm == "whiten" and bool(whiten.fitted) and whiten.projection.shape[1] == 4
    first = loaded.adapter.projector.net[0] if method == "e2p" else loaded.adapter.resampler.item_mlp[0]
    assert first.in_features == 4
    config_class = E2PConfig if method == "e2p" else PersomaConfig
    with pytest.raises(ConfigError, match="whiten_components"):
        config_class(input_norm="whiten", whiten_components=0)
    with pytest.raises(ConfigError, match="applies only with input_norm 'whiten'"):
        config_class(input_norm="standardize", whiten_components=64)
    assert config_class(input_norm="whiten").whiten_components is None  # the default size, 128


def test_running_standardize_per_item_ignores_padding() -> None:
    from personalize.methods.soft.layers import RunningStandardize

    g = torch.Generator().manual_seed(0)
    items = 2.0 + torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    items[mask == 0] = 1e6  # padding must neither move the statistics nor come out
    layer = RunningStandardize(5).train()
    out = layer(items, mask)
    valid = items[mask.bool()]
    assert int(layer.count) == 7
    assert torch.allclose(layer.mean, valid.mean(0), atol=1e-5)
    assert torch.allclose(layer.var, valid.var(0, unbiased=False), atol=1e-4)
    assert torch.equal(out[mask == 0], torch.zeros(5, 5))
    assert torch.allclose(out[mask.bool()], (valid - valid.mean(0)) / (valid.var(0, unbiased=False) + 1e-6).sqrt(), atol=1e-4)


@pytest.mark.parametrize("resampler", ["perceiver", "mlp"])
def test_persoma_standardized_items_are_saved_with_the_adapter(tiny_model, tmp_path: Path, resampler) -> None:
    config = PersomaConfig(num_tokens=2, dim=16, heads=2, resampler=resampler, input_norm="standardize")
    model = _model(tiny_model, "persoma", config)
    feats = _features(4, kind="items")
    model.train()
    model.adapter(feats)
    model.eval()
    tokens = model.adapter(feats)
    assert int(model.adapter.standardize.count) == int(feats.item_mask.sum())
    model.save_pretrained(tmp_path)
    loaded = PersonalizedModel.from_pretrained(tiny_model.model, tmp_path, base_name=tiny_model.name).eval()
    assert loaded.config.input_norm == "standardize"
    assert torch.equal(loaded.adapter(feats), tokens)


def test_persoma_item_dropout_samples_the_history_in_training_only(tiny_model) -> None:
    from personalize.methods.persoma.model import drop_items

    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    torch.manual_seed(0)
    dropped = [drop_items(mask, 0.5) for _ in range(50)]
    assert all(((d == 1) <= (mask == 1)).all() and (d.sum(1) >= 1).all() for d in dropped)  # padding stays out
    assert any(not torch.equal(d, mask) for d in dropped)
    assert torch.equal(drop_items(mask, 0.999999)[2], mask[2])  # the only item is never dropped

    config = PersomaConfig(num_tokens=2, dim=16, resampler="mlp", item_dropout=0.5)
    model = _model(tiny_model, "persoma", config)
    feats = _features(4, kind="items")
    model.eval()
    reference = _model(tiny_model, "persoma", PersomaConfig(num_tokens=2, dim=16, resampler="mlp")).eval()
    reference.adapter.load_state_dict(model.adapter.state_dict())
    assert torch.equal(model.adapter(feats), reference.adapter(feats))  # inference reads every item
    model.train()
    torch.manual_seed(1)
    assert not torch.equal(model.adapter(feats), reference.adapter(feats))
    assert PersomaConfig.from_dict(config.to_dict(), source="test") == config
    with pytest.raises(ConfigError, match="item_dropout"):
        PersomaConfig(item_dropout=1.0)


def test_e2p_user_dropout_gives_dropped_rows_the_mean_user_in_training_only(tiny_model) -> None:
    config = E2PConfig(num_tokens=1, mlp_hidden=16, input_norm="standardize", user_dropout=0.5)
    model = _model(tiny_model, "e2p", config)
    feats = _features(8)
    reference = _model(tiny_model, "e2p", E2PConfig(num_tokens=1, mlp_hidden=16, input_norm="standardize"))
    model.train()
    model.adapter(feats)  # the running statistics see the batch
    reference.adapter.load_state_dict(model.adapter.state_dict())
    model.eval()
    reference.eval()
    assert torch.equal(model.adapter(feats), reference.adapter(feats))  # inference reads every user
    mean_user = reference.adapter(UserFeatures(1, vector=model.adapter.projector.standardize.mean[None].clone()))
    model.train()
    torch.manual_seed(0)
    tokens = model.adapter(feats)
    own = reference.adapter(feats)
    dropped = [i for i in range(8) if torch.allclose(tokens[i], mean_user[0], atol=1e-6)]
    kept = [i for i in range(8) if torch.allclose(tokens[i], own[i], atol=1e-6)]
    assert dropped and kept and sorted(dropped + kept) == list(range(8))
    assert E2PConfig.from_dict(config.to_dict(), source="test") == config
    with pytest.raises(ConfigError, match="user_dropout"):
        E2PConfig(user_dropout=1.0)
    with pytest.raises(ConfigError, match="cannot be combined"):  # the steering would still read the user
        E2PConfig(user_dropout=0.25, steer_layers=[10])
