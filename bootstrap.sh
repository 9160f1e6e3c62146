# Sourced by run_all.sh and run_tests.sh: builds .venv from requirements.lock on first use, and rebuilds it whenever
# pyproject.toml, requirements.lock, this file or TORCH_BUILD changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
LOCK="$ROOT/requirements.lock"
TORCH_BUILD="${TORCH_BUILD:-cpu}"  # the GPU route: a CUDA build of the locked torch, e.g. TORCH_BUILD=cu130
STAMP="$VENV/.installed-$({ cat "$ROOT/pyproject.toml" "$LOCK" "$ROOT/bootstrap.sh"; echo "$TORCH_BUILD"; } |
                           sha256sum | cut -c1-16)"

if [ ! -f "$STAMP" ]; then
  echo "[bootstrap] installing the locked environment into $VENV (first use, or its inputs changed)"
  "${PYTHON:-python3}" -m venv --clear "$VENV"
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  # torch first, from PyTorch's index for the chosen build: the CPU build has its dependencies in the lock, a CUDA
  # build brings its own (the nvidia libraries). Then every other locked package exactly, resolving nothing.
  torch="$(grep -m1 '^torch==' "$LOCK" | cut -d+ -f1)+$TORCH_BUILD"
  if [ "$TORCH_BUILD" = cpu ]; then deps=(--no-deps); else deps=(); fi
  "${pip[@]}" "${deps[@]}" --extra-index-url "https://download.pytorch.org/whl/$TORCH_BUILD" "$torch"
  "${pip[@]}" --no-deps -r <(grep -v '^torch==' "$LOCK")
  "${pip[@]}" --no-deps -e "$ROOT"
  "$VENV/bin/python" -m pip check
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name dragon-repro --display-name "Python (dragon-repro)" >/dev/null
  touch "$STAMP"
fi

export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
