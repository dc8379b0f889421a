"""Riffing: img2img on spectrograms, with Riffusion's semantics, and its interpolating form ("riffuse").

A riff starts from an existing spectrogram (a seed image, an image file, or audio turned into an image), adds noise
to its latents, and denoises them towards a prompt. ``strength`` (Riffusion's "denoising") says how much noise: 0
keeps the source, 1 starts from (nearly) pure noise. What Riffusion does, and riffnb with it:

- The source is encoded with the VAE and scaled by its scaling factor (0.18215 for SD).
- Of a ``steps``-step schedule, the last ``int(steps * strength)`` run: denoising starts at
  ``timesteps[-int(steps * strength)]`` (PNDM, the model's scheduler, has one timestep more; riffnb cuts its
  schedule where Riffusion does, and any other scheduler the way diffusers' img2img pipeline does).
- Classifier-free guidance against the empty prompt (or a negative prompt, when given).
- A mask is turned to luminance, shrunk to the latents' size (nearest neighbour), tiled to the 4 latent channels and
  inverted: white areas are repainted; black areas are reset after every step to the original latents noised
  again, so they come out as the source. Riffusion's PNDM noises them to the step's own timestep; with
  DPM-Solver++ and other sigma-based schedulers diffusers' ``add_noise`` uses the level the step has just reached
  (the next one's), ending at no noise.
- :func:`riffuse` is Riffusion's server call: between a ``start`` and an ``end`` :class:`PromptInput` at ``alpha``,
  the text embeddings and the guidance and denoising strengths are interpolated linearly, and the initial noise is
  the spherical interpolation (:func:`slerp`) of the noise of the start seed and the noise of the end seed.

One difference: Riffusion encodes the source with a sample of the VAE's posterior drawn with the start seed (a
comment there notes the result hardly depends on that seed); riffnb takes the posterior mean, so ``alpha=1`` gives exactly a riff of the end
prompt with the end seed, and ``strength=0`` gives back the source as the VAE reproduces it.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import typing as T

import numpy as np

from ..errors import RiffnbError
from ..image import tag_image
from . import prompts, schedulers
from .steps import PromptEmbeddings, decode, denoise_step, initial_noise, make_generator, make_scheduler
from .seeds import resolve_mask, resolve_source

if T.TYPE_CHECKING:
    import torch
    from PIL import Image

    from ..params import SpectrogramParams
    from .clip import Clip
    from .pipeline import RiffusionPipeline

#: Riffusion's denoising strength for a riff (its app and server default).
DEFAULT_STRENGTH = 0.75

#: Riffusion's slerp threshold: noise vectors more aligned than this are interpolated linearly.
DOT_THRESHOLD = 0.9995

Source = T.Union["Image.Image", str, os.PathLike, "tuple[np.ndarray, int]", "Clip"]


@dataclasses.dataclass(frozen=True)
class PromptInput:
    """One end of an interpolation, as Riffusion's API has it: a prompt and a seed, with the strengths to use there.

    Attributes
    ----------
    prompt
        The text (weighted prompts work: ``"(jazz:1.3) piano"``).
    seed
        The seed of this end's noise.
    denoising
        img2img strength at this end, 0-1 (Riffusion's app offers 0.75-0.95).
    guidance
        Classifier-free guidance scale at this end; None: the model's default.
    negative_prompt
        What to steer away from at this end (Riffusion's riffuse always uses the empty prompt).
    """

    prompt: str
    seed: int
    denoising: float = DEFAULT_STRENGTH
    guidance: float | None = None
    negative_prompt: str | None = None

    def __post_init__(self) -> None:
        from .pipeline import check_guidance, check_seed

        if not isinstance(self.prompt, str):
            raise prompts.PromptError(f"a prompt must be a string, got {type(self.prompt).__name__}")
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "denoising", check_strength(self.denoising))
        if self.guidance is not None:
            object.__setattr__(self, "guidance", check_guidance(self.guidance))
        if self.negative_prompt is not None and not isinstance(self.negative_prompt, str):
            raise prompts.PromptError(f"negative_prompt must be a string or None, got {type(self.negative_prompt).__name__}")

    def as_dict(self) -> dict[str, T.Any]:
        return dataclasses.asdict(self)


def check_strength(strength: T.Any) -> float:
    """``strength`` as a float in [0, 1], or a one-line error."""
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0 <= float(strength) <= 1:
        raise RiffnbError(
            f"strength (denoising) must be a number from 0 (keep the source) to 1 (ignore it), got {strength!r}"
        )
    return float(strength)


def check_alpha(alpha: T.Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= float(alpha) <= 1:
        raise RiffnbError(f"alpha must be a number from 0 (start) to 1 (end), got {alpha!r}")
    return float(alpha)


# ---------------------------------------------------------------------------------------------------------------
# Interpolation arithmetic


def lerp(alpha: float, start, end):
    """``(1 - alpha) * start + alpha * end``: exactly ``start`` at 0 and exactly ``end`` at 1."""
    return (1 - alpha) * start + alpha * end


def slerp(alpha: float, v0: "torch.Tensor", v1: "torch.Tensor", dot_threshold: float = DOT_THRESHOLD) -> "torch.Tensor":
    """Spherical interpolation between two tensors (treated as one vector each), as Riffusion interpolates noise.

    Along the great circle between ``v0`` and ``v1``, at the fraction ``alpha`` of the angle between them: two
    independent Gaussian noises keep the norm of a Gaussian noise all the way (a linear blend at 0.5 would be
    ~0.71 times too quiet, and the model would see too little noise). When the vectors are nearly parallel
    (cosine above ``dot_threshold``) the formula is unstable and linear interpolation is used instead. Computed in
    float64, returned in ``v0``'s dtype.

    Examples
    --------
    >>> import torch
    >>> a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    >>> slerp(0.5, a, b)
    tensor([0.7071, 0.7071])
    >>> slerp(0.5, a, 2 * a)
    tensor([1.5000, 0.0000])
    """
    import torch

    alpha = float(alpha)
    x0, x1 = v0.double(), v1.double()
    dot = float(torch.sum(x0 * x1) / (torch.linalg.vector_norm(x0) * torch.linalg.vector_norm(x1)))
    if abs(dot) > dot_threshold:
        result = lerp(alpha, x0, x1)
    else:
        theta = np.arccos(dot)
        sin_theta = np.sin(theta)
        result = (np.sin(theta * (1 - alpha)) / sin_theta) * x0 + (np.sin(theta * alpha) / sin_theta) * x1
    return result.to(v0.dtype)


# ---------------------------------------------------------------------------------------------------------------
# The img2img loop, unrolled


def img2img_timesteps(scheduler, num_steps: int, strength: float) -> "torch.Tensor":
    """The timesteps an img2img run of ``strength`` visits, from a scheduler set for ``num_steps`` steps.

    The last ``int(num_steps * strength)`` steps of the schedule (counted in scheduler steps, so that PNDM's extra
    timestep and second-order schedulers' repeated ones come along); none for strength 0. Sets the scheduler's
    begin index where it keeps one.

    Examples
    --------
    >>> from diffusers import DDIMScheduler
    >>> scheduler = DDIMScheduler(steps_offset=1)
    >>> scheduler.set_timesteps(10)
    >>> img2img_timesteps(scheduler, 10, 0.75).tolist()
    [601, 501, 401, 301, 201, 101, 1]
    """
    run = min(int(num_steps * strength), num_steps)
    begin = (num_steps - run) * scheduler.order
    if run == 0:
        return scheduler.timesteps[len(scheduler.timesteps):]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    return scheduler.timesteps[begin:]


def encode_image(pipe: "RiffusionPipeline", image: "Image.Image") -> "torch.Tensor":
    """Latents of a spectrogram image: the VAE posterior's mean times the VAE's scaling factor (0.18215 for SD)."""
    import torch

    pixels = pipe.pipeline.image_processor.preprocess(image.convert("RGB"), height=image.height, width=image.width)
    vae = pipe.pipeline.vae
    with torch.no_grad():
        posterior = vae.encode(pixels.to(device=pipe.device, dtype=vae.dtype)).latent_dist
    return posterior.mean * vae.config.scaling_factor


def latent_mask(pipe: "RiffusionPipeline", mask: "Image.Image", latents: "torch.Tensor") -> "torch.Tensor":
    """Riffusion's mask preprocessing: luminance, nearest-neighbour shrink to the latents' size, 4 channels, inverted.

    The result is 1 where the original is kept (black in the mask) and 0 where it is repainted (white).
    """
    import torch
    from PIL import Image

    height, width = latents.shape[-2:]
    small = mask.convert("L").resize((width, height), resample=Image.Resampling.NEAREST)
    values = np.asarray(small, dtype=np.float32) / 255.0
    values = np.tile(values, (latents.shape[1], 1, 1))[None]
    return torch.from_numpy(1.0 - values).to(device=latents.device, dtype=latents.dtype)


def img2img_latents(
    pipe: "RiffusionPipeline",
    embeddings: PromptEmbeddings,
    init_latents: "torch.Tensor",
    noise: "torch.Tensor",
    *,
    sampler,
    num_steps: int,
    strength: float,
    guidance: float,
    mask: "torch.Tensor | None" = None,
    generator: "torch.Generator | None" = None,
    callback: T.Callable | None = None,
) -> "torch.Tensor":
    """Riffusion's img2img loop: noise the source latents to where the schedule starts, then denoise them.

    ``sampler`` is a fresh scheduler set for ``num_steps`` steps (:func:`riffnb.diffusion.steps.make_scheduler`).
    ``mask`` is a :func:`latent_mask` (1 = keep). ``callback(step_index, timestep, latents)`` runs after each step.
    With strength 0 no step runs and the source latents come back untouched.
    """
    timesteps = img2img_timesteps(sampler, num_steps, strength)
    if len(timesteps) == 0:
        return init_latents
    latents = sampler.add_noise(init_latents, noise, timesteps[:1])
    for index, timestep in enumerate(timesteps):
        latents = denoise_step(pipe, sampler, latents, timestep, embeddings, guidance, generator)
        if mask is not None:
            # Riffusion passes the step just taken (t, not the next one); schedulers that count steps themselves
            # (DPM-Solver++, Euler) ignore it and use the level the step has reached.
            original = sampler.add_noise(init_latents, noise, timestep.reshape(1))
            latents = original * mask + latents * (1 - mask)
        if callback is not None:
            callback(index, timestep.item(), latents.clone())
    return latents


# ---------------------------------------------------------------------------------------------------------------
# Riffing


def riffuse(
    pipe: "RiffusionPipeline",
    start: PromptInput,
    end: PromptInput,
    alpha: float,
    source: Source,
    *,
    mask: "Image.Image | str | os.PathLike | None" = None,
    steps: int | None = None,
    scheduler: str | None = None,
    callback: T.Callable | None = None,
    normalize: bool = True,
    mode: str = "riffuse",
) -> "Clip":
    """One clip of Riffusion's interpolation: riff ``source`` at ``alpha`` between ``start`` and ``end``.

    Everything of Riffusion's ``riffuse`` (see the module docstring): at ``alpha = 0`` it is a riff of ``start``, at
    ``alpha = 1`` a riff of ``end``. ``source`` is anything :func:`~riffnb.diffusion.seeds.resolve_source` takes
    (an image, an image or audio file, ``(samples, sample_rate)``, a Clip, or a seed image name); ``mask`` anything
    :func:`~riffnb.diffusion.seeds.resolve_mask` takes. ``steps``, ``scheduler`` and the ends' ``guidance`` default
    to the pipeline's (:attr:`~riffnb.diffusion.pipeline.RiffusionPipeline.defaults`).

    With ``normalize=False`` the clip's audio keeps the level of the source (when the source came from audio)
    instead of Riffusion's output levelling; audio-to-audio uses that to normalise the whole song once.
    """
    from ..params import ExifTags, max_value_from_image
    from ..spectrogram import audio_from_image
    from .clip import Clip
    from .loading import memory_errors
    from .pipeline import GenerationError

    alpha = check_alpha(alpha)
    if not isinstance(start, PromptInput) or not isinstance(end, PromptInput):
        raise RiffnbError("start and end must be PromptInput(prompt, seed, ...) objects")
    defaults = pipe.defaults
    num_steps = pipe.check_steps(defaults.steps if steps is None else steps)
    scheduler = defaults.scheduler if scheduler is None else scheduler
    if callback is not None and not callable(callback):
        raise GenerationError(f"callback must be callable as callback(step, timestep, latents), got {callback!r}")
    image, source_name = resolve_source(
        source, pipe.params, multiple=pipe.pipeline.vae_scale_factor, width=defaults.width
    )
    mask_image, mask_name = resolve_mask(mask)
    start, end = (e if e.guidance is not None else dataclasses.replace(e, guidance=defaults.guidance) for e in (start, end))
    guidance = lerp(alpha, start.guidance, end.guidance)
    strength = lerp(alpha, start.denoising, end.denoising)

    with memory_errors(f"riffing a clip {image.width} pixels wide", pipe.device):
        texts = [start.prompt, end.prompt, start.negative_prompt or "", end.negative_prompt or ""]
        unique = list(dict.fromkeys(texts))
        encoded = dict(zip(unique, prompts.encode_weighted(pipe.pipeline.tokenizer, pipe.pipeline.text_encoder, unique)))
        embeddings = PromptEmbeddings(
            cond=lerp(alpha, encoded[texts[0]], encoded[texts[1]]),
            uncond=lerp(alpha, encoded[texts[2]], encoded[texts[3]]),
        )
        init_latents = encode_image(pipe, image)
        generator = make_generator(start.seed)
        noise_start = initial_noise(pipe, image.width, generator)
        noise_end = initial_noise(pipe, image.width, make_generator(end.seed))
        noise = slerp(alpha, noise_start, noise_end)
        sampler = make_scheduler(pipe, scheduler, num_steps)
        latents = img2img_latents(
            pipe,
            embeddings,
            init_latents,
            noise,
            sampler=sampler,
            num_steps=num_steps,
            strength=strength,
            guidance=guidance,
            mask=latent_mask(pipe, mask_image, init_latents) if mask_image is not None else None,
            generator=generator,
            callback=callback,
        )
        result = decode(pipe, latents)[0]
    if normalize:
        samples, sample_rate = pipe.image_to_audio(result)
    else:
        source_max = max_value_from_image(image)
        if source_max is not None:
            tag_image(result, {ExifTags.MAX_VALUE: source_max})
        samples, sample_rate = audio_from_image(result, pipe.params, normalize=False)

    extra: dict[str, T.Any] = {"strength": strength, "source": source_name, "mask": mask_name}
    if mode != "riff":
        extra.update(alpha=alpha, start=start.as_dict(), end=end.as_dict())
    # A clip is filed under the end it is made of; in between, under the start (``extra`` holds both).
    nearest = end if alpha == 1 else start
    return Clip(
        image=result,
        samples=samples,
        sample_rate=sample_rate,
        seed=nearest.seed,
        prompt=nearest.prompt,
        negative_prompt=nearest.negative_prompt,
        steps=num_steps,
        guidance=guidance,
        width=image.width,
        scheduler=schedulers.scheduler_name(sampler),
        model=pipe.model,
        params=pipe.params,
        mode=mode,
        extra=extra,
        latents=latents.detach().cpu(),
    )


def riff(
    pipe: "RiffusionPipeline",
    source: Source,
    prompt: str,
    *,
    strength: float = DEFAULT_STRENGTH,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    negative_prompt: str | None = None,
    mask: "Image.Image | str | os.PathLike | None" = None,
    scheduler: str | None = None,
    callback: T.Callable | None = None,
) -> "Clip":
    """Riff on ``source`` with ``prompt``: Riffusion's img2img (see the module docstring).

    Parameters
    ----------
    source
        A spectrogram image, the path of an image or of any audio file (turned into an image with the model's
        parameters), ``(samples, sample_rate)``, a Clip, or a seed image name (:func:`~riffnb.diffusion.seeds.seed_image`).
        Its height must be the model's; its width is rounded to a multiple of 8 pixels.
    prompt
        What to turn it into.
    strength
        0 keeps the source, 1 ignores it; Riffusion uses 0.75 (0.4-0.55 for light changes to a song).
    seed
        Seed of the noise; None draws one and records it on the clip.
    mask
        An image (or path, or Riffusion mask name): white areas are repainted, black areas kept.

    Examples
    --------
    >>> clip = pipe.riff("song.wav", "jazz piano", strength=0.5, seed=1)       # doctest: +SKIP
    """
    from .pipeline import check_seed, random_seed

    seed = random_seed() if seed is None else check_seed(seed)
    ends = PromptInput(prompt, seed, denoising=strength, guidance=guidance, negative_prompt=negative_prompt)
    return riffuse(
        pipe, ends, ends, 0.0, source, mask=mask, steps=steps, scheduler=scheduler, callback=callback, mode="riff"
    )


# ---------------------------------------------------------------------------------------------------------------
# Audio to audio: a whole song, a window at a time

#: Riffusion's audio-to-audio page: 5 s windows overlapping by 0.2 s, denoising 0.55 ("0.4 for light
#: modification, 0.55 for heavier").
AUDIO_TO_AUDIO_WINDOW_S = 5.0
AUDIO_TO_AUDIO_OVERLAP_S = 0.2
AUDIO_TO_AUDIO_STRENGTH = 0.55


def check_windows(
    window_s: T.Any,
    overlap_s: T.Any,
    params: "SpectrogramParams",
    names: tuple[str, str] = ("window_s", "overlap_s"),
    duration_s: float | None = None,
) -> tuple[float, float]:
    """The window and overlap audio-to-audio cuts ``duration_s`` seconds of audio into, from ``window_s`` seconds
    overlapping by ``overlap_s``; raise unless a window holds one STFT frame at ``params`` (as
    :func:`riffnb.spectrogram.prepare_audio` requires of any audio) and the overlap is shorter than a window.
    ``names`` name the two settings in the message (the command line's flags there).

    A window longer than the audio becomes the audio's length, with no overlap: a song shorter than a window is
    riffed whole, as one image as wide as the song, instead of padded with silence to the window's width (which,
    for a window far longer than the song, would not fit in memory).

    Examples
    --------
    >>> from riffnb.params import SpectrogramParams
    >>> check_windows(5.0, 0.2, SpectrogramParams(), duration_s=3.0)
    (3.0, 0.0)
    >>> check_windows(0.01, 0.0, SpectrogramParams(), names=("--window-s", "--overlap-s"))
    Traceback (most recent call last):
    ...
    riffnb.errors.RiffnbError: --window-s must be at least 0.200 s at this model's spectrogram parameters (one STFT frame), got 0.01; Riffusion uses 5 s
    """
    from ..spectrogram import shortest_audio

    window_name, overlap_name = names
    shortest = shortest_audio(params) / params.sample_rate
    for name, value in ((window_name, window_s), (overlap_name, overlap_s)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not abs(value) < np.inf:
            raise RiffnbError(f"{name} must be a number of seconds, got {value!r}")
    if window_s < shortest:
        raise RiffnbError(
            f"{window_name} must be at least {shortest:.3f} s at this model's spectrogram parameters (one STFT frame), "
            f"got {window_s:g}; Riffusion uses {AUDIO_TO_AUDIO_WINDOW_S:g} s"
        )
    if not 0 <= overlap_s < window_s:
        raise RiffnbError(
            f"{overlap_name} must be 0 or more and less than {window_name} ({window_s:g} s), got {overlap_s:g}"
        )
    if duration_s is not None and window_s >= duration_s:
        return float(duration_s), 0.0
    return float(window_s), float(overlap_s)


@dataclasses.dataclass
class RiffedAudio:
    """A song riffed window by window: the joined ``samples`` ``(channels, n)``, their ``sample_rate`` and the
    ``clips`` of each window (their audio at the source's level, before the joined result was normalised)."""

    samples: np.ndarray
    sample_rate: int
    clips: list

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sample_rate

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write the joined audio to ``path`` (WAV, FLAC, OGG or MP3)."""
        from ..audio import save_audio

        save_audio(path, self.samples, self.sample_rate, overwrite=overwrite)


def riff_audio(
    pipe: "RiffusionPipeline",
    audio: "str | os.PathLike | tuple[np.ndarray, int]",
    prompt: str,
    *,
    strength: float = AUDIO_TO_AUDIO_STRENGTH,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    negative_prompt: str | None = None,
    end: PromptInput | None = None,
    mask: "Image.Image | str | os.PathLike | None" = None,
    scheduler: str | None = None,
    window_s: float = AUDIO_TO_AUDIO_WINDOW_S,
    overlap_s: float = AUDIO_TO_AUDIO_OVERLAP_S,
    callback: T.Callable[[int, int, "Clip"], T.Any] | None = None,
) -> RiffedAudio:
    """Riff a whole song, as Riffusion's audio-to-audio page does: cut it into ``window_s`` windows overlapping by
    ``overlap_s``, riff each (same prompt and seed), and crossfade the results back together. A song shorter than
    a window is riffed whole (:func:`check_windows`).

    The result is exactly as long as the input (at the model's sample rate). Each window's riff keeps the level of
    its source window, and the joined song is levelled once at the end, so loud and quiet passages stay so.

    Parameters
    ----------
    audio
        An audio file or ``(samples, sample_rate)``; resampled and mixed to the model's parameters.
    prompt, strength, seed, guidance, negative_prompt
        As for :func:`riff`; Riffusion's page uses strength 0.55 (0.4 for a lighter touch).
    end
        Interpolate along the song: the first window is riffed with ``prompt`` (and ``seed``, ``strength``,
        ``guidance``), the last with ``end``, the ones between at evenly spaced alphas.
    callback
        Called as ``callback(index, num_windows, clip)`` as each window is done.

    Examples
    --------
    >>> riffed = pipe.riff_audio("song.mp3", "jazz piano", seed=1)       # doctest: +SKIP
    >>> riffed.save("song-jazz.wav")                                     # doctest: +SKIP
    """
    from ..audio import load_audio, normalize_audio
    from ..clips import map_clips, split_clips
    from ..spectrogram import prepare_audio
    from .pipeline import check_seed, random_seed

    check_windows(window_s, overlap_s, pipe.params)  # before a long song is read
    if isinstance(audio, (str, os.PathLike)):
        audio = load_audio(audio)
    if not (isinstance(audio, tuple) and len(audio) == 2):
        raise RiffnbError("pass the audio as a file path or (samples, sample_rate), e.g. riffnb.load_audio(path)")
    samples, sample_rate = prepare_audio(audio[0], int(audio[1]), pipe.params), pipe.params.sample_rate
    window_s, overlap_s = check_windows(window_s, overlap_s, pipe.params, duration_s=samples.shape[-1] / sample_rate)
    seed = random_seed() if seed is None else check_seed(seed)
    start = PromptInput(prompt, seed, denoising=strength, guidance=guidance, negative_prompt=negative_prompt)
    end = end if end is not None else start
    windows = split_clips(samples, sample_rate, window_s, overlap_s)
    count = len(windows)
    alphas = np.linspace(0.0, 1.0, count) if count > 1 else np.zeros(1)
    clips: list = []

    def riff_window(window: np.ndarray) -> np.ndarray:
        alpha = float(alphas[len(clips)])
        clip = riffuse(
            pipe, start, end, alpha, (window, sample_rate), mask=mask, steps=steps, scheduler=scheduler,
            normalize=False, mode="riff_audio",
        )
        clip.extra.update(window=len(clips), window_start_s=windows[len(clips)].start / sample_rate)
        clips.append(clip)
        if callback is not None:
            callback(len(clips) - 1, count, clip)
        return clip.samples

    joined = map_clips(riff_window, samples, sample_rate, duration_s=window_s, overlap_s=overlap_s)
    return RiffedAudio(normalize_audio(joined), sample_rate, clips)
