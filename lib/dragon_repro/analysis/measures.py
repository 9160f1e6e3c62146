"""The measures a claim can be on (config/paper_claims.yaml: a claim's `metric`, else its `measure`), one entry
each: what is computed, on which cases, how it is judged and drawn. Every other module looks a measure up here;
adding a measure is adding an entry (a new per-case value also needs its function in `stats.case_values`)."""

import math
from dataclasses import dataclass

from . import stats

# A view's case sets: the judged view (cases no model saw; the 300-case long set for long cases), then the paper's
# own 100 validation cases, each seed's own split (descriptive).
VIEWS = {"fresh": {"cases": "fresh", "long": "long"}, "validation": {"cases": "validation", "long": "validation"}}
JUDGED_VIEW = "fresh"
CLAIMS_FILE = "config/paper_claims.yaml"


@dataclass(frozen=True)
class Measure:
    """One measure: what is computed, on which cases, how it is judged and how it is drawn."""

    column: str  # each run's value in run_frames.metrics_frame (a cost's `measure` in bench.relative_costs)
    case_value: str | None = None  # stats.case_values' name, judged over seeds x cases; None: per run, descriptive
    long_cases: bool = False  # only the cases over the paper's 400 tokens (a view's long set)
    benchmark: bool = False  # its rows come from the benchmark, one per way of batching
    family: bool = True  # its judged rows join the Bonferroni family
    open_question: bool = False  # its effects are asked again of Task102 (claims.transfer_table)
    headline: bool = False  # one of a run's headline metrics (the main table)
    range: tuple[float, float] = (0.0, 1.0)  # what a value can take; intervals are cut to it
    share: float = 1.0  # one unit as a share of the cases, the forest plot's axis (0.01: a count per 100 cases)
    written: tuple[float, int] = (100, 1)  # a change as the README writes it: times this, to so many digits

    def __post_init__(self):
        if self.case_value is not None and self.case_value not in stats.METRICS:
            raise ValueError(f"measures.py: per-case value {self.case_value!r} is not one of stats.METRICS")
        if self.family and self.case_value is None and not self.benchmark:
            raise ValueError(f"measures.py: {self.column!r} joins the family but is never judged (no per-case value)")

    def split(self, view: str) -> str:
        """The split whose cases this measure is taken on in `view`."""
        return VIEWS[view]["long" if self.long_cases else "cases"]

    def views(self) -> list[str]:
        """The views it is shown in: every view with a per-case value, else the validation view only."""
        return list(VIEWS) if self.case_value else ["validation"]


MEASURES = {
    # a run's headline metrics (the main table); a claim names one as its `metric`
    "accuracy": Measure("accuracy", "accuracy", open_question=True, headline=True),
    "precision": Measure("precision", "precision", headline=True),
    "recall": Measure("recall", "recall", headline=True),
    "f1": Measure("f1", "f1", headline=True),
    "roc_auc": Measure("roc_auc", family=False, headline=True),  # no per-case value here: per run, descriptive
    # the paper's other measures
    "false_positives_per_100": Measure("fp_per_100", "fp_per_100", range=(0.0, 100.0), share=0.01, written=(1, 1)),
    "long_case_f1": Measure("long_case_f1", "f1", long_cases=True, written=(1, 2)),
    "validation_loss": Measure("log_loss", family=False, range=(0.0, math.inf)),
    "pvalue": Measure("accuracy", "accuracy", family=False),  # a one-sided test of the accuracy change
    "relative_wall_time": Measure("time per step", benchmark=True, range=(-1.0, math.inf)),
    "relative_peak_memory": Measure("peak memory", benchmark=True, range=(-1.0, math.inf)),
}
HEADLINE = [m.column for m in MEASURES.values() if m.headline]


def of(claim: dict) -> Measure:
    """A claim's measure: the one its `metric` names, else its `measure`; a one-line error naming the claim."""
    name = claim.get("metric", claim["measure"])
    if name not in MEASURES:
        raise ValueError(f"{CLAIMS_FILE}: claim {claim.get('id')!r}: unknown measure {name!r} "
                         f"(known: {', '.join(MEASURES)}; analysis/measures.py)")
    return MEASURES[name]


def by_claim(claims: dict) -> dict[str, Measure]:
    """Each claim id's measure."""
    return {c["id"]: of(c) for c in claims["claims"]}


def claim_on(claims: dict, name: str) -> dict:
    """The paper's one claim on the measure `name` (a notebook's subject)."""
    found = [c for c in claims["claims"] if of(c) is MEASURES[name]]
    if len(found) != 1:
        raise ValueError(f"{CLAIMS_FILE}: {len(found)} claims on {name!r}, expected one")
    return found[0]
