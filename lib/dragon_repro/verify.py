"""`python -m dragon_repro verify` and `./run_all.sh --retrain`: re-train committed runs into a scratch cache, through
the pipeline's executor (`--jobs` at a time), and say how each compares; `--retrain --replace` then moves the
re-trained runs into the store.

The committed bundle (`figures/<profile>/provenance.json`) holds, for every run behind the figures: its config
hash and provenance, the sha256 of its predictions.csv and metrics.json, the hash of its predicted labels, its class
probabilities (to PROBABILITY_DIGITS decimals), its accuracy per split, and the digests of its weights and loss
along training (`train.DIGEST_STEPS`). A re-trained copy is then one of:
- *identical*: predictions.csv and metrics.json byte for byte;
- *machine noise*: the same predictions, every probability within NOISE;
- *diverged at step K*: anything else; K is the first optimizer step whose digest differs, and each accuracy's
  change is given against the seed spread of its config;
- *another config*: the config hash differs (code, data or package versions changed since the commit).
"""

import dataclasses
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import replace_dir
from .experiments.plan import Plan
from .experiments.records import Run, load_run
from .hashing import sha256_hex
from .analysis import claims

RESULT_FILES = ("predictions.csv", "metrics.json")
NOISE = 1e-5  # the largest probability difference that still counts as machine noise
PROBABILITY_DIGITS = 7  # the committed probabilities' rounding: far below NOISE


def result_digests(run_path: Path) -> dict[str, str]:
    """sha256 of the files that hold a run's results."""
    return {name: sha256_hex((Path(run_path) / name).read_bytes()) for name in RESULT_FILES}


def probability_columns(predictions: pd.DataFrame) -> list[str]:
    """The class-probability columns of predictions.csv: `probability` (binary) or every `p_<class>`."""
    classes = [c for c in predictions.columns if c.startswith("p_")]
    return classes or ["probability"]


def predictions_hash(predictions: pd.DataFrame) -> str:
    return sha256_hex("\n".join(predictions["prediction"].astype(str)).encode())


def bundle_entry(run: Run) -> dict:
    """What the committed bundle records of one run, so that `verify` can compare a re-trained copy with it."""
    probabilities = run.predictions[probability_columns(run.predictions)].round(PROBABILITY_DIGITS)
    return {"experiment": run.config["experiment"], "seed": run.config["seed"], "run": run.path.name,
            "model": run.config["model"], "results_sha256": result_digests(run.path),
            "predictions_sha256": predictions_hash(run.predictions), "probabilities": probabilities.values.tolist(),
            "accuracy": {split: m["accuracy"] for split, m in run.metrics.items()},
            "digests": run.history.get("digests", []), "provenance": run.provenance}


def bundle_file(plan: Plan) -> Path:
    """Where a plan's bundle lives: beside its figures."""
    return plan.folders.figures / "provenance.json"


def load_bundle(plan: Plan) -> list[dict]:
    path = bundle_file(plan)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no committed runs to verify for profile {plan.profile!r}")
    return json.loads(path.read_text())


def cheapest(entries: list[dict], n: int) -> list[dict]:
    """The n runs that took least time to train."""
    return sorted(entries, key=lambda e: e["provenance"]["wall_seconds"])[:n]


# ---------------------------------------------------------------- one run against its committed copy

@dataclass
class Comparison:
    """How a re-trained run compares with its committed copy: `kind` and what shows it."""
    kind: str  # identical, machine noise, diverged at step K, diverged in scoring, another config
    details: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return self.kind in ("identical", "machine noise")


def compare(entry: dict, run: Run, seed_spread: dict[str, float] | None = None) -> Comparison:
    """Classify a re-trained run against its bundle entry; `seed_spread` is the committed accuracy's sd over the
    seeds of its config, per split."""
    if run.path.name != entry["run"]:
        return Comparison("another config", [f"config hash {run.path.name} here, {entry['run']} committed (code, data "
                                             "or package versions changed since)"])
    changed = [name for name, digest in result_digests(run.path).items() if entry["results_sha256"][name] != digest]
    if not changed:
        return Comparison("identical", ["predictions.csv and metrics.json byte for byte"])
    step, parting = first_parting(entry.get("digests", []), run.history.get("digests", []))
    machine = _machine_differences(entry["provenance"], run.provenance)
    if not entry["provenance"].get("cpu_kernels", {}).get("pinned", True):
        machine.insert(0, "committed with --native-cpu: its bytes are its machine's own")
    gap = _probability_gap(entry, run.predictions)
    if gap is not None and gap <= NOISE and predictions_hash(run.predictions) == entry["predictions_sha256"]:
        return Comparison("machine noise", [f"{' and '.join(changed)} differ; the same predictions, probabilities "
                                            f"within {gap:.1e}", parting] + machine)
    kind = f"diverged at step {step}" if step else "diverged in scoring"
    changes = [_accuracy_change(split, m["accuracy"], entry["accuracy"][split], (seed_spread or {}).get(split))
               for split, m in run.metrics.items() if split in entry["accuracy"]]
    return Comparison(kind, [parting] + changes + machine)


def first_parting(committed: list[dict], here: list[dict]) -> tuple[int | None, str]:
    """The first optimizer step whose weights' or loss's digest differs, and a sentence saying where."""
    if not committed:
        return None, "no step digests committed"
    equal_to = None
    for ours, theirs in zip(here, committed):
        if (ours["parameters"], ours["loss"]) != (theirs["parameters"], theirs["loss"]):
            since = f"equal up to step {equal_to}" if equal_to else "at the first digest"
            return ours["step"], f"parts at optimizer step {ours['step']} ({ours['after']} digest; {since})"
        equal_to = ours["step"]
    return None, "every step digest equal: the runs part after training, in scoring"


def _probability_gap(entry: dict, predictions: pd.DataFrame) -> float | None:
    """The largest difference between a probability here and its committed value; None if the shapes differ."""
    here = predictions[probability_columns(predictions)].to_numpy()
    committed = np.asarray(entry.get("probabilities", []), dtype=float)
    if committed.shape != here.shape:
        return None
    return float(np.abs(here.round(PROBABILITY_DIGITS) - committed).max())


def _accuracy_change(split: str, here: float, committed: float, spread: float | None) -> str:
    size = f", {abs(here - committed) / spread:.1f} seed sd" if spread else ""
    return f"{split} accuracy {here:.4f} here, {committed:.4f} committed ({here - committed:+.4f}{size})"


def _machine_differences(committed: dict, here: dict) -> list[str]:
    keys = {"cpu_capability": "CPU capability", "torch_threads": "torch threads", "device": "device", "cpu": "CPU",
            "math_libraries": "math libraries", "cpu_kernels": "CPU kernel settings"}
    return [f"{label} {here.get(key)} here, {committed.get(key)} committed"
            for key, label in keys.items() if here.get(key) != committed.get(key)]


def seed_spreads(entries: list[dict]) -> dict[str, dict[str, float]]:
    """Per experiment, the committed accuracy's sd over its seeds, per split (absent with one seed)."""
    frame = pd.DataFrame([{"experiment": e["experiment"], "split": split, "accuracy": accuracy}
                          for e in entries for split, accuracy in e["accuracy"].items()])
    spread = frame.groupby(["experiment", "split"]).accuracy.std().dropna()
    return {experiment: group.droplevel(0).to_dict() for experiment, group in spread.groupby(level=0)}


# ---------------------------------------------------------------- the command

def verify(plan: Plan, train: Callable[[Plan], object], n_runs: int = 1, every_run: bool = False,
           replace: bool = False) -> bool:
    """Re-train the n cheapest committed runs of a plan (or all) into a scratch cache beside the store (removed
    afterwards), through `train` (the pipeline's `train_runs`: an executor, `plan.jobs` runs at a time), and print
    each one's comparison; with every run, say whether any committed verdict would change; with `replace`, move each
    re-trained run that is not identical into the store, once all have trained. True when every run is reproduced
    (identical or machine noise)."""
    bundle = load_bundle(plan)
    entries = bundle if every_run else cheapest(bundle, n_runs)
    spreads = seed_spreads(bundle)
    plan.folders.runs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=plan.folders.runs.parent) as scratch:
        retrained = scratch_plan(plan, entries, Path(scratch))
        for entry in entries:
            _announce(entry)
        train(retrained)
        results = [_compare_one(entry, load_run(planned.path), spreads.get(entry["experiment"]))
                   for entry, planned in zip(entries, retrained.runs)]
        kinds = pd.Series([comparison.kind for comparison, _ in results]).value_counts()
        print("[verify] " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()), flush=True)
        if every_run:
            _report_verdict_changes(plan, [run for _, run in results])
        if replace:
            _replace_in_store(plan, results)
    return all(comparison.reproduced for comparison, _ in results)


def scratch_plan(plan: Plan, entries: list[dict], scratch: Path) -> Plan:
    """The committed runs `entries` as a plan of their own, cached under `scratch` (same keys, other folders), with
    no benchmark cell to measure."""
    runs = tuple(plan.planned(e["experiment"], e["seed"], model=e["model"]).under(scratch) for e in entries)
    return dataclasses.replace(plan, runs=runs, benchmark=None,
                               folders=dataclasses.replace(plan.folders, runs=scratch))


def _replace_in_store(plan: Plan, results: list[tuple[Comparison, Run]]) -> None:
    """Each re-trained run that is not identical to its stored copy moved into the store, one rename each."""
    moved = [run for comparison, run in results if comparison.kind != "identical"]
    for run in moved:
        target = plan.folders.runs / run.path.parent.name / run.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_dir(run.path, target)
    print(f"[verify] replaced {len(moved)} run(s) in {plan.folders.runs} ({len(results) - len(moved)} identical "
          "kept as stored)", flush=True)


def _announce(entry: dict) -> None:
    committed = entry["provenance"]
    print(f"[verify] {entry['experiment']} seed {entry['seed']}: run {entry['run']}, committed on "
          f"{committed['device']} ({committed.get('cpu_capability', 'CPU capability not recorded')}, "
          f"{committed.get('torch_threads', '?')} thread), {committed['wall_seconds']:.0f} s; re-training it", flush=True)


def _compare_one(entry: dict, run: Run, spread: dict | None) -> tuple[Comparison, Run]:
    comparison = compare(entry, run, spread)
    kind = comparison.kind if comparison.reproduced else comparison.kind.upper()
    print(f"[verify] {entry['experiment']} seed {entry['seed']}: {kind}: " + "; ".join(comparison.details), flush=True)
    return comparison, run


def _report_verdict_changes(plan: Plan, runs: list[Run]) -> None:
    """Recompute the verdict table on the re-trained runs and name every committed verdict that would change."""
    committed_file = plan.folders.tables / "verdicts.csv"
    if not committed_file.exists():
        print(f"[verify] {committed_file}: no committed verdicts to compare with", flush=True)
        return
    committed = pd.read_csv(committed_file).set_index(["claim", "view"]).verdict
    retrained = claims.verdict_table(runs).set_index(["claim", "view"]).verdict
    shared = committed.index.intersection(retrained[retrained != "not run"].index)
    changed = [f"{claim} ({view}): {committed[claim, view]} -> {retrained[claim, view]}"
               for claim, view in shared if committed[claim, view] != retrained[claim, view]]
    print(f"[verify] verdicts on the re-trained runs: {len(shared) - len(changed)} of {len(shared)} as committed"
          + ("; changed: " + "; ".join(changed) if changed else ""), flush=True)
