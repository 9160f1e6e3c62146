#!/usr/bin/env bash
# Regenerates every run, table, figure and the report: ./run_all.sh [--profile smoke|cpu|paper] [--model NAME_OR_PATH]
#                                                                  [--seeds 0,1,2] [--jobs N] [--cell-timeout S]
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
exec python -m dragon_repro run-all "$@"
