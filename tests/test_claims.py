import functools
import zlib

import numpy as np
import pandas as pd
import pytest

from dragon_repro.analysis import claims, measures, paper_claims, stats
from dragon_repro.experiments.records import Run
from dragon_repro.tasks.metrics import LONG_CASE_TOKENS, classification_metrics, metrics_by_length

N = {"validation": 100, "fresh": 400, "long": 300}


@functools.cache
def fake_run(experiment, seed, accuracy, seconds=100.0, memory=1000.0, max_seq_length=512, model="embedded",
             same_as=None):
    """A run whose predictions are right on a chosen fraction of fixed cases (those of `same_as`, if given)."""
    tables = []
    for split, n in N.items():
        rng = np.random.default_rng(zlib.crc32(f"{same_as or experiment}/{split}/{seed}".encode()))
        labels = np.random.default_rng(zlib.crc32(split.encode())).integers(0, 2, n).astype(bool)
        right = rng.random(n) < accuracy
        tables.append(pd.DataFrame({
            "uid": [f"case{i}" for i in range(n)], "label": labels, "prediction": np.where(right, labels, ~labels),
            "probability": np.where(right == labels, 0.8, 0.2),
            "n_tokens": 450 if split == "long" else np.where(np.arange(n) < 4, 450, 120),  # 4 long validation cases
            "truncated": False, "split": split}))
    predictions = pd.concat(tables)
    metrics = {split: classification_metrics(t) | {"by_length": metrics_by_length(t)}
               for split, t in predictions.groupby("split")}
    history = {"epochs": [{"epoch": 1, "seconds": seconds, "train_loss": 0.5, "val_loss": 0.5}]}
    provenance = {"wall_seconds": seconds, "peak_memory_mb": memory, "device": "cpu"}
    config = {"experiment": experiment, "seed": seed, "max_seq_length": max_seq_length, "model": model,
              "restore_best_epoch": True, "long_case_threshold": LONG_CASE_TOKENS}
    return Run(None, config, metrics, history, provenance, predictions)


def ladder_runs(optimized_accuracy=0.98, seeds=range(10), **options):
    runs = [fake_run("baseline", s, 0.60, **options) for s in seeds]
    runs += [fake_run("optimized", s, optimized_accuracy, **options) for s in seeds]
    runs += [fake_run("+lr5e-6", s, 0.60, seconds=100, same_as="baseline", **options) for s in seeds]
    runs += [fake_run("+len1024", s, 0.60, seconds=150, memory=1400, **options) for s in seeds[:1]]
    return runs


@pytest.fixture(scope="module")
def verdicts():
    return claims.verdict_table(ladder_runs()).set_index(["claim", "view"])


def test_a_gain_larger_than_a_replication_of_the_paper_would_give_is_called_so(verdicts):
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert 0.3 < row.ci_low < row.ours < row.ci_high  # measured ~+0.38, the paper claims +0.132
    assert row.replication_high < row.ours  # beyond where a replication of the paper's 100 cases would fall
    assert row.paper_low < 0.132 < row.paper_high < row.replication_high  # the paper's own design, alone
    assert row.verdict == "larger than claimed (stand-in model)" and row.n_seeds == 10 and row.n_cases == 400


def test_every_judged_row_is_in_one_bonferroni_family(verdicts):
    paper = claims.load_claims()
    assert claims.family_size(ladder_runs(), paper) == 10  # 6 metric effects, 4 open-question steps
    assert claims.family_size(ladder_runs(model=paper["model"]), paper) == 18  # and the 8 levels
    assert claims.family_size(ladder_runs(), paper, gpu_costs()) == 16  # and the 6 cost rows judged on a GPU
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert "99.5% (Bonferroni over 10 judged rows)" in row.ci_method
    runs = {(r.config["experiment"], r.config["seed"]): r for r in ladder_runs()}
    y = runs["baseline", 0].predictions.query("split == 'fresh'").label.astype(int).to_numpy()
    fresh = {e: [runs[e, s].predictions.query("split == 'fresh'").prediction.astype(int) for s in range(10)]
             for e in ("baseline", "optimized")}
    differences = np.array([stats.case_values(y, b, "accuracy") - stats.case_values(y, a, "accuracy")
                            for a, b in zip(fresh["baseline"], fresh["optimized"])])
    plain = stats.crossed_estimate(differences).interval(0.95)
    assert row.ci_low < plain[0] and plain[1] < row.ci_high  # wider than the plain 95% interval


def test_levels_on_a_stand_in_model_are_not_judged(verdicts):
    for claim in ("baseline_accuracy", "optimized_accuracy", "final_validation_loss"):
        assert set(verdicts.loc[claim].verdict) <= {"different model", "descriptive"}
    assert verdicts.loc[("baseline_accuracy", "fresh")].verdict == "different model"
    assert verdicts.loc[("baseline_accuracy", "fresh")].ours == pytest.approx(0.60, abs=0.03)  # still shown


def test_levels_on_the_papers_model_are_judged_against_a_replication_of_its_100_cases():
    paper_model = claims.load_claims()["model"]
    runs = [r for r in ladder_runs(model=paper_model) if r.config["experiment"] != "baseline"]
    runs += [fake_run("baseline", s, 0.40, model=paper_model) for s in range(10)]
    table = claims.verdict_table(runs).set_index(["claim", "view"])
    row = table.loc[("baseline_accuracy", "fresh")]
    assert row.verdict == "lower than claimed"  # ~0.40 vs 0.720 on 100 cases
    assert (row.claimed_size, row.paper_noise) == (stats.LARGER, "outside")
    near = [r for r in runs if r.config["experiment"] != "baseline"]
    near += [fake_run("baseline", s, 0.64, model=paper_model) for s in range(10)]
    row = claims.verdict_table(near).set_index(["claim", "view"]).loc[("baseline_accuracy", "fresh")]
    # outside our CI, inside the paper's own noise: never "supported", and the word says both
    assert row.ci_high < 0.72 and row.verdict == "lower than claimed, within the paper's noise"


def test_a_levels_interval_stays_within_what_a_proportion_can_be():
    runs = [fake_run(e, s, a) for e, a in (("baseline", 0.97), ("optimized", 0.99)) for s in range(2)]
    table = claims.verdict_table(runs).set_index(["claim", "view"])
    row = table.loc[("optimized_accuracy", "fresh")]  # 2 seeds: a t interval on 1 df, wide
    assert 0.0 <= row.ci_low < row.ours < row.ci_high == 1.0 and row.replication_high <= 1.0


def test_no_change_at_all_rules_out_a_claimed_gain(verdicts):
    row = verdicts.loc[("lr_step", "fresh")]  # the very same predictions: no variance on either side
    assert row.ci_low == row.ours == row.ci_high == 0
    assert row.verdict == "claimed size ruled out (stand-in model)"


def test_no_gain_rules_out_the_claimed_size_and_says_the_papers_noise_could_still_show_it():
    runs = [r for r in ladder_runs() if r.config["experiment"] != "optimized"]
    runs += [fake_run("optimized", s, 0.60) for s in range(10)]  # as good as the baseline, other errors
    row = claims.verdict_table(runs).set_index(["claim", "view"]).loc[("overall_accuracy_gain", "fresh")]
    assert row.ci_low < 0 < row.ci_high < 0.132 and row.replication_low < row.ours
    assert (row.direction, row.claimed_size, row.paper_noise) == ("neither", stats.LARGER, "inside")
    assert row.verdict == "claimed size ruled out, within the paper's noise (stand-in model)"
    assert row.to_detect_claim == "5 seeds"  # the claimed +0.132 would be easy to see here
    assert row.to_tell_ours_from_0.startswith("not decidable here")  # no gain to tell from 0


def test_fewer_than_three_seeds_are_too_few(verdicts):
    assert verdicts.loc[("length_step", "fresh")].verdict == "too few seeds"  # +len1024 has one seed
    assert verdicts.loc[("length_step", "fresh")].n_seeds == 1
    two_shared = [r for r in ladder_runs() if not (r.config["experiment"] == "optimized" and r.config["seed"] >= 2)]
    row = claims.verdict_table(two_shared).set_index(["claim", "view"]).loc[("overall_accuracy_gain", "fresh")]
    assert row.n_seeds == 2 and row.verdict == "too few seeds"  # 10 baseline seeds, but only 2 shared


def test_every_judged_row_carries_power_and_stability(verdicts):
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert 0 < row.detectable < 0.1 and row.to_detect_claim == "4 seeds"  # a +0.132 gain is easy to detect here
    assert row.to_tell_ours_from_0 == "3 seeds"  # a +0.38 gain easier still
    assert row.stability >= 0.9 and not row.fragile
    at_three = claims.verdict_table(ladder_runs(seeds=range(3))).set_index(["claim", "view"])
    row = at_three.loc[("overall_accuracy_gain", "fresh")]
    assert row.detectable > verdicts.loc[("overall_accuracy_gain", "fresh")].detectable  # 3 seeds see less
    assert 0 <= row.stability <= 1 and row.fragile == (row.stability < 0.8)


def test_long_case_f1_on_a_baseline_at_chance_is_marked_so(verdicts):
    row = verdicts.loc[("long_case_f1", "fresh")]
    assert row.n_cases == 300 and row.verdict.removesuffix(claims.STAND_IN) in stats.VERDICTS
    assert "long-set accuracy" in row.beside and "AUC" in row.beside
    assert row.caveat == ""  # the fake baseline is right on 60% of long cases, not at chance
    at_chance = [r for r in ladder_runs() if r.config["experiment"] != "baseline"]
    at_chance += [fake_run("baseline", s, 0.50) for s in range(10)]
    row = claims.verdict_table(at_chance).set_index(["claim", "view"]).loc[("long_case_f1", "fresh")]
    assert row.caveat == claims.NEAR_CHANCE


def test_the_plain_answer_qualifies_a_fragile_or_near_chance_decision_and_says_what_would_decide_the_rest():
    judged = dict(view=claims.JUDGED_VIEW, kind="effect", paper=0.1, ci_low=0.0, ci_high=0.2, n_seeds=10, family=10,
                  to_detect_claim="4 seeds", to_tell_ours_from_0="3 seeds")
    table = pd.DataFrame([
        judged | dict(claim="long_case_f1", text="long-case F1", ours=0.4, verdict="supported" + claims.STAND_IN,
                      fragile=np.True_, stability=0.6, caveat=claims.NEAR_CHANCE),
        judged | dict(claim="false_positives", text="fewer false positives", ours=-4.0, verdict="supported",
                      fragile=np.False_, stability=1.0, caveat=""),
        judged | dict(claim="lr_step", text="the lr step", ours=0.031, verdict="inconclusive" + claims.STAND_IN,
                      fragile=float("nan"), stability=1.0, caveat="", to_tell_ours_from_0="18 seeds × 1,000 cases")])
    answer = claims.plain_answer(table)
    assert (f"Decided: long-case F1 — supported, fragile (a repeated experiment would give it 60% of the time), "
            f"{claims.NEAR_CHANCE}; fewer false positives — supported.") in answer
    assert ("Not decided: the lr step (+0.031; to tell it from 0: 18 seeds × 1,000 cases; to detect the claimed +0.1: "
            "4 seeds).") in answer


def test_the_plain_answer_says_when_the_headline_ci_excludes_the_claim_and_names_every_level():
    row = dict(view=claims.JUDGED_VIEW, kind="effect", claim="overall_accuracy_gain", text="accuracy", paper=0.132,
               ours=-0.008, ci_low=-0.069, ci_high=0.053, paper_low=0.02, paper_high=0.24, replication_low=-0.09,
               replication_high=0.354, n_seeds=10, family=10, direction="neither", claimed_size=stats.LARGER,
               paper_noise="inside", verdict="claimed size ruled out, within the paper's noise" + claims.STAND_IN,
               fragile=np.False_, stability=1.0, caveat="", to_detect_claim="3 seeds", to_tell_ours_from_0="x",
               paper_design="1 run × 100 cases, assumed")
    headline = claims.plain_answer(pd.DataFrame([row]))[0]
    assert "[99.5% CI -0.069, +0.053]" in headline
    assert "its design (1 run × 100 cases, assumed) puts in [95% +0.020, +0.240]" in headline
    assert ("Our 99.5% CI excludes the paper's +0.132, yet one run of the paper's design could still have produced "
            "it: ours lies inside the 99.5% replication interval [-0.090, +0.354].") in headline


def test_a_long_case_view_with_four_cases_is_not_testable(verdicts):
    row = verdicts.loc[("long_case_f1", "validation")]
    assert row.n_cases == 4 and row.verdict == "not testable"


def test_significance_is_one_test_over_every_seed(verdicts):
    row = verdicts.loc[("significance", "fresh")]
    assert row.ours < 1e-3 and row.verdict == "supported" and row.ci_method == claims.SIGNIFICANCE_TEST
    assert verdicts.loc[("significance", "validation")].verdict == "descriptive"


def test_one_seed_without_a_difference_weighs_in_but_does_not_veto_the_rest(verdicts):
    runs = [r for r in ladder_runs() if not (r.config["experiment"] == "optimized" and r.config["seed"] == 2)]
    runs.append(fake_run("optimized", 2, 0.60, same_as="baseline"))  # seed 2: the very same predictions
    row = claims.verdict_table(runs).set_index(["claim", "view"]).loc[("significance", "fresh")]
    # ff4ccf4 took the largest p over seeds: 1.0 here, "inconclusive"
    assert row.n_seeds == 10 and row.ours < 1e-3 and row.verdict == "supported"
    assert row.ours > verdicts.loc[("significance", "fresh")].ours  # but it does weigh: the p rises


def test_a_worse_model_is_never_significant_in_the_claimed_direction():
    table = claims.verdict_table(ladder_runs(optimized_accuracy=0.30)).set_index(["claim", "view"])
    row = table.loc[("significance", "fresh")]
    assert row.verdict == "contradicted" and row.ours > 0.5
    assert table.loc[("overall_accuracy_gain", "fresh")].verdict == "contradicted (stand-in model)"


def test_the_validation_view_is_descriptive_and_marked_selection_biased(verdicts):
    row = verdicts.loc[("overall_accuracy_gain", "validation")]
    assert row.selection_biased and row.verdict == "descriptive" and "not judged" in row.ci_method
    assert not verdicts.loc[("overall_accuracy_gain", "fresh")].selection_biased


def test_claims_without_runs_are_marked_not_run(verdicts):
    assert verdicts.loc[("medical_step", "validation")].verdict == "not run"  # no +epochs8 runs here


def bench_costs(time_padded, time_aware, real_architecture=True, hardware="cpu (x86_64), AVX2, 1 thread(s)",
                processes=1):
    """bench.cost_table's shape: relative cost [CI] per way of batching and measure."""
    rows = [{"batching": mode, "measure": measure, "relative": value, "ci_low": value - 0.03,
             "ci_high": value + 0.03, "timed_steps": 5 * processes, "processes": processes}
            for mode, time in (("padded", time_padded), ("length-aware", time_aware), ("exact", time_aware))
            for measure, value in (("time per step", time), ("peak memory", 0.40))]
    return pd.DataFrame(rows).assign(real_architecture=real_architecture, model="dragon-shaped-base",
                                     hardware=hardware)


def gpu_costs(processes=3):
    return bench_costs(0.55, 0.04, hardware="NVIDIA H200, 1 thread(s)", processes=processes)


def test_cost_claims_are_judged_on_a_gpu_benchmark_per_way_of_batching():
    table = claims.verdict_table(ladder_runs(), costs=gpu_costs()).set_index(["claim", "view"])
    assert table.loc[("time_1024", "padded")].verdict == "supported"  # +55% [52, 58] holds the claimed +52%
    assert table.loc[("time_1024", "length-aware")].verdict == "smaller than claimed"  # +4% [1, 7]
    assert table.loc[("memory_1024", "exact")].verdict == "supported"  # +40% [37, 43] holds +39%
    assert "dragon-shaped-base on NVIDIA H200" in table.loc[("time_1024", "padded")].ci_method
    assert table.loc[("time_1024", "padded")].n_steps == 15
    one_process = claims.verdict_table(ladder_runs(), costs=gpu_costs(processes=1)).set_index(["claim", "view"])
    assert one_process.loc[("time_1024", "padded")].verdict == "different hardware"  # no drift in its interval


def test_cost_claims_on_a_cpu_another_architecture_or_without_a_benchmark_are_not_judged():
    on_cpu = claims.verdict_table(ladder_runs(), costs=bench_costs(0.55, 0.04)).set_index(["claim", "view"])
    assert on_cpu.loc[("time_1024", "padded")].verdict == "different hardware"
    assert on_cpu.loc[("time_1024", "padded")].ours == 0.55  # the value is shown
    other = claims.verdict_table(ladder_runs(), costs=bench_costs(0.55, 0.04, real_architecture=False))
    assert set(other[other.claim.isin(["time_1024", "memory_1024"])].verdict) == {"different model"}
    none = claims.verdict_table(ladder_runs()).set_index(["claim", "view"])
    assert none.loc[("time_1024", "benchmark")].verdict == "not run"


def test_the_papers_numbers_live_only_in_the_claims_file():
    paper = paper_claims.load_claims()
    assert "2507.09470" in paper["source"]
    values = {c["id"]: c["value"] for c in paper["claims"]}
    assert values["baseline_accuracy"] == 0.720 and values["optimized_accuracy"] == 0.852


def test_implied_accuracy_by_hand():
    # 15 false positives at precision 0.75 -> 45 true positives; recall 0.9 -> 5 false negatives
    assert paper_claims.implied_accuracy(0.75, 0.9, 15) == pytest.approx(0.80)


def test_the_overview_names_the_evidence_of_each_kind_of_row():
    from dragon_repro.presentation.formatting import verdict_overview
    table = claims.verdict_table(ladder_runs(), costs=gpu_costs())
    costs = verdict_overview(table[table.claim == "time_1024"]).iloc[0]
    assert costs["padded: evidence"] == "15 timed steps per length" and costs["padded: verdict"] == "supported"
    gain = verdict_overview(table[table.claim == "overall_accuracy_gain"]).iloc[0]
    assert gain["fresh (primary): evidence"].startswith("10 seeds, 400 cases; detects ≥ 0.0")
    assert gain["paper"].startswith("0.132 [")  # with the paper's own interval
    facts = {k.removeprefix("fresh (primary): "): v for k, v in gain.items() if k.startswith("fresh (primary)")}
    assert (facts["direction"], facts["claimed size"], facts["ours vs the replication interval"]) == (
        "claimed direction", stats.SMALLER, "outside")  # each fact its own column: "larger than claimed"


def test_a_styled_table_has_the_same_html_every_time_and_its_own_ids():
    from dragon_repro.presentation.formatting import styled
    a, b = pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [3.0, 4.0]})
    assert styled(a).to_html() == styled(a.copy()).to_html()
    assert styled(a).uuid != styled(b).uuid  # two tables on one page never share CSS ids


def fake_multiclass_run(experiment, seed, accuracy, same_as=None):
    """A Task102-like run: five ordinal classes "0"-"4", right on a chosen fraction of fixed fresh cases."""
    classes = ["0", "1", "2", "3", "4"]
    n = N["fresh"]
    rng = np.random.default_rng(zlib.crc32(f"{same_as or experiment}/mc/{seed}".encode()))
    labels = np.random.default_rng(7).integers(0, 5, n)
    right = rng.random(n) < accuracy
    table = pd.DataFrame({"uid": [f"case{i}" for i in range(n)], "label": labels.astype(str),
                          "prediction": np.where(right, labels, (labels + 1) % 5).astype(str),
                          "probability": 0.5, "n_tokens": 120, "truncated": False, "split": "fresh"})
    metrics = {"fresh": classification_metrics(table, classes, "linear_kappa") |
               {"by_length": metrics_by_length(table, LONG_CASE_TOKENS, classes, "linear_kappa")}}
    config = {"experiment": experiment, "seed": seed, "model": "embedded", "long_case_threshold": LONG_CASE_TOKENS}
    return Run(None, config, metrics, {}, {}, table)


def test_the_open_question_is_asked_of_task102_by_the_same_rule_and_family_beside_task101():
    task102 = [fake_multiclass_run("baseline", s, 0.45) for s in range(10)]
    task102 += [fake_multiclass_run("+lr5e-6", s, 0.45, same_as="baseline") for s in range(10)]
    task102 += [fake_multiclass_run("optimized", s, 0.95) for s in range(10)]
    task101 = ladder_runs()
    table = claims.transfer_table({"Task102": task102, "Task101": task101})
    rows = table.set_index(["task", "claim"])
    overall = rows.loc[("Task102", "overall_accuracy_gain")]
    assert overall.kind == "open question" and overall.step == "baseline → optimized"
    assert overall.verdict == "larger than claimed (stand-in model)" and 0.4 < overall.ours < 0.6
    assert overall.n_seeds == 10 and "Bonferroni over 10 judged rows" in overall.ci_method
    assert overall.dragon_low > 0  # the DRAGON metric (linear kappa) rises with accuracy
    assert rows.loc[("Task102", "lr_step")].ours == 0 and not rows.loc[("Task102", "lr_step")].verdict.startswith("supported")
    assert rows.loc[("Task102", "medical_step")].verdict == "not run"
    # the same comparison shows the same interval here as in the verdict table
    task101_row = rows.loc[("Task101", "overall_accuracy_gain")]
    verdict_row = claims.verdict_table(task101).set_index(["claim", "view"]).loc[("overall_accuracy_gain", "fresh")]
    assert (task101_row.ci_low, task101_row.ci_high, task101_row.verdict) == \
        (verdict_row.ci_low, verdict_row.ci_high, verdict_row.verdict)
    assert list(claims.transfer_table({"Task102": task102, "Task101": []}).task.unique()) == ["Task102"]


def test_the_papers_design_is_stated_per_row_and_its_intervals_stay_within_the_measures_range(verdicts):
    paper = {c["id"]: c for c in claims.load_claims()["claims"]}
    assert claims.load_claims()["paper_design"] == {"seeds": 1, "cases": 100}
    judged = verdicts[verdicts.replication_low.notna()]
    assert len(judged) >= 5
    for (claim, _), row in judged.iterrows():
        low, high = claims.measure_range(paper[claim])
        assert low <= row.paper_low <= row.paper_high <= high
        assert low <= row.replication_low <= row.replication_high <= high
    assert verdicts.loc[("overall_accuracy_gain", "fresh")].paper_design == "1 run × 100 cases, assumed"
    long_case = verdicts.loc[("long_case_f1", "fresh")]
    assert long_case.paper_design == "1 run × 4 cases, assumed"  # the long cases our validation splits hold
    assert long_case.replication_high == 1.0  # an F1 difference cannot pass 1 (ff4ccf4: [-1.11, +1.45])


def test_holm_adjusts_every_seeds_test_over_the_same_comparison_family():
    from dragon_repro.analysis import stat_tables
    runs = ladder_runs()
    comparisons = [("baseline", "optimized"), ("baseline", "+lr5e-6"), ("+lr5e-6", "+len1024")]  # 10, 10, 1 seeds
    table = stat_tables.paired_tests(runs, comparisons, splits=("fresh",), n_resamples=20, n_permutations=20)
    assert len(table) == 21
    # ff4ccf4 adjusted seed 0 over 3 tests and seeds 1-9 over 2
    np.testing.assert_allclose(table.mcnemar_p_holm, stats.holm_adjust(table.mcnemar_p))


def test_each_verdict_word_has_its_own_colour_in_the_forest_plot():
    from dragon_repro.presentation.plots import FOREST_COLOURS
    words = {v.removesuffix(stats.WITHIN_NOISE) for v in stats.VERDICTS} | {"different model", "different hardware"}
    assert words <= set(FOREST_COLOURS) and len(set(FOREST_COLOURS.values())) == len(FOREST_COLOURS)


# ---------------------------------------------------------------- one table of measures

def _with(paper, *extra):
    return paper | {"claims": paper["claims"] + list(extra)}


@pytest.mark.parametrize("name", list(measures.MEASURES))
def test_a_claim_on_any_measure_in_the_table_runs_through_the_verdicts(name):
    measure, paper = measures.MEASURES[name], claims.load_claims()
    kind = "pvalue" if name == "pvalue" else "effect"
    claim = {"id": "new_claim", "kind": kind, "from": "baseline", "to": "optimized", "value": 0.001,
             **({"measure": "metric", "metric": name} if measure.headline else {"measure": name})}
    table = claims.verdict_table(ladder_runs(), _with(paper, claim), gpu_costs()).set_index("claim").loc[["new_claim"]]
    judged = table[table.view == claims.JUDGED_VIEW]
    if measure.benchmark:  # from the benchmark, a row per way of batching
        assert list(table.view) == ["padded", "length-aware", "exact"] and table.ours.notna().all()
    elif measure.case_value:  # judged on fresh cases (the long set for long cases)
        assert len(judged) == 1 and judged.ours.notna().all() and judged.n_seeds.iloc[0] == 10
    else:  # one value per run (roc_auc crashed 00_verdicts, stats.METRICS did not know it): shown, not judged
        assert list(table.view) == ["validation"] and table.verdict.iloc[0] == "descriptive"
        assert table.ours.notna().all()


def test_a_claim_enters_the_family_once_and_only_accuracy_steps_are_asked_again_of_task102():
    paper, runs = claims.load_claims(), ladder_runs()
    f1_step = {"id": "f1_step", "kind": "effect", "measure": "metric", "metric": "f1", "from": "baseline",
               "to": "optimized", "value": 0.1, "text": "F1 step"}
    accuracy_step = f1_step | {"id": "accuracy_step", "metric": "accuracy"}
    size = claims.family_size(runs, paper)
    assert claims.family_size(runs, _with(paper, f1_step)) == size + 1  # not also as an open-question step
    # an accuracy step is one comparison on Task101 and one on Task102 (its Task101 open-question row is its own)
    assert claims.family_size(runs, _with(paper, accuracy_step)) == size + 2
    task102 = [fake_multiclass_run(e, s, 0.5) for e in ("baseline", "optimized") for s in range(3)]
    transfer = claims.transfer_table({"Task102": task102, "Task101": runs}, _with(paper, f1_step, accuracy_step))
    assert set(transfer.claim) == {c["id"] for c in claims.open_question_steps(paper)} | {"accuracy_step"}
    row = transfer.set_index(["task", "claim"]).loc[("Task102", "accuracy_step")]
    assert f"Bonferroni over {size + 3} judged rows" in row.ci_method


def test_the_measures_table_names_every_measure_of_the_papers_claims():
    for claim in claims.load_claims()["claims"]:
        assert measures.of(claim) is measures.MEASURES[claim.get("metric", claim["measure"])]
    with pytest.raises(ValueError, match=r"^config/paper_claims.yaml: claim 'x': unknown measure 'mae' \(known: "):
        measures.of({"id": "x", "kind": "effect", "measure": "mae"})
    with pytest.raises(ValueError, match="per-case value 'mae' is not one of stats.METRICS"):
        measures.Measure("mae", "mae")
    assert measures.claim_on(claims.load_claims(), "long_case_f1")["id"] == "long_case_f1"  # 22_long_cases' subject
    with pytest.raises(ValueError, match="claims on 'accuracy', expected one"):
        measures.claim_on(claims.load_claims(), "accuracy")


def test_the_forest_draws_each_change_as_a_share_of_the_cases_by_its_measure_not_its_claim_id():
    from dragon_repro.presentation import plots
    paper = claims.load_claims()
    renamed = paper | {"claims": [c | {"id": "fp_drop"} if c["id"] == "false_positives" else c
                                  for c in paper["claims"]]}
    verdicts = claims.verdict_table(ladder_runs(), renamed)
    fp = verdicts[(verdicts.claim == "fp_drop") & (verdicts.view == claims.JUDGED_VIEW)].ours.iloc[0]
    assert fp < -10  # per 100 cases
    fig = plots.verdict_forest(verdicts, "title", renamed)
    low, high = fig.axes[0].get_xlim()
    assert -1 < low < fp / 100 < high < 1  # drawn as a rate beside the accuracy changes
    plots.plt.close(fig)
