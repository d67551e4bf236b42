"""Label scoring and greedy generation against brute-force references on a tiny random Llama."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from personalize.errors import ConfigError
from personalize.generation import (
    DecodingConfig,
    GeneratedNoRepeatNGram,
    GeneratedRepetitionPenalty,
    eos_token_ids,
    generate,
    label_token_ids,
    position_ids_from_mask,
    postprocess,
    score_labels,
)
from personalize.methods.base import left_pad

PROMPTS = [
    "<|im_start|>user\nWhat is the score of the following review? great book<|im_end|>\n<|im_start|>assistant\n",
    "the cat sat",
    "honestly the weather is lovely today!!! see you at the park #sunny mystery romance science history travel "
    "and the team recommended the backyard over the weekend",
]
LABELS = ["1", "mystery", "science", "5", "romance"]


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


@torch.inference_mode()
def brute_force_logprob(model, prompt: list[int], label: list[int]) -> float:
    """log p(label | prompt) from ONE full forward of the unpadded prompt+label sequence."""
    seq = torch.tensor([prompt + label])
    logprobs = torch.log_softmax(model(input_ids=seq).logits[0].float(), dim=-1)
    return float(sum(logprobs[len(prompt) - 1 + j, tok] for j, tok in enumerate(label)))


def test_label_token_ids_appends_eos(tiny_tokenizer) -> None:
    ids = label_token_ids(tiny_tokenizer, ["1", "mystery"])
    eos = tiny_tokenizer.eos_token_id
    assert ids[0] == tiny_tokenizer("1", add_special_tokens=False)["input_ids"] + [eos]
    assert ids[1][-1] == eos and len(ids[1]) >= 3
    assert label_token_ids(tiny_tokenizer, ["1"], append_eos=False) == [tiny_tokenizer("1", add_special_tokens=False)["input_ids"]]


def test_position_ids_skip_left_padding() -> None:
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_left_pad() -> None:
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=2)
    assert ids.tolist() == [[5, 6, 7], [2, 2, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_score_labels_matches_brute_force(tiny_model) -> None:
    tok, model = tiny_model.tokenizer, tiny_model.model
    prompts = encode(tok, PROMPTS)
    assert len({len(p) for p in prompts}) == 3  # different lengths: real left padding
    label_ids = label_token_ids(tok, LABELS)
    lengths = sorted({len(ids) for ids in label_ids})
    assert lengths[0] == 2 and lengths[-1] >= 4  # single-token labels (+EOS) and longer ones
    input_ids, mask = left_pad(prompts, tok.pad_token_id)
    assert (mask == 0).any()
    scores = score_labels(model, label_ids=label_ids, input_ids=input_ids, attention_mask=mask, pad_token_id=tok.pad_token_id)
    assert scores.shape == (3, len(LABELS)) and scores.dtype == torch.float32
    expected = torch.tensor([[brute_force_logprob(model, p, lab) for lab in label_ids] for p in prompts])
    torch.testing.assert_close(scores, expected, atol=1e-4, rtol=0)
    assert (scores < 0).all()


def test_score_labels_with_inputs_embeds(tiny_model) -> None:
    tok, model = tiny_model.tokenizer, tiny_model.model
    prompts = encode(tok, PROMPTS[:2])
    label_ids = label_token_ids(tok, LABELS[:3])
    input_ids, mask = left_pad(prompts, tok.pad_token_id)
    embeds = model.get_input_embeddings()(input_ids)
    by_embeds = score_labels(model, label_ids=label_ids, inputs_embeds=embeds, attention_mask=mask, pad_token_id=tok.pad_token_id)
    expected = torch.tensor([[brute_force_logprob(model, p, lab) for lab in label_ids] for p in prompts])
    torch.testing.assert_close(by_embeds, expected, atol=1e-4, rtol=0)


def test_score_labels_single_token_fast_path(tiny_model) -> None:
    tok, model = tiny_model.tokenizer, tiny_model.model
    label_ids = label_token_ids(tok, ["1", "2", "3", "4", "5"], append_eos=False)
    assert all(len(ids) == 1 for ids in label_ids)
    prompts = encode(tok, PROMPTS)
    input_ids, mask = left_pad(prompts, tok.pad_token_id)
    scores = score_labels(model, label_ids=label_ids, input_ids=input_ids, attention_mask=mask, pad_token_id=tok.pad_token_id)
    expected = torch.tensor([[brute_force_logprob(model, p, lab) for lab in label_ids] for p in prompts])
    torch.testing.assert_close(scores, expected, atol=1e-4, rtol=0)
    # log-probabilities of distinct next tokens: their probabilities sum to at most 1
    assert (scores.exp().sum(-1) <= 1 + 1e-5).all()


def test_score_labels_of_a_bf16_model_come_from_float32_logits(tiny_model) -> None:
    """bf16 logits are rounded to steps of 0.125-0.25 where a real model's logits lie, so that
    label scores tie; the scores must be computed from the output layer's input in float32."""
    tok = tiny_model.tokenizer
    model = copy.deepcopy(tiny_model.model).to(torch.bfloat16)
    head = model.get_output_embeddings()
    with torch.no_grad():
        head.weight.mul_(300)  # logits in the tens, as a trained model's
    label_ids = label_token_ids(tok, ["1", "2", "3", "4", "5"], append_eos=False)
    heard: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda module, args: heard.append(args[0].detach().clone()))
    ids = torch.tensor(encode(tok, PROMPTS[:1]))
    try:
        scores = score_labels(model, label_ids=label_ids, input_ids=ids, attention_mask=torch.ones_like(ids))
    finally:
        handle.remove()
    logits = heard[0][:, -1].float() @ head.weight.float().T  # [1, vocab]
    assert logits.abs().max() > 16  # where bf16's step is 0.125 or more
    first = [ids[0] for ids in label_ids]
    expected = torch.log_softmax(logits, dim=-1)[:, first]
    torch.testing.assert_close(scores, expected, atol=1e-4, rtol=0)
    rounded = torch.log_softmax(logits.bfloat16().float(), dim=-1)[:, first]
    assert (rounded - expected).abs().max() > 1e-3  # what bf16 logits would have given differs
    assert head.weight.dtype == torch.bfloat16 and not head._forward_hooks  # the model is left as it was


# ---------------------------------------------------------------------------------- generation


@torch.inference_mode()
def brute_force_greedy(model, tokenizer, prompt: list[int], max_new: int) -> str:
    """Greedy decoding without cache or padding: a full forward per step."""
    eos = set(eos_token_ids(model, tokenizer))
    seq = list(prompt)
    for _ in range(max_new):
        nxt = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
        if nxt in eos:
            break
        seq.append(nxt)
    return tokenizer.decode(seq[len(prompt) :], skip_special_tokens=True).strip()


def test_generate_left_padded_batch_matches_each_row_alone(tiny_model) -> None:
    tok, model = tiny_model.tokenizer, tiny_model.model
    prompts = encode(tok, PROMPTS)
    cfg = DecodingConfig()
    input_ids, mask = left_pad(prompts, tok.pad_token_id)
    batched = generate(model, tok, input_ids=input_ids, attention_mask=mask, decoding=cfg, max_new_tokens=8)
    alone = []
    for p in prompts:
        ids, m = left_pad([p], tok.pad_token_id)
        alone.append(generate(model, tok, input_ids=ids, attention_mask=m, decoding=cfg, max_new_tokens=8)[0])
    assert batched == alone
    assert batched == [brute_force_greedy(model, tok, p, 8) for p in prompts]
    assert any(batched), "the tiny model should generate some text"


@torch.inference_mode()
def brute_force_greedy_no_repeat(model, tokenizer, prompt: list[int], max_new: int, n: int) -> str:
    """Greedy decoding that never repeats an n-gram of the generated tokens (prompt ignored)."""
    eos = set(eos_token_ids(model, tokenizer))
    gen: list[int] = []
    for _ in range(max_new):
        logits = model(input_ids=torch.tensor([prompt + gen])).logits[0, -1].clone()
        if len(gen) >= n:
            prefix = gen[len(gen) - n + 1 :] if n > 1 else []
            for i in range(len(gen) - n + 1):
                if gen[i : i + n - 1] == prefix:
                    logits[gen[i + n - 1]] = -math.inf
        nxt = int(logits.argmax())
        if nxt in eos:
            break
        gen.append(nxt)
    return tokenizer.decode(gen, skip_special_tokens=True).strip()


@pytest.mark.parametrize("n", [1, 2])
def test_generate_no_repeat_ngram_matches_reference(tiny_model, n: int) -> None:
    tok, model = tiny_model.tokenizer, tiny_model.model
    prompts = encode(tok, PROMPTS)
    input_ids, mask = left_pad(prompts, tok.pad_token_id)
    out = generate(model, tok, input_ids=input_ids, attention_mask=mask, decoding=DecodingConfig(no_repeat_ngram_size=n),
                   max_new_tokens=12)  # fmt: skip
    assert out == [brute_force_greedy_no_repeat(model, tok, p, 12, n) for p in prompts]


# ------------------------------------------------------------------------- logits processors


def test_no_repeat_ngram_only_counts_generated_tokens() -> None:
    # prompt [5, 6, 7]; generated [5, 8, 5]. The bigram (5, 8) was generated: 8 is banned after 5.
    # The bigram (5, 6) only occurs in the prompt: 6 stays allowed.
    input_ids = torch.tensor([[5, 6, 7, 5, 8, 5], [5, 6, 7, 9, 9, 9]])
    scores = torch.zeros(2, 12)
    out = GeneratedNoRepeatNGram(2, start=3)(input_ids, scores.clone())
    assert out[0, 8] == -math.inf
    assert torch.isfinite(out[0, torch.arange(12) != 8]).all()
    # row 2: generated (9, 9) twice, current suffix 9 -> 9 banned, nothing else
    assert out[1, 9] == -math.inf
    assert torch.isfinite(out[1, torch.arange(12) != 9]).all()

    # transformers' own processor counts the prompt, and would also ban 6
    from transformers import NoRepeatNGramLogitsProcessor

    hf = NoRepeatNGramLogitsProcessor(2)(input_ids[:1], torch.zeros(1, 12))
    assert hf[0, 6] == -math.inf


def test_no_repeat_ngram_trigram_and_short_generation() -> None:
    proc = GeneratedNoRepeatNGram(3, start=2)
    # generated [1, 2, 3, 1, 2] -> prefix (1, 2) was followed by 3 -> ban 3
    out = proc(torch.tensor([[9, 9, 1, 2, 3, 1, 2]]), torch.zeros(1, 10))
    assert out[0].isinf().nonzero().flatten().tolist() == [3]
    # fewer generated tokens than n: untouched, even though the prompt repeats
    scores = torch.randn(1, 10)
    assert torch.equal(proc(torch.tensor([[1, 2, 1, 2, 1]]), scores.clone()), scores)


def test_repetition_penalty_only_touches_generated_tokens() -> None:
    scores = torch.tensor([[1.0, -1.0, 2.0, -2.0, 4.0, -4.0, 0.5]])
    # prompt [0, 1, 2]; generated [4, 5, 4]
    out = GeneratedRepetitionPenalty(2.0, start=3)(torch.tensor([[0, 1, 2, 4, 5, 4]]), scores.clone())
    assert out.tolist() == [[1.0, -1.0, 2.0, -2.0, 2.0, -8.0, 0.5]]
    # nothing generated yet: unchanged
    same = GeneratedRepetitionPenalty(2.0, start=3)(torch.tensor([[0, 1, 2]]), scores.clone())
    assert torch.equal(same, scores)


# --------------------------------------------------------------------------------- postprocess


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('  "hello world"  ', "hello world"),
        ("Paraphrase: hi there\nsecond line", "hi there"),
        ("\n\nTweet : 'x y'\n", "x y"),
        ("Paraphrased tweet: ok", "ok"),
        ("answer:5", "5"),
        ('"unbalanced', '"unbalanced'),
        ('"', '"'),
        ("", ""),
        ("   \n  ", ""),
        ("plain text", "plain text"),
        ("my paraphrase: stays", "my paraphrase: stays"),
    ],
)
def test_postprocess_clean(raw: str, expected: str) -> None:
    assert postprocess(raw, "clean") == expected


def test_postprocess_strip_keeps_lines_and_quotes() -> None:
    assert postprocess('  "a"\nb  ', "strip") == '"a"\nb'


# ---------------------------------------------------------------------------------- config


def test_decoding_config_json_round_trip(tmp_path) -> None:
    cfg = DecodingConfig(max_new_tokens=12, no_repeat_ngram_size=3, repetition_penalty=1.2, postprocess="clean")
    assert DecodingConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "decoding.json"
    cfg.save(path)
    assert DecodingConfig.load(path) == cfg
    assert DecodingConfig.from_dict({}) == DecodingConfig()


def test_decoding_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_tokens"):
        DecodingConfig.from_dict({"max_tokens": 4})
    with pytest.raises(ConfigError, match="postprocess"):
        DecodingConfig.from_dict({"postprocess": "tidy"})
    with pytest.raises(ConfigError, match="no_repeat_ngram_size"):
        DecodingConfig.from_dict({"no_repeat_ngram_size": "3"})


def test_lm_head_gets_standard_strides_even_for_a_batch_one_slice(tiny_model) -> None:
    """A ``[1, 1, H]`` slice of ``[1, T, H]`` counts as contiguous but keeps an odd stride, which
    sends CPU matmul down a path that copies the whole vocabulary matrix per call."""
    from personalize.models.llm import contiguous_lm_head_inputs, with_standard_strides

    hidden = torch.randn(1, 7, 16)
    last = hidden[:, -1:, :]
    assert last.is_contiguous() and last.stride() != (16, 16, 1)
    fixed = with_standard_strides(last)
    assert fixed.stride() == (16, 16, 1) and torch.equal(fixed, last)
    standard = torch.randn(2, 3, 4)
    assert with_standard_strides(standard) is standard

    from conftest import build_tiny_llama

    model = build_tiny_llama(len(tiny_model.tokenizer))
    contiguous_lm_head_inputs(model)
    seen = []
    model.get_output_embeddings().register_forward_pre_hook(lambda module, args: seen.append(args[0].stride()))
    with torch.no_grad():
        model(input_ids=torch.tensor([[5, 6, 7, 8]]), logits_to_keep=1)
    hidden_size = model.config.hidden_size
    assert seen == [(hidden_size, hidden_size, 1)]
