import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dragon_repro.experiments.config import load_experiments
from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.tasks import data
from dragon_repro.training import runs
from dragon_repro.training.predict import predict_with_run

RUN_FILES = {"config.json", "metrics.json", "predictions.csv", "history.json", "provenance.json", "model"}


def smoke_run(task, experiment="baseline", seed=0, **overrides):
    """One run of the smoke profile on `task`, as `train --profile smoke --task TASK --set ...` plans it."""
    return resolve_plan("smoke", task=task).planned(experiment, seed, **overrides)


@pytest.fixture(scope="module")
def baseline_run(small_task, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return root, runs.load_or_run(smoke_run(small_task).under(root), progress=False)


def test_a_run_writes_every_artefact_with_provenance(baseline_run):
    root, run = baseline_run
    assert not run.cached
    assert {p.name for p in run.path.iterdir()} == RUN_FILES
    assert run.path.parent == root / "baseline" and run.path.name.startswith("0-")
    assert set(run.predictions.split) == {"validation", "fresh", "long", "noisy"}
    assert len(run.predictions.query("split == 'validation'")) == 16
    assert 0.0 <= run.metrics["validation"]["accuracy"] <= 1.0
    assert run.metrics["validation"]["tp"] + run.metrics["validation"]["fn"] == \
        run.predictions.query("split == 'validation'").label.sum()
    assert run.provenance["git_sha"] and run.provenance["wall_seconds"] > 0
    assert {"torch", "transformers", "dragon-prep"} <= set(run.provenance["packages"])
    assert run.provenance["device"].startswith("cpu") and run.provenance["peak_memory_mb"] > 0
    assert run.config["fast_attention"] and run.provenance["exact_attention"]  # on by default, and recorded
    assert run.provenance["cpu"]["model"] and set(run.provenance["math_libraries"]) == {
        "mkl", "mkl_branch", "onednn", "onednn_isa", "onednn_gelu"}
    kernels = run.provenance["cpu_kernels"]
    assert kernels["pinned"] and not run.config["native_cpu"] and kernels["ATEN_CPU_CAPABILITY"] == "avx2"
    assert kernels["MKL_CBWR"] == "AVX2,STRICT" and not kernels["mkldnn_enabled"]  # the pins bench --pins chose
    assert [d["step"] for d in run.history["digests"] if d["after"] == "step"] == [1, 2]  # 2 epochs of 2 steps


def test_identical_config_is_a_cache_hit(baseline_run, small_task, monkeypatch):
    root, first = baseline_run
    monkeypatch.setattr(runs, "fine_tune", lambda *a, **k: pytest.fail("a cached run must not train"))
    again = runs.load_or_run(smoke_run(small_task).under(root), progress=False)
    assert again.cached and again.path == first.path
    assert again.metrics == first.metrics


def test_any_changed_knob_changes_the_hash(small_task):
    base = smoke_run(small_task)
    changed = [smoke_run(small_task, seed=1), smoke_run(small_task, learning_rate=2e-5),
               smoke_run(small_task, global_attention="cls+entities"), smoke_run(small_task, model="embedded")]
    assert len({r.hash for r in [base, *changed]}) == 5
    assert len({r.path for r in [base, *changed]}) == 5  # each its own cache folder


def test_same_seed_gives_identical_metrics_twice(baseline_run, small_task, tmp_path):
    _, first = baseline_run
    second = runs.load_or_run(smoke_run(small_task).under(tmp_path), progress=False, save_model=False)
    assert second.metrics == first.metrics
    pd.testing.assert_frame_equal(second.predictions, first.predictions)


def test_the_baseline_has_dragon_baselines_training_settings():
    spec, plan = load_experiments(), resolve_plan("paper")
    baseline = plan.planned("baseline", 0).config.settings()
    shared = {k: ref["value"] for k, ref in spec["dragon_baseline"].items()
              if k in baseline and "ours" not in ref and k != "seed"}  # seeds: ours are several
    assert len(shared) >= 9
    # truncation_side "task": the plan fills in the task's recommended side (left for Task101)
    side = data.read_task_config(plan.task).recommended_truncation_side
    assert shared["truncation_side"] == "task" and side == "left" == plan.truncation_side
    assert {k: baseline[k] for k in shared} == shared | {"truncation_side": side}


def test_ladder_is_cumulative_and_matches_the_paper_settings():
    plan = resolve_plan("cpu")
    optimized = plan.planned("optimized", 0).config
    encoding, training = optimized.encoding, optimized.training
    assert (encoding.max_seq_length, training.learning_rate, training.epochs) == (1024, 5e-6, 8)
    assert (training.scheduler, training.weight_decay, training.batch_size, training.gradient_accumulation_steps,
            training.early_stopping_patience) == ("cosine", 0.01, 1, 16, 2)
    assert encoding.normalize_measurements and encoding.global_attention == "cls+entities"
    baseline = plan.planned("baseline", 0).config  # dragon-baseline 0.4.6's main.py
    assert (baseline.encoding.max_seq_length, baseline.training.learning_rate, baseline.training.epochs,
            baseline.training.batch_size, baseline.training.gradient_accumulation_steps,
            baseline.training.warmup_ratio, baseline.training.restore_best_epoch,
            baseline.encoding.global_attention) == (512, 1e-5, 5, 4, 2, 0.1, True, "cls")
    stress = plan.planned("overfit_stress", 0).config
    assert (stress.training.epochs, stress.training.learning_rate) == (15, 1e-5)
    with pytest.raises(ValueError, match="unknown experiment"):
        plan.planned("nope", 0)


def _train_cli(task, results, experiment="overfit_stress"):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(results)}
    # 30 epochs of the tiny model: long enough (~15 s) to be interrupted mid-training, short enough to rerun
    return subprocess.Popen([sys.executable, "-m", "dragon_repro", "train", "--experiment", experiment,
                             "--profile", "smoke", "--task", str(task), "--set", "epochs=30"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_no_half_result_and_restarts_cleanly(small_task, tmp_path, sig):
    experiment_dir = tmp_path / "results" / "runs" / "overfit_stress"
    process = _train_cli(small_task, tmp_path)
    deadline = time.time() + 60
    while not list(experiment_dir.glob(".*.tmp-*/config.json")):  # the run is under way
        assert process.poll() is None and time.time() < deadline, process.stderr.read() if process.poll() else ""
        time.sleep(0.05)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(experiment_dir.iterdir()) == []

    process = _train_cli(small_task, tmp_path)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    (run,) = experiment_dir.iterdir()
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert '"accuracy"' in stdout


def test_a_killed_run_is_cleaned_up_by_the_next_call(small_task, tmp_path):
    planned = smoke_run(small_task).under(tmp_path)
    final = planned.path
    orphan = final.with_name(f".{final.name}.tmp-999999999")  # a staging folder whose process is gone
    orphan.mkdir(parents=True)
    (orphan / "config.json").write_text("{}")
    run = runs.load_or_run(planned, progress=False, save_model=False)
    assert not orphan.exists() and (run.path / "provenance.json").exists() and run.path == final


def test_predict_writes_dragon_format_predictions(baseline_run, small_task, tmp_path):
    _, run = baseline_run
    source = small_task / "nlp-validation-dataset.json"
    out = tmp_path / "predictions.json"
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "predict", "--run", str(run.path),
                             "--data", str(source), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    predictions = json.loads(out.read_text())
    cases = json.loads(source.read_text())
    assert [p["uid"] for p in predictions] == [c["uid"] for c in cases]
    assert all(0.0 <= p["single_label_binary_classification"] <= 1.0 for p in predictions)
    validation = run.predictions.query("split == 'validation'").set_index("uid").probability
    first_uids = list(validation.index)
    by_uid = {p["uid"]: p["single_label_binary_classification"] for p in predictions}
    assert [by_uid[u] for u in first_uids] == pytest.approx(list(validation), abs=1e-5)


def test_a_multiclass_task_trains_scores_and_predicts_the_dragon_way(shared_dragon, tmp_path):
    """Task102 through the same loop with the tiny model (saved with a 2-class head): five classes in the task's
    order, every class's probability kept, and predictions that dragon-eval scores."""
    from dragon_eval import DragonEval
    folder = shared_dragon / "Task102_Example_sl_mc_clf-fold0"
    run = runs.load_or_run(smoke_run(folder).under(tmp_path / "runs"), progress=False)
    validation = run.metrics["validation"]
    assert len(validation["confusion"]) == 5 and sum(map(sum, validation["confusion"])) == 16
    assert {"dragon", "class_mae", "macro_f1"} <= set(validation)
    assert {f"p_{c}" for c in range(5)} <= set(run.predictions.columns)

    predictions = tmp_path / "pred" / "Task102_Example_sl_mc_clf-fold0" / "nlp-predictions-dataset.json"
    predictions.parent.mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "predict", "--run", str(run.path),
                             "--data", str(folder), "--out", str(predictions)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert {p["single_label_multi_class_classification"] for p in json.loads(predictions.read_text())} <= \
        {"0", "1", "2", "3", "4"}
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "Task102_Example_sl_mc_clf.json").write_bytes(
        (shared_dragon / "Task102_Example_sl_mc_clf-ground-truth.json").read_bytes())
    DragonEval(ground_truth_path=tmp_path / "gt", predictions_path=tmp_path / "pred",
               output_file=tmp_path / "metrics.json", folds=[0], tasks=["Task102_Example_sl_mc_clf"]).evaluate()
    assert json.loads((tmp_path / "metrics.json").read_text())["aggregates"]["Task102_Example_sl_mc_clf"]["mean"] < 1


def stored_copy(run, root):
    """A run as the store ships it: every file but its weights, under `root` as under results/runs."""
    return Path(shutil.copytree(run.path, root / run.path.parent.name / run.path.name,
                                ignore=shutil.ignore_patterns("model")))


@pytest.mark.parametrize("damage", ["changed", "truncated", "removed", "provenance truncated"])
def test_a_stored_run_is_trusted_only_while_its_files_hash_to_its_provenance(baseline_run, small_task, tmp_path,
                                                                             monkeypatch, damage):
    _, run = baseline_run
    stored = stored_copy(run, tmp_path)
    assert runs.load_run(stored).metrics == run.metrics  # untouched: it loads
    assert set(run.provenance["files"]) == {"config.json", "metrics.json", "predictions.csv", "history.json"}
    name = {"changed": "metrics.json", "truncated": "predictions.csv", "removed": "history.json",
            "provenance truncated": "provenance.json"}[damage]
    path = stored / name
    if damage == "changed":
        path.write_text(path.read_text().replace('"n": ', '"n": 1', 1))  # 16 cases read as 116
    elif damage == "removed":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with pytest.raises(ValueError) as error:
        runs.load_run(stored)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    monkeypatch.setattr(runs, "fine_tune", lambda *a, **k: pytest.fail("a damaged run must not be trained over"))
    planned = smoke_run(small_task).under(tmp_path)
    assert planned.path == stored and planned.done
    with pytest.raises(ValueError, match=name):
        runs.load_or_run(planned, progress=False)


def test_a_stored_run_without_weights_names_the_command_that_retrains_it(baseline_run, small_task, tmp_path,
                                                                          monkeypatch):
    from dragon_repro import __main__, paths
    _, run = baseline_run
    stored = stored_copy(run, tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        predict_with_run(stored, small_task)
    message = str(error.value)
    assert "ships without its weights" in message and "\n" not in message
    command = message.split("with: ")[1].split()
    assert command[:3] == ["python", "-m", "dragon_repro"]
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)  # the command as given, with this test's run store
    monkeypatch.setattr(__main__, "install_interrupts", lambda: None)  # pytest's own handlers stay
    assert __main__.main(command[3:]) == 0
    assert (stored / "model").is_dir()  # the same folder, now with its weights
    assert runs.load_run(stored).metrics == run.metrics


def test_predict_with_bad_data_writes_nothing(baseline_run, tmp_path):
    _, run = baseline_run
    bad = tmp_path / "bad.json"
    bad.write_text('[{"uid": "a", "text": ""}]')
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "predict", "--run", str(run.path),
                             "--data", str(bad), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 2 and "record 0, field 'text'" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_train_on_a_fresh_clone_generates_the_data_first(tmp_path):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)}  # no data/ folder yet, as on a fresh clone
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "train", "--experiment", "baseline",
                             "--profile", "smoke", "--set", "epochs=1"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "[data] writing" in result.stdout and "trained:" in result.stdout
    assert (tmp_path / "data" / "Task101_Example_sl_bin_clf-repro" / "nlp-training-dataset.json").exists()


def test_native_cpu_runs_are_their_own_runs_and_say_so(small_task, tmp_path):
    with pytest.raises(ValueError, match="CPU kernels are pinned: start it with --native-cpu"):
        runs.load_or_run(smoke_run(small_task, native_cpu=True).under(tmp_path), progress=False)
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "train", "--native-cpu", "--experiment",
                             "baseline", "--profile", "smoke", "--task", str(small_task), "--set", "epochs=1"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (provenance,) = tmp_path.glob("results/runs/baseline/*/provenance.json")
    run = runs.load_run(provenance.parent)
    assert run.config["native_cpu"] and not run.provenance["cpu_kernels"]["pinned"]
    assert run.provenance["cpu_kernels"]["ATEN_CPU_CAPABILITY"] is None  # each library's own choice
    assert run.path.name != smoke_run(small_task, epochs=1).path.name  # never the pinned run's cache folder


FINALIZER_SWALLOWS_INTERRUPT = """
import signal, time
from dragon_repro.__main__ import install_interrupts
install_interrupts()

class Finalized:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # the interrupt lands here, inside the finalizer, where Python ignores exceptions
            pass

Finalized()
for _ in range(40):
    time.sleep(0.05)
print("not interrupted")
"""


def test_an_interrupt_that_lands_in_a_finalizer_still_interrupts():
    result = subprocess.run([sys.executable, "-c", FINALIZER_SWALLOWS_INTERRUPT], capture_output=True, text=True,
                            timeout=60)
    assert "not interrupted" not in result.stdout and "KeyboardInterrupt: SIGINT" in result.stderr


def test_plan_runs_says_what_it_will_train_and_trains_only_that(baseline_run, small_task, capsys):
    root, stored = baseline_run
    plan = resolve_plan("smoke", task=small_task)
    two = dataclasses.replace(plan, runs=(plan.planned("baseline", 0).under(root),
                                          plan.planned("baseline", 1).under(root)))
    capsys.readouterr()
    first, second = runs.plan_runs(two, progress=False)
    out, err = capsys.readouterr()
    minutes = max(1, round(stored.provenance["wall_seconds"] / 60))
    assert out == (f"1 of 2 runs are not in the store: training them here, one after another, about {minutes} min "
                   "(from the stored runs of the same experiments; ./run_all.sh trains them in parallel)\n")
    assert "training: 100%" in err and "1/1" in err  # the progress bar
    assert first.cached and first.path == stored.path and not second.cached
    runs.plan_runs(two, progress=False)
    assert capsys.readouterr() == ("", ""), "nothing missing: nothing said"


def test_a_run_with_no_stored_run_of_its_experiment_is_estimated_at_the_stated_rate(small_task, tmp_path):
    planned = smoke_run(small_task, "optimized").under(tmp_path)
    assert runs.expected_seconds(planned) == (runs.FALLBACK_SECONDS_PER_EPOCH * planned.config.training.epochs, False)


def test_git_tracks_the_run_store_but_never_weights():
    from dragon_repro.paths import ROOT
    git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)  # noqa: E731
    run = "results/runs/baseline/0-0123456789ab"
    stored = [f"{run}/{name}" for name in ("config.json", "metrics.json", "predictions.csv", "history.json",
                                           "provenance.json")]
    stored += ["results/bench/steps-embedded-512-0123456789ab/cell.json",
               "results/references/Task-0123456789ab/rule/config.json"]
    weights = [f"{run}/model/model.safetensors", f"{run}/model/config.json", "lib/model.bin", "checkpoint.pt"]
    assert [path for path in stored if git("check-ignore", "-q", "--no-index", path).returncode == 0] == []
    assert [path for path in weights if git("check-ignore", "-q", "--no-index", path).returncode != 0] == []
    tracked = git("ls-files", "-z").stdout.split("\0")
    assert len(tracked) > 100  # the repository's own files: the listing worked
    assert [p for p in tracked if p.endswith((".safetensors", ".bin", ".pt")) or "/model/" in p] == []
    committed = [ROOT / p for p in tracked if p.startswith("results/")]
    assert [p for p in committed if p.stat().st_size > 5_000_000] == []
    assert sum(p.stat().st_size for p in committed) < 20_000_000  # the store stays well under 20 MB


@pytest.mark.parametrize("profile", ["cpu", "transfer"])
def test_every_run_of_a_committed_profile_ships_under_this_checkouts_key(profile):
    """A fresh clone trains nothing: a change to what decides a run (RESULT_CODE, the lock, a profile's settings)
    lands with its regenerated store, and every stored run's files still hash to its seal."""
    plan = resolve_plan(profile)
    missing = [f"{r.config.experiment} seed {r.config.seed}" for r in plan.runs if not r.done]
    assert missing == [], f"not in the store under this checkout's keys (./run_all.sh --profile {profile}): {missing}"
    assert all(runs.load_run(r.path).provenance["code_version"] for r in plan.runs)


def test_a_stored_configs_generated_task_folder_is_this_checkouts_own(monkeypatch, tmp_path):
    from dragon_repro import __main__
    monkeypatch.setattr(data, "ensure_task", lambda name: tmp_path / name)  # (generated here on first use)
    made_elsewhere = "/another/clone/data/Task102_Example_sl_mc_clf-repro"
    assert __main__._task_here(made_elsewhere) == str(tmp_path / "Task102_Example_sl_mc_clf")
    assert __main__._task_here("/another/clone/my-task") == "/another/clone/my-task"  # any other folder: as given
    assert __main__._task_here(str(tmp_path)) == str(tmp_path)
