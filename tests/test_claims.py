import zlib

import numpy as np
import pandas as pd
import pytest

from dragon_repro.analysis import claims, paper_claims, stats
from dragon_repro.experiments.records import Run
from dragon_repro.tasks.metrics import LONG_CASE_TOKENS, classification_metrics, metrics_by_length

N = {"validation": 100, "fresh": 400, "long": 300}


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


def ladder_runs(optimized_accuracy=0.98, seeds=range(3), **options):
    runs = [fake_run("baseline", s, 0.60, **options) for s in seeds]
    runs += [fake_run("optimized", s, optimized_accuracy, **options) for s in seeds]
    runs += [fake_run("+lr5e-6", s, 0.60, seconds=100, same_as="baseline", **options) for s in seeds]
    runs += [fake_run("+len1024", s, 0.60, seconds=150, memory=1400, **options) for s in seeds[:1]]
    return runs


@pytest.fixture(scope="module")
def verdicts():
    return claims.verdict_table(ladder_runs()).set_index(["claim", "view"])


def test_a_gain_larger_than_claimed_is_called_so(verdicts):
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert 0.3 < row.ci_low < row.ours < row.ci_high  # measured ~+0.38, the paper claims +0.132
    assert row.verdict == "larger than claimed" and row.n_seeds == 3 and row.n_cases == 400


def test_effect_cis_are_family_wise(verdicts):
    family = len(claims.effect_family(claims.load_claims()))
    assert family >= 5
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert f"{100 * (1 - 0.05 / family):.4g}%" in row.ci_method
    runs = {(r.config["experiment"], r.config["seed"]): r for r in ladder_runs()}
    fresh = {e: np.array([runs[e, s].predictions.query("split == 'fresh'").prediction.astype(int) for s in range(3)])
             for e in ("baseline", "optimized")}
    y = runs["baseline", 0].predictions.query("split == 'fresh'").label.astype(int)
    plain = stats.seed_case_bootstrap_ci(y, fresh["optimized"], fresh["baseline"], "accuracy", 10_000, 0.95)
    assert row.ci_low < plain.low and plain.high < row.ci_high  # wider than the plain 95% interval


def test_levels_on_a_stand_in_model_are_not_judged(verdicts):
    for claim in ("baseline_accuracy", "optimized_accuracy", "final_validation_loss"):
        assert set(verdicts.loc[claim].verdict) == {"different model"}
    assert verdicts.loc[("baseline_accuracy", "fresh")].ours == pytest.approx(0.60, abs=0.03)  # still shown


def test_levels_on_the_papers_model_are_judged_by_whether_the_ci_holds_the_claim():
    paper_model = claims.load_claims()["model"]
    table = claims.verdict_table(ladder_runs(model=paper_model)).set_index(["claim", "view"])
    assert table.loc[("baseline_accuracy", "fresh")].verdict == "contradicted"  # ~0.60 vs 0.720
    assert table.loc[("optimized_accuracy", "validation")].verdict == "contradicted"  # ~0.98 vs 0.852


def test_no_change_rules_out_a_large_claimed_gain(verdicts):
    row = verdicts.loc[("lr_step", "fresh")]  # the same predictions, 3 seeds, 400 cases, claim +0.034
    assert row.ci_low <= 0 <= row.ci_high < 0.034
    assert row.verdict == "claimed size ruled out"


def test_fewer_than_three_seeds_are_too_few(verdicts):
    assert verdicts.loc[("length_step", "fresh")].verdict == "too few seeds"  # +len1024 has one seed
    assert verdicts.loc[("length_step", "fresh")].n_seeds == 1
    two_shared = [r for r in ladder_runs() if not (r.config["experiment"] == "optimized" and r.config["seed"] == 2)]
    row = claims.verdict_table(two_shared).set_index(["claim", "view"]).loc[("overall_accuracy_gain", "fresh")]
    assert row.n_seeds == 2 and row.verdict == "too few seeds"  # 3 baseline seeds, but only 2 shared


def test_a_long_case_view_with_four_cases_is_not_testable(verdicts):
    row = verdicts.loc[("long_case_f1", "validation")]
    assert row.n_cases == 4 and row.verdict == "not testable"
    assert verdicts.loc[("long_case_f1", "fresh")].n_cases == 300
    assert verdicts.loc[("long_case_f1", "fresh")].verdict in stats.VERDICTS


def test_significance_needs_p_below_the_claim_in_every_seed(verdicts):
    row = verdicts.loc[("significance", "fresh")]
    assert row.ours < 1e-3 and row.verdict == "supported"


def test_one_seed_without_a_difference_makes_significance_inconclusive():
    runs = [r for r in ladder_runs() if not (r.config["experiment"] == "optimized" and r.config["seed"] == 2)]
    runs.append(fake_run("optimized", 2, 0.60, same_as="baseline"))  # seed 2: the very same predictions
    row = claims.verdict_table(runs).set_index(["claim", "view"]).loc[("significance", "fresh")]
    assert row.n_seeds == 3 and row.ours == 1.0 and row.verdict == "inconclusive"


def test_a_worse_model_is_never_significant_in_the_claimed_direction():
    table = claims.verdict_table(ladder_runs(optimized_accuracy=0.30)).set_index(["claim", "view"])
    row = table.loc[("significance", "fresh")]
    assert row.verdict == "contradicted" and row.ours > 0.5
    assert table.loc[("overall_accuracy_gain", "fresh")].verdict == "contradicted"


def test_the_validation_view_is_marked_selection_biased(verdicts):
    assert verdicts.loc[("overall_accuracy_gain", "validation")].selection_biased
    assert not verdicts.loc[("overall_accuracy_gain", "fresh")].selection_biased


def test_claims_without_runs_are_marked_not_run(verdicts):
    assert verdicts.loc[("medical_step", "validation")].verdict == "not run"  # no +epochs8 runs here


def bench_costs(time_padded, time_aware, real_architecture=True):
    """bench.cost_table's shape: relative cost [CI] per way of batching and measure."""
    rows = [{"batching": mode, "measure": measure, "relative": value, "ci_low": value - 0.03,
             "ci_high": value + 0.03, "timed_steps": 5}
            for mode, time in (("padded", time_padded), ("length-aware", time_aware))
            for measure, value in (("time per step", time), ("peak memory", 0.40))]
    return pd.DataFrame(rows).assign(real_architecture=real_architecture, model="dragon-shaped-base",
                                     hardware="cpu (x86_64), avx2, 1 thread(s)")


def test_cost_claims_are_judged_from_the_benchmark_per_way_of_batching():
    table = claims.verdict_table(ladder_runs(), costs=bench_costs(0.55, 0.04)).set_index(["claim", "view"])
    assert table.loc[("time_1024", "padded")].verdict == "supported"  # +55% [52, 58] holds the claimed +52%
    assert table.loc[("time_1024", "length-aware")].verdict == "smaller than claimed"  # +4% [1, 7]
    assert table.loc[("memory_1024", "padded")].verdict == "supported"  # +40% [37, 43] holds +39%
    assert "dragon-shaped-base on cpu" in table.loc[("time_1024", "padded")].ci_method
    assert table.loc[("time_1024", "padded")].n_steps == 5
    assert len(claims.effect_family(claims.load_claims())) == 6  # the cost claims are not in the metric family


def test_cost_claims_on_another_architecture_or_without_a_benchmark_are_not_judged():
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
    table = claims.verdict_table(ladder_runs(), costs=bench_costs(0.55, 0.04))
    costs = verdict_overview(table[table.claim == "time_1024"]).iloc[0]
    assert costs["padded: evidence"] == "5 timed steps per length" and costs["padded: verdict"] == "supported"
    gain = verdict_overview(table[table.claim == "overall_accuracy_gain"]).iloc[0]
    assert gain["fresh (primary): evidence"] == "3 seeds, 400 cases"


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


def test_the_open_question_is_asked_of_task102_by_the_same_rule_beside_task101():
    task102 = [fake_multiclass_run("baseline", s, 0.5) for s in range(3)]
    task102 += [fake_multiclass_run("+lr5e-6", s, 0.5, same_as="baseline") for s in range(3)]
    task102 += [fake_multiclass_run("optimized", s, 0.9) for s in range(3)]
    table = claims.transfer_table({"Task102": task102, "Task101": ladder_runs()})
    rows = table.set_index(["task", "claim"])
    overall = rows.loc[("Task102", "overall_accuracy_gain")]
    assert overall.kind == "open question" and overall.step == "baseline → optimized"
    assert overall.verdict == "larger than claimed" and 0.3 < overall.ours < 0.5 and overall.n_seeds == 3
    assert "Bonferroni over 4 effects" in overall.ci_method
    assert overall.dragon_low > 0  # the DRAGON metric (linear kappa) rises with accuracy
    assert rows.loc[("Task102", "lr_step")].ours == 0 and rows.loc[("Task102", "lr_step")].verdict != "supported"
    assert rows.loc[("Task102", "medical_step")].verdict == "not run"
    assert rows.loc[("Task101", "overall_accuracy_gain")].verdict == "larger than claimed"
    assert list(claims.transfer_table({"Task102": task102, "Task101": []}).task.unique()) == ["Task102"]
