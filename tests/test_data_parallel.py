"""One run on two processes (`torchrun --nproc_per_node 2 -m dragon_repro train`, gloo on CPU): the batches sharded,
the weights kept equal by the gradients' all-reduce, each case predicted once, one run folder written by the main
process, and the result within seed noise of one process at the same effective batch."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from dragon_repro.atomic import staging_dirs
from dragon_repro.training import runs

RUN_FILES = {"config.json", "metrics.json", "predictions.csv", "history.json", "provenance.json", "model"}
LEARNING_RATE = 0.001  # large enough for the tiny model's weights to move in the smoke profile's 2 epochs

# `python -m dragon_repro`, with every process counting the cases its model predicts (forward passes in eval mode)
# and writing that count and its final weights' digest to CASE_LOG/<rank>.json when it ends.
COUNTING_MAIN = """
import atexit, json, os, runpy, sys
import dragon_repro
from transformers import LongformerForSequenceClassification as Model
from dragon_repro.training.train import parameters_digest
cases, models = [], []
forward = Model.forward
def counted(self, *args, **kwargs):
    models[:] = [self]
    if not self.training:
        cases.append(len(kwargs["input_ids"]))
    return forward(self, *args, **kwargs)
Model.forward = counted
log = os.path.join(os.environ["CASE_LOG"], os.environ["RANK"] + ".json")
atexit.register(lambda: open(log, "w").write(json.dumps({"cases": sum(cases), "digest": parameters_digest(models[0])})))
sys.argv[0] = "dragon_repro"
runpy.run_module("dragon_repro", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def two_processes(small_task, tmp_path_factory):
    output, log = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("cases")
    (log / "main.py").write_text(COUNTING_MAIN)
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output), "CASE_LOG": str(log)}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(log / "main.py"), "train", "--experiment", "baseline", "--profile", "smoke",
                             "--task", str(small_task), "--set", f"learning_rate={LEARNING_RATE}",
                             "--set", "gradient_accumulation_steps=2"],  # 4 x 2 processes x 2: 16, as 4 x 4 on one
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((log / f"{rank}.json").read_text()) for rank in (0, 1)]
    return output / "results" / "runs" / "baseline", ranks, result.stdout


@pytest.fixture(scope="module")
def one_process(smoke_plan, tmp_path_factory):
    """The same run on one process at the same effective batch (the smoke profile's 4 x 4), over three seeds."""
    root = tmp_path_factory.mktemp("one")
    return [runs.load_or_run(smoke_plan.planned("baseline", seed, learning_rate=LEARNING_RATE).under(root),
                             progress=False, save_model=False) for seed in (0, 1, 2)]


def test_only_the_main_process_writes_one_run_folder(two_processes, one_process):
    folder, _, stdout = two_processes
    (run_path,) = folder.iterdir()  # no second folder, no staging folder left
    assert {p.name for p in run_path.iterdir()} == RUN_FILES and not staging_dirs(run_path)
    assert run_path.name != one_process[0].path.name  # a run of its own: its effective batch is not its config's
    assert stdout.count("trained: ") == 1  # one process reports it
    provenance = runs.load_run(run_path).provenance
    assert provenance["processes"] == 2
    assert provenance["effective_batch_size"] == one_process[0].provenance["effective_batch_size"] == 16


def test_every_case_is_predicted_once_across_the_processes(two_processes, one_process):
    folder, ranks, _ = two_processes
    run = runs.load_run(next(folder.iterdir()))
    epochs = len(run.history["epochs"])
    held_out = run.predictions.query("split != 'validation'")
    validation = run.predictions.query("split == 'validation'")
    assert sum(r["cases"] for r in ranks) == epochs * len(validation) + len(held_out)  # not twice that
    assert all(r["cases"] > 0 for r in ranks)  # the validation batches were shared
    pd.testing.assert_frame_equal(run.predictions[["split", "uid"]], one_process[0].predictions[["split", "uid"]])


def test_the_processes_train_the_same_weights_at_one_processs_pace(two_processes, one_process):
    folder, ranks, _ = two_processes
    assert ranks[0]["digest"] == ranks[1]["digest"]  # different batches, equal weights: the gradients were averaged
    history = runs.load_run(next(folder.iterdir())).history
    reference = one_process[0].history
    assert len(history["steps"]) == len(reference["steps"])
    assert [s["lr"] for s in history["steps"]] == pytest.approx([s["lr"] for s in reference["steps"]])


def test_the_metrics_are_within_seed_noise_of_one_process(two_processes, one_process):
    folder, *_ = two_processes
    loss = runs.load_run(next(folder.iterdir())).metrics["validation"]["loss"]
    seeds = [r.metrics["validation"]["loss"] for r in one_process]
    noise = max(seeds) - min(seeds)
    assert noise > 0 and min(seeds) - noise <= loss <= max(seeds) + noise, (loss, seeds)
