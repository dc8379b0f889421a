#!/usr/bin/env bash
# The whole test suite, from a fresh clone or an existing checkout: makes sure .venv/ is set up and that Debian's
# Chromium is there for the real-browser tests (installed with apt-get when we may), then runs pytest, then runs
# the tests that build widgets without a browser a second time under Colab's ipywidgets 7.7.1. Fails if either
# run fails. Arguments go to pytest, and then only that one run happens (`bash scripts/test.sh -k stft`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-run
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ $# -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi

suite=0
.venv/bin/python -m pytest || suite=$?

# Colab's ipywidgets 7.7.1, Python side only (the browser side is Colab's): it and ipython_genutils, its one import
# the venv lacks, go to .venv/ipywidgets7, which PYTHONPATH puts ahead of the venv's ipywidgets 8. A test checks
# that the run really imports 7.7 (RIFFNB_EXPECT_IPYWIDGETS); -k widget picks the panels and players. An argument
# 7.7 lacks (e.g. `tooltip` on a Text) is silently dropped there with a DeprecationWarning: here it is an error.
widgets7=.venv/ipywidgets7
if [ ! -d "$widgets7/ipywidgets-7.7.1.dist-info" ]; then
    rm -rf "$widgets7" "$widgets7.partial"
    .venv/bin/python -m pip --disable-pip-version-check install -q --no-deps --target "$widgets7.partial" \
        ipywidgets==7.7.1 ipython_genutils==0.2.0
    mv "$widgets7.partial" "$widgets7"
fi
echo "== the widget tests again, under ipywidgets 7.7.1 (Colab's) =="
widgets7_run=0
RIFFNB_EXPECT_IPYWIDGETS=7.7 PYTHONPATH="$widgets7${PYTHONPATH:+:$PYTHONPATH}" \
    .venv/bin/python -m pytest -p no:cacheprovider -k widget \
    -W 'error:Passing unrecognized arguments to super:DeprecationWarning' \
    -W 'ignore:The `ipykernel.comm.Comm` class has been deprecated:DeprecationWarning' \
    tests/test_widgets.py tests/test_display.py tests/test_environments.py || widgets7_run=$?
echo "== pytest exit status: whole suite ${suite}, widget tests under ipywidgets 7.7.1 ${widgets7_run} =="
[ "$suite" != 0 ] && exit "$suite"
exit "$widgets7_run"
