"""What 1024 tokens cost, measured side by side, three ways of batching: time per optimizer step and peak memory
with every batch padded to max_seq_length (DRAGON's way), padded to its longest text rounded up to the attention
window (transformers' Longformer needs that), or at its longest text through the exact attention path (the suite's
default, `modeling.exact_attention`); and the suite's loop against the HF Trainer.

Two measurements, each cached like a run (by a hash of its config and code) and each in a fresh process:
- *step cells* train one padded length at a time, with transformers' attention or the exact path: warm-up steps,
  then timed steps, each with its peak memory growth over the loaded model (process RSS on CPU,
  `max_memory_allocated` on a GPU). An epoch's cost under each way of batching then follows from the padded lengths
  its batches have (`batch_plan`).
- *epoch cells* time one full epoch on the same cases: our loop (exact path, length-aware, padded) and the HF Trainer
  fed as dragon-baseline feeds it (padded to max_seq_length).
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoConfig

from .. import NATIVE_CPU
from ..atomic import staged_dir, write_json_atomic
from ..experiments.plan import HASHED_PACKAGES, Plan, code_version
from ..experiments.records import check_sealed, seal
from ..hashing import value_hash
from ..modeling.batching import length_grouped_batches, padded_length, window_multiple
from ..modeling.exact_attention import windows
from ..modeling.model import load_tokenizer, resolve_model
from ..modeling.shapes import dragon_config
from ..processes import ChildFailed, run_checked
from .measure import OUR_LOOP, EpochCell, StepCell, encoded, measure_epoch, measure_steps, training_texts
from .provenance import machine_provenance, memory_kind
from .runs import deterministic_torch

BATCHING = {  # each way of batching an epoch: what a batch is padded to, and whose attention computes it
    "padded": "to max_seq_length, transformers' attention (DRAGON's way)",
    "length-aware": "to its longest text rounded up to the attention window, transformers' attention",
    "exact": "to its longest text, the exact attention path (the suite's default)",
}
EXACT_GRID = 128  # an exact-path batch is timed at its length rounded up to this: an upper bound on its cost
N_RESAMPLES = 10_000
CELL_FILE = "cell.json"  # in a cell's folder, beside its provenance.json


# ---------------------------------------------------------------- the plan: which cells a profile measures

def benchmark_of(plan: Plan) -> dict:
    """The plan's benchmark settings (experiments.yaml: benchmarks)."""
    if plan.benchmark is None:
        raise ValueError(f"profile {plan.profile!r} has no benchmark in experiments.yaml (benchmarks:)")
    return plan.benchmark


def plan_cells(plan: Plan) -> list:
    """Every step and epoch cell of a plan's benchmark; none for a profile without one (transfer)."""
    return step_cells(plan.benchmark) + epoch_cells(plan.benchmark) if plan.benchmark else []


def step_cells(settings: dict) -> list[StepCell]:
    """A cell per (padded length, attention) that some way of batching gives the training set, `processes` times."""
    steps = settings["steps"]
    slots = sorted({slot for max_length in steps["lengths"] for mode in BATCHING
                    for slot in batch_plan(steps["model"], max_length, mode, steps["batch_size"])})
    options = {k: v for k, v in steps.items() if k not in ("lengths", "processes")}
    return [StepCell(padded_length=length, exact_attention=exact, process=process, **options)
            for process in range(steps.get("processes", 1)) for length, exact in slots]


def epoch_cells(settings: dict) -> list[EpochCell]:
    """A cell per max length of each model the benchmark times whole epochs on."""
    return [EpochCell(max_seq_length=length, **{k: v for k, v in epochs.items() if k != "lengths"})
            for epochs in settings["epochs"] for length in epochs["lengths"]]


def is_real_architecture(model: str) -> bool:
    """Whether a model has Longformer-base's shape as the paper's model has it (the weights aside)."""
    real, config = dragon_config("base"), AutoConfig.from_pretrained(resolve_model(model))
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "attention_window",
            "vocab_size", "max_position_embeddings")
    return all(getattr(config, k) == getattr(real, k) for k in keys)


@lru_cache(maxsize=None)
def batch_plan(model: str, max_length: int, mode: str, batch_size: int, seed: int = 0) -> tuple[tuple[int, bool], ...]:
    """The (padded length, exact path) of every batch of one training epoch, batched as our loop batches (by
    length), then padded one of the ways in BATCHING. A batch too long for the exact path (over twice the window)
    goes through transformers' attention, as in a run. Computed once per process."""
    config = AutoConfig.from_pretrained(resolve_model(model))
    window, exact_up_to = window_multiple(config), 2 * min(windows(config))
    lengths = [len(f["input_ids"]) for f in encoded(load_tokenizer(model), training_texts(), max_length)]
    batches = length_grouped_batches(lengths, batch_size, torch.Generator().manual_seed(seed))
    longest = [max(lengths[i] for i in batch) for batch in batches]
    if mode == "padded":
        return ((padded_length(max_length, window), False),) * len(batches)
    if mode == "length-aware":
        return tuple((padded_length(n, window), False) for n in longest)
    grid = min(EXACT_GRID, exact_up_to)
    return tuple((min(padded_length(n, grid), exact_up_to), True) if n <= exact_up_to else
                 (padded_length(n, window), False) for n in longest)


# ---------------------------------------------------------------- the cache

def cell_hash(cell) -> str:
    return value_hash({"kind": type(cell).__name__, **asdict(cell), "code": code_version("run"),
                       "native_cpu": NATIVE_CPU, "bench": code_version("bench"),
                       "packages": {p: version(p) for p in HASHED_PACKAGES}})


def cell_folder(cell, root: Path) -> Path:
    if isinstance(cell, StepCell):
        name = (f"steps-{Path(cell.model).name}-{cell.padded_length}{'-exact' if cell.exact_attention else ''}"
                + (f"-process{cell.process}" if cell.process else ""))
    else:
        name = f"epoch-{Path(cell.model).name}-{cell.max_seq_length}"
    return Path(root) / f"{name}-{cell_hash(cell)}"


def load_cell(folder: Path) -> dict:
    """A measured cell (what was measured, its result and its provenance), once its seal holds."""
    provenance = check_sealed(folder)
    return json.loads((folder / CELL_FILE).read_text()) | {"provenance": provenance}


def load_or_measure(cells: list, root: Path, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Each cell's cached result, measuring the missing ones `jobs` at a time, each in a fresh process."""
    missing = [c for c in cells if not cell_folder(c, root).exists()]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(measure_in_child, cell, cell_folder(cell, root)): cell for cell in missing}
        for future in as_completed(futures):
            future.result()
            if progress:
                print(f"[bench] {cell_folder(futures[future], root).name}: measured", flush=True)
    return [load_cell(cell_folder(c, root)) for c in cells]


def measure_in_child(cell, out: Path) -> dict:
    """A fresh Python process measures the cell (its peak memory is its own) and writes the folder `out`
    atomically."""
    code = "import sys; from dragon_repro.training import bench; bench.measure_into(*sys.argv[1:])"
    try:
        run_checked([sys.executable, "-c", code, type(cell).__name__, json.dumps(asdict(cell)), str(out)])
    except ChildFailed as err:
        raise RuntimeError(f"benchmark cell {out.name} failed: {err}") from None
    return load_cell(out)


def measure_into(kind: str, cell_json: str, out: str) -> None:
    cell = {"StepCell": StepCell, "EpochCell": EpochCell}[kind](**json.loads(cell_json))
    started = time.perf_counter()
    with deterministic_torch():  # the runs' own setting: one thread on CPU
        result = measure_steps(cell) if isinstance(cell, StepCell) else measure_epoch(cell)
        provenance = machine_provenance() | {"memory_kind": memory_kind(),
                                             "wall_seconds": time.perf_counter() - started}
    with staged_dir(Path(out)) as staging:
        write_json_atomic(staging / CELL_FILE, {"cell": {"kind": kind, **asdict(cell)}, "result": result})
        seal(staging, provenance)


# ---------------------------------------------------------------- from cells to the cost of 1024 tokens

def cost_table(plan: Plan) -> pd.DataFrame:
    """The relative cost of the longer max length, per way of batching, with the model and hardware named."""
    results, plans, steps = _steps_and_plans(plan)
    hardware = sorted({f"{r['provenance']['device']}, {r['provenance']['cpu_capability']}, "
                       f"{r['provenance']['torch_threads']} thread(s)" for r in results})
    return pd.DataFrame(relative_costs(results, plans)).assign(
        model=steps["model"], real_architecture=is_real_architecture(steps["model"]), hardware="; ".join(hardware))


def composed_epochs(plan: Plan) -> pd.DataFrame:
    """One training epoch's seconds per way of batching and max length, composed from the step cells' medians over
    the epoch's batch plan, and how many times cheaper than length-aware batching with transformers' attention."""
    results, plans, steps = _steps_and_plans(plan)
    medians = {slot: np.median(np.concatenate(runs)) for slot, runs in _samples(results, "step_seconds").items()}
    rows = [{"batching": mode, "max_seq_length": n, "batches": len(slots),
             "epoch_seconds": sum(medians[slot] for slot in slots)}
            for mode, by_max in plans.items() for n, slots in by_max.items()]
    frame = pd.DataFrame(rows)
    aware = frame[frame.batching == "length-aware"].set_index("max_seq_length").epoch_seconds
    return frame.assign(times_cheaper=aware.reindex(frame.max_seq_length).to_numpy() / frame.epoch_seconds,
                        model=steps["model"])


def _steps_and_plans(plan: Plan) -> tuple[list[dict], dict, dict]:
    """The step cells' results, each way of batching's batch plan per max length, and the step settings."""
    steps = benchmark_of(plan)["steps"]
    results = load_or_measure(step_cells(benchmark_of(plan)), plan.folders.bench)
    plans = {mode: {n: batch_plan(steps["model"], n, mode, steps["batch_size"]) for n in steps["lengths"]}
             for mode in BATCHING}
    return results, plans, steps


def step_table(plan: Plan) -> pd.DataFrame:
    """Per padded length and attention: the timed steps' median, fastest and slowest seconds, and median peak memory
    (MiB)."""
    rows = []
    for r in load_or_measure(step_cells(benchmark_of(plan)), plan.folders.bench):
        seconds, peaks = np.asarray(r["result"]["step_seconds"]), np.asarray(r["result"]["step_peak_mib"])
        rows.append({"padded_length": r["cell"]["padded_length"],
                     "attention": "exact path" if r["cell"]["exact_attention"] else "transformers'",
                     "process": r["cell"]["process"],
                     "timed_steps": len(seconds), "median_seconds": np.median(seconds),
                     "fastest_seconds": seconds.min(), "slowest_seconds": seconds.max(),
                     "median_peak_mib": np.median(peaks), "memory_kind": r["provenance"]["memory_kind"]})
    return pd.DataFrame(rows)


def epoch_table(plan: Plan) -> pd.DataFrame:
    """One epoch's training seconds per model, max length and way of training, and each over our loop's (the exact
    attention path, length-aware)."""
    rows = []
    for r in load_or_measure(epoch_cells(benchmark_of(plan)), plan.folders.bench):
        seconds = r["result"]["epoch_seconds"]
        rows += [{"model": r["cell"]["model"], "max_seq_length": r["cell"]["max_seq_length"], "training": name,
                  "epoch_seconds": value, "relative_to_ours": value / seconds[OUR_LOOP],
                  "cases": r["result"]["n_cases"]}
                 for name, value in seconds.items()]
    return pd.DataFrame(rows)


def relative_costs(step_results: list[dict], plans: dict[str, dict[int, list[tuple[int, bool]]]],
                   seed: int = 0) -> list[dict]:
    """Per way of batching, the relative cost of the longer max length over the shorter one in time per step (the
    mean over an epoch's batch plan) and in peak memory (the epoch's largest batch), with bootstrap CIs over the
    processes each cell ran in and their timed steps. `plans[mode][max_length]` is `batch_plan`'s list of (padded
    length, exact path)."""
    samples = {key: _samples(step_results, key) for key in ("step_seconds", "step_peak_mib")}
    rng = np.random.default_rng(seed)
    rows = []
    for mode, by_max in plans.items():
        short, long = sorted(by_max)
        for measure, key, summary in (("time per step", "step_seconds", _mean_over_plan),
                                      ("peak memory", "step_peak_mib", _peak_over_plan)):
            medians = {slot: np.median(np.concatenate(v)) for slot, v in samples[key].items()}
            point = {n: summary(by_max[n], medians) for n in (short, long)}
            draws = [_resampled(samples[key], rng) for _ in range(N_RESAMPLES)]
            ratios = np.array([summary(by_max[long], d) / summary(by_max[short], d) - 1 for d in draws])
            rows.append({"batching": mode, "measure": measure, "from_tokens": short, "to_tokens": long,
                         "at_from": point[short], "at_to": point[long], "relative": point[long] / point[short] - 1,
                         "ci_low": np.quantile(ratios, 0.025), "ci_high": np.quantile(ratios, 0.975),
                         "batches_over_short": sum(length > short for length, _ in by_max[long]),
                         "batches": len(by_max[long]),
                         "timed_steps": min(sum(map(len, v)) for v in samples[key].values()),
                         "processes": min(map(len, samples[key].values()))})
    return rows


def _samples(step_results: list[dict], key: str) -> dict[tuple[int, bool], list[np.ndarray]]:
    """One measure's timed steps per (padded length, exact path): an array per process that measured it."""
    found = {}
    for r in step_results:
        slot = (r["cell"]["padded_length"], r["cell"]["exact_attention"])
        found.setdefault(slot, []).append(np.asarray(r["result"][key]))
    return found


def _resampled(samples: dict, rng) -> dict:
    """Each slot's median over a resample of its processes, and of each process's timed steps."""
    def one(processes):
        chosen = [processes[i] for i in rng.integers(0, len(processes), len(processes))]
        return np.median(np.concatenate([rng.choice(steps, size=len(steps)) for steps in chosen]))
    return {slot: one(processes) for slot, processes in samples.items()}


def _mean_over_plan(plan: list[tuple[int, bool]], per_slot: dict) -> float:
    return float(np.mean([per_slot[slot] for slot in plan]))


def _peak_over_plan(plan: list[tuple[int, bool]], per_slot: dict) -> float:
    return float(max(per_slot[slot] for slot in set(plan)))
