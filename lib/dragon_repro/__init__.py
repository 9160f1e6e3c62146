"""dragon-repro: re-run, audit and extend arXiv 2507.09470 (DRAGON Longformer on Task101)."""

import os

# Offline unless the user says otherwise: model hubs are unreachable where this suite is meant to run.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
