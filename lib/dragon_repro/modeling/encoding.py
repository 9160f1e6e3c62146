"""From case text to Longformer inputs: preprocessing, truncation and global attention (no torch)."""

from ..experiments.config import EncodingOptions
from ..tasks.preprocess import medical_entity_spans, normalize_measurements
from .attention import global_attention_mask_for


def prepare_text(text: str, options: EncodingOptions) -> str:
    if options.normalize_measurements or options.measurements_to_mm:
        return normalize_measurements(text, to_millimetres=options.measurements_to_mm)
    return text


def encode_cases(tokenizer, texts, options: EncodingOptions) -> list[dict]:
    """One dict per text: input_ids, attention_mask, global_attention_mask, n_tokens (untruncated), truncated."""
    if options.truncation_side not in ("left", "right"):
        raise ValueError(f"truncation_side must be 'left' or 'right', got {options.truncation_side!r}")
    texts = [prepare_text(t, options) for t in texts]
    full_lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    side, tokenizer.truncation_side = tokenizer.truncation_side, options.truncation_side
    try:
        encoded = tokenizer(texts, truncation=True, max_length=options.max_seq_length, return_offsets_mapping=True)
    finally:
        tokenizer.truncation_side = side  # the caller's tokenizer is left as it was
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
            "truncated": full_lengths[i] > options.max_seq_length,
        })
    return features


