"""Tests for dragon_repro.tasks.preprocess: measurement normalisation and rule-based medical entities."""

import pytest
from dragon_prep.Task101_Example_sl_bin_clf import generate_sample

from dragon_repro.tasks.preprocess import EntitySpan, medical_entity_spans, normalize_measurements


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A 18mm nodule.", "A 18 mm nodule."),
        ("Lesion of 1,5 cm.", "Lesion of 1.5 cm."),
        ("lesion of 2.8cm. Next", "lesion of 2.8 cm. Next"),
        ("Mass of 10 MM.", "Mass of 10 mm."),
        ("Cyst of 7 millimetres wide", "Cyst of 7 mm wide"),
        ("Polyp of 4 Centimeters", "Polyp of 4 cm"),
        ("Nodule of 3   mm", "Nodule of 3 mm"),
        ("Cyst of 13 mm. in size", "Cyst of 13 mm in size"),
        ("Mass of 2-3cm", "Mass of 2-3 cm"),
    ],
)
def test_normalize_measurements_canonicalises_spelling(text, expected):
    assert normalize_measurements(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Schedule follow-up in two weeks, take it 5 times a day.",
        "Blood pressure 120 mmHg, area 10 cm2.",
        "Lesion of 13 mm. Patient presents with mass of 2.8 cm.",
    ],
)
def test_normalize_measurements_leaves_other_text_alone(text):
    assert normalize_measurements(text) == text


def test_millimetre_conversion_is_off_by_default():
    assert normalize_measurements("lesion of 2.8 cm") == "lesion of 2.8 cm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lesion of 2.8 cm.", "lesion of 28 mm."),
        ("lesion of 1,5 cm", "lesion of 15 mm"),
        ("lesion of 10 cm", "lesion of 100 mm"),
        ("lesion of 0.25 centimetres", "lesion of 2.5 mm"),
        ("lesion of 13 mm", "lesion of 13 mm"),
        ("lesion of 18mm", "lesion of 18 mm"),
        ("mass of 2 x 3,5cm", "mass of 20 x 35 mm"),
    ],
)
def test_normalize_measurements_to_millimetres(text, expected):
    assert normalize_measurements(text, to_millimetres=True) == expected


def test_normalisation_is_identity_on_generated_task101_texts():
    texts = [generate_sample(idx)["text"] for idx in range(30)]  # idx 0 and 25 are the long variants
    assert any(" cm." in text for text in texts)
    assert [normalize_measurements(text) for text in texts] == texts


def test_millimetre_conversion_of_generated_task101_text_removes_every_cm():
    text = next(s["text"] for s in map(generate_sample, range(100)) if s["single_label_binary_classification_target"])
    converted = normalize_measurements(text, to_millimetres=True)
    assert "cm" not in converted
    assert converted.count(" mm.") == text.count(" mm.") + text.count(" cm.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Patient presents with lesion of 2.8 cm. Case involves normal of 13 mm.",
            [(22, 28, "FINDING"), (32, 38, "MEASUREMENT"), (54, 60, "FINDING"), (64, 69, "MEASUREMENT")],
        ),
        (
            "Subject describes sudden weight loss, potential thyroid disorder.",
            [(18, 36, "SYMPTOM"), (48, 64, "DIAGNOSIS")],
        ),
        (
            "Chronic fatigue syndrome with a 1,5 cm cyst and headaches.",
            [(0, 24, "DIAGNOSIS"), (32, 38, "MEASUREMENT"), (39, 43, "FINDING"), (48, 57, "SYMPTOM")],
        ),
        ("Nodule 18mm, mass 2-3 CM.", [(0, 6, "FINDING"), (7, 11, "MEASUREMENT"), (13, 17, "FINDING"), (18, 24, "MEASUREMENT")]),
        ("Schedule follow-up in two weeks.", []),
    ],
)
def test_medical_entity_spans(text, expected):
    assert medical_entity_spans(text) == [EntitySpan(*span) for span in expected]
