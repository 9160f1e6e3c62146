"""`python -m dragon_repro selftest`: what this machine can do with a profile, in minutes, before hours of work.

- the device: its memory, the precisions and attention kernels there, and whether the kernels give the committed
  reference's bytes (`verify --kernels`' probe, where the profile has a reference);
- whether the exact attention path matches transformers' Longformer attention here, in fp32 and in the profile's
  precision (bf16 on a GPU), within `attention_check.TOLERANCES`;
- whether the same config (the smoke profile's baseline) trains to the same bytes twice;
- the time per optimizer step and peak memory of one case padded to 512 and 1024 tokens, for the profile's model
  and the benchmark's, through the library's own step (`measure.measure_steps`, which trains with `fine_tune`);
- an estimate of the whole profile: each kind of run in the plan (its model, encoding and batches) trained for an
  epoch on every SAMPLE_EVERY-th case by length, validated and scored the same way through `fine_tune` and
  `predict_probabilities`, then scaled to the plan's runs (their cases and planned epochs: early stopping only
  shortens them), the benchmark cells from the step times, and both scheduled on the plan's jobs as the pipeline
  submits them; the peak memory of a job against the device's, with a warning where it does not fit. On a CPU each
  measured piece counts the share of a core it had (`clocked`), so the estimate holds for the machine to itself,
  however loaded it was while measuring.
"""

import heapq
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import torch
from transformers import AutoConfig
from transformers.utils import logging as hf_logging

from .atomic import write_json_atomic
from .executors import default_jobs
from .gitstate import git_state
from .experiments.plan import Plan, PlannedRun, resolve_plan
from .modeling.attention_check import TOLERANCES, attention_gaps, attention_inputs, within
from .modeling.encoding import encode_cases
from .modeling.exact_attention import windows
from .modeling.model import load_model_and_tokenizer, resolve_model
from .paths import RESULTS_DIR
from .tasks import data
from .training import bench, kernels
from .training.measure import StepCell, measure_steps
from .training.predict import predict_probabilities
from .training.provenance import machine_provenance
from .training.runs import deterministic_torch, load_or_run
from .training.train import fine_tune
from .verify import result_digests

LENGTHS = (512, 1024)  # the paper's two max lengths
SAMPLE_EVERY = 10  # the cases timed per kind of run: every 10th by length, so long and short ones in proportion
REAL_ARCHITECTURE = "dragon-shaped-base"  # timed in place of a hub model this machine cannot load
# Settings that do not change what a case costs to train or score: runs that differ only in these share a timing.
COST_FREE = ("experiment", "seed", "split", "learning_rate", "learning_rate_scale", "epochs", "scheduler",
             "warmup_ratio", "weight_decay", "early_stopping_patience", "restore_best_epoch", "max_grad_norm",
             "train_subset", "validation_subset", "evaluation_subset", "evaluation_sets", "long_case_threshold")
PARTS = ("training", "validation", "scoring", "start")  # a run's estimated seconds, by phase


# ---------------------------------------------------------------- the device

def device_report(plan: Plan) -> dict:
    """Device, memory, precisions, attention kernels and the machine's provenance (as a run records it)."""
    cuda = torch.cuda.is_available()
    machine = machine_provenance()
    memory = torch.cuda.get_device_properties(0).total_memory if cuda else psutil.virtual_memory().total
    return {"device": machine["device"], "memory_gib": memory / 2**30, "cuda": torch.version.cuda,
            "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
            "run_precision": run_precision(plan),
            "attention": {"exact path": "scaled_dot_product_attention at each batch's length, up to twice the window",
                          "beyond": "transformers' chunked Longformer attention"}
            | ({"sdpa_flash": torch.backends.cuda.flash_sdp_enabled(),
                "sdpa_memory_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                "sdpa_math": torch.backends.cuda.math_sdp_enabled()} if cuda else {}),
            "kernels": kernel_report(plan), "machine": machine}


def run_precision(plan: Plan) -> str:
    """bf16 where the profile asks for it and a GPU is there (as `fine_tune` decides), else fp32."""
    return "bf16" if plan.run_settings.get("bf16") and torch.cuda.is_available() else "fp32"


def kernel_report(plan: Plan) -> dict | None:
    """The operations whose bytes differ from the profile's committed kernel reference; None without one."""
    path = kernels.kernels_file(plan)
    if not path.exists():
        return None
    reference = json.loads(path.read_text())
    found = kernels.differences(reference["kernels"], kernels.probe(reference["model"]))
    return {"reference": str(path), "operations": len(reference["kernels"]), "differ": found}


# ---------------------------------------------------------------- the exact path, and the same bytes twice

def attention_report(model: str, precisions: list[str]) -> list[dict]:
    """The exact path against transformers' attention on the same weights (dropout off), on this device: the
    largest gaps over lengths just above h + 1, just above the window and at twice the window, a padded text and
    global attention on a few entity tokens, per precision."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ours, _ = load_model_and_tokenizer(model, num_labels=2, seed=0)
    theirs, _ = load_model_and_tokenizer(model, num_labels=2, seed=0, fast_attention=False)
    theirs.load_state_dict(ours.state_dict())
    ours, theirs = ours.to(device).eval(), theirs.to(device).eval()
    window = min(windows(ours.config))
    lengths = [window // 2 + 2, window + 1, 2 * window]
    rows = []
    for precision in precisions:
        gaps = [attention_gaps(theirs, ours, attention_inputs(ours, n, "right", "entities"), precision)
                for n in lengths]
        worst = {key: max(g[key] for g in gaps) for key in gaps[0]}
        rows.append({"model": model, "precision": precision, "lengths": lengths, "gaps": worst,
                     "tolerance": TOLERANCES[precision], "within": within(worst, precision)})
    return rows


def same_bytes_twice() -> dict:
    """The smoke profile's baseline (seed 0) trained twice into scratch caches: the same result files?"""
    planned = resolve_plan("smoke").planned("baseline", 0)
    with tempfile.TemporaryDirectory(prefix="dragon-repro-selftest-") as scratch:
        digests = [result_digests(load_or_run(planned.under(Path(scratch) / str(i)), progress=False,
                                              save_model=False).path) for i in range(2)]
    return {"config": "smoke baseline, seed 0", "same_bytes": digests[0] == digests[1], "sha256": digests}


# ---------------------------------------------------------------- measured costs

def clocked(function, *args, **kwargs) -> tuple[object, float, float]:
    """`function`'s result, its wall seconds, and the share of a core it had over them: its CPU seconds (this process
    and its children) over its wall seconds on a CPU, where runs and measurements use one thread; 1 on a GPU, whose
    time is not CPU time. Wall seconds times that share are what it takes with the machine to itself."""
    before = os.times()
    result = function(*args, **kwargs)
    after = os.times()
    wall = after.elapsed - before.elapsed
    if torch.cuda.is_available() or wall <= 0:
        return result, wall, 1.0
    return result, wall, min(1.0, sum(b - a for a, b in zip(before[:4], after[:4])) / wall)


def step_costs(model: str, bf16: bool, warmup_steps: int = 1, lengths=LENGTHS) -> dict[int, dict]:
    """One case padded to each of `lengths`: seconds of an optimizer step after `warmup_steps` (none: the first step,
    an upper bound), and peak memory (the memory before training plus the step's growth over it), through the exact
    path where a run takes it."""
    window = min(windows(AutoConfig.from_pretrained(resolve_model(model))))
    costs = {}
    for length in lengths:
        result, _, share = clocked(measure_steps, StepCell(
            model=model, padded_length=length, exact_attention=length <= 2 * window, warmup_steps=warmup_steps,
            timed_steps=1, bf16=bf16))
        costs[length] = {"step_seconds": share * float(np.median(result["step_seconds"])),
                         "peak_mib": result["baseline_mib"] + max(result["step_peak_mib"]),
                         "growth_mib": max(result["step_peak_mib"])}
    return costs


def cost_key(planned: PlannedRun) -> str:
    """What decides a run's cost per case (its model, encoding and batches): runs with the same key share a timing."""
    return json.dumps({k: v for k, v in planned.config.settings().items() if k not in COST_FREE}, sort_keys=True,
                      default=str)


def sampled(frame, every: int = SAMPLE_EVERY):
    """Every `every`-th case by text length: long and short cases in the proportion the whole split has."""
    order = np.argsort(frame["text"].str.len().to_numpy(), kind="stable")
    return frame.iloc[order[every // 2::every]]


def per_case_costs(planned: PlannedRun, every: int = SAMPLE_EVERY) -> dict[str, float]:
    """Seconds per case of one kind of run, on samples of its splits: an epoch of training and of validation
    (`fine_tune`), scoring each held-out set (`predict_probabilities`), encoding; and loading the model."""
    config = planned.config
    task = data.load_task_folder(Path(config.task))
    classes = task.classes()
    training, validation = data.training_split(task, config.split)
    splits = {"training": sampled(training, every), "validation": sampled(validation, every)} | {
        name: sampled(task[name], every) for name in config.evaluation_sets if name in task.splits}
    (model, tokenizer), load, share = clocked(load_model_and_tokenizer, config.model, num_labels=len(classes),
                                              seed=config.seed, fast_attention=config.fast_attention)
    costs = {"load": share * load}
    features, encoding, share = clocked(lambda: {name: encode_cases(tokenizer, list(frame["text"]), config.encoding)
                                                 for name, frame in splits.items()})
    costs["encoding"] = share * encoding / sum(len(frame) for frame in splits.values())
    labels = {name: [classes.index(y) for y in frame["label"]] for name, frame in splits.items()}
    (history, _), _, share = clocked(fine_tune, model, features["training"], labels["training"],
                                     features["validation"], labels["validation"], replace(config.training, epochs=1),
                                     config.seed, progress=False, digests=False)
    costs["training"] = share * history["epochs"][0]["train_seconds"] / len(splits["training"])
    costs["validation"] = share * history["epochs"][0]["validation_seconds"] / len(splits["validation"])
    for name in list(splits)[2:]:
        _, scoring, share = clocked(predict_probabilities, model, features[name],
                                    batch_size=config.training.eval_batch_size)
        costs[name] = share * scoring / len(splits[name])
    return costs


def process_start_seconds() -> float:
    """A run's process before it trains: Python started and the training code (torch, transformers) imported."""
    _, wall, share = clocked(subprocess.run, [sys.executable, "-c", "import dragon_repro.training.runs"], check=True)
    return share * wall


# ---------------------------------------------------------------- the estimate (arithmetic only)

def case_counts(planned: PlannedRun, sizes: dict[str, int]) -> dict[str, int]:
    """How many cases a run trains on, validates on and scores per held-out set (its subsets of the task's sizes)."""
    config = planned.config
    cap = lambda n, subset: n if subset is None else min(n, subset)  # noqa: E731
    return {"training": cap(sizes["training"], config.train_subset),
            "validation": cap(sizes["validation"], config.validation_subset)} | {
        name: cap(sizes[name], config.evaluation_subset) for name in config.evaluation_sets if name in sizes}


def run_seconds(planned: PlannedRun, counts: dict[str, int], per_case: dict[str, float], start: float) -> dict:
    """A run's seconds by phase: every planned epoch trained and validated, each held-out set scored once, and its
    process's start (Python and imports, the model loaded, every case encoded)."""
    epochs = planned.config.training.epochs
    held_out = [name for name in counts if name not in ("training", "validation")]
    return {"training": epochs * counts["training"] * per_case["training"],
            "validation": epochs * counts["validation"] * per_case["validation"],
            "scoring": sum(counts[name] * per_case[name] for name in held_out),
            "start": start + per_case["load"] + per_case["encoding"] * sum(counts.values())}


def case_seconds(steps: dict[int, dict], length: int) -> float:
    """Seconds to train one case padded to `length` tokens: interpolated between the measured lengths (and 0 at 0),
    in proportion to the length beyond the longest."""
    known = sorted(steps)
    if length >= known[-1]:
        return steps[known[-1]]["step_seconds"] * length / known[-1]
    return float(np.interp(length, [0, *known], [0.0, *(steps[n]["step_seconds"] for n in known)]))


def cell_seconds(cell, steps: dict[int, dict], start: float) -> float:
    """A benchmark cell's seconds in its own process: a step cell's warm-up and timed steps at its length; an epoch
    cell's four ways of training its cases, each at most as dear as padding every case to its max length."""
    if isinstance(cell, StepCell):
        cases = (cell.warmup_steps + cell.timed_steps) * cell.batch_size * cell.gradient_accumulation_steps
        return start + cases * case_seconds(steps, cell.padded_length)
    ways = 4  # measure.EPOCH_WAYS and the HF Trainer
    return start + ways * cell.train_subset * case_seconds(steps, cell.max_seq_length)


def schedule(durations: list[float], jobs: int) -> float:
    """Wall seconds of jobs run in the given order on `jobs` slots, each taken by the next job when it frees."""
    slots = [0.0] * jobs
    for seconds in durations:
        heapq.heappush(slots, heapq.heappop(slots) + seconds)
    return max(slots)


def estimate(plan: Plan, sizes: dict[str, int], per_case: dict[str, dict], steps: dict[str, dict[int, dict]],
             start: float, cells: list, memory_gib: float, jobs_share_memory: bool) -> dict:
    """The whole profile from the measured costs: each run by phase (per_case by `cost_key`), each benchmark cell
    (steps by model), both scheduled on the plan's jobs as the pipeline submits them (runs longest first, then the
    cells), and the peak memory of a job (a run's batch of cases at its max length: one case's memory growth times
    the batch, an upper bound) and of all jobs where they share the memory (CPU; each job has a GPU of its own)
    against `memory_gib`."""
    runs = [{"experiment": r.config.experiment, "seed": r.config.seed}
            | run_seconds(r, case_counts(r, sizes), per_case[cost_key(r)], start) for r in plan.runs]
    for run in runs:
        run["seconds"] = sum(run[part] for part in PARTS)
    cell_rows = [{"cell": bench.cell_folder(c, Path()).name.rsplit("-", 1)[0],
                  "seconds": cell_seconds(c, steps[c.model], start)} for c in cells]
    order = sorted((r["seconds"] for r in runs), reverse=True) + [c["seconds"] for c in cell_rows]
    parts = {part: sum(r[part] for r in runs) for part in PARTS} | {
        "benchmark cells": sum(c["seconds"] for c in cell_rows)}
    peaks = [steps[r.config.model][_at_least(r.config.encoding.max_seq_length)] for r in plan.runs]
    job_peak_mib = max(p["peak_mib"] - p["growth_mib"] + r.config.training.batch_size * p["growth_mib"]
                       for p, r in zip(peaks, plan.runs))
    at_once = plan.jobs if jobs_share_memory else 1
    return {"runs": runs, "cells": cell_rows, "jobs": plan.jobs, "single_core_seconds": parts,
            "wall_seconds": schedule(order, plan.jobs), "job_peak_gib": job_peak_mib / 1024,
            "peak_gib": at_once * job_peak_mib / 1024, "memory_gib": memory_gib,
            "fits": at_once * job_peak_mib / 1024 <= memory_gib}


def _at_least(length: int) -> int:
    """The measured length that bounds a max length's memory."""
    return min((n for n in LENGTHS if n >= length), default=max(LENGTHS))


# ---------------------------------------------------------------- the command

def selftest(profile: str | None = None, model: str | None = None, out: Path | None = None,
             every: int = SAMPLE_EVERY) -> tuple[dict, bool]:
    """Run every check and the estimate; print a short table, write it all as JSON. Returns it, and whether every
    check passed and the profile fits."""
    began = time.perf_counter()
    hf_logging.set_verbosity_error()  # plain lines only: no load reports or progress bars from building models
    hf_logging.disable_progress_bar()
    profile = profile or ("paper" if torch.cuda.is_available() else "cpu")
    plan = resolve_plan(profile, model, jobs=default_jobs(None))
    timed = timing_model(plan.model)
    if timed != plan.model:
        plan = resolve_plan(profile, timed, jobs=default_jobs(None))
    report = {"profile": profile, "model": plan.model, "timed_model": timed} | git_state() | device_report(plan)
    _print_device(report)
    precisions = ["fp32"] + ([report["run_precision"]] if report["run_precision"] != "fp32" else [])
    with deterministic_torch():  # as the runs: deterministic kernels, one thread on CPU
        report["attention_check"] = attention_report(timed, precisions)
        _print_attention(report["attention_check"])
        report["determinism"] = same_bytes_twice()
        print(f"[selftest] same config twice ({report['determinism']['config']}): "
              f"{'the same bytes' if report['determinism']['same_bytes'] else 'OTHER BYTES'}", flush=True)
        report["estimate"] = _estimate(plan, report, every)
    report["wall_seconds"] = time.perf_counter() - began
    ok = (all(row["within"] for row in report["attention_check"]) and report["determinism"]["same_bytes"]
          and report["estimate"]["fits"])
    path = out or RESULTS_DIR / "selftest" / f"{_slug(report['device'])}-{profile}.json"
    write_json_atomic(path, report | {"ok": ok})
    print(f"[selftest] {'all fine' if ok else 'NOT ALL FINE: see above'}; wrote {path} "
          f"({report['wall_seconds']:.0f} s)")
    return report, ok


def timing_model(model: str) -> str:
    """The model to time: the profile's where it loads here, else the real architecture with random weights (a hub
    name offline: its cost does not depend on its weights)."""
    return model if Path(resolve_model(model)).is_dir() else REAL_ARCHITECTURE


def _estimate(plan: Plan, report: dict, every: int) -> dict:
    bf16 = report["run_precision"] == "bf16"
    cells = [c for c in bench.plan_cells(plan) if not bench.cell_folder(c, plan.folders.bench).exists()]
    models = dict.fromkeys([plan.model] + [c.model for c in cells])
    (steps, per_case), _, share = clocked(_measure, plan, bf16, every, models)
    start = process_start_seconds()
    task = data.load_task_folder(plan.task)
    sizes = {name: len(frame) for name, frame in task.splits.items()}
    found = estimate(plan, sizes, per_case, steps, start, cells, report["memory_gib"],
                     jobs_share_memory=not torch.cuda.is_available())
    found |= {"steps": steps, "per_case": list(per_case.values()), "process_start_seconds": start,
              "kinds": len(per_case), "sample_every": every, "cpu_share": share}
    _print_estimate(plan, found)
    return found


def _measure(plan: Plan, bf16: bool, every: int, models) -> tuple[dict, dict]:
    """The measured costs: optimizer steps per model, and seconds per case per kind of run."""
    steps, per_case = {}, {}
    for name in models:  # the benchmark's models only for its cells' time: their first step at 512 tokens will do
        steps[name] = (step_costs(name, bf16) if name == plan.model else
                       step_costs(name, bf16, warmup_steps=0, lengths=LENGTHS[:1]))
        print("[selftest] " + name + ", one case per optimizer step: " + "; ".join(
            f"{n} tokens {s['step_seconds']:.2f} s, peak {s['peak_mib']:,.0f} MiB" for n, s in steps[name].items()),
            flush=True)
    for key, planned in {cost_key(r): r for r in plan.runs}.items():
        per_case[key] = per_case_costs(planned, every)
    return steps, per_case


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _print_device(report: dict) -> None:
    machine = report["machine"]
    print(f"[selftest] {report['device']} ({machine['cpu'].get('model')}, {machine['cpu_count']} cores), "
          f"{report['memory_gib']:.1f} GiB; torch {machine['packages']['torch']}, CUDA {report['cuda']}; runs train "
          f"in {report['run_precision']} (bf16 on a GPU here: {'yes' if report['bf16_supported'] else 'no'}); "
          f"CPU kernels {machine['cpu_capability']}, {'pinned' if machine['cpu_kernels']['pinned'] else 'native'}",
          flush=True)
    if report["kernels"]:
        k = report["kernels"]
        print(f"[selftest] kernels: {k['operations'] - len(k['differ'])} of {k['operations']} operations give "
              f"{k['reference']}'s bytes" + "".join(f"; {name}: {what}" for name, what in k["differ"].items()),
              flush=True)


def _print_attention(rows: list[dict]) -> None:
    for row in rows:
        gaps, bound = row["gaps"], row["tolerance"]
        print(f"[selftest] exact path against transformers' attention ({row['model']}, {row['precision']}, "
              f"{'/'.join(map(str, row['lengths']))} tokens): " + ", ".join(
                  f"{key} {gaps[key]:.1e} (at most {bound[key]:.0e})" for key in gaps)
              + (": equal" if row["within"] else ": OUTSIDE THE TOLERANCE"), flush=True)


def _print_estimate(plan: Plan, found: dict) -> None:
    """The estimate with the machine to itself (`clocked`), and as loaded as during the measurements."""
    print(f"[selftest] profile {plan.profile}: {len(plan.runs)} runs of {found['kinds']} kinds (each timed on every "
          f"{found['sample_every']}th case by length), {len(found['cells'])} benchmark cells to measure, "
          f"{found['jobs']} job(s) at a time; every planned epoch (early stopping only shortens a run); seconds with "
          f"the machine to itself (the measurements had {100 * found['cpu_share']:.0f}% of a core)")
    print("| experiment | runs | epochs | training s | validation s | scoring s | start s | per run s |\n"
          "|---|---|---|---|---|---|---|---|")
    epochs = {r.config.experiment: r.config.training.epochs for r in plan.runs}
    for name in epochs:
        rows = [r for r in found["runs"] if r["experiment"] == name]
        mean = {key: np.mean([r[key] for r in rows]) for key in (*PARTS, "seconds")}
        print(f"| {name} | {len(rows)} | {epochs[name]} | {mean['training']:.0f} | {mean['validation']:.0f} | "
              f"{mean['scoring']:.0f} | {mean['start']:.0f} | {mean['seconds']:.0f} |")
    parts = found["single_core_seconds"]
    print("[selftest] single-core seconds: " + ", ".join(f"{k} {v:,.0f}" for k, v in parts.items())
          + f"; total {sum(parts.values()):,.0f}")
    print(f"[selftest] estimate: {_clock(found['wall_seconds'])} for the runs and benchmark cells on "
          f"{found['jobs']} job(s) with the machine to itself ({_clock(found['wall_seconds'] / found['cpu_share'])} "
          f"as loaded as now); not counted: the analysis notebooks and the report")
    print(f"[selftest] peak memory (an upper bound: a run's batch times one case's growth): "
          f"{found['job_peak_gib']:.1f} GiB per job, {found['peak_gib']:.1f} GiB at once, "
          f"of {found['memory_gib']:.1f} GiB: " + ("fits" if found["fits"] else
                                                   "WARNING: WILL NOT FIT IN MEMORY (fewer --jobs, or a smaller "
                                                   "batch)"), flush=True)
