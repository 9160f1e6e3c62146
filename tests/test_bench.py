"""The efficiency benchmark: batch plans, the cost of 1024 tokens per way of batching, measuring and caching."""

import math

import numpy as np
import pytest

from dragon_repro.training import bench
from dragon_repro.training.measure import EpochCell, StepCell


def step_result(length, seconds, peak, exact=False, process=0):
    return {"cell": {"padded_length": length, "exact_attention": exact, "process": process},
            "result": {"step_seconds": seconds, "step_peak_mib": peak}}


def test_length_aware_cost_is_the_mean_over_the_epochs_batches():
    # 1024-token steps cost twice a 512-token one; 1 batch in 10 is long when batched by length
    results = [step_result(512, [1.0] * 5, [100.0] * 5), step_result(1024, [2.0] * 5, [150.0] * 5),
               step_result(128, [0.2] * 5, [40.0] * 5, exact=True), step_result(1024, [1.6] * 5, [120.0] * 5, True)]
    plans = {"padded": {512: [(512, False)] * 10, 1024: [(1024, False)] * 10},
             "length-aware": {512: [(512, False)] * 10, 1024: [(512, False)] * 9 + [(1024, False)]},
             "exact": {512: [(128, True)] * 10, 1024: [(128, True)] * 9 + [(1024, True)]}}
    rows = {(r["batching"], r["measure"]): r for r in bench.relative_costs(results, plans)}
    assert rows["padded", "time per step"]["relative"] == pytest.approx(1.0)
    assert rows["length-aware", "time per step"]["relative"] == pytest.approx(0.1)
    assert rows["length-aware", "time per step"]["batches_over_short"] == 1
    assert rows["exact", "time per step"]["at_to"] == pytest.approx((9 * 0.2 + 1.6) / 10)  # the exact cells' own
    # memory peaks at the epoch's largest batch, whichever way it is batched
    assert rows["padded", "peak memory"]["relative"] == rows["length-aware", "peak memory"]["relative"] == 0.5
    assert rows["exact", "peak memory"]["relative"] == pytest.approx(2.0)


def test_the_ci_covers_the_spread_of_the_timed_steps():
    noisy = [step_result(512, [1.0, 1.1, 0.9, 1.05, 0.95], [100.0] * 5),
             step_result(1024, [1.5, 1.6, 1.4, 1.55, 1.45], [100.0] * 5)]
    (row, _) = bench.relative_costs(noisy, {"padded": {512: [(512, False)], 1024: [(1024, False)]}})
    assert row["relative"] == pytest.approx(0.5)
    assert row["ci_low"] < row["relative"] < row["ci_high"]
    assert row["ci_high"] - row["ci_low"] > 0.1


def test_the_ci_carries_the_drift_between_processes():
    steady = [0.98, 1.0, 1.02, 0.99, 1.01]
    one = [step_result(512, steady, [100.0] * 5), step_result(1024, [1.5 * s for s in steady], [100.0] * 5)]
    drifting = one + [step_result(512, [1.2 * s for s in steady], [100.0] * 5, process=1),
                      step_result(1024, [1.5 * 0.9 * s for s in steady], [100.0] * 5, process=1)]
    plan = {"padded": {512: [(512, False)], 1024: [(1024, False)]}}
    (narrow, _), (wide, _) = bench.relative_costs(one, plan), bench.relative_costs(drifting, plan)
    assert narrow["processes"] == 1 and wide["processes"] == 2 and wide["timed_steps"] == 10
    assert wide["ci_high"] - wide["ci_low"] > 3 * (narrow["ci_high"] - narrow["ci_low"])


def test_padded_batches_sit_at_max_length_and_length_aware_ones_at_their_longest_text():
    padded, aware, exact = (bench.batch_plan("tiny", 128, mode, batch_size=4) for mode in bench.BATCHING)
    assert set(padded) == {(128, False)} and len(padded) == len(aware) == len(exact) == 100  # 400 training cases
    assert all(length % 16 == 0 and length <= 128 and not fast for length, fast in aware)  # the tiny window is 16
    assert sum(n for n, _ in aware) < sum(n for n, _ in padded)
    # the exact path takes a batch of at most twice the window (32 tokens); transformers' code the longer ones
    assert exact == aware and set(bench.batch_plan("tiny", 32, "exact", batch_size=4)) == {(32, True)}
    assert bench.batch_plan("tiny", 128, "exact", batch_size=4) is exact  # computed once


def test_on_the_real_architecture_the_exact_path_takes_every_batch_up_to_1024_tokens_at_its_own_length():
    aware, exact = (bench.batch_plan("dragon-shaped-base", 1024, mode, batch_size=1)
                    for mode in ("length-aware", "exact"))
    assert {n for n, _ in aware} == {512, 1024}  # transformers' code pads to the 512-token window
    assert all(fast and n % bench.EXACT_GRID == 0 for n, fast in exact)
    assert sum(n for n, _ in exact) * 2 < sum(n for n, _ in aware)


def test_our_loop_pads_far_fewer_tokens_than_dragons_padding_to_max_length():
    # What makes our loop >= 3x faster than the HF Trainer at 512 tokens and >= 6x at 1024 on the cpu profile's
    # model: the padded tokens one epoch of DRAGON's batches (4) processes. A loop that pads more fails here.
    for max_length, ratio in ((512, 3), (1024, 6)):
        padded, aware = (sum(n for n, _ in bench.batch_plan("embedded-w32-L2", max_length, mode, batch_size=4))
                         for mode in ("padded", "length-aware"))
        assert padded / aware >= ratio


@pytest.mark.parametrize("exact", [False, True])
def test_a_step_cell_measures_each_timed_step_and_is_cached(tmp_path, monkeypatch, exact):
    cell = StepCell(model="tiny", padded_length=32, exact_attention=exact, warmup_steps=1, timed_steps=5)
    (result,) = bench.load_or_measure([cell], root=tmp_path, progress=False)
    steps = result["result"]
    assert len(steps["step_seconds"]) == len(steps["step_peak_mib"]) == 5 and len(steps["warmup_seconds"]) == 1
    assert all(s > 0 for s in steps["step_seconds"]) and all(np.isfinite(steps["step_peak_mib"]))
    assert result["provenance"]["torch_threads"] == 1  # the runs' own thread count
    monkeypatch.setattr(bench, "measure_in_child", lambda *a: pytest.fail("a cached cell must not be measured"))
    assert bench.load_or_measure([cell], root=tmp_path, progress=False) == [result]
    stored = bench.cell_folder(cell, tmp_path) / bench.CELL_FILE  # sealed like a run: a changed file is named
    stored.write_text(stored.read_text().replace('"step_seconds": [', '"step_seconds": [0.0, ', 1))
    with pytest.raises(ValueError, match=f"{stored}: missing or changed"):
        bench.load_or_measure([cell], root=tmp_path, progress=False)


def test_an_epoch_cell_times_our_loop_and_the_hf_trainer(tmp_path):
    cell = EpochCell(model="tiny", max_seq_length=64, train_subset=16)
    (result,) = bench.load_or_measure([cell], root=tmp_path, progress=False)
    seconds = result["result"]["epoch_seconds"]
    assert set(seconds) == {"ours, exact attention", "ours, length-aware", "ours, padded",
                            "HF Trainer, padded (dragon-baseline)"}
    assert all(math.isfinite(s) and s > 0 for s in seconds.values())


def test_a_failing_cell_names_itself(tmp_path):
    cell = StepCell(model="tiny", padded_length=60)  # not a multiple of the tiny model's window
    with pytest.raises(RuntimeError, match="steps-tiny-60-.*not a multiple of the attention window"):
        bench.load_or_measure([cell], root=tmp_path, progress=False)
    too_long = StepCell(model="tiny", padded_length=48, exact_attention=True)  # over twice the window
    with pytest.raises(RuntimeError, match="steps-tiny-48-exact-.*the exact path does not take it"):
        bench.load_or_measure([too_long], root=tmp_path, progress=False)


def test_the_real_architecture_is_recognised_by_its_shape():
    assert not bench.is_real_architecture("tiny")
    assert not bench.is_real_architecture("dragon-shaped-tiny")
