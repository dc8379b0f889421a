"""Phase reconstruction: riffnb's default against librosa's Griffin-Lim on the same spectrogram image.

The target (issue "phase-reconstruction suite"): turning a 512x512 Riffusion image into audio with riffnb's
default (mel inversion + ``reconstruct_audio``) must be at least 8x faster than the pseudo-inverse mel inversion +
``librosa.griffinlim(n_iter=32, momentum=0.99)`` that tutorials use, with equal or better spectral convergence of
the result's mel spectrogram against the image's.

The inputs are three 5.12 s clips rendered by riffnb.synth (the demo bossa nova, a rock band, a piano ballad),
made into 512x512 images with ``image_from_audio``; riffnb runs the default ``audio_from_image`` on the image and
the baseline runs on the mel spectrogram that image decodes to, so both start from exactly what a diffusion
model's picture gives.
Quality is the mel spectral convergence between the decoded image and the mel spectrogram of the reconstructed
audio (same STFT and filterbank), after the best gain, since reconstructions are normalised downstream.

Both are timed in the same run, alternately, after a warm-up (librosa's and riffnb's numba kernels compile or load
from cache on first use, and the mel inversion factorises its filterbank once; those one-off costs are printed
separately). Times are the best of ``--repeats`` runs: the machine may be shared, and the minimum is the least
disturbed measurement. Then a table of each algorithm, start and iteration
count on the full grid and on the reduced grid.

Run:  .venv/bin/python benchmarks/bench_phase.py [--repeats 3] [--no-table]
"""

from __future__ import annotations

import argparse
import time
import typing as T

import numpy as np

from riffnb.image import spectrogram_from_image
from riffnb.mel import linear_from_mel, mel_filterbank, mel_from_linear
from riffnb.params import max_value_from_image
from riffnb.phase import plan_grid, reconstruct_audio, spectral_convergence
from riffnb.spectrogram import INT16_SCALE, audio_from_image, image_from_audio
from riffnb.stft import stft
from riffnb.synth import render, render_demo_clip

from benchlib import positive_int  # benchmarks/, first on sys.path when this script runs

if T.TYPE_CHECKING:
    from PIL import Image

SR, N_FFT, HOP, WIN, MAX_FREQUENCY = 44100, 17640, 441, 4410, 10000
STFT = dict(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, win_length=WIN, max_frequency=MAX_FREQUENCY)


def benchmark_images() -> dict[str, "Image.Image"]:
    """512x512 Riffusion images of clips riffnb synthesizes: the demo bossa nova, a rock band and a piano ballad."""
    clips = {
        "bossa nova (demo)": render_demo_clip(5.12, SR),
        "rock": render("rock", duration_s=5.12, sample_rate=SR, seed=1).samples,
        "piano ballad": render("ballad", duration_s=5.12, sample_rate=SR, seed=2).samples,
    }
    return {name: image_from_audio(clip, SR).crop((0, 0, 512, 512)) for name, clip in clips.items()}


def image_mel(image: "Image.Image") -> np.ndarray:
    """The mel spectrogram (512 x 512) the image decodes to, as audio_from_image sees it."""
    return spectrogram_from_image(image, max_value=max_value_from_image(image))[0].astype(np.float64)


def mel_convergence(mel_target: np.ndarray, audio: np.ndarray, filterbank: np.ndarray) -> float:
    """Mel spectral convergence (dB) of ``audio`` against ``mel_target``, after the least-squares gain."""
    mel = mel_from_linear(np.abs(stft(audio, N_FFT, HOP, WIN)), filterbank)[:, : mel_target.shape[1]]
    gain = (mel * mel_target).sum() / max((mel * mel).sum(), 1e-300)
    return spectral_convergence(mel_target, gain * mel)


def best_time(function, repeats: int):
    """(fastest wall time of ``repeats`` calls, the last result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def cpu_time(function) -> float:
    """CPU seconds of one call, all threads together: less sensitive to other users of the machine than wall time."""
    start = time.process_time()
    function()
    return time.process_time() - start


def librosa_baseline(mel: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    import librosa

    linear = linear_from_mel(mel, filterbank)
    return librosa.griffinlim(linear, n_iter=32, momentum=0.99, hop_length=HOP, win_length=WIN, n_fft=N_FFT,
                              window="hann", center=True, random_state=0)


def riffnb_default(image: "Image.Image") -> np.ndarray:
    """What a user calls: the default audio_from_image (unnormalised, so levels compare)."""
    return audio_from_image(image, normalize=False)[0][0] * INT16_SCALE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed runs per contender (best is reported)")
    parser.add_argument("--no-table", action="store_true", help="only the headline comparison")
    args = parser.parse_args()

    filterbank = mel_filterbank(SR, N_FFT, 512, 0, MAX_FREQUENCY)
    images = benchmark_images()
    print(f"input: {len(images)} clips of 5.12 s rendered by riffnb.synth -> 512x512 images (Riffusion's parameters)")

    import librosa

    first_mel = image_mel(next(iter(images.values())))
    start = time.perf_counter()
    librosa.griffinlim(np.ones((N_FFT // 2 + 1, 30)), n_iter=1, hop_length=HOP, win_length=WIN, n_fft=N_FFT)
    print(f"warm-up: librosa first call {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    linear_from_mel(first_mel, filterbank)
    print(f"warm-up: mel inversion's one-off factorisation {time.perf_counter() - start:.2f} s (cached for both)")
    start = time.perf_counter()
    riffnb_default(next(iter(images.values())).crop((0, 0, 40, 512)))
    print(f"warm-up: riffnb first call {time.perf_counter() - start:.2f} s "
          "(numba kernels: compiled on the very first call ever, then loaded from the on-disk cache)")

    print()
    print("| clip | baseline wall (s) | riffnb wall (s) | speed-up | baseline CPU (s) | riffnb CPU (s) "
          "| baseline mel SC (dB) | riffnb mel SC (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    speedups, differences = [], []
    for name, image in images.items():
        mel = image_mel(image)
        # Alternate the contenders so that both see the same background load.
        baseline_times, ours_times = [], []
        for _ in range(args.repeats):
            seconds, baseline_audio = best_time(lambda: librosa_baseline(mel, filterbank), 1)
            baseline_times.append(seconds)
            seconds, ours_audio = best_time(lambda: riffnb_default(image), 1)
            ours_times.append(seconds)
        baseline_time, ours_time = min(baseline_times), min(ours_times)
        baseline_cpu = cpu_time(lambda: librosa_baseline(mel, filterbank))
        ours_cpu = min(cpu_time(lambda: riffnb_default(image)) for _ in range(args.repeats))
        baseline_sc = mel_convergence(mel, baseline_audio, filterbank)
        ours_sc = mel_convergence(mel, ours_audio, filterbank)
        speedups.append(baseline_time / ours_time)
        differences.append(ours_sc - baseline_sc)
        print(f"| {name} | {baseline_time:.3f} | {ours_time:.3f} | {speedups[-1]:.1f}x | {baseline_cpu:.3f} "
              f"| {ours_cpu:.3f} | {baseline_sc:.2f} | {ours_sc:.2f} |")
    grid = plan_grid(SR, N_FFT, HOP, WIN, MAX_FREQUENCY)
    print(f"\nbaseline: pinv mel inversion + librosa.griffinlim(n_iter=32, momentum=0.99); riffnb: the default "
          f"audio_from_image (mel inversion, PGHI + FGLA-16 at {grid.sample_rate} Hz with a {grid.n_fft}-point FFT)")
    print(f"speed-up: {min(speedups):.1f}x at the least (target >= 8x); mel SC {max(differences):+.2f} dB against "
          "the baseline at the worst (target <= 0)")

    if args.no_table:
        return
    mel = first_mel
    linear = linear_from_mel(mel, filterbank)
    window_grid = plan_grid(SR, N_FFT, HOP, WIN, MAX_FREQUENCY, fft_oversampling=1)
    rows = [
        ("full", "gla", "random", 32),
        ("full", "fgla", "random", 32),
        ("full", "fgla", "pghi", 0),
        ("full", "fgla", "pghi", 8),
        ("full", "fgla", "pghi", 16),
        ("reduced", "gla", "random", 32),
        ("reduced", "fgla", "random", 32),
        ("reduced", "fgla", "pghi", 0),
        ("reduced", "fgla", "pghi", 4),
        ("reduced", "fgla", "pghi", 8),
        ("reduced", "fgla", "pghi", 16),
        ("reduced", "fgla", "pghi", 32),
        ("window", "fgla", "random", 32),
        ("window", "fgla", "pghi", 16),
    ]
    print("\nPhase reconstruction alone (mel inversion excluded), one run each; 'reduced' = FFT of 2x the window "
          f"at {grid.sample_rate} Hz, 'window' = FFT of 1x the window at {window_grid.sample_rate} Hz, "
          "'full' = 17640-point FFT at 44100 Hz")
    print("| grid | algorithm | start | iterations | time (s) | mel SC (dB) |")
    print("|---|---|---|---|---|---|")
    for grid_name, algorithm, init, n_iter in rows:
        chosen = window_grid if grid_name == "window" else grid_name
        seconds, audio = best_time(
            lambda: reconstruct_audio(linear, **STFT, algorithm=algorithm, init=init, n_iter=n_iter, seed=0,
                                      grid=chosen), 1)
        print(f"| {grid_name} | {algorithm.upper()} | {init} | {n_iter} | {seconds:.3f} | "
              f"{mel_convergence(mel, audio, filterbank):.2f} |", flush=True)


if __name__ == "__main__":
    main()
