import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

# DRAGON's published example task folders, carried by the repository (tests/fixtures/dragon/README.md)
SHARED_DRAGON = Path(os.environ.get("DRAGON_SHARED", Path(__file__).parent / "fixtures" / "dragon"))


@pytest.fixture(scope="session")
def shared_dragon() -> Path:
    if not SHARED_DRAGON.is_dir():
        pytest.fail(f"DRAGON conformance fixtures not found at {SHARED_DRAGON} (set DRAGON_SHARED)")
    return SHARED_DRAGON


@pytest.fixture(scope="session")
def small_task(tmp_path_factory) -> Path:
    """The real Task101 folder layout with tiny held-out evaluation sets."""
    from dragon_repro.tasks.data import write_task
    return write_task(folder=tmp_path_factory.mktemp("data") / "task101",
                      evaluation_sizes={"fresh": 8, "long": 4, "noisy": 8})


@pytest.fixture(scope="session")
def smoke_plan(small_task):
    """The smoke profile's plan on `small_task` (what `train --profile smoke --task small_task` resolves)."""
    from dragon_repro.experiments.plan import resolve_plan
    return resolve_plan("smoke", task=small_task)


@pytest.fixture(scope="session")
def tiny():
    from dragon_repro.modeling.model import load_model_and_tokenizer
    return load_model_and_tokenizer("tiny")
