"""Statistical tables over runs: paired tests per seed, tests over seeds, Wilson intervals, and the power of the
paper's sample size."""

import numpy as np
import pandas as pd

from ..experiments.records import Run
from . import stats
from .run_frames import paired_predictions, per_seed

def _holm(pvalues: pd.Series) -> pd.Series:
    """Holm-adjusted p-values, leaving missing ones missing."""
    out = pd.Series(np.nan, index=pvalues.index)
    known = pvalues.notna()
    if known.any():
        out[known] = stats.holm_adjust(pvalues[known].to_numpy())
    return out


def paired_tests(runs: list[Run], comparisons, splits=("validation", "fresh"), n_resamples: int = 2000,
                 n_permutations: int = 5000) -> pd.DataFrame:
    """Per comparison (a -> b), split and shared seed: exact McNemar, paired-bootstrap 95% CIs of Δaccuracy and ΔF1,
    and the approximate-randomisation p of ΔF1; McNemar p Holm-adjusted over the comparison family per split: every
    comparison and seed of the split together, so a seed run for one comparison only is adjusted like the rest."""
    rows = []
    for a, b in comparisons:
        for split in splits:
            for seed, y, pred_a, pred_b in paired_predictions(runs, a, b, split):
                m = stats.mcnemar_exact(y, pred_a, pred_b)
                acc, f1 = (stats.paired_bootstrap_ci(y, pred_a, pred_b, metric, n_resamples, seed=seed)
                           for metric in ("accuracy", "f1"))
                rows.append({"from": a, "to": b, "split": split, "seed": seed, "n": len(y),
                             "only_from_correct": m.a_only_correct, "only_to_correct": m.b_only_correct,
                             "mcnemar_p": m.pvalue, "delta_accuracy": acc.delta, "delta_accuracy_low": acc.low,
                             "delta_accuracy_high": acc.high, "delta_f1": f1.delta, "delta_f1_low": f1.low,
                             "delta_f1_high": f1.high, "randomisation_p_f1": stats.approximate_randomization_pvalue(
                                 y, pred_a, pred_b, "f1", n_permutations, seed=seed)})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame.insert(frame.columns.get_loc("mcnemar_p") + 1, "mcnemar_p_holm",
                     frame.groupby("split")["mcnemar_p"].transform(_holm))
    return frame


def seed_tests(metrics: pd.DataFrame, comparisons, splits=("validation", "fresh"),
               column: str = "accuracy") -> pd.DataFrame:
    """Per comparison and split: the paired t-test over shared seeds of `column` (stats.compare_over_seeds),
    Holm-adjusted across the comparisons per split; NaN where fewer than two seeds are shared."""
    rows = []
    for a, b in comparisons:
        for split in splits:
            va, vb = (per_seed(metrics, e, split, column) for e in (a, b))
            seeds = va.index.intersection(vb.index)
            row = {"from": a, "to": b, "split": split, "measure": column, "n_seeds": len(seeds),
                   "mean_from": va[seeds].mean(), "mean_to": vb[seeds].mean()}
            if len(seeds) >= 2:
                c = stats.compare_over_seeds(va[seeds].to_numpy(), vb[seeds].to_numpy())
                row |= {"delta_mean": c.delta_mean, "delta_mean_low": c.low, "delta_mean_high": c.high,
                        "test": c.test, "p": c.pvalue}
            else:
                row |= {"delta_mean": (vb[seeds] - va[seeds]).mean(), "delta_mean_low": np.nan,
                        "delta_mean_high": np.nan, "test": "none (fewer than 2 shared seeds)", "p": np.nan}
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["p_holm"] = frame.groupby("split")["p"].transform(_holm)
    return frame


def wilson_frame(metrics: pd.DataFrame, splits=("validation", "fresh")) -> pd.DataFrame:
    """Each single run's accuracy with its 95% Wilson interval over its n cases (accuracy_low, accuracy_high)."""
    rows = metrics[metrics.split.isin(splits)][["experiment", "seed", "split", "n", "accuracy"]].copy()
    rows["correct"] = (rows["accuracy"] * rows["n"]).round().astype(int)
    bounds = [stats.wilson_interval(k, n) for k, n in zip(rows["correct"], rows["n"])]
    rows["accuracy_low"], rows["accuracy_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return rows.reset_index(drop=True)


def power_table(claims: dict, ns=(100, 1000), alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """For each claimed accuracy gain: the smallest gain detectable with n cases per arm from its starting accuracy."""
    starts = {c["config"]: c["value"] for c in claims["claims"]
              if c["kind"] == "level" and c.get("metric") == "accuracy"} | claims.get("ladder_accuracy", {})
    rows = []
    for c in claims["claims"]:
        if c["kind"] == "effect" and c.get("metric") == "accuracy":
            for n in ns:
                mdd = stats.minimum_detectable_difference(n, starts.get(c["from"], 0.72), alpha, power)
                rows.append({"claim": c.get("text", c["id"]), "from_accuracy": starts.get(c["from"], 0.72),
                             "claimed_gain": c["value"], "n_cases": n, "min_detectable_gain": mdd,
                             "claimed_gain_detectable": bool(c["value"] >= mdd)})
    return pd.DataFrame(rows)
