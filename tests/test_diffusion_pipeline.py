"""text_to_audio and Clip on a tiny random pipeline: shapes, reproducibility, callbacks, errors, saving, display."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from riffnb.diffusion.clip import Clip
from riffnb.diffusion.pipeline import GenerationError
from riffnb.diffusion.schedulers import UnknownSchedulerError
from riffnb.errors import OutputExistsError, RiffnbError
from riffnb.params import SpectrogramParams, params_from_image
from riffnb.spectrogram import audio_from_image

from diffusion_fixtures import TINY_HEIGHT, TINY_PARAMS

FAST = dict(steps=4, width=64)


@pytest.fixture(scope="module")
def clip(tiny_pipe):
    return tiny_pipe.text_to_audio("funky (jazz:1.2) piano", negative_prompt="drums", seed=7, **FAST)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_clip_holds_image_audio_and_settings(tiny_pipe, clip):
    assert clip.image.size == (64, TINY_HEIGHT) and clip.image.mode == "RGB"
    from_exif = params_from_image(clip.image)  # fields EXIF does not store keep Riffusion's defaults
    assert from_exif.sample_rate == 16000 and from_exif.num_frequencies == TINY_HEIGHT
    assert params_from_image(clip.image, default=tiny_pipe.params) == tiny_pipe.params == SpectrogramParams(**TINY_PARAMS)
    params = tiny_pipe.params
    assert clip.sample_rate == TINY_PARAMS["sample_rate"]
    assert clip.samples.ndim == 2 and clip.samples.shape[0] == 1
    assert abs(clip.samples.shape[1] - 64 * params.hop_length) <= params.hop_length
    assert np.isfinite(clip.samples).all() and 0 < np.abs(clip.samples).max() <= 1
    assert clip.duration == pytest.approx(params.duration_of(64), abs=0.011)
    assert (clip.seed, clip.prompt, clip.negative_prompt) == (7, "funky (jazz:1.2) piano", "drums")
    assert (clip.steps, clip.guidance, clip.width, clip.scheduler) == (4, 7.0, 64, "dpm++")
    assert clip.model == tiny_pipe.model and clip.params == params and clip.mode == "text_to_audio"
    assert clip.latents.shape == (1, 4, TINY_HEIGHT // 8, 8)
    assert "seed=7" in repr(clip) and "array" not in repr(clip)


def test_audio_is_the_image_converted_with_the_models_params(tiny_pipe, clip):
    samples, sample_rate = audio_from_image(clip.image, tiny_pipe.params, seed=0)
    assert sample_rate == clip.sample_rate and np.array_equal(samples, clip.samples)
    assert np.array_equal(tiny_pipe.image_to_audio(clip.image)[0], clip.samples)


def test_same_seed_same_clip_bit_for_bit(tiny_pipe, clip):
    again = tiny_pipe.text_to_audio("funky (jazz:1.2) piano", negative_prompt="drums", seed=7, **FAST)
    assert np.array_equal(pixels(again.image), pixels(clip.image))
    assert np.array_equal(again.samples, clip.samples)
    assert torch.equal(again.latents, clip.latents)
    other = tiny_pipe.text_to_audio("funky (jazz:1.2) piano", negative_prompt="drums", seed=8, **FAST)
    assert not np.array_equal(pixels(other.image), pixels(clip.image))


def test_settings_left_out_take_the_models_defaults(tiny_pipe):
    from riffnb.diffusion.loading import SamplingDefaults
    from riffnb.diffusion.pipeline import RiffusionPipeline

    defaults = SamplingDefaults(steps=3, guidance=2.5, width=72, scheduler="ddim")
    pipe = RiffusionPipeline(tiny_pipe.pipeline, params=tiny_pipe.params, model="defaults", defaults=defaults)
    made = pipe.text_to_audio("jazz", seed=1)
    assert (made.steps, made.guidance, made.width, made.scheduler) == (3, 2.5, 72, "ddim")
    assert made.image.size == (72, TINY_HEIGHT)
    spelled_out = tiny_pipe.text_to_audio("jazz", seed=1, steps=3, guidance=2.5, width=72, scheduler="ddim")
    assert np.array_equal(pixels(made.image), pixels(spelled_out.image))
    riffed = pipe.riff(made, "rock", strength=0.5, seed=2)
    assert riffed.guidance == 2.5 and riffed.steps == 3 and riffed.scheduler == "ddim"
    from riffnb.diffusion.riff import PromptInput

    between = pipe.interpolate(PromptInput("jazz", 1), PromptInput("rock", 2), num_clips=2, source=made)
    assert [clip.extra["start"]["guidance"] for clip in between] == [2.5, 2.5]
    assert pipe.riff("beat", "rock", seed=2).image.width == 72  # riffnb's seed images at the default width
    assert tiny_pipe.defaults.steps == 30 and tiny_pipe.defaults.width == 512  # no riffnb.json: Riffusion's


def test_every_setting_changes_the_result(tiny_pipe):
    base = dict(prompt="jazz piano", seed=3, **FAST)
    reference = tiny_pipe.text_to_audio(**base).latents
    variants = [
        dict(prompt="funky drums"),
        dict(prompt="(jazz:1.5) piano"),
        dict(negative_prompt="drums"),
        dict(guidance=3.0),
        dict(guidance=1.0),
        dict(steps=5),
        dict(scheduler="euler_a"),
    ]
    for change in variants:
        latents = tiny_pipe.text_to_audio(**{**base, **change}).latents
        assert not torch.equal(latents, reference), change


def test_seed_none_draws_and_records_a_seed(tiny_pipe):
    first = tiny_pipe.text_to_audio("jazz", **FAST)
    second = tiny_pipe.text_to_audio("jazz", **FAST)
    assert isinstance(first.seed, int) and first.seed != second.seed
    again = tiny_pipe.text_to_audio("jazz", seed=first.seed, **FAST)
    assert torch.equal(again.latents, first.latents)
    assert tiny_pipe.text_to_audio("jazz", seed=np.int64(first.seed), **FAST).seed == first.seed


def test_width_sets_the_duration(tiny_pipe):
    wide = tiny_pipe.text_to_audio("jazz", seed=1, steps=2, width=200)
    assert wide.image.size == (200, TINY_HEIGHT)
    assert wide.duration == pytest.approx(tiny_pipe.params.duration_of(200), abs=0.011)
    assert tiny_pipe.width_for(5.12) == 512 and tiny_pipe.width_for(1.2) == 120 and tiny_pipe.width_for(0) == 8


def test_callback_sees_every_step(tiny_pipe):
    seen = []

    def callback(step, timestep, latents):
        seen.append((step, timestep, latents))
        latents.zero_()  # a copy: must not change the result

    clip = tiny_pipe.text_to_audio("jazz", seed=5, scheduler="ddim", callback=callback, **FAST)
    from riffnb.diffusion import steps

    expected = steps.make_scheduler(tiny_pipe, "ddim", 4).timesteps.tolist()
    assert [step for step, _, _ in seen] == [0, 1, 2, 3]
    assert [timestep for _, timestep, _ in seen] == expected
    assert all(isinstance(t, (int, float)) for _, t, _ in seen)
    assert all(latents.shape == clip.latents.shape for _, _, latents in seen)
    reference = tiny_pipe.text_to_audio("jazz", seed=5, scheduler="ddim", **FAST)
    assert torch.equal(reference.latents, clip.latents)


def test_the_models_own_scheduler_is_left_alone(tiny_pipe):
    own = tiny_pipe.pipeline.scheduler
    tiny_pipe.text_to_audio("jazz", seed=1, scheduler="lms", **FAST)

    def fail(step, timestep, latents):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        tiny_pipe.text_to_audio("jazz", seed=1, callback=fail, **FAST)
    assert tiny_pipe.pipeline.scheduler is own and type(own).__name__ == "PNDMScheduler"


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        (dict(width=500), GenerationError, "width must be a positive multiple of 8 pixels .*; try 496 or 504"),
        (dict(width=0), GenerationError, "try 8 or 16"),
        (dict(width=64.0), GenerationError, "multiple of 8"),
        (dict(width=True), GenerationError, "multiple of 8"),
        (dict(steps=0), GenerationError, "steps must be a positive integer"),
        (dict(steps=2.5), GenerationError, "steps must be a positive integer"),
        # Timesteps past the noise schedule's end (1000 of them, shifted up by steps_offset 1): diffusers' DDIM
        # indexes out of it at 1000 steps and refuses more, others repeat timesteps, and 10**6 steps never end.
        (dict(steps=1000, scheduler="ddim"), GenerationError, "steps must be at most 999 for this model.*20-50"),
        (dict(steps=10**6), GenerationError, "steps must be at most 999"),
        (dict(guidance="high"), GenerationError, "guidance must be a finite number"),
        (dict(guidance=float("nan")), GenerationError, "guidance must be a finite number"),
        (dict(guidance=float("inf")), GenerationError, "guidance must be a finite number"),
        (dict(guidance=-float("inf")), GenerationError, "guidance must be a finite number"),
        (dict(guidance=10**400), GenerationError, "guidance must be a finite number"),
        (dict(width=float("inf")), GenerationError, "multiple of 8"),
        (dict(seed=-1), GenerationError, "seed must be a non-negative integer"),
        (dict(seed=1.5), GenerationError, "seed must be a non-negative integer"),
        (dict(seed="42"), GenerationError, "seed must be a non-negative integer"),
        (dict(seed=2**63), GenerationError, "below 2\\*\\*63"),
        (dict(scheduler="heun"), UnknownSchedulerError, "unknown scheduler 'heun'"),
        (dict(callback="print"), GenerationError, "callback must be callable"),
        (dict(prompt=None), RiffnbError, "a prompt must be a string"),
    ],
)
def test_bad_settings_are_one_line_errors(tiny_pipe, settings, error, message):
    arguments = {"prompt": "jazz", "seed": 1, **FAST, **settings}
    with pytest.raises(error, match=message) as caught:
        tiny_pipe.text_to_audio(arguments.pop("prompt"), **arguments)
    assert isinstance(caught.value, RiffnbError) and "\n" not in str(caught.value)


def test_the_width_error_counts_the_models_columns_per_second(tiny_pipe):
    from riffnb.diffusion.pipeline import RiffusionPipeline

    slower = SpectrogramParams(**{**TINY_PARAMS, "step_size_ms": 20})
    pipe = RiffusionPipeline(tiny_pipe.pipeline, params=slower, model="slower")
    with pytest.raises(GenerationError, match=r"multiple of 8 pixels \(50 per second of audio\), got 100"):
        pipe.text_to_audio("jazz", seed=1, width=100, steps=2)


def test_the_width_error_names_the_narrowest_image_the_phase_reconstruction_takes(tiny_pipe):
    # At Riffusion's parameters 16 columns are 15 hops, 0.15 s: shorter than the STFT's reflect padding of n_fft // 2.
    from riffnb.diffusion.pipeline import RiffusionPipeline, check_settings

    pipe = RiffusionPipeline(tiny_pipe.pipeline, params=SpectrogramParams(), model="riffusion-sized")
    for call in (lambda: pipe.text_to_audio("jazz", seed=1, width=16, steps=1),
                 lambda: check_settings(pipe, width=16)):
        with pytest.raises(GenerationError, match=r"width must be at least 24 pixels .* got 16; try 24"):
            call()
    clip = pipe.text_to_audio("jazz", seed=1, width=24, steps=1)
    assert clip.samples.shape[-1] == 23 * 441
    # The shipped model's 0.2 s frames leave its narrowest image at 7 columns: its VAE's 8 are allowed.
    from riffnb.diffusion.loading import params_for
    from riffnb.spectrogram import narrowest_image

    assert narrowest_image(params_for("tiny")) == 7
    check_settings("tiny", width=8)


def test_a_generation_that_turns_to_nan_is_an_error_not_full_scale_noise(tiny_pipe):
    # NaN pixels would become black, the loudest value of a spectrogram image, and normalisation full-scale noise.
    from riffnb.diffusion import seeds
    from riffnb.diffusion.riff import PromptInput

    huge = 1e30
    calls = [
        lambda: tiny_pipe.text_to_audio("jazz", seed=1, guidance=huge, **FAST),
        lambda: tiny_pipe.riff("beat", "jazz", seed=1, guidance=huge, steps=4),
        lambda: tiny_pipe.interpolate(PromptInput("jazz", 1, guidance=huge), PromptInput("rock", 2), num_clips=2,
                                      source="beat", steps=4),
        lambda: tiny_pipe.riff_audio(seeds.seed_audio("bossa", tiny_pipe.params, width=64), "jazz", seed=1,
                                     guidance=huge, steps=4, window_s=0.64),
    ]
    for call in calls:
        with pytest.raises(GenerationError) as caught:
            call()
        message = str(caught.value)
        assert "NaN or infinite" in message and "guidance" in message and "dtype='float32'" in message
        assert "\n" not in message


def test_a_clip_lasts_its_width_minus_one_hop(tiny_pipe, clip):
    # As Riffusion's Griffin-Lim gives it, and as the docs count it (512 columns: 5.11 s at Riffusion's parameters).
    assert clip.samples.shape[-1] == (clip.width - 1) * tiny_pipe.params.hop_length


# -- Clip: saving and showing ----------------------------------------------------------------------------------------


def test_save_writes_audio_image_and_settings(clip, tmp_path):
    paths = clip.save(tmp_path / "out" / "bells")
    assert paths == {
        "audio": tmp_path / "out" / "bells.wav",
        "image": tmp_path / "out" / "bells.png",
        "settings": tmp_path / "out" / "bells.json",
    }
    audio, sample_rate = soundfile.read(paths["audio"], always_2d=True)
    assert sample_rate == clip.sample_rate and audio.shape == clip.samples.T.shape
    assert np.abs(audio.T - clip.samples).max() < 1.5 / 32768
    with Image.open(paths["image"]) as saved:
        assert np.array_equal(np.asarray(saved.convert("RGB")), pixels(clip.image))
        assert params_from_image(saved, default=SpectrogramParams(num_griffin_lim_iters=8)) == clip.params
    settings = json.loads(paths["settings"].read_text())
    assert settings["seed"] == 7 and settings["prompt"] == clip.prompt and settings["negative_prompt"] == "drums"
    assert settings["steps"] == 4 and settings["scheduler"] == "dpm++" and settings["width"] == 64
    assert settings["params"]["num_frequencies"] == TINY_HEIGHT and settings["mode"] == "text_to_audio"
    assert settings == clip.settings()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_save_refuses_to_overwrite_any_of_the_three(clip, tmp_path):
    (tmp_path / "take.json").write_text("keep me")
    with pytest.raises(OutputExistsError, match="take.json already exists"):
        clip.save(tmp_path / "take.flac")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.json"]
    assert (tmp_path / "take.json").read_text() == "keep me"
    paths = clip.save(tmp_path / "take.flac", overwrite=True)
    assert paths["audio"].suffix == ".flac" and json.loads(paths["settings"].read_text())["seed"] == 7
    with pytest.raises(OutputExistsError):
        clip.save(tmp_path / "take.flac")


def test_save_rejects_unknown_suffixes(clip, tmp_path):
    with pytest.raises(RiffnbError, match="cannot save a clip as 'take.png'; name the audio file with .wav"):
        clip.save(tmp_path / "take.png")
    assert not list(tmp_path.iterdir())


def test_clip_shows_a_spectrogram_and_a_player(clip):
    page = clip._repr_html_()
    image_data = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    with Image.open(io.BytesIO(base64.b64decode(image_data))) as shown:
        assert np.array_equal(np.asarray(shown.convert("RGB")), pixels(clip.image))
    audio_data = re.search(r'<audio controls[^>]* src="data:audio/wav;base64,([^"]+)"', page).group(1)
    audio, sample_rate = soundfile.read(io.BytesIO(base64.b64decode(audio_data)), always_2d=True)
    assert sample_rate == clip.sample_rate and audio.shape[0] == clip.samples.shape[1]
    assert "funky (jazz:1.2) piano" in page and "seed 7" in page


def test_clip_html_escapes_the_prompt(clip):
    import dataclasses

    odd = dataclasses.replace(clip, prompt='<script>alert("x")</script>')
    assert "<script>" not in odd._repr_html_()


def test_a_clip_can_be_made_by_hand():
    image = Image.new("RGB", (16, 8), "white")
    hand = Clip(image=image, samples=np.zeros((1, 100)), sample_rate=1000, seed=0, prompt="silence")
    assert hand.duration == 0.1 and hand.settings()["steps"] is None and hand.params == SpectrogramParams()
