#!/usr/bin/env bash
# The whole test suite, from a fresh clone or an existing checkout: makes sure .venv/ is set up and that Debian's
# Chromium is there for the real-browser tests (installed with apt-get when we may), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-run
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
