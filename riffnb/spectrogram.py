"""Audio <-> mel spectrogram <-> image: the chain Riffusion runs, one public function per direction.

Forward (what Riffusion's torchaudio chain computes, to float rounding): resample and mix to the parameters,
centred reflect-padded STFT with a periodic Hann window, magnitude, HTK mel filterbank. Like Riffusion, which reads
audio through pydub, samples are scaled to int16 range first, so the EXIF ``MAX_VALUE`` of an image made here is
comparable with Riffusion's (~1e7-5e7 for music).

Backward: decode the image, invert the mel scale (:func:`riffnb.mel.linear_from_mel`), rebuild the phase
(:func:`riffnb.phase.reconstruct_audio`), undo the int16 scaling, optionally normalise like Riffusion.
"""

from __future__ import annotations

import os
import typing as T

import numpy as np

from .audio import as_channels, mix_to_channels, normalize_audio, resample
from .errors import InvalidAudioError
from .image import (
    DEFAULT_MAX_VALUE,
    check_spectrogram_image,
    image_from_spectrogram,
    load_image,
    spectrogram_from_image,
    tag_image,
)
from .mel import linear_from_mel, mel_filterbank, mel_from_linear
from .params import SpectrogramParams, max_value_from_image, params_from_image
from .phase import reconstruct_audio
from .stft import stft

if T.TYPE_CHECKING:
    from PIL import Image

#: Riffusion reads audio as int16 sample values; float samples in [-1, 1] are scaled by this to match.
INT16_SCALE = 32768.0


def filterbank_for(params: SpectrogramParams) -> np.ndarray:
    """The (cached) mel filterbank ``(num_frequencies, n_fft // 2 + 1)`` that ``params`` describe."""
    return mel_filterbank(
        params.sample_rate,
        params.n_fft,
        params.num_frequencies,
        params.min_frequency,
        params.max_frequency,
        params.mel_scale_norm,
        params.mel_scale_type,
    )


def shortest_audio(params: SpectrogramParams) -> int:
    """Samples the centred STFT needs at least at ``params``: more than its reflect padding of ``n_fft // 2``."""
    return params.n_fft // 2 + 1


def narrowest_image(params: SpectrogramParams) -> int:
    """Columns an image needs at least to decode at ``params``: ``W`` columns are ``W - 1`` hops of audio, which
    must reach :func:`shortest_audio` (22 columns at Riffusion's parameters, 7 at tiny's)."""
    return -(-shortest_audio(params) // params.hop_length) + 1


def prepare_audio(samples: np.ndarray, sample_rate: int, params: SpectrogramParams) -> np.ndarray:
    """Check ``samples``, resample them to ``params.sample_rate`` and mix them to the parameters' channels."""
    samples = as_channels(samples)
    samples = resample(samples, sample_rate, params.sample_rate)
    samples = mix_to_channels(samples, params.num_channels)
    shortest = shortest_audio(params)
    if samples.shape[-1] < shortest:
        raise InvalidAudioError(
            f"audio is {samples.shape[-1] / params.sample_rate:.3f} s long; the STFT needs at least "
            f"{shortest / params.sample_rate:.3f} s at these parameters (pad it or use longer audio)"
        )
    return samples


def spectrogram_from_audio(
    samples: np.ndarray, sample_rate: int, params: SpectrogramParams | None = None
) -> np.ndarray:
    """Mel magnitude spectrogram ``(channels, num_frequencies, frames)`` (float32) of audio in [-1, 1].

    ``frames = 1 + n // hop_length`` at ``params.sample_rate``: 5.12 s gives 513 frames at the defaults.

    Examples
    --------
    >>> t = np.arange(44100) / 44100
    >>> S = spectrogram_from_audio(0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    >>> S.shape, S.dtype
    ((1, 512, 101), dtype('float32'))
    """
    params = params or SpectrogramParams()
    samples = prepare_audio(samples, sample_rate, params)
    magnitude = np.abs(stft(samples * INT16_SCALE, params.n_fft, params.hop_length, params.win_length))
    return mel_from_linear(magnitude, filterbank_for(params)).astype(np.float32)


def audio_from_spectrogram(
    spectrogram: np.ndarray,
    params: SpectrogramParams | None = None,
    *,
    normalize: bool = True,
    mel_n_iter: int = 0,
    **phase_options: T.Any,
) -> np.ndarray:
    """Audio ``(channels, n)`` from a mel magnitude spectrogram ``(channels, num_frequencies, frames)``.

    The mel scale is inverted with :func:`riffnb.mel.linear_from_mel` (``mel_n_iter`` non-negative refinement
    steps) and the phase rebuilt by :func:`riffnb.phase.reconstruct_audio`, which takes ``phase_options``
    (``algorithm``, ``init``, ``n_iter``, ``momentum``, ``seed``, ``callback``, ``backend``, ...); ``n_iter``
    defaults to ``params.num_griffin_lim_iters`` when that is set. With ``normalize`` the result is levelled like
    Riffusion's output (-12 dBFS, then peak-normalised).
    """
    params = params or SpectrogramParams()
    spectrogram = np.asarray(spectrogram)
    if spectrogram.ndim != 3 or spectrogram.shape[1] != params.num_frequencies:
        raise ValueError(
            f"spectrogram must be (channels, {params.num_frequencies}, frames) for these parameters, "
            f"got shape {spectrogram.shape}"
        )
    if params.num_griffin_lim_iters is not None:
        phase_options.setdefault("n_iter", params.num_griffin_lim_iters)
    linear = linear_from_mel(spectrogram, filterbank_for(params), n_iter=mel_n_iter)
    samples = reconstruct_audio(
        linear,
        sample_rate=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        max_frequency=params.max_frequency,
        **phase_options,
    )
    samples = samples / INT16_SCALE
    return normalize_audio(samples) if normalize else samples


def image_from_audio(samples: np.ndarray, sample_rate: int, params: SpectrogramParams | None = None) -> "Image.Image":
    """Riffusion's spectrogram image of audio in [-1, 1], with the parameters and MAX_VALUE in its EXIF.

    Save it with :func:`riffnb.image.save_image` (PIL's plain ``save`` drops EXIF).

    Examples
    --------
    >>> image = image_from_audio(np.random.default_rng(0).normal(0, 0.1, 44100 * 2), 44100)
    >>> image.size, params_from_image(image) == SpectrogramParams()
    ((201, 512), True)
    """
    params = params or SpectrogramParams()
    image = image_from_spectrogram(spectrogram_from_audio(samples, sample_rate, params), params.power_for_image)
    return tag_image(image, params.to_exif())


def audio_from_image(
    image: T.Union["Image.Image", str, os.PathLike],
    params: SpectrogramParams | None = None,
    *,
    normalize: bool = True,
    **options: T.Any,
) -> tuple[np.ndarray, int]:
    """Audio ``(samples (channels, n), sample_rate)`` from a spectrogram image or the path of one.

    The image's EXIF parameters win over ``params`` (which fill in whatever the image does not store; Riffusion's
    defaults when None). Without ``normalize`` the level comes from the image's stored MAX_VALUE (30e6, Riffusion's
    constant, when absent). ``options`` go to :func:`audio_from_spectrogram`.
    """
    image = load_image(image)
    params = params_from_image(image, default=params)
    check_spectrogram_image(image, params)
    stored_max_value = max_value_from_image(image)
    max_value = DEFAULT_MAX_VALUE if stored_max_value is None else stored_max_value
    spectrogram = spectrogram_from_image(
        image, power=params.power_for_image, stereo=params.stereo, max_value=max_value
    )
    samples = audio_from_spectrogram(spectrogram, params, normalize=normalize, **options)
    return samples, params.sample_rate


__all__ = [
    "INT16_SCALE",
    "audio_from_image",
    "audio_from_spectrogram",
    "filterbank_for",
    "image_from_audio",
    "prepare_audio",
    "spectrogram_from_audio",
]
