#!/usr/bin/env bash
# The test command: bootstraps .venv on first use, then runs the offline test suite.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
exec python -m pytest "$@"
