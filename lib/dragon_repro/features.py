"""From case text to Longformer inputs: preprocessing, truncation, global attention, length-aware batches."""

import math
from dataclasses import dataclass

import torch

from .attention import global_attention_mask_for
from .preprocess import medical_entity_spans, normalize_measurements


@dataclass(frozen=True)
class EncodingOptions:
    max_length: int = 512
    truncation_side: str = "left"
    normalize_measurements: bool = False
    measurements_to_mm: bool = False
    global_attention: str = "cls"
    max_global_tokens: int | None = None


def prepare_text(text: str, options: EncodingOptions) -> str:
    if options.normalize_measurements or options.measurements_to_mm:
        return normalize_measurements(text, to_millimetres=options.measurements_to_mm)
    return text


def encode_cases(tokenizer, texts, options: EncodingOptions) -> list[dict]:
    """One dict per text: input_ids, attention_mask, global_attention_mask, n_tokens (untruncated), truncated."""
    if options.truncation_side not in ("left", "right"):
        raise ValueError(f"truncation_side must be 'left' or 'right', got {options.truncation_side!r}")
    texts = [prepare_text(t, options) for t in texts]
    tokenizer.truncation_side = options.truncation_side
    full_lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    encoded = tokenizer(texts, truncation=True, max_length=options.max_length, return_offsets_mapping=True)
    entity_mode = options.global_attention != "cls"
    features = []
    for i, text in enumerate(texts):
        spans = medical_entity_spans(text) if entity_mode else []
        features.append({
            "input_ids": encoded["input_ids"][i],
            "attention_mask": encoded["attention_mask"][i],
            "global_attention_mask": global_attention_mask_for(
                encoded["offset_mapping"][i], encoded["attention_mask"][i], spans,
                options.global_attention, options.max_global_tokens),
            "n_tokens": full_lengths[i],
            "truncated": full_lengths[i] > options.max_length,
        })
    return features


def window_multiple(model) -> int:
    """Longformer pads every sequence to a multiple of its attention window; we pad there ourselves."""
    window = model.config.attention_window
    return max(window) if isinstance(window, (list, tuple)) else window


def pad_batch(features: list[dict], pad_token_id: int, multiple: int, pad_to: int | None = None,
              labels=None) -> dict[str, torch.Tensor]:
    """Right-pad to the batch's longest text rounded up to `multiple` (or to `pad_to`), never to max length."""
    longest = pad_to or max(len(f["input_ids"]) for f in features)
    length = math.ceil(longest / multiple) * multiple
    pads = {"input_ids": pad_token_id, "attention_mask": 0, "global_attention_mask": 0}
    batch = {key: torch.tensor([f[key] + [pad] * (length - len(f[key])) for f in features])
             for key, pad in pads.items()}
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
