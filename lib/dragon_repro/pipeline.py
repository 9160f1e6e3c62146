"""`./run_all.sh`: the plan resolved once, every missing run through an executor (`executors`: a process each on
this machine, or a task each on a Ray cluster), the analysis notebooks through papermill, then the report."""

import json
import sys
import time
from functools import partial
from datetime import datetime, timezone
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from pathlib import Path

from transformers.utils import logging as hf_logging

from .atomic import write_json_atomic
from .executors import Executor, RunFailed, default_jobs, make_executor
from .experiments.plan import Plan, PlannedRun, resolve_plan
from .experiments.records import load_run
from .gitstate import git_state
from . import paths
from .paths import NOTEBOOKS_DIR
from .presentation import readme
from .presentation.report import build_report
from .processes import ChildFailed, run_checked
from .training import bench, kernels
from .training.provenance import machine_provenance
from .training.runs import running_progress
from .verify import bundle_entry, bundle_file, load_bundle, verify

KERNEL = "dragon-repro"
PROGRESS_EVERY = 60  # seconds between progress reports while runs train


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it and the executed copy to open."""


def execute_notebook(notebook: Path, out: Path, parameters: dict, cell_timeout: int) -> None:
    """papermill in a subprocess, kernel pinned, run from notebooks/, each cell under a timeout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "papermill", str(notebook), str(out), "-k", KERNEL, "--cwd", str(NOTEBOOKS_DIR),
               "--execution-timeout", str(cell_timeout), "-y", json.dumps(parameters), "--no-progress-bar",
               "--log-level", "ERROR"]
    try:
        run_checked(command)
    except ChildFailed as err:
        raise NotebookFailed(f"{notebook.name} failed: {err}\n  executed copy: {out}") from None


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def run_experiments(plan: Plan, executor: Executor, started: float) -> tuple[int, int]:
    """Each missing run once through `executor`, longest first, and each missing benchmark cell on this machine, the
    short cells last (locally they share the `plan.jobs` slots). A failed run is reported once the others have
    finished; an interrupt cancels every run not finished. Returns how many runs were trained and cells measured."""
    todo = sorted((r for r in plan.runs if not r.done), key=run_cost, reverse=True)
    cells = [c for c in bench.plan_cells(plan) if not bench.cell_folder(c, plan.folders.bench).exists()]
    print(f"[runs] {len(plan.runs)} planned, {len(plan.runs) - len(todo)} cached, {len(todo)} to train; "
          f"{len(cells)} benchmark cells to measure ({plan.jobs} at a time)")
    futures = {executor.submit(planned): planned for planned in todo}
    futures |= {executor.measure(cell, bench.cell_folder(cell, plan.folders.bench)): cell for cell in cells}
    pending, finished, failed = set(futures), [], []
    try:
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            for future in done:
                key = futures[future]
                if isinstance(key, PlannedRun):
                    try:
                        future.result()
                    except RunFailed as err:
                        failed.append(err)
                        print(f"[runs] {key.config.experiment} seed {key.config.seed} failed", flush=True)
                        continue
                    finished.append(key)
                    seconds = json.loads((key.path / "provenance.json").read_text())["wall_seconds"]
                    print(f"[runs] {len(finished)}/{len(todo)} {key.config.experiment} seed {key.config.seed}: "
                          f"{_clock(seconds)} ({len(todo) - len(finished) - len(failed)} left, elapsed "
                          f"{_clock(time.time() - started)})", flush=True)
                else:
                    print(f"[bench] {bench.cell_folder(key, plan.folders.bench).name} measured "
                          f"({future.result()['provenance']['wall_seconds']:.0f} s)", flush=True)
            if not done:
                print(progress_report(todo, finished, time.time() - started, executor.progress), flush=True)
    except BaseException:
        executor.cancel()
        raise
    if failed:
        raise RunFailed("\n".join(map(str, failed)))
    return len(todo), len(cells)


def train_runs(plan: Plan, executor: str = "local", address: str | None = None, timeout: int = 7200,
               started: float | None = None) -> tuple[int, int]:
    """`run_experiments` through a fresh executor of the kind named (`make_executor`), released afterwards: every
    missing run of the plan (and benchmark cell), `plan.jobs` at a time."""
    with make_executor(executor, plan, timeout, address) as runs:
        return run_experiments(plan, runs, time.time() if started is None else started)


def run_cost(planned: PlannedRun) -> float:
    """A run's relative cost, for ordering and the time-left estimate: its epochs, 1.5 times dearer at 1024
    tokens (the cpu profile's +len1024 against +lr5e-6)."""
    config = planned.config
    return config.training.epochs * (0.5 + config.encoding.max_seq_length / 1024)


def progress_report(todo: list[PlannedRun], finished: list[PlannedRun], elapsed: float,
                    progress=running_progress) -> str:
    """One line overall (runs done, elapsed, about how long is left), then one per training run (what `progress`
    says it last reported); plain text."""
    running = [(r, p) for r in todo if r not in finished and (p := progress(r))]
    done_cost = sum(map(run_cost, finished)) + sum(run_cost(r) * p["step"] / p["steps"] for r, p in running)
    left = elapsed * (sum(map(run_cost, todo)) - done_cost) / done_cost if done_cost else None
    lines = [f"[runs] {len(finished)}/{len(todo)} done, {len(running)} training, elapsed {_clock(elapsed)}, "
             f"about {_clock(left) if left is not None else '?'} left"]
    lines += [f"[runs]   {p['experiment']} seed {p['seed']}: epoch {p['epoch']}/{p['epochs']}, "
              f"step {p['step']}/{p['steps']}" for _, p in running]
    return "\n".join(lines)


def run_analysis(plan: Plan, cell_timeout: int, started: float) -> None:
    """The plan's analysis notebooks, independent of each other, `plan.jobs` at a time (they only read cached
    runs); each resolves the same plan from its parameters. An interrupt starts no further notebook."""
    with ThreadPoolExecutor(max_workers=plan.jobs) as pool:
        futures = {pool.submit(execute_notebook, notebook, plan.folders.executed / notebook.name,
                               plan.notebook_parameters, cell_timeout): notebook
                   for notebook in (NOTEBOOKS_DIR / f"{name}.ipynb" for name in plan.analysis)}
        try:
            for future in as_completed(futures):
                future.result()
                print(f"[analysis] {futures[future].name} done (elapsed {_clock(time.time() - started)})",
                      flush=True)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def write_provenance_bundle(plan: Plan) -> Path:
    """The provenance and result digests of every run behind a plan's figures, in one file beside them, and this
    machine's kernel reference (`verify --kernels`)."""
    path = bundle_file(plan)
    write_json_atomic(path, [bundle_entry(load_run(planned.path)) for planned in plan.runs])
    kernels.write_reference(plan)
    return path


def record_regeneration(plan: Plan, name: str, seconds: float, code_state: dict, **counts) -> Path:
    """What this `./run_all.sh` took (`readme.REGENERATION_FILE`, or `readme.RETRAIN_FILE` with --retrain), at which
    commit and on which machine, with `counts` (what it trained), beside the plan's tables: the README reads it."""
    machine = machine_provenance()
    path = plan.folders.tables / name
    write_json_atomic(path, {"seconds": round(seconds, 1), "finished": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "commit": code_state["git_sha"], "dirty": code_state["git_dirty"], "jobs": plan.jobs,
        "machine": f"{machine['device']}, {machine['cpu_count']} cores"} | counts)
    return path


def run_all(profile: str = "cpu", model: str | None = None, seeds: list[int] | None = None, jobs: int | None = None,
            cell_timeout: int = 7200, executor: str = "local", address: str | None = None, retrain: bool = False,
            replace: bool = False) -> bool:
    """Every missing run, the analysis, the report. With `retrain`, first re-train every stored run from scratch
    (`verify --all`, through the same executor, `plan.jobs` at a time): how each compares and which verdicts would
    change; without `replace` that is all (the store is left as it is), with it the re-trained runs move into the
    store and the outputs are rebuilt from them. False when a re-trained run did not reproduce."""
    started, code_state = time.time(), git_state()  # before any output is written: the code's own state
    hf_logging.disable_progress_bar()  # the log gets plain lines only (building a model draws a progress bar)
    plan = resolve_plan(profile, model, seeds, jobs=default_jobs(jobs))
    train = partial(train_runs, executor=executor, address=address, timeout=cell_timeout, started=started)
    reproduced = verify(plan, train, every_run=True, replace=replace) if retrain else True
    if retrain:
        record_regeneration(plan, readme.RETRAIN_FILE, time.time() - started, code_state,
                            runs_retrained=len(load_bundle(plan)), reproduced=reproduced, replaced=replace)
    if retrain and not replace:
        print(f"[done] re-trained profile {profile} in {_clock(time.time() - started)}; the store is unchanged "
              "(--replace moves the re-trained runs in)")
        return reproduced
    trained, measured = train(plan)
    run_analysis(plan, cell_timeout, started)
    write_provenance_bundle(plan)
    report = build_report(plan, git=code_state)
    record_regeneration(plan, readme.REGENERATION_FILE, time.time() - started, code_state, runs_trained=trained,
                        runs_cached=len(plan.runs) - trained, cells_measured=measured)
    if plan.label in readme.PROFILES and paths.OUTPUT == paths.ROOT:  # the committed outputs the README reads
        print(f"[readme] rewrote {', '.join(readme.write_readme()) or 'nothing: every block current'}")
    print(f"[report] {report}\n[done] profile {profile} in {_clock(time.time() - started)}")
    return reproduced
