"""Phase reconstruction: audio from an STFT magnitude by Griffin-Lim, fast Griffin-Lim and PGHI.

A spectrogram image keeps only magnitudes; to hear it, a phase must be invented that makes the magnitudes
*consistent* (the STFT of some signal). Three classic tools, each usable alone or together:

- **Griffin-Lim** (GLA, Griffin & Lim 1984): alternate projections. Put the target magnitude under the current
  phase, go to a signal (ISTFT), come back (STFT), keep the new phase. Each step never increases the distance to a
  consistent spectrogram, but it crawls.
- **Fast Griffin-Lim** (FGLA, Perraudin, Balazs & Sondergaard 2013): the same step plus momentum (extrapolate
  along the last change). With ``momentum=0.99`` (librosa's and torchaudio's default) it converges much faster.
- **Phase Gradient Heap Integration** (PGHI, Prusa, Balazs & Sondergaard 2017): no iterations at all. For a
  Gaussian window, the phase's time and frequency derivatives follow from the log-magnitude's derivatives; PGHI
  integrates them outward from the loudest bins (a max-heap). A Hann window of length L behaves like a Gaussian
  of ``lambda = 0.25645 * L**2``. PGHI is a good reconstruction on its own and an excellent starting point.

:func:`reconstruct_audio` is the one call the conversion layer makes. Its default (PGHI, then 16 FGLA
iterations on a reduced grid) turns Riffusion's 512x512 images into audio well over 8x faster than the pseudo-inverse
+ ``librosa.griffinlim`` (32 iterations) that tutorials use, and ends closer to the image
(``benchmarks/bench_phase.py`` measures both). The speed comes from where the iterations run:

1. **A shorter FFT.** Riffusion's 4410-sample window sits inside a 17640-point FFT. The zero-padded DFT sampled
   every 4th bin *is* the 4410-point DFT of the same windowed frame (up to a known linear phase from where the
   window sits in the buffer), and a frame has only 4410 non-zero samples, so consistency on that coarser grid
   is consistency, full stop. But Griffin-Lim only enforces magnitudes on the bins it sees, and the magnitudes
   of the in-between bins say how neighbouring bins' phases relate: on the bare window grid the result lost
   2.6 dB of mel spectral convergence (Riffusion's lowest mel bands are only ~4 Hz apart, finer than its 10 Hz
   bins). An FFT of twice the window (every 2nd bin) keeps all but ~0.3 dB of the full grid's quality, so
   that is the default (``plan_grid(fft_oversampling=2)``).
2. **The reduced rate.** Riffusion's images hold nothing above ``max_frequency`` (10 kHz), so the iterations run
   at the lowest rate that carries it with room for the resampler's transition band (22400 Hz: hop 224, window
   2240, FFT 4480), with magnitudes scaled by the window-sum ratio; soxr brings the result back to the caller's
   rate. Measured: the same mel spectral convergence as iterating at 44100 Hz, at half the cost.
3. **PGHI first.** From PGHI's phase, 16 FGLA iterations beat 32 from a random phase. The heap integration is
   compiled with numba, with a bucket queue instead of a binary heap (see :func:`pghi_phase`): ~0.05-0.1 s for
   a clip's million bins, where the one PyPI implementation took ~4.7 s.
4. **Lean iterations.** Pre-allocated frame buffers, single precision, ``scipy.fft`` on all cores, an overlap-add
   that adds a hop-wide chunk of every frame at once instead of looping over frames, and the magnitude
   projection with momentum fused into one compiled pass.

``grid="full"`` runs the textbook version (the caller's rate and FFT size, as librosa does) through the same
code. Every iteration is a public function (:func:`griffin_lim_step`) on a public operator
(:class:`StftOperator`), so a notebook can step through the algorithm by hand; :func:`reconstruct_audio`'s
``callback`` sees every iteration's audio and spectral convergence. ``backend="torch"``
(:mod:`riffnb.phase_torch`) runs the same iterations on torch tensors, for batches on a GPU.

Conventions are those of :mod:`riffnb.stft`: centred frames, reflect padding, a periodic Hann window of
``win_length`` centred in ``n_fft``, spectrograms ``(..., n_fft // 2 + 1, frames)``.
"""

from __future__ import annotations

import dataclasses
import math
import typing as T

import numpy as np
import scipy.fft

from .audio import resample
from .errors import RiffnbError
from .stft import get_window, positive_int

#: Gaussian-equivalent time-frequency spread of a Hann window, ``lambda = HANN_LAMBDA * win_length**2`` in
#: samples squared (Prusa, Balazs & Sondergaard 2017, Table 1).
HANN_LAMBDA = 0.25645

#: The reduced rate leaves ``max_frequency`` at no more than this fraction of its Nyquist frequency, so soxr's
#: anti-imaging filter (flat to ~91% of Nyquist at quality "HQ") passes everything the magnitude holds.
RESAMPLER_PASSBAND = 0.9

#: Default iteration count of :func:`reconstruct_audio`: after PGHI, 16 FGLA iterations reach the quality plateau
#: of the mel-domain score (more buy little; see ``benchmarks/bench_phase.py``).
DEFAULT_N_ITER = 16

ALGORITHMS = ("gla", "fgla")
INITS = ("random", "zeros", "pghi")
GRIDS = ("reduced", "full")
BACKENDS = ("numpy", "torch")

# Quantisation levels of PGHI's bucket queue (see _integrate_from_loudest).
_PGHI_LEVELS = 4096

# Keeps |x| + _TINY non-zero in float32 so that silent bins get a zero phase factor instead of NaN.
_TINY = float(np.finfo(np.float32).tiny)


def spectral_convergence(target_magnitude, estimate_magnitude) -> float:
    """Spectral convergence in dB, ``20 log10(||S - S_hat||_F / ||S||_F)``: lower is better, 0 dB is no better
    than silence.

    Both arguments are magnitudes of the same shape (any number of axes; the norm runs over all of them). A silent
    target scores ``-inf`` against a silent estimate and ``+inf`` against anything else.

    Examples
    --------
    >>> S = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> round(spectral_convergence(S, 0.9 * S), 6)
    -20.0
    >>> spectral_convergence(S, np.zeros_like(S))
    0.0
    """
    target = np.asarray(target_magnitude)
    estimate = np.asarray(estimate_magnitude)
    if target.shape != estimate.shape:
        raise RiffnbError(f"magnitudes must have the same shape, got {target.shape} and {estimate.shape}")
    error = float(np.linalg.norm((target - estimate).ravel()))
    reference = float(np.linalg.norm(target.ravel()))
    if reference == 0.0:
        return -math.inf if error == 0.0 else math.inf
    if error == 0.0:
        return -math.inf
    return 20.0 * math.log10(error / reference)


# --------------------------------------------------------------------------------------------------------------
# Where the iterations run


def _is_fast_fft_size(n: int) -> bool:
    """Whether ``n`` has no prime factor above 7 (pocketfft's fast radices)."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


@dataclasses.dataclass(frozen=True)
class PhaseGrid:
    """The STFT grid phase reconstruction iterates on, and how it maps to the caller's grid.

    The working grid has ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length``; its bin ``k`` is the caller's
    bin ``k * bin_step`` (the same frequency), and its frame ``t`` is the caller's frame ``t`` (the same time). Make
    one with :func:`plan_grid`.

    Examples
    --------
    >>> grid = plan_grid(44100, 17640, 441, 4410, max_frequency=10000)
    >>> grid.sample_rate, grid.n_fft, grid.hop_length, grid.win_length, grid.bin_step
    (22400, 4480, 224, 2240, 2)
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    bin_step: int
    caller_sample_rate: int
    caller_n_fft: int
    caller_win_length: int

    @property
    def n_bins(self) -> int:
        """Frequency bins of the working grid's one-sided STFT."""
        return self.n_fft // 2 + 1

    @property
    def magnitude_scale(self) -> float:
        """Working-grid magnitude per caller-grid magnitude: the ratio of window sums (fewer samples per window at
        a lower rate give proportionally smaller DFT values for the same sound)."""
        return self.win_length / self.caller_win_length

    def magnitude_from(self, magnitude: np.ndarray) -> np.ndarray:
        """The caller's magnitude ``(..., caller_n_fft // 2 + 1, frames)`` on this grid, float32, stored frames-major
        (the transposed view of a contiguous ``(..., frames, n_bins)`` array, which is the layout the FFTs want)."""
        sampled = magnitude[..., : self.n_bins * self.bin_step : self.bin_step, :]
        frames_major = np.empty(sampled.shape[:-2] + sampled.shape[:-3:-1], dtype=np.float32)
        np.multiply(np.swapaxes(sampled, -1, -2), self.magnitude_scale, out=frames_major, casting="unsafe")
        return np.swapaxes(frames_major, -1, -2)

    def phase_from(self, phase: np.ndarray) -> np.ndarray:
        """The caller's phase (radians, :mod:`riffnb.stft`'s convention) on this grid's bins, in its convention."""
        sampled = phase[..., : self.n_bins * self.bin_step : self.bin_step, :]
        caller_bins = np.arange(self.n_bins) * self.bin_step
        return (
            sampled
            + _centre_phase(caller_bins, self.caller_n_fft, self.caller_win_length)[:, None]
            - _centre_phase(np.arange(self.n_bins), self.n_fft, self.win_length)[:, None]
        )


def _centre_phase(bins: np.ndarray, n_fft: int, win_length: int) -> np.ndarray:
    """``2 pi k c / n_fft``: the linear phase a DFT of the FFT buffer adds at bin ``k`` because the window's centre
    sits ``c`` samples into the buffer. Removing it refers phases to the frame's centre, where grids agree."""
    centre = (n_fft - win_length) // 2 + win_length / 2
    return 2 * np.pi * bins * centre / n_fft


def plan_grid(
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    win_length: int,
    max_frequency: float | None = None,
    *,
    fft_oversampling: int | None = 2,
    reduce_rate: bool = True,
) -> PhaseGrid:
    """Choose where phase reconstruction iterates: a cheaper grid that keeps what the magnitude says.

    ``fft_oversampling``: the working FFT is the shortest ``n_fft / d`` (``d`` a divisor of ``n_fft``) of at least
    ``fft_oversampling * win_length``, sampling every ``d``-th bin; ``None`` keeps ``n_fft``. ``1`` is the bare
    window-length grid, which is consistent-equivalent but measurably worse for phase retrieval (see the module
    docstring); ``2`` recovers nearly all of the full grid's quality at half its size.
    ``reduce_rate``: with ``max_frequency``, iterate at the lowest rate that keeps it within
    :data:`RESAMPLER_PASSBAND` of Nyquist, with integer hop, window, rate and a fast FFT size (no prime factor
    above 7); hop, window and FFT scale with the rate, so frames keep their duration and bins their frequency.

    Examples
    --------
    >>> plan_grid(44100, 17640, 441, 4410, fft_oversampling=1, reduce_rate=False).n_fft
    4410
    >>> plan_grid(44100, 17640, 441, 4410, 10000, fft_oversampling=None, reduce_rate=False).n_fft
    17640
    """
    bin_step = 1
    if fft_oversampling is not None:
        if fft_oversampling < 1:
            raise RiffnbError(f"fft_oversampling must be at least 1 (or None for n_fft), got {fft_oversampling}")
        shortest = min(n_fft, fft_oversampling * win_length)
        bin_step = max(d for d in range(1, n_fft // shortest + 1) if n_fft % d == 0)
    base_n_fft = n_fft // bin_step
    new_hop = hop_length
    if reduce_rate and max_frequency is not None:
        lowest_hop = math.ceil(2 * max_frequency * hop_length / (RESAMPLER_PASSBAND * sample_rate))
        for candidate in range(max(lowest_hop, 1), hop_length):
            if (
                candidate * sample_rate % hop_length == 0
                and candidate * win_length % hop_length == 0
                and candidate * base_n_fft % hop_length == 0
                and _is_fast_fft_size(candidate * base_n_fft // hop_length)
            ):
                new_hop = candidate
                break
    return PhaseGrid(
        sample_rate=sample_rate * new_hop // hop_length,
        n_fft=base_n_fft * new_hop // hop_length,
        hop_length=new_hop,
        win_length=win_length * new_hop // hop_length,
        bin_step=bin_step,
        caller_sample_rate=sample_rate,
        caller_n_fft=n_fft,
        caller_win_length=win_length,
    )


# --------------------------------------------------------------------------------------------------------------
# The STFT pair the iterations use


def _hop_chunks(signal: np.ndarray, start: int, n_frames: int, hop_length: int, width: int) -> np.ndarray:
    """A writable view ``(..., n_frames, width)`` of ``signal[..., start + t * hop_length + j]``, ``j < width``.

    With ``width <= hop_length`` the rows do not overlap, so ``view += chunk`` overlap-adds one hop-wide chunk of
    every frame in one vectorised operation.
    """
    tail = signal[..., start:]
    step = tail.strides[-1]
    return np.lib.stride_tricks.as_strided(
        tail, shape=tail.shape[:-1] + (n_frames, width), strides=tail.strides[:-1] + (hop_length * step, step)
    )


def set_frame_geometry(operator, n_fft: int, hop_length: int, win_length: int, n_frames: int,
                       lead_shape: tuple) -> None:
    """Give an STFT operator (numpy or torch) its sizes, refusing spectrograms too short to reflect-pad."""
    operator.n_fft, operator.hop_length, operator.win_length, operator.n_frames = n_fft, hop_length, win_length, n_frames
    operator.lead_shape = tuple(lead_shape)
    operator.length = (n_frames - 1) * hop_length
    operator.pad = n_fft // 2
    if operator.length <= operator.pad:
        raise RiffnbError(
            f"{n_frames} frames are too few to reflect-pad by {operator.pad} samples "
            f"(need at least {operator.pad // hop_length + 2} frames); pass a longer spectrogram"
        )


def overlap_add_window(n_fft: int, hop_length: int, win_length: int, n_frames: int):
    """``(left, window, inverse_window_sum)`` for an STFT operator on ``n_frames`` centred frames.

    ``window`` is the periodic Hann window's support (float32), which starts ``left`` samples into each
    ``n_fft``-sample frame buffer; ``inverse_window_sum`` (float32, ``(n_frames - 1) * hop_length + n_fft``
    samples of the padded signal) is ``1 / sum_t window_t**2``, the least-squares overlap-add normalisation
    (0 where no window reaches).
    """
    left = (n_fft - win_length) // 2
    window = get_window("hann", win_length, n_fft)[left : left + win_length].astype(np.float32)
    squared_sum = np.zeros((n_frames - 1) * hop_length + n_fft)
    for start in range(0, win_length, hop_length):
        width = min(hop_length, win_length - start)
        _hop_chunks(squared_sum, left + start, n_frames, hop_length, width)[...] += (
            window[start : start + width].astype(np.float64) ** 2
        )
    inverse = np.where(squared_sum > 1e-10, 1.0 / np.maximum(squared_sum, 1e-10), 0.0).astype(np.float32)
    return left, window, inverse


class StftOperator:
    """A centred STFT and its inverse at one size, with pre-allocated buffers, for iterating on a spectrogram.

    ``forward(samples)`` gives ``(..., n_fft // 2 + 1, n_frames)`` complex64 (a view of a frames-major array, the
    layout the FFTs want); ``inverse(stft_matrix)`` gives ``(..., (n_frames - 1) * hop_length)`` float32 samples by
    least-squares overlap-add. Same conventions as :func:`riffnb.stft.stft` / :func:`riffnb.stft.istft`, in single
    precision, for a fixed number of frames and leading shape.

    Examples
    --------
    >>> from riffnb.stft import stft
    >>> x = np.random.default_rng(0).normal(size=44100)
    >>> op = StftOperator(n_fft=2048, hop_length=441, win_length=2048, n_frames=101)
    >>> bool(np.allclose(op.forward(x), stft(x, 2048, 441, 2048), atol=1e-3))
    True
    >>> bool(np.abs(op.inverse(op.forward(x)) - x).max() < 1e-4)
    True
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, n_frames: int, lead_shape: tuple = ()):
        set_frame_geometry(self, n_fft, hop_length, win_length, n_frames, lead_shape)
        self.left, self.window, self.inverse_window_sum = overlap_add_window(n_fft, hop_length, win_length, n_frames)
        padded_length = self.length + n_fft
        self._padded = np.zeros(self.lead_shape + (padded_length,), dtype=np.float32)
        # Zeros outside the window's support stay zero: forward() only ever writes the support.
        self._frames = np.zeros(self.lead_shape + (n_frames, n_fft), dtype=np.float32)

    def forward(self, samples: np.ndarray) -> np.ndarray:
        """STFT ``(..., n_fft // 2 + 1, n_frames)`` of ``samples (..., (n_frames - 1) * hop_length)``."""
        padded, pad, length = self._padded, self.pad, self.length
        padded[..., pad : pad + length] = samples
        # Reflect padding as torch.stft(center=True) does: x[-i] = x[i], x[n - 1 + i] = x[n - 1 - i].
        padded[..., :pad] = padded[..., 2 * pad : pad : -1]
        end = pad + length - 1
        right = padded.shape[-1] - end - 1
        padded[..., end + 1 :] = padded[..., end - 1 : end - 1 - right : -1]
        frames = np.lib.stride_tricks.sliding_window_view(padded[..., self.left :], self.win_length, axis=-1)
        np.multiply(frames[..., :: self.hop_length, :][..., : self.n_frames, :], self.window,
                    out=self._frames[..., self.left : self.left + self.win_length])
        return np.swapaxes(scipy.fft.rfft(self._frames, axis=-1, workers=-1), -1, -2)

    def inverse(self, stft_matrix: np.ndarray) -> np.ndarray:
        """Samples ``(..., (n_frames - 1) * hop_length)`` whose STFT is closest to ``stft_matrix`` (least squares)."""
        frames = scipy.fft.irfft(np.swapaxes(stft_matrix, -1, -2), n=self.n_fft, axis=-1, workers=-1)
        support = frames[..., self.left : self.left + self.win_length]
        support *= self.window
        padded = self._padded
        padded.fill(0.0)
        for start in range(0, self.win_length, self.hop_length):
            width = min(self.hop_length, self.win_length - start)
            _hop_chunks(padded, self.left + start, self.n_frames, self.hop_length, width)[...] += support[
                ..., start : start + width
            ]
        padded *= self.inverse_window_sum
        return padded[..., self.pad : self.pad + self.length].copy()

    def apply_phase(self, magnitude: np.ndarray, rebuilt: np.ndarray, previous: np.ndarray | None,
                    momentum: float) -> np.ndarray:
        """``magnitude`` with the phase of ``rebuilt - momentum / (1 + momentum) * previous`` (0 where that is 0).

        Fast Griffin-Lim's update as librosa and torchaudio write it (``previous=None``: plain Griffin-Lim's
        magnitude projection), fused into one compiled pass.
        """
        _jit_kernels()
        beta = 0.0 if previous is None else momentum / (1 + momentum)
        magnitude, rebuilt = _frames_major(magnitude, np.float32), _frames_major(rebuilt, np.complex64)
        previous = rebuilt if previous is None else _frames_major(previous, np.complex64)
        out = np.empty_like(rebuilt)
        _apply_phase(magnitude.reshape(-1), rebuilt.reshape(-1), previous.reshape(-1), np.float32(beta),
                     out.reshape(-1))
        return np.swapaxes(out, -1, -2)


def _frames_major(spectrogram: np.ndarray, dtype) -> np.ndarray:
    """``(..., frames, freq)`` C-contiguous ``dtype`` data of a ``(..., freq, frames)`` array (no copy when it is
    already stored that way, as everything the operators produce is)."""
    return np.ascontiguousarray(np.swapaxes(spectrogram, -1, -2), dtype=dtype)


# --------------------------------------------------------------------------------------------------------------
# Phase Gradient Heap Integration


# Plain Python until the first call that needs them: _jit_kernels() then rebinds these names to numba-compiled
# versions (cached on disk), so importing riffnb.phase does not import numba. They must stay module-level
# functions: numba cannot cache closures.


def _integrate_from_loudest(log_magnitude, time_step, bin_step, floor, n_levels, phase):
    """PGHI's heap integration on one ``(frames, bins)`` slice, in place on ``phase``.

    ``time_step`` / ``bin_step`` are the phase advances per hop / per bin. Bins with ``log_magnitude <= floor``
    keep the (random) phase they came with; every other bin gets its phase from its loudest finished neighbour.

    The paper's max-heap is a bucket queue here: log-magnitudes quantised to ``n_levels`` levels between ``floor``
    and the maximum, one LIFO stack per level. Pushing and popping are O(1) instead of O(log n), and the same
    levels order the seeds of new islands (a counting sort instead of an argsort); the order differs from the exact
    heap's only between bins within one level (11.5 nepers / 4096 levels = 0.02 dB), which PGHI cannot tell apart.
    """
    n_frames, n_bins = log_magnitude.shape
    flat = log_magnitude.ravel()
    # Flat indices: a time neighbour is n_bins away, a frequency neighbour 1 away. int32 keeps the working set small.
    steps_in_time, steps_in_bins, out = time_step.ravel(), bin_step.ravel(), phase.ravel()
    size = flat.size
    scale = (n_levels - 1) / max(flat.max() - floor, 1e-12)
    level = np.empty(size, dtype=np.int32)
    counts = np.zeros(n_levels + 1, dtype=np.int64)
    for i in range(size):
        level[i] = np.int32((flat[i] - floor) * scale) if flat[i] > floor else -1
        counts[level[i] + 1] += 1
    # Counting sort, loudest level first: the order in which islands are seeded.
    starts = np.empty(n_levels + 1, dtype=np.int64)
    position = 0
    for bucket in range(n_levels, -1, -1):
        starts[bucket] = position
        position += counts[bucket]
    order = np.empty(size, dtype=np.int32)
    for i in range(size):
        order[starts[level[i] + 1]] = i
        starts[level[i] + 1] += 1
    done = level < 0
    head = np.full(n_levels, -1, dtype=np.int32)
    below = np.empty(size, dtype=np.int32)  # the next bin down each level's stack
    for rank in range(size - counts[0]):
        seed = order[rank]
        if done[seed]:
            continue
        # A new island: its loudest bin's phase is arbitrary (zero); everything reachable follows from it.
        done[seed] = True
        out[seed] = 0.0
        head[level[seed]] = seed
        below[seed] = -1
        top, queued = level[seed], 1
        while queued > 0:
            while head[top] < 0:
                top -= 1
            index = head[top]
            head[top] = below[index]
            queued -= 1
            here, k = out[index], index % n_bins
            # Trapezoidal rule towards each unfinished neighbour (later, earlier, higher, lower), which then
            # joins the queue. Written out four times: a loop over neighbours costs numba twice the time.
            neighbour = index + n_bins
            if neighbour < size and not done[neighbour]:
                done[neighbour] = True
                out[neighbour] = here + 0.5 * (steps_in_time[index] + steps_in_time[neighbour])
                below[neighbour], head[level[neighbour]] = head[level[neighbour]], neighbour
                queued, top = queued + 1, max(top, level[neighbour])
            neighbour = index - n_bins
            if neighbour >= 0 and not done[neighbour]:
                done[neighbour] = True
                out[neighbour] = here - 0.5 * (steps_in_time[index] + steps_in_time[neighbour])
                below[neighbour], head[level[neighbour]] = head[level[neighbour]], neighbour
                queued, top = queued + 1, max(top, level[neighbour])
            neighbour = index + 1
            if k + 1 < n_bins and not done[neighbour]:
                done[neighbour] = True
                out[neighbour] = here + 0.5 * (steps_in_bins[index] + steps_in_bins[neighbour])
                below[neighbour], head[level[neighbour]] = head[level[neighbour]], neighbour
                queued, top = queued + 1, max(top, level[neighbour])
            neighbour = index - 1
            if k > 0 and not done[neighbour]:
                done[neighbour] = True
                out[neighbour] = here - 0.5 * (steps_in_bins[index] + steps_in_bins[neighbour])
                below[neighbour], head[level[neighbour]] = head[level[neighbour]], neighbour
                queued, top = queued + 1, max(top, level[neighbour])


def _apply_phase(magnitude, rebuilt, previous, beta, out):
    """``out = magnitude * d / |d|`` with ``d = rebuilt - beta * previous`` (0 where ``d`` is 0).

    Flat float32 magnitude and complex64 arrays seen as interleaved float32 pairs: one pass where numpy needs six
    (scale, subtract, abs, add, divide, multiply), each with its own temporary.
    """
    pairs_rebuilt, pairs_previous, pairs_out = rebuilt.view(np.float32), previous.view(np.float32), out.view(np.float32)
    for i in range(magnitude.size):
        real = pairs_rebuilt[2 * i] - beta * pairs_previous[2 * i]
        imag = pairs_rebuilt[2 * i + 1] - beta * pairs_previous[2 * i + 1]
        norm = np.sqrt(real * real + imag * imag)
        # Not magnitude / (norm + tiny): with norm == 0 that overflows to inf, and inf * 0 is NaN.
        gain = magnitude[i] / norm if norm > 0 else np.float32(0.0)
        pairs_out[2 * i] = real * gain
        pairs_out[2 * i + 1] = imag * gain


_KERNELS = ("_integrate_from_loudest", "_apply_phase")
_kernels_compiled = False


def _jit_kernels() -> None:
    """Compile the kernels above with numba (loading them from numba's on-disk cache after the first time)."""
    global _kernels_compiled
    if _kernels_compiled:
        return
    import numba

    for name in _KERNELS:
        globals()[name] = numba.njit(cache=True)(globals()[name])
    _kernels_compiled = True


def pghi_phase(
    magnitude: np.ndarray,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    tolerance: float = 1e-5,
) -> np.ndarray:
    """Phase (radians, ``(..., n_fft // 2 + 1, frames)``) of ``magnitude`` by Phase Gradient Heap Integration.

    For a Gaussian window ``exp(-pi t^2 / lambda)`` the STFT's log-magnitude and phase are the real and imaginary
    parts of an analytic function, so the phase's derivatives follow from the magnitude's (Cauchy-Riemann). With
    phases referred to each frame's centre, in samples and cycles per sample:

    - along time (instantaneous frequency): ``dphi/dt = (1 / lambda) dlog|S|/domega + 2 pi omega``
    - along frequency (local group delay):  ``dphi/domega = -lambda dlog|S|/dt``

    ``lambda = 0.25645 * win_length**2`` makes a Hann window's best Gaussian match (Prusa et al. 2017). The
    derivatives come from centred differences of ``log|S|``; the phase is then integrated with the trapezoidal rule
    from the loudest bin outwards, always continuing from the loudest bin already done (a max-heap), so errors
    start where the estimate is most reliable. Bins quieter than ``tolerance`` times the maximum (per 2-D slice)
    carry no usable gradient. The paper gives them random phases; here they get phase 0, which scores the same
    (to 0.001 dB on the benchmark clip: they hold at most 1e-5 of the peak) and keeps PGHI deterministic, so the
    same image always gives the same audio. The heap loop is compiled by numba (cached on disk after the first
    call).

    The result follows :mod:`riffnb.stft`'s convention (frame buffer starting ``n_fft // 2`` before the frame's
    centre), so ``magnitude * np.exp(1j * phase)`` can go straight to :func:`riffnb.stft.istft`.

    Examples
    --------
    >>> from riffnb.stft import stft, istft
    >>> t = np.arange(22050) / 22050
    >>> x = np.sin(2 * np.pi * (300 + 200 * t) * t)
    >>> S = np.abs(stft(x, 1024, 128, 1024))
    >>> phase = pghi_phase(S, n_fft=1024, hop_length=128, win_length=1024)
    >>> y = istft(S * np.exp(1j * phase), 128, 1024, 1024, length=x.size)
    >>> bool(spectral_convergence(S, np.abs(stft(y, 1024, 128, 1024))) < -20)
    True
    """
    magnitude = np.asarray(magnitude)
    if magnitude.ndim < 2 or magnitude.shape[-2] != n_fft // 2 + 1:
        raise RiffnbError(f"magnitude must be (..., {n_fft // 2 + 1}, frames) for n_fft={n_fft}, got {magnitude.shape}")
    if not 0 < tolerance < 1:
        raise RiffnbError(f"tolerance must be between 0 and 1 (a fraction of the maximum), got {tolerance}")
    _jit_kernels()
    lam = HANN_LAMBDA * win_length**2
    bins = np.arange(n_fft // 2 + 1)
    # Frames-major, like the iterations: the heap walks neighbours in both directions anyway.
    frames_major = np.swapaxes(magnitude, -1, -2).reshape((-1,) + magnitude.shape[:-3:-1])
    phase = np.zeros(frames_major.shape, dtype=np.float64)
    for index, slice_magnitude in enumerate(frames_major):
        peak = float(slice_magnitude.max(initial=0.0))
        if peak <= 0.0:
            continue
        # Clamping at the tolerance keeps log(0) out of the differences next to silent bins.
        floor = math.log(tolerance * peak)
        # C order (whatever the caller's layout) keeps the kernel to one compiled signature with flat indexing.
        log_magnitude = np.log(np.maximum(np.ascontiguousarray(slice_magnitude, dtype=np.float64), tolerance * peak))
        along_time, along_bins = np.gradient(log_magnitude) if min(log_magnitude.shape) > 1 else (
            np.zeros_like(log_magnitude), np.zeros_like(log_magnitude))
        # Per hop: hop * ((n_fft / lambda) dlog/dk + 2 pi k / n_fft); per bin: -(lambda / (hop n_fft)) dlog/dt.
        time_step = hop_length * (n_fft / lam * along_bins + 2 * np.pi * bins / n_fft)
        bin_step = -lam / (hop_length * n_fft) * along_time
        _integrate_from_loudest(log_magnitude, time_step, bin_step, floor, _PGHI_LEVELS, phase[index])
    # Refer the phases (so far relative to each frame's centre) to the start of the FFT buffer.
    phase -= _centre_phase(bins, n_fft, win_length)
    return np.swapaxes(phase.reshape(magnitude.shape[:-2] + magnitude.shape[:-3:-1]), -1, -2)


# --------------------------------------------------------------------------------------------------------------
# Griffin-Lim iterations (numpy arrays or torch tensors alike: only operators and the StftOperator's methods)


def griffin_lim_step(magnitude, estimate, previous=None, *, operator, momentum: float = 0.99):
    """One (fast) Griffin-Lim iteration: ``(next_estimate, rebuilt, samples)``.

    ``estimate`` is the target ``magnitude`` under the current phases (``magnitude * exp(1j * phase)``).
    ``samples`` is the signal it makes (``operator.inverse(estimate)``) and ``rebuilt`` that signal's STFT, the
    nearest consistent spectrogram; ``spectral_convergence(magnitude, abs(rebuilt))`` scores ``samples``.
    ``next_estimate`` is ``magnitude`` under the phase of ``rebuilt - momentum / (1 + momentum) * previous``,
    where ``previous`` is the last step's ``rebuilt``: Perraudin et al.'s fast Griffin-Lim written as librosa and
    torchaudio write it, so ``momentum`` means the same as there; ``momentum=0`` or ``previous=None`` is plain
    Griffin-Lim. Bins where that direction is exactly 0 (silence) get 0, not NaN.

    ``operator`` is a :class:`StftOperator` (numpy) or :class:`riffnb.phase_torch.TorchStftOperator` (torch
    tensors); the spectrograms are ``(..., n_fft // 2 + 1, frames)`` arrays of its kind.

    Examples
    --------
    >>> from riffnb.stft import stft
    >>> t = np.arange(22050) / 22050
    >>> S = np.abs(stft(np.sin(2 * np.pi * 440 * t) * t, 1024, 256, 1024)).astype(np.float32)
    >>> op = StftOperator(1024, 256, 1024, n_frames=S.shape[-1])
    >>> estimate, previous = S * initial_phase_factor(S, "random", seed=0), None
    >>> scores = []
    >>> for _ in range(20):
    ...     estimate, previous, samples = griffin_lim_step(S, estimate, previous, operator=op)
    ...     scores.append(spectral_convergence(S, np.abs(previous)))
    >>> bool(scores[-1] < scores[0] - 10)
    True
    """
    samples = operator.inverse(estimate)
    rebuilt = operator.forward(samples)
    return operator.apply_phase(magnitude, rebuilt, previous, momentum), rebuilt, samples


def _convergence(target, estimate) -> float:
    """spectral_convergence for numpy arrays or torch tensors (on any device), in float64 arithmetic at the end."""
    error = float(((target - estimate) ** 2).sum())
    reference = float((target**2).sum())
    if reference == 0.0:
        return -math.inf if error == 0.0 else math.inf
    return 10.0 * math.log10(error / reference) if error > 0.0 else -math.inf


def griffin_lim(magnitude, estimate, *, operator, n_iter: int, momentum: float = 0.99, callback=None):
    """Run ``n_iter`` :func:`griffin_lim_step` iterations from ``estimate``; return the final samples.

    ``callback(iteration, rebuilt, samples, spectral_convergence)`` is called for ``iteration = 0 .. n_iter``: at
    ``iteration`` the signal made after that many phase updates (0: the initial phase; ``n_iter``: the result).
    Returning ``False`` stops early, and the samples it was shown are the result.
    """
    previous = None
    for iteration in range(n_iter):
        next_estimate, rebuilt, samples = griffin_lim_step(
            magnitude, estimate, previous, operator=operator, momentum=momentum
        )
        if callback is not None:
            if callback(iteration, rebuilt, samples, _convergence(magnitude, abs(rebuilt))) is False:
                return samples
        estimate, previous = next_estimate, rebuilt
    samples = operator.inverse(estimate)
    if callback is not None:
        rebuilt = operator.forward(samples)
        callback(n_iter, rebuilt, samples, _convergence(magnitude, abs(rebuilt)))
    return samples


def initial_phase_factor(magnitude: np.ndarray, init="random", *, grid: PhaseGrid | None = None,
                         seed: int | None = None):
    """Starting phase as unit complex numbers (complex64, frames-major like :class:`StftOperator`'s output).

    ``magnitude`` is on the working grid. ``init``: ``"random"`` (uniform phases from ``seed``; what librosa and
    torchaudio do), ``"zeros"`` (all phases 0 at the start of each FFT buffer, where the centred window is zero: every
    frame's energy lands outside the window, so the first estimate is nearly silent; the worst start), ``"pghi"`` (:func:`pghi_phase` with
    ``grid``'s STFT sizes), or a phase array in radians shaped like the caller's magnitude, which ``grid`` moves
    onto the working grid. ``grid`` (a :func:`plan_grid` result) is needed for the last two only.

    Examples
    --------
    >>> factor = initial_phase_factor(np.ones((5, 3)), "zeros")
    >>> factor.dtype, factor.shape, bool((factor == 1).all())
    (dtype('complex64'), (5, 3), True)
    >>> grid = plan_grid(22050, 1024, 256, 1024)
    >>> initial_phase_factor(np.ones((513, 20)), "pghi", grid=grid).shape
    (513, 20)
    """
    if grid is None and not (isinstance(init, str) and init in ("random", "zeros")):
        raise RiffnbError("init='pghi' or a phase array needs grid=plan_grid(sample_rate, n_fft, hop_length, ...)")
    if isinstance(init, str):
        if init == "zeros":
            phase = np.zeros(magnitude.shape)
        elif init == "random":
            phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, size=magnitude.shape)
        elif init == "pghi":
            phase = pghi_phase(magnitude, n_fft=grid.n_fft, hop_length=grid.hop_length, win_length=grid.win_length)
        else:
            raise RiffnbError(f"init must be one of {', '.join(map(repr, INITS))} or a phase array, got {init!r}")
    else:
        phase = grid.phase_from(np.asarray(init, dtype=np.float64))
    # cos and sin straight into the real and imaginary parts: exp(1j * phase) would build two complex128 temporaries.
    factor = np.empty(magnitude.shape[:-2] + magnitude.shape[:-3:-1], dtype=np.complex64)
    frames_major = np.swapaxes(phase, -1, -2)
    np.cos(frames_major, out=factor.real, casting="same_kind")
    np.sin(frames_major, out=factor.imag, casting="same_kind")
    return np.swapaxes(factor, -1, -2)


@dataclasses.dataclass(frozen=True)
class PhaseEstimate:
    """What :func:`reconstruct_audio`'s callback is shown at one iteration.

    ``stft`` is the estimate's complex STFT on the working grid (``grid``; a torch tensor with
    ``backend="torch"``), ``working_samples`` its signal at ``grid.sample_rate``; :meth:`audio` gives that signal
    at the caller's sample rate and length, as :func:`reconstruct_audio` would return it if stopped here.
    """

    stft: T.Any
    working_samples: T.Any
    grid: PhaseGrid
    length: int

    def audio(self) -> np.ndarray:
        """The estimate as samples ``(..., length)`` at the caller's sample rate (float64)."""
        return _caller_audio(self.working_samples, self.grid, self.length)


def _caller_audio(samples, grid: PhaseGrid, length: int) -> np.ndarray:
    """Working-grid samples (array or tensor) -> float64 numpy samples at the caller's rate, trimmed or zero-padded
    to ``length``."""
    if not isinstance(samples, np.ndarray):
        samples = samples.detach().cpu().numpy()
    lead = samples.shape[:-1]
    flat = samples.reshape(-1, samples.shape[-1])
    if grid.sample_rate != grid.caller_sample_rate:
        flat = resample(np.ascontiguousarray(flat), grid.sample_rate, grid.caller_sample_rate)
    out = np.zeros((flat.shape[0], length))
    keep = min(length, flat.shape[-1])
    out[:, :keep] = flat[:, :keep]
    return out.reshape(lead + (length,))


def _checked_magnitude(magnitude, n_fft: int) -> np.ndarray:
    array = np.asarray(magnitude)
    if array.dtype.kind not in "fiu":
        hint = " (pass np.abs of the STFT)" if array.dtype.kind == "c" else ""
        raise RiffnbError(f"magnitude must hold real numbers, got dtype {array.dtype}{hint}")
    n_bins = n_fft // 2 + 1
    if array.ndim < 2 or array.shape[-2] != n_bins or array.shape[-1] < 1:
        raise RiffnbError(
            f"magnitude must be (..., n_fft // 2 + 1 = {n_bins}, frames) for n_fft={n_fft}, got shape {array.shape}; "
            "check n_fft or transpose to (freq, frames)"
        )
    # Two reductions instead of elementwise masks: a NaN or inf makes the sum non-finite, a negative the minimum.
    if not np.isfinite(array.sum(dtype=np.float64)):
        raise RiffnbError("magnitude holds NaN or infinite values; clean it (e.g. np.nan_to_num) first")
    if array.min() < 0:
        raise RiffnbError("magnitude holds negative values; pass a magnitude (np.abs of an STFT), not a signed array")
    return array


def reconstruct_audio(
    magnitude: np.ndarray,
    *,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    win_length: int,
    max_frequency: float | None = None,
    length: int | None = None,
    algorithm: str = "fgla",
    init: str | np.ndarray = "pghi",
    n_iter: int = DEFAULT_N_ITER,
    momentum: float = 0.99,
    seed: int | None = None,
    callback: T.Callable[[int, PhaseEstimate, float], T.Any] | None = None,
    backend: str = "numpy",
    device=None,
    grid: str | PhaseGrid = "reduced",
) -> np.ndarray:
    """Audio whose STFT magnitude approximates ``magnitude``: phase reconstruction, ready to listen to.

    Parameters
    ----------
    magnitude : array (..., n_fft // 2 + 1, frames)
        Linear STFT magnitude in :mod:`riffnb.stft`'s convention, e.g. :func:`riffnb.mel.linear_from_mel`'s output.
    sample_rate, n_fft, hop_length, win_length : int
        The STFT it came from (periodic Hann window of ``win_length`` centred in ``n_fft``, centred frames).
    max_frequency : float, optional
        The highest frequency ``magnitude`` holds (Riffusion: 10000 Hz; the mel inversion is zero above it).
        Lets the iterations run at a reduced sample rate; anything above it may be dropped.
    length : int, optional
        Samples in the result (trimmed or zero-padded); default ``(frames - 1) * hop_length``.
    algorithm : {"fgla", "gla"}
        Fast Griffin-Lim with ``momentum``, or classic Griffin-Lim (momentum 0, ``momentum`` ignored).
    init : {"pghi", "random", "zeros"} or array
        Starting phase: Phase Gradient Heap Integration, uniform random, all zero, or a phase array (radians,
        shaped like ``magnitude``, :mod:`riffnb.stft`'s convention). ``init="pghi", n_iter=0`` is PGHI alone.
    n_iter : int
        Griffin-Lim iterations after the initial phase (0 allowed). The default, 16, is where PGHI + FGLA reaches
        its plateau; librosa and Riffusion run 32 from a random phase.
    momentum : float
        FGLA momentum in [0, 1) (librosa's and torchaudio's meaning; 0.99 is their default).
    seed : int, optional
        Seeds the random phase of ``init="random"``: the same seed, the same audio. (PGHI, the default, is
        deterministic: the same magnitude always gives the same audio.)
    callback : callable, optional
        ``callback(iteration, estimate, spectral_convergence)`` for ``iteration = 0 .. n_iter``: the signal after
        that many phase updates (0: the initial phase; ``n_iter``: the result) as a :class:`PhaseEstimate`
        (``estimate.audio()`` to hear it, ``estimate.stft`` to see it) and its spectral convergence in dB on the
        working grid. Return ``False`` to stop: that estimate's audio is then the result.
    backend : {"numpy", "torch"}
        scipy.fft on the CPU, or torch (:mod:`riffnb.phase_torch`; for GPU batches). PGHI runs on the CPU either way.
    device : str or torch.device, optional
        torch device (default: "cuda" when available, else "cpu"); only with ``backend="torch"``.
    grid : {"reduced", "full"} or PhaseGrid
        Where to iterate: ``"reduced"`` (default, :func:`plan_grid`'s defaults: an FFT of twice the window at the
        lowest rate that carries ``max_frequency``; fast, nearly the same quality), ``"full"`` (the caller's own
        grid, as librosa does), or any :func:`plan_grid` result for these parameters.

    Returns
    -------
    np.ndarray (..., length)
        float64 samples at ``sample_rate``, on the magnitude's scale (not normalised).

    Examples
    --------
    >>> from riffnb.stft import stft
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(44100) / 44100
    >>> x = np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t) + 0.01 * rng.normal(size=t.size)
    >>> S = np.abs(stft(x, 17640, 441, 4410))
    >>> y = reconstruct_audio(S, sample_rate=44100, n_fft=17640, hop_length=441, win_length=4410)
    >>> y.shape
    (44100,)
    >>> bool(spectral_convergence(S, np.abs(stft(y, 17640, 441, 4410))) < -20)
    True
    """
    sample_rate = positive_int("sample_rate", sample_rate)
    n_fft = positive_int("n_fft", n_fft)
    hop_length = positive_int("hop_length", hop_length)
    win_length = positive_int("win_length", win_length)
    if not hop_length <= win_length <= n_fft:
        raise RiffnbError(
            f"need hop_length <= win_length <= n_fft, got {hop_length}, {win_length}, {n_fft}; "
            "pass the parameters the spectrogram was made with"
        )
    magnitude = _checked_magnitude(magnitude, n_fft)
    if max_frequency is not None and not 0 < max_frequency <= sample_rate / 2:
        raise RiffnbError(
            f"max_frequency must be in (0, sample_rate / 2 = {sample_rate / 2:g}], got {max_frequency}; "
            "or None for no limit"
        )
    length = (magnitude.shape[-1] - 1) * hop_length if length is None else positive_int("length", length)
    if algorithm not in ALGORITHMS:
        raise RiffnbError(f"algorithm must be 'fgla' (fast Griffin-Lim) or 'gla' (Griffin-Lim), got {algorithm!r}")
    if isinstance(init, str):
        if init not in INITS:
            raise RiffnbError(f"init must be one of {', '.join(map(repr, INITS))} or a phase array, got {init!r}")
    elif np.shape(init) != magnitude.shape:
        raise RiffnbError(f"an init phase array must be shaped like magnitude {magnitude.shape}, got {np.shape(init)}")
    elif not np.isfinite(np.asarray(init, dtype=np.float64)).all():
        raise RiffnbError("the init phase array holds NaN or infinite values")
    if isinstance(n_iter, (bool, np.bool_)) or not isinstance(n_iter, (int, np.integer)) or n_iter < 0:
        raise RiffnbError(f"n_iter must be an integer >= 0, got {n_iter!r}")
    if not 0 <= momentum < 1:
        raise RiffnbError(f"momentum must be in [0, 1), got {momentum}; 0.99 is the usual choice for fast Griffin-Lim")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise RiffnbError(f"seed must be an integer >= 0 or None, got {seed!r}")
    if callback is not None and not callable(callback):
        raise RiffnbError(f"callback must be callable, got {type(callback).__name__}")
    if backend not in BACKENDS:
        raise RiffnbError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if device is not None and backend != "torch":
        raise RiffnbError("device only applies to backend='torch'; pass backend='torch' or drop device")

    if isinstance(grid, PhaseGrid):
        plan = grid
        if (plan.caller_sample_rate, plan.caller_n_fft, plan.caller_win_length) != (sample_rate, n_fft, win_length) or (
            plan.hop_length * sample_rate != hop_length * plan.sample_rate
        ):
            raise RiffnbError(
                "grid was planned for other STFT parameters; make it with "
                "plan_grid(sample_rate, n_fft, hop_length, win_length, ...) of this call"
            )
    elif isinstance(grid, str) and grid in GRIDS:
        full = grid == "full"
        plan = plan_grid(sample_rate, n_fft, hop_length, win_length, max_frequency,
                         fft_oversampling=None if full else 2, reduce_rate=not full)
    else:
        raise RiffnbError(f"grid must be 'reduced', 'full' or a PhaseGrid from plan_grid, got {grid!r}")
    # The operator first: it refuses too short a spectrogram before any work is done.
    lead_shape, n_frames = magnitude.shape[:-2], magnitude.shape[-1]
    if backend == "torch":
        from . import phase_torch

        operator = phase_torch.TorchStftOperator(
            plan.n_fft, plan.hop_length, plan.win_length, n_frames, lead_shape, device=device
        )
    else:
        operator = StftOperator(plan.n_fft, plan.hop_length, plan.win_length, n_frames, lead_shape)
    working = plan.magnitude_from(magnitude)
    phase_factor = initial_phase_factor(working, init, seed=seed, grid=plan)
    if backend == "torch":
        working, phase_factor = operator.to_device(working), operator.to_device(phase_factor)

    report = None
    if callback is not None:

        def report(iteration, rebuilt, samples, convergence):
            return callback(iteration, PhaseEstimate(rebuilt, samples, plan, length), convergence)

    samples = griffin_lim(
        working,
        working * phase_factor,
        operator=operator,
        n_iter=int(n_iter),
        momentum=0.0 if algorithm == "gla" else float(momentum),
        callback=report,
    )
    return _caller_audio(samples, plan, length)
