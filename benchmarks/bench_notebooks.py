"""The course notebooks as a learner runs them on a CPU: wall time and the kernel's peak memory, per notebook.

Each ``notebooks/*.ipynb`` runs top to bottom with nbclient in a fresh kernel of this project's Python, offline and
with CUDA hidden, its exercise answers filled in as ``tests/test_notebooks.py`` fills them (that module's helpers
and EXPECTED table are reused). A cell appended after the last one reads the kernel process's peak resident memory
(VmHWM in ``/proc/self/status``, i.e. ``/proc/<kernel pid>/status``) before the kernel shuts down. For
00_quickstart a further cell then presses Generate: it calls the ``generate`` action of the notebook's
``GeneratePanel`` (what the button's click calls) and reads the peak again. The quickstart's target is 1.5 GB,
what a Binder session (2 GB) can give a kernel.

Wall time is the whole ``execute`` (kernel start included), as the test's limit counts it, without the Generate
press, which is timed in the kernel and shown on its own line. Peak memory is in MB
(MiB: VmHWM's kB / 1024). Run it alone on a quiet machine: a busy CPU inflates the times, not the memory.
Each figure is printed with its limit and its ratio to it (above 1 = over): every notebook's wall time against
tests/test_notebooks.py's ``PER_NOTEBOOK_S`` (180 s), their sum against ``TOTAL_S`` (15 min, counted when every
notebook ran), and the quickstart's kernel peak against the 1.5 GB target.

Run:  .venv/bin/python benchmarks/bench_notebooks.py [notebooks/00_quickstart.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402
from test_notebooks import EXPECTED, NOTEBOOK_DIR, NOTEBOOKS, PER_NOTEBOOK_S, TOTAL_S, fill_in_answers  # noqa: E402

from benchlib import of_limit  # noqa: E402  (benchmarks/, on sys.path when this script runs)

QUICKSTART = "00_quickstart.ipynb"
QUICKSTART_TARGET_MB = 1.5 * 1024
MARKER = "__riffnb_bench__"

_PEAK = "[int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')][0] / 1024"

PEAK_CELL = f"""
import json as _json, os as _os
print({MARKER!r} + _json.dumps({{"peak_mb": {_PEAK}, "pid": _os.getpid()}}))
"""

# The panel may live in a variable or only on screen: find it among the kernel's objects.
GENERATE_CELL = f"""
import gc as _gc, json as _json, time as _time
from riffnb.widgets import GeneratePanel as _GeneratePanel

# type(), not isinstance(): isinstance() asks a dead weak proxy for its __class__ and raises ReferenceError.
_panels = [_object for _object in _gc.get_objects() if issubclass(type(_object), _GeneratePanel)]
assert _panels, "the notebook shows no GeneratePanel to press Generate on"
_began = _time.perf_counter()
_clip = _panels[0].generate()
_seconds = _time.perf_counter() - _began
assert _clip is not None and _panels[0].last_error is None, f"Generate failed: {{_panels[0].last_error!r}}"
print({MARKER!r} + _json.dumps({{"generate_s": _seconds, "panels": len(_panels), "peak_mb": {_PEAK}}}))
"""

#: The kernel's environment, as tests/test_notebooks.py gives it: offline, figures inline; and no GPU.
KERNEL_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PIP_NO_INDEX": "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "CUDA_VISIBLE_DEVICES": "",
}


def marked_outputs(cell) -> dict:
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            for line in output.text.splitlines():
                if line.startswith(MARKER):
                    return json.loads(line[len(MARKER):])
    raise RuntimeError(f"no {MARKER} line in the benchmark cell's output: {cell.get('outputs')}")


def run_notebook(path: Path) -> dict:
    """Run one notebook in a fresh kernel; returns seconds, peak MB, and for the quickstart Generate's figures."""
    notebook = nbformat.read(path, as_version=4)
    expected = EXPECTED.get(path.name)
    if expected is not None:
        fill_in_answers(notebook, expected.answers)
    added = [nbformat.v4.new_code_cell(PEAK_CELL)]
    if path.name == QUICKSTART:
        added.append(nbformat.v4.new_code_cell(GENERATE_CELL))
    notebook.cells.extend(added)
    # The native kernel: this interpreter (the project's venv), started fresh for each notebook.
    client = NotebookClient(notebook, kernel_name="python3", timeout=PER_NOTEBOOK_S, startup_timeout=120,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    began = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - began
    result = {"seconds": seconds, **marked_outputs(notebook.cells[-len(added)])}
    if path.name == QUICKSTART:
        after = marked_outputs(notebook.cells[-1])
        result.update(generate_s=after["generate_s"], panels=after["panels"], peak_after_generate_mb=after["peak_mb"])
        result["seconds"] -= after["generate_s"]  # the notebook's own time; Generate is reported on its own line
    return result


def notebook_path(text: str) -> Path:
    """An argparse ``type``: an existing ``.ipynb`` file."""
    path = Path(text)
    if path.suffix != ".ipynb":
        raise argparse.ArgumentTypeError(f"{text} is not a notebook (.ipynb); name one of notebooks/*.ipynb")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist; name one of notebooks/*.ipynb, or none for all")
    return path.resolve()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=notebook_path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    args = parser.parse_args()
    paths = args.notebooks or NOTEBOOKS
    os.environ.update(KERNEL_ENV)

    limit = f"/ {PER_NOTEBOOK_S} s"
    print(f"{'notebook':<36} {'wall s':>8} {limit:>9} {'kernel peak MB':>15}")
    failures, total = 0, 0.0
    for path in paths:
        try:
            result = run_notebook(path)
        except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as error:
            failures += 1
            why = (f"{error.ename}: {error.evalue}" if isinstance(error, CellExecutionError)
                   else next((line for line in str(error).splitlines() if line.strip()), type(error).__name__))
            print(f"{path.name:<36} {'failed':>8}  {why[:300]}", flush=True)
            continue
        total += result["seconds"]
        print(f"{path.name:<36} {result['seconds']:8.1f} {of_limit(result['seconds'], PER_NOTEBOOK_S):>9} "
              f"{result['peak_mb']:15.0f}", flush=True)
        if "generate_s" in result:
            label = "  + press Generate (1 clip)"
            print(f"{label:<36} {result['generate_s']:8.1f} {'':>9} {result['peak_after_generate_mb']:15.0f}",
                  flush=True)
            peak = result["peak_after_generate_mb"]
            verdict = "within" if peak <= QUICKSTART_TARGET_MB else "OVER"
            note = "" if result["panels"] == 1 else f"; pressed the first of its {result['panels']} GeneratePanels"
            print(f"  {QUICKSTART} peak after Generate: {peak / 1024:.2f} GB; target "
                  f"{QUICKSTART_TARGET_MB / 1024:.1f} GB: {of_limit(peak, QUICKSTART_TARGET_MB)} ({verdict}){note}")
    print(f"limits (tests/test_notebooks.py): {PER_NOTEBOOK_S} s per notebook, {TOTAL_S} s ({TOTAL_S / 60:.0f} min) "
          "for all of them together")
    ran = len(paths) - failures
    if set(paths) == set(NOTEBOOKS) and not failures:
        print(f"all {ran} notebooks: {total:.1f} s; limit {TOTAL_S} s: {of_limit(total, TOTAL_S)}")
    else:
        print(f"{ran} of the {len(NOTEBOOKS)} notebooks ran: {total:.1f} s; the {TOTAL_S} s limit is for all of "
              "them, so no ratio")
    if not any(path.name == QUICKSTART for path in paths):
        print(f"  {QUICKSTART}: not run; its target is a kernel peak of {QUICKSTART_TARGET_MB / 1024:.1f} GB "
              "after pressing Generate")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
