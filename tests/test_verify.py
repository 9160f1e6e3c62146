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
from dragon_repro import verify
from dragon_repro.training.runs import load_or_run
plan = resolve_plan("smoke")  # writes the task folder on first use
run = load_or_run(plan.planned("baseline", 0), progress=False)
verify.bundle_file(plan).parent.mkdir(parents=True)
verify.bundle_file(plan).write_text(json.dumps([verify.bundle_entry(run)]))
"""


def cli(output, *args):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)


def committed_output(tmp_path_factory, name: str, code: str):
    """An output folder holding the smoke runs `code` trains and the bundle that commits them."""
    output = tmp_path_factory.mktemp(name)
    result = cli(output, "-c", code)
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """One trained smoke run, committed."""
    return committed_output(tmp_path_factory, "committed", COMMIT_ONE_RUN)


def test_a_committed_run_retrained_from_scratch_is_identical(committed):
    shutil.rmtree(committed / "data")  # as on a fresh clone: only the committed bundle is there
    result = cli(committed, "-m", "dragon_repro", "verify", "--profile", "smoke")
    assert result.returncode == 0, result.stderr
    assert "baseline seed 0: identical" in result.stdout


def verify_with_bundle(committed, change, *args):
    """`verify --profile smoke` against the committed bundle as `change` alters it (restored afterwards), or
    another command line (`args`, e.g. `-c CODE`)."""
    bundle_path = committed / "figures" / "smoke" / "provenance.json"
    original = bundle_path.read_text()
    bundle = json.loads(original)
    change(bundle[0])
    bundle_path.write_text(json.dumps(bundle))
    try:
        return cli(committed, *(args or ("-m", "dragon_repro", "verify", "--profile", "smoke")))
    finally:
        bundle_path.write_text(original)  # the fixture stays as committed, whatever order tests run in


def test_a_run_that_parts_is_named_with_its_first_differing_step_its_size_and_the_machines(committed):
    def parted_at_step_2(entry):
        entry["results_sha256"]["predictions.csv"] = "0" * 64
        entry["predictions_sha256"] = "0" * 64
        entry["digests"][1]["parameters"] = "0" * 16
        entry["accuracy"]["validation"] -= 0.25
        entry["provenance"]["cpu_capability"] = "AVX512"
    result = verify_with_bundle(committed, parted_at_step_2)
    assert result.returncode == 1
    assert "baseline seed 0: DIVERGED AT STEP 2: parts at optimizer step 2 (step digest; equal up to step 1)" \
        in result.stdout
    assert "(+0.2500)" in result.stdout and "AVX512 committed" in result.stdout
    assert "1 diverged at step 2" in result.stdout


def test_the_same_predictions_with_probabilities_within_1e_5_are_machine_noise(committed):
    def nudged(entry):
        entry["results_sha256"]["predictions.csv"] = "0" * 64
        entry["probabilities"][0][0] += 4e-6
        entry["digests"][-1]["loss"] = float.hex(1.0)
    result = verify_with_bundle(committed, nudged)
    assert result.returncode == 0, result.stdout
    assert "baseline seed 0: machine noise: predictions.csv differ; the same predictions, probabilities within 4.0e-06" \
        in result.stdout
    assert f"parts at optimizer step {json.loads(cli_bundle(committed))[0]['digests'][-1]['step']}" in result.stdout


def cli_bundle(committed):
    return (committed / "figures" / "smoke" / "provenance.json").read_text()


def test_verify_all_says_which_committed_verdicts_would_change(committed):
    from dragon_repro.analysis import claims
    from dragon_repro.experiments.records import load_run
    (run_folder,) = {p.parent for p in (committed / "results" / "runs").rglob("provenance.json")}
    table = claims.verdict_table([load_run(run_folder)])
    judged = table[table.verdict != "not run"].index[0]
    table.loc[judged, "verdict"] = "REPLACED"  # a committed verdict the re-trained run cannot give
    verdicts = committed / "results" / "tables" / "smoke" / "verdicts.csv"
    verdicts.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(verdicts, index=False)
    try:
        result = cli(committed, "-m", "dragon_repro", "verify", "--profile", "smoke", "--all")
    finally:
        verdicts.unlink()
    assert result.returncode == 0, result.stderr
    claim, view = table.loc[judged, ["claim", "view"]]
    assert f"changed: {claim} ({view}): REPLACED -> " in result.stdout


def test_first_parting_names_the_first_differing_digest():
    from dragon_repro.verify import first_parting
    digests = [{"after": "step", "step": n, "parameters": f"p{n}", "loss": "0x1p-1"} for n in (1, 2, 5)]
    assert first_parting(digests, digests) == (None, "every step digest equal: the runs part after training, "
                                                     "in scoring")
    here = digests[:2] + [digests[2] | {"loss": "0x1p-2"}]
    assert first_parting(digests, here) == (5, "parts at optimizer step 5 (step digest; equal up to step 2)")
    assert first_parting([], here)[0] is None


def stored_files(committed) -> dict:
    """Every file of the run store, with its bytes and modification time."""
    runs = committed / "results" / "runs"
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in runs.rglob("*") if p.is_file()}


def test_run_all_retrain_reports_each_run_and_leaves_the_store_untouched(committed):
    before = stored_files(committed)
    result = cli(committed, "-m", "dragon_repro", "run-all", "--profile", "smoke", "--retrain")
    assert result.returncode == 0, result.stderr
    assert "baseline seed 0: identical" in result.stdout and "the store is unchanged" in result.stdout
    assert "verdicts on the re-trained runs" in result.stdout or "no committed verdicts" in result.stdout
    assert stored_files(committed) == before
    assert not list((committed / "results").glob(".verify-*")), "the scratch cache is removed"


def test_retrain_replace_moves_a_run_that_is_not_identical_into_the_store(committed):
    (stored,) = {p.parent for p in (committed / "results" / "runs").rglob("provenance.json")}
    (stored / "marker").write_text("the stored copy")

    def nudged(entry):  # the stored run now reads as machine noise against the bundle
        entry["results_sha256"]["predictions.csv"] = "0" * 64
    replace = ("from dragon_repro.experiments.plan import resolve_plan\nfrom dragon_repro.pipeline import train_runs\n"
               "from dragon_repro.verify import verify\nverify(resolve_plan('smoke'), train_runs, every_run=True, "
               "replace=True)")
    result = verify_with_bundle(committed, nudged)  # without --replace: the store is kept
    assert result.returncode == 0 and (stored / "marker").exists()
    result = verify_with_bundle(committed, nudged, "-c", replace)
    assert result.returncode == 0, result.stderr
    assert "replaced 1 run(s)" in result.stdout
    assert stored.is_dir() and not (stored / "marker").exists(), "the re-trained copy took the stored one's place"
    assert not list((committed / "results").glob(".verify-*"))


COMMIT_TWO_RUNS = COMMIT_ONE_RUN.replace('run = load_or_run(plan.planned("baseline", 0), progress=False)',
                                         'runs = [load_or_run(plan.planned("baseline", seed), progress=False) '
                                         'for seed in (0, 1)]').replace("[verify.bundle_entry(run)]",
                                                                        "[verify.bundle_entry(r) for r in runs]")


@pytest.fixture(scope="module")
def committed_two(tmp_path_factory):
    """Two trained smoke runs, committed."""
    return committed_output(tmp_path_factory, "committed-two", COMMIT_TWO_RUNS)


def test_retrain_trains_jobs_at_a_time_through_the_executor_and_leaves_the_store_untouched(committed_two):
    before = stored_files(committed_two)
    result = cli(committed_two, "-m", "dragon_repro", "run-all", "--profile", "smoke", "--retrain", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    # run-all's executor and its progress lines: both runs handed to it, 2 at a time, nothing measured
    assert "[runs] 2 planned, 0 cached, 2 to train; 0 benchmark cells to measure (2 at a time)" in result.stdout
    assert "[runs] 2/2 baseline seed " in result.stdout
    assert "baseline seed 0: identical" in result.stdout and "baseline seed 1: identical" in result.stdout
    assert stored_files(committed_two) == before
    assert not list((committed_two / "results").glob(".verify-*")), "the scratch cache is removed"


RETRAIN_REPLACE_WATCHING_THE_CHILDREN = """
import json, threading
from dragon_repro import executors
from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.pipeline import train_runs
from dragon_repro.verify import verify
lock, live, children, real = threading.Lock(), [0], [], executors.run_checked

def child(command, *args, **kwargs):  # each run's process, as the local executor starts it
    with lock:
        live[0] += 1
        children.append({"command": command, "alongside": live[0] - 1})
    try:
        return real(command, *args, **kwargs)
    finally:
        with lock:
            live[0] -= 1
executors.run_checked = child
verify(resolve_plan("smoke", jobs=2), train_runs, every_run=True, replace=True)
print("children", json.dumps(children))
"""


def test_retrain_replace_moves_in_runs_trained_side_by_side_in_processes_of_their_own(committed_two):
    bundle_path = committed_two / "figures" / "smoke" / "provenance.json"
    bundle = json.loads(bundle_path.read_text())
    for entry in bundle:  # each stored run now reads as machine noise: its re-trained copy replaces it
        entry["results_sha256"]["predictions.csv"] = "0" * 64
    bundle_path.write_text(json.dumps(bundle))
    (stored,) = {p.parent for p in (committed_two / "results" / "runs").rglob("provenance.json")
                 if p.parent.name.startswith("0-")}
    (stored / "marker").write_text("the stored copy")
    result = cli(committed_two, "-c", RETRAIN_REPLACE_WATCHING_THE_CHILDREN)
    assert result.returncode == 0, result.stderr
    assert "replaced 2 run(s)" in result.stdout and "(2 at a time)" in result.stdout
    assert stored.is_dir() and not (stored / "marker").exists(), "the re-trained copy took the stored one's place"
    children = json.loads(result.stdout.split("children ", 1)[1])
    assert len(children) == 2 and max(c["alongside"] for c in children) == 1, children  # the two side by side
    for command in (c["command"] for c in children):  # each trained into the scratch cache, not the store
        root = command[command.index("--runs-root") + 1]
        assert root.startswith(str(committed_two / "results" / ".verify-")), root
    assert not list((committed_two / "results").glob(".verify-*"))
