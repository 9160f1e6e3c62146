"""The exact attention path equals transformers' Longformer attention: logits, loss and every parameter's gradient,
fp32 on CPU with dropout off, on both sides of each length where the two codes differ."""

import copy

import pytest
import torch.nn.functional as F

from dragon_repro.modeling.attention_check import attention_gaps, attention_inputs, within
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


def assert_same(theirs, ours, batch):
    gaps = attention_gaps(theirs, ours, batch)
    assert within(gaps, "fp32"), gaps


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
        assert_same(theirs, ours, attention_inputs(ours, length, padding, global_tokens))
        assert calls, f"the exact path never ran at {length} tokens"


def test_past_twice_the_window_transformers_code_runs_unchanged(pair, monkeypatch):
    theirs, ours = pair
    calls = []
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1))
    batch = attention_inputs(ours, 2 * ours.config.attention_window[0] + 5, "right", "entities")
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
