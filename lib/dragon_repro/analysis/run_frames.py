"""Frames built from runs: metrics per run and seed, summaries over seeds, predictions aligned case by case, costs,
loss curves and kept epochs."""

import numpy as np
import pandas as pd

from ..experiments.plan import Plan
from ..experiments.records import Run
from ..tasks.metrics import long_bucket
from . import measures, stats

METRICS = measures.HEADLINE  # the main table's columns


def describe(plan: Plan, runs: list[Run]) -> str:
    """One line: how many runs of which profile and model, the steps, and the cases per split."""
    return (f"{len(runs)} runs of profile {plan.profile!r}, model {plan.model!r}; steps: {', '.join(plan.steps)}; "
            f"cases per split: {cases_per_split(runs)}")


def cases_per_split(runs: list[Run]) -> dict[str, int]:
    """How many cases each split has (the most any run scored)."""
    return metrics_frame(runs).groupby("split")["n"].max().to_dict()


def summed_confusion(runs: list[Run], experiment: str, split: str) -> np.ndarray:
    """The confusion matrices of an experiment's runs on one split, summed over seeds."""
    return sum(np.asarray(r.metrics[split]["confusion"]) for r in runs if r.config["experiment"] == experiment)


def metrics_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per (experiment, seed, split): the headline metrics, confusion counts and long-case F1."""
    rows = []
    for run in runs:
        bucket = long_bucket(run.config["long_case_threshold"])
        for split, m in run.metrics.items():
            rows.append({"experiment": run.config["experiment"], "seed": run.config["seed"], "split": split,
                         **{k: v for k, v in m.items() if k != "by_length"},
                         "long_case_f1": m["by_length"].get(bucket, {}).get("f1", np.nan),
                         "n_long": m["by_length"].get(bucket, {}).get("n", 0)})
    frame = pd.DataFrame(rows)
    if "fp" in frame:  # binary tasks
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


def _split_table(run: Run, split: str) -> pd.DataFrame:
    return run.predictions.loc[lambda p: p["split"] == split].set_index("uid").sort_index()


def prediction_matrix(runs: list[Run], experiment: str, split: str, seeds=None) -> pd.DataFrame:
    """Predictions of one experiment on a split every seed scores the same cases of (fresh, long, noisy): a row per
    case (uid order), a column per seed, plus `label` and `n_tokens`, so that runs of different configs line up case
    by case."""
    chosen = [r for r in runs if r.config["experiment"] == experiment and (seeds is None or r.config["seed"] in seeds)]
    if not chosen:
        raise ValueError(f"no runs of {experiment!r}" + (f" with seeds {list(seeds)}" if seeds else ""))
    tables = [_split_table(r, split) for r in chosen]
    if any(not t.index.equals(tables[0].index) for t in tables):
        raise ValueError(f"{experiment}: its seeds scored different {split} cases (each seed's own split)")
    matrix = pd.DataFrame({r.config["seed"]: t["prediction"].astype(int) for r, t in zip(chosen, tables)})
    return matrix.assign(label=tables[0]["label"].astype(int), n_tokens=tables[0]["n_tokens"])


def paired_predictions(runs: list[Run], a: str, b: str, split: str):
    """Per shared seed: (seed, y_true, pred_a, pred_b) aligned by uid, for paired tests (a seed's runs of both
    configs share its split's cases)."""
    by_run = {(r.config["experiment"], r.config["seed"]): r for r in runs}
    for seed in sorted(set(seeds_of(runs, a)) & set(seeds_of(runs, b))):
        table_a, table_b = _split_table(by_run[a, seed], split), _split_table(by_run[b, seed], split)
        if not table_a.index.equals(table_b.index):
            raise ValueError(f"seed {seed}: {a} and {b} scored different {split} cases")
        yield (seed, table_a["label"].astype(int).to_numpy(), table_a["prediction"].astype(int).to_numpy(),
               table_b["prediction"].astype(int).to_numpy())


def per_seed(frame: pd.DataFrame, experiment: str, split: str, column: str) -> pd.Series:
    rows = frame[(frame.experiment == experiment) & (frame.split == split)]
    return rows.set_index("seed")[column].sort_index()


def efficiency_frame(runs: list[Run]) -> pd.DataFrame:
    """Training wall time and peak memory per run, with the sequence length that drives them."""
    return pd.DataFrame([{
        "experiment": r.config["experiment"], "seed": r.config["seed"], "max_seq_length": r.config["max_seq_length"],
        "epochs_run": len(r.history["epochs"]), "train_seconds": sum(e["train_seconds"] for e in r.history["epochs"]),
        "seconds_per_epoch": np.mean([e["train_seconds"] for e in r.history["epochs"]]),
        "run_wall_seconds": r.provenance["wall_seconds"], "peak_memory_mb": r.provenance["peak_memory_mb"],
        "device": r.provenance["device"]} for r in runs])


def phase_frame(runs: list[Run]) -> pd.DataFrame:
    """Where each run's wall time went, in seconds: loading and encoding, training steps, the per-epoch validation
    pass, scoring the held-out sets, saving, and what is left (writing results, timing overhead)."""
    rows = []
    for r in runs:
        phases, epochs = r.history["phase_seconds"], r.history["epochs"]
        row = {"experiment": r.config["experiment"], "seed": r.config["seed"],
               "load and encode": phases["load and encode"],
               "training steps": sum(e["train_seconds"] for e in epochs),
               "per-epoch validation": sum(e["validation_seconds"] for e in epochs),
               "held-out scoring": phases["score held-out sets"], "saving": phases["save"]}
        rows.append(row | {"other": r.provenance["wall_seconds"] - sum(list(row.values())[2:]),
                           "run wall": r.provenance["wall_seconds"]})
    return pd.DataFrame(rows)


def loss_curves_frame(runs: list[Run]) -> pd.DataFrame:
    """Train and validation loss per epoch, long format, for every run."""
    rows = [{"experiment": r.config["experiment"], "seed": r.config["seed"], "epoch": e["epoch"], "curve": curve,
             "loss": e[f"{curve}_loss"]} for r in runs for e in r.history["epochs"] for curve in ("train", "val")]
    return pd.DataFrame(rows)


def length_bucket_frame(runs: list[Run], splits=("validation", "long")) -> pd.DataFrame:
    """One row per (experiment, seed, split, length bucket): cases, F1 and accuracy of that bucket."""
    return pd.DataFrame([{"experiment": r.config["experiment"], "seed": r.config["seed"], "split": split,
                          "bucket": bucket, "n": m["n"], "f1": m["f1"], "accuracy": m["accuracy"]}
                         for r in runs for split in splits if split in r.metrics
                         for bucket, m in r.metrics[split]["by_length"].items()],
                        columns=["experiment", "seed", "split", "bucket", "n", "f1", "accuracy"])


def deltas_from(frame: pd.DataFrame, reference: str, column: str, by=("split",)) -> pd.DataFrame:
    """Per experiment and seed, `column` minus the reference experiment's value at the same seed (and `by` keys)."""
    keys = [*by, "seed"]
    ref = frame[frame.experiment == reference].set_index(keys)[column].rename("_ref")
    joined = frame.join(ref, on=keys, how="inner")
    return joined.assign(**{column: joined[column] - joined["_ref"]}).drop(columns="_ref")


def dragon_baseline_settings(plan: Plan) -> pd.DataFrame:
    """Our baseline's settings in a plan beside dragon-baseline 0.4.6's, with where each of those comes from."""
    config = plan.planned("baseline", 0).config
    ours = config.settings() | {"seed": ", ".join(map(str, plan.seeds))}
    if config.training.learning_rate_scale != 1:
        ours["learning_rate"] = (f"{config.training.learning_rate:g} x {config.training.learning_rate_scale:g} "
                                 f"(profile {plan.profile})")
    return pd.DataFrame([{"setting": name, "dragon-baseline 0.4.6": ref["value"],
                          f"ours ({plan.profile})": ours.get(name, ref.get("ours")), "source": ref["source"]}
                         for name, ref in plan.dragon_baseline.items()]).fillna("none").astype(str)


def kept_epochs(runs: list[Run]) -> pd.DataFrame:
    """Per run: the epochs it trained, and the epoch whose weights it kept (with restore_best_epoch, the one with
    the lowest validation loss; otherwise the last)."""
    return pd.DataFrame([{"experiment": r.config["experiment"], "seed": r.config["seed"],
                          "epochs_run": len(r.history["epochs"]), "weights_from_epoch": r.history["weights_from_epoch"],
                          "stopped_early": r.history["stopped_early"]} for r in runs])
