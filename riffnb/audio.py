"""Audio as riffnb handles it: float samples ``(channels, n)`` in [-1, 1], plus checks, resampling and mixing.

Channels first, as librosa does. Loading and saving files live here too (soundfile reads and writes WAV, FLAC,
OGG and MP3); resampling uses soxr.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidAudioError


def as_channels(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a float64 array ``(channels, n)``: a 1-D signal becomes one channel.

    Raises :class:`InvalidAudioError` for empty audio, NaN or infinite samples, or more than two dimensions.
    """
    array = np.asarray(samples)
    if array.dtype.kind not in "fiu":
        raise InvalidAudioError(f"audio samples must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise InvalidAudioError(f"audio must be (n,) or (channels, n), got shape {array.shape}")
    if array.shape[0] > array.shape[1]:
        raise InvalidAudioError(
            f"audio of shape {array.shape} has more channels than samples; pass it channels first "
            "(transpose soundfile's (n, channels) arrays)"
        )
    if array.size == 0:
        raise InvalidAudioError("audio is empty: it has no samples")
    if not np.isfinite(array).all():
        raise InvalidAudioError("audio holds NaN or infinite samples; clean it (e.g. np.nan_to_num) before use")
    return array


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(channels, n)`` or ``(n,)`` audio from ``orig_sr`` to ``target_sr`` with soxr (high quality)."""
    if orig_sr == target_sr:
        return samples
    if orig_sr <= 0 or target_sr <= 0:
        raise InvalidAudioError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    import soxr

    resampled = soxr.resample(np.asarray(samples).T, orig_sr, target_sr, quality="HQ")
    return resampled.T


def mix_to_channels(samples: np.ndarray, num_channels: int) -> np.ndarray:
    """Mix ``(channels, n)`` audio down to mono by averaging, or up by repeating a mono channel."""
    current = samples.shape[0]
    if current == num_channels:
        return samples
    if num_channels == 1:
        return samples.mean(axis=0, keepdims=True)
    if current == 1:
        return np.repeat(samples, num_channels, axis=0)
    raise InvalidAudioError(f"cannot turn {current}-channel audio into {num_channels} channels; mix it to mono first")
