"""A finished run as read back from its cache folder, for analysis that needs no torch; and the seal every stored
result carries (runs, reference points, benchmark cells): provenance.json, written last, records the sha256 of
every other file of its folder, and the folder is trusted only while its files hash to it."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..atomic import write_json_atomic
from ..hashing import sha256_hex
from .plan import Plan

PROVENANCE = "provenance.json"
WEIGHTS = "model"  # a run's weights folder: neither sealed nor stored in git; `weights_of` says how to get it back


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
    provenance = check_sealed(path)
    read = lambda name: json.loads((path / name).read_text())  # noqa: E731
    return Run(path, read("config.json"), read("metrics.json"), read("history.json"), provenance,
               pd.read_csv(path / "predictions.csv"), cached)


def seal(folder: Path, provenance: dict) -> None:
    """Write the folder's provenance.json, last (its presence marks a complete result), with the sha256 of every
    other file in it but the weights."""
    folder = Path(folder)
    files = {str(p.relative_to(folder)): sha256_hex(p.read_bytes()) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != PROVENANCE and p.relative_to(folder).parts[0] != WEIGHTS}
    write_json_atomic(folder / PROVENANCE, provenance | {"files": files})


def check_sealed(folder: Path) -> dict:
    """A sealed folder's provenance, once each file it records is there with the recorded sha256; otherwise one
    line naming the file, never a silent re-run over it."""
    folder = Path(folder)
    restore = f"restore it (git checkout -- {folder}) or delete {folder} to compute it again"
    try:
        provenance = json.loads((folder / PROVENANCE).read_text())
        files = dict(provenance["files"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{folder / PROVENANCE}: unreadable or records no file hashes; {restore}") from None
    for name, digest in files.items():
        if not (folder / name).is_file() or sha256_hex((folder / name).read_bytes()) != digest:
            raise ValueError(f"{folder / name}: missing or changed since its result was sealed (provenance.json "
                             f"records sha256 {digest[:12]}...); {restore}")
    return provenance


def weights_of(run: Path) -> Path:
    """A run's weights folder; a stored run ships without it: one line with the command that re-trains it."""
    if not (Path(run) / WEIGHTS).is_dir():
        raise FileNotFoundError(f"{run} ships without its weights: re-train it, weights kept, into the same folder "
                                f"with: python -m dragon_repro train --config {Path(run) / 'config.json'} --weights")
    return Path(run) / WEIGHTS


def cached_runs(plan: Plan) -> list[Run]:
    """The plan's runs that are already in the cache, training none: another profile's runs shown beside this
    one's (an empty list when none were run)."""
    return [load_run(r.path) for r in plan.runs if r.done]
