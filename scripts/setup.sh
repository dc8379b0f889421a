#!/usr/bin/env bash
# One command on a fresh clone: build .venv/ at the repo root, install riffnb with its test tools, then run the
# main job (riffnb's demo on the embedded default). `--no-run` only installs. Re-running is quick: the install is
# skipped while pyproject.toml and this script are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

run_main_job=1
[ "${1:-}" = "--no-run" ] && run_main_job=0

python=${PYTHON:-python3}
new_enough='import sys; sys.exit(sys.version_info < (3, 10))'
if ! "$python" -c "$new_enough" 2>/dev/null; then
    echo "setup: riffnb needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
    exit 1
fi
# A venv without a working pip is a half-built one (Debian's python3 without python3-venv leaves exactly that), and
# one from an older Python cannot install riffnb: build it again rather than fail the same way on every run.
if ! .venv/bin/python -c "$new_enough" 2>/dev/null || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    if ! "$python" -m venv .venv; then
        rm -rf .venv
        echo "setup: '$python -m venv' failed; on Debian or Ubuntu install python3-venv (apt install python3-venv)" >&2
        exit 1
    fi
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check --quiet)

stamp=.venv/.riffnb-install-stamp
# Python's hashlib, not sha256sum: macOS has no sha256sum.
fingerprint=$(cat pyproject.toml scripts/setup.sh |
              .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
    echo "setup: installing riffnb and its test tools into .venv (a few minutes the first time)"
    if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
            "${pip[@]}" install 'torch>=2.4,<3'
        else
            # Without a GPU take PyTorch's CPU build: a plain install would fetch several GB of CUDA libraries.
            "${pip[@]}" install --retries 1 torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu
        fi
    fi
    "${pip[@]}" install -e '.[dev]'
    # The evaluation's outside ear (riffnb.train.evaluate.notes_heard) is basic-pitch's ONNX model, run by
    # onnxruntime; basic-pitch's declared requirements would pull in TensorFlow, which that model does not need.
    "${pip[@]}" install --no-deps 'basic-pitch==0.4.0'
    echo "$fingerprint" > "$stamp"
fi

if [ "$run_main_job" = 1 ]; then
    .venv/bin/riffnb demo riffnb-demo --overwrite
fi
echo "setup: done; run the tests with 'bash scripts/test.sh', or 'source .venv/bin/activate' to use riffnb"
