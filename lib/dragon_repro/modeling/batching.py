"""Length-aware batches for Longformer: padded to the batch's longest text, rounded up to the attention window only
where transformers' own attention takes the batch."""

import math

import torch

from .exact_attention import uses_exact_attention, windows

PADDED_KEYS = ("input_ids", "attention_mask", "global_attention_mask")
# How texts are grouped into forward passes, in training and scoring alike (`length_sorted_passes`). Measured on the
# cpu profile's model on one thread (CPU time of forward + backward, issue 29): a pass costs ~45 ms more than its
# tokens' share (~0.4 ms a token), i.e. as much as ~100 more padded tokens. PASS_TOKENS caps a pass's padded tokens
# (the memory it needs).
PASS_COST_TOKENS = 100
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


def length_sorted_passes(lengths, max_tokens: int = PASS_TOKENS, max_cases: int | None = None,
                         pass_cost: int = PASS_COST_TOKENS) -> list[list[int]]:
    """Positions sorted longest first (ties in input order), cut into the forward passes of the least cost: each
    pass costs its padded tokens (cases x its longest) plus `pass_cost`, and holds at most `max_tokens` padded
    tokens (but at least one case) and `max_cases` cases."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    cost, start = [0] + [math.inf] * len(order), [0] * (len(order) + 1)  # the best passes for order[:j], the last
    for j in range(1, len(order) + 1):                                  # one starting at start[j]
        for i in range(j - 1, -1, -1):  # the pass order[i:j], its longest first
            size, padded = j - i, (j - i) * lengths[order[i]]
            if size > 1 and (padded > max_tokens or size > (max_cases or size)):
                break
            if cost[i] + pass_cost + padded < cost[j]:
                cost[j], start[j] = cost[i] + pass_cost + padded, i
    passes, j = [], len(order)
    while j:
        passes.insert(0, order[start[j]:j])
        j = start[j]
    return passes
