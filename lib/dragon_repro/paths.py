"""Every location the suite reads or writes, absolute, so code works from any working directory.

Generated files go under OUTPUT (the repository by default); DRAGON_REPRO_OUTPUT moves them, e.g. for tests.
"""

import os
from pathlib import Path

ROOT = Path(os.environ.get("DRAGON_REPRO_ROOT", Path(__file__).resolve().parents[2]))
CONFIG_DIR = ROOT / "config"
NOTEBOOKS_DIR = ROOT / "notebooks"
MODELS_DIR = ROOT / "models"

OUTPUT = Path(os.environ.get("DRAGON_REPRO_OUTPUT", ROOT))
DATA_DIR = OUTPUT / "data"
RESULTS_DIR = OUTPUT / "results"
RUNS_DIR = RESULTS_DIR / "runs"
BENCH_DIR = RESULTS_DIR / "bench"
REFERENCES_DIR = RESULTS_DIR / "references"
TABLES_DIR = RESULTS_DIR / "tables"
FIGURES_DIR = OUTPUT / "figures"
EXECUTED_DIR = OUTPUT / "notebooks" / "executed"
REPORT_DIR = OUTPUT / "report"

