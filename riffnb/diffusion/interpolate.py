"""Interpolation between two prompts and seeds: a row of clips that morphs from one into the other.

Riffusion's interpolation page (and its server's ``riffuse``) riffs one seed image at evenly spaced ``alpha`` from 0
to 1 between a start and an end :class:`PromptInput`: text embeddings, guidance and denoising strength move in
straight lines, the initial noise along the great circle between the two seeds' noises (:func:`slerp`). The first
clip is a riff of the start prompt with the start seed, the last one of the end prompt with the end seed.
"""

from __future__ import annotations

import os
import typing as T

import numpy as np

from ..errors import RiffnbError
from .riff import PromptInput, Source, lerp, riffuse, slerp
from .seeds import DEFAULT_SEED_IMAGE

if T.TYPE_CHECKING:
    from PIL import Image

    from .clip import Clip
    from .pipeline import RiffusionPipeline

__all__ = ["DEFAULT_CROSSFADE_S", "PromptInput", "interpolate", "interpolation_alphas", "lerp", "slerp", "stitch_clips"]

#: Crossfade between consecutive clips riffed from one seed image, in seconds. Short, because such clips already
#: line up on the seed's beat: every second of overlap moves the next clip that much earlier on the beat grid.
DEFAULT_CROSSFADE_S = 0.03


def interpolation_alphas(num_clips: int) -> list[float]:
    """``num_clips`` alphas evenly spaced from 0 to 1 inclusive (one clip: just the start).

    Examples
    --------
    >>> interpolation_alphas(5)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if isinstance(num_clips, bool) or not isinstance(num_clips, (int, np.integer)) or num_clips < 1:
        raise RiffnbError(f"num_clips must be a whole number >= 1, got {num_clips!r}")
    return [float(alpha) for alpha in np.linspace(0.0, 1.0, int(num_clips))] if num_clips > 1 else [0.0]


def interpolate(
    pipe: "RiffusionPipeline",
    start: PromptInput,
    end: PromptInput,
    *,
    num_clips: int = 5,
    source: Source = DEFAULT_SEED_IMAGE,
    mask: "Image.Image | str | os.PathLike | None" = None,
    steps: int | None = None,
    scheduler: str | None = None,
    callback: T.Callable[[int, int, "Clip"], T.Any] | None = None,
) -> list["Clip"]:
    """Clips morphing from ``start`` to ``end``, riffed from one seed image at evenly spaced alphas.

    Parameters
    ----------
    start, end
        Prompt, seed, and the denoising strength and guidance at each end.
    num_clips
        How many clips, the first at alpha 0 and the last at alpha 1.
    source
        The seed image (anything :func:`~riffnb.diffusion.seeds.resolve_source` takes): riffnb's ``"beat"`` by
        default, ``"og_beat"`` for Riffusion's (downloaded), an image, or audio.
    callback
        Called as ``callback(index, num_clips, clip)`` as each clip is done.

    Examples
    --------
    >>> clips = pipe.interpolate(PromptInput("jazz piano", 1), PromptInput("church bells", 2), num_clips=4)  # doctest: +SKIP
    >>> samples = stitch_clips(clips)                                                                        # doctest: +SKIP
    """
    from .seeds import resolve_source

    alphas = interpolation_alphas(num_clips)
    # Resolve once: a downloaded or synthesized seed image is then made one time for all the clips.
    image, name = resolve_source(
        source, pipe.params, multiple=pipe.pipeline.vae_scale_factor, width=pipe.defaults.width
    )
    clips = []
    for index, alpha in enumerate(alphas):
        clip = riffuse(pipe, start, end, alpha, image, mask=mask, steps=steps, scheduler=scheduler, mode="interpolate")
        clip.extra["source"] = name
        clips.append(clip)
        if callback is not None:
            callback(index, len(alphas), clip)
    return clips


def stitch_clips(clips: T.Sequence["Clip"], crossfade_s: float = DEFAULT_CROSSFADE_S) -> np.ndarray:
    """The clips' audio joined end to end with :func:`riffnb.clips.crossfade_concatenate` (equal-power fades).

    All clips must share a sample rate (the pipeline's).
    """
    from ..clips import crossfade_concatenate

    if not clips:
        raise RiffnbError("no clips to stitch")
    rates = {clip.sample_rate for clip in clips}
    if len(rates) > 1:
        raise RiffnbError(f"clips have different sample rates {sorted(rates)}; resample them to one first")
    return crossfade_concatenate([clip.samples for clip in clips], clips[0].sample_rate, crossfade_s)
