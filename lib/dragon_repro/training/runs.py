"""The run cache: each planned run trained once, in its own folder named by the hash of its full configuration,
written atomically with provenance."""

import json
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from .. import NATIVE_CPU
from ..atomic import staged_dir, staging_dirs, write_json_atomic
from ..experiments.plan import Plan, PlannedRun, code_version
from ..experiments.records import WEIGHTS, Run, load_run, seal
from ..gitstate import git_state
from ..modeling.encoding import encode_cases
from ..modeling.exact_attention import attention_batches, uses_exact_attention
from ..modeling.model import load_model_and_tokenizer, resolve_model
from ..tasks import data
from ..tasks.metrics import dragon_metric, score_splits
from .predict import predict_probabilities
from .provenance import machine_provenance
from .train import fine_tune

CPU_THREADS = 1  # torch threads per run on CPU; parallelism comes from running several runs at once
PROGRESS_FILE = "progress.json"  # in a run's staging folder while it trains


def load_or_run(planned: PlannedRun, progress: bool = True, save_model: bool = True, weights: bool = False) -> Run:
    """The cached run for this exact config, or a new one written atomically (a killed run leaves nothing); with
    `weights`, a cached run without its weights (a stored one) is trained again, into the same folder.

    Started on several processes (torchrun, accelerate launch), every process trains and predicts its share, and
    only the main one writes the run; the others work in a scratch folder that is removed."""
    stored_without_weights = weights and not (planned.path / WEIGHTS).is_dir()
    if planned.done and not stored_without_weights:
        return load_run(planned.path)
    if planned.config.native_cpu != NATIVE_CPU:
        raise ValueError(f"run {planned.hash}: native_cpu is {planned.config.native_cpu}, but this process's CPU "
                         f"kernels are {'native' if NATIVE_CPU else 'pinned'}: start it "
                         f"{'with' if planned.config.native_cpu else 'without'} --native-cpu")
    state = PartialState(cpu=not torch.cuda.is_available())  # gloo on CPU, nccl on GPUs, under several processes
    if state.num_processes != planned.processes:
        raise ValueError(f"run {planned.hash} is planned on {planned.processes} process(es), but this process is one "
                         f"of {state.num_processes}")
    main = state.is_main_process
    with deterministic_torch():
        with state.main_process_first():  # a model built on first use is built once
            resolve_model(planned.config.model)
        with staged_dir(planned.path) if main else tempfile.TemporaryDirectory() as staging:
            _execute_into(Path(staging), planned, progress and main, save_model and main)
    state.wait_for_everyone()  # the main process has moved the run into place
    return load_run(planned.path, cached=False)


def plan_runs(plan: Plan, progress: bool = True) -> list[Run]:
    """Every run of a plan: from the cache, or trained now. What is missing is first announced (how many runs, about
    how long), then trained one after another with a progress bar; nothing is said when nothing is missing."""
    missing, trained = [planned for planned in plan.runs if not planned.done], {}
    if missing:
        estimates = [expected_seconds(planned) for planned in missing]
        guessed = sum(1 for _, from_stored in estimates if not from_stored)
        print(f"{len(missing)} of {len(plan.runs)} runs are not in the store: training them here, one after another, "
              f"about {_minutes(sum(s for s, _ in estimates))} ("
              + ("from the stored runs of the same experiments" if not guessed else
                 f"{guessed} at a rough {FALLBACK_SECONDS_PER_EPOCH} s per epoch: no stored run of theirs to go by")
              + "; ./run_all.sh trains them in parallel)", flush=True)
        bar = tqdm(missing, desc="training", unit="run")
        trained = {planned.path: load_or_run(planned, progress) for planned in bar}
    return [trained.get(planned.path) or load_or_run(planned, progress) for planned in plan.runs]


FALLBACK_SECONDS_PER_EPOCH = 40  # the cpu profile's baseline on one core; a rough rate where nothing better is stored


def expected_seconds(planned: PlannedRun) -> tuple[float, bool]:
    """How long a run should take: the median wall time of the stored runs of its experiment and model, or the rough
    rate per epoch; and whether it came from stored runs."""
    seconds = []
    for provenance in planned.path.parent.glob("*/provenance.json"):
        config = json.loads((provenance.parent / "config.json").read_text())
        if config.get("model") == planned.config.model:
            seconds.append(json.loads(provenance.read_text())["wall_seconds"])
    if seconds:
        return float(pd.Series(seconds).median()), True
    return FALLBACK_SECONDS_PER_EPOCH * planned.config.training.epochs, False


def _minutes(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{max(1, round(seconds / 60))} min"


@contextmanager
def deterministic_torch():
    """Deterministic kernels, and on CPU one intra-op thread (a thread count changes float sums): the same config
    gives the same bytes at any --jobs, from the CLI, `load_or_run` or a notebook. oneDNN is off unless the CPU is
    left native: ATen's own kernels, pinned to AVX2, take its few operations (GELU) at no cost (bench --pins)."""
    threads = torch.get_num_threads()
    deterministic, warn_only = (torch.are_deterministic_algorithms_enabled(),
                                torch.is_deterministic_algorithms_warn_only_enabled())
    if not torch.cuda.is_available():
        torch.set_num_threads(CPU_THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.backends.mkldnn.flags(enabled=NATIVE_CPU):
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def running_progress(planned: PlannedRun) -> dict | None:
    """What a training run last wrote to its staging folder: epoch and optimizer step; None when not training."""
    for staging in staging_dirs(planned.path):
        try:
            return json.loads((staging / PROGRESS_FILE).read_text())
        except (OSError, ValueError):  # not training yet, between the run's writes, or just finished
            continue
    return None


class PhaseClock:
    """Wall seconds per phase of a run (load, train, evaluate, save), for the cost breakdown in its history."""

    def __init__(self):
        self.seconds, self._last = {}, time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


def progress_writer(folder: Path, planned: PlannedRun, every: float = 2.0):
    """An `on_step` callback that keeps `folder/progress.json` current (at most every `every` s): the pipeline
    reads it to show each running job's epoch and step."""
    last = [0.0]

    def write(state: dict) -> None:
        if time.monotonic() - last[0] >= every or state["step"] == state["steps"]:
            last[0] = time.monotonic()
            write_json_atomic(folder / PROGRESS_FILE,
                              {"experiment": planned.config.experiment, "seed": planned.config.seed} | state)
    return write


def run_provenance(wall_seconds: float, history: dict, model, planned: PlannedRun) -> dict:
    training = planned.config.training
    return git_state() | machine_provenance() | {"exact_attention": uses_exact_attention(model),
        "attention_batches": attention_batches(model),
        "processes": planned.processes,
        "effective_batch_size": training.batch_size * planned.processes * training.gradient_accumulation_steps,
        "wall_seconds": wall_seconds, "peak_memory_mb": history["peak_memory_mb"],
        "peak_memory_kind": history["peak_memory_kind"],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
    }


def _subset(frame: pd.DataFrame, size: int | None) -> pd.DataFrame:
    return frame if size is None else frame.iloc[:size]


def _execute_into(out: Path, planned: PlannedRun, progress: bool, save_model: bool) -> None:
    started, clock, config = time.perf_counter(), PhaseClock(), planned.config
    write_json_atomic(out / "config.json", config.settings() | {"config_hash": planned.hash})
    task = data.load_task_folder(Path(config.task))
    classes, metric = task.classes(), dragon_metric(task.config.task_name, task.config.is_binary)
    training, validation = data.training_split(task, config.split)
    train = _subset(training, config.train_subset)
    splits = {"validation": _subset(validation, config.validation_subset)} | {
        name: _subset(task[name], config.evaluation_subset) for name in config.evaluation_sets if name in task.splits}

    model, tokenizer = load_model_and_tokenizer(config.model, num_labels=len(classes), seed=config.seed,
                                                fast_attention=config.fast_attention)
    encode = lambda frame: encode_cases(tokenizer, list(frame["text"]), config.encoding)  # noqa: E731
    label_ids = lambda frame: [classes.index(y) for y in frame["label"]]  # noqa: E731
    features = {"validation": encode(splits["validation"])}
    train_features = encode(train)
    clock.lap("load and encode")
    history, val_probabilities = fine_tune(model, train_features, label_ids(train), features["validation"],
                                           label_ids(splits["validation"]), config.training, config.seed, progress,
                                           on_step=progress_writer(out, planned))
    clock.lap("train and validate per epoch")

    probabilities = {"validation": val_probabilities}  # the kept weights' own pass
    for split in list(splits)[1:]:
        features[split] = encode(splits[split])
        probabilities[split] = predict_probabilities(model, features[split],
                                                     batch_size=config.training.eval_batch_size)[0]
    metrics, predictions = score_splits(splits, features, probabilities, classes, metric, config.long_case_threshold)
    metrics["validation"]["loss"] = history["epochs"][history["weights_from_epoch"] - 1]["val_loss"]
    clock.lap("score held-out sets")

    write_json_atomic(out / "metrics.json", metrics)
    predictions.to_csv(out / "predictions.csv", index=False)
    if save_model:
        model.save_pretrained(out / "model", safe_serialization=True)
        tokenizer.save_pretrained(out / "model")
    (out / PROGRESS_FILE).unlink(missing_ok=True)
    clock.lap("save")
    write_json_atomic(out / "history.json", history | {"phase_seconds": clock.seconds})
    seal(out, run_provenance(time.perf_counter() - started, history, model, planned))
