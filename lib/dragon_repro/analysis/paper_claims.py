"""The paper's own numbers (config/paper_claims.yaml), before any run: its claims, the levels it states, what its
precision, recall and false positives imply, and its values merged beside a summary of ours."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..paths import CONFIG_DIR
from . import measures


def load_claims(path: Path = CONFIG_DIR / "paper_claims.yaml") -> dict:
    return yaml.safe_load(Path(path).read_text())


def implied_accuracy(precision: float, recall: float, false_positives: float, n: int = 100) -> float:
    """The accuracy that a precision, a recall and a false-positive count imply on n cases."""
    true_positives = false_positives * precision / (1 - precision)
    false_negatives = true_positives * (1 - recall) / recall
    return (n - false_positives - false_negatives) / n


def paper_levels(claims: dict) -> pd.DataFrame:
    """The paper's levels per (experiment, measure): `paper` from the claims, `paper_ladder` from its ladder figure."""
    levels = pd.DataFrame([{"experiment": c["config"], "measure": measures.of(c).column, "paper": c["value"]}
                           for c in claims["claims"] if c["kind"] == "level" and measures.of(c).headline],
                          columns=["experiment", "measure", "paper"])
    ladder = pd.DataFrame([{"experiment": e, "measure": "accuracy", "paper_ladder": v}
                           for e, v in claims.get("ladder_accuracy", {}).items()],
                          columns=["experiment", "measure", "paper_ladder"])
    return levels.merge(ladder, on=["experiment", "measure"], how="outer")


def beside_paper(summary: pd.DataFrame, paper, measure: str | None = None) -> pd.DataFrame:
    """`summary` with the paper's value(s) merged in: `paper` is a frame keyed by (experiment, measure), or a
    {experiment: value} mapping for `measure`."""
    if isinstance(paper, dict):
        paper = pd.DataFrame({"experiment": list(paper), "measure": measure, "paper": list(paper.values())})
    return summary.merge(paper, on=["experiment", "measure"], how="left")


def paper_consistency(claims: dict) -> pd.DataFrame:
    """Whether the paper's own numbers agree: the accuracy (and F1) its precision, recall and false positives imply
    on 100 cases, beside the accuracy it states (in the text and in its ladder)."""
    values = {c["id"]: c["value"] for c in claims["claims"]}
    rows = []
    for config, fp in claims["false_positive_counts"].items():
        p, r = values[f"{config}_precision"], values[f"{config}_recall"]
        tp = fp * p / (1 - p)
        rows.append({"config": config, "precision": p, "recall": r, "false_positives": fp,
                     "implied_tp": tp, "implied_fn": tp * (1 - r) / r,
                     "stated_accuracy": values.get(f"{config}_accuracy", np.nan),
                     "ladder_accuracy": claims.get("ladder_accuracy", {}).get(config, np.nan),
                     "implied_accuracy": implied_accuracy(p, r, fp),
                     "stated_f1": values.get(f"{config}_f1", np.nan), "implied_f1": 2 * p * r / (p + r)})
    return pd.DataFrame(rows)
