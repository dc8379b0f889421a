"""Short-time Fourier transform: framing, windowing, STFT and its inverse, in numpy and scipy.fft.

Conventions follow torch.stft / torchaudio (which Riffusion uses) and librosa: a periodic Hann window of
``win_length`` samples centred inside ``n_fft``; with ``center=True`` the signal is reflect-padded by ``n_fft // 2``
on both sides so that frame ``t`` is centred on sample ``t * hop_length``. Arrays keep any leading axes
(channels, batch): a signal ``(..., n)`` has an STFT ``(..., n_fft // 2 + 1, frames)``.
"""

from __future__ import annotations

import numbers
import typing as T

import numpy as np
import scipy.fft

from .errors import RiffnbError


def positive_int(name: str, value: T.Any) -> int:
    """``value`` as an int, or a :class:`~riffnb.errors.RiffnbError` (a ``ValueError``) naming ``name`` if it is not a
    positive integer (a size in samples: ``n_fft``, ``hop_length``, ...)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
        raise RiffnbError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def get_window(window: str | np.ndarray, win_length: int, n_fft: int | None = None) -> np.ndarray:
    """A periodic analysis window of ``win_length`` samples, zero-padded to ``n_fft`` with the window centred.

    ``window`` is any name ``scipy.signal.get_window`` knows ("hann", "hamming", "blackman", ...) or an array of
    length ``win_length``. Centring puts ``(n_fft - win_length) // 2`` zeros before the window, as torch.stft does.

    Examples
    --------
    >>> w = get_window("hann", 4, 8)
    >>> w.round(2).tolist()
    [0.0, 0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    n_fft = win_length if n_fft is None else n_fft
    if not 0 < win_length <= n_fft:
        raise ValueError(f"need 0 < win_length <= n_fft, got win_length={win_length}, n_fft={n_fft}")
    if isinstance(window, str) and window == "hann":
        # Riffusion's window, computed here: importing scipy.signal for it costs about a second.
        taper = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    elif isinstance(window, str):
        import scipy.signal

        taper = scipy.signal.get_window(window, win_length, fftbins=True)
    else:
        taper = np.asarray(window, dtype=float)
        if taper.shape != (win_length,):
            raise ValueError(f"window array must have shape ({win_length},), got {taper.shape}")
    padded = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    padded[left : left + win_length] = taper
    return padded


def num_frames(length: int, hop_length: int, n_fft: int, center: bool = True) -> int:
    """Frames the STFT of ``length`` samples has (``1 + length // hop_length`` when centred with an even ``n_fft``)."""
    padded_length = length + 2 * (n_fft // 2) if center else length
    return 1 + (padded_length - n_fft) // hop_length


def frame_signal(
    samples: np.ndarray, frame_length: int, hop_length: int, center: bool = True, pad_mode: str = "reflect"
) -> np.ndarray:
    """Cut ``samples (..., n)`` into overlapping frames ``(..., frames, frame_length)`` (a read-only view).

    With ``center=True`` the signal is first padded by ``frame_length // 2`` on both sides with ``pad_mode``
    (any ``numpy.pad`` mode), so frame ``t`` is centred on sample ``t * hop_length``.
    """
    samples = np.asarray(samples)
    if center:
        pad = frame_length // 2
        if pad_mode == "reflect" and samples.shape[-1] <= pad:
            raise ValueError(
                f"signal of {samples.shape[-1]} samples is too short to reflect-pad by {pad}; "
                "use longer audio or pad_mode='constant'"
            )
        widths = [(0, 0)] * (samples.ndim - 1) + [(pad, pad)]
        samples = np.pad(samples, widths, mode=pad_mode)
    if samples.shape[-1] < frame_length:
        raise ValueError(f"signal of {samples.shape[-1]} samples is shorter than one frame of {frame_length}")
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame_length, axis=-1)
    return frames[..., ::hop_length, :]


def stft(
    samples: np.ndarray,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: str | np.ndarray = "hann",
    center: bool = True,
    pad_mode: str = "reflect",
) -> np.ndarray:
    """Complex STFT ``(..., n_fft // 2 + 1, frames)`` of ``samples (..., n)``, unnormalised, one-sided.

    Equal to ``torch.stft(x, n_fft, hop_length, win_length, torch.hann_window(win_length), center=True,
    pad_mode="reflect", return_complex=True)`` to float rounding.

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100)
    >>> S = stft(x, n_fft=17640, hop_length=441, win_length=4410)
    >>> S.shape, int(np.abs(S[:, 50]).argmax() * 44100 / 17640)
    ((8821, 101), 1000)
    """
    n_fft, hop_length = positive_int("n_fft", n_fft), positive_int("hop_length", hop_length)
    win_length = n_fft if win_length is None else positive_int("win_length", win_length)
    padded_window = get_window(window, win_length, n_fft)
    frames = frame_signal(np.asarray(samples, dtype=np.float64), n_fft, hop_length, center, pad_mode)
    spectrum = scipy.fft.rfft(frames * padded_window, axis=-1, workers=-1)
    return np.swapaxes(spectrum, -1, -2)


def istft(
    stft_matrix: np.ndarray,
    hop_length: int,
    win_length: int | None = None,
    n_fft: int | None = None,
    window: str | np.ndarray = "hann",
    center: bool = True,
    length: int | None = None,
) -> np.ndarray:
    """Inverse STFT by weighted overlap-add: the least-squares signal whose STFT is closest to ``stft_matrix``.

    ``stft_matrix`` is ``(..., n_fft // 2 + 1, frames)``; returns ``(..., n)``, trimmed to ``length`` when given.
    Matches ``torch.istft`` and ``librosa.istft`` with the same arguments. The sizes come in librosa's order,
    ``hop_length, win_length, n_fft``, not :func:`stft`'s: passing them by keyword avoids the mix-up, and an
    ``n_fft`` that does not fit the matrix's rows is refused.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=4096)
    >>> S = stft(x, n_fft=1024, hop_length=256, win_length=512)
    >>> y = istft(S, hop_length=256, win_length=512, n_fft=1024, length=x.size)
    >>> bool(np.allclose(x, y))
    True
    """
    stft_matrix = np.asarray(stft_matrix)
    hop_length = positive_int("hop_length", hop_length)
    win_length = None if win_length is None else positive_int("win_length", win_length)
    n_fft = None if n_fft is None else positive_int("n_fft", n_fft)
    length = None if length is None else positive_int("length", length)
    if stft_matrix.ndim < 2:
        raise ValueError(f"stft_matrix must be (..., frequencies, frames), got shape {stft_matrix.shape}")
    rows = stft_matrix.shape[-2]
    if n_fft is not None and n_fft // 2 + 1 != rows:
        raise ValueError(
            f"n_fft={n_fft} does not fit an STFT with {rows} frequency rows (n_fft // 2 + 1 rows, so n_fft is "
            f"{2 * (rows - 1)} or {2 * rows - 1}); istft takes (stft_matrix, hop_length, win_length, n_fft), "
            "librosa's order: pass the sizes by keyword"
        )
    n_fft = 2 * (rows - 1) if n_fft is None else n_fft
    win_length = n_fft if win_length is None else win_length
    padded_window = get_window(window, win_length, n_fft)
    frames = scipy.fft.irfft(np.swapaxes(stft_matrix, -1, -2), n=n_fft, axis=-1, workers=-1) * padded_window
    n_frames = frames.shape[-2]
    full_length = n_fft + hop_length * (n_frames - 1)
    signal = np.zeros(frames.shape[:-2] + (full_length,))
    window_sum = np.zeros(full_length)
    # Only the window's support carries signal: overlap-add that part alone.
    left = (n_fft - win_length) // 2
    support = slice(left, left + win_length)
    squared = padded_window[support] ** 2
    for t in range(n_frames):
        start = t * hop_length + left
        signal[..., start : start + win_length] += frames[..., t, support]
        window_sum[start : start + win_length] += squared
    tiny = np.finfo(window_sum.dtype).tiny
    signal /= np.where(window_sum > tiny, window_sum, 1.0)
    start = n_fft // 2 if center else 0
    if length is None:
        stop = full_length - n_fft // 2 if center else full_length
    else:
        stop = start + length
        if stop > full_length:
            signal = np.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(0, stop - full_length)])
    return signal[..., start:stop]
