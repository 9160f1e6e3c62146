"""The paper's claims beside our measurements, with a verdict applied by rule, never by hand.

Views. *fresh* (cases no model saw in training or selection; the 300-case long set for the long-case claim) is
the judged view: every seed's run is scored on the same cases, a crossed design of seeds x cases. *validation* is
the paper's view, its 100 cases; each seed trains and chooses its epoch on its own split, so those cases differ by
seed and were used for selection: that view is shown as *descriptive* (mean over seeds, t interval), never judged.

The interval. A fresh-view estimate is the mean over seeds and cases of a per-case value (correctness, or the
metric's linearisation, `stats.case_values`), its variance from the design's variance components (between seeds,
between cases, interaction) on S - 1 degrees of freedom (`stats.crossed_estimate`): valid at 3 seeds, where
resampling 3 seeds is not.

One family. Every judged comparison sits once under one Bonferroni correction, named in its CI column: the Task101
effects whose measure joins it (analysis/measures.py), the open question's Task102 steps (the accuracy steps; their
Task101 rows are the claims' own), and, where they are judged, the levels (the paper's model only) and the costs (a
GPU benchmark only). Bonferroni rather than Holm: it gives simultaneous intervals, so the same comparison
shows the same interval wherever it appears (here and in the open question).

The paper's own uncertainty. Its design is assumed, with the reason, in config/paper_claims.yaml (`paper_design`):
one run on its 100 validation cases; the long-case claim on the long cases among them, as many as our validation
splits hold (`paper_design` column). Its implied interval (`paper low/high`) is its value +/- 1.96 standard errors of
that design at our variance components; the replication interval (Patil, Peng & Leek 2016) is the paper's value
+/- the family quantile times the root of both designs' variances. Both are cut to the measure's range.

Verdicts from three facts, each its own column (stats.verdict_facts), read in the claimed direction:
- `direction`: the family CI excludes 0 in the claimed direction, in the other direction, or neither;
- `claimed_size`: the paper's value inside our CI, larger than it, or smaller than it;
- `paper_noise`: our estimate inside or outside the replication interval.
Effects (stats.EFFECT_WORDS):
- claimed direction, claim inside the CI: *supported*; claim larger / smaller than the CI: *smaller / larger than
  claimed*;
- neither, claim inside: *inconclusive*; claim outside: *claimed size ruled out*;
- other direction: *contradicted*.
Where the CI excludes the claim but our estimate lies inside the replication interval, the word adds ", within the
paper's noise": one run of the paper's design could still have produced its value. A CI that excludes the claim is
never *supported*. An effect measured on a stand-in model says so: "(stand-in model)".
Levels (what one config reaches) belong to the model: judged on the paper's model only (stats.LEVEL_WORDS), *as
claimed* when the claim is inside our CI and the CI lies within the paper's implied interval (`ci_width`: a level
has no 0 to be told from, so ours must pin it down at least as well as the paper's run), *inconclusive* when the CI
holds the claim but is wider, *lower / higher than claimed* when the CI excludes it (with ", within the paper's
noise" as above); on any other model the row shows ours under *different model*.

Evidence first. A row needs at least 3 seeds on each side ("too few seeds"), the long-case claim at least 20 long
cases ("not testable"). Beside every judged effect: the smallest effect its seeds and cases detect (80% power at the
family level, on the interval's own t: S - 1 df, noncentral t), what would detect the paper's claimed size
(`to_detect_claim`) and tell our estimate from 0 (`to_tell_ours_from_0`): seeds per side at our cases, else with
the fresh cases generated (1,000; the long set has no more than its 300), else "not decidable here", naming the
resource that runs out. And its stability: how often a repeated experiment of the same design would give the same
verdict, predicted from our estimate and its variance (`stability`; *fragile* below 80%).

Costs (the time and memory 1024 tokens add) depend on the architecture, the hardware and how batches are padded:
they come from the benchmark (`dragon_repro.training.bench`), one row per way of batching, and are judged only on the
real architecture on a GPU, the paper's hardware, with every cell timed in several processes (the interval carries
the drift between them); on a CPU they read *different hardware*, with the value shown.

"p < .001" is one test over every seed's paired outcomes together: the one-sided t of the fresh-case crossed
estimate (seeds x cases variance components, t on S - 1 df) in the claimed direction; *supported* when p < .001,
*contradicted* when the opposite direction gives p < .001, *inconclusive* otherwise.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from ..experiments.records import Run
from ..tasks.data import EVALUATION_SIZES
from ..tasks.metrics import LONG_CASE_TOKENS
from . import measures, stats
from .measures import JUDGED_VIEW, VIEWS
from .paper_claims import load_claims
from .run_frames import metrics_frame, paired_predictions, per_seed, prediction_matrix, seeds_of

MIN_SEEDS = 3
MIN_LONG_CASES = 20
STAND_IN = " (stand-in model)"
# What a row can say besides a rule's verdict (stats.VERDICTS, with STAND_IN on a stand-in model).
NOT_JUDGED = ("too few seeds", "not testable", "different model", "different hardware", "descriptive", "not run")
ALPHA = 0.05
POWER = 0.8
SIGNIFICANCE_TEST = "one-sided t of the seeds x cases estimate in the claimed direction, every seed together"
VALIDATION_LONG = "validation long cases"  # a claim's design: the long cases among the paper's 100 (paper_claims.yaml)
STABLE_SHARE = 0.8
STABILITY_DRAWS = 10  # per axis: 10 shifts x 10 variances
# Every verdict table has these, empty where nothing was estimated (e.g. every row "too few seeds").
INTERVAL_COLUMNS = ("ours", "ci_low", "ci_high", "paper_low", "paper_high", "replication_low", "replication_high")
NEAR_CHANCE = "near chance: F1 follows how often the model says True"


# ---------------------------------------------------------------- the family

def uses_paper_model(runs: list[Run], claims: dict) -> bool:
    """Whether every run fine-tuned the paper's model (its hub name, or a local folder named after it)."""
    name = Path(claims["model"]).name
    return bool(runs) and all(Path(str(r.config.get("model"))).name == name for r in runs)


def open_question_steps(claims: dict) -> list[dict]:
    """The paper's steps whose measure is asked again of Task102 (its accuracy steps; `transfer_table`)."""
    return [c for c in claims["claims"] if c["kind"] == "effect" and measures.of(c).open_question]


def family_size(runs: list[Run], claims: dict, costs: pd.DataFrame | None = None) -> int:
    """How many comparisons are judged together, each once: the claims' effects on Task101 (and their levels on the
    paper's model) whose measure joins the family, each open-question step on Task102 (its Task101 row is the
    claim's own), and the cost rows of a GPU benchmark on the real architecture."""
    paper_model = uses_paper_model(runs, claims)
    judged = [c for c in claims["claims"] if measures.of(c).family and not measures.of(c).benchmark
              and (c["kind"] == "effect" or c["kind"] == "level" and paper_model)]
    return len(judged) + len(open_question_steps(claims)) + _judged_cost_rows(claims, costs)


def _judged_cost_rows(claims: dict, costs: pd.DataFrame | None) -> int:
    """How many benchmark rows the cost claims are judged on."""
    claimed = {measures.of(c).column for c in claims["claims"] if measures.of(c).benchmark}
    return 0 if costs is None else int(sum(_costs_judged(r) for r in costs.itertuples() if r.measure in claimed))


def family_confidence(size: int) -> float:
    return 1 - ALPHA / size


# ---------------------------------------------------------------- one claim in one view

def _configs(claim: dict) -> list[str]:
    return [claim["config"]] if claim["kind"] == "level" else [claim["from"], claim["to"]]


def _matrices(claim: dict, runs: list[Run], split: str, seeds: list[int]) -> list[pd.DataFrame]:
    """Each config's predictions on the split (a column per seed), the long-case claim's cut to long cases."""
    matrices = [prediction_matrix(runs, c, split, seeds) for c in _configs(claim)]
    if measures.of(claim).long_cases:  # only the cases over the paper's 400 tokens
        keep = matrices[0]["n_tokens"] > LONG_CASE_TOKENS
        matrices = [m[keep] for m in matrices]
    return matrices


def case_value_matrix(claim: dict, matrices: list[pd.DataFrame], seeds: list[int]) -> np.ndarray:
    """Seeds x cases: each run's per-case values of the claim's metric, the later config's minus the earlier's."""
    y = matrices[0]["label"].to_numpy()
    value = measures.of(claim).case_value
    values = [np.array([stats.case_values(y, m[s].to_numpy(), value) for s in seeds]) for m in matrices]
    return values[-1] - (values[0] if len(values) == 2 else 0)


def measure_range(claim: dict) -> tuple[float, float]:
    """What the claim's measure can take: a level's range, or the differences of two values in it for an effect."""
    low, high = measures.of(claim).range
    return (low, high) if claim["kind"] == "level" else (low - high, high - low)


def paper_design(claim: dict, claims: dict, metrics: pd.DataFrame | None = None) -> dict:
    """The design assumed behind the paper's value (paper_claims.yaml: `paper_design`, or the claim's own `design`),
    its cases counted where the claim says so: the long cases our validation splits hold, mean over seeds."""
    design = claims.get("paper_design", {"seeds": 1, "cases": 100}) | claim.get("design", {})
    cases = design["cases"]
    if cases == VALIDATION_LONG:
        rows = metrics[(metrics.split == "validation") & metrics.experiment.isin(_configs(claim))]
        cases = max(1, round(rows["n_long"].mean())) if len(rows) else np.nan  # whole cases, at least one
    return {"paper_seeds": design["seeds"], "paper_cases": cases}


def judge_crossed(claim: dict, values: np.ndarray, confidence: float, paper_model: bool,
                  design: dict | None = None) -> dict:
    """Estimate, family CI, the paper's implied and replication intervals (its `design`, one run on 100 cases by
    default), each cut to the measure's range, the three facts and the verdict of a crossed design."""
    return judge_estimate(claim, stats.crossed_estimate(values), confidence, paper_model, design)


def judge_estimate(claim: dict, ours: stats.CrossedEstimate, confidence: float, paper_model: bool,
                   design: dict | None = None) -> dict:
    """`judge_crossed` from the estimate and its variance components."""
    design = design or {"paper_seeds": 1, "paper_cases": 100}
    bounds = measure_range(claim)
    low, high = stats.clipped(ours.interval(confidence), bounds)
    replication = stats.clipped(stats.replication_interval(claim["value"], ours, confidence=confidence, **design),
                                bounds)
    paper_low, paper_high = stats.clipped(stats.paper_interval(claim["value"], ours, **design), bounds)
    level = claim["kind"] == "level"
    facts = (None if level and not paper_model else  # a level on another model is not judged
             stats.verdict_facts(low, high, claim["value"], ours.estimate, replication, effect=not level,
                                 paper=(paper_low, paper_high)))
    verdict = ("different model" if level and not paper_model else
               stats.verdict_word(facts) + ("" if paper_model or level else STAND_IN))
    return {"ours": ours.estimate, "ci_low": low, "ci_high": high, "paper_low": paper_low, "paper_high": paper_high,
            "replication_low": replication[0], "replication_high": replication[1], **(facts or {}),
            "verdict": verdict, "estimate": ours}


def stability(claim: dict, values: np.ndarray, confidence: float, paper_model: bool, verdict: str,
              design: dict | None = None) -> float:
    """How often a repeated experiment of the same design would give the same verdict, predicted from ours: the
    share of replicate experiments, judged by the same rule, whose estimate differs from ours as two independent
    estimates of one truth do (normal, twice our variance) and whose variance is what S - 1 df may estimate (ours
    times chi-square / df); a grid of STABILITY_DRAWS quantiles on each, so no randomness. Nothing is resampled, so
    no seed counts twice, and it can fall below STABLE_SHARE at 3 seeds as at 10 (tests/test_verdict_rules.py
    checks the label against repeated experiments)."""
    ours = stats.crossed_estimate(values)
    grid = (np.arange(STABILITY_DRAWS) + 0.5) / STABILITY_DRAWS
    shifts = sps.norm.ppf(grid) * np.sqrt(2 * ours.variance)
    scales = sps.chi2.ppf(grid, ours.df) / ours.df
    same = [judge_estimate(claim, ours.rescaled(ours.estimate + shift, scale), confidence, paper_model,
                           design)["verdict"] == verdict for shift in shifts for scale in scales]
    return float(np.mean(same))


def _power(claim: dict, ours: stats.CrossedEstimate, confidence: float, split: str) -> dict:
    """The smallest effect our seeds and cases detect, and what would detect the paper's claimed size and tell our
    estimate from 0 (80% power at the family level, t on the interval's own df; up to the cases generated)."""
    most_cases = EVALUATION_SIZES.get(split, ours.n_cases)
    return {"detectable": stats.detectable_effect(ours, confidence, POWER),
            "to_detect_claim": stats.budget_needed(ours, claim["value"], confidence, POWER, most_cases=most_cases),
            "to_tell_ours_from_0": stats.budget_needed(ours, ours.estimate, confidence, POWER,
                                                       most_cases=most_cases)}


def _fresh_estimate(claim: dict, runs: list[Run], seeds: list[int], confidence: float, paper_model: bool,
                    design: dict) -> dict:
    """The judged view: the crossed design's estimate, verdict, power and stability."""
    split = measures.of(claim).split(JUDGED_VIEW)
    matrices = _matrices(claim, runs, split, seeds)
    n_cases = len(matrices[0])
    row = {"n_cases": n_cases, "ci_method": f"seeds x cases variance components, t on S - 1 df, {100 * confidence:.4g}% "
                                            f"(Bonferroni over {round(ALPHA / (1 - confidence))} judged rows)"}
    if len(seeds) < 2 or n_cases < 2:
        return row | {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    values = case_value_matrix(claim, matrices, seeds)
    judged = judge_crossed(claim, values, confidence, paper_model, design)
    ours = judged.pop("estimate")
    row |= judged | (_power(claim, ours, confidence, split) if claim["kind"] == "effect" else {}) | {
        "paper_design": f"{design['paper_seeds']} run × {design['paper_cases']:.3g} cases, assumed"}
    if len(seeds) >= MIN_SEEDS and (claim["kind"] == "effect" or paper_model):
        share = stability(claim, values, confidence, paper_model, judged["verdict"], design)
        row |= {"stability": share, "fragile": share < STABLE_SHARE}
    if measures.of(claim).long_cases:
        row |= _long_set(claim, runs, matrices, seeds, split)
    return row


def _long_set(claim: dict, runs: list[Run], matrices: list[pd.DataFrame], seeds: list[int], split: str) -> dict:
    """Beside long-case F1: accuracy and AUC on the long cases, mean over seeds per config, and a caveat where the
    earlier config's long-set accuracy is at chance (its 95% interval holds 0.5)."""
    y = matrices[0]["label"].to_numpy()
    accuracy = [np.mean([(m[s].to_numpy() == y).mean() for s in seeds]) for m in matrices]
    auc = [np.mean([_long_auc(runs, config, s, split) for s in seeds]) for config in _configs(claim)]
    start = stats.crossed_estimate(np.array([stats.case_values(y, matrices[0][s].to_numpy(), "accuracy")
                                             for s in seeds])).interval(0.95)
    return {"beside": f"long-set accuracy {accuracy[0]:.3f} → {accuracy[-1]:.3f}, AUC {auc[0]:.3f} → {auc[-1]:.3f}",
            "caveat": NEAR_CHANCE if start[0] <= 0.5 <= start[1] else ""}


def _long_auc(runs: list[Run], experiment: str, seed: int, split: str) -> float:
    run = next(r for r in runs if r.config["experiment"] == experiment and r.config["seed"] == seed)
    cases = run.predictions[(run.predictions.split == split)
                            & (run.predictions.n_tokens > LONG_CASE_TOKENS)]
    return roc_auc_score(cases.label.astype(int), cases.probability) if cases.label.nunique() == 2 else np.nan


def _descriptive(claim: dict, metrics: pd.DataFrame, seeds: list[int]) -> dict:
    """The validation view: the per-seed metric (its own split's cases), mean with a t interval over seeds."""
    measure = measures.of(claim)
    values = [per_seed(metrics, c, "validation", measure.column).reindex(seeds) for c in _configs(claim)]
    per_run = values[-1] - (values[0] if len(values) == 2 else 0)
    rows = metrics[(metrics.split == "validation") & metrics.experiment.isin(_configs(claim))]
    n_cases = int(rows["n_long" if measure.long_cases else "n"].max())
    summary = stats.seed_summary(per_run.dropna()) if per_run.notna().any() else None
    return {"ours": summary.mean if summary else np.nan, "ci_low": summary.low if summary else np.nan,
            "ci_high": summary.high if summary else np.nan, "n_cases": n_cases, "verdict": "descriptive",
            "ci_method": "t over seeds, 95% (each seed's own validation split; not judged)"}


def _significance(claim: dict, runs: list[Run], view: dict) -> dict:
    """"p < .001" asked once of every seed together, in the claimed direction (from -> to is better) and against it:
    on fresh cases the crossed estimate's one-sided t (stats.one_sided_pvalue); on the validation view, whose cases
    differ by seed, a one-sided t over the seeds' accuracy differences (descriptive)."""
    pairs = list(paired_predictions(runs, claim["from"], claim["to"], view["cases"]))
    if len(pairs) < 2:
        return {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_cases": len(pairs[0][1]) if pairs else 0,
                "verdict": "too few seeds", "ci_method": SIGNIFICANCE_TEST}
    value = measures.of(claim).case_value
    values = np.array([stats.case_values(y, b, value) - stats.case_values(y, a, value) for _, y, a, b in pairs])
    if view["cases"] == VIEWS[JUDGED_VIEW]["cases"]:
        ours, method = stats.crossed_estimate(values), SIGNIFICANCE_TEST
        better, worse = stats.one_sided_pvalue(ours, 1), stats.one_sided_pvalue(ours, -1)
    else:
        method = "one-sided t over the seeds' accuracy differences, each seed's own validation cases (descriptive)"
        better, worse = (sps.ttest_1samp(values.mean(axis=1), 0, alternative=side).pvalue
                         for side in ("greater", "less"))
    verdict = ("too few seeds" if len(pairs) < MIN_SEEDS else "supported" if better < claim["value"] else
               "contradicted" if worse < claim["value"] else "inconclusive")
    return {"ours": better, "ci_low": np.nan, "ci_high": np.nan, "n_cases": len(pairs[0][1]), "verdict": verdict,
            "ci_method": method}


def _estimate(claim: dict, runs: list[Run], metrics: pd.DataFrame, view_name: str, confidence: float,
              paper_model: bool, claims: dict) -> dict:
    """Our estimate with its interval, the evidence behind it, and the verdict."""
    seeds = sorted(set.intersection(*(set(seeds_of(runs, c)) for c in _configs(claim))))
    if claim["kind"] == "pvalue":
        row = _significance(claim, runs, VIEWS[view_name])
        if view_name != JUDGED_VIEW:
            row["verdict"] = "descriptive"
    elif view_name != JUDGED_VIEW or measures.of(claim).case_value is None:
        row = _descriptive(claim, metrics, seeds)
    else:
        row = _fresh_estimate(claim, runs, seeds, confidence, paper_model, paper_design(claim, claims, metrics))
    row["n_seeds"] = len(seeds)
    if len(seeds) < MIN_SEEDS and row.get("verdict") != "descriptive":
        row["verdict"] = "too few seeds"
    elif measures.of(claim).long_cases and row["n_cases"] < MIN_LONG_CASES:
        row["verdict"] = "not testable"
    return row


def _selection_biased(claim: dict, runs: list[Run], view: str) -> bool:
    """Whether a config behind the row chose its weights on the cases the row is measured on (validation)."""
    return view == "validation" and any(
        r.config.get("restore_best_epoch") or r.config.get("early_stopping_patience") is not None
        for r in runs if r.config["experiment"] in _configs(claim))


# ---------------------------------------------------------------- the costs

def _costs_judged(row) -> bool:
    """A cost row is judged on the real architecture on a GPU only (the paper's hardware), with its cells measured in
    at least 2 processes (the interval must carry the drift between them)."""
    return bool(row.real_architecture) and not str(row.hardware).startswith("cpu") and row.processes >= 2


def _cost_rows(claim: dict, costs: pd.DataFrame | None, confidence: float) -> list[dict]:
    """A cost claim from the benchmark, one row per way of batching (bench.relative_costs)."""
    if costs is None:
        return [{"view": "benchmark", "ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": "not run"}]
    rows = []
    for r in costs[costs.measure == measures.of(claim).column].itertuples():
        judged = _costs_judged(r)
        verdict = (stats.effect_verdict(r.ci_low, r.ci_high, claim["value"]) if judged else
                   "different hardware" if r.real_architecture else "different model")
        level = f"{100 * confidence:.4g}% (family)" if judged else "95%"
        rows.append({"view": r.batching, "ours": r.relative, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "n_steps": r.timed_steps, "verdict": verdict,
                     "ci_method": f"bootstrap over the timed steps and processes, {level}; {r.model} on {r.hardware}"})
    return rows


# ---------------------------------------------------------------- the tables

def verdict_table(runs: list[Run], claims: dict | None = None, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim and view: the paper's value and implied interval, our estimate with its interval, the
    evidence, power and stability, and the verdict. Cost claims take their rows from `costs`, the benchmark's
    relative costs (bench.cost_table)."""
    claims = claims or load_claims()
    metrics = metrics_frame(runs)
    experiments, paper_model = set(metrics.experiment), uses_paper_model(runs, claims)
    size = family_size(runs, claims, costs)
    confidence = family_confidence(size)
    rows = []
    for claim in claims["claims"]:
        base = {"claim": claim["id"], "text": claim.get("text", claim["id"].replace("_", " ")),
                "kind": claim["kind"], "paper": claim["value"]}
        measure = measures.of(claim)
        if measure.benchmark:
            rows += [base | {"selection_biased": False} | row for row in _cost_rows(claim, costs, confidence)]
            continue
        for view in measure.views():
            row = base | {"view": view, "selection_biased": _selection_biased(claim, runs, view)}
            if set(_configs(claim)) <= experiments and measure.split(view) in set(metrics.split):
                row |= _estimate(claim, runs, metrics, view, confidence, paper_model, claims)
                if claim["kind"] == "level" and not paper_model:
                    row["verdict"] = "different model"
            else:
                row |= {"n_seeds": 0, "verdict": "not run"}
            rows.append(row | {"family": size})
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=list(dict.fromkeys([*frame.columns, *INTERVAL_COLUMNS])))


TRANSFER_QUESTION = "open question: does the paper's step help on multi-class Task102 too?"


def transfer_table(runs_by_task: dict[str, list[Run]], claims: dict | None = None) -> pd.DataFrame:
    """The paper's open question, per task (Task102 first) and per claimed accuracy step: our effect on fresh cases
    [family CI] judged against the paper's Task101 gain by the effect rule, and the DRAGON metric's change over
    seeds. The family is the verdict table's, of the Task101 runs: a Task101 row shows the same interval as there.
    A task without runs is left out; a step whose configs were not run reads "not run"."""
    claims = claims or load_claims()
    task101 = runs_by_task.get("Task101", [])
    confidence = family_confidence(family_size(task101, claims))
    rows = []
    for task, runs in runs_by_task.items():
        metrics = metrics_frame(runs) if runs else None
        for claim in open_question_steps(claims) if runs else []:
            row = {"question": TRANSFER_QUESTION, "claim": claim["id"], "text": claim["text"], "task": task,
                   "step": f"{claim['from']} → {claim['to']}",
                   "kind": "open question", "paper": claim["value"], "view": "fresh"}
            if set(_configs(claim)) <= set(metrics.experiment):
                row |= (_estimate(claim, runs, metrics, JUDGED_VIEW, confidence, uses_paper_model(runs, claims), claims)
                        | _dragon_change(claim, metrics))
            else:
                row |= {"n_seeds": 0, "verdict": "not run"}
            rows.append(row)
    return pd.DataFrame(rows)


def _dragon_change(claim: dict, metrics: pd.DataFrame) -> dict:
    """The step's change in the task's DRAGON metric on fresh cases: mean over shared seeds with a t-based 95% CI."""
    before, after = (per_seed(metrics, config, "fresh", "dragon") for config in (claim["from"], claim["to"]))
    shared = before.index.intersection(after.index)
    change = stats.seed_summary(after[shared] - before[shared])
    return {"dragon_change": change.mean, "dragon_low": change.low, "dragon_high": change.high}


# ---------------------------------------------------------------- the answer in plain words

DECIDED = tuple(v for v in stats.VERDICTS if v != "inconclusive")


def _level(row) -> str:
    """'99.5%': the confidence of a judged row's interval, from its family."""
    return f"{100 * family_confidence(int(row.family)):.4g}%"


def plain_answer(verdicts: pd.DataFrame) -> list[str]:
    """'Does the recipe help?' in a few sentences built from the judged rows of a verdict table: what the data
    decide, what they cannot, and what it would take; every interval named with its level."""
    judged = verdicts[(verdicts.view == JUDGED_VIEW) & (verdicts.kind == "effect") & verdicts.ours.notna()]
    stand_in = judged.verdict.str.endswith(STAND_IN).any()
    decided = judged[judged.verdict.str.removesuffix(STAND_IN).isin(DECIDED)]
    open_rows = judged[judged.verdict.str.removesuffix(STAND_IN) == "inconclusive"]
    sentences = []
    headline = judged[judged.claim == "overall_accuracy_gain"]
    if len(headline):
        h = headline.iloc[0]
        sentences.append(f"The whole recipe (baseline → optimized) changes fresh-case accuracy by {h.ours:+.3f} "
                         f"[{_level(h)} CI {h.ci_low:+.3f}, {h.ci_high:+.3f}] over {int(h.n_seeds)} seeds; the paper "
                         f"reports {h.paper:+.3f}, which its design ({h.paper_design}) puts in "
                         f"[95% {h.paper_low:+.3f}, {h.paper_high:+.3f}]: **{h.verdict}**." + _outside_our_ci(h))
    if len(decided):
        sentences.append("Decided: " + "; ".join(map(_decided, decided.itertuples())) + ".")
    if len(open_rows):
        sentences.append("Not decided: " + "; ".join(
            f"{r.text} ({r.ours:+.3f}; to tell it from 0: {r.to_tell_ours_from_0}; to detect the claimed "
            f"{r.paper:+.3g}: {r.to_detect_claim})" for r in open_rows.itertuples()) + ".")
    if stand_in:
        sentences.append("All of this is measured on the stand-in model, not the paper's: what a step changes may "
                         "carry over, what a config reaches does not.")
    return sentences


def _outside_our_ci(row) -> str:
    """Where our CI excludes the paper's value: said, with whether the paper's own run could still have shown it."""
    if row.claimed_size == stats.INSIDE:
        return ""
    text = f" Our {_level(row)} CI excludes the paper's {row.paper:+.3f}"
    if row.paper_noise == "inside":
        return text + (f", yet one run of the paper's design could still have produced it: ours lies inside the "
                       f"{_level(row)} replication interval [{row.replication_low:+.3f}, {row.replication_high:+.3f}].")
    return text + (f", and ours lies outside the {_level(row)} replication interval: the paper's own noise does not "
                   f"explain the difference.")


def _decided(row) -> str:
    """A decided row's claim and verdict, with what qualifies it: fragile, and its caveat (near chance)."""
    fragile = pd.notna(row.fragile) and row.fragile  # a numpy bool, or NaN where stability was not computed
    qualifiers = [f"fragile (a repeated experiment would give it {row.stability:.0%} of the time)"] if fragile else []
    qualifiers += [row.caveat] if isinstance(row.caveat, str) and row.caveat else []
    return f"{row.text} — " + ", ".join([row.verdict.removesuffix(STAND_IN), *qualifiers])
