#!/usr/bin/env bash
# Regenerates every run, table, figure and the report: ./run_all.sh [--profile smoke|cpu|paper] [--model NAME_OR_PATH]
#                                                                  [--seeds 0,1,2] [--jobs N] [--cell-timeout S]
#         ./run_all.sh --retrain [--replace]: re-train every stored run from scratch and say what reproduced
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
exec python -m dragon_repro run-all "$@"
