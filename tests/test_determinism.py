"""The same config gives byte-identical results, however the run is started."""

import os
import subprocess
import sys

import pytest
import torch

from dragon_repro.modeling import local_models
from dragon_repro.modeling import model as model_module
from dragon_repro.training import runs
from dragon_repro.verify import result_digests


def smoke_run(plan, **overrides):
    # One epoch more than the smoke default, with dropout, so that any stray draw from the RNG shows.
    return plan.planned("baseline", 0, epochs=3, **overrides)


def cold_models_dir(monkeypatch, folder):
    """Point the model cache at an empty folder: what a fresh clone has."""
    monkeypatch.setattr(local_models, "MODELS_DIR", folder)  # where the local models are built
    monkeypatch.setattr(model_module, "MODELS_DIR", folder)  # what counts as one of them when loading


@pytest.fixture(scope="module")
def reference_run(smoke_plan, tmp_path_factory):
    """The smoke run trained with a warm model cache (the tiny model already built)."""
    local_models.ensure_tiny_model()
    return runs.load_or_run(smoke_run(smoke_plan).under(tmp_path_factory.mktemp("warm")), progress=False,
                            save_model=False)


def test_cold_model_cache_gives_the_same_bytes_as_a_warm_one(reference_run, smoke_plan, tmp_path, monkeypatch):
    cold_models_dir(monkeypatch, tmp_path / "models")  # nothing built yet: the run builds it
    torch.manual_seed(12345)  # whatever ran before in this process must not matter either
    cold = runs.load_or_run(smoke_run(smoke_plan).under(tmp_path / "runs"), progress=False, save_model=False)
    assert (tmp_path / "models" / "tiny-longformer").is_dir()
    assert result_digests(cold.path) == result_digests(reference_run.path)


def test_building_a_model_leaves_the_callers_random_state_alone(tmp_path, monkeypatch):
    cold_models_dir(monkeypatch, tmp_path / "models")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    local_models.ensure_tiny_model()
    assert (tmp_path / "models" / "tiny-longformer").is_dir()  # it was built here, not found elsewhere
    assert torch.equal(torch.rand(3), expected)


def test_the_cli_gives_the_same_bytes_as_load_or_run(reference_run, small_task, tmp_path):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "train", "--experiment", "baseline",
                             "--profile", "smoke", "--task", str(small_task), "--set", "epochs=3"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (run_path,) = (tmp_path / "results" / "runs" / "baseline").iterdir()
    assert run_path.name == reference_run.path.name  # the same config hash
    assert result_digests(run_path) == result_digests(reference_run.path)


def test_a_run_restores_the_callers_threads_and_deterministic_setting(smoke_plan, tmp_path):
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)  # the caller's own choice: strict, not warn-only
    try:
        run = runs.load_or_run(smoke_run(smoke_plan, learning_rate=2e-5).under(tmp_path), progress=False,
                               save_model=False)
        assert torch.get_num_threads() == 2
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        # the run's cost breakdown is in its history, and its progress file is gone once it is complete
        assert set(run.history["phase_seconds"]) == {"load and encode", "train and validate per epoch",
                                                     "score held-out sets", "save"}
        assert not (run.path / runs.PROGRESS_FILE).exists()
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
