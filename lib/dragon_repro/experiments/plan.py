"""The resolved plan: a profile, with the model, seeds, task and jobs a user chose, turned once per process into
everything the rest of the suite needs: every run's config, hash and folder, the output folders, the analysis
notebooks, the benchmark settings and the number of jobs. The pipeline, verify, the benchmark and the notebooks
take a plan; only `resolve_plan` reads experiments.yaml.

A notebook (or `./run_all.sh --seeds/--model`) run with other seeds or another model than its profile's writes its
tables, figures, executed notebooks and report under `<profile>-<what changed>`, never over the profile's
committed outputs.
"""

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import yaml

from .. import NATIVE_CPU, paths
from ..hashing import code_hash, files_hash, value_hash
from ..tasks import data
from .config import ExperimentConfig, experiment_config, load_experiments, profile_spec, with_truncation_side

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The modules that decide a cached result, by the kind of result whose key hashes them (a benchmark cell's key
# hashes the run's code and its own): a change to what one computes, docstrings and comments aside, invalidates
# those results. A pattern stands for every file it matches.
RESULT_CODE = {
    "run": ("tasks/data.py", "tasks/preprocess.py", "tasks/metrics.py", "experiments/config.py",
            "modeling/attention.py", "modeling/encoding.py", "modeling/batching.py", "modeling/exact_attention.py",
            "modeling/model.py", "modeling/local_models.py", "modeling/shapes.py", "training/train.py",
            "training/predict.py", "training/runs.py", "resources/*.yaml"),
    "reference": ("analysis/reference.py", "tasks/labels.py", "tasks/metrics.py"),
    "bench": ("training/bench.py", "training/measure.py"),
}
HASHED_PACKAGES = ("torch", "transformers")
STEP_GROUPS = ("ladder", "check", "ablation")  # experiments.yaml's groups of steps


def code_files(kind: str, root: Path = PACKAGE_DIR) -> list[Path]:
    """The files of RESULT_CODE[kind] under a package folder, in the table's order."""
    return [path for name in RESULT_CODE[kind] for path in sorted(root.glob(name))]


@lru_cache(maxsize=None)
def code_version(kind: str = "run") -> str:
    """What the modules deciding a kind of result compute, hashed once per process (a run's or a cell's folder
    must not change while it runs)."""
    return code_hash(code_files(kind))


@lru_cache(maxsize=None)
def data_fingerprint(task: str) -> str:
    """A task folder's content, hashed once per process."""
    return files_hash(sorted(Path(task).glob("nlp-*.json")))


def config_hash(config: ExperimentConfig) -> str:
    """Hash of everything that decides the result; the task folder enters by content, not by path."""
    keyed = config.settings() | {"task": data_fingerprint(config.task), "code": code_version(),
                                 "packages": {p: version(p) for p in HASHED_PACKAGES}}
    return value_hash(keyed)


def check_key(config: ExperimentConfig, key: str) -> None:
    """A run's process checks that the config it was handed hashes to the key its driver planned: the same code,
    packages and task data here as there. Otherwise one line naming both keys, before anything is trained."""
    if (here := config_hash(config)) != key:
        raise RuntimeError(f"run {config.experiment} seed {config.seed} was planned with key {key}, but its config "
                           f"hashes to {here} in this process: its code, packages or task data ({config.task}) "
                           "differ from the driver's; use the same commit and environment everywhere")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its config, the hash of that config and the cache folder it lives in, and the number of
    processes it trains on (data-parallel; 1 unless started by torchrun or accelerate launch)."""
    config: ExperimentConfig
    hash: str
    path: Path
    processes: int = 1

    @classmethod
    def of(cls, config: ExperimentConfig, runs_root: Path) -> "PlannedRun":
        digest = config_hash(config)
        return cls(config, digest, Path(runs_root) / config.experiment / f"{config.seed}-{digest}")

    def under(self, runs_root: Path) -> "PlannedRun":
        """The same run cached under another root (a scratch cache)."""
        return PlannedRun(self.config, self.hash, Path(runs_root) / self.path.parent.name / self.path.name,
                          self.processes)

    def on_processes(self, processes: int) -> "PlannedRun":
        """The same config trained data-parallel on `processes` processes: a run of its own, since its effective
        batch is `processes` times larger (on one process, this run)."""
        if processes == 1:
            return self
        digest = value_hash({"run": self.hash, "processes": processes})
        return PlannedRun(self.config, digest, self.path.with_name(f"{self.config.seed}-{digest}"), processes)

    @property
    def done(self) -> bool:
        return (self.path / "provenance.json").exists()  # written last: its presence marks a complete run


@dataclass(frozen=True)
class Folders:
    """Where a plan's results go: the shared caches, and one folder per output kind named by the plan's label."""
    runs: Path
    bench: Path
    references: Path
    tables: Path
    figures: Path
    executed: Path
    report: Path


@dataclass(frozen=True)
class Plan:
    profile: str
    label: str  # the profile, or the profile and what the user changed (`output_label`)
    task: Path
    runs: tuple[PlannedRun, ...]
    analysis: tuple[str, ...]  # the analysis notebooks of the report, in order
    benchmark: dict | None  # experiments.yaml `benchmarks:` of this profile; None: none
    jobs: int
    folders: Folders
    truncation_side: str  # the task's recommended side, for configs that name none
    notebook_parameters: dict  # the parameters a notebook resolves this plan from (profile, model, seeds)
    run_settings: dict = field(repr=False)  # the profile's run settings, the user's choices applied
    experiments: dict = field(repr=False)  # experiments.yaml `experiments:`, in its order
    dragon_baseline: dict = field(repr=False)  # experiments.yaml `dragon_baseline:`

    @property
    def model(self) -> str:
        return self.run_settings["model"]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.config.seed for r in self.runs})

    def planned(self, experiment: str, seed: int, **overrides) -> PlannedRun:
        """Any experiment at any seed under this plan's profile and choices, with any setting overridden."""
        return _planned_run(experiment, seed, self.run_settings | overrides, self.experiments, self.truncation_side,
                            self.folders.runs)

    def experiments_in(self, groups=STEP_GROUPS) -> list[str]:
        """The planned experiments of the given groups, in experiments.yaml order."""
        planned = {r.config.experiment for r in self.runs}
        return [name for name, e in self.experiments.items() if e.get("group") in groups and name in planned]

    @property
    def steps(self) -> list[str]:
        """Every planned step: the ladder's, the paper's checks and the ablations, in experiments.yaml order."""
        return self.experiments_in(STEP_GROUPS)

    @property
    def ladder(self) -> list[str]:
        return self.experiments_in(("ladder",))

    def ladder_comparisons(self) -> list[tuple[str, str]]:
        """Each planned ladder step against the step it builds on, then the first step against the last."""
        ladder = self.ladder
        pairs = [(self.experiments[name]["base"], name) for name in ladder
                 if self.experiments[name].get("base") in ladder]
        return pairs + ([(ladder[0], ladder[-1])] if len(ladder) > 1 and (ladder[0], ladder[-1]) not in pairs else [])


def parse_seeds(seeds) -> list[int] | None:
    """None (the profile's seeds), a list of ints, or what a user types: 1, "1", "0,1", "[0, 1]"."""
    values = seeds
    if isinstance(seeds, str):
        text = seeds.strip()
        try:
            values = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
        except yaml.YAMLError:
            values = text
    if values is None:
        return None
    values = [values] if isinstance(values, int) and not isinstance(values, bool) else values
    if not isinstance(values, (list, tuple)) or not values or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
        raise ValueError(f"parameter 'seeds': expected a list of integers such as [0, 1] (or None), got {seeds!r}")
    return sorted(set(values))


def output_label(profile: str, model: str | None = None, seeds=None, native_cpu: bool = False) -> str:
    """The folder name for a profile's outputs: the profile itself, or the profile and what was changed."""
    seeds = parse_seeds(seeds)
    label = profile
    if model:
        label += "-model-" + re.sub(r"[^A-Za-z0-9.]+", "-", model.rstrip("/").rsplit("/", 1)[-1])
    if seeds is not None:
        label += "-seeds" + "-".join(map(str, seeds))
    return label + ("-native-cpu" if native_cpu else "")


def resolve_plan(profile: str = "cpu", model: str | None = None, seeds=None, task: str | Path | None = None,
                 jobs: int | None = None) -> Plan:
    """The plan of a profile with the user's choices (seeds in any form `parse_seeds` takes; `task` a DRAGON task
    folder), resolved once per process: a second call with the same choices returns the same plan."""
    seeds = parse_seeds(seeds)
    return _resolve(profile, model or None, tuple(seeds) if seeds else None,
                    str(Path(task).resolve()) if task else None, jobs)


@lru_cache(maxsize=None)
def _resolve(profile: str, model: str | None, seeds: tuple[int, ...] | None, task: str | None,
             jobs: int | None) -> Plan:
    spec = load_experiments()
    settings = profile_spec(profile, spec)
    folder = data.ensure_folder(_task_folder(task or settings.get("task", data.TASK101)))
    side = data.read_task_config(folder).recommended_truncation_side
    # --native-cpu (dragon_repro.NATIVE_CPU, read once at import) is a setting of every run: its bytes are this
    # machine's own, so they never share a cache folder or an output folder with the pinned runs
    run_settings = (settings | {"task": str(folder)} | ({"model": model} if model else {})
                    | ({"native_cpu": True} if NATIVE_CPU else {}))
    run_settings.setdefault("model", ExperimentConfig(experiment="").model)
    label = output_label(profile, model, seeds, NATIVE_CPU)
    folders = Folders(paths.RUNS_DIR, paths.BENCH_DIR, paths.REFERENCES_DIR, paths.TABLES_DIR / label, paths.FIGURES_DIR / label,
                      paths.EXECUTED_DIR / label, paths.REPORT_DIR / label)
    runs = tuple(_planned_run(name, seed, run_settings, spec["experiments"], side, folders.runs)
                 for name, seed in _planned_pairs(profile, settings, spec, seeds))
    return Plan(profile, label, folder, runs, tuple(settings.get("analysis", spec["analysis"])),
                spec["benchmarks"].get(profile), jobs or settings.get("jobs") or os.cpu_count() or 1, folders, side,
                {"profile": profile, "model": model, "seeds": list(seeds) if seeds else None},
                run_settings, spec["experiments"], spec["dragon_baseline"])


def _planned_run(experiment: str, seed: int, run_settings: dict, experiments: dict, truncation_side: str,
                 runs_root: Path) -> PlannedRun:
    config = experiment_config(experiment, seed, run_settings, experiments)
    return PlannedRun.of(with_truncation_side(config, truncation_side), runs_root)


def _task_folder(task: str) -> Path:
    """A generated task's name stands for its default folder; anything else is a folder."""
    return data.default_folder(task) if task in data.GENERATED_TASKS else Path(task)


def _planned_pairs(profile: str, settings: dict, spec: dict, seeds: tuple[int, ...] | None) -> list[tuple[str, int]]:
    """Every (experiment, seed) the profile runs, in ladder order, kept to `seeds` if given."""
    by_experiment = settings["seeds"]
    pairs = [(name, seed) for name in settings.get("experiments", spec["experiments"])
             for seed in by_experiment.get(name, by_experiment["default"])]
    unplanned = sorted(set(seeds or []) - {seed for _, seed in pairs})
    if unplanned:
        raise ValueError(f"parameter 'seeds': profile {profile!r} plans no run with seed(s) {unplanned}")
    return [(name, seed) for name, seed in pairs if seeds is None or seed in seeds]
