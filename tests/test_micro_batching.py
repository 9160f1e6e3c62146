"""An optimizer step's cases computed together, sorted by length into few forward passes, give the gradients of
accumulating the config's micro-batches one by one; scoring gives the same predictions however it groups the cases."""

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from dragon_repro.experiments.config import EncodingOptions
from dragon_repro.modeling.batching import batch_multiple, length_sorted_passes, pad_batch
from dragon_repro.modeling.encoding import encode_cases
from dragon_repro.modeling.model import load_model_and_tokenizer
from dragon_repro.training.predict import predict_probabilities
from dragon_repro.training.train import accumulate_step

# lengths from ~12 to ~70 tokens (the tiny model's window is 16: short passes take the exact path, long ones
# transformers' code), with lexicon entities and measurements for global attention beyond <s>
TEXTS = [("Patient with a lesion of 13 mm in the liver. " * k + "No metastasis seen.") for k in (1, 5, 2, 4, 3, 1, 6)]
LABELS = [0, 1, 1, 0, 1, 0, 0]


@pytest.fixture(scope="module")
def tiny_entities():
    set_seed(0)
    model, tokenizer = load_model_and_tokenizer("tiny")
    x = encode_cases(tokenizer, TEXTS, EncodingOptions(max_seq_length=128, truncation_side="left",
                                                       global_attention="cls+entities"))
    assert all(sum(f["global_attention_mask"]) > 1 for f in x)  # entities get global attention
    return model.eval(), x  # eval: dropout off, so both ways compute the same function


def one_by_one(model, micro_batches, accumulation):
    """The parent's loop: each micro-batch padded and backpropagated alone, its mean loss divided by accumulation."""
    model.zero_grad()
    for batch in micro_batches:
        features = [f for f, _ in batch]
        loss = model(**pad_batch(features, model.config.pad_token_id, batch_multiple(model, features),
                                 labels=[y for _, y in batch])).loss
        (loss / accumulation).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def grouped(model, micro_batches, accumulation, max_tokens):
    model.zero_grad()
    # a pass costing as much as 10**6 tokens: the fewest passes within max_tokens
    losses, passes = accumulate_step(Accelerator(), model, micro_batches, accumulation, max_tokens, pass_cost=10**6)
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}, passes


# (micro-batch sizes, accumulation): DRAGON's 4 x 2 with a short last micro-batch, 1 x 16's last, partial window
SHAPES = [([4, 3], 2), ([1, 1, 1, 1, 1], 16)]


@pytest.mark.parametrize("sizes, accumulation", SHAPES)
@pytest.mark.parametrize("max_tokens", [1, 160, 10**6])  # a case per pass, a few padded passes, one pass
def test_grouped_passes_give_the_gradients_of_one_by_one_accumulation(tiny_entities, sizes, accumulation,
                                                                      max_tokens):
    model, x = tiny_entities
    cases = list(zip(x, LABELS))[:sum(sizes)]
    micro_batches = [cases[sum(sizes[:m]):sum(sizes[:m + 1])] for m in range(len(sizes))]
    reference = one_by_one(model, micro_batches, accumulation)
    gradients, passes = grouped(model, micro_batches, accumulation, max_tokens)
    assert sum(passes) == len(cases)
    assert len(passes) == {1: len(cases), 10**6: 1}.get(max_tokens, len(passes)) and 1 <= len(passes) <= len(cases)
    assert max_tokens != 160 or 1 < len(passes) < len(cases) and max(passes) > 1
    assert gradients.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(gradients[name], reference[name], rtol=1e-4, atol=1e-7, msg=name)


def test_the_step_reports_each_micro_batchs_mean_loss(tiny_entities):
    model, x = tiny_entities
    micro_batches = [list(zip(x, LABELS))[:4], list(zip(x, LABELS))[4:]]
    losses, _ = accumulate_step(Accelerator(), model, micro_batches, 2, max_tokens=160)
    with torch.no_grad():
        expected = [model(**pad_batch([f for f, _ in b], 0, batch_multiple(model, [f for f, _ in b]),
                                      labels=[y for _, y in b])).loss.item() for b in micro_batches]
    assert losses.tolist() == pytest.approx(expected, rel=1e-5)


def test_passes_trade_padding_against_the_cost_of_a_pass():
    lengths = [5, 100, 7, 98, 6, 99, 50, 51]
    cut = lambda **kw: [[lengths[i] for i in p] for p in length_sorted_passes(lengths, **kw)]  # noqa: E731
    assert cut(pass_cost=20) == [[100, 99, 98], [51, 50], [7, 6, 5]]
    assert cut(pass_cost=0) == [[n] for n in sorted(lengths, reverse=True)]  # no padding
    assert cut(pass_cost=10**6) == [sorted(lengths, reverse=True)]  # the fewest passes
    assert cut(pass_cost=10**6, max_tokens=200) == [[100, 99], [98, 51], [50, 7, 6, 5]]
    assert cut(pass_cost=10**6, max_tokens=200, max_cases=2) == [[100, 99], [98, 51], [50, 7], [6, 5]]
    assert cut(pass_cost=10**6, max_tokens=1) == [[n] for n in sorted(lengths, reverse=True)]


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_scoring_does_not_depend_on_the_grouping(tiny_entities, batch_size):
    model, x = tiny_entities
    alone = np.concatenate([predict_probabilities(model, [f], [y])[0] for f, y in zip(x, LABELS)])
    losses = [predict_probabilities(model, [f], [y])[1] for f, y in zip(x, LABELS)]
    probabilities, loss = predict_probabilities(model, x, LABELS, batch_size=batch_size)
    np.testing.assert_allclose(probabilities, alone, atol=1e-6)  # in the input order, whatever the batches
    assert loss == pytest.approx(np.mean(losses), rel=1e-5)
