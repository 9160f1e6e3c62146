"""Every location the suite reads or writes, absolute, so code works from any working directory."""

import os
from pathlib import Path

ROOT = Path(os.environ.get("DRAGON_REPRO_ROOT", Path(__file__).resolve().parents[2]))
CONFIG_DIR = ROOT / "config"
DATA_DIR = ROOT / "data"
MODELS_DIR = ROOT / "models"
RESULTS_DIR = Path(os.environ.get("DRAGON_REPRO_RESULTS", ROOT / "results"))
RUNS_DIR = RESULTS_DIR / "runs"
TABLES_DIR = RESULTS_DIR / "tables"
FIGURES_DIR = ROOT / "figures"
NOTEBOOKS_DIR = ROOT / "notebooks"
EXECUTED_DIR = NOTEBOOKS_DIR / "executed"
REPORT_DIR = ROOT / "report"
