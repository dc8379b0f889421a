"""The unrolled denoising loop reproduces text_to_audio exactly; decoding and fast previews of any step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from riffnb.diffusion import steps
from riffnb.diffusion.pipeline import GenerationError
from riffnb.params import params_from_image

from diffusion_fixtures import TINY_HEIGHT


def unrolled(pipe, prompt, *, negative_prompt=None, seed, steps_count, guidance, width, scheduler, record=None):
    """The loop of steps.py's docstring, written out as a learner would."""
    embeddings = steps.encode_prompt(pipe, prompt, negative_prompt)
    generator = steps.make_generator(seed)
    noise = steps.initial_noise(pipe, width, generator)
    sampler = steps.make_scheduler(pipe, scheduler, steps_count)
    latents = noise * sampler.init_noise_sigma
    for index, timestep in enumerate(sampler.timesteps):
        latents = steps.denoise_step(pipe, sampler, latents, timestep, embeddings, guidance, generator)
        if record is not None:
            record.append(latents)
    image = steps.decode(pipe, latents)[0]
    samples, sample_rate = pipe.image_to_audio(image)
    return latents, image, samples, sample_rate


@pytest.mark.parametrize("scheduler", ["dpm++", "pndm", "ddim", "euler", "euler_a", "lms"])
def test_unrolled_loop_reproduces_text_to_audio(tiny_pipe, scheduler):
    settings = dict(negative_prompt="drums", seed=11, guidance=6.0, width=64, scheduler=scheduler)
    clip = tiny_pipe.text_to_audio("a (funky:1.4) jazz piano", steps=5, **settings)
    latents, image, samples, sample_rate = unrolled(tiny_pipe, "a (funky:1.4) jazz piano", steps_count=5, **settings)
    assert torch.equal(latents, clip.latents)
    assert np.array_equal(np.asarray(image), np.asarray(clip.image))
    assert np.array_equal(samples, clip.samples) and sample_rate == clip.sample_rate


def test_unrolled_loop_without_guidance_and_with_a_long_prompt(tiny_pipe):
    prompt = "jazz piano " * 50  # two chunks of tokens
    clip = tiny_pipe.text_to_audio(prompt, seed=2, steps=3, guidance=1.0, width=72)
    latents, image, _, _ = unrolled(
        tiny_pipe, prompt, seed=2, steps_count=3, guidance=1.0, width=72, scheduler=None
    )
    assert torch.equal(latents, clip.latents) and np.array_equal(np.asarray(image), np.asarray(clip.image))
    assert not steps.uses_guidance(tiny_pipe, 1.0) and steps.uses_guidance(tiny_pipe, 1.5)


def test_callback_latents_are_the_unrolled_steps(tiny_pipe):
    seen, record = [], []
    tiny_pipe.text_to_audio("jazz", seed=4, steps=4, width=64, scheduler="euler_a",
                            callback=lambda step, timestep, latents: seen.append(latents))
    unrolled(tiny_pipe, "jazz", seed=4, steps_count=4, guidance=7.0, width=64, scheduler="euler_a", record=record)
    assert len(seen) == len(record) == 4
    assert all(torch.equal(a, b) for a, b in zip(seen, record))


def test_initial_noise_is_the_seeds_gaussian(tiny_pipe):
    noise = steps.initial_noise(tiny_pipe, 128, steps.make_generator(123))
    assert noise.shape == steps.latent_shape(tiny_pipe, 128) == (1, 4, TINY_HEIGHT // 8, 16)
    assert torch.equal(noise, torch.randn(noise.shape, generator=torch.Generator().manual_seed(123)))
    assert steps.initial_noise(tiny_pipe, 128, steps.make_generator(123), batch_size=2).shape[0] == 2


def test_scheduler_visits_decreasing_timesteps(tiny_pipe):
    sampler = steps.make_scheduler(tiny_pipe, "dpm++", 10)
    timesteps = sampler.timesteps.tolist()
    assert len(timesteps) == 10 and timesteps == sorted(timesteps, reverse=True)
    assert type(tiny_pipe.pipeline.scheduler).__name__ == "PNDMScheduler"  # untouched


def test_guidance_moves_the_prediction_away_from_the_negative(tiny_pipe):
    embeddings = steps.encode_prompt(tiny_pipe, "jazz", "drums")
    sampler = steps.make_scheduler(tiny_pipe, "ddim", 5)
    latents = steps.initial_noise(tiny_pipe, 64, steps.make_generator(0))
    t = sampler.timesteps[0]
    cond = steps.predict_noise(tiny_pipe, sampler, latents, t, embeddings, guidance=1.0)
    uncond = steps.predict_noise(tiny_pipe, sampler, latents, t, embeddings._replace(cond=embeddings.uncond), 1.0)
    guided = steps.predict_noise(tiny_pipe, sampler, latents, t, embeddings, guidance=3.0)
    assert torch.allclose(guided, uncond + 3.0 * (cond - uncond), atol=1e-5)


def test_any_step_decodes_to_an_image_and_audio(tiny_pipe):
    record = []
    unrolled(tiny_pipe, "jazz", seed=9, steps_count=3, guidance=7.0, width=64, scheduler="dpm++", record=record)
    for latents in record:
        full = tiny_pipe.latents_to_image(latents)
        fast = tiny_pipe.latents_to_image(latents[0], fast=True)
        for image in (full, fast):
            assert image.size == (64, TINY_HEIGHT) and image.mode == "RGB"
            assert params_from_image(image).sample_rate == tiny_pipe.params.sample_rate
        samples, sample_rate = tiny_pipe.latents_to_audio(latents, fast=True)
        assert sample_rate == tiny_pipe.params.sample_rate and samples.shape[0] == 1 and np.isfinite(samples).all()
    with pytest.raises(GenerationError, match="expected latents of shape"):
        tiny_pipe.latents_to_image(torch.zeros(2, 4, 8, 8))


def test_decoding_nan_latents_or_an_overflowing_float16_vae_is_an_error(tiny_pipe, tiny_pipeline_dir):
    import riffnb

    shape = (1, 4, TINY_HEIGHT // 8, 8)
    with pytest.raises(GenerationError, match="the denoised latents hold NaN or infinite values.*guidance"):
        steps.decode(tiny_pipe, torch.full(shape, float("nan")))
    # Finite latents a float16 VAE cannot decode, as on a GPU: its activations overflow to inf, then NaN.
    half = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", dtype="float16")
    latents = torch.full(shape, 1e4, dtype=torch.float16)
    with pytest.raises(GenerationError, match="the VAE's decoded pixels hold NaN or infinite.*dtype='float32'"):
        half.latents_to_image(latents)
    assert half.latents_to_image(latents / 1e4).size == (8 * shape[-1], TINY_HEIGHT)


def test_preview_approximates_the_vae(tiny_pipe):
    """The fitted linear map explains much of what the VAE draws per 8x8 block, on latents it was not fitted on.

    A random VAE is far less linear than SD's (whose known linear previews are good): about 30-45% here, against
    0% for the best constant image.
    """
    projection = steps.preview_projection(tiny_pipe)
    assert projection.shape == (5, 3) and steps.preview_projection(tiny_pipe) is projection  # cached
    vae = tiny_pipe.pipeline.vae
    images = steps._fit_images(64, 128, 8, "cpu", torch.float32).flip(-1)  # mirrored: not the fitted images
    with torch.no_grad():
        encoded = vae.encode(images).latent_dist.mean * vae.config.scaling_factor
    noise = torch.randn(encoded.shape, generator=torch.Generator().manual_seed(99))
    for latents in (encoded, noise, (encoded + noise) / 2):
        full = np.stack([np.asarray(image, dtype=float) for image in steps.decode(tiny_pipe, latents)])
        fast = np.stack([np.asarray(image, dtype=float) for image in steps.preview(tiny_pipe, latents)])
        assert fast.shape == full.shape
        block = lambda image: image.reshape(len(image), 8, 8, 16, 8, 3).mean(axis=(2, 4))  # noqa: E731
        explained = 1 - ((block(full) - block(fast)) ** 2).mean() / block(full).var()
        assert explained > 0.2, explained
