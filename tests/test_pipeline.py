"""The whole pipeline, `./run_all.sh --profile smoke`, end to end: every notebook, its recorded numbers, the report."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from dragon_repro.analysis.claims import NOT_JUDGED, STAND_IN
from dragon_repro.analysis.paper_claims import load_claims
from dragon_repro.analysis.stats import VERDICTS
from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.paths import ROOT
from dragon_repro.training.runs import PROGRESS_FILE, load_or_run

PROPORTIONS = {"accuracy", "precision", "recall", "f1", "roc_auc"}


def planned_pairs(profile):
    """Every (experiment, seed) a profile runs."""
    return [(r.config.experiment, r.config.seed) for r in resolve_plan(profile).runs]


# Loaded by every Python process of the pipeline (the driver, each run's process, each notebook's kernel) through
# PYTHONPATH: counts the times the process opens experiments.yaml, and writes the count when the process ends.
COUNT_OPENS = """
import atexit, json, os, sys
_opens = []
sys.addaudithook(lambda event, args: _opens.append(1) if event == "open" and isinstance(args[0], str)
                 and args[0].endswith("experiments.yaml") else None)
_log = os.path.join(os.environ["DRAGON_REPRO_OPEN_LOG"], f"{os.getpid()}.json")
atexit.register(lambda: open(_log, "w").write(json.dumps({"argv": sys.argv, "opens": len(_opens)})))
"""


def run_all(output, *args, timeout=600, open_log=None):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    if open_log:
        (open_log / "site").mkdir(parents=True)
        (open_log / "site" / "sitecustomize.py").write_text(COUNT_OPENS)
        env |= {"PYTHONPATH": str(open_log / "site"), "DRAGON_REPRO_OPEN_LOG": str(open_log)}
    started = time.perf_counter()
    result = subprocess.run([str(ROOT / "run_all.sh"), "--profile", "smoke", *args], env=env, capture_output=True,
                            text=True, timeout=timeout)
    return result, time.perf_counter() - started


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    output, open_log = tmp_path_factory.mktemp("smoke"), tmp_path_factory.mktemp("opens")
    result, seconds = run_all(output, open_log=open_log)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return output, result.stdout, seconds, open_log


def test_every_process_of_the_pipeline_reads_experiments_yaml_at_most_once(smoke):
    *_, open_log = smoke
    processes = [json.loads(p.read_text()) for p in open_log.glob("*.json")]
    driver = [p for p in processes if "run-all" in p["argv"]]
    runs = [p for p in processes if "train" in p["argv"]]
    assert len(driver) == 1 and driver[0]["opens"] == 1
    assert len(runs) == len(planned_pairs("smoke")) and all(p["opens"] == 0 for p in runs)  # handed their config
    assert max(p["opens"] for p in processes) == 1 and len(processes) > len(runs) + 1  # kernels counted too


def test_smoke_pipeline_finishes_within_five_minutes(smoke):
    _, stdout, seconds, _ = smoke
    assert seconds < 300, f"smoke pipeline took {seconds:.0f} s"
    assert "[report]" in stdout and "[done]" in stdout


def test_every_planned_run_was_trained_once_with_provenance(smoke):
    output, *_ = smoke
    plan = planned_pairs("smoke")
    runs = list((output / "results" / "runs").glob("*/*/provenance.json"))
    assert len(runs) == len(plan)
    bundle = json.loads((output / "figures" / "smoke" / "provenance.json").read_text())
    assert sorted((e["experiment"], e["seed"]) for e in bundle) == sorted(plan)
    assert all(e["provenance"]["git_sha"] and e["provenance"]["wall_seconds"] > 0 for e in bundle)


def test_every_notebook_executed_and_recorded_numbers_in_range(smoke):
    output, *_ = smoke
    for name in resolve_plan("smoke").analysis:
        assert (output / "notebooks" / "executed" / "smoke" / f"{name}.ipynb").exists(), name
    tables = output / "results" / "tables" / "smoke"
    assert all(len(pd.read_csv(t)) for t in tables.glob("*.csv"))
    main = pd.read_csv(tables / "main_table.csv")
    assert main.loc[main.measure.isin(PROPORTIONS), "mean"].between(0, 1).all()
    for name, column in [("significance", "mcnemar_p"), ("significance", "randomisation_p_f1"),
                         ("wilson", "accuracy_low"), ("wilson", "accuracy_high")]:
        assert pd.read_csv(tables / f"{name}.csv")[column].dropna().between(0, 1).all(), (name, column)
    verdicts = pd.read_csv(tables / "verdicts.csv")
    assert verdicts.loc[verdicts.kind != "effect", "ci_low"].dropna().ge(0).all()


def test_verdicts_cover_every_claim_with_a_rule_verdict(smoke):
    output, *_ = smoke
    verdicts = pd.read_csv(output / "results" / "tables" / "smoke" / "verdicts.csv")
    claim_ids = {c["id"] for c in load_claims()["claims"]}
    assert set(verdicts["claim"]) == claim_ids
    assert set(verdicts["verdict"].str.removesuffix(STAND_IN)) <= set(VERDICTS) | set(NOT_JUDGED)
    by_claim = verdicts.set_index(["claim", "view"])["verdict"]
    assert by_claim["overall_accuracy_gain", "fresh"].removesuffix(STAND_IN) in VERDICTS  # 3 seeds a side: judged
    assert by_claim["overall_accuracy_gain", "fresh"].endswith(STAND_IN)  # on the tiny model, and it says so
    assert by_claim["length_step", "fresh"] == "too few seeds"  # 1 seed
    assert by_claim["baseline_accuracy", "fresh"] == "different model"


def test_main_table_has_every_step_and_its_run_count(smoke):
    output, *_ = smoke
    main = pd.read_csv(output / "results" / "tables" / "smoke" / "main_table.csv")
    plan = planned_pairs("smoke")
    for experiment in {e for e, _ in plan}:
        assert experiment in set(main["experiment"]), experiment
    seeds = main.groupby("experiment")["n_seeds"].max()
    assert seeds["baseline"] == sum(1 for e, _ in plan if e == "baseline")


def test_a_run_made_by_a_notebook_has_the_same_bytes_as_load_or_run(smoke, tmp_path):
    output, *_ = smoke
    task = output / "data" / "Task101_Example_sl_bin_clf-repro"
    planned = resolve_plan("smoke", task=task).planned("optimized", 1)
    direct = load_or_run(planned.under(tmp_path), progress=False, save_model=False)
    (by_notebook,) = (output / "results" / "runs" / "optimized").glob("1-*")
    assert by_notebook.name == direct.path.name
    for name in ("predictions.csv", "metrics.json"):
        assert (by_notebook / name).read_bytes() == (direct.path / name).read_bytes(), name


def test_a_notebook_with_other_seeds_leaves_the_profiles_outputs_alone(smoke, tmp_path):
    output, *_ = smoke
    tables, figures = output / "results" / "tables", output / "figures"
    before = {p: p.read_bytes() for folder in (tables / "smoke", figures / "smoke") for p in folder.iterdir()}
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    result = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "20_main_table.ipynb"),
                             str(tmp_path / "out.ipynb"), "-k", "dragon-repro", "--cwd", str(ROOT / "notebooks"),
                             "-p", "profile", "smoke", "-p", "seeds", "[0, 1]"],  # -p passes the list as a string
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.read_bytes() for p in before} == before
    two_seeds = pd.read_csv(tables / "smoke-seeds0-1" / "main_table.csv")
    assert two_seeds.query("experiment == 'baseline'")["n_seeds"].max() == 2
    assert (figures / "smoke-seeds0-1" / "ladder_accuracy.png").exists()


def test_figures_are_saved_as_png_and_pdf(smoke):
    output, *_ = smoke
    figures = output / "figures" / "smoke"
    pngs = {p.stem for p in figures.glob("*.png")}
    assert len(pngs) >= 5 and pngs == {p.stem for p in figures.glob("*.pdf")}


def test_report_opens_with_the_verdicts(smoke):
    output, *_ = smoke
    html = (output / "report" / "smoke" / "index.html").read_text()
    verdict_table = html.index("fresh (primary): verdict")  # the table itself, not only its heading
    assert html.index("dragon-repro report") < verdict_table < html.index("The dataset: DRAGON Task101")
    assert html.count("data:image/png;base64") >= 5


def test_second_run_with_everything_cached_is_fast(smoke):
    output, *_ = smoke
    result, seconds = run_all(output)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "0 to train" in result.stdout
    assert seconds < 180  # the notebooks and the report only (131 s measured beside a cold run_all)
    record = json.loads((output / "results" / "tables" / "smoke" / "regeneration.json").read_text())
    assert record["runs_trained"] == 0 and record["runs_cached"] == len(planned_pairs("smoke"))
    assert 0 < record["seconds"] <= seconds and "readme" not in result.stdout  # smoke's outputs are not the README's


def test_a_failing_run_names_itself_its_error_and_how_to_rerun_it(tmp_path):
    result, _ = run_all(tmp_path, "--model", str(tmp_path / "no-such-model"), "--seeds", "0", "--jobs", "1")
    assert result.returncode != 0
    message = result.stderr
    assert "seed 0 failed:" in message and "no-such-model" in message
    assert "rerun it alone: python -m dragon_repro train --experiment" in message
    assert "Traceback" not in message


def test_a_failing_analysis_notebook_names_itself_and_its_executed_copy(tmp_path):
    from dragon_repro.pipeline import NotebookFailed, execute_notebook
    notebook = tmp_path / "broken.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                                               "execution_count": None, "source": "1 / 0"}],
                                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(NotebookFailed, match="broken.ipynb failed: .*ZeroDivisionError") as error:
        execute_notebook(notebook, tmp_path / "executed" / "broken.ipynb", {}, cell_timeout=60)
    assert f"executed copy: {tmp_path / 'executed' / 'broken.ipynb'}" in str(error.value)


def test_an_interrupt_during_the_analysis_starts_no_further_notebook(monkeypatch):
    """Ctrl-C reaches the driver while its first notebook runs: the notebooks still queued never start."""
    from dragon_repro import pipeline
    started = []

    def interrupted_notebook(notebook, out, parameters, cell_timeout):
        started.append(notebook.stem)
        time.sleep(0.5)  # every notebook is queued, the driver waits on the first
        os.kill(os.getpid(), signal.SIGINT)  # the driver's own Ctrl-C, while this child still runs
        time.sleep(1)

    monkeypatch.setattr(pipeline, "execute_notebook", interrupted_notebook)
    plan = resolve_plan("smoke", jobs=1)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run_analysis(plan, cell_timeout=60, started=time.time())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(plan.analysis) > 1 and started == [plan.analysis[0]]


def test_progress_report_shows_each_training_run_and_the_time_left(tmp_path):
    from dragon_repro import pipeline
    plan = resolve_plan("cpu")
    done, training, queued = (plan.planned(e, 0).under(tmp_path) for e in ("baseline", "overfit_stress", "+lr5e-6"))
    staging = training.path.with_name(f".{training.path.name}.tmp-123")
    staging.mkdir(parents=True)
    (staging / PROGRESS_FILE).write_text(json.dumps(
        {"experiment": "overfit_stress", "seed": 0, "epoch": 8, "epochs": 15, "step": 375, "steps": 750}))
    report = pipeline.progress_report([done, training, queued], [done], elapsed=600)
    lines = report.splitlines()
    # baseline (cost 5) and half of overfit_stress (7.5 of 15) took 600 s: the other 12.5 of 25 take ~600 s more
    assert lines[0] == "[runs] 1/3 done, 1 training, elapsed 00:10:00, about 00:10:00 left"
    assert lines[1:] == ["[runs]   overfit_stress seed 0: epoch 8/15, step 375/750"]
    assert all(ch.isprintable() for line in lines for ch in line)  # no carriage returns or escapes in a log


def test_run_all_records_its_own_time_commit_and_machine_for_the_readme(tmp_path):
    import dataclasses
    from dragon_repro import pipeline
    from dragon_repro.presentation import readme
    plan = resolve_plan("smoke")
    plan = dataclasses.replace(plan, folders=dataclasses.replace(plan.folders, tables=tmp_path / "smoke"))
    path = pipeline.record_regeneration(plan, readme.REGENERATION_FILE, 75.4, {"git_sha": "0123456789ab",
                                        "git_dirty": True}, runs_trained=2)
    record = json.loads(path.read_text())
    assert path == tmp_path / "smoke" / readme.REGENERATION_FILE
    assert record | {"finished": None, "machine": None} == {
        "seconds": 75.4, "finished": None, "commit": "0123456789ab", "dirty": True, "runs_trained": 2,
        "jobs": plan.jobs, "machine": None}
    assert record["machine"].endswith("cores") and record["finished"].startswith("20")


def test_the_transfer_path_runs_task102_and_reports_the_open_question(tmp_path):
    """`--profile smoke-transfer`: the transfer profile's Task102 ladder and 26_transfer, on the tiny model."""
    result, _ = run_all(tmp_path, "--profile", "smoke-transfer")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    tables = tmp_path / "results" / "tables" / "smoke-transfer"
    transfer = pd.read_csv(tables / "transfer_verdicts.csv")
    assert set(transfer.task) == {"Task102"} and (transfer.kind == "open question").all()
    assert set(transfer.verdict.str.removesuffix(STAND_IN)) <= set(VERDICTS) | set(NOT_JUDGED)
    overall = transfer.set_index("claim").loc["overall_accuracy_gain"]
    assert overall.n_seeds == 3 and overall.verdict.removesuffix(STAND_IN) in VERDICTS
    assert list(pd.read_csv(tables / "class_balance.csv").columns) == ["split", "n", "0", "1", "2", "3", "4"]
    report = (tmp_path / "report" / "smoke-transfer" / "index.html").read_text()
    assert "open question" in report and "Task102_Example_sl_mc_clf" in report
