"""Interpolation: slerp's properties, Riffusion's blending rules, and that the ends are plain riffs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from riffnb.diffusion import seeds
from riffnb.diffusion.interpolate import PromptInput, interpolation_alphas, lerp, slerp, stitch_clips
from riffnb.errors import RiffnbError

STEPS = 3


# slerp ---------------------------------------------------------------------------------------------------------


def noises(seed_a=0, seed_b=1, shape=(1, 4, 8, 8)):
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed_a)),
            torch.randn(shape, generator=torch.Generator().manual_seed(seed_b)))


def test_slerp_endpoints_are_the_inputs():
    a, b = noises()
    assert torch.equal(slerp(0.0, a, b), a)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-6)
    assert slerp(0.3, a, b).dtype == torch.float32 and slerp(0.3, a.double(), b.double()).dtype == torch.float64


def test_slerp_moves_along_the_great_circle_keeping_the_norm():
    # Two orthogonal vectors of the same norm: every slerp has that norm and the angle grows linearly.
    a = torch.tensor([3.0, 0.0, 0.0])
    b = torch.tensor([0.0, 3.0, 0.0])
    for alpha in np.linspace(0, 1, 7):
        v = slerp(alpha, a, b)
        assert float(torch.linalg.vector_norm(v)) == pytest.approx(3.0, abs=1e-5)
        assert math.atan2(float(v[1]), float(v[0])) == pytest.approx(alpha * math.pi / 2, abs=1e-6)
    # Gaussian noise stays as loud as Gaussian noise; a linear blend at 0.5 loses ~29 %.
    a, b = noises(shape=(4, 64, 64))
    expected = math.sqrt(a.numel())
    assert float(torch.linalg.vector_norm(slerp(0.5, a, b))) == pytest.approx(expected, rel=0.03)
    assert float(torch.linalg.vector_norm(lerp(0.5, a, b))) == pytest.approx(expected / math.sqrt(2), rel=0.03)


def test_slerp_falls_back_to_lerp_for_nearly_parallel_vectors():
    a, _ = noises()
    b = a * 2 + 1e-3 * noises(5, 6)[0]  # cosine ~ 1 - 1e-7 > 0.9995
    assert torch.equal(slerp(0.25, a, b), lerp(0.25, a.double(), b.double()).float())
    assert torch.equal(slerp(0.5, a, -a), torch.zeros_like(a))  # antiparallel: |cos| > threshold too
    # Just below the threshold the spherical formula is used: the result differs from the linear one.
    c = a + 0.04 * noises(7, 8)[0]
    cosine = float(torch.sum(a * c) / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(c)))
    assert cosine < 0.9995
    assert not torch.equal(slerp(0.5, a, c), lerp(0.5, a.double(), c.double()).float())


def riffusion_slerp(t, v0, v1, dot_threshold=0.9995):
    """Riffusion's slerp (riffusion/util/torch_util.py), transcribed: numpy, on the whole tensor."""
    v0, v1 = v0.numpy(), v1.numpy()
    dot = np.sum(v0 * v1 / (np.linalg.norm(v0) * np.linalg.norm(v1)))
    if np.abs(dot) > dot_threshold:
        return torch.from_numpy((1 - t) * v0 + t * v1)
    theta_0 = np.arccos(dot)
    theta_t = theta_0 * t
    return torch.from_numpy(np.sin(theta_0 - theta_t) / np.sin(theta_0) * v0 + np.sin(theta_t) / np.sin(theta_0) * v1)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_slerp_matches_riffusions(alpha):
    a, b = noises(3, 4)
    assert torch.allclose(slerp(alpha, a, b), riffusion_slerp(alpha, a, b).float(), atol=1e-5)
    near = a + 1e-3 * b
    assert torch.allclose(slerp(alpha, a, near), riffusion_slerp(alpha, a, near).float(), atol=1e-6)


def test_alphas_are_evenly_spaced_from_zero_to_one():
    assert interpolation_alphas(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert interpolation_alphas(1) == [0.0] and interpolation_alphas(2) == [0.0, 1.0]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(RiffnbError, match="num_clips"):
            interpolation_alphas(bad)


def test_prompt_input_checks_its_values():
    # guidance None: the model's default, filled in when a clip is made (and recorded on it).
    assert PromptInput("jazz", 3).denoising == 0.75 and PromptInput("jazz", 3).guidance is None
    for kwargs, fragment in [({"seed": -2}, "seed"), ({"denoising": 1.2}, "strength"), ({"guidance": "high"}, "guidance"),
                             ({"guidance": float("inf")}, "guidance must be a finite number")]:
        with pytest.raises(RiffnbError, match=fragment):
            PromptInput("jazz", **{"seed": 1, **kwargs})


# interpolate -----------------------------------------------------------------------------------------------------

START = PromptInput("jazz piano", 11, denoising=0.5, guidance=5.0)
END = PromptInput("church bells", 12, denoising=1.0, guidance=9.0)


@pytest.fixture(scope="module")
def source(tiny_pipe):
    return seeds.seed_image("arpeggio", tiny_pipe.params, width=64)


@pytest.fixture(scope="module")
def clips(tiny_pipe, source):
    return tiny_pipe.interpolate(START, END, num_clips=3, source=source, steps=STEPS)


def test_the_ends_are_plain_riffs_of_start_and_end(tiny_pipe, source, clips):
    first = tiny_pipe.riff(source, START.prompt, strength=START.denoising, guidance=START.guidance, seed=START.seed,
                           steps=STEPS)
    last = tiny_pipe.riff(source, END.prompt, strength=END.denoising, guidance=END.guidance, seed=END.seed,
                          steps=STEPS)
    assert torch.equal(clips[0].latents, first.latents)
    assert torch.equal(clips[-1].latents, last.latents)
    assert np.array_equal(np.asarray(clips[-1].image), np.asarray(last.image))
    assert not torch.allclose(clips[1].latents, first.latents, atol=0.1)
    assert not torch.allclose(clips[1].latents, last.latents, atol=0.1)


def test_the_middle_blends_guidance_and_denoising_and_records_both_ends(clips):
    assert [clip.extra["alpha"] for clip in clips] == [0.0, 0.5, 1.0]
    middle = clips[1]
    assert middle.guidance == 7.0 and middle.extra["strength"] == 0.75
    assert middle.extra["start"]["prompt"] == "jazz piano" and middle.extra["end"]["seed"] == 12
    assert (clips[0].prompt, clips[0].seed) == ("jazz piano", 11)
    assert (clips[-1].prompt, clips[-1].seed) == ("church bells", 12)
    assert all(clip.mode == "interpolate" for clip in clips)


def test_stitching_crossfades_the_clips(clips):
    rate = clips[0].sample_rate
    stitched = stitch_clips(clips, crossfade_s=0.01)
    fade = round(0.01 * rate)
    assert stitched.shape == (1, sum(clip.samples.shape[-1] for clip in clips) - 2 * fade)
    length = clips[0].samples.shape[-1]
    assert np.array_equal(stitched[:, : length - fade], clips[0].samples[:, : length - fade])
    with pytest.raises(RiffnbError, match="no clips"):
        stitch_clips([])
