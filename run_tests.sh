#!/usr/bin/env bash
# The test command: bootstraps .venv on first use, then runs the offline test suite.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
# The report test opens the HTML report in Debian's headless chromium (driven by playwright, no browser download).
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
exec python -m pytest "$@"
