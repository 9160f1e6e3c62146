"""`./run_all.sh`: data, every (experiment, seed) in its own process, the analysis notebooks through papermill,
then the report."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from pathlib import Path

from transformers.utils import logging as hf_logging

from . import bench, data
from .atomic import write_json_atomic
from .parameters import output_label, planned_runs
from .paths import EXECUTED_DIR, FIGURES_DIR, NOTEBOOKS_DIR
from .report import build_report
from .runs import (PROGRESS_FILE, ExperimentConfig, experiment_config, git_state, load_run, profile_analysis,
                   run_dir)
from .verify import bundle_entry

KERNEL = "dragon-repro"
PROGRESS_EVERY = 60  # seconds between progress reports while runs train


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it and the executed copy to open."""


class RunFailed(RuntimeError):
    """A run raised; the message names it, its last error line and the command that reruns it alone."""


def train_in_process(experiment: str, seed: int, profile: str, model: str | None, timeout: int) -> None:
    """One run in its own process through the CLI (`python -m dragon_repro train`): the same `load_or_run` as
    10_experiment, without a kernel's start-up and figures (about 5 s a run)."""
    command = [sys.executable, "-m", "dragon_repro", "train", "--experiment", experiment, "--seed", str(seed),
               "--profile", profile, *(["--model", model] if model else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise RunFailed(f"{experiment} seed {seed} failed: {detail[0]}\n  rerun it alone: "
                        f"python {' '.join(command[1:])}")


def execute_notebook(notebook: Path, out: Path, parameters: dict, cell_timeout: int) -> None:
    """papermill in a subprocess, kernel pinned, run from notebooks/, each cell under a timeout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "papermill", str(notebook), str(out), "-k", KERNEL, "--cwd", str(NOTEBOOKS_DIR),
               "--execution-timeout", str(cell_timeout), "-y", json.dumps(parameters), "--no-progress-bar",
               "--log-level", "ERROR"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise NotebookFailed(f"{notebook.name} failed: {detail[0]}\n  executed copy: {out}")


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def run_experiments(profile: str, model: str | None, seeds: list[int] | None, jobs: int, cell_timeout: int,
                    started: float) -> None:
    """Each missing (experiment, seed) once, and each missing benchmark cell, `jobs` at a time (each uses one
    thread on CPU): longest first, the short benchmark cells last."""
    plan = planned_runs(profile, seeds)
    configs = {(e, s): experiment_config(e, s, profile, model) for e, s in plan}
    todo = [key for key, config in configs.items() if not (run_dir(config) / "provenance.json").exists()]
    todo.sort(key=lambda key: run_cost(configs[key]), reverse=True)
    cells = [c for c in bench.profile_cells(profile) if not bench.cell_file(c).exists()]
    print(f"[runs] {len(plan)} planned, {len(plan) - len(todo)} cached, {len(todo)} to train; "
          f"{len(cells)} benchmark cells to measure ({jobs} at a time)")

    def one(experiment, seed):
        t0 = time.time()
        train_in_process(experiment, seed, profile, model, cell_timeout)
        return time.time() - t0

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, e, s): (e, s) for e, s in todo}
        futures |= {pool.submit(bench.load_or_measure, [cell], progress=False): cell for cell in cells}
        pending, finished = set(futures), []
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
                for future in done:
                    result, key = future.result(), futures[future]
                    if isinstance(key, tuple):
                        finished.append(key)
                        print(f"[runs] {len(finished)}/{len(todo)} {key[0]} seed {key[1]}: {_clock(result)} "
                              f"({len(todo) - len(finished)} left, elapsed {_clock(time.time() - started)})",
                              flush=True)
                    else:
                        print(f"[bench] {bench.cell_file(key).stem} measured "
                              f"({result[0]['provenance']['wall_seconds']:.0f} s)", flush=True)
                if not done:
                    print(progress_report([configs[k] for k in todo], [configs[k] for k in finished],
                                          time.time() - started), flush=True)
        except BaseException:
            for future in futures:  # a failure stops the queue; jobs already going finish or are interrupted
                future.cancel()
            raise


def run_cost(config: ExperimentConfig) -> float:
    """A run's relative cost, for ordering and the time-left estimate: its epochs, 1.5 times dearer at 1024
    tokens (the cpu profile's +len1024 against +lr5e-6)."""
    return config.epochs * (0.5 + config.max_seq_length / 1024)


def running_progress(config: ExperimentConfig) -> dict | None:
    """What a training run last wrote to its staging folder: epoch and optimizer step; None when not training."""
    final = run_dir(config)
    for path in final.parent.glob(f".{final.name}.tmp-*/{PROGRESS_FILE}"):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # between the run's writes, or just finished
            return None
    return None


def progress_report(todo: list[ExperimentConfig], finished: list[ExperimentConfig], elapsed: float) -> str:
    """One line overall (runs done, elapsed, about how long is left), then one per training run; plain text."""
    running = [(c, p) for c in todo if c not in finished and (p := running_progress(c))]
    done_cost = sum(map(run_cost, finished)) + sum(run_cost(c) * p["step"] / p["steps"] for c, p in running)
    left = elapsed * (sum(map(run_cost, todo)) - done_cost) / done_cost if done_cost else None
    lines = [f"[runs] {len(finished)}/{len(todo)} done, {len(running)} training, elapsed {_clock(elapsed)}, "
             f"about {_clock(left) if left is not None else '?'} left"]
    lines += [f"[runs]   {p['experiment']} seed {p['seed']}: epoch {p['epoch']}/{p['epochs']}, "
              f"step {p['step']}/{p['steps']}" for _, p in running]
    return "\n".join(lines)


def run_analysis(profile: str, model: str | None, seeds: list[int] | None, jobs: int, cell_timeout: int,
                 started: float) -> None:
    """The profile's analysis notebooks, independent of each other, `jobs` at a time (they only read cached runs)."""
    params = {"profile": profile, "model": model, "seeds": seeds}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute_notebook, nb, EXECUTED_DIR / output_label(profile, model, seeds) / nb.name,
                               params, cell_timeout): nb
                   for nb in (NOTEBOOKS_DIR / f"{name}.ipynb" for name in profile_analysis(profile))}
        for future in as_completed(futures):
            future.result()
            print(f"[analysis] {futures[future].name} done (elapsed {_clock(time.time() - started)})", flush=True)


def write_provenance_bundle(profile: str, model: str | None, seeds: list[int] | None) -> Path:
    """The provenance and result digests of every run behind a profile's figures, in one file beside them."""
    entries = [bundle_entry(load_run(run_dir(experiment_config(experiment, seed, profile, model))))
               for experiment, seed in planned_runs(profile, seeds)]
    path = FIGURES_DIR / output_label(profile, model, seeds) / "provenance.json"
    write_json_atomic(path, entries)
    return path


def run_all(profile: str = "cpu", model: str | None = None, seeds: list[int] | None = None, jobs: int | None = None,
            cell_timeout: int = 7200) -> None:
    started, code_state = time.time(), git_state()  # before any output is written: the code's own state
    jobs = jobs or (1 if profile == "paper" else os.cpu_count() or 1)
    hf_logging.disable_progress_bar()  # the log gets plain lines only (building a model draws a progress bar)
    data.ensure_folder(Path(experiment_config(*planned_runs(profile, seeds)[0], profile, model).task))
    run_experiments(profile, model, seeds, jobs, cell_timeout, started)
    run_analysis(profile, model, seeds, jobs, cell_timeout, started)
    write_provenance_bundle(profile, model, seeds)
    report = build_report(output_label(profile, model, seeds), notebooks=profile_analysis(profile), git=code_state)
    print(f"[report] {report}\n[done] profile {profile} in {_clock(time.time() - started)}")
