import numpy as np
import pytest
import torch
from accelerate.utils import set_seed

from dragon_repro.experiments.config import EncodingOptions, TrainingOptions
from dragon_repro.modeling.batching import length_grouped_batches, pad_batch, window_multiple
from dragon_repro.modeling.encoding import encode_cases
from dragon_repro.modeling.model import load_model_and_tokenizer
from dragon_repro.training.predict import predict_probabilities
from dragon_repro.training.train import fine_tune, optimizer_steps

TEXTS = [f"Case involves {kind} of {size} {unit}." for kind in ("lesion", "normal")
         for size in (2, 5, 8, 13) for unit in ("cm", "mm")]
LABELS = [int("lesion" in t) for t in TEXTS]  # one word decides: learnable by a tiny model in a few epochs


def fresh_tiny(seed=0):
    set_seed(seed)
    return load_model_and_tokenizer("tiny")


def features(tokenizer, texts=TEXTS):
    return encode_cases(tokenizer, texts, EncodingOptions(max_seq_length=64, truncation_side="left"))


def test_loss_falls_on_a_learnable_subset():
    model, tokenizer = fresh_tiny()
    x = features(tokenizer)
    options = TrainingOptions(learning_rate=1e-2, epochs=10, batch_size=4, gradient_accumulation_steps=1,
                              warmup_ratio=0.0)
    history, _ = fine_tune(model, x, LABELS, x, LABELS, options, seed=0, progress=False)
    losses = [s["loss"] for s in history["steps"]]
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert history["epochs"][-1]["val_loss"] < history["epochs"][0]["val_loss"]


def test_scheduler_counts_optimizer_steps_under_accumulation():
    assert optimizer_steps(batches_per_epoch=401, accumulation=16, epochs=8) == 26 * 8
    model, tokenizer = fresh_tiny()
    x = features(tokenizer)  # 16 batches of 1, accumulation 5: 4 optimizer steps per epoch (the last one partial)
    options = TrainingOptions(learning_rate=1e-3, epochs=2, batch_size=1, gradient_accumulation_steps=5,
                              warmup_ratio=0.25)
    history, _ = fine_tune(model, x, LABELS, x, LABELS, options, seed=0, progress=False)
    assert history["optimizer_steps_planned"] == len(history["steps"]) == 8
    lrs = [s["lr"] for s in history["steps"]]
    assert lrs[1] == pytest.approx(1e-3)  # warmup: 2 optimizer steps, then linear decay to 0
    assert lrs[-1] == pytest.approx(0.0)


def test_early_stopping_triggers_and_restores_the_best_epoch():
    model, tokenizer = fresh_tiny()
    x = features(tokenizer)
    flipped = [1 - y for y in LABELS]  # learning the training labels must make this validation loss rise
    options = TrainingOptions(learning_rate=1e-2, epochs=12, batch_size=4, gradient_accumulation_steps=1,
                              warmup_ratio=0.0, early_stopping_patience=2)
    history, kept_probabilities = fine_tune(model, x, LABELS, x, flipped, options, seed=0, progress=False)
    assert history["stopped_early"] and len(history["epochs"]) < 12
    best = history["best_epoch"]
    assert len(history["epochs"]) == best + 2 and history["weights_from_epoch"] == best
    restored_probabilities, restored_loss = predict_probabilities(model, x, flipped)
    assert restored_loss == pytest.approx(history["epochs"][best - 1]["val_loss"], rel=1e-5)
    assert restored_loss < history["epochs"][-1]["val_loss"]
    # the validation pass of the kept epoch stands in for scoring validation again: it must be the same bytes
    assert np.array_equal(kept_probabilities, restored_probabilities)


def test_progress_reports_every_optimizer_step():
    model, tokenizer = fresh_tiny()
    x = features(tokenizer)
    seen = []
    options = TrainingOptions(learning_rate=1e-3, epochs=2, batch_size=4, gradient_accumulation_steps=2)
    fine_tune(model, x, LABELS, x, LABELS, options, seed=0, progress=False, on_step=seen.append)
    assert [(s["epoch"], s["step"]) for s in seen] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert {(s["epochs"], s["steps"]) for s in seen} == {(2, 4)}


def test_same_seed_gives_identical_training_twice():
    def train_once():
        model, tokenizer = fresh_tiny(seed=3)
        x = features(tokenizer)
        options = TrainingOptions(learning_rate=1e-3, epochs=2, batch_size=2, gradient_accumulation_steps=2)
        history, _ = fine_tune(model, x, LABELS, x, LABELS, options, seed=3, progress=False)
        return [s["loss"] for s in history["steps"]], predict_probabilities(model, x)[0]
    (losses_a, probs_a), (losses_b, probs_b) = train_once(), train_once()
    assert losses_a == losses_b
    assert np.array_equal(probs_a, probs_b)


def test_the_history_digests_the_weights_and_loss_after_the_early_steps_and_every_epoch():
    def digests(seed, learning_rate=1e-3):
        model, tokenizer = fresh_tiny(seed=seed)
        x = features(tokenizer)
        options = TrainingOptions(learning_rate=learning_rate, epochs=3, batch_size=1, gradient_accumulation_steps=1)
        return fine_tune(model, x, LABELS, x, LABELS, options, seed=seed, progress=False)[0]["digests"]
    first = digests(0)
    # 16 steps an epoch: after steps 1, 2, 5, 10 and at the end of epochs 1, 2, 3 (steps 16, 32, 48)
    assert [(d["after"], d["step"]) for d in first] == [("step", 1), ("step", 2), ("step", 5), ("step", 10),
                                                      ("epoch", 16), ("epoch", 32), ("epoch", 48)]
    assert len({d["parameters"] for d in first}) == len(first)  # the weights move at every digest
    assert digests(0) == first
    # another step size: the same losses while the weights are the same (the first warm-up step has lr 0), then
    # other weights
    other_rate = digests(0, learning_rate=2e-3)
    assert other_rate[0] == first[0] and other_rate[1]["loss"] == first[1]["loss"]
    assert other_rate[1]["parameters"] != first[1]["parameters"]


def test_length_aware_padding_predicts_like_padding_to_max_length(tiny):
    model, tokenizer = tiny
    texts = TEXTS[:5] + [" ".join(TEXTS)]  # one long text among short ones
    x = encode_cases(tokenizer, texts, EncodingOptions(max_seq_length=256, truncation_side="left"))
    bucketed, _ = predict_probabilities(model, x, batch_size=3)
    padded, _ = predict_probabilities(model, x, batch_size=3, pad_to=256)
    np.testing.assert_allclose(bucketed, padded, atol=1e-5)


def test_batches_pad_to_their_longest_text_rounded_to_the_window(tiny):
    model, tokenizer = tiny
    x = encode_cases(tokenizer, TEXTS[:3], EncodingOptions(max_seq_length=1024, truncation_side="left"))
    assert window_multiple(model.config) == 16  # the tiny model's attention window
    batch = pad_batch(x, pad_token_id=0, multiple=window_multiple(model.config))
    assert batch["input_ids"].shape == (3, 16)  # texts of ~12 tokens: one window, not 1024
    assert batch["global_attention_mask"][:, 0].tolist() == [1, 1, 1]
    assert (batch["attention_mask"].sum(1) == torch.tensor([len(f["input_ids"]) for f in x])).all()


def test_length_grouped_batches_cover_every_example_once():
    lengths = [5, 100, 7, 98, 6, 99, 50, 51]
    batches = length_grouped_batches(lengths, 2, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(8))
    # within a group texts are sorted by length before batching, so neighbours in length share a batch
    assert sorted(sorted(lengths[i] for i in b) for b in batches) == [[5, 6], [7, 50], [51, 98], [99, 100]]


def test_truncation_follows_the_task_side(tiny):
    _, tokenizer = tiny
    text = "Patient presents with lesion of 2 cm. " + "Advise regular exercise. " * 20
    left = encode_cases(tokenizer, [text], EncodingOptions(max_seq_length=16, truncation_side="left"))[0]
    right = encode_cases(tokenizer, [text], EncodingOptions(max_seq_length=16, truncation_side="right"))[0]
    assert left["truncated"] and left["n_tokens"] > 16 and len(left["input_ids"]) == 16
    assert "lesion" not in tokenizer.decode(left["input_ids"]) and "lesion" in tokenizer.decode(right["input_ids"])
    # options built by hand name their side: None (the task's side) is only filled in by a plan
    with pytest.raises(ValueError, match="truncation_side must be 'left' or 'right', got None"):
        encode_cases(tokenizer, [text], EncodingOptions(max_seq_length=16))


def test_encoding_leaves_the_callers_tokenizer_as_it_was(tiny):
    _, tokenizer = tiny
    side = tokenizer.truncation_side
    other = "left" if side == "right" else "right"
    encode_cases(tokenizer, ["a lesion of 2 cm " * 20], EncodingOptions(max_seq_length=16, truncation_side=other))
    assert tokenizer.truncation_side == side
