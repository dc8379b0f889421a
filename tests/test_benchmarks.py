"""The benchmark scripts (benchmarks/): bad arguments are one line naming the problem and the fix (argparse's usage
error, exit status 2), never a traceback; eval_tiny's speed figure comes with its target and a same-run baseline.

Nothing here times anything for real: the scripts' figures are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RIFFNB_PYTHON

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from benchlib import of_limit, positive_int  # noqa: E402


def run_script(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    command = [RIFFNB_PYTHON, "-c", code, *args] if code else [RIFFNB_PYTHON, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_positive_int_accepts_one_or_more_and_names_the_fix_otherwise():
    assert positive_int("3") == 3
    for text, problem in (("0", "0 is too few"), ("-2", "-2 is too few"), ("x", "'x' is not a whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=f"{problem}; give 1 or more"):
            positive_int(text)
    assert of_limit(90, 180) == "0.50x"


@pytest.mark.parametrize("args, message", [
    (["benchmarks/bench_phase.py", "--repeats", "0"], "argument --repeats: 0 is too few; give 1 or more"),
    (["benchmarks/bench_diffusion.py", "--repeats", "0"], "argument --repeats: 0 is too few; give 1 or more"),
    (["benchmarks/bench_diffusion.py", "--sd-steps", "0"], "argument --sd-steps: 0 is too few; give 1 or more"),
    (["benchmarks/eval_tiny.py", "--threads", "0"], "argument --threads: 0 is too few; give 1 or more"),
    (["benchmarks/eval_tiny.py", "--speed-only", "--model", "nope"], "--model: unknown model 'nope'"),
    (["benchmarks/eval_tiny.py", "--speed-only", "--scheduler", "bogus"], "unknown scheduler 'bogus'; use one of"),
    (["benchmarks/eval_tiny.py", "--speed-only", "--tuning-only"], "give one of them"),
    (["benchmarks/bench_notebooks.py", "nope.ipynb"], "nope.ipynb does not exist; name one of notebooks/*.ipynb"),
    (["benchmarks/bench_notebooks.py", "README.md"], "README.md is not a notebook (.ipynb)"),
])
def test_bad_arguments_are_one_line_not_a_traceback(args, message):
    result = run_script(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert ": error: " in last and message in last, result.stderr


def test_eval_tiny_without_basic_pitch_says_how_to_install_it_before_any_work():
    # onnxruntime made unimportable: the full evaluation refuses at once; --speed-only does not need it.
    code = ("import runpy, sys; sys.modules['onnxruntime'] = None; sys.argv = ['eval_tiny.py', *sys.argv[1:]]; "
            "sys.path.insert(0, 'benchmarks'); runpy.run_path('benchmarks/eval_tiny.py', run_name='__main__')")
    result = run_script("--model", "nope", code=code)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "pip install --no-deps basic-pitch==0.4.0" in last and "onnxruntime" in last, result.stderr
    assert "--speed-only" in last
    # The speed-only mode goes past that check (and stops at the model instead).
    result = run_script("--speed-only", "--model", "nope", code=code)
    assert result.returncode == 2 and "--model: unknown model 'nope'" in result.stderr, result.stderr


def test_eval_tiny_speed_prints_the_target_and_a_same_run_baseline(capsys):
    import eval_tiny

    import riffnb

    pipe = riffnb.load_pipeline("tiny", device="cpu")
    pipe.pipeline.set_progress_bar_config(disable=True)
    settings = {"steps": 2, "guidance": pipe.defaults.guidance, "width": pipe.defaults.width,
                "scheduler": pipe.defaults.scheduler}
    results = {"settings": settings, **eval_tiny.speed(pipe, settings, repeats=1)}
    assert results["target_seconds_per_clip"] == 2.0
    assert results["seconds_per_clip_over_target"] == pytest.approx(results["seconds_per_clip"] / 2.0)
    assert results["seconds_per_clip_over_diffusers"] == pytest.approx(
        results["seconds_per_clip"] / results["diffusers_seconds_per_clip"])
    eval_tiny.print_speed(results)
    printed = capsys.readouterr().out
    assert "target 2 s" in printed and "riffnb / diffusers" in printed
