"""riffnb.widgets: every panel built and driven through its methods and controls, as a notebook would.

Runs with whichever ipywidgets the interpreter has: 8 (JupyterLab 4, Notebook 7, VS Code) and, from a venv with
``ipywidgets==7.7.1``, Colab's 7.7 (the two differ in FileUpload values, which ``set_upload`` covers). Diffusion
panels use the tiny random pipeline of ``tests/diffusion_fixtures.py`` at a few steps and small widths; the
explorers use short audio at the tiny model's spectrogram parameters.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import re
import time

import ipywidgets as W
import numpy as np
import pytest
import soundfile

import riffnb
from riffnb.params import SpectrogramParams
from riffnb.synth import render_demo_clip
from riffnb.widgets import (
    DiffusionStepper,
    EndlessPlayer,
    GeneratePanel,
    InterpolationPanel,
    MelExplorer,
    PhaseExplorer,
    RiffPanel,
    STFTExplorer,
)
from riffnb.widgets._panel import IPYWIDGETS_MAJOR, uploaded_files
from riffnb.widgets.explorers import STFT_MEMORY_BUDGET, stft_memory

SMALL = SpectrogramParams(sample_rate=16000, num_frequencies=64, max_frequency=8000)
RATE = SMALL.sample_rate


@pytest.fixture(scope="module")
def music():
    return render_demo_clip(1.0, RATE)


# Helpers -------------------------------------------------------------------------------------------------------


def audio_sources(value: str) -> list[bytes]:
    """The WAV bytes of every ``<audio>`` element in an HTML string."""
    return [base64.b64decode(data) for data in re.findall(r'<audio[^>]*src="data:audio/wav;base64,([^"]+)"', value)]


def decoded_audio(value: str) -> list[np.ndarray]:
    return [soundfile.read(io.BytesIO(data), always_2d=True)[0] for data in audio_sources(value)]


def downloads(value: str) -> dict[str, bytes]:
    """``{filename: content}`` of every ``<a download>`` link in an HTML string."""
    links = re.findall(r'<a download="([^"]+)" href="data:[^;]+;base64,([^"]+)"', value)
    return {html.unescape(name): base64.b64decode(data) for name, data in links}


def images(value: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', value)]


def assert_players(value: str, count: int | None = None) -> None:
    """``<audio controls>`` players that decode, with no autoplay and no loop."""
    tags = re.findall(r"<audio[^>]*>", value)
    assert tags, "no audio player shown"
    if count is not None:
        assert len(tags) == count, tags
    for tag in tags:
        assert " controls" in tag and "autoplay" not in tag and " loop" not in tag, tag
    for samples in decoded_audio(value):
        assert samples.shape[0] > 0


def assert_error_shown(panel, *words: str) -> None:
    assert panel.last_error is not None
    assert panel.error.layout.display != "none"
    text = html.unescape(re.sub(r"<[^>]+>", " ", panel.error.value))
    for word in words:
        assert word in text, text


def assert_no_error(panel) -> None:
    assert panel.last_error is None, panel.error.value
    assert panel.error.value == "" and panel.error.layout.display == "none"


def disabled_while(panel, widget: W.Widget, button: W.Widget) -> list[bool]:
    """Record ``button.disabled`` each time ``widget`` (a progress bar) changes: what a user sees mid-run."""
    seen: list[bool] = []
    widget.observe(lambda change: seen.append(button.disabled), names="value")
    return seen


def set_upload(upload: W.FileUpload, name: str, content: bytes) -> None:
    """What the browser does when a file is picked, in ipywidgets 8 (a tuple of dicts) and 7 (data + metadata)."""
    if IPYWIDGETS_MAJOR >= 8:
        upload.value = ({"name": name, "type": "audio/wav", "size": len(content), "content": memoryview(content),
                         "last_modified": datetime.datetime.now()},)
    else:
        upload.metadata = [{"name": name, "type": "audio/wav", "size": len(content), "lastModified": 0}]
        upload.data = [content]
        upload._counter += 1


def wav_file(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples).T, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# Panels are widgets ----------------------------------------------------------------------------------------------


def test_every_panel_is_a_widget_and_displays(music, tiny_pipe):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    panels = [
        STFTExplorer(music, RATE),
        MelExplorer(music, RATE, params=SMALL),
        PhaseExplorer(music, RATE, params=SMALL, n_iter=2),
        GeneratePanel(tiny_pipe, steps=2, width=64),
        DiffusionStepper(tiny_pipe, steps=2, width=64),
        RiffPanel(tiny_pipe, steps=2, width=64),
        InterpolationPanel(tiny_pipe, steps=2, width=64, num_clips=2),
        EndlessPlayer(tiny_pipe, steps=2, width=64),
    ]
    InteractiveShell.instance()
    for panel in panels:
        assert isinstance(panel.widget, W.VBox)
        assert panel.title in panel.widget.children[0].value
        assert_no_error(panel)
        # What display(panel) and a cell ending in `panel` do: the panel's widget view is shown.
        with capture_output() as captured:
            display(panel)
        (shown,) = captured.outputs
        assert shown.data["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id


def test_uploaded_files_reads_both_ipywidgets_formats():
    upload = W.FileUpload()
    assert uploaded_files(upload) == []
    set_upload(upload, "song.wav", b"RIFF....")
    assert uploaded_files(upload) == [("song.wav", b"RIFF....")]


# Explorers -------------------------------------------------------------------------------------------------------


def test_stft_explorer_shows_the_trade_off_and_the_exact_inverse(music):
    explorer = STFTExplorer(music, RATE)
    assert_no_error(explorer)
    assert explorer.spectrum.shape == (1, SMALL.n_fft // 2 + 1, 1 + music.shape[-1] // SMALL.hop_length)
    assert len(images(explorer.figure.value)) == 1
    assert_players(explorer.players.value, count=2)
    original, inverse = decoded_audio(explorer.players.value)
    assert np.abs(original - inverse).max() < 2e-4  # the inverse STFT is exact with Hann windows at 10% hop
    assert "exact (below -100 dB)" in explorer.info.value

    figure = explorer.figure.value
    explorer.window_ms.value = 20
    explorer.hop_ms.value = 5
    assert_no_error(explorer)
    assert explorer.spectrum.shape[-1] == 1 + music.shape[-1] // 80
    assert "320 samples = 20.0 ms" in explorer.info.value and explorer.figure.value != figure
    explorer.window.value = "boxcar"
    assert "rectangular window" not in explorer.info.value and explorer.figure.value != figure

    # A hop longer than the window is not an STFT riffnb makes: the panel says so and stays usable.
    explorer.hop_ms.value = 50
    assert_error_shown(explorer, "hop_length <= win_length")
    assert not explorer.hop_ms.disabled and not explorer.window_ms.disabled
    explorer.hop_ms.value = 10
    assert_no_error(explorer)
    assert explorer.spectrum.shape[-1] == 1 + music.shape[-1] // 160


def test_stft_explorer_refuses_a_spectrogram_too_big_for_binder(music):
    import dataclasses

    explorer = STFTExplorer(music, RATE)
    explorer.n_fft_ms.value = 800
    assert_no_error(explorer)
    spectrum, figure = explorer.spectrum, explorer.figure.value
    # 1001 frames x 6401 bins: about 600 MB, which a fresh kernel would take on top of its own.
    explorer.hop_ms.value = 1
    assert_error_shown(explorer, "hop 1 ms and n_fft 800 ms make 1001 frames x 6401 bins", "512 MB")
    assert explorer.spectrum is spectrum and explorer.figure.value == figure
    assert not explorer.hop_ms.disabled and not explorer.n_fft_ms.disabled
    # Each fix it names is the least change that fits.
    text = html.unescape(re.sub(r"<[^>]+>", " ", explorer.error.value))
    hop = int(re.search(r"a hop of at least (\d+) ms", text).group(1))
    n_fft = int(re.search(r"an n_fft of at most (\d+) ms", text).group(1))

    def fits(**sizes) -> bool:
        return stft_memory(music.shape[-1], dataclasses.replace(explorer.params(), **sizes)) <= STFT_MEMORY_BUDGET

    assert fits(step_size_ms=hop) and not fits(step_size_ms=hop - 1)
    assert fits(padded_duration_ms=n_fft) and not fits(padded_duration_ms=n_fft + 1)
    explorer.hop_ms.value = 10
    assert_no_error(explorer)
    assert explorer.spectrum.shape == (1, 6401, 101)


def test_stft_explorer_memory_estimate_covers_what_an_update_takes(music):
    import tracemalloc

    explorer = STFTExplorer(music, RATE, hop_ms=5)
    explorer.spectrum = explorer.inverse = None
    tracemalloc.start()
    try:
        explorer.run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_no_error(explorer)
    estimate = stft_memory(music.shape[-1], explorer.params())
    # About 60 MB of arrays; the figure and the players add a few MB whatever the sizes.
    assert 0.75 * estimate < peak < estimate + 8 * 2**20


def test_mel_explorer_image_follows_bands_and_power(music):
    explorer = MelExplorer(music, RATE, params=SMALL)
    assert_no_error(explorer)
    assert explorer.image.size == (1 + music.shape[-1] // SMALL.hop_length, 64)
    assert "grey levels used" in explorer.info.value
    for view in (explorer.filterbank_figure, explorer.curve_figure, explorer.image_figure):
        assert len(images(view.value)) == 1
    assert_players(explorer.players.value, count=2)
    assert explorer.reconstruction.shape == music.shape

    explorer.num_frequencies.value = 32
    assert_no_error(explorer)
    assert explorer.image.height == 32
    levels = lambda: int(re.search(r"(\d+) of 256", explorer.info.value).group(1))  # noqa: E731
    explorer.power.value = 0.25
    quarter = levels()
    explorer.power.value = 1.0
    # Without the power curve, quiet detail falls into a few dark grey levels.
    assert levels() < quarter

    explorer.norm.value = "slaney"
    assert_no_error(explorer)
    assert explorer.params().mel_scale_norm == "slaney"
    explorer.norm.value = "none"
    assert explorer.params().mel_scale_norm is None

    explorer.frequency_range.value = (3000, 3000)
    assert_error_shown(explorer, "min_frequency < max_frequency")
    explorer.frequency_range.value = (0, 8000)
    assert_no_error(explorer)



def test_mel_explorer_semitone_scale_sets_one_note_per_band(music):
    from riffnb.mel import hz_to_mel, mel_frequencies

    explorer = MelExplorer(music, RATE, params=SMALL)
    figures: list[str] = []
    explorer.image_figure.observe(lambda change: figures.append(change["new"]), names="value")
    # Choosing it at 0 Hz - 8 kHz just works: the ends move to notes (D#1, B8) with a band for each note between.
    explorer.mel_scale.value = "semitone"
    assert_no_error(explorer)
    params = explorer.params()
    assert (params.mel_scale_type, params.min_frequency, params.max_frequency) == ("semitone", 39, 7902)
    assert params.num_frequencies == explorer.image.height == 91
    centres = hz_to_mel(mel_frequencies(91, 39, 7902, "semitone"), "semitone")
    assert round(centres[0]) == 28  # E1
    # Within 5 cents of a note: the ends are whole hertz.
    assert np.abs(centres - np.round(centres)).max() < 0.05 and np.allclose(np.diff(centres), 1, atol=0.01)
    assert "1.00 semitones (one note per band)" in explorer.info.value
    assert len(figures) == 1, "the three controls it sets make one update"

    # Other counts of bands are allowed, and labelled for what they are.
    explorer.num_frequencies.value = 256
    assert_no_error(explorer)
    assert "0.36 semitones" in explorer.info.value and "one note per band" not in explorer.info.value


def test_phase_explorer_runs_once_then_scrubs_iterations(music):
    explorer = PhaseExplorer(music, RATE, params=SMALL, n_iter=6, init="random", seed=3)
    assert explorer.iteration.disabled and explorer.figure.value == ""
    explorer.show_iteration(2)
    assert_error_shown(explorer, "press Run first")

    during = disabled_while(explorer, explorer.progress, explorer.run_button)
    explorer.run_button.click()
    assert_no_error(explorer)
    assert during and all(during), "Run must be disabled while the iterations run"
    assert not explorer.run_button.disabled and not explorer.iteration.disabled
    assert len(explorer.convergence) == 7 and explorer.iteration.max == 6 and explorer.iteration.value == 6
    # Fast Griffin-Lim from a random phase gets closer to the target, iteration after iteration.
    assert explorer.convergence[-1] < explorer.convergence[0] - 3
    assert len(images(explorer.figure.value)) == 1 and len(images(explorer.curve.value)) == 1
    assert_players(explorer.players.value, count=2)
    assert "iteration 6" in explorer.players.value

    final = explorer.audio_at(6)
    explorer.iteration.value = 0
    assert_no_error(explorer)
    assert "iteration 0" in explorer.players.value
    assert not np.allclose(explorer.audio_at(0), final)
    assert explorer.audio_at(0).shape == final.shape == music.shape

    explorer.source.value = "stft"
    explorer.algorithm.value = "gla"
    explorer.n_iter.value = 3
    explorer.run()
    assert_no_error(explorer)
    assert len(explorer.convergence) == 4 and explorer.iteration.max == 3


# Diffusion panels ------------------------------------------------------------------------------------------------


def test_generate_panel_shows_preview_then_image_player_and_downloads(tiny_pipe):
    panel = GeneratePanel(tiny_pipe, prompt="funky jazz piano", seed=7, steps=3, width=64)
    previews: list[str] = []
    panel.preview.observe(lambda change: previews.append(change["new"]), names="value")
    during = disabled_while(panel, panel.progress, panel.generate_button)

    panel.generate_button.click()
    assert_no_error(panel)
    clip = panel.clip
    assert clip is not None and clip.seed == 7 and clip.steps == 3 and clip.image.size == (64, 64)
    assert during and all(during) and not panel.generate_button.disabled and not panel.prompt.disabled
    assert panel.progress.value == panel.progress.max == 3 and panel.progress.bar_style == "success"
    assert any("<img" in value and "fast preview" in value for value in previews), "no live preview shown"

    assert len(images(panel.result.value)) == 1
    assert_players(panel.result.value, count=1)
    files = downloads(panel.result.value)
    assert set(files) == {"funky_jazz_piano_seed7.wav", "funky_jazz_piano_seed7.png", "funky_jazz_piano_seed7.json"}
    samples, rate = soundfile.read(io.BytesIO(files["funky_jazz_piano_seed7.wav"]), always_2d=True)
    assert rate == clip.sample_rate and samples.shape[0] == clip.samples.shape[-1]
    from PIL import Image

    image = Image.open(io.BytesIO(files["funky_jazz_piano_seed7.png"]))
    stored = riffnb.params_from_image(image)
    assert image.size == (64, 64) and (stored.sample_rate, stored.num_frequencies) == (16000, 64)
    assert b'"seed": 7' in files["funky_jazz_piano_seed7.json"]

    # Same settings, same clip; the dice draws another seed.
    again = panel.generate()
    assert np.array_equal(np.asarray(again.image), np.asarray(clip.image))
    old_seed = panel.seed.value
    panel.dice.click()
    assert panel.seed.value != old_seed


def test_generate_panel_errors_leave_it_usable(tiny_pipe):
    panel = GeneratePanel(tiny_pipe, steps=2, width=64)
    panel.prompt.value = "   "
    assert panel.generate() is None
    assert_error_shown(panel, "prompt is empty")
    assert not panel.generate_button.disabled

    panel.model.value = "no-such-model"
    panel.prompt.value = "drum beat"
    assert panel.generate() is None
    assert_error_shown(panel, "no-such-model")
    assert isinstance(panel.last_error, riffnb.RiffnbError) and "traceback" not in panel.error.value
    assert panel.progress.value == 0 and panel.progress.bar_style == ""

    panel.model.value = tiny_pipe.model
    assert panel.generate() is not None
    assert_no_error(panel)


def test_panels_start_from_the_models_sampling_defaults(tiny_pipe):
    from riffnb.diffusion.loading import defaults_for

    tiny = defaults_for("tiny")
    panel = GeneratePanel("tiny")
    assert (panel.steps.value, panel.guidance.value, panel.width.value, panel.scheduler.value) == (
        tiny.steps, tiny.guidance, tiny.width, tiny.scheduler)
    assert panel.width.label == "5.12 s"  # the tiny model's 20 ms columns, read without loading it
    stepper = DiffusionStepper("tiny")
    assert stepper.steps.value == tiny.steps and stepper.step.max == tiny.steps
    given = RiffPanel(tiny_pipe, steps=5)
    assert (given.steps.value, given.guidance.value, given.width.value) == (5, 7.0, 512)


def test_panels_take_the_defaults_of_a_model_chosen_later(tiny_pipe, tiny_pipeline_dir, tmp_path):
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_pipeline_dir, other)
    (other / "riffnb.json").write_text(json.dumps({"default_steps": 3, "guidance": 2.5, "width": 128,
                                                   "default_scheduler": "euler"}))
    panel = GeneratePanel(tiny_pipe)
    settings = lambda: (panel.steps.value, panel.guidance.value, panel.width.value, panel.scheduler.value)  # noqa: E731
    assert settings() == (30, 7.0, 512, "dpm++")  # tiny_pipe has no riffnb.json: Riffusion's defaults
    panel.steps.value = 5
    panel.model.value = str(other)
    clip = panel.generate()
    assert_no_error(panel)
    assert settings() == (3, 2.5, 128, "euler")
    assert (clip.steps, clip.guidance, clip.image.width, clip.scheduler) == (3, 2.5, 128, "euler")
    # The same model again keeps what the student chose for it.
    panel.steps.value = 2
    assert panel.generate().steps == 2
    panel.model.value = tiny_pipe.model
    assert panel.pipeline() is tiny_pipe and settings() == (30, 7.0, 512, "dpm++")

    stepper = DiffusionStepper(tiny_pipe)
    stepper.model.value = str(other)
    assert stepper.run().steps == 3
    assert_no_error(stepper)
    assert stepper.step.max == 3 and stepper.width.value == 128


def test_generate_panel_loads_a_model_by_name(tiny_pipeline_dir):
    panel = GeneratePanel(str(tiny_pipeline_dir), steps=2, width=128)
    clip = panel.generate()
    assert_no_error(panel)
    assert clip.image.size == (128, 64) and clip.model == str(tiny_pipeline_dir)
    # The duration slider is labelled in the loaded model's seconds.
    assert dict(panel.width.options)["1.28 s"] == 128
    assert panel.pipeline() is panel.pipeline()


def test_panels_keep_diffusers_progress_bars_out_of_the_cell(tiny_pipeline_dir, capsys):
    # Colab and classic Notebook print a callback's output under the panel: diffusers' tqdm bar must not appear
    # there, and a pipeline the user loaded keeps its own setting afterwards.
    pipe = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")
    capsys.readouterr()
    assert GeneratePanel(pipe, steps=3, width=64).generate() is not None
    assert DiffusionStepper(pipe, steps=2, width=64).run() is not None
    assert not re.search(r"\d+/\d+ \[", capsys.readouterr().err)
    assert getattr(pipe.pipeline, "_progress_bar_config", {}) == {}


def test_diffusion_stepper_scrubs_steps_and_compares_runs(tiny_pipe):
    stepper = DiffusionStepper(tiny_pipe, steps=3, width=64, scheduler="dpm++", guidance=7.0)
    assert stepper.step.disabled and stepper.run_choice.disabled
    stepper.run()
    assert_no_error(stepper)
    assert not stepper.step.disabled and stepper.step.max == 3 and stepper.step.value == 3
    assert len(stepper.runs[0].latents) == 3 and len(images(stepper.filmstrip.value)) == 3
    assert "after step 3 of 3" in stepper.view.value and len(images(stepper.view.value)) == 1
    assert_players(stepper.view.value, count=1)

    last = stepper.view.value
    stepper.step.value = 1
    assert_no_error(stepper)
    assert "after step 1 of 3" in stepper.view.value and stepper.view.value != last

    stepper.scheduler.value = "euler"
    stepper.guidance.value = 2.0
    stepper.steps.value = 2
    stepper.run()
    assert_no_error(stepper)
    assert [label for label, _ in stepper.run_choice.options] == [
        "#1: dpm++, guidance 7, 3 steps, seed 42", "#2: euler, guidance 2, 2 steps, seed 42"]
    assert stepper.step.max == 2
    assert len(images(stepper.comparison.value)) == 2
    assert_players(stepper.comparison.value, count=2)

    stepper.run_choice.value = 0
    assert_no_error(stepper)
    assert stepper.step.max == 3 and "of 3" in stepper.view.value


def test_diffusion_stepper_decodes_each_run_with_the_model_that_made_it(tiny_pipeline_dir, tmp_path):
    import gc
    import shutil

    from safetensors.torch import load_file, save_file

    # Another model whose VAE decodes the same latents to another image.
    other = tmp_path / "other"
    shutil.copytree(tiny_pipeline_dir, other)
    weights_path = other / "vae" / "diffusion_pytorch_model.safetensors"
    weights = load_file(weights_path)
    weights["decoder.conv_out.bias"] += 1.0
    save_file(weights, weights_path)

    stepper = DiffusionStepper(str(tiny_pipeline_dir), steps=3, width=64)
    stepper.run()
    first = stepper.pipeline()
    # Choosing another model in the box loads nothing until Run: the first run still scrubs with its own model.
    stepper.model.value = str(other)
    stepper.step.value = 1
    assert_no_error(stepper)
    assert stepper.runs[0].decoded[1][0] == first.latents_to_image(stepper.runs[0].latents[0])

    stepper.run()
    assert_no_error(stepper)
    assert stepper.pipeline() is not first
    del first
    gc.collect()
    # The first model is gone (one model in memory): its decoded steps still show, the others are named.
    stepper.run_choice.value = 0
    assert_no_error(stepper)
    assert "after step 3 of 3" in stepper.view.value
    stepper.step.value = 2
    assert stepper.last_error is not None
    assert re.search(r"run #1 was made with .*, which is no longer loaded .* set the model box to .* and Run again",
                     stepper.error.value)
    stepper.step.value = 1
    assert_no_error(stepper)


def test_riff_panel_from_a_seed_image_and_from_an_upload(tiny_pipe, music):
    panel = RiffPanel(tiny_pipe, prompt="jazz piano", seed_image="beat", strength=0.5, seed=3, steps=4, width=64)
    during = disabled_while(panel, panel.progress, panel.riff_button)
    clip = panel.run()
    assert_no_error(panel)
    assert during and all(during) and not panel.riff_button.disabled
    assert clip.mode == "riff" and clip.extra["strength"] == 0.5 and clip.image.size == (64, 64)
    assert clip.extra["source"] == "beat" and clip.extra["mask"] is None and panel.mask_choice() is None
    assert "source" in panel.source_view.value and len(images(panel.source_view.value)) == 1
    assert_players(panel.source_view.value, count=1)
    assert len(images(panel.result.value)) == 1 and any(n.endswith(".wav") for n in downloads(panel.result.value))

    # Picking a file switches the source to it; its first `duration` seconds are riffed.
    set_upload(panel.upload, "music.wav", wav_file(render_demo_clip(2.0, RATE)[0], RATE))
    assert panel.seed_image.value == RiffPanel.UPLOAD
    panel.width.value = 128
    clip = panel.run()
    assert_no_error(panel)
    assert clip.image.size == (128, 64) and clip.extra["source"] == "music.wav"
    assert "source: music.wav" in panel.source_view.value

    set_upload(panel.upload, "broken.wav", b"this is not audio")
    assert panel.run() is None
    assert_error_shown(panel, "broken.wav: ")
    assert not panel.riff_button.disabled and not panel.upload.disabled
    panel.seed_image.value = "techno"
    assert panel.run() is not None
    assert_no_error(panel)


def test_riffusions_seed_images_are_offered_for_512_row_models_only(tiny_pipe):
    from riffnb.diffusion.loading import DEFAULT_MODEL
    from riffnb.diffusion.seeds import RIFFUSION_SEED_IMAGES, SEEDS

    names = lambda panel: {name for _, name in panel.seed_image.options}  # noqa: E731
    # tiny_pipe draws 64 rows and riffnb's tiny model 96 (known without loading it): only riffnb's own seeds fit.
    for panel in (RiffPanel(tiny_pipe), InterpolationPanel("tiny"), EndlessPlayer("tiny")):
        assert set(SEEDS) <= names(panel) and not names(panel) & set(RIFFUSION_SEED_IMAGES)
    with pytest.raises(riffnb.RiffnbError, match="512"):
        RiffPanel(tiny_pipe, seed_image="og_beat")

    # Riffusion's model draws 512 rows; typing another model in the box changes the list before anything loads.
    panel = RiffPanel(DEFAULT_MODEL, seed_image="og_beat", steps=2, width=64)
    assert set(RIFFUSION_SEED_IMAGES) <= names(panel) and RiffPanel.UPLOAD in names(panel)
    panel.model.value = tiny_pipe.model
    assert not names(panel) & set(RIFFUSION_SEED_IMAGES) and panel.seed_image.value == "beat"
    assert panel.run() is not None
    assert_no_error(panel)
    panel.model.value = DEFAULT_MODEL
    assert set(RIFFUSION_SEED_IMAGES) <= names(panel) and panel.seed_image.value == "beat"


def test_riff_panel_without_an_upload_says_what_to_do(tiny_pipe):
    panel = RiffPanel(tiny_pipe, steps=2, width=64)
    panel.seed_image.value = RiffPanel.UPLOAD
    assert panel.run() is None
    assert_error_shown(panel, "no audio uploaded")


def test_interpolation_panel_stitches_the_clips(tiny_pipe, tmp_path):
    panel = InterpolationPanel(tiny_pipe, start_prompt="church bells", end_prompt="jazz piano", num_clips=3,
                               steps=2, width=64)
    clips = panel.run()
    assert_no_error(panel)
    assert [clip.extra["alpha"] for clip in clips] == [0.0, 0.5, 1.0]
    assert clips[0].prompt == "church bells" and clips[-1].prompt == "jazz piano"
    assert len(images(panel.clips_view.value)) == 3
    assert_players(panel.track.value, count=1)
    (track,) = decoded_audio(panel.track.value)
    assert track.shape[0] == panel.audio.shape[-1] > 2.5 * clips[0].samples.shape[-1]
    assert "church_bells_to_jazz_piano.wav" in downloads(panel.track.value)

    # A folder that holds no model: one line saying so, and the panel works again with a real one.
    panel.model.value = str(tmp_path)
    assert panel.run() is None
    assert_error_shown(panel, "not a diffusers pipeline folder")
    assert not panel.run_button.disabled and panel.progress.value == 0 and panel.progress.bar_style == ""
    panel.model.value = tiny_pipe.model
    panel.num_clips.value = 2
    assert len(panel.run()) == 2
    assert_no_error(panel)


def test_endless_player_steps_chains_players_and_plays_in_a_thread(tiny_pipe):
    player = EndlessPlayer(tiny_pipe, prompt="lofi beat", seed=5, steps=2, width=64, ahead=1, keep_players=3)
    player.prepare()
    first, second = player.step(), player.step()
    assert_no_error(player)
    assert first.extra["alpha"] == 0.25 and second.extra["alpha"] == 0.5
    tags = [re.search(r"<audio[^>]*>", child.value).group(0) for child in player.players.children]
    assert len(tags) == 2 and all(" controls" in tag and " loop" not in tag for tag in tags)
    # Only the first starts by itself (pressing Start asked for it); the others follow when the previous ends.
    assert "autoplay" in tags[0] and "autoplay" not in tags[1]
    assert all("onended=" in tag and f'data-riffnb-stream="{player._stream}"' in tag for tag in tags)

    player.start()
    assert_no_error(player)
    assert player.playing and player.stop_button.disabled is False
    assert player.start_button.disabled and player.model.disabled and not player.prompt.disabled
    deadline = time.monotonic() + 60
    while len(player.track.clips) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    player.prompt.value = "church bells"
    count = len(player.track.clips)
    while len(player.track.clips) < count + 5 and time.monotonic() < deadline and player.playing:
        time.sleep(0.05)
    player.stop(timeout=60)
    assert not player.playing and player.last_error is None, player.error.value
    assert not player.start_button.disabled and player.stop_button.disabled and not player.model.disabled
    clips = player.track.clips
    assert len(clips) >= count + 5
    # The new prompt arrives over the next clips, as in Riffusion's app.
    assert clips[-1].extra["end"]["prompt"] == "church bells"
    # Old players give their audio back; the newest keep_players still play.
    children = player.players.children
    assert len(children) == len(clips)
    assert all("<audio" not in child.value for child in children[:-3])
    assert all("<audio" in child.value for child in children[-3:])
    files = downloads(player.download.value)
    assert list(files) == ["endless_lofi_beat.wav"]
    samples, rate = soundfile.read(io.BytesIO(files["endless_lofi_beat.wav"]), always_2d=True)
    assert samples.shape[0] == player.track.audio.shape[-1] and rate == tiny_pipe.params.sample_rate


def test_endless_player_keeps_the_players_nobody_has_played(tiny_pipe):
    player = EndlessPlayer(tiny_pipe, steps=2, width=64, ahead=1, keep_players=3)
    player.autoplay.value = False
    player.prepare()
    for _ in range(5):
        player.step()
    assert_no_error(player)
    # Nothing starts by itself, so nothing is known to have played: every clip keeps its player.
    values = [child.value for child in player.players.children]
    assert len(values) == 5 and all("<audio" in value and " autoplay" not in value for value in values)

    player.autoplay.value = True
    player.prepare()
    for _ in range(5):
        player.step()
    values = [child.value for child in player.players.children]
    assert [("<audio" in value) for value in values] == [False, False, True, True, True]
    # Whether the browser played them it does not say (it may have blocked the autoplay).
    assert all("removed to save memory" in value and "played" not in value for value in values[:2])


def test_endless_player_error_in_the_thread_shows_and_stops(tiny_pipe):
    player = EndlessPlayer(tiny_pipe, steps=2, width=64)
    player.prompt.value = ""
    player.start()
    assert_error_shown(player, "prompt is empty")
    assert not player.playing and not player.start_button.disabled

    player.prompt.value = "lofi beat"
    player.start()
    assert player.playing
    player.track.schedule.denoising = 7.0  # a strength riffnb refuses, as if the settings went bad mid-track
    deadline = time.monotonic() + 60
    while player.playing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not player.playing
    assert_error_shown(player, "making the next clip")
    assert not player.start_button.disabled and player.stop_button.disabled


def test_starting_a_player_stops_the_one_playing(tiny_pipe):
    first = EndlessPlayer(tiny_pipe, steps=2, width=64)
    second = EndlessPlayer(tiny_pipe, steps=2, width=64, prompt="church bells")
    first.start()
    assert first.playing
    second.start()
    assert second.playing
    first._thread.join(60)
    assert not first.playing and not first.start_button.disabled
    second.stop(timeout=60)
    assert not second.playing
    assert first.last_error is None and second.last_error is None
