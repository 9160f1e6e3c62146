import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from dragon_repro.paths import ROOT  # noqa: E402

SHARED_DRAGON = Path(os.environ.get("DRAGON_SHARED", ROOT.parent / "shared" / "dragon"))


@pytest.fixture(scope="session")
def shared_dragon() -> Path:
    if not SHARED_DRAGON.is_dir():
        pytest.fail(f"DRAGON conformance fixtures not found at {SHARED_DRAGON} (set DRAGON_SHARED)")
    return SHARED_DRAGON
