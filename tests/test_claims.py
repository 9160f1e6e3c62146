import zlib

import numpy as np
import pandas as pd
import pytest

from dragon_repro import claims, paper_claims
from dragon_repro.evaluate import classification_metrics, metrics_by_length
from dragon_repro.runs import Run

N = {"validation": 100, "fresh": 1000, "long": 300}


def fake_run(experiment, seed, accuracy, seconds=100.0, memory=1000.0, max_seq_length=512):
    """A run whose predictions are right on a chosen fraction of fixed cases."""
    tables = []
    for split, n in N.items():
        rng = np.random.default_rng(zlib.crc32(f"{experiment}/{split}/{seed}".encode()))
        labels = np.random.default_rng(zlib.crc32(split.encode())).integers(0, 2, n).astype(bool)
        right = rng.random(n) < accuracy
        tables.append(pd.DataFrame({
            "uid": [f"case{i}" for i in range(n)], "label": labels, "prediction": np.where(right, labels, ~labels),
            "probability": np.where(right == labels, 0.8, 0.2), "n_tokens": 450 if split == "long" else 120,
            "truncated": False, "split": split}))
    predictions = pd.concat(tables)
    metrics = {split: classification_metrics(t) | {"by_length": metrics_by_length(t)}
               for split, t in predictions.groupby("split")}
    history = {"epochs": [{"epoch": 1, "seconds": seconds, "train_loss": 0.5, "val_loss": 0.5}]}
    provenance = {"wall_seconds": seconds, "peak_memory_mb": memory, "device": "cpu"}
    config = {"experiment": experiment, "seed": seed, "max_seq_length": max_seq_length}
    return Run(None, config, metrics, history, provenance, predictions)


@pytest.fixture(scope="module")
def verdicts():
    runs = [fake_run("baseline", s, 0.60) for s in range(3)] + [fake_run("optimized", s, 0.98) for s in range(3)]
    runs += [fake_run("+lr5e-6", 0, 0.60, seconds=100), fake_run("+len1024", 0, 0.60, seconds=150, memory=1400)]
    return claims.verdict_table(runs).set_index(["claim", "view"])


def test_a_large_real_gain_contradicts_a_smaller_claimed_gain(verdicts):
    row = verdicts.loc[("overall_accuracy_gain", "fresh")]
    assert 0.3 < row.ci_low < row.ours < row.ci_high  # measured ~+0.38, the paper claims +0.132
    assert row.verdict == "contradicted" and row.n_seeds == 3


def test_levels_are_judged_by_whether_the_ci_holds_the_claim(verdicts):
    assert verdicts.loc[("baseline_accuracy", "fresh")].verdict == "contradicted"  # ~0.60 vs 0.720
    assert verdicts.loc[("optimized_accuracy", "validation")].verdict == "contradicted"  # ~0.98 vs 0.852


def test_no_change_is_inconclusive_for_a_small_claim(verdicts):
    row = verdicts.loc[("length_step", "validation")]  # equal accuracy, one seed, 100 cases, claim +0.025
    assert row.ci_low < 0 < row.ci_high and row.ci_low < 0.025 < row.ci_high
    assert row.verdict == "inconclusive"


def test_costs_compare_as_ratios_and_need_two_seeds_for_a_ci(verdicts):
    row = verdicts.loc[("time_1024", "validation")]
    assert row.ours == pytest.approx(0.5) and np.isnan(row.ci_low) and row.verdict == "inconclusive"
    assert verdicts.loc[("memory_1024", "validation")].ours == pytest.approx(0.4)
    assert ("time_1024", "fresh") not in verdicts.index


def test_significance_needs_p_below_the_claim_in_every_seed(verdicts):
    row = verdicts.loc[("significance", "fresh")]
    assert row.ours < 1e-3 and row.verdict == "supported"


def test_claims_without_runs_are_marked_not_run(verdicts):
    assert verdicts.loc[("medical_step", "validation")].verdict == "not run"  # no +epochs8 runs here


def test_the_papers_numbers_live_only_in_the_claims_file():
    paper = paper_claims.load_claims()
    assert "2507.09470" in paper["source"]
    values = {c["id"]: c["value"] for c in paper["claims"]}
    assert values["baseline_accuracy"] == 0.720 and values["optimized_accuracy"] == 0.852


def test_implied_accuracy_by_hand():
    # 15 false positives at precision 0.75 -> 45 true positives; recall 0.9 -> 5 false negatives
    assert paper_claims.implied_accuracy(0.75, 0.9, 15) == pytest.approx(0.80)
