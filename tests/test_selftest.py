"""`selftest`: its estimate's arithmetic on hand-made timings, and the whole command on the smoke profile (tiny
models); `scripts/gpu-check.sh` parses and the commands it calls exist."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from dragon_repro import selftest
from dragon_repro.paths import ROOT
from dragon_repro.training.measure import EpochCell, StepCell

PER_CASE = {"load": 1.0, "encoding": 0.01, "training": 0.5, "validation": 0.1, "fresh": 0.2, "long": 0.4,
            "noisy": 0.3}
STEPS = {512: {"step_seconds": 1.0, "peak_mib": 1000.0, "growth_mib": 100.0},
         1024: {"step_seconds": 3.0, "peak_mib": 1500.0, "growth_mib": 600.0}}
SIZES = {"training": 400, "validation": 100, "fresh": 1000, "long": 300, "noisy": 200}


@pytest.fixture
def three_runs(smoke_plan):
    """The smoke profile's first three runs (baseline seeds 0-2: 2 epochs, 24 / 16 cases, 8 per held-out set,
    batch 4, 512 tokens) on 2 jobs."""
    return replace(smoke_plan, runs=smoke_plan.runs[:3], jobs=2)


def test_a_run_is_its_epochs_cases_and_per_case_seconds(three_runs):
    planned = three_runs.runs[0]
    counts = selftest.case_counts(planned, SIZES)
    assert counts == {"training": 24, "validation": 16, "fresh": 8, "long": 8, "noisy": 8}
    seconds = selftest.run_seconds(planned, counts, PER_CASE, start=3.0)
    assert seconds == pytest.approx({"training": 2 * 24 * 0.5, "validation": 2 * 16 * 0.1,
                                     "scoring": 8 * 0.2 + 8 * 0.4 + 8 * 0.3, "start": 3 + 1 + 0.01 * 64})


def test_cells_scale_the_measured_steps_and_jobs_are_scheduled_as_they_free():
    assert selftest.case_seconds(STEPS, 256) == pytest.approx(0.5)  # from 0 at 0
    assert selftest.case_seconds(STEPS, 768) == pytest.approx(2.0)
    assert selftest.case_seconds(STEPS, 2048) == pytest.approx(6.0)  # in proportion beyond the longest
    assert selftest.case_seconds({512: STEPS[512]}, 1024) == pytest.approx(2.0)
    assert selftest.cell_seconds(StepCell(model="m", padded_length=768, warmup_steps=2, timed_steps=5), STEPS,
                                 start=10) == pytest.approx(10 + 7 * 2.0)
    assert selftest.cell_seconds(EpochCell(model="m", max_seq_length=512, train_subset=16), STEPS,
                                 start=10) == pytest.approx(10 + 4 * 16 * 1.0)
    assert selftest.schedule([5, 4, 3, 3], jobs=2) == 8  # 5 + 3 on one slot, 4 + 3 on the other
    assert selftest.schedule([5, 4, 3, 3], jobs=1) == 15


def test_the_profile_estimate_adds_runs_and_cells_and_checks_the_memory(three_runs):
    kind = selftest.cost_key(three_runs.runs[0])
    assert {selftest.cost_key(r) for r in three_runs.runs} == {kind}  # seeds differ, the cost per case does not
    cells = [StepCell(model="tiny", padded_length=768, warmup_steps=2, timed_steps=5)]
    found = selftest.estimate(three_runs, SIZES, {kind: PER_CASE}, {"tiny": STEPS}, 3.0, cells, memory_gib=2.0,
                              jobs_share_memory=True)
    run = 24 + 3.2 + 7.2 + 4.64
    assert [r["seconds"] for r in found["runs"]] == pytest.approx([run] * 3)
    assert found["single_core_seconds"] == pytest.approx({"training": 72, "validation": 9.6, "scoring": 21.6,
                                                          "start": 13.92, "benchmark cells": 17})
    assert found["wall_seconds"] == pytest.approx(2 * run)  # two runs on one job; the third and the cell on the other
    # batch 4 at 512 tokens: the memory before training, and four cases' growth
    assert found["job_peak_gib"] == pytest.approx((1000 - 100 + 4 * 100) / 1024)
    assert found["peak_gib"] == pytest.approx(2 * 1300 / 1024) and not found["fits"]  # 2 jobs: 2.5 GiB of 2
    alone = selftest.estimate(three_runs, SIZES, {kind: PER_CASE}, {"tiny": STEPS}, 3.0, cells, memory_gib=2.0,
                              jobs_share_memory=False)
    assert alone["peak_gib"] == pytest.approx(1300 / 1024) and alone["fits"]


def test_selftest_runs_on_the_smoke_profile_and_writes_every_field(tmp_path):
    out = tmp_path / "selftest.json"
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "selftest", "--profile", "smoke", "--out",
                             str(out)], env=os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] and report["profile"] == "smoke" and report["run_precision"] == "fp32"
    assert {"device", "memory_gib", "attention", "machine", "kernels"} <= set(report)
    assert [row["precision"] for row in report["attention_check"]] == ["fp32"]
    assert report["attention_check"][0]["within"] and report["determinism"]["same_bytes"]
    estimate = report["estimate"]
    assert len(estimate["runs"]) == 11 and estimate["kinds"] == 4 and estimate["cells"]
    assert set(estimate["single_core_seconds"]) == {"training", "validation", "scoring", "start", "benchmark cells"}
    assert estimate["wall_seconds"] > 0 and estimate["fits"]
    assert set(estimate["steps"]["tiny"]) == {"512", "1024"}
    for line in ("exact path against transformers' attention", "same config twice", "| experiment |", "estimate:",
                 "peak memory", "all fine"):
        assert line in result.stdout


def test_the_gpu_check_script_is_executable_and_its_commands_parse():
    script = ROOT / "scripts" / "gpu-check.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    for command in ("selftest", "shaped", "run-all"):
        assert (f"python -m dragon_repro {command}" if command != "run-all" else "./run_all.sh") in text
        result = subprocess.run([sys.executable, "-m", "dragon_repro", command, "--help"], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
