"""`python -m dragon_repro verify`: re-train committed runs into a scratch cache and compare them byte for byte.

The committed bundle (`figures/<profile>/provenance.json`) holds, for every run behind the figures, its config
hash, provenance, the sha256 of its predictions.csv and metrics.json, and its accuracy per split.
"""

import json
import tempfile
from pathlib import Path

from ..experiments.plan import Plan
from ..experiments.records import Run
from ..hashing import sha256_hex
from .runs import load_or_run

RESULT_FILES = ("predictions.csv", "metrics.json")


def result_digests(run_path: Path) -> dict[str, str]:
    """sha256 of the files that hold a run's results."""
    return {name: sha256_hex((Path(run_path) / name).read_bytes()) for name in RESULT_FILES}


def bundle_entry(run: Run) -> dict:
    """What the committed bundle records of one run, so that `verify` can compare a re-trained copy with it."""
    return {"experiment": run.config["experiment"], "seed": run.config["seed"], "run": run.path.name,
            "model": run.config["model"], "results_sha256": result_digests(run.path),
            "accuracy": {split: m["accuracy"] for split, m in run.metrics.items()}, "provenance": run.provenance}


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


def compare(entry: dict, run: Run) -> list[str]:
    """What differs between a committed run and its re-trained copy; empty when the results are identical."""
    differences = []
    if run.path.name != entry["run"]:
        differences.append(f"config hash {run.path.name} here, {entry['run']} committed (code, data or package "
                           "versions changed since)")
    changed = [name for name, digest in result_digests(run.path).items() if entry["results_sha256"][name] != digest]
    if changed:
        differences.append(f"{' and '.join(changed)} differ")
        differences += [f"{split} accuracy {m['accuracy']:.4f} here, {entry['accuracy'][split]:.4f} committed "
                        f"({m['accuracy'] - entry['accuracy'][split]:+.4f})"
                        for split, m in run.metrics.items() if split in entry["accuracy"]]
    if differences:
        differences += _machine_differences(entry["provenance"], run.provenance)
    return differences


def _machine_differences(committed: dict, here: dict) -> list[str]:
    keys = {"cpu_capability": "CPU capability", "torch_threads": "torch threads", "device": "device", "cpu": "CPU",
            "math_libraries": "math libraries"}
    return [f"{label} {here.get(key)} here, {committed.get(key)} committed"
            for key, label in keys.items() if here.get(key) != committed.get(key)]


def verify(plan: Plan, n_runs: int = 1) -> bool:
    """Re-train the n cheapest committed runs of a plan into a scratch cache (removed afterwards); print, per
    run, "identical" or what differs and by how much. True when every run is identical."""
    entries = cheapest(load_bundle(plan), n_runs)
    with tempfile.TemporaryDirectory(prefix="dragon-repro-verify-") as scratch:
        return all([_verify_one(entry, plan, Path(scratch)) for entry in entries])


def _verify_one(entry: dict, plan: Plan, scratch: Path) -> bool:
    planned = plan.planned(entry["experiment"], entry["seed"], model=entry["model"]).under(scratch)
    committed = entry["provenance"]
    print(f"[verify] {entry['experiment']} seed {entry['seed']}: run {entry['run']}, committed on "
          f"{committed['device']} ({committed.get('cpu_capability', 'CPU capability not recorded')}, "
          f"{committed.get('torch_threads', '?')} thread), {committed['wall_seconds']:.0f} s; re-training it", flush=True)
    run = load_or_run(planned, progress=False, save_model=False)
    differences = compare(entry, run)
    print(f"[verify] {entry['experiment']} seed {entry['seed']}: " + (
        "identical (predictions.csv and metrics.json, byte for byte; hash " + planned.hash + ")"
        if not differences else "DIFFERS: " + "; ".join(differences)), flush=True)
    return not differences
