"""``riffnb generate``, ``riff``, ``interpolate`` end to end: subprocesses, real files, the tiny model as --model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from PIL import Image

from riffnb.audio import save_audio
from riffnb.diffusion import seeds
from riffnb.image import save_image
from riffnb.params import params_from_image

from diffusion_fixtures import TINY_PARAMS
from test_cli import INTERRUPTED, assert_one_line_error, interrupt_when, snapshot

FAST = ["--steps", "2"]


@pytest.fixture
def inputs(tiny_pipe, tmp_path):
    """A 64-column seed image and 1.1 s of audio at the tiny model's parameters, in ``tmp_path``."""
    save_image(seeds.seed_image("beat", tiny_pipe.params, width=64), tmp_path / "seed.png")
    save_audio(tmp_path / "song.wav", *seeds.seed_audio("bossa", tiny_pipe.params, width=110))
    return tmp_path


def test_help_lists_the_diffusion_commands(run_riffnb):
    top = run_riffnb("--help")
    assert top.returncode == 0 and all(name in top.stdout for name in ("generate", "riff", "interpolate", "batch"))
    for name, options in {
        "generate": ["--output", "--model", "--seed", "--steps", "--guidance", "--negative", "--width", "--scheduler",
                     "--image", "--overwrite"],
        "riff": ["--prompt", "--strength", "--mask", "--seed", "--steps", "--model", "--overwrite"],
        "interpolate": ["--start-prompt", "--end-prompt", "--start-seed", "--end-seed", "--num-clips", "--seed-image"],
    }.items():
        result = run_riffnb(name, "--help")
        assert result.returncode == 0 and all(option in result.stdout for option in options), name


def test_generate(run_riffnb, tiny_pipe, tiny_pipeline_dir, tmp_path):
    result = run_riffnb("generate", "funky jazz piano", "-o", "jazz.wav", "--model", tiny_pipeline_dir, "--seed", "5",
                        "--width", "64", "--image", "jazz.png", *FAST)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("wrote jazz.wav: 0.63 s, seed 5, 2 dpm++ steps")
    samples, rate = soundfile.read(tmp_path / "jazz.wav", always_2d=True)
    clip = tiny_pipe.text_to_audio("funky jazz piano", seed=5, width=64, steps=2)
    assert rate == clip.sample_rate and samples.shape == clip.samples.T.shape
    assert np.abs(samples.T - clip.samples).max() < 1e-4  # the same clip, through 16-bit PCM
    image = Image.open(tmp_path / "jazz.png")
    assert image.size == (64, 64) and params_from_image(image).sample_rate == 16000


def test_interpolate(run_riffnb, inputs, tiny_pipe, tiny_pipeline_dir):
    result = run_riffnb("interpolate", "--start-prompt", "jazz", "--end-prompt", "church bells", "--start-seed", "1",
                        "--end-seed", "2", "--num-clips", "2", "--seed-image", "seed.png", "--crossfade", "0.01",
                        "-o", "morph.wav", "--image", "morph.png", "--model", tiny_pipeline_dir, *FAST)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "2 clips from 'jazz' (seed 1) to 'church bells' (seed 2)" in result.stdout
    samples, rate = soundfile.read(inputs / "morph.wav", always_2d=True)
    clip_length = 64 * tiny_pipe.params.hop_length - tiny_pipe.params.hop_length  # 64 columns of audio
    assert rate == 16000 and samples.shape == (2 * clip_length - round(0.01 * rate), 1)
    # The image of the whole morph, one column per hop.
    assert Image.open(inputs / "morph.png").size == (samples.shape[0] // tiny_pipe.params.hop_length + 1, 64)
    one = run_riffnb("interpolate", "--start-prompt", "jazz", "--end-prompt", "bells", "--num-clips", "1",
                     "--seed-image", "seed.png", "-o", "one.wav", "--model", tiny_pipeline_dir, *FAST)
    assert one.returncode == 0 and ", 1 clip from 'jazz' (seed 0) to 'bells' (seed 1)" in one.stdout


def test_existing_output_is_refused_before_any_work(run_riffnb, inputs, tiny_pipeline_dir):
    (inputs / "taken.wav").write_bytes(b"precious")
    before = snapshot(inputs)
    for args in (
        ["generate", "jazz", "-o", "taken.wav", "--model", tiny_pipeline_dir],
        ["riff", "song.wav", "-o", "taken.wav", "--prompt", "x", "--model", tiny_pipeline_dir],
        ["interpolate", "--start-prompt", "a", "--end-prompt", "b", "-o", "taken.wav", "--model", tiny_pipeline_dir],
        ["generate", "jazz", "-o", "new.wav", "--image", "seed.png", "--model", tiny_pipeline_dir],
    ):
        assert_one_line_error(run_riffnb(*args), "already exists", "--overwrite")
    assert snapshot(inputs) == before


def test_bad_model_and_missing_or_bad_inputs_are_one_line_errors(run_riffnb, inputs, tmp_path):
    (tmp_path / "not-a-model").mkdir()
    before = snapshot(inputs)
    assert_one_line_error(run_riffnb("generate", "jazz", "-o", "out.wav", "--model", "not-a-model"),
                          "not-a-model", "not a diffusers pipeline folder")
    assert_one_line_error(run_riffnb("riff", "missing.wav", "-o", "out.wav", "--prompt", "x"),
                          "missing.wav: no such file")
    assert_one_line_error(run_riffnb("interpolate", "--start-prompt", "a", "--end-prompt", "b", "--seed-image",
                                     "nowhere.png", "-o", "out.wav"), "nowhere.png")
    assert_one_line_error(run_riffnb("interpolate", "--start-prompt", "a", "--end-prompt", "b", "--num-clips", "0",
                                     "-o", "out.wav"), "num_clips")
    (inputs / "broken.png").write_text("not an image")
    assert_one_line_error(run_riffnb("riff", "broken.png", "-o", "out.wav", "--prompt", "x"), "broken.png")
    assert_one_line_error(run_riffnb("generate", "jazz", "-o", "out.xyz"), ".xyz")
    assert snapshot(inputs) == {**before, "broken.png": snapshot(inputs)["broken.png"]}
    assert not (inputs / "out.wav").exists()


@pytest.fixture
def unloadable(tmp_path):
    """A model folder with the tiny test model's spectrogram parameters at 50 columns a second, and no pipeline:
    loading it fails, so an error about anything else was found before the model loaded."""
    folder = tmp_path / "unloadable"
    folder.mkdir()
    (folder / "spectrogram_params.json").write_text(json.dumps({**TINY_PARAMS, "step_size_ms": 20}))
    return folder


def test_settings_and_inputs_are_checked_before_the_model_loads(run_riffnb, inputs, unloadable):
    save_audio(inputs / "blip.wav", 0.1 * np.ones(320), 16000)
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(inputs / "photo.png")
    (inputs / "batch.json").write_text(json.dumps({"entries": [{"prompt": "a"}, {"prompt": "b", "seed": 2**63 - 1}]}))
    before = snapshot(inputs)
    model = ["--model", unloadable]
    interpolate = ["interpolate", "--start-prompt", "a", "--end-prompt", "b", "-o", "out.wav", *model]
    wrong_height = [f"photo.png: image is 300x200, but {unloadable}'s spectrograms are 64 rows tall",
                    f"an image made for this model ('riffnb audio-to-image SONG.wav IMAGE.png --model {unloadable}')"]
    empty = "is empty (an unset shell variable?); say what to play, e.g. 'funky jazz piano'"
    generate = ["generate", "jazz", "-o", "out.wav", *model]
    assert_one_line_error(run_riffnb(*generate), "unloadable is not a diffusers pipeline folder")
    for args, fragments in [
        ([*generate, "--steps", "1001"], ["steps must be at most 999 for this model", "20-50 is typical"]),
        ([*generate, "--guidance", "inf"], ["guidance must be a finite number, got inf"]),
        ([*generate, "--width", "100", "--seed", "3"], ["multiple of 8 pixels (50 per second of audio), got 100"]),
        ([*generate, "--scheduler", "heun"], ["unknown scheduler 'heun'"]),
        (["riff", "seed.png", "-o", "out.wav", "--prompt", "x", "--seed", "-1", *model], ["seed must be"]),
        (["riff", "song.wav", "-o", "out.wav", "--prompt", "x", "--window-s", "0.01", *model],
         ["--window-s must be at least 0.200 s", "got 0.01"]),
        (["riff", "blip.wav", "-o", "out.wav", "--prompt", "x", *model], ["blip.wav: audio is 0.020 s long"]),
        ([*interpolate, "--steps", "0"], ["steps must be a positive integer"]),
        (["riff", "song.wav", "-o", "out.wav", "--prompt", "x", "--window-s", "nan", *model],
         ["--window-s must be a number of seconds, got nan"]),
        ([*interpolate, "--crossfade", "nan"], ["--crossfade must be a number of seconds, 0 or more, got nan"]),
        # The default seed image is 512 columns at 50 a second: 10.22 s clips, which fade in and out.
        ([*interpolate, "--crossfade", "6"], ["--crossfade 6 s is too long for clips of 10.22 s (each fades in and "
                                              "out); use at most 5.11 s"]),
        ([*interpolate, "--crossfade", "11", "--num-clips", "2"], ["clips of 10.22 s; use at most 10.22 s"]),
        (["riff", "photo.png", "-o", "out.wav", "--prompt", "x", *model], wrong_height),
        ([*interpolate, "--seed-image", "photo.png"], wrong_height),
        (["generate", "", "-o", "out.wav", *model], [f"the prompt {empty}"]),
        (["riff", "song.wav", "-o", "out.wav", "--prompt", "  ", *model], [f"--prompt {empty}"]),
        (["interpolate", "--start-prompt", "", "--end-prompt", "b", "-o", "out.wav", *model],
         [f"--start-prompt {empty}"]),
        (["interpolate", "--start-prompt", "a", "--end-prompt", "\t", "-o", "out.wav", *model],
         [f"--end-prompt {empty}"]),
        (["batch", "batch.json", "out", "--num-seeds", "2", *model],
         ["entries[1]: its 2 seeds from 9223372036854775807 would run to 9223372036854775808, past the largest seed",
          "--num-seeds"]),
    ]:
        assert_one_line_error(run_riffnb(*args), *fragments)
    assert snapshot(inputs) == before and not (inputs / "out").exists()


@pytest.mark.parametrize(
    "window, overlap, windows",
    [
        ("0.64", "0.1", 2),
        # A window far longer than the song would be padded with silence to more memory than there is: the song is
        # riffed whole.
        ("1e9", "2", 1),
    ],
)
def test_riff_an_audio_file_keeps_its_length(run_riffnb, inputs, tiny_pipeline_dir, window, overlap, windows):
    result = run_riffnb("riff", "song.wav", "-o", "riffed.flac", "--prompt", "church bells", "--model",
                        tiny_pipeline_dir, "--seed", "2", "--window-s", window, "--overlap-s", overlap, *FAST)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert f"{windows} window(s), strength 0.55, seed 2" in result.stdout
    original, rate = soundfile.read(inputs / "song.wav", always_2d=True)
    riffed, riffed_rate = soundfile.read(inputs / "riffed.flac", always_2d=True)
    assert riffed_rate == rate and riffed.shape == original.shape
    assert not np.allclose(riffed, original, atol=0.05)


def test_an_image_made_with_a_models_parameters_riffs_with_it(run_riffnb, inputs, tiny_pipeline_dir):
    made = run_riffnb("audio-to-image", "song.wav", "song.png", "--model", tiny_pipeline_dir)
    assert made.returncode == 0, made.stderr
    riffed = run_riffnb("riff", "song.png", "-o", "riffed.wav", "--prompt", "bells", "--model", tiny_pipeline_dir,
                        *FAST)
    assert riffed.returncode == 0 and "1 clip" in riffed.stdout, riffed.stderr


def test_a_generation_that_fails_writes_nothing(run_riffnb, inputs, tiny_pipeline_dir):
    # Guidance this large turns the latents to NaN: no full-scale noise saved with exit status 0.
    before = snapshot(inputs)
    result = run_riffnb("generate", "jazz", "-o", "new/blast.wav", "--image", "blast.png", "--guidance", "1e30",
                        "--width", "64", "--model", tiny_pipeline_dir, *FAST)
    assert_one_line_error(result, "generation failed", "NaN", "--dtype float32")
    assert snapshot(inputs) == before and not (inputs / "new").exists()  # nor the folder it made for its output


def test_an_output_that_cannot_be_written_takes_the_others_with_it(run_riffnb, inputs, tiny_pipeline_dir):
    # A name the file system takes, but not its temporary name: the image fails after the audio was written.
    image = "i" * 240 + ".png"
    before = snapshot(inputs)
    for command in (["generate", "jazz", "--width", "64"],
                    ["interpolate", "--start-prompt", "a", "--end-prompt", "b", "--num-clips", "1",
                     "--seed-image", "seed.png"]):
        result = run_riffnb(*command, "-o", "out.wav", "--image", image, "--model", tiny_pipeline_dir, *FAST)
        assert_one_line_error(result, f"cannot write {image}")
        assert snapshot(inputs) == before


def test_an_interrupted_batch_leaves_nothing_and_runs_again(run_riffnb, tmp_path, tiny_pipeline_dir):
    batch = {"params": {"num_inference_steps": 2, "width": 64},
             "entries": [{"prompt": f"jazz {index}", "seed": index} for index in range(8)]}
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    out = tmp_path / "out"
    args = ["batch", "batch.json", out, "--model", tiny_pipeline_dir, "--format", "flac"]
    result = interrupt_when(lambda: any(out.glob("*.json")), tmp_path, *args)
    assert (result.returncode, result.stderr) == (130, INTERRUPTED)
    assert "[1/8]" in result.stdout and snapshot(out) == {}
    again = run_riffnb(*args)
    assert again.returncode == 0 and "wrote 8 clip(s) and index.json" in again.stdout, again.stderr
    assert len(list(out.glob("*.flac"))) == 8 and (out / "index.json").is_file()


def test_batch_names_a_wrong_format_as_the_option(run_riffnb, tmp_path):
    result = run_riffnb("batch", "batch.json", "out", "--format", "xyz")
    assert result.returncode == 2 and "--format: invalid choice: 'xyz'" in result.stderr
    assert "x.xyz" not in result.stderr and not (tmp_path / "out").exists()
