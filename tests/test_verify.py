"""`python -m dragon_repro verify`: a committed run re-trained from scratch is reported identical, or what differs."""

import json
import os
import shutil
import subprocess
import sys

import pytest

COMMIT_ONE_RUN = """
import json
from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.training import verify
from dragon_repro.training.runs import load_or_run
plan = resolve_plan("smoke")  # writes the task folder on first use
run = load_or_run(plan.planned("baseline", 0), progress=False)
verify.bundle_file(plan).parent.mkdir(parents=True)
verify.bundle_file(plan).write_text(json.dumps([verify.bundle_entry(run)]))
"""


def cli(output, *args):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """An output folder holding one trained smoke run and the bundle that commits it."""
    output = tmp_path_factory.mktemp("committed")
    result = cli(output, "-c", COMMIT_ONE_RUN)
    assert result.returncode == 0, result.stderr
    return output


def test_a_committed_run_retrained_from_scratch_is_identical(committed):
    shutil.rmtree(committed / "data")  # as on a fresh clone: only the committed bundle is there
    result = cli(committed, "-m", "dragon_repro", "verify", "--profile", "smoke")
    assert result.returncode == 0, result.stderr
    assert "baseline seed 0: identical" in result.stdout


def test_a_difference_is_named_with_its_size_and_the_machines(committed):
    bundle_path = committed / "figures" / "smoke" / "provenance.json"
    original = bundle_path.read_text()
    bundle = json.loads(original)
    bundle[0]["results_sha256"]["predictions.csv"] = "0" * 64
    bundle[0]["accuracy"]["validation"] -= 0.25
    bundle[0]["provenance"]["cpu_capability"] = "AVX512"
    bundle_path.write_text(json.dumps(bundle))
    try:
        result = cli(committed, "-m", "dragon_repro", "verify", "--profile", "smoke")
    finally:
        bundle_path.write_text(original)  # the fixture stays as committed, whatever order tests run in
    assert result.returncode == 1
    assert "DIFFERS: predictions.csv differ" in result.stdout
    assert "(+0.2500)" in result.stdout and "AVX512 committed" in result.stdout
