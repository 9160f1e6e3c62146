"""What the example tasks label, as dragon-prep's generator writes it: a "lesion of <size> cm" sentence.

Task101 is True when a report has one; Task102 counts them, capped at 4. One sentence rule serves the reference
points (the rule as a classifier) and the dataset tables (which evidence truncation keeps).
"""

import re

SENTENCE_END = re.compile(r"(?<=\.)\s+")  # a full stop followed by space: decimals such as "3.8 cm" stay whole
LESION_IN_CM = re.compile(r"\blesion\b.*\bcm\b")
MAX_COUNTED = 4  # Task102's classes are "0" .. "4"


def label_evidence(text: str) -> list[tuple[int, int]]:
    """Character spans, from "lesion" to "cm", of each sentence that describes a lesion measured in centimetres."""
    starts = [0] + [m.end() for m in SENTENCE_END.finditer(text)]
    ends = [m.start() for m in SENTENCE_END.finditer(text)] + [len(text)]
    spans = []
    for start, end in zip(starts, ends):
        match = LESION_IN_CM.search(text, start, end)
        if match:
            spans.append(match.span())
    return spans


def lesions_in_cm(text: str) -> int:
    return len(label_evidence(text))


def rule_says_true(text: str) -> bool:
    """Task101's definition: some sentence describes a lesion measured in centimetres."""
    return lesions_in_cm(text) > 0


def rule_class(text: str) -> str:
    """Task102's definition: the number of lesions measured in centimetres, capped at 4."""
    return str(min(lesions_in_cm(text), MAX_COUNTED))
