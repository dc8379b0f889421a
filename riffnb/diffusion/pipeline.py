"""riffnb's pipeline: a thin, explicit wrapper around diffusers' StableDiffusionPipeline that makes music.

Riffusion fine-tuned Stable Diffusion 1.5 to draw mel spectrogram images; a 512-pixel-wide image is 5.11 s of
audio. :meth:`RiffusionPipeline.text_to_audio` runs diffusers' own denoising loop (with Riffusion's weighted prompts
and a choice of schedulers), decodes the image, and turns it into audio with :func:`riffnb.spectrogram.audio_from_image`.
"""

from __future__ import annotations

import math
import numbers
import secrets
import typing as T

from ..errors import RiffnbError
from ..params import SpectrogramParams
from . import schedulers
from . import steps as unrolled
from .clip import Clip
from .loading import RIFFUSION_DEFAULTS, ModelLimits, SamplingDefaults, max_steps, memory_errors

if T.TYPE_CHECKING:
    import os

    import numpy as np
    import torch
    from PIL import Image

__all__ = ["Clip", "GenerationError", "RiffusionPipeline", "check_settings", "random_seed"]

#: Phase reconstruction's seed: the same image always becomes the same audio.
AUDIO_SEED = 0

#: Seeds riffnb draws lie in [0, MAX_SEED]; any non-negative integer below 2**63 works.
MAX_SEED = 2**31 - 1

StepCallback = T.Callable[[int, T.Union[int, float], "torch.Tensor"], T.Any]


class GenerationError(RiffnbError):
    """Settings that cannot generate a clip (a width that is not a multiple of 8, no steps, ...), or a generation
    that went wrong (NaN latents)."""


def random_seed() -> int:
    """A fresh random seed, recorded on the clip so the result can be made again."""
    return secrets.randbelow(MAX_SEED + 1)


def check_seed(seed: T.Any) -> int:
    """``seed`` as an int, or a :class:`GenerationError` saying what a seed must be."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**63:
        raise GenerationError(f"seed must be a non-negative integer below 2**63 or None (random), got {seed!r}")
    return int(seed)


def check_steps(value: T.Any, max_steps: int | None = None) -> int:
    """``value`` as a number of denoising steps: a positive int, and at most ``max_steps`` (the model's
    :attr:`~riffnb.diffusion.loading.ModelLimits.max_steps`) when given; else a :class:`GenerationError`.

    Examples
    --------
    >>> check_steps(30, max_steps=999)
    30
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise GenerationError(f"steps must be a positive integer, got {value!r}; try 20 to 30 with 'dpm++'")
    if max_steps is not None and value > max_steps:
        raise GenerationError(
            f"steps must be at most {max_steps} for this model (its noise schedule's length), got {value}; "
            "20-50 is typical"
        )
    return int(value)


def check_guidance(value: T.Any) -> float:
    """``value`` as a guidance scale (a finite number), or a :class:`GenerationError` saying so."""
    try:
        number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise GenerationError(f"guidance must be a finite number, got {value!r}; Riffusion uses 7.0")
    return number


def check_width(width: T.Any, factor: int, params: SpectrogramParams | None = None) -> int:
    """``width`` as an int, or a :class:`GenerationError` naming the nearest multiples of the VAE's ``factor`` (and,
    with ``params``, how many columns a second of audio takes, and the fewest the phase reconstruction takes).

    Examples
    --------
    >>> check_width(500, 8, SpectrogramParams())
    Traceback (most recent call last):
    ...
    riffnb.diffusion.pipeline.GenerationError: width must be a positive multiple of 8 pixels (100 per second of audio), got 500; try 496 or 504
    >>> check_width(16, 8, SpectrogramParams())
    Traceback (most recent call last):
    ...
    riffnb.diffusion.pipeline.GenerationError: width must be at least 24 pixels at these parameters (the STFT's 0.40 s frames need 0.20 s of audio), got 16; try 24
    """
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < factor or width % factor:
        finite = isinstance(width, numbers.Real) and not isinstance(width, bool) and abs(width) < math.inf
        lower = max(factor, int(width // factor * factor)) if finite else factor
        per_second = "" if params is None else f" ({params.sample_rate / params.hop_length:g} per second of audio)"
        raise GenerationError(
            f"width must be a positive multiple of {factor} pixels{per_second}, got {width!r}; "
            f"try {lower} or {lower + factor}"
        )
    if params is not None:
        from ..spectrogram import narrowest_image, shortest_audio

        narrowest = -(-narrowest_image(params) // factor) * factor
        if width < narrowest:
            raise GenerationError(
                f"width must be at least {narrowest} pixels at these parameters (the STFT's "
                f"{params.n_fft / params.sample_rate:.2f} s frames need {shortest_audio(params) / params.sample_rate:.2f} s "
                f"of audio), got {width}; try {narrowest}"
            )
    return int(width)


def check_settings(
    model: "str | os.PathLike | RiffusionPipeline | None",
    *,
    steps: T.Any = None,
    guidance: T.Any = None,
    width: T.Any = None,
    scheduler: T.Any = None,
    seed: T.Any = None,
) -> None:
    """Check the settings a call gives (None: the model's default, checked when it loads) against ``model``
    before it loads: a loaded pipeline, a shipped model name or a local folder (its configs read, not its
    weights), or a hub id or None (Stable Diffusion's limits; loading checks them exactly).

    Examples
    --------
    >>> check_settings("tiny", steps=1001)
    Traceback (most recent call last):
    ...
    riffnb.diffusion.pipeline.GenerationError: steps must be at most 999 for this model (its noise schedule's length), got 1001; 20-50 is typical
    """
    from .loading import limits_for, params_for

    limits = limits_for(model)
    if seed is not None:
        check_seed(seed)
    if steps is not None:
        check_steps(steps, limits.max_steps)
    if guidance is not None:
        check_guidance(guidance)
    if width is not None:
        check_width(width, limits.vae_scale_factor, None if model is None else params_for(model))
    if scheduler is not None:
        schedulers.scheduler_key(scheduler)


class RiffusionPipeline:
    """A loaded text-to-spectrogram model: make it with :func:`riffnb.load_pipeline`.

    Attributes
    ----------
    pipeline
        The diffusers ``StableDiffusionPipeline`` (its ``unet``, ``vae``, ``text_encoder``, ``tokenizer`` and its
        own ``scheduler``, which riffnb leaves untouched).
    params
        The :class:`~riffnb.params.SpectrogramParams` the model's images use (Riffusion's by default).
    device, dtype
        Where and in which precision it runs.
    model
        What it was loaded from (hub id, folder or shipped name).
    defaults
        The :class:`~riffnb.diffusion.loading.SamplingDefaults` (steps, guidance, width, scheduler) a call uses for
        each setting it leaves out: the model folder's ``riffnb.json``, else Riffusion's (30, 7.0, 512, "dpm++").
    limits
        The :class:`~riffnb.diffusion.loading.ModelLimits` its settings must fit (width multiple, most steps).
    """

    def __init__(
        self,
        pipeline,
        params: SpectrogramParams | None = None,
        model: str | None = None,
        defaults: SamplingDefaults | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.params = params or SpectrogramParams()
        self.model = model
        self.defaults = defaults or RIFFUSION_DEFAULTS
        self.device = pipeline.device
        self.dtype = pipeline.unet.dtype
        self.limits = ModelLimits(pipeline.vae_scale_factor, max_steps(pipeline.scheduler.config))
        factor = pipeline.vae_scale_factor
        if self.params.num_frequencies % factor:
            raise GenerationError(
                f"the model's images are {self.params.num_frequencies} rows tall (num_frequencies), not a multiple of "
                f"the VAE's factor {factor}; pass SpectrogramParams with num_frequencies a multiple of {factor}"
            )

    @property
    def height(self) -> int:
        """Image height in pixels: one row per mel bin (512 for Riffusion)."""
        return self.params.num_frequencies

    def width_for(self, duration_s: float) -> int:
        """The image width (a multiple of 8) closest to ``duration_s`` seconds of audio (5.12 s -> 512)."""
        factor = self.pipeline.vae_scale_factor
        return max(factor, int(round(self.params.columns_for(duration_s) / factor)) * factor)

    def check_width(self, width: T.Any) -> int:
        """``width`` as an int, or a :class:`GenerationError` naming the nearest valid widths."""
        return check_width(width, self.limits.vae_scale_factor, self.params)

    def check_steps(self, value: T.Any) -> int:
        """``value`` as a number of denoising steps (a positive int, at most :attr:`limits` ``.max_steps``), or a
        :class:`GenerationError` saying so."""
        return check_steps(value, self.limits.max_steps)

    # ------------------------------------------------------------------------------------------------------------

    def text_to_audio(
        self,
        prompt: str,
        *,
        negative_prompt: str | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
        callback: StepCallback | None = None,
    ) -> Clip:
        """Generate a clip from text.

        Parameters
        ----------
        prompt
            What to play; Riffusion's weights work: ``"(funky:1.3) jazz piano, [drums]"``; up to 3 x 75 tokens.
        negative_prompt
            What to steer away from (default: nothing, the empty prompt).
        seed
            The seed of the initial noise (and of ancestral samplers); None draws one and records it on the clip.
        steps, guidance, width, scheduler
            None takes the model's default (:attr:`defaults`). ``steps``: denoising steps. ``guidance``: the
            classifier-free guidance scale; 1 or less turns guidance off (half the work per step). ``width``: image
            width in pixels, a multiple of 8 (Riffusion: 100 columns per second; ``W`` columns decode to ``W - 1``
            hops of audio, as Riffusion's Griffin-Lim gives them, so 512 -> 5.11 s).
            ``scheduler``: "dpm++", "pndm" (the model's own), "ddim", "euler", "euler_a" or "lms".
        callback
            Called after every step as ``callback(step_index, timestep, latents)``; show progress with
            ``self.latents_to_image(latents, fast=True)``. The latents are a copy.

        Examples
        --------
        >>> clip = pipe.text_to_audio("church bells on a sunday morning", seed=42)  # doctest: +SKIP
        >>> round(clip.duration, 2), clip.image.size                                # doctest: +SKIP
        (5.11, (512, 512))
        """
        settings = self.defaults.resolve(steps=steps, guidance=guidance, width=width, scheduler=scheduler)
        steps_count = self.check_steps(settings["steps"])
        guidance = check_guidance(settings["guidance"])
        width = self.check_width(settings["width"])
        scheduler = settings["scheduler"]
        seed = random_seed() if seed is None else check_seed(seed)
        if callback is not None and not callable(callback):
            raise GenerationError(f"callback must be callable as callback(step, timestep, latents), got {callback!r}")
        sampler = schedulers.make_scheduler(self.pipeline.scheduler.config, scheduler)

        def on_step_end(pipeline, index: int, timestep, tensors: dict) -> dict:
            callback(index, timestep.item() if hasattr(timestep, "item") else timestep, tensors["latents"].clone())
            return {}

        with memory_errors(f"generating a clip {width} pixels wide", self.device):
            embeddings = unrolled.encode_prompt(self, prompt, negative_prompt)
            generator = unrolled.make_generator(seed)
            noise = unrolled.initial_noise(self, width, generator)
            own_scheduler = self.pipeline.scheduler
            self.pipeline.scheduler = sampler
            try:
                latents = self.pipeline(
                    prompt_embeds=embeddings.cond,
                    negative_prompt_embeds=embeddings.uncond,
                    height=self.height,
                    width=width,
                    num_inference_steps=steps_count,
                    guidance_scale=guidance,
                    generator=generator,
                    latents=noise,
                    output_type="latent",
                    callback_on_step_end=on_step_end if callback is not None else None,
                ).images
            finally:
                self.pipeline.scheduler = own_scheduler
            image = unrolled.decode(self, latents)[0]
        samples, sample_rate = self.image_to_audio(image)
        return Clip(
            image=image,
            samples=samples,
            sample_rate=sample_rate,
            seed=seed,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps_count,
            guidance=guidance,
            width=width,
            scheduler=schedulers.scheduler_name(sampler),
            model=self.model,
            params=self.params,
            latents=latents.detach().cpu(),
        )

    # ------------------------------------------------------------------------------------------------------------

    def image_to_audio(self, image: "Image.Image", *, seed: int = AUDIO_SEED, **options: T.Any) -> "tuple[np.ndarray, int]":
        """Audio ``(samples (channels, n), sample_rate)`` from a spectrogram image, with this model's parameters.

        ``seed`` fixes the random part of phase reconstruction, so one image always gives the same audio;
        ``options`` go to :func:`riffnb.spectrogram.audio_from_image` (e.g. ``n_iter``, ``algorithm``).
        """
        from ..spectrogram import audio_from_image

        return audio_from_image(image, self.params, seed=seed, **options)

    def latents_to_image(self, latents: "torch.Tensor", *, fast: bool = False) -> "Image.Image":
        """The spectrogram image of one set of latents ``(1, 4, h, w)`` or ``(4, h, w)``, e.g. from a callback.

        ``fast=True`` skips the VAE for a linear approximation (:func:`steps.preview`), cheap enough for every step.
        """
        if latents.ndim == 3:
            latents = latents[None]
        if latents.ndim != 4 or latents.shape[0] != 1:
            raise GenerationError(f"expected latents of shape (1, 4, h, w) or (4, h, w), got {tuple(latents.shape)}")
        latents = latents.to(self.device, self.dtype) if not fast else latents
        with memory_errors("decoding latents", self.device):
            return (unrolled.preview if fast else unrolled.decode)(self, latents)[0]

    def latents_to_audio(self, latents: "torch.Tensor", *, fast: bool = False) -> "tuple[np.ndarray, int]":
        """Audio from latents: :meth:`latents_to_image` then :meth:`image_to_audio`."""
        return self.image_to_audio(self.latents_to_image(latents, fast=fast))

    # Riffing, interpolation, endless tracks and batches: entry points to riff.py, interpolate.py, endless.py and
    # batch.py, whose functions document every option. ------------------------------------------------------------

    def riff(self, source, prompt: str, *, strength: float = 0.75, seed: int | None = None, **options) -> Clip:
        """Riff on ``source`` (image, image or audio file, seed name) towards ``prompt``: Riffusion's img2img.

        Options (``steps``, ``guidance``, ``negative_prompt``, ``mask``, ``scheduler``, ``callback``): see
        :func:`riffnb.diffusion.riff.riff`.
        """
        from .riff import riff

        return riff(self, source, prompt, strength=strength, seed=seed, **options)

    def riff_audio(self, audio, prompt: str, *, strength: float = 0.55, seed: int | None = None, **options):
        """Riff a whole song in overlapping windows and crossfade them back: Riffusion's audio-to-audio.

        Returns a :class:`~riffnb.diffusion.riff.RiffedAudio`; options: see :func:`riffnb.diffusion.riff.riff_audio`.
        """
        from .riff import riff_audio

        return riff_audio(self, audio, prompt, strength=strength, seed=seed, **options)

    def interpolate(self, start, end, *, num_clips: int = 5, **options) -> "list[Clip]":
        """Clips morphing from ``start`` to ``end`` (:class:`~riffnb.diffusion.riff.PromptInput` s) at evenly
        spaced alphas; options (``source``, ``mask``, ``steps``, ...): see :func:`riffnb.diffusion.interpolate.interpolate`.
        """
        from .interpolate import interpolate

        return interpolate(self, start, end, num_clips=num_clips, **options)

    def endless(self, prompt: str, *, seed: int | None = None, **options):
        """An endless track that plays on clip after clip like Riffusion's app; change it with ``set_prompt``.

        Returns an :class:`~riffnb.diffusion.endless.EndlessTrack`; options: see
        :func:`riffnb.diffusion.endless.endless_track`.
        """
        from .endless import endless_track

        return endless_track(self, prompt, seed=seed, **options)

    def batch(self, batch, **options):
        """Generate every entry of a batch (Riffusion's JSON format, a path or a dict); see
        :func:`riffnb.diffusion.batch.run_batch`."""
        from .batch import run_batch

        return run_batch(batch, self, **options)

    def __repr__(self) -> str:
        return (
            f"RiffusionPipeline(model={self.model!r}, device={self.device}, dtype={self.dtype}, "
            f"image height={self.height}, sample_rate={self.params.sample_rate})"
        )
