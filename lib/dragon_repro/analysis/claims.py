"""The paper's claims beside our measurements, with a verdict applied by rule, never by hand.

Views. *fresh* (cases no model saw in training or selection; the 300-case long set for the long-case claim) is
the primary view. *validation* is the paper's view, its 100 cases; every config that keeps its best epoch by
validation loss (dragon-baseline's rule, and ours) chose its weights on them, so that view is selection-biased.

Evidence first. A row needs at least 3 seeds on each side ("too few seeds"), and the long-case claim at least
20 long cases ("not testable").

Levels (what one config reaches: accuracy, validation loss, ...) depend on the model itself: they are judged only
when the runs used the paper's model; otherwise the row shows ours beside the paper's under "different model".
Effects (the change a step makes) carry over and are judged on any model.

Costs (the time and memory 1024 tokens add) depend on the architecture and on how batches are padded, not on
the weights: they are judged from the benchmark (`dragon_repro.training.bench`) on the real architecture, once per way of
batching, with a bootstrap CI over its timed steps and the hardware named; on another architecture the row reads
"different model".

Effects are judged on a two-level (seeds x cases) paired bootstrap CI that is family-wise: Bonferroni over the
family of the paper's metric effects (every claimed change in accuracy, false positives or F1), so the strong
verdicts hold for the table as a whole. Turned to the claimed direction, a CI that
- excludes 0 and contains the claim: *supported*;
- excludes 0 on the claimed side and excludes the claim: *smaller than claimed* / *larger than claimed*;
- contains 0 and excludes the claim: *claimed size ruled out*;
- lies wholly on the other side of 0: *contradicted*; otherwise *inconclusive* (stats.effect_verdict).

The paper's open question (does the recipe transfer to multi-class?) is not a claim: `transfer_table` asks it of
the transfer profile's Task102 runs with the same rule, each of the paper's accuracy steps read against the gain the
paper claims on Task101, Bonferroni over those steps. Beside it: the same step on Task101, and the change in the
task's DRAGON metric (linear-weighted kappa on Task102), over seeds.

A level is *supported* when its 95% CI contains the claim, *contradicted* otherwise (stats.level_verdict).
"p < .001" is *supported* when the exact one-sided McNemar test in the claimed direction gives p < .001 in every
seed, *contradicted* when it does so in the opposite direction, *inconclusive* otherwise.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments.records import Run
from ..tasks.metrics import LONG_CASE_TOKENS
from . import stats
from .paper_claims import load_claims
from .run_frames import metrics_frame, paired_predictions, per_seed, prediction_matrix, seeds_of

# The primary view first: fresh cases (and the long-case set), then the paper's 100 validation cases.
VIEWS = {"fresh": {"cases": "fresh", "long": "long"}, "validation": {"cases": "validation", "long": "validation"}}
COST_MEASURES = {"relative_wall_time": "time per step", "relative_peak_memory": "peak memory"}  # bench.relative_costs
RUN_MEASURES = ("validation_loss",)  # one value per run
MIN_SEEDS = 3
MIN_LONG_CASES = 20
# What a row can say besides a rule's verdict (stats.VERDICTS).
NOT_JUDGED = ("too few seeds", "not testable", "different model", "not run")
ALPHA = 0.05
N_RESAMPLES = 10_000  # enough for the tails of a Bonferroni-level interval


def effect_family(claims: dict) -> list[str]:
    """The claims whose CIs are controlled together: every claimed change in a metric."""
    return [c["id"] for c in claims["claims"] if c["kind"] == "effect" and c["measure"] not in COST_MEASURES]


def uses_paper_model(runs: list[Run], claims: dict) -> bool:
    """Whether every run fine-tuned the paper's model (its hub name, or a local folder named after it)."""
    name = Path(claims["model"]).name
    return bool(runs) and all(Path(str(r.config.get("model"))).name == name for r in runs)


def _bootstrap(claim: dict, runs: list[Run], view: dict, seeds: list[int], confidence: float) -> tuple[stats.DeltaCI, int]:
    """Metric claims: the two-level (seeds, cases) paired bootstrap on shared seeds, and the number of cases."""
    long_cases = claim["measure"] == "long_case_f1"
    split = view["long"] if long_cases else view["cases"]
    metric = {"metric": claim.get("metric"), "false_positives_per_100": "fp_per_100", "long_case_f1": "f1"}[claim["measure"]]
    matrices = [prediction_matrix(runs, c, split, seeds) for c in _configs(claim)]
    if long_cases:  # only the cases over the paper's 400 tokens
        keep = matrices[0]["n_tokens"] > LONG_CASE_TOKENS
        matrices = [m[keep] for m in matrices]
        if not keep.any():
            return stats.DeltaCI(np.nan, np.nan, np.nan), 0
    y = matrices[0]["label"].to_numpy()
    preds = [m[seeds].to_numpy().T for m in matrices]
    ci = stats.seed_case_bootstrap_ci(y, preds[-1], preds[0] if len(preds) == 2 else None, metric, N_RESAMPLES,
                                      confidence)
    return ci, len(y)


def _configs(claim: dict) -> list[str]:
    return [claim["config"]] if claim["kind"] == "level" else [claim["from"], claim["to"]]


def _per_seed_estimate(claim: dict, metrics: pd.DataFrame) -> tuple[float, float, float, int]:
    """A level measured once per run (the validation loss): mean with a t-based CI over seeds."""
    s = stats.seed_summary(per_seed(metrics, claim["config"], "validation", "log_loss"))
    return s.mean, s.low, s.high, s.n


def _significance(claim: dict, runs: list[Run], view: dict) -> dict:
    """One-sided exact McNemar per shared seed, in the claimed direction (from -> to is better) and against it."""
    pairs = list(paired_predictions(runs, claim["from"], claim["to"], view["cases"]))
    better = [stats.mcnemar_one_sided(y, a, b) for _, y, a, b in pairs]
    worse = [stats.mcnemar_one_sided(y, b, a) for _, y, a, b in pairs]
    verdict = ("too few seeds" if len(pairs) < MIN_SEEDS else "supported" if max(better) < claim["value"] else
               "contradicted" if max(worse) < claim["value"] else "inconclusive")
    return {"ours": max(better, default=np.nan), "ci_low": np.nan, "ci_high": np.nan,
            "n_cases": len(pairs[0][1]) if pairs else 0, "verdict": verdict,
            "ci_method": "exact one-sided McNemar in the claimed direction, largest p over seeds (the paper: "
                         "100 cases; more cases reach a given p more easily)"}


def _estimate(claim: dict, runs: list[Run], metrics: pd.DataFrame, view_name: str, family_size: int) -> dict:
    """Our estimate with its CI, the evidence behind it, and the verdict."""
    view = VIEWS[view_name]
    seeds = sorted(set.intersection(*(set(seeds_of(runs, c)) for c in _configs(claim))))
    if claim["kind"] == "pvalue":
        row = _significance(claim, runs, view)
    elif claim["measure"] in RUN_MEASURES:
        ours, low, high, _ = _per_seed_estimate(claim, metrics)
        row = {"ours": ours, "ci_low": low, "ci_high": high, "n_cases": np.nan, "ci_method": "t over seeds, 95%"}
    else:
        in_family = claim["kind"] == "effect"
        confidence = 1 - ALPHA / family_size if in_family else 1 - ALPHA
        ci, n_cases = _bootstrap(claim, runs, view, seeds, confidence)
        method = f"bootstrap over seeds and cases, {100 * confidence:.4g}%"
        row = {"ours": ci.delta, "ci_low": ci.low, "ci_high": ci.high, "n_cases": n_cases,
               "ci_method": method + (f" (Bonferroni over {family_size} effects)" if in_family else "")}
    row["n_seeds"] = len(seeds)
    if "verdict" not in row:
        row["verdict"] = _judge(claim, row)
    return row


def _judge(claim: dict, row: dict) -> str:
    if row["n_seeds"] < MIN_SEEDS:
        return "too few seeds"
    if claim["measure"] == "long_case_f1" and row["n_cases"] < MIN_LONG_CASES:
        return "not testable"
    judge = stats.level_verdict if claim["kind"] == "level" else stats.effect_verdict
    return judge(row["ci_low"], row["ci_high"], claim["value"])


def _selection_biased(claim: dict, runs: list[Run], view: str) -> bool:
    """Whether a config behind the row chose its weights on the cases the row is measured on (validation)."""
    return view == "validation" and any(
        r.config.get("restore_best_epoch") or r.config.get("early_stopping_patience") is not None
        for r in runs if r.config["experiment"] in _configs(claim))


def _cost_rows(claim: dict, costs: pd.DataFrame | None) -> list[dict]:
    """A cost claim judged from the benchmark, one row per way of batching (bench.relative_costs)."""
    if costs is None:
        return [{"view": "benchmark", "ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": "not run"}]
    rows = []
    for r in costs[costs.measure == COST_MEASURES[claim["measure"]]].itertuples():
        verdict = (stats.effect_verdict(r.ci_low, r.ci_high, claim["value"]) if r.real_architecture
                   else "different model")
        rows.append({"view": r.batching, "ours": r.relative, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "n_steps": r.timed_steps, "verdict": verdict,
                     "ci_method": f"bootstrap over the timed steps, 95%; {r.model} on {r.hardware}"})
    return rows


def verdict_table(runs: list[Run], claims: dict | None = None, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim and view: the paper's value, our estimate with its CI, the evidence, and the verdict.
    Cost claims take their rows from `costs`, the benchmark's relative costs (bench.cost_table)."""
    claims = claims or load_claims()
    metrics = metrics_frame(runs)
    experiments, paper_model = set(metrics.experiment), uses_paper_model(runs, claims)
    family_size = len(effect_family(claims))
    rows = []
    for claim in claims["claims"]:
        base = {"claim": claim["id"], "text": claim.get("text", claim["id"].replace("_", " ")),
                "kind": claim["kind"], "paper": claim["value"]}
        if claim["measure"] in COST_MEASURES:
            rows += [base | {"selection_biased": False} | row for row in _cost_rows(claim, costs)]
            continue
        for view in ["validation"] if claim["measure"] in RUN_MEASURES else list(VIEWS):
            row = base | {"view": view, "selection_biased": _selection_biased(claim, runs, view)}
            if set(_configs(claim)) <= experiments and VIEWS[view]["cases"] in set(metrics.split):
                row |= _estimate(claim, runs, metrics, view, family_size)
                if claim["kind"] == "level" and not paper_model:
                    row["verdict"] = "different model"
            else:
                row |= {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_seeds": 0, "verdict": "not run"}
            rows.append(row)
    return pd.DataFrame(rows)


TRANSFER_QUESTION = "open question: does the paper's step help on multi-class Task102 too?"


def transfer_table(runs_by_task: dict[str, list[Run]], claims: dict | None = None) -> pd.DataFrame:
    """The paper's open question, per task (Task102 first) and per claimed accuracy step: our effect on fresh cases
    [family-wise CI] judged against the paper's Task101 gain by the effect rule, and the DRAGON metric's change over
    seeds. A task without runs is left out; a step whose configs were not run reads "not run"."""
    claims = claims or load_claims()
    steps = [c for c in claims["claims"] if c["kind"] == "effect" and c["measure"] == "metric"]
    rows = []
    for task, runs in runs_by_task.items():
        metrics = metrics_frame(runs) if runs else None
        for claim in steps if runs else []:
            row = {"question": TRANSFER_QUESTION, "claim": claim["id"], "text": claim["text"], "task": task,
                   "step": f"{claim['from']} → {claim['to']}",
                   "kind": "open question", "paper": claim["value"], "view": "fresh"}
            if set(_configs(claim)) <= set(metrics.experiment):
                row |= _estimate(claim, runs, metrics, "fresh", len(steps)) | _dragon_change(claim, metrics)
            else:
                row |= {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_seeds": 0, "verdict": "not run"}
            rows.append(row)
    return pd.DataFrame(rows)


def _dragon_change(claim: dict, metrics: pd.DataFrame) -> dict:
    """The step's change in the task's DRAGON metric on fresh cases: mean over shared seeds with a t-based 95% CI."""
    before, after = (per_seed(metrics, config, "fresh", "dragon") for config in (claim["from"], claim["to"]))
    shared = before.index.intersection(after.index)
    change = stats.seed_summary(after[shared] - before[shared])
    return {"dragon_change": change.mean, "dragon_low": change.low, "dragon_high": change.high}
