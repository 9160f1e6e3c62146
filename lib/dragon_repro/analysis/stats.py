"""Statistics for auditing the paper's claims: paired tests, CIs, power and verdicts.

The paper reports accuracy 72.0% -> 85.2% "p < .001" on a 100-case validation set
without naming the test or the number of runs, so every function here is paired
(both models see the same cases/seeds) and returns intervals, not just p-values.

The verdicts rest on `crossed_estimate`: a metric's mean over a seeds x cases design (every seed's run scored on the
same cases), with its variance from the design's variance components (between seeds, between cases, and their
interaction) and a t interval on S - 1 degrees of freedom. It is valid at 3 seeds, where resampling the seeds is
not (3 seeds give 10 distinct resamples, none outside the observed range): tests/test_stats.py simulates the design
and checks both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sps
from scipy.optimize import brentq
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint

METRICS = ("accuracy", "precision", "recall", "f1", "fp_per_100")  # the per-case values here (measures.MEASURES)


@dataclass(frozen=True)
class McNemarResult:
    """Discordant-pair counts and exact McNemar p-value."""

    a_only_correct: int
    b_only_correct: int
    pvalue: float


@dataclass(frozen=True)
class DeltaCI:
    """Observed metric difference (b - a) with a bootstrap percentile CI."""

    delta: float
    low: float
    high: float


@dataclass(frozen=True)
class CrossedEstimate:
    """A metric's mean over S seeds x N cases, and the variance components behind it.

    `seed_variance`, `case_variance` and `residual_variance` are the design's components (between-seed, between-case,
    interaction and noise), each estimated from its mean square and truncated at 0; `variance` is the estimate's,
    `df` its degrees of freedom (S - 1)."""

    estimate: float
    n_seeds: int
    n_cases: int
    seed_variance: float
    case_variance: float
    residual_variance: float
    variance: float
    df: float

    def variance_at(self, n_seeds: int, n_cases: int) -> float:
        """The variance the same components give an estimate over `n_seeds` x `n_cases`."""
        return (self.seed_variance / n_seeds + self.case_variance / n_cases
                + self.residual_variance / (n_seeds * n_cases))

    def rescaled(self, estimate: float, scale: float) -> "CrossedEstimate":
        """The same design with another estimate and every variance component times `scale`."""
        return replace(self, estimate=estimate, seed_variance=scale * self.seed_variance,
                       case_variance=scale * self.case_variance, residual_variance=scale * self.residual_variance,
                       variance=scale * self.variance)

    def interval(self, confidence: float) -> tuple[float, float]:
        if not self.variance >= 0 or not self.df > 0:
            return math.nan, math.nan
        half = sps.t.ppf(0.5 + confidence / 2, self.df) * math.sqrt(self.variance)
        return self.estimate - half, self.estimate + half


@dataclass(frozen=True)
class SeedSummary:
    """Mean, SD (ddof=1) and t-based CI of a metric over seeds."""

    n: int
    mean: float
    sd: float
    low: float
    high: float


@dataclass(frozen=True)
class SeedComparison:
    """Mean paired difference (b - a) over seeds, its CI and test p-value."""

    delta_mean: float
    low: float
    high: float
    pvalue: float
    test: str


def _paired_arrays(y_true, pred_a, pred_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the three inputs as equal-length 1-D integer arrays."""
    arrays = [np.asarray(x).astype(int).ravel() for x in (y_true, pred_a, pred_b)]
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"y_true, pred_a, pred_b must have equal length, got {[a.size for a in arrays]}")
    return arrays[0], arrays[1], arrays[2]


def _check_metric(metric: str) -> None:
    """Raise ValueError for an unsupported metric name."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def _metric(y_true: np.ndarray, pred: np.ndarray, metric: str) -> float:
    """Score one prediction vector with sklearn (fp_per_100 by counting)."""
    if metric == "fp_per_100":
        return float(100 * np.mean((y_true == 0) & (pred == 1)))
    scorer = {"accuracy": accuracy_score, "precision": precision_score, "recall": recall_score, "f1": f1_score}[metric]
    return float(scorer(y_true, pred) if metric == "accuracy" else scorer(y_true, pred, zero_division=0))


def _metric_rows(y_true: np.ndarray, pred: np.ndarray, metric: str) -> np.ndarray:
    """Score each row of a 2-D (resample, example) prediction array; y_true may be 1-D."""
    # sklearn scores one vector per call; thousands of resamples need a vectorised form.
    if metric == "accuracy":
        return (y_true == pred).mean(axis=1)
    tp = np.sum((y_true == 1) & (pred == 1), axis=1)
    fp = np.sum((y_true == 0) & (pred == 1), axis=1)
    fn = np.sum((y_true == 1) & (pred == 0), axis=1)
    if metric == "fp_per_100":
        return 100 * fp / pred.shape[1]
    numerator, denominator = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}[metric]
    return np.divide(numerator, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def mcnemar_exact(y_true, pred_a, pred_b) -> McNemarResult:
    """Exact (binomial) McNemar test on the two models' discordant cases."""
    y, a, b = _paired_arrays(y_true, pred_a, pred_b)
    ca, cb = a == y, b == y
    table = [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]]
    res = mcnemar(table, exact=True)
    return McNemarResult(int(table[0][1]), int(table[1][0]), float(res.pvalue))


def mcnemar_one_sided(y_true, pred_a, pred_b) -> float:
    """Exact one-sided McNemar p-value for "b is right more often than a": P(X >= b-only | discordant, 1/2)."""
    result = mcnemar_exact(y_true, pred_a, pred_b)
    discordant = result.a_only_correct + result.b_only_correct
    return float(sps.binom.sf(result.b_only_correct - 1, discordant, 0.5)) if discordant else 1.0


def paired_bootstrap_ci(
    y_true,
    pred_a,
    pred_b,
    metric: str = "accuracy",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    paired: bool = True,
) -> DeltaCI:
    """Percentile bootstrap CI for metric(b) - metric(a) over resampled examples.

    paired=True resamples both models on the same case indices, which is correct
    here because both models predict the same cases. paired=False resamples each
    model independently; it ignores the correlation between their errors and so
    gives a too-wide CI. It is wrong for paired data and exists only for comparison.
    """
    _check_metric(metric)
    y, a, b = _paired_arrays(y_true, pred_a, pred_b)
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, y.size, size=(n_resamples, y.size))
    idx_b = idx_a if paired else rng.integers(0, y.size, size=(n_resamples, y.size))
    deltas = _metric_rows(y[idx_b], b[idx_b], metric) - _metric_rows(y[idx_a], a[idx_a], metric)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return DeltaCI(_metric(y, b, metric) - _metric(y, a, metric), float(low), float(high))


def case_values(y_true, pred, metric: str) -> np.ndarray:
    """Per-case values whose mean is the metric: exact for accuracy and false positives per 100, the metric's
    linearisation (delta method) for precision, recall and F1, so that a crossed design can carry any of them."""
    _check_metric(metric)
    y, p = (np.asarray(x).astype(int).ravel() for x in (y_true, pred))
    if metric == "accuracy":
        return (y == p).astype(float)
    tp, fp, fn = ((y == 1) & (p == 1)).astype(float), ((y == 0) & (p == 1)).astype(float), ((y == 1) & (p == 0)).astype(float)
    if metric == "fp_per_100":
        return 100 * fp
    numerator, denominator = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}[metric]
    total = denominator.sum()
    if total == 0:
        return np.zeros(y.size)
    value = numerator.sum() / total
    return value + y.size * (numerator - value * denominator) / total


def crossed_estimate(values) -> CrossedEstimate:
    """The mean of a seeds x cases array (a row per seed, the same cases in every row) with the two-way random-effects
    variance of that mean: sigma2_seed / S + sigma2_case / N + sigma2_residual / (S N), each component from its mean
    square (truncated at 0), on S - 1 degrees of freedom. S - 1 is the conservative choice: Satterthwaite's degrees
    of freedom covered only 92% at 95% in the simulation with 3 seeds and a small seed spread; S - 1 covers at
    least 95% in every simulated design (tests/test_stats.py)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"a crossed estimate needs at least 2 seeds and 2 cases; got shape {x.shape}")
    n_seeds, n_cases = x.shape
    grand, seed_means, case_means = x.mean(), x.mean(axis=1), x.mean(axis=0)
    squares = {"seed": n_cases * np.sum((seed_means - grand) ** 2) / (n_seeds - 1),
               "case": n_seeds * np.sum((case_means - grand) ** 2) / (n_cases - 1),
               "residual": np.sum((x - seed_means[:, None] - case_means[None, :] + grand) ** 2)
               / ((n_seeds - 1) * (n_cases - 1))}
    seed_variance = max(0.0, (squares["seed"] - squares["residual"]) / n_cases)
    case_variance = max(0.0, (squares["case"] - squares["residual"]) / n_seeds)
    estimate = CrossedEstimate(float(grand), n_seeds, n_cases, seed_variance, case_variance,
                               float(squares["residual"]), 0.0, float(n_seeds - 1))
    return replace(estimate, variance=estimate.variance_at(n_seeds, n_cases))


def replication_interval(claimed: float, ours: CrossedEstimate, paper_seeds: float = 1, paper_cases: float = 100,
                         confidence: float = 0.95) -> tuple[float, float]:
    """Where our estimate should fall if the paper's value and ours measure the same thing (Patil, Peng & Leek 2016):
    the paper's value +/- the quantile times the root of the sum of both sampling variances, the paper's from its
    assumed design (config/paper_claims.yaml: paper_design) at our variance components."""
    spread = math.sqrt(ours.variance + ours.variance_at(paper_seeds, paper_cases))
    half = sps.t.ppf(0.5 + confidence / 2, ours.df) * spread if ours.df > 0 else math.nan
    return claimed - half, claimed + half


def paper_interval(claimed: float, ours: CrossedEstimate, paper_seeds: float = 1, paper_cases: float = 100,
                   confidence: float = 0.95) -> tuple[float, float]:
    """The paper's own uncertainty: its value +/- the normal quantile times its design's standard error at our
    variance components."""
    half = sps.norm.ppf(0.5 + confidence / 2) * math.sqrt(ours.variance_at(paper_seeds, paper_cases))
    return claimed - half, claimed + half


def clipped(interval: tuple[float, float], bounds: tuple[float, float]) -> tuple[float, float]:
    """An interval cut to the range its measure can take."""
    return max(interval[0], bounds[0]), min(interval[1], bounds[1])


# ---------------------------------------------------------------- power, on the interval's own t

def t_power(effect: float, variance: float, df: float, confidence: float) -> float:
    """The chance that a two-sided t interval at `confidence` on `df` degrees of freedom excludes 0 when the true
    effect is `effect` and the estimate's variance `variance` (noncentral t)."""
    if variance <= 0:
        return float(effect != 0)
    critical, shift = sps.t.ppf(0.5 + confidence / 2, df), abs(effect) / math.sqrt(variance)
    if math.isinf(df):
        return float(sps.norm.sf(critical - shift) + sps.norm.cdf(-critical - shift))
    # scipy's noncentral t gives NaN for a far tail that is 0
    return float(sps.nct.sf(critical, df, shift) + np.nan_to_num(sps.nct.cdf(-critical, df, shift)))


def detectable_effect(ours: CrossedEstimate, confidence: float, power: float = 0.8) -> float:
    """The smallest true effect our seeds and cases detect with `power`: the interval at `confidence`, t on its own
    S - 1 degrees of freedom, excludes 0 that often."""
    if not ours.variance > 0:
        return 0.0
    se = math.sqrt(ours.variance)
    shift = brentq(lambda s: t_power(s * se, ours.variance, ours.df, confidence) - power, 0.0, 1e6)
    return shift * se


def seeds_needed(ours: CrossedEstimate, effect: float, confidence: float, power: float = 0.8,
                 most: int = 100, n_cases: int | None = None) -> int | None:
    """The fewest seeds per side (at least 2) whose interval, at `n_cases` cases (ours by default) and our variance
    components, t on S - 1 df, excludes 0 with `power` when the true effect is `effect`; None past `most`."""
    n_cases = n_cases or ours.n_cases
    return next((s for s in range(2, most + 1)
                 if t_power(effect, ours.variance_at(s, n_cases), s - 1, confidence) >= power), None)


def budget_needed(ours: CrossedEstimate, effect: float, confidence: float, power: float = 0.8, most_seeds: int = 100,
                  most_cases: int | None = None) -> str:
    """What would detect a true `effect` with `power` at `confidence`: seeds per side at our cases, else at the most
    cases there are (`most_cases`), else "not decidable here", naming the resource that runs out."""
    most_cases = max(most_cases or ours.n_cases, ours.n_cases)
    for cases in dict.fromkeys((ours.n_cases, most_cases)):
        seeds = seeds_needed(ours, effect, confidence, power, most_seeds, cases)
        if seeds is not None:
            return f"{seeds} seeds" + (f" × {cases:,} cases" if cases != ours.n_cases else "")
    if effect == 0:
        return "not decidable here: an effect of 0 cannot be told from 0"
    limit = ours.case_variance / most_cases  # what no number of seeds removes
    if t_power(effect, limit, math.inf, confidence) < power:
        return f"not decidable here: the cases run out (no number of seeds would at {most_cases:,} cases)"
    return f"not decidable here: the seeds run out (more than {most_seeds} even at {most_cases:,} cases)"


def approximate_randomization_pvalue(
    y_true, pred_a, pred_b, metric: str = "f1", n_permutations: int = 5000, seed: int = 0
) -> float:
    """Two-sided paired approximate-randomisation p-value for metric(b) - metric(a)."""
    _check_metric(metric)
    y, a, b = _paired_arrays(y_true, pred_a, pred_b)
    observed = abs(_metric(y, b, metric) - _metric(y, a, metric))
    # Under H0 the two systems are exchangeable per example, so swap each pair with prob 1/2.
    swap = np.random.default_rng(seed).random((n_permutations, y.size)) < 0.5
    perm = _metric_rows(y, np.where(swap, a, b), metric) - _metric_rows(y, np.where(swap, b, a), metric)
    # Tolerance so float noise in F1 does not drop ties that equal the observed delta.
    hits = np.sum(np.abs(perm) >= observed - 1e-12)
    return float((hits + 1) / (n_permutations + 1))


def seed_summary(values, confidence: float = 0.95) -> SeedSummary:
    """Mean, SD and t-based CI of a per-seed metric; SD and CI are NaN for one seed."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("seed_summary needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return SeedSummary(1, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    if sd == 0:  # identical seeds: the interval collapses to the mean (scipy would return NaN)
        return SeedSummary(int(x.size), mean, 0.0, mean, mean)
    low, high = sps.t.interval(confidence, x.size - 1, loc=mean, scale=sd / math.sqrt(x.size))
    return SeedSummary(int(x.size), mean, sd, float(low), float(high))


def compare_over_seeds(values_a, values_b, confidence: float = 0.95) -> SeedComparison:
    """Paired t-test and CI of mean(b - a) over seeds.

    Seed i fixes the data order and initialisation for both configs, so runs with the
    same seed are paired and their difference removes the seed-to-seed variance.
    A paired t-test is used rather than a rank test: with 3-5 seeds the smallest
    two-sided exact Wilcoxon signed-rank p-value is 2/2**n (0.25 for n=3, 0.0625 for
    n=5), so it can never reach p < .05. The t-test assumes roughly normal
    differences, which cannot be checked with so few seeds; report the CI alongside.
    """
    a = np.asarray(values_a, dtype=float).ravel()
    b = np.asarray(values_b, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"values_a and values_b must pair seed by seed; got lengths {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError("compare_over_seeds needs at least two seeds")
    res = sps.ttest_rel(b, a)
    ci = res.confidence_interval(confidence)
    return SeedComparison(float(np.mean(b - a)), float(ci.low), float(ci.high), float(res.pvalue), "paired t-test")


def holm_adjust(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control)."""
    return multipletests(np.asarray(pvalues, dtype=float), method="holm")[1]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion such as accuracy on n cases."""
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def minimum_detectable_difference(
    n: int, baseline: float = 0.72, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest accuracy gain over baseline detectable with n cases per arm.

    Solves a two-sided two-proportion z-test for Cohen's h, h = 2*asin(sqrt(p2)) -
    2*asin(sqrt(p1)), then maps h back to p2. It treats the arms as independent
    samples; that is an approximation here, since a paired design on the same cases
    with correlated errors can detect somewhat smaller gains. Returns NaN when no
    accuracy <= 1 is large enough.
    """
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n, alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    angle = math.asin(math.sqrt(baseline)) + float(h) / 2
    if angle > math.pi / 2:
        return math.nan
    return math.sin(angle) ** 2 - baseline


# ---------------------------------------------------------------- verdicts from three separate facts

# The claimed size against our CI, in the claimed direction for an effect ("larger than our CI": we measured less).
INSIDE, LARGER, SMALLER = "inside our CI", "larger than our CI", "smaller than our CI"
# The words each combination of facts gives: an effect's (direction, claimed size), a level's claimed size.
EFFECT_WORDS = {("claimed direction", INSIDE): "supported", ("claimed direction", LARGER): "smaller than claimed",
                ("claimed direction", SMALLER): "larger than claimed", ("neither", INSIDE): "inconclusive",
                ("neither", LARGER): "claimed size ruled out", ("other direction", LARGER): "contradicted"}
# A level has no 0 to tell it from: "as claimed" also needs our CI within the paper's implied 95% interval (ours
# pins the level down at least as well as the paper's own run did), else it is "inconclusive".
LEVEL_WORDS = {(INSIDE, "narrower"): "as claimed", (INSIDE, "wider"): "inconclusive",
               **{(size, width): word for size, word in ((LARGER, "lower than claimed"),
                                                         (SMALLER, "higher than claimed"))
                  for width in ("narrower", "wider")}}
# Added to a word whose CI excludes the claimed value while our estimate lies inside the replication interval: the
# paper's one run could still have produced its value.
WITHIN_NOISE = ", within the paper's noise"
_WORDS = [*EFFECT_WORDS.values(), *LEVEL_WORDS.values()]
VERDICTS = tuple(dict.fromkeys(_WORDS + [w + WITHIN_NOISE for w in _WORDS
                                         if w not in ("supported", "inconclusive", "as claimed")]))


def verdict_facts(low: float, high: float, claimed: float, estimate: float | None = None,
                  replication: tuple[float, float] | None = None, effect: bool = True,
                  paper: tuple[float, float] | None = None) -> dict | None:
    """The three facts a verdict rests on, each on its own: `direction` (an effect's CI excludes 0 in the claimed
    direction, the other direction, or neither), `claimed_size` (the paper's value inside our CI, larger or smaller
    than it, read in the claimed direction) and `paper_noise` (our estimate inside or outside the replication
    interval; "" without one); a level's `ci_width` (our CI within the paper's implied interval `paper`,
    "narrower", or not) stands where an effect's direction does. None where the CI is unknown."""
    if any(math.isnan(v) for v in (low, high, claimed)) or (effect and claimed == 0):
        return None
    sign = -1 if effect and claimed < 0 else 1  # turn a claimed decrease into an increase
    low, high = sorted((sign * low, sign * high))
    value = sign * claimed
    noise = "" if replication is None else "inside" if replication[0] <= estimate <= replication[1] else "outside"
    narrower = paper is not None and paper[0] <= low and high <= paper[1]
    return {"direction": ("claimed direction" if low > 0 else "other direction" if high < 0 else "neither")
            if effect else "",
            "ci_width": "" if effect else "narrower" if narrower else "wider",
            "claimed_size": INSIDE if low <= value <= high else LARGER if value > high else SMALLER,
            "paper_noise": noise}


def verdict_word(facts: dict | None) -> str:
    """The verdict the facts give (EFFECT_WORDS or LEVEL_WORDS), never more than they say: a claimed value outside
    our CI is never "supported", and where our estimate lies inside the replication interval the word says so."""
    if facts is None:
        return "inconclusive"
    word = (EFFECT_WORDS[facts["direction"], facts["claimed_size"]] if facts["direction"]
            else LEVEL_WORDS[facts["claimed_size"], facts["ci_width"]])
    return word + (WITHIN_NOISE if facts["claimed_size"] != INSIDE and facts["paper_noise"] == "inside" else "")


def effect_verdict(low: float, high: float, claimed: float, estimate: float | None = None,
                   replication: tuple[float, float] | None = None) -> str:
    """Verdict on a claimed change given a CI [low, high] of the change and, where known, the `replication`
    interval our `estimate` should fall in were the paper's value right (`replication_interval`)."""
    return verdict_word(verdict_facts(low, high, claimed, estimate, replication))


def one_sided_pvalue(ours: CrossedEstimate, direction: float) -> float:
    """One test over every seed's paired outcomes together: the one-sided t test of the crossed estimate (seeds x
    cases variance components, t on S - 1 df) that the effect goes in `direction` (+1 or -1)."""
    if not ours.variance > 0:
        return 0.0 if direction * ours.estimate > 0 else 1.0
    return float(sps.t.sf(direction * ours.estimate / math.sqrt(ours.variance), ours.df))
