import numpy as np
import pytest
import scipy.signal

from riffnb.errors import RiffnbError
from riffnb.mel import linear_from_mel, mel_filterbank, mel_from_linear
from riffnb.phase import (
    PhaseEstimate,
    StftOperator,
    griffin_lim_step,
    initial_phase_factor,
    pghi_phase,
    plan_grid,
    reconstruct_audio,
    spectral_convergence,
)
from riffnb.stft import istft, stft

SR, N_FFT, HOP, WIN = 44100, 17640, 441, 4410
RIFFUSION = dict(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, win_length=WIN)


def plucked(freq, n, rng, decay=0.995):
    """A Karplus-Strong string: a noise burst through a comb filter with an averaging loop."""
    period = int(round(SR / freq))
    burst = np.zeros(n)
    burst[:period] = rng.uniform(-1, 1, period)
    feedback = np.zeros(period + 2)
    feedback[[0, period, period + 1]] = 1.0, -decay / 2, -decay / 2
    return scipy.signal.lfilter([1.0], feedback, burst)


@pytest.fixture(scope="module")
def music():
    """1.6 s of plucked notes, a bass line and noise-burst drums, band-limited to 8 kHz like an image's content."""
    rng = np.random.default_rng(7)
    n = int(1.6 * SR)
    x = np.zeros(n)
    for i, freq in enumerate([220.0, 277.2, 329.6, 440.0, 329.6, 277.2]):
        start = i * n // 6
        x[start:] += 0.4 * plucked(freq, n - start, rng)
    t = np.arange(n) / SR
    x += 0.3 * scipy.signal.sawtooth(2 * np.pi * 55 * t) * np.exp(-2 * (t % 0.4))
    for start in range(0, n, n // 4):
        burst = rng.normal(size=4000) * np.exp(-np.arange(4000) / 600)
        x[start : start + 4000] += 0.3 * burst[: n - start]
    x = scipy.signal.sosfiltfilt(scipy.signal.butter(10, 8000, fs=SR, output="sos"), x)
    return x / np.abs(x).max()


@pytest.fixture(scope="module")
def magnitude(music):
    return np.abs(stft(music, N_FFT, HOP, WIN))


@pytest.fixture(scope="module")
def image_magnitude(magnitude):
    """The image path's input: a mel spectrogram inverted back to a linear magnitude (zero above 10 kHz)."""
    filterbank = mel_filterbank(SR, N_FFT, 512, 0, 10000)
    return linear_from_mel(mel_from_linear(magnitude, filterbank), filterbank)


def linear_score(magnitude, audio):
    return spectral_convergence(magnitude, np.abs(stft(audio, N_FFT, HOP, WIN)))


def mel_score(mel_target, audio):
    """Mel spectral convergence after the best gain (what the image path is judged by)."""
    filterbank = mel_filterbank(SR, N_FFT, 512, 0, 10000)
    mel = mel_from_linear(np.abs(stft(audio, N_FFT, HOP, WIN)), filterbank)
    return spectral_convergence(mel_target, mel * (mel * mel_target).sum() / (mel * mel).sum())


def collect_scores(**kwargs):
    scores = []
    reconstruct_audio(**kwargs, callback=lambda iteration, estimate, score: scores.append(score))
    return scores


# --- spectral convergence -------------------------------------------------------------------------------------


def test_spectral_convergence_is_the_relative_frobenius_error_in_db():
    S = np.arange(12.0).reshape(3, 4)
    estimate = S + np.random.default_rng(0).normal(size=S.shape)
    expected = 20 * np.log10(np.linalg.norm(S - estimate) / np.linalg.norm(S))
    assert spectral_convergence(S, estimate) == pytest.approx(expected)
    assert spectral_convergence(S, S) == -np.inf
    assert spectral_convergence(np.zeros(3), np.zeros(3)) == -np.inf
    assert spectral_convergence(np.zeros(3), np.ones(3)) == np.inf
    with pytest.raises(RiffnbError, match="same shape"):
        spectral_convergence(S, S[:2])


# --- the STFT operator ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_fft, hop, win", [(N_FFT, HOP, WIN), (4480, 224, 2240), (2048, 300, 1000)])
def test_operator_matches_the_reference_stft_pair(music, n_fft, hop, win):
    frames = 1 + music.size // hop
    x = music[: (frames - 1) * hop]
    op = StftOperator(n_fft, hop, win, frames)
    reference = stft(x, n_fft, hop, win)
    assert np.abs(op.forward(x) - reference).max() < 1e-5 * np.abs(reference).max()
    assert np.abs(op.inverse(reference) - istft(reference, hop, win, n_fft, length=x.size)).max() < 1e-5


def test_window_grid_is_the_full_grid_sampled_every_fourth_bin(music):
    """The identity the reduced grid rests on: bins 4k of the zero-padded DFT are the window-length DFT's bins k,
    up to the linear phase of where the window sits in the buffer."""
    grid = plan_grid(SR, N_FFT, HOP, WIN, fft_oversampling=1, reduce_rate=False)
    full = stft(music, N_FFT, HOP, WIN)
    window_grid = stft(music, grid.n_fft, HOP, WIN)
    assert grid.bin_step == 4 and window_grid.shape[-2] == grid.n_bins
    assert np.allclose(np.abs(full[::4]), np.abs(window_grid), atol=1e-9 * np.abs(full).max())
    moved = np.exp(1j * grid.phase_from(np.angle(full)))
    assert np.allclose(np.abs(full[::4]) * moved, window_grid, atol=1e-6 * np.abs(full).max())


def test_reduced_grid_keeps_frame_times_and_bin_frequencies():
    grid = plan_grid(SR, N_FFT, HOP, WIN, max_frequency=10000)
    assert grid.sample_rate < SR and 10000 <= 0.9 * grid.sample_rate / 2
    assert grid.hop_length / grid.sample_rate == HOP / SR  # same frame times
    assert grid.sample_rate / grid.n_fft == grid.bin_step * SR / N_FFT  # bin k is the caller's bin k * bin_step
    assert plan_grid(SR, N_FFT, HOP, WIN).sample_rate == SR  # no max_frequency, no resampling


# --- convergence ------------------------------------------------------------------------------------------------


def test_griffin_lim_never_gets_worse(magnitude):
    scores = collect_scores(magnitude=magnitude, **RIFFUSION, max_frequency=10000, algorithm="gla", init="random",
                            n_iter=12, seed=0)
    assert len(scores) == 13
    assert all(later <= earlier + 0.01 for earlier, later in zip(scores, scores[1:]))
    assert scores[-1] < scores[0] - 5


def test_fast_griffin_lim_beats_griffin_lim_at_equal_iterations(magnitude):
    common = dict(magnitude=magnitude, **RIFFUSION, max_frequency=10000, init="random", n_iter=16, seed=0)
    gla = collect_scores(algorithm="gla", **common)
    fgla = collect_scores(algorithm="fgla", **common)
    assert gla[0] == fgla[0]  # same start
    assert fgla[-1] < gla[-1] - 2
    assert fgla[-1] < fgla[0] - 10  # momentum may wobble, but it converges


def test_pghi_start_beats_random_start(magnitude):
    common = dict(magnitude=magnitude, **RIFFUSION, max_frequency=10000, n_iter=4, seed=0)
    pghi = collect_scores(init="pghi", **common)
    random = collect_scores(init="random", **common)
    zeros = collect_scores(init="zeros", **common)
    assert pghi[0] < -12 and random[0] > -6 and zeros[0] > -6  # PGHI alone is already a reconstruction
    assert pghi[-1] < random[-1] - 3
    assert pghi[-1] < zeros[-1] - 3


def test_pghi_alone_reconstructs_a_chirp():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * (200 * t + 300 * t**2))
    S = np.abs(stft(x, 2048, 256, 2048))
    phase = pghi_phase(S, n_fft=2048, hop_length=256, win_length=2048)
    y = istft(S * np.exp(1j * phase), 256, 2048, 2048, length=x.size)
    assert spectral_convergence(S, np.abs(stft(y, 2048, 256, 2048))) < -20
    random = np.random.default_rng(0).uniform(-np.pi, np.pi, S.shape)
    y_random = istft(S * np.exp(1j * random), 256, 2048, 2048, length=x.size)
    assert spectral_convergence(S, np.abs(stft(y_random, 2048, 256, 2048))) > -8


def test_reduced_grid_matches_full_grid_quality_on_the_image_path(magnitude, image_magnitude):
    filterbank = mel_filterbank(SR, N_FFT, 512, 0, 10000)
    mel_target = mel_from_linear(magnitude, filterbank)
    common = dict(magnitude=image_magnitude, **RIFFUSION, max_frequency=10000, n_iter=8, seed=0)
    reduced = mel_score(mel_target, reconstruct_audio(**common))
    full = mel_score(mel_target, reconstruct_audio(grid="full", **common))
    assert reduced < -15 and abs(reduced - full) < 1.0


def test_true_phase_as_init_gives_back_the_signal(music, magnitude):
    """An explicit phase array is read in riffnb.stft's convention, also when moved to the reduced grid."""
    phase = np.angle(stft(music, N_FFT, HOP, WIN))
    full = reconstruct_audio(magnitude, **RIFFUSION, init=phase, n_iter=0, grid="full", length=music.size)
    assert np.abs(full - music).max() < 1e-5
    reduced = reconstruct_audio(magnitude, **RIFFUSION, max_frequency=10000, init=phase, n_iter=0, length=music.size)
    # Exact but for the resampler: its filter tails at the two ends, and its transition band.
    assert np.abs(reduced - music)[100:-100].max() < 2e-3


# --- callback, seeds, silence, lengths --------------------------------------------------------------------------


def test_callback_sees_every_iteration_and_can_stop(magnitude):
    seen = []

    def watch(iteration, estimate, score):
        seen.append((iteration, estimate, score))
        return iteration < 3

    y = reconstruct_audio(magnitude, **RIFFUSION, max_frequency=10000, n_iter=10, seed=0, callback=watch)
    assert [iteration for iteration, _, _ in seen] == [0, 1, 2, 3]
    iteration, last, score = seen[-1]
    assert isinstance(last, PhaseEstimate)
    assert np.array_equal(last.audio(), y)  # stopping returns the estimate the callback saw
    assert last.audio().shape == y.shape == ((magnitude.shape[-1] - 1) * HOP,)
    # The score reported is the score of that estimate's audio (on the working grid, close to the full one).
    assert abs(linear_score(magnitude, last.audio()) - score) < 1.5

    everything = collect_scores(magnitude=magnitude, **RIFFUSION, max_frequency=10000, n_iter=6, seed=0)
    assert len(everything) == 7 and everything[-1] < everything[0]


def test_seed_makes_results_reproducible(magnitude):
    common = dict(magnitude=magnitude, **RIFFUSION, max_frequency=10000, n_iter=3, init="random")
    assert np.array_equal(reconstruct_audio(seed=5, **common), reconstruct_audio(seed=5, **common))
    assert not np.allclose(reconstruct_audio(seed=5, **common), reconstruct_audio(seed=6, **common))
    pghi = dict(common, init="pghi")  # deterministic with or without a seed: same image, same audio
    assert np.array_equal(reconstruct_audio(**pghi), reconstruct_audio(**pghi))


@pytest.mark.parametrize("init", ["pghi", "random", "zeros"])
@pytest.mark.parametrize("grid", ["reduced", "full"])
def test_silence_gives_silence_not_nan(init, grid):
    y = reconstruct_audio(np.zeros((N_FFT // 2 + 1, 40)), **RIFFUSION, max_frequency=10000, init=init, n_iter=3,
                          grid=grid)
    assert y.shape == (39 * HOP,) and np.isfinite(y).all() and not y.any()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_magnitude_projection_of_an_exact_zero_is_zero(backend):
    """A loud target bin whose estimate is exactly 0 has no phase to keep: 0, not NaN (0 * inf)."""
    magnitude = np.full((65, 20), 4e6, dtype=np.float32)
    rebuilt = np.zeros((65, 20), dtype=np.complex64)
    rebuilt[:, ::2] = 3 - 4j
    if backend == "torch":
        from riffnb.phase_torch import TorchStftOperator

        op = TorchStftOperator(128, 32, 128, 20, device="cpu")
        projected = op.apply_phase(op.to_device(magnitude), op.to_device(rebuilt), None, 0.99).numpy()
    else:
        projected = StftOperator(128, 32, 128, 20).apply_phase(magnitude, rebuilt, None, 0.99)
    assert np.isfinite(projected).all() and not projected[:, 1::2].any()
    assert np.allclose(projected[:, ::2], 4e6 * (0.6 - 0.8j))


def test_tiny_model_parameters_reconstruct_without_nan():
    """16 kHz, 64 mel bands up to Nyquist (the test model's parameters): PGHI then FGLA stays finite."""
    from riffnb.params import SpectrogramParams
    from riffnb.spectrogram import spectrogram_from_audio
    from riffnb.synth import render_demo_clip

    params = SpectrogramParams(sample_rate=16000, num_frequencies=64, max_frequency=8000)
    mel = spectrogram_from_audio(render_demo_clip(1.0, 16000), 16000, params)
    filterbank = mel_filterbank(16000, params.n_fft, 64, 0, 8000)
    linear = linear_from_mel(mel, filterbank)
    y = reconstruct_audio(linear, sample_rate=16000, n_fft=params.n_fft, hop_length=params.hop_length,
                          win_length=params.win_length, max_frequency=8000, n_iter=4)
    assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_length_trims_or_pads_and_channels_lead(magnitude):
    stereo = np.stack([magnitude, 0.5 * magnitude])
    y = reconstruct_audio(stereo, **RIFFUSION, max_frequency=10000, n_iter=2, seed=0, length=50000)
    assert y.shape == (2, 50000)
    assert np.allclose(y[1], 0.5 * y[0], atol=1e-3 * np.abs(y).max())  # channels are independent, same phase
    longer = reconstruct_audio(magnitude, **RIFFUSION, n_iter=0, seed=0, length=(magnitude.shape[-1] + 5) * HOP)
    assert not longer[-5 * HOP :].any()


def test_griffin_lim_step_by_hand_equals_reconstruct_audio(magnitude):
    grid = plan_grid(SR, N_FFT, HOP, WIN, max_frequency=10000)
    working = grid.magnitude_from(magnitude)
    start = np.random.default_rng(3).uniform(-np.pi, np.pi, magnitude.shape)
    op = StftOperator(grid.n_fft, grid.hop_length, grid.win_length, working.shape[-1])
    estimate, previous = working * initial_phase_factor(working, start, grid=grid), None
    for _ in range(3):
        estimate, previous, samples = griffin_lim_step(working, estimate, previous, operator=op)
    by_hand = op.inverse(estimate)
    captured = []
    reconstruct_audio(magnitude, **RIFFUSION, max_frequency=10000, init=start, n_iter=3, grid=grid,
                      callback=lambda i, estimate, score: captured.append(estimate))
    assert np.allclose(captured[-1].working_samples, by_hand, atol=1e-4 * np.abs(by_hand).max())


# --- torch backend ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", ["reduced", "full"])
def test_torch_backend_agrees_with_numpy(magnitude, grid):
    batch = np.stack([magnitude, magnitude[::-1] * (np.arange(magnitude.shape[0]) < 3000)[:, None]])
    start = np.random.default_rng(0).uniform(-np.pi, np.pi, batch.shape)
    common = dict(magnitude=batch, **RIFFUSION, max_frequency=10000, init=start, n_iter=6, grid=grid)
    with_numpy = reconstruct_audio(**common)
    with_torch = reconstruct_audio(backend="torch", device="cpu", **common)
    assert with_torch.shape == with_numpy.shape == (2, (magnitude.shape[-1] - 1) * HOP)
    assert np.abs(with_torch - with_numpy).max() < 1e-4 * np.abs(with_numpy).max()


def test_torch_backend_calls_back_with_tensors(magnitude):
    import torch

    seen = []
    reconstruct_audio(magnitude, **RIFFUSION, max_frequency=10000, n_iter=2, backend="torch", device="cpu",
                      callback=lambda i, estimate, score: seen.append((estimate, score)))
    assert len(seen) == 3 and isinstance(seen[0][0].stft, torch.Tensor)
    assert seen[-1][0].audio().shape == ((magnitude.shape[-1] - 1) * HOP,) and np.isfinite(seen[-1][1])


# --- mistakes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(magnitude=np.zeros((100, 40))), "8821"),
        (dict(magnitude=np.zeros((8821, 40), dtype=complex)), "np.abs"),
        (dict(magnitude=-np.ones((8821, 40))), "negative"),
        (dict(magnitude=np.full((8821, 40), np.nan)), "NaN"),
        (dict(magnitude=np.ones((8821, 5))), "too few"),
        (dict(algorithm="adam"), "fgla"),
        (dict(init="noise"), "pghi"),
        (dict(init=np.zeros((3, 3))), "shaped like magnitude"),
        (dict(n_iter=-1), "n_iter"),
        (dict(n_iter=2.5), "n_iter"),
        (dict(momentum=1.5), "momentum"),
        (dict(seed="x"), "seed"),
        (dict(seed=-1, init="random"), "seed must be an integer >= 0"),
        (dict(callback=3), "callable"),
        (dict(backend="jax"), "backend"),
        (dict(device="cpu"), "backend='torch'"),
        (dict(backend="torch", device="abacus"), "not a torch device"),
        (dict(grid="tiny"), "grid"),
        (dict(max_frequency=30000), "max_frequency"),
        (dict(win_length=20000), "win_length"),
        (dict(hop_length=0), "hop_length"),
        (dict(length=0), "length"),
        (dict(grid=plan_grid(22050, 1024, 256, 1024)), "other STFT parameters"),
        (dict(grid=plan_grid(SR, N_FFT, 2 * HOP, WIN)), "other STFT parameters"),
    ],
)
def test_mistakes_are_explained(change, message):
    arguments = dict(magnitude=np.ones((8821, 40)), **RIFFUSION, max_frequency=10000, n_iter=1)
    arguments.update(change)
    with pytest.raises(RiffnbError, match=message):
        reconstruct_audio(**arguments)
