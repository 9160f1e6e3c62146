"""The paper's claims beside our measurements, with a verdict applied by rule, never by hand.

Rule (95% CIs; for metrics a paired bootstrap over seeds and cases, for run-level costs and losses a t-interval
over seeds):
- a claimed *effect* is supported when our CI excludes no effect and contains the claim, contradicted when our
  CI excludes the claimed value, inconclusive otherwise (stats.effect_verdict);
- a claimed *level* is supported when our CI contains it, contradicted otherwise (stats.level_verdict);
- "p < .001" is supported when the exact McNemar test gives p < .001 in every seed, inconclusive otherwise.
"""

import numpy as np
import pandas as pd

from . import stats
from .paper_claims import load_claims
from .run_frames import efficiency_frame, metrics_frame, paired_predictions, per_seed, prediction_matrix, seeds_of
from .runs import Run

# Our two views: the paper's 100 validation cases, and 1,000 fresh cases (300 long ones for long-case claims).
VIEWS = {"validation": {"cases": "validation", "long": "validation"}, "fresh": {"cases": "fresh", "long": "long"}}
LONG_CASE_TOKENS = 400  # the paper's long-case bucket: more than 400 tokens
RUN_MEASURES = ("validation_loss", "relative_wall_time", "relative_peak_memory")  # one value per run


def _bootstrap(claim: dict, runs: list[Run], view: dict) -> stats.DeltaCI:
    """Metric claims: the two-level (seeds, cases) paired bootstrap on the seeds both configs share."""
    long_cases = claim["measure"] == "long_case_f1"
    split = view["long"] if long_cases else view["cases"]
    metric = {"metric": claim.get("metric"), "false_positives_per_100": "fp_per_100", "long_case_f1": "f1"}[claim["measure"]]
    configs = [claim["config"]] if claim["kind"] == "level" else [claim["from"], claim["to"]]
    seeds = sorted(set.intersection(*(set(seeds_of(runs, c)) for c in configs)))
    matrices = [prediction_matrix(runs, c, split, seeds) for c in configs]
    if long_cases and split == "validation":  # only the few validation cases over the paper's 400 tokens
        keep = matrices[0]["n_tokens"] > LONG_CASE_TOKENS
        matrices = [m[keep] for m in matrices]
        if not keep.any():
            return stats.DeltaCI(np.nan, np.nan, np.nan)
    y = matrices[0]["label"].to_numpy()
    preds = [m[seeds].to_numpy().T for m in matrices]
    return stats.seed_case_bootstrap_ci(y, preds[-1], preds[0] if len(preds) == 2 else None, metric)


def _per_seed(claim: dict, metrics: pd.DataFrame, costs: pd.DataFrame, experiment: str) -> pd.Series:
    """Claims on whole runs (validation loss, training time, peak memory): one value per seed."""
    if claim["measure"] == "validation_loss":
        return per_seed(metrics, experiment, "validation", "log_loss")
    column = {"relative_wall_time": "train_seconds", "relative_peak_memory": "peak_memory_mb"}[claim["measure"]]
    return costs[costs.experiment == experiment].set_index("seed")[column].sort_index()


def _per_seed_estimate(claim: dict, metrics: pd.DataFrame, costs: pd.DataFrame) -> tuple[float, float, float, int]:
    """Mean (level) or relative paired change (costs) with a t-based CI over seeds."""
    if claim["kind"] == "level":
        s = stats.seed_summary(_per_seed(claim, metrics, costs, claim["config"]))
        return s.mean, s.low, s.high, s.n
    a, b = (_per_seed(claim, metrics, costs, claim[k]) for k in ("from", "to"))
    shared = a.index.intersection(b.index)
    if not len(shared):
        return np.nan, np.nan, np.nan, 0
    s = stats.relative_change(a[shared], b[shared])
    return s.mean, s.low, s.high, s.n


def _estimate(claim: dict, runs: list[Run], metrics: pd.DataFrame, costs: pd.DataFrame, view_name: str) -> dict:
    view = VIEWS[view_name]
    if claim["kind"] == "pvalue":
        results = [stats.mcnemar_exact(y, a, b) for _, y, a, b in
                   paired_predictions(runs, claim["from"], claim["to"], view["cases"])]
        worst = max((r.pvalue for r in results), default=np.nan)
        verdict = "inconclusive" if np.isnan(worst) or worst >= claim["value"] else "supported"
        return {"ours": worst, "ci_low": np.nan, "ci_high": np.nan, "n_seeds": len(results), "verdict": verdict}
    if claim["measure"] in RUN_MEASURES:
        ours, low, high, n_seeds = _per_seed_estimate(claim, metrics, costs)
        method = "t over seeds"
    else:
        ci = _bootstrap(claim, runs, view)
        ours, low, high = ci.delta, ci.low, ci.high
        configs = [claim["config"]] if claim["kind"] == "level" else [claim["from"], claim["to"]]
        n_seeds = len(set.intersection(*(set(seeds_of(runs, c)) for c in configs)))
        method = "bootstrap over seeds and cases"
    judge = stats.level_verdict if claim["kind"] == "level" else stats.effect_verdict
    return {"ours": ours, "ci_low": low, "ci_high": high, "n_seeds": n_seeds, "ci_method": method,
            "verdict": judge(low, high, claim["value"])}


def verdict_table(runs: list[Run], claims: dict | None = None) -> pd.DataFrame:
    """One row per claim and view: the paper's value, our estimate with 95% CI, and the verdict."""
    claims = claims or load_claims()
    metrics, costs = metrics_frame(runs), efficiency_frame(runs)
    experiments = set(metrics.experiment)
    rows = []
    for claim in claims["claims"]:
        needed = {claim.get(k) for k in ("config", "from", "to")} - {None}
        views = ["validation"] if claim["measure"] in RUN_MEASURES else list(VIEWS)
        for view in views:
            row = {"claim": claim["id"], "text": claim.get("text", claim["id"].replace("_", " ")),
                   "kind": claim["kind"], "paper": claim["value"], "view": view}
            if needed <= experiments and (view == "validation" or VIEWS[view]["cases"] in set(metrics.split)):
                row |= _estimate(claim, runs, metrics, costs, view)
            else:
                row |= {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_seeds": 0, "verdict": "not run"}
            rows.append(row)
    return pd.DataFrame(rows)
