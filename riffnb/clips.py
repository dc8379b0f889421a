"""Long audio: cut it into image-sized clips, and stitch clips back together with crossfades.

Riffusion's model draws 512-column images: 5.12 s of audio at the default parameters (100 columns per second).
Longer audio is handled a clip at a time, as Riffusion does: its ``sample-clips`` command draws clips at random
starts for training data, and its audio-to-audio page cuts consecutive 5 s slices with 0.2 s of overlap, transforms
each, and crossfades the results. Pure numpy; samples are ``(channels, n)`` (a 1-D array is mono).
"""

from __future__ import annotations

import typing as T

import numpy as np

from .audio import as_channels, check_sample_rate, mix_to_channels
from .errors import InvalidAudioError

#: Seconds in one 512-column image at Riffusion's default parameters (512 hops of 10 ms).
DEFAULT_CLIP_S = 5.12

#: Riffusion's audio-to-audio overlap between consecutive slices.
DEFAULT_OVERLAP_S = 0.2

CROSSFADE_CURVES = ("equal_power", "linear")


class AudioClip(T.NamedTuple):
    """A clip of longer audio: where it starts in the source (in samples) and its samples ``(channels, n)``."""

    start: int
    samples: np.ndarray


def num_samples(seconds: float, sample_rate: int) -> int:
    """``seconds`` as a whole number of samples (rounded, so 5.12 s at 44100 Hz is exactly 225792)."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds} s")
    return int(round(seconds * sample_rate))


def sample_clips(
    samples: np.ndarray,
    sample_rate: int,
    num_clips: int = 1,
    duration_s: float = DEFAULT_CLIP_S,
    seed: int | None = None,
) -> list[AudioClip]:
    """``num_clips`` clips of ``duration_s`` at uniformly random starts, like Riffusion's ``sample_clips``.

    Clips may overlap one another. The same ``seed`` gives the same clips; None draws fresh ones.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=44100 * 20)
    >>> clips = sample_clips(x, 44100, num_clips=3, seed=42)
    >>> [clip.samples.shape for clip in clips]
    [(1, 225792), (1, 225792), (1, 225792)]
    >>> [clip.start for clip in clips] == [clip.start for clip in sample_clips(x, 44100, num_clips=3, seed=42)]
    True
    """
    samples = as_channels(samples)
    length = _clip_length(duration_s, sample_rate)
    total = samples.shape[-1]
    if total < length:
        raise InvalidAudioError(
            f"audio is {total / sample_rate:.2f} s long, shorter than one {duration_s:g} s clip; "
            "use a shorter clip duration"
        )
    if num_clips < 1:
        raise ValueError(f"num_clips must be at least 1, got {num_clips}")
    starts = np.random.default_rng(seed).integers(0, total - length + 1, size=num_clips)
    return [AudioClip(int(start), samples[:, start : start + length]) for start in starts]


def split_clips(
    samples: np.ndarray,
    sample_rate: int,
    duration_s: float = DEFAULT_CLIP_S,
    overlap_s: float = 0.0,
    pad: bool = True,
) -> list[AudioClip]:
    """Consecutive clips of ``duration_s`` covering all of ``samples``, each overlapping the previous by
    ``overlap_s``.

    With ``pad`` the last clip is zero-padded to full length (every clip then makes an image of the same width);
    without, it is shorter but still longer than the overlap. Audio shorter than one clip gives one clip.

    Examples
    --------
    >>> clips = split_clips(np.ones(10), 1, duration_s=4, overlap_s=1)
    >>> [(clip.start, clip.samples.shape[-1]) for clip in clips]
    [(0, 4), (3, 4), (6, 4)]
    >>> clips[-1].samples.tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    >>> [clip.start for clip in split_clips(np.ones(11), 1, duration_s=4, overlap_s=1)]
    [0, 3, 6, 9]
    """
    samples = as_channels(samples)
    length = _clip_length(duration_s, sample_rate)
    overlap = num_samples(overlap_s, sample_rate)
    if overlap >= length:
        raise ValueError(f"overlap ({overlap_s:g} s) must be shorter than a clip ({duration_s:g} s)")
    total = samples.shape[-1]
    clips = []
    # Each further clip must bring audio the previous one did not cover.
    for start in range(0, max(total - overlap, 1), length - overlap):
        clip = samples[:, start : start + length]
        if pad and clip.shape[-1] < length:
            clip = np.pad(clip, ((0, 0), (0, length - clip.shape[-1])))
        clips.append(AudioClip(start, clip))
    return clips


def crossfade_concatenate(
    clips: T.Sequence[np.ndarray | AudioClip],
    sample_rate: int,
    crossfade_s: float = DEFAULT_OVERLAP_S,
    curve: str = "equal_power",
) -> np.ndarray:
    """Join clips end to end, each overlapping the previous by ``crossfade_s``, fading one out as the next fades in.

    ``curve="equal_power"`` (sine/cosine fades, gains whose squares sum to 1) keeps the loudness steady when the
    two clips are unrelated in phase, as phase-reconstructed or generated clips are; ``"linear"`` (gains sum to 1)
    is exact when the two clips hold the same audio in the overlap, as :func:`split_clips` output does. The result
    has ``sum(lengths) - (len(clips) - 1) * crossfade`` samples; mono clips join stereo ones by duplication.

    Examples
    --------
    >>> joined = crossfade_concatenate([np.ones(4), np.ones(4)], 1, crossfade_s=2, curve="linear")
    >>> joined.tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    if curve not in CROSSFADE_CURVES:
        raise ValueError(f"curve must be one of {CROSSFADE_CURVES}, got {curve!r}")
    if isinstance(clips, np.ndarray):
        raise InvalidAudioError(
            f"crossfade_concatenate takes a list of clips, got one array of shape {clips.shape}; "
            "wrap it in a list, or pass [clip_1, clip_2, ...]"
        )
    arrays = [as_channels(clip.samples if isinstance(clip, AudioClip) else clip) for clip in clips]
    if not arrays:
        raise InvalidAudioError("no clips to join")
    channels = max(array.shape[0] for array in arrays)
    arrays = [mix_to_channels(array, channels) for array in arrays]
    fade = num_samples(crossfade_s, sample_rate)
    for index, array in enumerate(arrays):
        needed = fade * ((index > 0) + (index < len(arrays) - 1))
        if array.shape[-1] < needed:
            raise InvalidAudioError(
                f"clip {index} has {array.shape[-1]} samples, too short for {crossfade_s:g} s crossfades "
                f"({needed} samples); use a shorter crossfade"
            )
    fade_in, fade_out = _fades(fade, curve)
    total = sum(array.shape[-1] for array in arrays) - (len(arrays) - 1) * fade
    joined = np.zeros((channels, total))
    position = 0
    for index, array in enumerate(arrays):
        array = array.copy()
        if index > 0 and fade:
            array[:, :fade] *= fade_in
        if index < len(arrays) - 1 and fade:
            array[:, array.shape[-1] - fade :] *= fade_out
        joined[:, position : position + array.shape[-1]] += array
        position += array.shape[-1] - fade
    return joined


def map_clips(
    function: T.Callable[[np.ndarray], np.ndarray],
    samples: np.ndarray,
    sample_rate: int,
    duration_s: float = DEFAULT_CLIP_S,
    overlap_s: float = DEFAULT_OVERLAP_S,
    curve: str = "equal_power",
) -> np.ndarray:
    """Apply ``function`` to consecutive clips of long audio and crossfade the results into one signal.

    The audio is cut with :func:`split_clips` (the last clip zero-padded), ``function`` maps each clip
    ``(channels, clip_samples)`` to audio at the same sample rate, each result is trimmed or zero-padded to the
    clip's length so that the clips stay on the source's timeline, and :func:`crossfade_concatenate` joins them
    over the overlaps. The result is as long as the input. Normalise the joined result once, not each clip, so
    that the clips keep their relative levels.

    Examples
    --------
    A round trip through spectrogram images, a clip at a time (``normalize=False`` keeps clip levels)::

        from riffnb.spectrogram import audio_from_image, image_from_audio
        out = map_clips(lambda clip: audio_from_image(image_from_audio(clip, sr), normalize=False)[0], x, sr)

    >>> x = np.random.default_rng(0).normal(size=(2, 30000))
    >>> y = map_clips(lambda clip: 0.5 * clip, x, 10000, duration_s=1.0, overlap_s=0.1, curve="linear")
    >>> y.shape, bool(np.allclose(y, 0.5 * x))
    ((2, 30000), True)
    """
    samples = as_channels(samples)
    clips = split_clips(samples, sample_rate, duration_s, overlap_s, pad=True)
    length = clips[0].samples.shape[-1]
    results = []
    for clip in clips:
        output = function(clip.samples)
        if not isinstance(output, np.ndarray):
            raise InvalidAudioError(
                f"the function given to map_clips must return audio as an array, got {type(output).__name__}; "
                "for a (samples, sample_rate) pair such as audio_from_image's, return its [0]"
            )
        result = as_channels(output)[:, :length]
        results.append(np.pad(result, ((0, 0), (0, length - result.shape[-1]))))
    return crossfade_concatenate(results, sample_rate, overlap_s, curve)[:, : samples.shape[-1]]


def _clip_length(duration_s: float, sample_rate: int) -> int:
    length = num_samples(duration_s, check_sample_rate(sample_rate))
    if length < 1:
        raise ValueError(f"clip duration must be positive, got {duration_s} s")
    return length


def _fades(length: int, curve: str) -> tuple[np.ndarray, np.ndarray]:
    """Fade-in and fade-out gains over ``length`` samples, sampled at mid-points so the pair is symmetric."""
    position = (np.arange(length) + 0.5) / max(length, 1)
    if curve == "linear":
        return position, 1.0 - position
    return np.sin(0.5 * np.pi * position), np.cos(0.5 * np.pi * position)
