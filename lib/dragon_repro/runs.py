"""Experiment configs, and runs cached by a hash of their full configuration, written atomically with provenance."""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import psutil
import torch
import yaml

from . import data
from .atomic import write_json_atomic
from .evaluate import (classification_metrics, dragon_metric, metrics_by_length, predict_probabilities,
                       prediction_table)
from .features import EncodingOptions, encode_cases
from .model import load_model_and_tokenizer
from .paths import CONFIG_DIR, ROOT, RUNS_DIR
from .train import TrainingOptions, fine_tune

DEFAULT_TASK = str(data.default_folder(data.TASK101))
# The modules whose code decides what a run produces; a change to any of them invalidates cached runs.
CODE_FILES = ("data", "preprocess", "attention", "features", "model", "train", "evaluate", "runs")
CPU_THREADS = 1  # torch threads per run on CPU; parallelism comes from running several runs at once
PROGRESS_FILE = "progress.json"  # in a run's staging folder while it trains
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # lets cuBLAS be deterministic on a GPU
PACKAGES = ("torch", "transformers", "accelerate", "dragon-prep", "spacy", "scikit-learn", "numpy")


@dataclass(frozen=True)
class ExperimentConfig:
    """Every knob of one run: model, data, preprocessing, global attention, hyperparameters and seed."""
    experiment: str
    seed: int = 0
    model: str = "embedded"
    task: str = DEFAULT_TASK
    train_subset: int | None = None
    validation_subset: int | None = None
    evaluation_sets: tuple[str, ...] = data.EVALUATION_SETS
    evaluation_subset: int | None = None
    long_case_threshold: int = 400
    # encoding
    max_seq_length: int = 512
    truncation_side: str | None = None  # None: the task's recommended side (left for Task101)
    normalize_measurements: bool = False
    measurements_to_mm: bool = False
    global_attention: str = "cls"
    max_global_tokens: int | None = None
    # optimisation
    learning_rate: float = 1e-5
    # A profile may scale every learning rate, keeping the ladder's ratios: a 2-layer MiniLM needs larger
    # steps than Longformer-base (see the README for the trial behind the cpu profile's factor).
    learning_rate_scale: float = 1.0
    epochs: int = 5
    batch_size: int = 1
    gradient_accumulation_steps: int = 8
    scheduler: str = "linear"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    early_stopping_patience: int | None = None
    restore_best_epoch: bool = True
    bf16: bool = False

    def encoding(self, recommended_truncation_side: str) -> EncodingOptions:
        return EncodingOptions(self.max_seq_length, self.truncation_side or recommended_truncation_side,
                               self.normalize_measurements, self.measurements_to_mm, self.global_attention,
                               self.max_global_tokens)

    def training(self) -> TrainingOptions:
        names = {f.name for f in fields(TrainingOptions)}
        settings = {k: v for k, v in asdict(self).items() if k in names}
        return TrainingOptions(**settings | {"learning_rate": self.learning_rate * self.learning_rate_scale})


# ---------------------------------------------------------------- experiments.yaml

def load_experiments(path: Path = CONFIG_DIR / "experiments.yaml") -> dict:
    return yaml.safe_load(Path(path).read_text())


def experiment_settings(name: str, spec: dict) -> dict:
    """An experiment's settings: the defaults, then each ancestor named by `base`, then its own."""
    experiments = spec["experiments"]
    if name not in experiments:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(experiments)}")
    own = {k: v for k, v in experiments[name].items() if k not in ("base", "group", "note")}
    base = experiments[name].get("base")
    return (experiment_settings(base, spec) if base else dict(spec["defaults"])) | own


def profile_plan(profile: str, spec: dict | None = None) -> list[tuple[str, int]]:
    """Every (experiment, seed) a profile runs, in ladder order."""
    spec = spec or load_experiments()
    settings = _profile(profile, spec)
    seeds = settings["seeds"]
    return [(name, seed) for name in settings.get("experiments", spec["experiments"])
            for seed in seeds.get(name, seeds["default"])]


def profile_analysis(profile: str, spec: dict | None = None) -> list[str]:
    """The analysis notebooks of a profile's report, in order: the profile's own `analysis`, else the default."""
    spec = spec or load_experiments()
    return _profile(profile, spec).get("analysis", spec["analysis"])


def _profile(profile: str, spec: dict) -> dict:
    if profile not in spec["profiles"]:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(spec['profiles'])}")
    return spec["profiles"][profile]


def experiment_config(name: str, seed: int, profile: str = "cpu", model: str | None = None,
                      spec: dict | None = None, **overrides) -> ExperimentConfig:
    """The config of one run: experiment settings, then the profile's settings, then explicit overrides."""
    spec = spec or load_experiments()
    profile_settings = {k: v for k, v in _profile(profile, spec).items()
                        if k not in ("seeds", "experiments", "analysis")}
    settings = experiment_settings(name, spec) | profile_settings | overrides
    if model:
        settings["model"] = model
    if settings.get("task") in data.GENERATED_TASKS:  # a profile names a generated task: its default folder
        settings["task"] = str(data.default_folder(settings["task"]))
    if "evaluation_sets" in settings:
        settings["evaluation_sets"] = tuple(settings["evaluation_sets"])
    return ExperimentConfig(experiment=name, seed=seed, **settings)


# ---------------------------------------------------------------- hashing and provenance

def _sha(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str:
    here = Path(__file__).parent
    files = [here / f"{name}.py" for name in CODE_FILES] + sorted((here / "resources").glob("*"))
    return _sha(*(f.read_bytes() for f in files))[:16]


def data_fingerprint(task: str) -> str:
    return _sha(*(p.read_bytes() for p in sorted(Path(task).glob("nlp-*.json"))))[:16]


def config_hash(config: ExperimentConfig) -> str:
    """Hash of everything that decides the result; the task folder enters by content, not by path."""
    keyed = asdict(config) | {"task": data_fingerprint(config.task), "code": code_version(),
                              "packages": {p: version(p) for p in ("torch", "transformers")}}
    return _sha(json.dumps(keyed, sort_keys=True, default=str).encode())[:12]


def git_state() -> dict:
    def git(*args):
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None}


def provenance(wall_seconds: float, history: dict) -> dict:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    return git_state() | {
        "packages": {p: version(p) for p in PACKAGES} | {"python": platform.python_version()},
        "device": device, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(), "cpu_count": psutil.cpu_count(),
        "wall_seconds": wall_seconds, "peak_memory_mb": history["peak_memory_mb"],
        "peak_memory_kind": history["peak_memory_kind"],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
    }


# ---------------------------------------------------------------- the cache

@dataclass
class Run:
    path: Path
    config: dict
    metrics: dict
    history: dict
    provenance: dict
    predictions: pd.DataFrame = field(repr=False)
    cached: bool = False


def run_dir(config: ExperimentConfig, runs_root: Path = RUNS_DIR) -> Path:
    return Path(runs_root) / config.experiment / f"{config.seed}-{config_hash(config)}"


def load_run(path: Path, cached: bool = True) -> Run:
    path = Path(path)
    read = lambda name: json.loads((path / name).read_text())  # noqa: E731
    return Run(path, read("config.json"), read("metrics.json"), read("history.json"), read("provenance.json"),
               pd.read_csv(path / "predictions.csv"), cached)


def load_or_run(config: ExperimentConfig, runs_root: Path = RUNS_DIR, progress: bool = True,
                save_model: bool = True) -> Run:
    """The cached run for this exact config, or a new one written atomically (a killed run leaves nothing)."""
    final = run_dir(config, runs_root)
    if (final / "provenance.json").exists():
        return load_run(final)
    _remove_abandoned_staging(final)
    staging = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with deterministic_torch():
            _execute_into(staging, config, progress, save_model)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_run(final, cached=False)


@contextmanager
def deterministic_torch():
    """Deterministic kernels, and on CPU one intra-op thread (a thread count changes float sums): the same config
    gives the same bytes at any --jobs, from the CLI, `load_or_run` or a notebook."""
    threads = torch.get_num_threads()
    deterministic, warn_only = (torch.are_deterministic_algorithms_enabled(),
                                torch.is_deterministic_algorithms_warn_only_enabled())
    if not torch.cuda.is_available():
        torch.set_num_threads(CPU_THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def _remove_abandoned_staging(final: Path) -> None:
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        if not psutil.pid_exists(int(stale.name.rsplit("-", 1)[1])):
            shutil.rmtree(stale, ignore_errors=True)


def _subset(frame: pd.DataFrame, size: int | None) -> pd.DataFrame:
    return frame if size is None else frame.iloc[:size]


class PhaseClock:
    """Wall seconds per phase of a run (load, train, evaluate, save), for the cost breakdown in its history."""

    def __init__(self):
        self.seconds, self._last = {}, time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


def progress_writer(folder: Path, config: ExperimentConfig, every: float = 2.0):
    """An `on_step` callback that keeps `folder/progress.json` current (at most every `every` s): the pipeline
    reads it to show each running job's epoch and step."""
    last = [0.0]

    def write(state: dict) -> None:
        if time.monotonic() - last[0] >= every or state["step"] == state["steps"]:
            last[0] = time.monotonic()
            write_json_atomic(folder / PROGRESS_FILE, {"experiment": config.experiment, "seed": config.seed} | state)
    return write


def _execute_into(out: Path, config: ExperimentConfig, progress: bool, save_model: bool) -> None:
    started, clock = time.perf_counter(), PhaseClock()
    out.mkdir(parents=True)
    write_json_atomic(out / "config.json", asdict(config) | {"config_hash": config_hash(config)})
    task = data.load_task_folder(Path(config.task))
    classes, metric = task.classes(), dragon_metric(task.config.task_name, task.config.is_binary)
    train = _subset(task["training"], config.train_subset)
    validation = _subset(task["validation"], config.validation_subset)
    evaluation = {name: _subset(task[name], config.evaluation_subset)
                  for name in config.evaluation_sets if name in task.splits}

    model, tokenizer = load_model_and_tokenizer(config.model, num_labels=len(classes), seed=config.seed)
    encoding = config.encoding(task.config.recommended_truncation_side)
    encode = lambda frame: encode_cases(tokenizer, list(frame["text"]), encoding)  # noqa: E731
    label_ids = lambda frame: [classes.index(y) for y in frame["label"]]  # noqa: E731
    val_features, train_features = encode(validation), encode(train)
    clock.lap("load and encode")
    history, val_probabilities = fine_tune(model, train_features, label_ids(train), val_features,
                                           label_ids(validation), config.training(), config.seed, progress,
                                           on_step=progress_writer(out, config))
    clock.lap("train and validate per epoch")

    tables, metrics = [], {}
    for split, frame in ({"validation": validation} | evaluation).items():
        features = val_features if split == "validation" else encode(frame)
        probabilities = (val_probabilities if split == "validation" else  # the kept weights' own pass
                         predict_probabilities(model, features, batch_size=config.training().eval_batch_size)[0])
        table = prediction_table(frame, features, probabilities, classes).assign(split=split)
        tables.append(table)
        metrics[split] = classification_metrics(table, classes, metric) | {
            "by_length": metrics_by_length(table, config.long_case_threshold, classes, metric)}
    metrics["validation"]["loss"] = history["epochs"][history["weights_from_epoch"] - 1]["val_loss"]
    clock.lap("score held-out sets")

    write_json_atomic(out / "metrics.json", metrics)
    pd.concat(tables).to_csv(out / "predictions.csv", index=False)
    if save_model:
        model.save_pretrained(out / "model", safe_serialization=True)
        tokenizer.save_pretrained(out / "model")
    (out / PROGRESS_FILE).unlink(missing_ok=True)
    clock.lap("save")
    write_json_atomic(out / "history.json", history | {"phase_seconds": clock.seconds})
    # provenance.json is written last: its presence marks a complete run.
    write_json_atomic(out / "provenance.json", provenance(time.perf_counter() - started, history))


def predict_with_run(run: Path, source: Path, out: Path | None = None) -> Path:
    """DRAGON-format predictions (uid + probability of True, or the class) from a run's saved model, keyed by the
    task's label name without `_target`."""
    settings = {k: v for k, v in json.loads((run / "config.json").read_text()).items() if k != "config_hash"}
    config = ExperimentConfig(**settings | {"evaluation_sets": tuple(settings["evaluation_sets"])})
    if not (run / "model").is_dir():
        raise FileNotFoundError(f"{run}: no saved model (was it trained with save_model=False?)")
    task = data.load_task_folder(Path(config.task)) if Path(config.task).is_dir() else None
    task_config = data.read_task_config(source) if source.is_dir() else task.config
    cases = data.read_dataset(source / "nlp-test-dataset.json" if source.is_dir() else source, task_config,
                              require_labels=False)
    classes = task.classes() if task else [False, True]
    model, tokenizer = load_model_and_tokenizer(str(run / "model"), num_labels=len(classes))
    features = encode_cases(tokenizer, list(cases["text"]), config.encoding(task_config.recommended_truncation_side))
    probabilities, _ = predict_probabilities(model, features)
    values = probabilities[:, 1].tolist() if task_config.is_binary else [classes[i] for i in probabilities.argmax(1)]
    out = out or run / "nlp-predictions-dataset.json"
    key = task_config.label_name.removesuffix("_target")  # DRAGON's submission format, as dragon-eval reads it
    write_json_atomic(out, [{"uid": uid, key: value} for uid, value in zip(cases["uid"], values)])
    return out
