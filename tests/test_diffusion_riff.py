"""Riffing (img2img) on the tiny random pipeline: Riffusion's strength arithmetic, masks, sources, seeds, audio to
audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, PNDMScheduler
from PIL import Image

from riffnb.audio import save_audio
from riffnb.clips import split_clips
from riffnb.diffusion import riff as riffing
from riffnb.diffusion import seeds
from riffnb.diffusion.steps import decode, make_scheduler
from riffnb.errors import InvalidImageError, RiffnbError
from riffnb.params import ExifTags, params_from_image

from diffusion_fixtures import TINY_HEIGHT

STEPS = 4


@pytest.fixture(scope="module")
def source(tiny_pipe):
    """riffnb's drum-beat seed image at the tiny model's parameters, 64 columns wide."""
    return seeds.seed_image("beat", tiny_pipe.params, width=64)


@pytest.fixture(scope="module")
def source_latents(tiny_pipe, source):
    return riffing.encode_image(tiny_pipe, source)


@pytest.fixture(scope="module")
def riffs(tiny_pipe, source):
    """Riffs of the source with one prompt and seed at several strengths, by strength."""
    return {
        strength: tiny_pipe.riff(source, "jazz piano", strength=strength, seed=1, steps=STEPS)
        for strength in (0.0, 0.25, 0.5, 1.0)
    }


# Riffusion's arithmetic ----------------------------------------------------------------------------------------


def riffusion_img2img_timesteps(scheduler, steps, strength):
    """Riffusion's riffuse, transcribed: the timestep it noises to, and the ones its loop visits."""
    offset = scheduler.config.get("steps_offset", 0)
    init_timestep = min(int(steps * strength) + offset, steps)
    noise_timestep = scheduler.timesteps[-init_timestep]
    t_start = max(steps - init_timestep + offset, 0)
    return noise_timestep, scheduler.timesteps[t_start:]


@pytest.mark.parametrize("strength", [0.25, 0.5, 0.75, 0.9])
def test_timesteps_match_riffusion_on_its_pndm_scheduler(strength):
    scheduler = PNDMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              skip_prk_steps=True, steps_offset=1)
    scheduler.set_timesteps(50)
    noise_timestep, loop = riffusion_img2img_timesteps(scheduler, 50, strength)
    ours = riffing.img2img_timesteps(scheduler, 50, strength)
    assert ours.tolist() == loop.tolist()
    assert ours[0] == noise_timestep  # the noise level is where denoising starts


@pytest.mark.parametrize("scheduler", [DDIMScheduler(), DPMSolverMultistepScheduler()])
def test_timesteps_start_at_minus_steps_times_strength(scheduler):
    scheduler.set_timesteps(20)
    for strength in (0.3, 0.55, 1.0):
        run = riffing.img2img_timesteps(scheduler, 20, strength)
        assert len(run) == int(20 * strength)
        assert run.tolist() == scheduler.timesteps[-int(20 * strength):].tolist()
    assert len(riffing.img2img_timesteps(scheduler, 20, 0.0)) == 0


def test_strength_zero_returns_the_source_as_the_vae_reproduces_it(tiny_pipe, riffs, source_latents):
    clip = riffs[0.0]
    assert torch.equal(clip.latents, source_latents)
    assert np.array_equal(np.asarray(clip.image), np.asarray(decode(tiny_pipe, source_latents)[0]))
    assert clip.mode == "riff" and clip.extra["strength"] == 0.0 and clip.seed == 1
    assert params_from_image(clip.image, default=tiny_pipe.params) == tiny_pipe.params


def test_higher_strength_changes_more(riffs, source_latents):
    distances = [float((riffs[strength].latents - source_latents).pow(2).mean().sqrt()) for strength in (0.25, 0.5, 1.0)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_steps_run_are_strength_times_steps(tiny_pipe, source):
    seen = []
    tiny_pipe.riff(source, "jazz", strength=0.5, seed=3, steps=STEPS, scheduler="ddim",
                   callback=lambda index, timestep, latents: seen.append((index, timestep, tuple(latents.shape))))
    assert [index for index, _, _ in seen] == [0, 1]
    assert [timestep for _, timestep, _ in seen] == make_scheduler(tiny_pipe, "ddim", STEPS).timesteps[-2:].tolist()
    assert seen[0][2] == (1, 4, TINY_HEIGHT // 8, 8)


def test_same_seed_same_riff_and_other_seed_differs(tiny_pipe, source):
    a = tiny_pipe.riff(source, "jazz", strength=0.5, seed=5, steps=2)
    b = tiny_pipe.riff(source, "jazz", strength=0.5, seed=5, steps=2)
    c = tiny_pipe.riff(source, "jazz", strength=0.5, seed=6, steps=2)
    assert torch.equal(a.latents, b.latents) and not torch.equal(a.latents, c.latents)


# Masks -----------------------------------------------------------------------------------------------------------


def test_mask_is_downsampled_tiled_and_inverted(tiny_pipe, source_latents):
    mask = np.zeros((TINY_HEIGHT, 64), np.uint8)
    mask[:, 32:] = 255
    mask[:16, :8] = 128
    latent = riffing.latent_mask(tiny_pipe, Image.fromarray(mask), source_latents)
    assert latent.shape == source_latents.shape
    assert torch.equal(latent[:, 0], latent[:, 3])
    assert torch.all(latent[..., 4:] == 0)  # white: repaint
    assert torch.all(latent[..., 2:, :4] == 1)  # black: keep
    assert latent[0, 0, 0, 0] == pytest.approx(1 - 128 / 255)


def riffusion_preprocess_mask(mask, scale_factor=8):
    """Riffusion's preprocess_mask (riffusion_pipeline.py), transcribed."""
    mask = mask.convert("L")
    w, h = mask.size
    w, h = w - w % 32, h - h % 32
    mask = mask.resize((w // scale_factor, h // scale_factor), resample=Image.NEAREST)
    mask_np = np.tile(np.array(mask).astype(np.float32) / 255.0, (4, 1, 1))[None]
    return torch.from_numpy(1 - mask_np)


def test_mask_preprocessing_matches_riffusions(tiny_pipe, source_latents):
    rng = np.random.default_rng(0)
    mask = Image.fromarray(rng.integers(0, 256, (TINY_HEIGHT, 64, 3), dtype=np.uint8))
    assert torch.equal(riffing.latent_mask(tiny_pipe, mask, source_latents), riffusion_preprocess_mask(mask))


def test_mask_keeps_black_and_repaints_white(tiny_pipe, source, source_latents, riffs):
    mask = np.zeros((TINY_HEIGHT, 64), np.uint8)
    mask[:, 32:] = 255  # repaint the second half of the clip
    clip = tiny_pipe.riff(source, "jazz piano", strength=1.0, seed=1, steps=STEPS, mask=Image.fromarray(mask))
    kept = (clip.latents[..., :4] - source_latents[..., :4]).abs()
    repainted = (clip.latents[..., 4:] - source_latents[..., 4:]).abs()
    # The kept half is the original noised to the last step's level: within a few hundredths.
    assert float(kept.max()) < 0.15
    assert float(repainted.mean()) > 1.0
    unmasked = riffs[1.0]  # same riff without the mask changes that half too
    assert float((unmasked.latents[..., :4] - source_latents[..., :4]).abs().mean()) > 1.0
    assert clip.extra["mask"] is None and clip.extra["strength"] == 1.0


# Sources ---------------------------------------------------------------------------------------------------------


def test_sources_image_file_audio_file_and_samples(tiny_pipe, source, tmp_path):
    from riffnb.image import save_image

    save_image(source, tmp_path / "seed.png")
    from_image = tiny_pipe.riff(source, "bells", strength=0.5, seed=2, steps=2)
    from_file = tiny_pipe.riff(tmp_path / "seed.png", "bells", strength=0.5, seed=2, steps=2)
    assert torch.equal(from_image.latents, from_file.latents)
    assert from_file.extra["source"] == str(tmp_path / "seed.png")

    samples, sample_rate = seeds.seed_audio("beat", tiny_pipe.params, width=61)
    save_audio(tmp_path / "beat.wav", samples, sample_rate)
    from_audio = tiny_pipe.riff(str(tmp_path / "beat.wav"), "bells", strength=0.5, seed=2, steps=2)
    from_samples = tiny_pipe.riff((samples, sample_rate), "bells", strength=0.5, seed=2, steps=2)
    # 61 hops of audio give 62 columns: brought to the nearest multiple of 8.
    assert from_audio.image.size == (64, TINY_HEIGHT) and from_audio.width == 64
    # The same audio, but through a 16-bit WAV file: close, not equal.
    assert 0 < float((from_audio.latents - from_samples.latents).abs().mean()) < 0.02


def test_fit_width_crops_or_repeats_columns_and_keeps_exif(source):
    wide = seeds.fit_width(source.crop((0, 0, 61, TINY_HEIGHT)))
    assert wide.size == (64, TINY_HEIGHT)
    pixels = np.asarray(wide)
    assert np.array_equal(pixels[:, 60], pixels[:, 63])
    narrow = seeds.fit_width(seeds._with_exif_of(source.crop((0, 0, 67, TINY_HEIGHT)), source))
    assert narrow.size == (64, TINY_HEIGHT) and narrow.getexif()[ExifTags.SAMPLE_RATE] == 16000


def test_bad_sources_and_settings_are_one_line_errors(tiny_pipe, source, tmp_path):
    tall = Image.new("RGB", (64, 512), "white")
    cases = [
        (lambda: tiny_pipe.riff(tall, "x", seed=1), InvalidImageError, "64 rows"),
        (lambda: tiny_pipe.riff(source, "x", strength=1.5, seed=1), RiffnbError, "strength"),
        (lambda: tiny_pipe.riff(tmp_path / "missing.wav", "x", seed=1), RiffnbError, "no such file"),
        (lambda: tiny_pipe.riff("no_such_seed", "x", seed=1), seeds.SeedImageError, "beat"),
        (lambda: tiny_pipe.riff(np.zeros(1000), "x", seed=1), RiffnbError, "(samples, sample_rate)"),
        (lambda: tiny_pipe.riff(source, "x", seed=1, mask=tmp_path / "nomask.png"), InvalidImageError, "mask"),
        (lambda: tiny_pipe.riff(source, "x", seed=-1), RiffnbError, "seed"),
        (lambda: tiny_pipe.riff(source, "x", seed=1, steps=1001), RiffnbError, "steps must be at most 999"),
        (lambda: tiny_pipe.riff(source, "x", seed=1, guidance=float("inf")), RiffnbError, "finite"),
        # The window, not the audio, is what is too short (the song is 1.1 s long).
        (lambda: tiny_pipe.riff_audio(seeds.seed_audio("bossa", tiny_pipe.params, width=110), "x", window_s=0.01),
         RiffnbError, "window_s must be at least 0.200 s at this model's spectrogram parameters"),
        (lambda: tiny_pipe.riff_audio(seeds.seed_audio("bossa", tiny_pipe.params, width=110), "x", overlap_s=6),
         RiffnbError, "overlap_s must be 0 or more and less than window_s (5 s), got 6"),
    ]
    for call, error, fragment in cases:
        with pytest.raises(error) as raised:
            call()
        message = str(raised.value)
        assert fragment in message and "\n" not in message


# Seed images -----------------------------------------------------------------------------------------------------


def test_own_seed_images_are_deterministic_and_distinct(tiny_pipe):
    images = {name: np.asarray(seeds.seed_image(name, tiny_pipe.params, width=64)) for name in seeds.SEEDS}
    assert all(image.shape == (TINY_HEIGHT, 64, 3) for image in images.values())
    assert np.array_equal(images["beat"], np.asarray(seeds.seed_image("beat", tiny_pipe.params, width=64)))
    flat = [image.astype(int) for image in images.values()]
    assert all(np.abs(a - b).mean() > 5 for i, a in enumerate(flat) for b in flat[i + 1:])
    assert params_from_image(seeds.seed_image("techno", tiny_pipe.params, width=64)) .sample_rate == 16000


def test_riffusion_seed_images_offline_say_so_in_one_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for name in ("og_beat", "mask_top_third_75"):
        with pytest.raises(seeds.SeedImageError) as raised:
            seeds.riffusion_image(name, repo="riffusion/riffusion-model-v1")
        message = str(raised.value)
        assert name in message and "beat" in message and "\n" not in message
    with pytest.raises(seeds.SeedImageError, match="no seed image or mask"):
        seeds.riffusion_image("og_beet")


# Audio to audio --------------------------------------------------------------------------------------------------


def test_audio_to_audio_keeps_the_length_and_riffs_every_window(tiny_pipe):
    sample_rate = tiny_pipe.params.sample_rate
    samples = seeds.seed_audio("bossa", tiny_pipe.params, width=150)[0]  # 1.5 s
    windows = split_clips(samples, sample_rate, 0.64, 0.1)
    seen = []
    # Moving from one prompt to another along the song, as the page's "interpolate" option does.
    end = riffing.PromptInput("church bells", 4, denoising=0.55)
    riffed = tiny_pipe.riff_audio((samples, sample_rate), "jazz", seed=4, steps=2, window_s=0.64, overlap_s=0.1,
                                  end=end, callback=lambda index, total, clip: seen.append((index, total)))
    assert riffed.samples.shape == samples.shape and riffed.sample_rate == sample_rate
    assert len(riffed.clips) == len(windows) == 3 and seen == [(0, 3), (1, 3), (2, 3)]
    assert all(clip.extra["strength"] == 0.55 and clip.seed == 4 for clip in riffed.clips)
    assert [clip.extra["alpha"] for clip in riffed.clips] == [0.0, 0.5, 1.0]
    assert [clip.prompt for clip in riffed.clips] == ["jazz", "jazz", "church bells"]
    assert [clip.extra["window_start_s"] for clip in riffed.clips] == [window.start / sample_rate for window in windows]
    assert 20 * np.log10(np.abs(riffed.samples).max()) == pytest.approx(-0.1, abs=0.01)  # levelled once
    assert not np.allclose(riffed.samples, samples, atol=0.05)
