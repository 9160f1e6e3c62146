"""The exact attention path equals transformers' Longformer attention: logits, loss and every parameter's gradient,
fp32 on CPU with dropout off, on both sides of each length where the two codes differ."""

import copy

import pytest
import torch
import torch.nn.functional as F

from dragon_repro.modeling.batching import batch_multiple
from dragon_repro.modeling.exact_attention import install_exact_attention, uses_exact_attention
from dragon_repro.modeling.model import load_model_and_tokenizer

MODELS = ("dragon-shaped-tiny", "embedded-w32-L2")  # RoBERTa-style (pad 1) and BERT-style (pad 0) Longformers


@pytest.fixture(scope="module", params=MODELS)
def pair(request):
    """transformers' model and the same weights with the exact path, both in eval mode (no dropout)."""
    ours, _ = load_model_and_tokenizer(request.param, num_labels=2, seed=0)
    theirs, _ = load_model_and_tokenizer(request.param, num_labels=2, seed=0, fast_attention=False)
    assert uses_exact_attention(ours) and not uses_exact_attention(theirs)
    theirs.load_state_dict(ours.state_dict())
    return theirs.eval(), ours.eval()


def inputs(model, length: int, padding: str, global_tokens: str, seed: int = 0):
    """Two texts of `length` tokens; the second padded (right or left) to half its length or not at all; global
    attention on <s> (the first attended token), on a few "entities" or on many tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (2, length), generator=generator)
    mask = torch.ones(2, length, dtype=torch.long)
    if padding != "none" and length > 3:
        pad = slice(length // 2, None) if padding == "right" else slice(0, length - length // 2)
        mask[1, pad] = 0
        ids[1, pad] = model.config.pad_token_id
    first = mask.argmax(1)
    glob = torch.zeros_like(mask)
    glob[torch.arange(2), first] = 1
    if global_tokens == "entities":
        glob[:, [p for p in (2, 5, 6) if p < length]] = 1
    elif global_tokens == "many":
        glob[:, ::2] = 1
    return {"input_ids": ids, "attention_mask": mask, "global_attention_mask": glob * mask,
            "labels": torch.tensor([0, 1])}


def outputs(model, batch):
    model.zero_grad()
    out = model(**batch)
    out.loss.backward()
    return out.logits.detach(), out.loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def assert_same(theirs, ours, batch):
    (logits_a, loss_a, grads_a), (logits_b, loss_b, grads_b) = outputs(theirs, batch), outputs(ours, batch)
    assert (logits_a - logits_b).abs().max() <= 1e-5
    assert loss_b == pytest.approx(loss_a, abs=1e-6)
    scale = max(g.norm() for g in grads_a.values())
    for name, grad in grads_a.items():  # relative; floored for gradients that are zero in theory (key biases)
        assert (grad - grads_b[name]).norm() <= 1e-4 * max(grad.norm(), 1e-3 * scale), name


def lengths(window: int) -> list[int]:
    """Below, at and just above h + 1 (every token inside every window); just below and above w; up to 2w."""
    h = window // 2
    return [3, h, h + 1, h + 2, window - 1, window + 1, 2 * window]


@pytest.mark.parametrize("padding", ["none", "right", "left"])
@pytest.mark.parametrize("global_tokens", ["cls", "entities", "many"])
def test_the_exact_path_equals_transformers_attention(pair, padding, global_tokens, monkeypatch):
    theirs, ours = pair
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or sdpa(*a, **k))
    for length in lengths(ours.config.attention_window[0]):
        calls.clear()
        assert_same(theirs, ours, inputs(ours, length, padding, global_tokens))
        assert calls, f"the exact path never ran at {length} tokens"


def test_past_twice_the_window_transformers_code_runs_unchanged(pair, monkeypatch):
    theirs, ours = pair
    calls = []
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1))
    batch = inputs(ours, 2 * ours.config.attention_window[0] + 5, "right", "entities")
    assert_same(theirs, ours, batch)
    assert not calls


def test_batches_the_exact_path_takes_are_not_padded_to_the_window(pair):
    theirs, ours = pair
    window = ours.config.attention_window[0]
    short, long = [{"input_ids": [1] * (window + 3)}], [{"input_ids": [1] * (2 * window + 3)}]
    assert batch_multiple(ours, short) == 1 and batch_multiple(theirs, short) == window
    assert batch_multiple(ours, long) == window


def test_the_weights_are_the_same_modules_either_way(pair):
    theirs, ours = pair
    assert list(theirs.state_dict()) == list(ours.state_dict())
    again = install_exact_attention(copy.deepcopy(theirs))
    assert uses_exact_attention(again) and list(again.state_dict()) == list(theirs.state_dict())
