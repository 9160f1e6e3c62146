"""The paper profile's path, proven without the weights: its ladder, one epoch on a few cases, on a DRAGON-shaped
checkpoint in each weight format, through runs, notebooks, verdicts and the report (`--profile paper-dry-run`)."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from dragon_repro.analysis.paper_claims import load_claims
from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.paths import ROOT


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_the_paper_profile_runs_end_to_end_on_a_dragon_shaped_checkpoint(weights, tmp_path):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)}
    built = subprocess.run([sys.executable, "-m", "dragon_repro", "shaped", "--size", "tiny", "--weights", weights],
                           env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    folder = built.stdout.strip().splitlines()[-1]
    assert sorted(os.listdir(folder)).count("model.safetensors" if weights == "safetensors" else "pytorch_model.bin")
    started = time.perf_counter()
    result = subprocess.run([str(ROOT / "run_all.sh"), "--profile", "paper-dry-run", "--model", folder],
                            env=env, capture_output=True, text=True, timeout=900)
    print(f"paper dry run ({weights}): {time.perf_counter() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    label = f"paper-dry-run-model-dragon-shaped-tiny-{weights}"
    plan = resolve_plan("paper-dry-run", folder)
    assert plan.label == label
    bundle = json.loads((tmp_path / "figures" / label / "provenance.json").read_text())
    assert sorted((e["experiment"], e["seed"]) for e in bundle) == \
        sorted((r.config.experiment, r.config.seed) for r in plan.runs)
    assert {e["model"] for e in bundle} == {folder}
    verdicts = pd.read_csv(tmp_path / "results" / "tables" / label / "verdicts.csv")
    assert set(verdicts.claim) == {c["id"] for c in load_claims()["claims"]}
    assert set(verdicts.verdict) <= {"different model", "too few seeds", "not testable", "descriptive", "not run"}
    # every run has the exact attention path installed and counted its passes; the path takes passes of at most
    # twice the tiny checkpoint's 32-token window, which the length-sorted passes of these few cases exceed, so
    # here they may all go through transformers' code (tests/test_exact_attention.py checks the path itself)
    assert all(e["provenance"]["exact_attention"] for e in bundle)
    assert all(sum(e["provenance"]["attention_batches"].values()) > 0 for e in bundle)
    assert "fresh (primary): verdict" in (tmp_path / "report" / label / "index.html").read_text()

    (run,) = (tmp_path / "results" / "runs" / "optimized").iterdir()
    source = tmp_path / "data" / "Task101_Example_sl_bin_clf-repro" / "nlp-validation-dataset.json"
    predicted = subprocess.run([sys.executable, "-m", "dragon_repro", "predict", "--run", str(run), "--data",
                                str(source), "--out", str(tmp_path / "predictions.json")], env=env,
                               capture_output=True, text=True)
    assert predicted.returncode == 0, predicted.stderr
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert [p["uid"] for p in predictions] == [c["uid"] for c in json.loads(source.read_text())]
