"""The course notebooks: every ``notebooks/*.ipynb`` runs top to bottom headless, on the CPU and offline, in time,
and computes what it teaches; the committed files are clean.

Each notebook is executed with nbclient in a kernel that runs this project's Python, with its exercise answers
filled in (the notebooks leave them as ``name = None  # ✏️ ...``). Generic rules, for every notebook:

- it runs within ``PER_NOTEBOOK_S`` (all of them within ``TOTAL_S``) without an error;
- its last code cell is a check cell with assertions on the numbers it computed;
- it plays sound and draws figures; its first Markdown cell has Colab and Binder badges for its own path, and its
  first code cell installs riffnb from ``REPO_URL`` only when it is missing;
- committed, it holds no outputs, execution counts or widget state, and its jupytext twin (``.py``), if any,
  has the same cells.

``EXPECTED`` adds per-notebook rules, keyed by file name: the correct exercise answers (each must be accepted
with a "✓"), variables read back from the kernel with a condition on each, and whether every cell that draws a
spectrogram also plays sound. Notebooks without an entry get the generic rules only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import typing as T
from pathlib import Path

import nbformat
import pytest

from conftest import RIFFNB_PYTHON

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

PER_NOTEBOOK_S = 180
TOTAL_S = 15 * 60

KERNEL_NAME = "riffnb-notebook-test"
PROBE_MARKER = "__riffnb_probe__"
ANSWER_LINE = re.compile(r"^(?P<name>\w+) = None(?P<comment>\s+# ✏️.*)$", re.MULTILINE)
DRAWS_SPECTROGRAM = re.compile(r"\b(plot_spectrogram|plot_image|compare)\(")


@dataclasses.dataclass(frozen=True)
class Expected:
    """What one notebook must compute.

    ``answers``: exercise variable -> source of a correct answer (a literal, or an expression the kernel
    evaluates where the answer depends on what the notebook measured). ``values``: variable -> condition on its
    value, read back as JSON (tuples become lists, numpy scalars and arrays plain numbers and lists).
    """

    answers: T.Mapping[str, str] = dataclasses.field(default_factory=dict)
    values: T.Mapping[str, T.Callable[[T.Any], bool]] = dataclasses.field(default_factory=dict)
    sound_with_spectrograms: bool = True


EXPECTED: dict[str, Expected] = {
    "00_quickstart.ipynb": Expected(
        answers={"seconds_in_512_columns": "10.24"},
        values={
            "clip_seconds": lambda v: 5.0 < v < 5.2,
            "image_size": lambda v: v == [256, 96],
            "peak": lambda v: 0.01 < v <= 1,
        },
    ),
    "01_sound_and_stft.ipynb": Expected(
        answers={
            "bin_of_1000_hz": "400",
            "frames_in_two_seconds": "201",
            "heard_frequency_hz": "3000",
            "numbers_per_sample": "20.04",
            "half_width_50ms_hz": "40",
        },
        values={
            "riffusion_shape": lambda v: v == [1, 8821, 513],
            "bin_spacing_hz": lambda v: v == 2.5,
            "frames_per_second": lambda v: v == 100,
            "istft_error": lambda v: v < 1e-10,
            "hann_first_zero_hz": lambda v: v == 20,
            "rect_first_zero_hz": lambda v: v == 10,
            "zero_phase_sc": lambda v: v > -10,
            "random_phase_sc": lambda v: v > -10,
        },
    ),
    "02_mel_and_images.ipynb": Expected(
        answers={
            "mel_of_1000_hz": "1000",
            "pixel_at_half_max": "40",
            "bins_used_by_filterbank": "3999",
            "seconds_in_768_columns": "7.68",
            "decoded_seconds_of_768_columns": "7.67",
            "quietest_db_at_half_power": "-96.3",
        },
        values={
            "bins_with_weight": lambda v: v == 3999,
            "mel_shape": lambda v: v == [1, 512, 513],
            "image_size": lambda v: v == [513, 512],
            "quantisation_sc": lambda v: v < -30,
            "mel_roundtrip_sc": lambda v: v < -40,
            "plain_tags": lambda v: v == 0,
            # The loss ladder: (STFT, mel) spectral convergence of each clip against the original.
            "scores": lambda v: v["1. nothing above 10 kHz"][1] < -60
            and abs(v["3. + 8-bit image"][1] - v["2. + mel bands"][1]) < 2
            and v["3. + 8-bit image"][1] < v["4. + phase reconstruction"][1] < -20,
        },
    ),
    "03_phase_reconstruction.ipynb": Expected(
        answers={
            "error_energy_fraction": "0.01",
            "silence_sc_db": "0",
            "iterations_to_match_pghi": "int(np.flatnonzero(fgla_scores <= pghi_sc)[0])",
            "pghi_lambda": "4.99e6",
            "original_is": "next(k for k, v in _blind.items() if v == 'the original')",
            "riffusion_recipe_is": "next(k for k, v in _blind.items() if v == \"Riffusion's recipe\")",
        },
        values={
            "gla_by_hand_error": lambda v: v < 1e-3,
            "fgla_by_hand_error": lambda v: v < 1e-3,
            "iterations_to_match_pghi": lambda v: 4 <= v <= 32,
            "pghi_sc": lambda v: v < -15,
            "gla_scores": lambda v: len(v) == 33 and v[32] > -20,
            "fgla_scores": lambda v: len(v) == 33 and v[32] < v[8] - 5,
            "pghi_fgla_scores": lambda v: v[0] < -15 and v[32] < -28,
            "image_scores": lambda v: v["riffnb's default: PGHI + 16 fast Griffin-Lim"]
            < v["Riffusion's: random + 32 fast Griffin-Lim"]
            < v["classic: random + 32 Griffin-Lim"],
        },
    ),
    "04_diffusion_step_by_step.ipynb": Expected(
        answers={
            "padding_tokens": "70",
            "latent_shape_10s": "(1, 8, 12, 64)",
            "noise_overtakes_signal_at": "354",
            "unet_calls_per_step": "2",
            "unet_calls_per_clip": "40",
            "guided_value": "2.3",
        },
        values={
            "embedding_shape": lambda v: v == [1, 77, 128],
            "latent_shape_now": lambda v: v == [1, 8, 12, 32],
            "PREDICTION_TYPE": lambda v: v == "v_prediction",
            "guidance_error": lambda v: v < 1e-4,
            "ddim_step_error": lambda v: v < 1e-4,
            "loop_difference": lambda v: v == 0,
        },
    ),
    "05_riffing.ipynb": Expected(
        answers={
            "steps_at_strength_075_of_50": "38",
            "slerp_midpoint": "[0.7071, 0.7071]",
            "lerp_midpoint_norm": "0.7071",
            "latent_mask_columns_of_512": "64",
            "seeds_of_clip_9": "(9, 10)",
            "windows_in_180_s": "38",
            "riffed_180_s_song_seconds": "180",
        },
        values={
            # The tiny model: 20 steps by default, so strength s runs int(20 s) of them.
            "riff_steps_counted": lambda v: v == [0, 5, 10, 15, 20],
            "change_by_strength": lambda v: all(a < b for a, b in zip(v, v[1:])),
            # (mean pixel change in the kept first half, in the repainted second half)
            "mask_change": lambda v: v["riff with the mask"][0] < v["riff, no mask"][0] / 2
            and v["riff with the mask"][0] < v["riff with the mask"][1] / 2,
            "slerp_by_hand_error": lambda v: v < 1e-5,
            "lerp_norms": lambda v: abs(v[10] - 0.5**0.5) < 0.05,
            "slerp_norms": lambda v: min(v) > 0.95,
            "morph_alphas": lambda v: v == [0.0, 0.25, 0.5, 0.75, 1.0],
            "track_alphas": lambda v: v == [0.25, 0.5, 0.75, 1.0] * 2,
            "crossfade_error": lambda v: v < 1e-12,
            "window_starts_s": lambda v: v == [0.0, 4.8, 9.6],
            "riffed_seconds": lambda v: v == 12.0,
        },
    ),
    "06_train_your_own.ipynb": Expected(
        answers={
            "latent_shape": "(8, 12, 32)",
            "conv_in_parameters": "3504",
            "v_target": "0.2",
            "zero_prediction_loss": "1",
            "passes_per_clip": "190.05",
        },
        values={
            "vocabulary_size": lambda v: 500 < v < 2000,
            "unet_parameters": lambda v: 4e6 < v < 7e6,
            "vae_pixel_error": lambda v: v < 20,
            "velocity_error": lambda v: v < 1e-5,
            "shipped_mean_loss": lambda v: v < 0.5,
            # The toy run's UNet loss at every step: the last five must average below the first five.
            "toy_losses": lambda v: len(v) == 40 and sum(v[-5:]) / 5 < sum(v[:5]) / 5 - 0.05,
            "judge_accuracy": lambda v: v >= 0.8,
        },
    ),
}

#: Seconds each notebook took, filled in as they run, for the total.
RUN_SECONDS: dict[str, float] = {}


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def outputs_text(cell) -> str:
    """Everything a cell printed or displayed as text or HTML."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            data = output.get("data", {})
            parts.extend(data.get(kind, "") for kind in ("text/plain", "text/html", "text/markdown"))
    return "\n".join(parts)


def has_figure(cell) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def fill_in_answers(notebook, answers: T.Mapping[str, str]) -> None:
    """Replace each exercise's ``name = None  # ✏️ ...`` line with the given answer (each must exist once)."""
    found = {}
    for cell in code_cells(notebook):
        def answer(match: re.Match) -> str:
            name = match["name"]
            if name not in answers:
                return match[0]
            found[name] = found.get(name, 0) + 1
            return f"{name} = {answers[name]}{match['comment']}"

        cell.source = ANSWER_LINE.sub(answer, cell.source)
    assert found == dict.fromkeys(answers, 1), f"exercise answer lines found: {found}, expected each of {list(answers)} once"


def probe_source(names: T.Iterable[str]) -> str:
    """A cell printing the named variables as one JSON line after PROBE_MARKER."""
    return f"""
import json as _json
import numpy as _np

def _plain(value):
    if isinstance(value, dict):
        return {{str(k): _plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (_np.ndarray, _np.generic)):
        return value.tolist()
    return value

print({PROBE_MARKER!r} + _json.dumps({{name: _plain(globals()[name]) for name in {list(names)!r}}}))
"""


@pytest.fixture(scope="session")
def jupyter_path(tmp_path_factory):
    """A private JUPYTER_PATH holding one kernelspec, KERNEL_NAME: this project's Python (with ipykernel),
    offline settings."""
    folder = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True)
    python = Path(RIFFNB_PYTHON)
    env = {
        # The venv's tools first, as an activated venv would have them.
        "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
        # Figures as PNG outputs even if the test run sets another backend.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # Offline: no model hub, no package index (the install cell must not run when riffnb is importable).
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
    }
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "riffnb (tests)",
        "language": "python",
        "env": env,
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return folder.parents[1]


def execute(path: Path, jupyter_path: Path, expected: Expected, edits: T.Mapping[str, str] | None = None):
    """Run the notebook (answers filled in, ``edits``' code replaced, a probe cell appended); return it, its probe
    values and the seconds."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    for old, new in (edits or {}).items():
        cells = [cell for cell in notebook.cells if cell.cell_type == "code" and old in cell.source]
        assert cells, f"{path.name} no longer holds {old!r}"
        for cell in cells:
            cell.source = cell.source.replace(old, new)
    fill_in_answers(notebook, expected.answers)
    names = sorted(set(expected.values) | set(expected.answers))
    if names:
        notebook.cells.append(nbformat.v4.new_code_cell(probe_source(names)))
    client = NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=PER_NOTEBOOK_S, startup_timeout=120,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(jupyter_path))
        began = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - began
    values = {}
    if names:
        probe = notebook.cells.pop()
        line = next(line for line in outputs_text(probe).splitlines() if line.startswith(PROBE_MARKER))
        values = json.loads(line[len(PROBE_MARKER):])
    return notebook, values, seconds


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_and_computes_what_it_teaches(path, jupyter_path):
    expected = EXPECTED.get(path.name, Expected(sound_with_spectrograms=False))
    notebook, values, seconds = execute(path, jupyter_path, expected)
    RUN_SECONDS[path.name] = seconds
    assert seconds < PER_NOTEBOOK_S, f"{path.name} took {seconds:.0f} s (limit {PER_NOTEBOOK_S} s)"

    cells = code_cells(notebook)
    assert "assert " in cells[-1].source, f"{path.name} must end with a check cell of assertions"
    everything = "\n".join(outputs_text(cell) for cell in cells)
    assert "<audio controls" in everything, f"{path.name} plays no sound"
    assert any(has_figure(cell) for cell in cells), f"{path.name} draws no figure"

    if expected.sound_with_spectrograms:
        silent = [cell.source.splitlines()[0] for cell in cells
                  if DRAWS_SPECTROGRAM.search(cell.source) and has_figure(cell)
                  and "<audio controls" not in outputs_text(cell)]
        assert not silent, f"{path.name}: cells draw spectrograms without a player: {silent}"

    verdicts = [line for line in everything.splitlines() if "✓ correct" in line or "✗" in line]
    wrong = [line for line in verdicts if "✗" in line]
    assert not wrong, f"{path.name}: correct answers were refused: {wrong}"
    assert len(verdicts) == len(expected.answers), f"{path.name}: expected {len(expected.answers)} exercise verdicts, got {verdicts}"

    failed = {name: values.get(name) for name, holds in expected.values.items() if not holds(values[name])}
    assert not failed, f"{path.name} computed unexpected values: {failed}"


# The diffusion notebooks' model loading as a CUDA or MPS machine runs it: load_pipeline picks float16 there.
FLOAT16_EDITS = {
    "04_diffusion_step_by_step.ipynb": {"riffnb.load_pipeline(MODEL)": 'riffnb.load_pipeline(MODEL, dtype="float16")'},
    "06_train_your_own.ipynb": {
        "riffnb.load_pipeline(MODEL)": 'riffnb.load_pipeline(MODEL, dtype="float16")',
        "riffnb.load_pipeline(toy_folder)": 'riffnb.load_pipeline(toy_folder, dtype="float16")',
    },
}


@pytest.mark.parametrize("name", sorted(FLOAT16_EDITS))
def test_diffusion_notebooks_hold_on_a_gpus_float16_pipeline(name, jupyter_path):
    """Colab's GPU runtime loads models in float16: the by-hand checks and the tensors handed to the networks must
    allow for it (float16 runs on this CPU too, slowly)."""
    notebook, _, _ = execute(NOTEBOOK_DIR / name, jupyter_path, EXPECTED[name], FLOAT16_EDITS[name])
    outputs = "\n".join(outputs_text(cell) for cell in code_cells(notebook))
    verdicts = [line for line in outputs.splitlines() if "✓ correct" in line or "✗" in line]
    assert len(verdicts) == len(EXPECTED[name].answers) and not any("✗" in line for line in verdicts), verdicts


#: The by-hand results each notebook with a model switch computes, checked on Riffusion's code path.
RIFFUSION_PATH_VALUES = {
    "00_quickstart.ipynb": {},
    "04_diffusion_step_by_step.ipynb": {
        "PREDICTION_TYPE": lambda v: v == "epsilon",
        "guidance_error": lambda v: v < 1e-4,
        "ddim_step_error": lambda v: v < 1e-4,
        "loop_difference": lambda v: v == 0,
    },
    "05_riffing.ipynb": {},
}

#: Final checks that state what a trained model does (riffing changes more at higher strength, a mask keeps its
#: half): a random one does not, so the Riffusion-path run leaves them out.
TRAINED_MODEL_CHECKS = {
    "05_riffing.ipynb": ["assert all(a < b for a, b in zip(change_by_strength", "assert change_by_strength[0] <",
                         "assert kept_masked <", "assert kept_masked >"],
}


@pytest.mark.parametrize("name", sorted(RIFFUSION_PATH_VALUES))
def test_notebooks_hold_when_the_model_switch_names_a_riffusion_model(name, jupyter_path, tiny_pipeline_dir):
    """The switch offers Riffusion's model (on a GPU with the hub): a pipeline with its scheduler configuration
    (PNDM, "leading" timesteps, steps_offset 1, epsilon prediction) and its sampling defaults must run every cell,
    whose checks were written against the tiny model ("trailing" timesteps, v-prediction)."""
    expected = Expected(values=RIFFUSION_PATH_VALUES[name])
    edits = {'MODEL = "tiny"': f"MODEL = {str(tiny_pipeline_dir)!r}"}
    edits.update({check: f"pass  # a random model: {check}" for check in TRAINED_MODEL_CHECKS.get(name, [])})
    _, values, _ = execute(NOTEBOOK_DIR / name, jupyter_path, expected, edits)
    failed = {key: values.get(key) for key, holds in expected.values.items() if not holds(values[key])}
    assert not failed, f"{name} with a Riffusion-configured model computed unexpected values: {failed}"


def test_all_notebooks_run_within_the_total_budget():
    if set(RUN_SECONDS) != {path.name for path in NOTEBOOKS}:
        pytest.skip("needs every notebook to have run in this session")
    total = sum(RUN_SECONDS.values())
    report = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in RUN_SECONDS.items())
    print(f"notebook run times: {report}; total {total:.0f} s")
    assert total < TOTAL_S, f"the notebooks took {total:.0f} s together (limit {TOTAL_S} s): {report}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_committed_notebook_is_clean(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing"
    assert "widgets" not in notebook.metadata, f"{path.name}: notebook metadata holds widget state"
    with_state = [index for index, cell in enumerate(notebook.cells) if "widgets" in cell.metadata]
    assert not with_state, f"{path.name}: cells {with_state} hold widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_opens_anywhere(path):
    """Badges for its own path; a first code cell that installs riffnb from REPO_URL only when it is missing."""
    notebook = nbformat.read(path, as_version=4)
    first_markdown = next(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "colab.research.google.com/github/" in first_markdown and f"/notebooks/{path.name})" in first_markdown, (
        f"{path.name}: the first Markdown cell needs an Open in Colab badge for notebooks/{path.name}")
    assert "mybinder.org/v2/gh/" in first_markdown and f"notebooks%2F{path.name})" in first_markdown, (
        f"{path.name}: the first Markdown cell needs a launch Binder badge for notebooks/{path.name}")
    setup = code_cells(notebook)[0].source
    assert "REPO_URL" in setup and re.search(r"pip.*install", setup), f"{path.name}: the first code cell must install riffnb"
    assert re.search(r"if .*(find_spec\(\"riffnb\"\) is None|ImportError)", setup) or "except ImportError" in setup, (
        f"{path.name}: the install must be guarded so that it does nothing where riffnb is importable")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_paired_script_matches_notebook(path):
    """A notebook kept as a jupytext percent script (``.py`` next to it) has exactly the script's cells."""
    script = path.with_suffix(".py")
    if not script.exists():
        pytest.skip(f"{path.name} has no jupytext script")
    jupytext = pytest.importorskip("jupytext")
    from_script = jupytext.read(script)
    notebook = nbformat.read(path, as_version=4)
    pairs = [(cell.cell_type, cell.source) for cell in notebook.cells]
    script_pairs = [(cell.cell_type, cell.source) for cell in from_script.cells]
    assert pairs == script_pairs, (
        f"{path.name} differs from {script.name}; regenerate it: jupytext --update --to ipynb {script.relative_to(ROOT)}")
