"""Where a plan's runs train: `LocalExecutor`, each run in a child process on this machine (a GPU of its own per job
where there are GPUs), or `RayExecutor`, each run a task on a Ray cluster that sends the finished run folder back.
Both are handed PlannedRuns of the resolved plan, never a profile name, and put each run into `planned.path`
atomically; the same config gives the same bytes whichever ran it."""

import json
import logging
import os
import queue
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from . import NATIVE_CPU
from .atomic import staged_dir, write_json_atomic
from .experiments.config import ExperimentConfig
from .experiments.plan import Plan, PlannedRun, check_key
from .experiments.records import PROVENANCE, seal
from .processes import ChildFailed, run_checked
from .training import bench
from .training.runs import load_or_run, running_progress

WORKER_PROGRESS_EVERY = 2.0  # seconds between a Ray worker's progress reports


class RunFailed(RuntimeError):
    """A run raised; the message names it, its last error line and the command that reruns it alone."""


def run_failed(planned: PlannedRun, plan: Plan, reason) -> RunFailed:
    config, model = planned.config, plan.notebook_parameters["model"]
    return RunFailed(f"{config.experiment} seed {config.seed} failed: {reason}\n  rerun it alone: python -m "
                     f"dragon_repro train --experiment {config.experiment} --seed {config.seed} --profile "
                     f"{plan.profile}" + (f" --model {model}" if model else ""))


def visible_gpus() -> list[str]:
    """The GPUs this process may use, named as a child's CUDA_VISIBLE_DEVICES names them."""
    count, given = torch.cuda.device_count(), os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [d.strip() for d in given.split(",") if d.strip()] if given is not None else map(str, range(count))
    return list(names)[:count]


def default_jobs(jobs: int | None) -> int | None:
    """--jobs as given; without it one job per visible GPU, or None on CPU (the profile's, else one per core)."""
    return jobs or len(visible_gpus()) or None


class Executor:
    """Trains runs: `submit(planned)` returns a future that is done when the run is in `planned.path` and fails with
    RunFailed; `measure(cell, out)` measures a benchmark cell on this machine (it measures the machine);
    `progress(planned)` is what a training run last reported (None when it is not training); `cancel()` stops
    every unfinished run, keeping nothing partial. Leaving it as a context manager releases it."""

    def __init__(self, plan: Plan):
        self.plan, self.pool = plan, ThreadPoolExecutor(max_workers=plan.jobs)

    def measure(self, cell, out: Path) -> Future:
        return self.pool.submit(bench.measure_in_child, cell, out)

    def cancel(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(kind: str, plan: Plan, timeout: int, address: str | None = None) -> Executor:
    if kind == "ray":
        return RayExecutor(plan, address)
    if address:
        raise ValueError("--address names a Ray cluster: it needs --executor ray")
    return LocalExecutor(plan, timeout)


# ---------------------------------------------------------------- this machine

class LocalExecutor(Executor):
    """`plan.jobs` runs at a time, benchmark cells in the same slots; with GPUs each job has one of them (more jobs
    than GPUs take them in turn)."""

    def __init__(self, plan: Plan, timeout: int):
        super().__init__(plan)
        self.timeout, self.devices, gpus = timeout, queue.SimpleQueue(), visible_gpus()
        for job in range(plan.jobs):
            self.devices.put(gpus[job % len(gpus)] if gpus else None)

    def submit(self, planned: PlannedRun) -> Future:
        return self.pool.submit(self._train, planned)

    def _train(self, planned: PlannedRun) -> None:
        device = self.devices.get()
        try:
            train_in_process(planned, self.plan, self.timeout, device)
        finally:
            self.devices.put(device)

    def progress(self, planned: PlannedRun) -> dict | None:
        return running_progress(planned)


def train_in_process(planned: PlannedRun, plan: Plan, timeout: int, device: str | None = None) -> None:
    """One run in its own process through the CLI (`python -m dragon_repro train --config`), handed its config with
    the key planned for it (as config.json holds them; the process checks it), the run cache it goes into (the store,
    or verify's scratch cache) and, where given, its GPU: the same `load_or_run` as 10_experiment, without a kernel's
    start-up (about 5 s a run)."""
    config = planned.config.settings() | {"config_hash": planned.hash}
    command = [sys.executable, "-m", "dragon_repro", "train", "--config", json.dumps(config),
               "--runs-root", str(planned.path.parents[1])]
    env = os.environ | ({"CUDA_VISIBLE_DEVICES": device} if device is not None else {})
    try:
        run_checked(command, timeout, env=env)
    except ChildFailed as err:
        raise run_failed(planned, plan, err) from None


# ---------------------------------------------------------------- a Ray cluster

class RayExecutor(Executor):
    """Each run a Ray task on the cluster at `address` (a local cluster of `plan.jobs` CPUs when None), needing one
    GPU where the cluster has GPUs, else one CPU, in a fresh worker process; a task whose worker dies is retried
    once. The task folder, and the model when it is a local folder, travel through Ray's object store (no shared
    disk); the worker trains in a scratch folder and sends the finished run folder back, which is moved into the
    cache here, atomically."""

    def __init__(self, plan: Plan, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--executor ray needs Ray: pip install -e .[cluster]") from None
        if NATIVE_CPU:
            raise ValueError("--native-cpu runs stay on the machine they are made on: use the local executor")
        super().__init__(plan)
        self.ray, self.shipped, self.futures = ray, {}, {}
        ray.init(address=address, num_cpus=None if address else plan.jobs, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
        gpus, cpus = ray.cluster_resources().get("GPU", 0), ray.cluster_resources().get("CPU", 0)
        print(f"[ray] {address or 'a local cluster'}: {cpus:.0f} CPUs, {gpus:.0f} GPUs; each run a task on one "
              f"{'GPU' if gpus else 'CPU'}", flush=True)
        # a fresh worker process per run, as locally: its peak memory and state are its own
        self.train = ray.remote(max_retries=1, max_calls=1,
                                **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(train_on_worker)
        self.board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        self.tasks = []
        self.waiting = ThreadPoolExecutor(max_workers=max(len(plan.runs), 1))  # each waits for one task

    def submit(self, planned: PlannedRun) -> Future:
        config = planned.config
        model = self._ship(config.model) if Path(config.model).is_dir() else None
        task = self.train.remote(config.settings(), planned.hash, self._ship(config.task), model, self.board)
        self.tasks.append(task)
        self.futures[planned.hash] = self.waiting.submit(self._receive, planned, task)
        return self.futures[planned.hash]

    def _ship(self, folder: str):
        """A folder's files in the object store, put there once."""
        if folder not in self.shipped:
            self.shipped[folder] = self.ray.put(folder_files(Path(folder)))
        return self.shipped[folder]

    def _receive(self, planned: PlannedRun, task) -> None:
        try:
            files = self.ray.get(task)
        except self.ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None) or err  # the task's own error, or Ray's (a worker that died)
            raise run_failed(planned, self.plan, f"{type(cause).__name__}: {first_line(cause)}") from None
        with staged_dir(planned.path) as staging:
            write_files(staging, files)

    def progress(self, planned: PlannedRun) -> dict | None:
        if self.futures[planned.hash].done():
            return None
        return self.ray.get(self.board.get.remote(planned.hash))

    def cancel(self) -> None:
        for task in self.tasks:
            self.ray.cancel(task)  # a running task is interrupted and unwinds: its scratch folder is removed
        super().cancel()

    def close(self) -> None:
        self.waiting.shutdown()
        super().close()
        self.ray.shutdown()


class ProgressBoard:
    """A Ray actor: each running task's last progress, by run hash."""

    def __init__(self):
        self.states = {}

    def put(self, run_hash: str, state: dict) -> None:
        self.states[run_hash] = state

    def get(self, run_hash: str) -> dict | None:
        return self.states.get(run_hash)


def train_on_worker(settings: dict, run_hash: str, task_files: dict, model_files: dict | None, board) -> dict:
    """On a Ray worker: the run trained through `load_or_run` in a scratch folder, from the task folder (and model
    folder) shipped to it; returns the finished run folder's files, its config.json naming the driver's folders."""
    config = ExperimentConfig.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="dragon-repro-") as scratch:
        here = replace(config, task=str(write_files(Path(scratch) / "task" / Path(config.task).name, task_files)))
        check_key(here, run_hash)
        if model_files is not None:
            here = replace(here, model=str(write_files(Path(scratch) / "model" / Path(config.model).name,
                                                       model_files)))
        planned = PlannedRun(here, run_hash, Path(scratch) / "runs" / config.experiment / f"{config.seed}-{run_hash}")
        with reporting(planned, board):
            load_or_run(planned, progress=False)
        record = json.loads((planned.path / "config.json").read_text())
        write_json_atomic(planned.path / "config.json", record | {"task": config.task, "model": config.model})
        seal(planned.path, json.loads((planned.path / PROVENANCE).read_text()))  # config.json changed: sealed anew
        return folder_files(planned.path)


@contextmanager
def reporting(planned: PlannedRun, board):
    """While the block runs, the run's progress goes to the driver's board every few seconds."""
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(WORKER_PROGRESS_EVERY):
            if (state := running_progress(planned)) is not None:
                board.put.remote(planned.hash, state)
    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by its path relative to it."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """The files (`folder_files`) written under `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or ["(no message)"])[0]
