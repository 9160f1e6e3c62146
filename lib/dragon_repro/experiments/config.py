"""The schema of one run, and `config/experiments.yaml`, which fills it.

Each setting and its default is written once, in the section that uses it: `EncodingOptions` (how a case becomes
model inputs), `TrainingOptions` (the optimisation) and `ExperimentConfig` (model, task, subsets and seed, composed
of the two). The defaults are DRAGON's baseline (`dragon_baseline` in experiments.yaml names the source of each).
Everywhere a person types or reads settings (experiments.yaml, `--set`, a run's config.json) they are one flat
mapping; `ExperimentConfig.from_settings` routes each name to its section.
"""

from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache

import yaml

from ..paths import CONFIG_DIR
from ..tasks.data import EVALUATION_SETS
from ..tasks.metrics import LONG_CASE_TOKENS

EXPERIMENTS_FILE = CONFIG_DIR / "experiments.yaml"
# Profile keys that say what a profile runs and how, not how one run is configured.
PLAN_KEYS = ("seeds", "experiments", "analysis", "jobs")


@dataclass(frozen=True)
class EncodingOptions:
    """From case text to model inputs: preprocessing, truncation and global attention."""
    max_seq_length: int = 512
    truncation_side: str | None = None  # None: the task's recommended side (left for Task101), filled in by the plan
    normalize_measurements: bool = False
    measurements_to_mm: bool = False
    global_attention: str = "cls"  # Longformer's default for classification: global attention on <s> only
    max_global_tokens: int | None = None


@dataclass(frozen=True)
class TrainingOptions:
    """The optimisation, as dragon-baseline 0.4.6 sets it unless an experiment says otherwise."""
    learning_rate: float = 1e-5
    # A profile may scale every learning rate, keeping the ladder's ratios: a 2-layer MiniLM needs larger
    # steps than Longformer-base (see the README for the trial behind the cpu profile's factor).
    learning_rate_scale: float = 1.0
    epochs: int = 5
    batch_size: int = 4
    gradient_accumulation_steps: int = 2
    scheduler: str = "linear"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    early_stopping_patience: int | None = None
    restore_best_epoch: bool = True  # dragon-baseline: load_best_model_at_end, metric_for_best_model="loss"
    max_grad_norm: float = 1.0
    bf16: bool = False
    eval_batch_size: int = 8

    @property
    def scaled_learning_rate(self) -> float:
        return self.learning_rate * self.learning_rate_scale


@dataclass(frozen=True)
class ExperimentConfig:
    """Every knob of one run: which experiment and seed, model, task folder and subsets, encoding, training."""
    experiment: str
    seed: int = 0
    model: str = "embedded"
    fast_attention: bool = True  # Longformer's attention computed exactly at each batch's length (exact_attention)
    native_cpu: bool = False  # CPU kernels left to each library's own choice (--native-cpu): this machine's bytes only
    task: str = ""  # a task folder; the plan fills in the profile's
    # Which training / validation cases: 0 is the task folder's own split, k > 0 a stratified re-split k of the same
    # cases (data.training_split). The plan gives seed k split k, so verdicts hold over splits and initialisations.
    split: int = 0
    train_subset: int | None = None
    validation_subset: int | None = None
    evaluation_sets: tuple[str, ...] = EVALUATION_SETS
    evaluation_subset: int | None = None
    long_case_threshold: int = LONG_CASE_TOKENS
    encoding: EncodingOptions = field(default_factory=EncodingOptions)
    training: TrainingOptions = field(default_factory=TrainingOptions)

    def settings(self) -> dict:
        """Every setting in one flat mapping (config.json, the cache key)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in SECTIONS}
        return own | {k: v for section in SECTIONS for k, v in asdict(getattr(self, section)).items()}

    @classmethod
    def from_settings(cls, settings: dict) -> "ExperimentConfig":
        """The config of a flat mapping of settings (an unknown name is a ValueError naming it)."""
        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTING_NAMES)}")
        sections = {name: section(**{k: v for k, v in settings.items() if k in _names(section)})
                    for name, section in SECTIONS.items()}
        own = {k: v for k, v in settings.items() if k in _names(cls)}
        if "evaluation_sets" in own:
            own["evaluation_sets"] = tuple(own["evaluation_sets"])
        return cls(**own, **sections)


SECTIONS = {"encoding": EncodingOptions, "training": TrainingOptions}


def _names(cls) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in SECTIONS]


SETTING_NAMES = tuple(_names(ExperimentConfig) + [n for section in SECTIONS.values() for n in _names(section)])


# ---------------------------------------------------------------- experiments.yaml

@lru_cache(maxsize=1)
def load_experiments() -> dict:
    """experiments.yaml, read once per process (callers must not change what it returns)."""
    return yaml.safe_load(EXPERIMENTS_FILE.read_text())


def experiment_settings(name: str, experiments: dict) -> dict:
    """An experiment's own settings (experiments.yaml `experiments:`): each ancestor named by `base`, then its own;
    the schema's defaults lie below them."""
    if name not in experiments:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(experiments)}")
    own = {k: v for k, v in experiments[name].items() if k not in ("base", "group", "note")}
    base = experiments[name].get("base")
    return (experiment_settings(base, experiments) if base else {}) | own


def profile_spec(profile: str, spec: dict) -> dict:
    if profile not in spec["profiles"]:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(spec['profiles'])}")
    return spec["profiles"][profile]


def experiment_config(name: str, seed: int, profile_settings: dict, experiments: dict) -> ExperimentConfig:
    """One run's config: the schema's defaults, seed k's own split k, the experiment's settings, then the profile's
    run settings."""
    run_settings = {k: v for k, v in profile_settings.items() if k not in PLAN_KEYS}
    return ExperimentConfig.from_settings({"experiment": name, "seed": seed, "split": seed}
                                          | experiment_settings(name, experiments) | run_settings)


def with_truncation_side(config: ExperimentConfig, side: str) -> ExperimentConfig:
    """The config with the task's recommended truncation side where it names none."""
    if config.encoding.truncation_side is not None:
        return config
    return replace(config, encoding=replace(config.encoding, truncation_side=side))
