"""Longformer global-attention masks: the CLS token, optionally plus the tokens of medical entities."""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .preprocess import EntitySpan

GLOBAL_ATTENTION_MODES = ("cls", "cls+entities", "cls+measurements")
# Entity labels that get global attention per mode; None means every label.
_MODE_LABELS: dict[str, frozenset[str] | None] = {
    "cls": frozenset(),
    "cls+entities": None,
    "cls+measurements": frozenset({"MEASUREMENT"}),
}


def _merged_intervals(spans: Iterable["EntitySpan"]) -> list[tuple[int, int]]:
    """Disjoint, sorted character intervals covering ``spans``."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((span.start, span.end) for span in spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def global_attention_mask_for(
    offsets: Sequence[tuple[int, int]],
    attention_mask: Sequence[int],
    spans: Iterable["EntitySpan"],
    mode: str,
    max_global_tokens: int | None = None,
) -> list[int]:
    """Global attention for one encoding: its first real token (CLS) plus, per ``mode``, tokens overlapping ``spans``.

    ``offsets`` is the fast tokenizer's ``offset_mapping`` (special and pad tokens at (0, 0)); ``max_global_tokens``
    keeps only the earliest that many positions.
    """
    if mode not in _MODE_LABELS:
        raise ValueError(f"unknown global attention mode {mode!r}; expected one of {GLOBAL_ATTENTION_MODES}")
    if max_global_tokens is not None and max_global_tokens < 1:
        raise ValueError(f"max_global_tokens must be at least 1, got {max_global_tokens}")
    labels = _MODE_LABELS[mode]
    intervals = _merged_intervals(span for span in spans if labels is None or span.label in labels)
    interval_ends = [end for _, end in intervals]

    mask = [0] * len(offsets)
    # Under left padding the CLS token is not at position 0 but at the first attended one.
    cls_position = next((i for i, attended in enumerate(attention_mask) if attended), None)
    for i, ((start, end), attended) in enumerate(zip(offsets, attention_mask)):
        if i == cls_position:
            mask[i] = 1
        elif attended and start < end:
            k = bisect_right(interval_ends, start)  # first interval ending after this token starts
            mask[i] = int(k < len(intervals) and intervals[k][0] < end)

    if max_global_tokens is not None:
        kept = 0
        for i, flag in enumerate(mask):
            kept += flag
            if kept > max_global_tokens:
                mask[i] = 0
    return mask
