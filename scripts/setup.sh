#!/usr/bin/env bash
# One command on a fresh clone: build .venv/ at the repo root, install riffnb with its test tools, then run the
# main job (riffnb's demo on the embedded default). `--no-run` only installs. Re-running is quick: the install is
# skipped while pyproject.toml and this script are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

run_main_job=1
[ "${1:-}" = "--no-run" ] && run_main_job=0

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "setup: riffnb needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
    exit 1
fi
# A venv without a working pip is a half-built one (Debian's python3 without python3-venv leaves exactly that):
# build it again rather than fail the same way on every run.
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    if ! "$python" -m venv .venv; then
        rm -rf .venv
        echo "setup: '$python -m venv' failed; on Debian or Ubuntu install python3-venv (apt install python3-venv)" >&2
        exit 1
    fi
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)

stamp=.venv/.riffnb-install-stamp
fingerprint=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
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
