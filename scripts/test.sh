#!/usr/bin/env bash
# The whole test suite, from a fresh clone or an existing checkout: makes sure .venv/ is set up, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-run
exec .venv/bin/python -m pytest "$@"
