"""The mel scale: filterbanks, linear -> mel, and a fast non-negative mel -> linear inversion.

The filterbank is torchaudio's ``melscale_fbanks`` (which Riffusion uses): triangles between mel-spaced edge
frequencies evaluated at the STFT bin frequencies ``linspace(0, sample_rate // 2, n_freqs)``, HTK or Slaney
mel scale, no normalisation by default. Returned as ``(n_mels, n_freqs)`` like librosa, so ``mel = fb @ S``.

Inverting it is underdetermined (512 mel bands vs 8821 STFT bins at Riffusion's parameters). librosa's
``mel_to_stft`` solves a dense non-negative least squares problem that tries to allocate 155 GiB here; Riffusion's
``InverseMelScale`` runs 200 SGD iterations (~15 s). riffnb takes the minimum-norm least squares solution through a
cached Cholesky factorisation of the small ``fb @ fb.T`` system, then enforces non-negativity with a few projected
gradient steps on the sparse filterbank: milliseconds per clip.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
import scipy.sparse

from .params import MEL_SCALES


def _check_scale(mel_scale: str) -> None:
    if mel_scale not in MEL_SCALES:
        raise ValueError(f"mel_scale must be one of {', '.join(map(repr, MEL_SCALES))}, got {mel_scale!r}")


def hz_to_mel(frequencies, mel_scale: str = "htk"):
    """Hertz to mels. ``"htk"``: ``2595 log10(1 + f / 700)``; ``"slaney"``: linear below 1 kHz, log above;
    ``"semitone"``: the MIDI note number ``69 + 12 log2(f / 440)``, so that bands one mel apart are one
    equal-tempered semitone apart at every height and a band centred on an integer is a note.

    Examples
    --------
    >>> round(float(hz_to_mel(1000.0)), 3)
    999.986
    >>> float(hz_to_mel(440.0, "semitone")), float(hz_to_mel(880.0, "semitone"))
    (69.0, 81.0)
    """
    _check_scale(mel_scale)
    f = np.asarray(frequencies, dtype=float)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale == "semitone":
        with np.errstate(divide="ignore"):
            return 69.0 + 12.0 * np.log2(f / 440.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(mels, mel_scale: str = "htk"):
    """Mels to hertz, the inverse of :func:`hz_to_mel`."""
    _check_scale(mel_scale)
    m = np.asarray(mels, dtype=float)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale == "semitone":
        return 440.0 * 2.0 ** ((m - 69.0) / 12.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_frequencies(n_mels: int, f_min: float, f_max: float, mel_scale: str = "htk") -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_mels`` bands, evenly spaced in mels between ``f_min`` and ``f_max``."""
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2), mel_scale)
    return edges[1:-1]


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> np.ndarray:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)``, as torchaudio's ``melscale_fbanks`` builds it.

    Cached and read-only: the same parameters return the same array.

    Examples
    --------
    >>> fb = mel_filterbank(44100, 17640, 512, 0, 10000)
    >>> fb.shape, bool(fb[:, 4001:].any())
    ((512, 8821), False)
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if sample_rate <= 0 or n_fft <= 0 or n_mels <= 0:
        raise ValueError(f"sample_rate, n_fft and n_mels must be positive, got {sample_rate}, {n_fft}, {n_mels}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}, "
                         f"sample_rate / 2 = {sample_rate / 2:g}")
    if mel_scale == "semitone" and f_min <= 0:
        raise ValueError("a semitone scale has no band at 0 Hz: pass f_min > 0 (e.g. 39 Hz, just below E1)")
    n_freqs = n_fft // 2 + 1
    bin_frequencies = np.linspace(0, sample_rate // 2, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2), mel_scale)
    widths = np.diff(edges)
    offsets = edges[None, :] - bin_frequencies[:, None]
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    filterbank = np.maximum(0.0, np.minimum(rising, falling)).T
    if norm == "slaney":
        filterbank *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    filterbank.flags.writeable = False
    return filterbank


def mel_from_linear(magnitude: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    """Mel spectrogram ``(..., n_mels, frames)`` from an STFT magnitude ``(..., n_freqs, frames)``."""
    magnitude = np.asarray(magnitude)
    if magnitude.shape[-2] != filterbank.shape[1]:
        raise ValueError(
            f"magnitude has {magnitude.shape[-2]} frequency bins but the filterbank expects {filterbank.shape[1]}"
        )
    return np.matmul(filterbank, magnitude)


class _MelInverse:
    """A filterbank's cached factorisation for repeated non-negative inversion."""

    def __init__(self, filterbank: np.ndarray):
        self.n_freqs = filterbank.shape[1]
        # Bins no filter touches stay zero; solving only for the covered ones keeps every product small.
        self.support = np.flatnonzero(filterbank.any(axis=0))
        fb = filterbank[:, self.support]
        gram = fb @ fb.T
        # A tiny ridge keeps near-empty low-frequency bands from making the Gram matrix singular.
        ridge = 1e-10 * np.trace(gram) / len(gram)
        self.cholesky = scipy.linalg.cho_factor(gram + ridge * np.eye(len(gram)))
        self.fb = scipy.sparse.csr_array(fb)
        self.fb_t = scipy.sparse.csr_array(fb.T)
        self.step = 1.0 / scipy.linalg.eigvalsh(gram, subset_by_index=[len(gram) - 1, len(gram) - 1])[0]

    def __call__(self, mel: np.ndarray, n_iter: int) -> np.ndarray:
        lead, (n_mels, frames) = mel.shape[:-2], mel.shape[-2:]
        targets = np.moveaxis(mel, -2, 0).reshape(n_mels, -1)
        linear = self.fb_t @ scipy.linalg.cho_solve(self.cholesky, targets)
        np.maximum(linear, 0.0, out=linear)
        # Projected gradient on ||fb x - mel||^2 with x >= 0, started from the clipped minimum-norm solution.
        for _ in range(n_iter):
            linear -= self.step * (self.fb_t @ (self.fb @ linear - targets))
            np.maximum(linear, 0.0, out=linear)
        full = np.zeros((self.n_freqs, targets.shape[1]))
        full[self.support] = linear
        return np.moveaxis(full.reshape((self.n_freqs,) + lead + (frames,)), 0, -2)


# Keyed by the filterbank's id; holding the array keeps that id from being reused. mel_filterbank's cache hands
# out the same read-only array for the same parameters, so the usual case factorises once per parameter set.
# Writable filterbanks are not cached: one edited in place keeps its id, and its old factorisation would be wrong.
_inverses: dict[int, tuple[np.ndarray, _MelInverse]] = {}
_MAX_CACHED_INVERSES = 16


def linear_from_mel(mel: np.ndarray, filterbank: np.ndarray, n_iter: int = 0) -> np.ndarray:
    """Non-negative STFT magnitude ``(..., n_freqs, frames)`` whose mel spectrogram approximates ``mel``.

    The minimum-norm least squares solution (a cached Cholesky factorisation of ``fb @ fb.T``), clipped at zero
    and refined by ``n_iter`` projected gradient steps towards the non-negative least squares solution.

    Examples
    --------
    >>> fb = mel_filterbank(44100, 17640, 512, 0, 10000)
    >>> S = np.abs(np.random.default_rng(0).normal(size=(8821, 4))) * (np.arange(8821) < 4000)[:, None]
    >>> M = mel_from_linear(S, fb)
    >>> err = np.linalg.norm(mel_from_linear(linear_from_mel(M, fb), fb) - M) / np.linalg.norm(M)
    >>> bool(err < 0.05)
    True
    """
    mel = np.asarray(mel, dtype=np.float64)
    if mel.ndim < 2 or mel.shape[-2] != filterbank.shape[0]:
        raise ValueError(f"mel must be (..., {filterbank.shape[0]}, frames), got shape {mel.shape}")
    filterbank = np.asarray(filterbank)
    if filterbank.flags.writeable:
        return _MelInverse(filterbank)(mel, n_iter)
    cached = _inverses.get(id(filterbank))
    if cached is None:
        if len(_inverses) >= _MAX_CACHED_INVERSES:
            del _inverses[next(iter(_inverses))]
        cached = _inverses[id(filterbank)] = (filterbank, _MelInverse(filterbank))
    return cached[1](mel, n_iter)
