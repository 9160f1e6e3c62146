#!/usr/bin/env bash
# The prepared GPU check (issue 29): on a GPU, `selftest --profile paper` and the paper dry run on the DRAGON-shaped
# base checkpoint (the real architecture, random weights), everything they print and `nvidia-smi` written into one
# folder, figures/gpu/<date>-<device>/, within GPU_CHECK_MINUTES (8) minutes; then the profile's benchmark (the cost
# rows of the verdicts) in whatever time is left. Commit that folder.
#
#   scripts/gpu-check.sh                     # on a GPU
#   GPU_CHECK_CPU=1 scripts/gpu-check.sh     # degraded, to check the script on a CPU: the paper-dry-run profile on
#                                            # the tiny DRAGON-shaped checkpoint, into results/gpu-check/ (not committed)
# GPU_CHECK_MODEL=FOLDER times the paper's model instead of dragon-shaped-base; GPU_CHECK_OUT=FOLDER writes there.
source "$(dirname "${BASH_SOURCE[0]}")/../bootstrap.sh"
cd "$ROOT"
set +e  # a failed step is recorded in the folder; the next still runs

minutes="${GPU_CHECK_MINUTES:-8}"
if [ "${GPU_CHECK_CPU:-0}" = 1 ]; then
  profile=paper-dry-run size=tiny folder="results/gpu-check/$(date -u +%Y-%m-%d)-cpu-check"
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  profile=paper size=base device="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9.' '-' | sed 's/-$//')"
  folder="figures/gpu/$(date -u +%Y-%m-%d)-$device"
else
  echo "gpu-check: no GPU here (nvidia-smi finds none); GPU_CHECK_CPU=1 runs a degraded check on the CPU" >&2
  exit 2
fi
out="${GPU_CHECK_OUT:-$folder}"
mkdir -p "$out"
deadline=$(( $(date +%s) + 60 * minutes ))
left() { local s=$(( deadline - $(date +%s) )); echo $(( s > 1 ? s : 1 )); }  # timeout 0 would mean none
step() {  # step NAME COMMAND...: run it within the time left, its output to NAME.log, its exit status recorded
  local name="$1"; shift
  echo "[gpu-check] $name: $*" | tee -a "$out/steps.txt"
  timeout "$(left)" "$@" >"$out/$name.log" 2>&1
  local status=$?
  echo "[gpu-check] $name: exit $status ($(( $(date +%s) - started )) s since the start)" | tee -a "$out/steps.txt"
}
started=$(date +%s)
: >"$out/steps.txt"
{ git rev-parse HEAD; git status --short; } >"$out/commit.txt"
nvidia-smi >"$out/nvidia-smi-before.txt" 2>&1 || echo "no nvidia-smi" >"$out/nvidia-smi-before.txt"

model="${GPU_CHECK_MODEL:-dragon-shaped-$size}"  # or the paper's model, where its folder is at hand
step selftest python -m dragon_repro selftest --profile "$profile" --model "$model" --out "$out/selftest.json"
checkpoint="$(python -m dragon_repro shaped --size "$size" | tail -1)"
step dry-run ./run_all.sh --profile paper-dry-run --model "$checkpoint"
label="paper-dry-run-model-$(basename "$checkpoint")"
cp "figures/$label/provenance.json" "$out/dry-run-provenance.json" 2>/dev/null
cp "results/tables/$label/verdicts.md" "$out/dry-run-verdicts.md" 2>/dev/null
# the cost rows of the verdicts are judged on a GPU only: the profile's benchmark, in whatever time is left
step bench python -m dragon_repro bench --profile "$profile"
nvidia-smi >"$out/nvidia-smi-after.txt" 2>&1 || echo "no nvidia-smi" >"$out/nvidia-smi-after.txt"
echo "[gpu-check] wrote $out in $(( $(date +%s) - started )) s"
