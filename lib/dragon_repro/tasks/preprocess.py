"""Report preprocessing: canonical measurement spelling and rule-based medical entity spans."""

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import yaml

_NUMBER = r"\d+(?:[.,]\d+)?"
# Join the numbers of a range or of dimensions sharing one unit: "2-3 cm", "2 x 3 cm", "2 to 3 cm".
_RANGE_SEPARATORS = ("-", "–", "x", "×", "to")
_MAX_NUMBERS_PER_MEASUREMENT = 3


@dataclass(frozen=True)
class EntitySpan:
    """A labelled entity at character offsets ``text[start:end]``."""

    start: int
    end: int
    label: str


@lru_cache(maxsize=1)
def _lexicon() -> dict:
    """The units and entity phrases of ``resources/medical_lexicon.yaml``."""
    path = resources.files("dragon_repro") / "resources" / "medical_lexicon.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _canonical_units() -> dict[str, str]:
    """Each lower-case unit spelling mapped to its canonical symbol."""
    return {
        spelling.lower(): unit
        for unit, spec in _lexicon()["units"].items()
        for spelling in spec["spellings"]
    }


@lru_cache(maxsize=1)
def _measurement_regex() -> re.Pattern:
    """Numbers (or a range of them) followed by a length unit in any accepted spelling."""
    units = "|".join(map(re.escape, _canonical_units()))
    separator = rf"\s*(?:{'|'.join(map(re.escape, _RANGE_SEPARATORS))})\s*"
    return re.compile(
        rf"(?<![\d.,])(?P<numbers>{_NUMBER}(?:{separator}{_NUMBER})*)\s*(?P<unit>(?i:{units}))\b"
        # An abbreviation dot ("mm. in size") goes; a sentence-ending one ("13 mm. Patient") stays.
        r"(?:\.(?=\s+[a-z]))?"
    )


def _scale(number: str, factor: Decimal) -> str:
    """``number`` with a decimal point, times ``factor``, without spurious trailing zeros."""
    number = number.replace(",", ".")
    if factor == 1:
        return number
    return format((Decimal(number) * factor).normalize(), "f")


def normalize_measurements(text: str, to_millimetres: bool = False) -> str:
    """Write every length as ``<number> <mm|cm>`` with a decimal point; with ``to_millimetres`` all in mm."""

    def rewrite(match: re.Match) -> str:
        unit = _canonical_units()[match["unit"].lower()]
        factor = Decimal(str(_lexicon()["units"][unit]["millimetres"])) if to_millimetres else Decimal(1)
        numbers = re.sub(_NUMBER, lambda number: _scale(number[0], factor), match["numbers"])
        return f"{numbers} {'mm' if to_millimetres else unit}"

    return _measurement_regex().sub(rewrite, text)


def _measurement_patterns() -> list[dict]:
    """EntityRuler token patterns for one to a few numbers, joined by range separators, then a unit."""
    number = {"TEXT": {"REGEX": rf"^{_NUMBER}$"}}
    separator = {"LOWER": {"IN": list(_RANGE_SEPARATORS)}}
    unit = {"LOWER": {"IN": sorted(_canonical_units())}}
    return [
        {"label": "MEASUREMENT", "pattern": [number] + [separator, number] * extra + [unit]}
        for extra in range(_MAX_NUMBERS_PER_MEASUREMENT)
    ]


@lru_cache(maxsize=1)
def _nlp():
    """A blank English pipeline with an EntityRuler built from the lexicon (no model download). spaCy is imported
    here: only the runs with entity attention need it, and it adds about a second to every run's start."""
    import spacy
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(
        [
            {"label": label, "pattern": phrase}
            for label, phrases in _lexicon()["entities"].items()
            for phrase in phrases
        ]
        + _measurement_patterns()
    )
    return nlp


def medical_entity_spans(text: str) -> list[EntitySpan]:
    """FINDING, MEASUREMENT, SYMPTOM and DIAGNOSIS spans in ``text``, sorted by start."""
    return [EntitySpan(ent.start_char, ent.end_char, ent.label_) for ent in _nlp()(text).ents]
