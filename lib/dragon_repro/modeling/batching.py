"""Length-aware batches for Longformer: padded to the batch's longest text, rounded up to the attention window only
where transformers' own attention takes the batch."""

import math

import torch

from .exact_attention import uses_exact_attention, windows

PADDED_KEYS = ("input_ids", "attention_mask", "global_attention_mask")
# Tokens (cases x the longest case's length) one forward pass takes at most, in training and scoring alike. Measured
# on the cpu profile's model on one thread (data/bench in wt-perf, issue 29): per case, passes of ~4-8k tokens cost
# less than single cases or batches of 4, and larger passes gain nothing more; on a GPU it bounds the memory.
PASS_TOKENS = 8192


def window_multiple(config) -> int:
    """Longformer pads every sequence to a multiple of its attention window (a model config's); we pad there
    ourselves."""
    window = config.attention_window
    return max(window) if isinstance(window, (list, tuple)) else window


def batch_multiple(model, features: list[dict]) -> int:
    """What a batch's length is rounded up to: 1 where the exact attention path takes it (at most twice the
    smallest window), else the attention window, as transformers' code needs."""
    longest = max(len(f["input_ids"]) for f in features)
    exact = uses_exact_attention(model) and longest <= 2 * min(windows(model.config))
    return 1 if exact else window_multiple(model.config)


def padded_length(longest: int, multiple: int) -> int:
    return math.ceil(longest / multiple) * multiple


def pad_features(features: list[dict], pad_token_id: int, length: int) -> list[dict]:
    """Each case right-padded to exactly `length` tokens: pad tokens, masked out of attention and global attention."""
    pads = {"input_ids": pad_token_id, "attention_mask": 0, "global_attention_mask": 0}
    return [f | {key: f[key] + [pad] * (length - len(f[key])) for key, pad in pads.items()} for f in features]


def pad_batch(features: list[dict], pad_token_id: int, multiple: int, pad_to: int | None = None,
              labels=None) -> dict[str, torch.Tensor]:
    """Right-pad to the batch's longest text (or to `pad_to`) rounded up to `multiple` (`batch_multiple`)."""
    length = padded_length(pad_to or max(len(f["input_ids"]) for f in features), multiple)
    padded = pad_features(features, pad_token_id, length)
    batch = {key: torch.tensor([f[key] for f in padded]) for key in PADDED_KEYS}
    if labels is not None:
        batch["labels"] = torch.tensor(labels)
    return batch


def length_grouped_batches(lengths, batch_size: int, generator: torch.Generator | None = None) -> list[list[int]]:
    """Batches of similar length. Shuffled (with `generator`) in groups of 50 batches, then sorted within a group."""
    order = torch.randperm(len(lengths), generator=generator).tolist() if generator else list(range(len(lengths)))
    group = batch_size * 50
    batches = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda i: -lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    if generator:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def length_sorted_passes(lengths, max_tokens: int = PASS_TOKENS, max_cases: int | None = None) -> list[list[int]]:
    """Positions sorted longest first (ties in input order), cut into forward passes of at most `max_tokens` tokens
    (cases x the pass's longest) and `max_cases` cases; one case per pass at least."""
    passes = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if passes and (len(passes[-1]) + 1) * lengths[passes[-1][0]] <= max_tokens \
                and len(passes[-1]) < (max_cases or len(lengths)):
            passes[-1].append(i)
        else:
            passes.append([i])
    return passes
