"""A finished run as read back from its cache folder, for analysis that needs no torch."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .plan import Plan


@dataclass
class Run:
    path: Path
    config: dict  # every setting, flat (ExperimentConfig.settings), and its config_hash
    metrics: dict
    history: dict
    provenance: dict
    predictions: pd.DataFrame = field(repr=False)
    cached: bool = False


def load_run(path: Path, cached: bool = True) -> Run:
    path = Path(path)
    read = lambda name: json.loads((path / name).read_text())  # noqa: E731
    return Run(path, read("config.json"), read("metrics.json"), read("history.json"), read("provenance.json"),
               pd.read_csv(path / "predictions.csv"), cached)


def cached_runs(plan: Plan) -> list[Run]:
    """The plan's runs that are already in the cache, training none: another profile's runs shown beside this
    one's (an empty list when none were run)."""
    return [load_run(r.path) for r in plan.runs if r.done]
