"""Tables built from cached runs: metrics per run, summaries over seeds, curves, costs. Saved as CSV and Markdown."""

from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .paths import RUNS_DIR, TABLES_DIR
from .runs import Run, experiment_config, load_or_run, profile_plan

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def profile_runs(profile: str, model: str | None = None, seeds: list[int] | None = None,
                 runs_root: Path = RUNS_DIR, progress: bool = True) -> list[Run]:
    """Every run of a profile: loaded from the cache, or trained now if missing."""
    plan = [(name, seed) for name, seed in profile_plan(profile) if seeds is None or seed in seeds]
    return [load_or_run(experiment_config(name, seed, profile, model), runs_root, progress) for name, seed in plan]


def metrics_frame(runs: list[Run], long_bucket: str = ">400") -> pd.DataFrame:
    """One row per (experiment, seed, split): the headline metrics, confusion counts and long-case F1."""
    rows = []
    for run in runs:
        for split, m in run.metrics.items():
            rows.append({"experiment": run.config["experiment"], "seed": run.config["seed"], "split": split,
                         **{k: v for k, v in m.items() if k != "by_length"},
                         "long_case_f1": m["by_length"].get(long_bucket, {}).get("f1", np.nan),
                         "n_long": m["by_length"].get(long_bucket, {}).get("n", 0)})
    frame = pd.DataFrame(rows)
    frame["fp_per_100"] = 100 * frame["fp"] / frame["n"]
    frame["fn_per_100"] = 100 * frame["fn"] / frame["n"]
    return frame


def summarise_over_seeds(frame: pd.DataFrame, columns, by=("split", "experiment")) -> pd.DataFrame:
    """Mean, sd and t-based 95% CI over seeds of each column, per group (keeps the ladder order)."""
    rows = []
    for key, group in frame.groupby(list(by), sort=False):
        for column in columns:
            s = stats.seed_summary(group[column].dropna())
            rows.append(dict(zip(by, key)) | {"measure": column, "n_seeds": s.n, "mean": s.mean, "sd": s.sd,
                                              "ci_low": s.low, "ci_high": s.high})
    return pd.DataFrame(rows)


def seeds_of(runs: list[Run], experiment: str) -> list[int]:
    return sorted(r.config["seed"] for r in runs if r.config["experiment"] == experiment)


def prediction_matrix(runs: list[Run], experiment: str, split: str, seeds=None) -> pd.DataFrame:
    """Predictions of one experiment on one split: a row per case (uid order), a column per seed, plus
    `label` and `n_tokens`, so that runs of different configs line up case by case."""
    chosen = [r for r in runs if r.config["experiment"] == experiment and (seeds is None or r.config["seed"] in seeds)]
    if not chosen:
        raise ValueError(f"no runs of {experiment!r}" + (f" with seeds {list(seeds)}" if seeds else ""))
    tables = [r.predictions.loc[lambda p: p["split"] == split].set_index("uid").sort_index() for r in chosen]
    matrix = pd.DataFrame({r.config["seed"]: t["prediction"].astype(int) for r, t in zip(chosen, tables)})
    return matrix.assign(label=tables[0]["label"].astype(int), n_tokens=tables[0]["n_tokens"])


def paired_predictions(runs: list[Run], a: str, b: str, split: str):
    """Per shared seed: (seed, y_true, pred_a, pred_b) aligned by uid, for paired tests."""
    seeds = sorted(set(seeds_of(runs, a)) & set(seeds_of(runs, b)))
    if seeds:
        ma, mb = prediction_matrix(runs, a, split, seeds), prediction_matrix(runs, b, split, seeds)
        for seed in seeds:
            yield seed, ma["label"].to_numpy(), ma[seed].to_numpy(), mb[seed].to_numpy()


def per_seed(frame: pd.DataFrame, experiment: str, split: str, column: str) -> pd.Series:
    rows = frame[(frame.experiment == experiment) & (frame.split == split)]
    return rows.set_index("seed")[column].sort_index()


def efficiency_frame(runs: list[Run]) -> pd.DataFrame:
    """Training wall time and peak memory per run, with the sequence length that drives them."""
    return pd.DataFrame([{
        "experiment": r.config["experiment"], "seed": r.config["seed"], "max_seq_length": r.config["max_seq_length"],
        "epochs_run": len(r.history["epochs"]), "train_seconds": sum(e["seconds"] for e in r.history["epochs"]),
        "seconds_per_epoch": np.mean([e["seconds"] for e in r.history["epochs"]]),
        "run_wall_seconds": r.provenance["wall_seconds"], "peak_memory_mb": r.provenance["peak_memory_mb"],
        "device": r.provenance["device"]} for r in runs])


def loss_curves_frame(runs: list[Run]) -> pd.DataFrame:
    """Train and validation loss per epoch, long format, for every run."""
    rows = [{"experiment": r.config["experiment"], "seed": r.config["seed"], "epoch": e["epoch"], "curve": curve,
             "loss": e[f"{curve}_loss"]} for r in runs for e in r.history["epochs"] for curve in ("train", "val")]
    return pd.DataFrame(rows)


def save_table(frame: pd.DataFrame, name: str, profile: str, tables_dir: Path = TABLES_DIR) -> Path:
    """Write `name`.csv (for code) and `name`.md (for people) under tables/<profile>/."""
    folder = Path(tables_dir) / profile
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    return folder / f"{name}.csv"
