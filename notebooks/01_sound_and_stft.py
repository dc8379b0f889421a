# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Sound, sampling and the short-time Fourier transform
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/01_sound_and_stft.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F01_sound_and_stft.ipynb)
#
# Riffusion makes music by drawing a picture of it: a spectrogram. This notebook builds that picture from the
# ground up, starting with what a digital sound is.
#
# **At the end of this notebook you will know**
#
# 1. how a computer stores sound: samples, the sample rate, the Nyquist frequency and aliasing;
# 2. what the discrete Fourier transform (DFT) measures, and which frequency in Hz each DFT bin stands for;
# 3. why we cut sound into windowed frames (the short-time Fourier transform, STFT), and how window length, hop
#    size and FFT size trade time resolution against frequency resolution;
# 4. Riffusion's STFT settings (44.1 kHz, 100 ms Hann window, 10 ms hop, 17 640-point FFT) and why a 5.12 s clip
#    becomes 513 frames of 8821 frequency bins;
# 5. that the STFT can be inverted exactly, but only together with its phase, which a spectrogram image throws
#    away (notebook 03 gets it back).
#
# **You need** numpy and a little complex arithmetic ($e^{i\theta} = \cos\theta + i\sin\theta$).
# Every figure has its units on its axes, and every spectrogram has a player next to it: listen as you look.
# Runs on a CPU in about a minute. On Binder (2 GB of memory), choose Kernel > Shut Down All Kernels before you
# open the next notebook: JupyterLab keeps every notebook's kernel, and its memory, alive.

# %%
# Setup: on Colab (or wherever riffnb is not installed yet) install it from the course repository.
REPO_URL = "https://github.com/OWNER/riffnb"  # <- the course repository (OWNER is a placeholder)

import importlib.util
import subprocess
import sys

if importlib.util.find_spec("riffnb") is None:  # pip of this kernel's Python, as %pip would
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"riffnb @ git+{REPO_URL}"], check=True)
if "google.colab" in sys.modules:
    from google.colab import output

    output.enable_custom_widget_manager()  # riffnb's explorers are third-party widgets

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from riffnb.display import play, play_all
from riffnb.exercises import check_answer
from riffnb.params import SpectrogramParams
from riffnb.phase import spectral_convergence
from riffnb.plot import plot_spectrogram, plot_waveform
from riffnb.stft import frame_signal, get_window, istft, stft
from riffnb.synth import midi_to_hz, render, render_note

# %% [markdown]
# ## 1. Sound as a sequence of numbers
#
# A microphone turns air pressure into a voltage $x(t)$ that varies with time $t$. A computer keeps only its
# values at equally spaced instants, the **samples**
#
# $$x(n) = x\!\left(\frac{n}{F_s}\right), \qquad n = 0, 1, 2, \dots$$
#
# where $F_s$ is the **sample rate** in hertz (samples per second). CDs and Riffusion use $F_s = 44\,100$ Hz.
# The simplest sound is a sinusoid of frequency $f$ (Hz), amplitude $A$ and phase $\varphi$:
#
# $$x(n) = A \sin\!\left(2\pi f \frac{n}{F_s} + \varphi\right).$$
#
# Samples are numbers between $-1$ and $1$ (full scale). Here is the note A4, $f = 440$ Hz, at $A = 0.3$.

# %%
sample_rate = 44100                              # F_s, samples per second
t = np.arange(sample_rate) / sample_rate         # 1 s of sample times, in seconds
a4 = 0.3 * np.sin(2 * np.pi * 440.0 * t)         # A4: 440 Hz, amplitude 0.3

fig, axes = plt.subplots(1, 2, figsize=(11, 3), layout="constrained")
plot_waveform(a4, sample_rate, ax=axes[0], title="1 s of a 440 Hz sine: too dense to see")
first = t < 0.005                                # the first 5 ms: 2.2 periods, 220 samples
axes[1].plot(1000 * t[first], a4[first], color="0.6", linewidth=0.8)
axes[1].plot(1000 * t[first], a4[first], ".", markersize=3)
axes[1].set(xlabel="time (ms)", ylabel="amplitude", title="the first 5 ms: each dot is one sample")
plt.show()
play(a4, sample_rate, label="440 Hz sine, amplitude 0.3")

# %% [markdown]
# ### Sampling has a speed limit: the Nyquist frequency
#
# Between two samples anything could happen, so a sample rate $F_s$ can only represent frequencies below the
# **Nyquist frequency** $F_s / 2$. A sinusoid above it is not lost: it is *folded back* and turns up as a lower
# frequency. For $0 < f < F_s$, because $\sin(2\pi n - \theta) = -\sin\theta$ for whole numbers $n$,
#
# $$\sin\!\left(2\pi (F_s - f)\frac{n}{F_s}\right) = -\sin\!\left(2\pi f \frac{n}{F_s}\right):$$
#
# the samples of $F_s - f$ are those of $f$, upside down. This is **aliasing**. At $F_s = 8000$ Hz a 5000 Hz
# tone gives exactly the samples of a 3000 Hz tone (with the sign flipped), so it *is* a 3000 Hz tone.

# %%
low_rate = 8000
n = np.arange(low_rate)                          # 1 s at 8 kHz
tone_5000 = 0.3 * np.sin(2 * np.pi * 5000 * n / low_rate)
tone_3000 = 0.3 * np.sin(2 * np.pi * 3000 * n / low_rate)
np.testing.assert_allclose(tone_5000, -tone_3000, atol=1e-9)   # the same samples, sign flipped

dense = np.linspace(0, 0.002, 2000)              # a "continuous" time axis for the first 2 ms
fig, ax = plt.subplots(figsize=(9, 3), layout="constrained")
ax.plot(1000 * dense, 0.3 * np.sin(2 * np.pi * 5000 * dense), linewidth=0.8, label="5000 Hz (what was played)")
ax.plot(1000 * dense, -0.3 * np.sin(2 * np.pi * 3000 * dense), linewidth=0.8, label="3000 Hz, inverted (the alias)")
ax.plot(1000 * n[:17] / low_rate, tone_5000[:17], "ko", markersize=4, label="samples at 8 kHz")
ax.set(xlabel="time (ms)", ylabel="amplitude", ylim=(-0.35, 0.5), title="two frequencies, one set of samples")
ax.legend(loc="upper center", ncol=3, fontsize="small")
plt.show()
play_all({"5000 Hz sampled at 8 kHz": (tone_5000, low_rate), "3000 Hz sampled at 8 kHz": (tone_3000, low_rate)})

# %% [markdown]
# At 44.1 kHz the Nyquist frequency is 22 050 Hz, above what most adults hear. Lowering a sample rate must first
# remove everything above the new Nyquist frequency, or it folds back; `riffnb.audio.resample` filters before it
# resamples.
#
# ### A piece of music
#
# `riffnb.synth` composes and plays short clips itself, so this course needs no downloads. The demo clip is
# 5.12 s of bossa nova on electric guitar, bass and percussion: exactly one Riffusion image long.

# %%
demo_clip = render("bossa_nova", {"chords": "electric_guitar", "bass": "bass", "drums": "drums"}, seed=0)
demo = demo_clip.samples                         # (channels, samples) = (1, 225792), floats in [-1, 1]
print(demo_clip.description.summary())
print(f"{demo.shape[-1]} samples at {demo_clip.sample_rate} Hz = {demo.shape[-1] / demo_clip.sample_rate:.2f} s")
display(plot_waveform(demo, sample_rate, title="the demo clip"))
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# The waveform shows *when* things are loud (each bass note and drum hit is a bump) but not *which* notes are
# playing. For that we need frequencies.
#
# ## 2. The discrete Fourier transform
#
# The DFT of $N$ samples $x(0), \dots, x(N-1)$ compares them with complex sinusoids of $k$ cycles per $N$
# samples:
#
# $$X(k) = \sum_{n=0}^{N-1} x(n)\, e^{-2\pi i k n / N}, \qquad k = 0, 1, \dots, N-1.$$
#
# - $\lvert X(k)\rvert$, the **magnitude**, says how much of that frequency the samples hold; $\angle X(k)$, the
#   **phase**, says where in its cycle that sinusoid is at $n = 0$.
# - Bin $k$ makes $k$ cycles in $N$ samples, that is $k$ cycles in $N / F_s$ seconds, so it stands for
#   $$F_\mathrm{coef}(k) = \frac{k \, F_s}{N} \ \text{Hz}.$$
# - For real signals $X(N - k) = \overline{X(k)}$, so the bins $k = 0, \dots, N/2$ say everything: $N/2 + 1$ of
#   them, from 0 Hz to the Nyquist frequency.
#
# Written out literally, the formula is one matrix product. This `dft` is slow ($N^2$ multiplications) but it is
# the definition; below it is checked against riffnb's STFT on one frame of a piano note.

# %%
def dft(x):
    """X(k) for k = 0 .. N/2, exactly as the formula above: one complex sinusoid per row."""
    N = len(x)
    n = np.arange(N)
    k = np.arange(N // 2 + 1)[:, None]
    return np.exp(-2j * np.pi * k * n / N) @ x


piano = render_note("piano", 69, duration_s=1.0)  # MIDI note 69 = A4 = 440 Hz, (1, samples)
frame_size, frame_hop = 2048, 512
frame = frame_signal(piano[0], frame_size, frame_hop)[20]      # the frame centred on sample 20 * 512
by_hand = dft(frame * get_window("hann", frame_size))          # windowed (section 3 says why)
by_riffnb = stft(piano[0], n_fft=frame_size, hop_length=frame_hop)[:, 20]
np.testing.assert_allclose(by_hand, by_riffnb, atol=1e-9 * np.abs(by_riffnb).max())
print(f"the hand-written DFT matches riffnb.stft.stft on frame 20 ({frame_size} samples, {frame_size // 2 + 1} bins)")

# %% [markdown]
# Now the same note with Riffusion's frame: 4410 samples (100 ms) padded to $N = 17\,640$, so bins are
# $F_s / N = 2.5$ Hz apart. A piano note is a stack of **partials**; on an ideal string they would sit at
# $440, 880, 1320, \dots$ Hz (dotted lines). A real piano string is stiff, which stretches its upper partials
# slightly sharp: look at the 9th, 10th and 11th.

# %%
params = SpectrogramParams()                     # Riffusion's settings
N, H, L = params.n_fft, params.hop_length, params.win_length
piano_spectrum = stft(piano[0], N, H, L)         # (8821 bins, frames)
frequencies = np.arange(N // 2 + 1) * sample_rate / N          # F_coef(k) in Hz
level_db = 20 * np.log10(np.abs(piano_spectrum[:, 25]) / np.abs(piano_spectrum[:, 25]).max() + 1e-12)

fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
ax.plot(frequencies, level_db, linewidth=0.8)
for harmonic in range(1, 12):
    ax.axvline(harmonic * midi_to_hz(69), color="0.5", linestyle=":", linewidth=0.8)
ax.set(xlim=(0, 5000), ylim=(-90, 3), xlabel="frequency (Hz)", ylabel="level (dB re max)",
       title="one frame (t = 0.25 s) of a piano A4; dotted: multiples of 440 Hz")
plt.show()
play(piano, sample_rate, label="piano A4")

# %% [markdown]
# **Exercise 1.** At Riffusion's settings ($F_s = 44\,100$ Hz, $N = 17\,640$), which bin $k$ holds 1000 Hz?

# %%
bin_of_1000_hz = None  # ✏️ your answer: a whole number

# Check: play a 1000 Hz tone through the STFT and see which bin is loudest (the answer is not printed).
_loudest = int(np.abs(stft(np.sin(2 * np.pi * 1000 * t), N, H, L)).mean(axis=-1).argmax())
check_answer(bin_of_1000_hz, _loudest, hint="solve F_coef(k) = k F_s / N = 1000 for k.");

# %% [markdown]
# ## 3. Windows: why the frame is tapered
#
# The DFT sees only $N$ samples. Cutting them out of a longer signal multiplies it by a **window** $w(n)$, and
# multiplying in time is convolving in frequency: every sinusoid shows up in the spectrum as a copy of the
# window's own spectrum $W$, centred on its frequency. A window of $L$ samples has a **main lobe** (how wide a
# pure tone looks) and **side lobes** (how far its energy *leaks* into other bins).
#
# - The rectangular window (just cutting, $w(n) = 1$) has the narrowest main lobe, $\pm F_s / L$, but side lobes
#   only 13 dB down: a loud note hides quiet ones nearby.
# - The Hann window $w(n) = \tfrac12 - \tfrac12 \cos(2\pi n / L)$, $n = 0, \dots, L-1$, which Riffusion uses,
#   tapers to zero at both ends. Its main lobe is twice as wide, $\pm 2F_s/L$ (20 Hz for $L = 4410$), and its
#   side lobes are 31 dB down and fall off fast.
#
# `riffnb.stft.get_window` places the $L$-sample window in the middle of the $N$-sample FFT buffer; the zeros
# around it only sample $W$ more finely.

# %%
window_spectra = {}
for label, name in (("rectangular", "boxcar"), ("Hann (Riffusion)", "hann")):
    W = np.abs(np.fft.rfft(get_window(name, L, N)))
    window_spectra[label] = 20 * np.log10(W / W[0] + 1e-12)
offsets = np.arange(N // 2 + 1) * sample_rate / N              # Hz away from the tone

# The first zeros: 10 Hz (rectangular) and 20 Hz (Hann), bins 4 and 8 at 2.5 Hz per bin.
hann_first_zero_hz = offsets[np.argmax(np.diff(window_spectra["Hann (Riffusion)"]) > 0)]
hann_sidelobe_db = window_spectra["Hann (Riffusion)"][offsets > hann_first_zero_hz].max()
rect_first_zero_hz = offsets[np.argmax(np.diff(window_spectra["rectangular"]) > 0)]
rect_sidelobe_db = window_spectra["rectangular"][offsets > rect_first_zero_hz].max()

fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
for label, spectrum in window_spectra.items():
    ax.plot(offsets, spectrum, linewidth=1, label=label)
ax.set(xlim=(0, 120), ylim=(-100, 3), xlabel="distance from the tone's frequency (Hz)", ylabel="level (dB re peak)",
       title=f"window spectra, L = {L} samples (100 ms)")
ax.legend()
plt.show()
print(f"rectangular: main lobe to {rect_first_zero_hz:g} Hz, highest side lobe {rect_sidelobe_db:.1f} dB")
print(f"Hann:        main lobe to {hann_first_zero_hz:g} Hz, highest side lobe {hann_sidelobe_db:.1f} dB")

# %% [markdown]
# ## 4. The short-time Fourier transform
#
# Music changes over time, so we take DFTs of short, overlapping, windowed frames. With window $w$ (length $L$,
# centred in an $N$-sample buffer) and **hop** $H$ samples between frames, frame $m$ centred on sample $mH$:
#
# $$\mathcal{X}(m, k) = \sum_{n=0}^{N-1} x\!\left(n + mH - \tfrac{N}{2}\right) w(n)\, e^{-2\pi i k n / N}.$$
#
# Frame $m$ stands for the time $T_\mathrm{coef}(m) = mH / F_s$ seconds and bin $k$ for $F_\mathrm{coef}(k) =
# kF_s/N$ Hz. To centre frame 0 on the first sample, the signal is extended by $N/2$ samples at both ends by
# reflection (as torch.stft, which Riffusion uses, does); a signal of $n$ samples then has
# $1 + \lfloor n / H \rfloor$ frames.
#
# Riffusion's settings, from `SpectrogramParams` (durations in ms, as Riffusion writes them):

# %%
rows = [
    ("sample rate $F_s$", f"{params.sample_rate} Hz"),
    ("window length $L$", f"{params.window_duration_ms} ms = {L} samples (Hann)"),
    ("hop $H$", f"{params.step_size_ms} ms = {H} samples: {params.sample_rate // H} frames per second"),
    ("FFT size $N$", f"{params.padded_duration_ms} ms = {N} samples: {N // 2 + 1} bins, "
                     f"{params.sample_rate / N:g} Hz apart"),
]
display(Markdown("| quantity | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)))

# %% [markdown]
# The STFT is three steps: cut frames, multiply by the window, take the DFT of each. Written with numpy's FFT
# (the fast algorithm for the same $X(k)$), it agrees with `riffnb.stft.stft`:

# %%
frames = frame_signal(demo[0], N, H)             # (frames, N): reflect-padded, frame m centred on sample m*H
X_by_hand = np.fft.rfft(frames * get_window("hann", L, N), axis=-1).T
X = stft(demo, N, H, L)                          # (channels, N/2 + 1 bins, frames)
np.testing.assert_allclose(X_by_hand, X[0], atol=1e-9 * np.abs(X).max())
riffusion_shape = X.shape
bin_spacing_hz = sample_rate / N
frames_per_second = sample_rate / H
print(f"STFT of the demo: {riffusion_shape} = (channels, frequency bins, frames)")
del frames, X_by_hand                            # 150 MB we no longer need

# %% [markdown]
# Its magnitude $\lvert\mathcal{X}(m,k)\rvert$, drawn with time across and frequency up, is the **spectrogram**.
# Colour is the level in decibels (section 6). Horizontal lines are sustained notes and their partials; vertical
# lines are drum hits, which contain many frequencies at once.

# %%
display(plot_spectrogram(np.abs(X), params, scale="linear", fmax=5000,
                         title="demo clip: STFT magnitude (Riffusion's settings)"))
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ## 5. Time or frequency: pick one
#
# A frame of $L$ samples lasts $L / F_s$ seconds, and its main lobe is $\pm 2F_s/L$ Hz wide (Hann). Their
# product is fixed: a window cannot be short in time *and* narrow in frequency (the time-frequency uncertainty
# principle). Compare three windows on the same clip:
#
# - **10 ms**: drum hits are sharp vertical lines, but notes are smeared over 400 Hz: no harmonics visible.
# - **100 ms** (Riffusion): partials of the bass and the guitar chords separate; onsets blur by about 0.1 s.
# - **400 ms**: the finest frequency detail, but notes bleed into each other in time.

# %%
windows = {
    "10 ms window, 5 ms hop": SpectrogramParams(window_duration_ms=10, step_size_ms=5, padded_duration_ms=40),
    "100 ms window (Riffusion)": params,
    "400 ms window": SpectrogramParams(window_duration_ms=400, padded_duration_ms=400),
}
fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), layout="constrained", sharey=True)
for ax, (label, p) in zip(axes, windows.items()):
    magnitude = np.abs(stft(demo, p.n_fft, p.hop_length, p.win_length))
    plot_spectrogram(magnitude, p, scale="linear", fmax=2000, ax=ax, title=label, colorbar=ax is axes[-1])
    print(f"{label:26s}: {magnitude.shape[-2]:5d} bins x {magnitude.shape[-1]} frames")
plt.show()
play(demo, sample_rate, label="demo clip (all three pictures are of this)")

# %% [markdown]
# ### Zero-padding samples the spectrum more finely; it does not sharpen it
#
# Riffusion pads its 4410-sample window to $N = 17\,640$: bins 2.5 Hz apart instead of 10 Hz. The padded
# DFT adds no information: every 4th bin of it *is* the unpadded DFT (the same sum; only the phase reference
# moves), and the bins in between interpolate. Check on the whole demo clip:

# %%
X_unpadded = stft(demo, n_fft=L, hop_length=H, win_length=L)  # N = L = 4410: 2206 bins, 10 Hz apart
np.testing.assert_allclose(np.abs(X[:, ::4, :]), np.abs(X_unpadded), atol=1e-9 * np.abs(X).max())
print(f"every 4th bin of the padded STFT {X.shape} equals the unpadded STFT {X_unpadded.shape} in magnitude")

# %% [markdown]
# Why pad, then? Riffusion's lowest mel bands (notebook 02) are only about 4 Hz apart: with 10 Hz bins several
# of them would see no bin at all.
#
# ### Try it yourself (optional)
#
# The STFT explorer recomputes the spectrogram and the inverse STFT as you move the sliders. It needs a live
# kernel (widgets do not render in a static preview such as GitHub's).

# %%
from riffnb.widgets import STFTExplorer

STFTExplorer(demo, sample_rate)

# %% [markdown]
# ## 6. Decibels
#
# Magnitudes in music span many orders of magnitude: a loud bass partial can be 10 000 times larger than a quiet
# cymbal overtone. Drawn linearly (left), only the loudest partials show. Hearing is closer to logarithmic, so
# we draw the **level** in decibels relative to the maximum,
#
# $$\mathrm{level}(m, k) = 20 \log_{10} \frac{\lvert\mathcal{X}(m,k)\rvert}{\max \lvert\mathcal{X}\rvert} \
# \text{dB},$$
#
# floored at $-80$ dB (right). A factor of 10 in magnitude is 20 dB, a factor of 2 is about 6 dB. Riffusion's
# images use a different compression, a power of 1/4 (notebook 02), for the same reason.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
plot_spectrogram(np.abs(X), params, scale="linear", fmax=5000, db=False, ax=axes[0], title="linear magnitude")
plot_spectrogram(np.abs(X), params, scale="linear", fmax=5000, ax=axes[1], title="level in dB")
plt.show()
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ## 7. Back to sound: the inverse STFT, and the missing phase
#
# Each frame's inverse DFT gives back the windowed samples $y_m(n) = x(n + mH - N/2)\,w(n)$. Overlap-adding them,
# weighted by the window once more and divided by the summed squared windows, recovers $x$ exactly wherever the
# windows overlap:
#
# $$x(n) = \frac{\sum_m w\!\left(n - mH + \tfrac N2\right)\, y_m\!\left(n - mH + \tfrac N2\right)}
#               {\sum_m w^2\!\left(n - mH + \tfrac N2\right)}.$$
#
# With a 100 ms window and a 10 ms hop every sample is covered by 10 frames: `riffnb.stft.istft` is exact.

# %%
reconstructed = istft(X, H, L, N, length=demo.shape[-1])
istft_error = float(np.abs(reconstructed - demo).max())
print(f"largest difference between the demo and istft(stft(demo)): {istft_error:.1e}")
play_all({"original": (demo, sample_rate), "istft(stft(original))": (reconstructed, sample_rate)})

# %% [markdown]
# A spectrogram image keeps only the magnitude $\lvert\mathcal{X}\rvert$. What if we invert it with a made-up
# phase? Both guesses below have *exactly* the right magnitude in every bin, yet they sound wrong:
#
# - **zero phase at each frame's centre**: every frame becomes a symmetric click in the middle of its window,
#   so we hear a buzz at the frame rate, 100 Hz. (riffnb, torch and librosa measure phase from the start of the
#   $N$-sample buffer; the window's centre sits $N/2$ samples later, where a cosine of bin $k$ has phase
#   $-2\pi k \frac{N/2}{N} = -\pi k$. So "zero phase at the centre" is the factor $e^{-i\pi k} = (-1)^k$.)
# - **random phase**: neighbouring frames no longer line up; they partly cancel (the result is much quieter) and
#   smear into a reverberant, "phasey" wash.
#
# The STFT has 8821 × 513 complex numbers for 225 792 samples: about 40 real numbers per sample. Most arrays of
# that shape are therefore not the STFT of any signal. The inverse STFT finds the closest signal, whose own STFT
# magnitude then differs from the one we asked for. **Spectral convergence** measures by how much:
#
# $$\mathrm{SC} = 20 \log_{10} \frac{\big\lVert\, \lvert\mathcal{X}\rvert - \lvert\mathrm{STFT}(\hat x)\rvert
# \,\big\rVert_F}{\big\lVert\, \lvert\mathcal{X}\rvert \,\big\rVert_F} \ \text{dB}$$
#
# (lower is better; 0 dB is no better than silence).

# %%
magnitude = np.abs(X)
centred_zero_phase = (-1.0) ** np.arange(N // 2 + 1)[:, None]    # (-1)^k for every bin k, every frame
random_phase = np.exp(2j * np.pi * np.random.default_rng(0).random(X.shape))
zero_phase_audio = istft(magnitude * centred_zero_phase, H, L, N, length=demo.shape[-1])
random_phase_audio = istft(magnitude * random_phase, H, L, N, length=demo.shape[-1])
zero_phase_sc = spectral_convergence(magnitude, np.abs(stft(zero_phase_audio, N, H, L)))
random_phase_sc = spectral_convergence(magnitude, np.abs(stft(random_phase_audio, N, H, L)))
print(f"spectral convergence, zero phase:   {zero_phase_sc:6.1f} dB")
print(f"spectral convergence, random phase: {random_phase_sc:6.1f} dB")
play_all({"original": (demo, sample_rate),
          "magnitude + zero phase": (zero_phase_audio, sample_rate),
          "magnitude + random phase": (random_phase_audio, sample_rate)})

# %% [markdown]
# Notebook 03 finds phases that make a magnitude consistent (Griffin-Lim and its successors). First, notebook 02
# shows what else Riffusion does to the magnitude before it becomes a picture.
#
# ## 8. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 2.** How many STFT frames does Riffusion compute for a 2.00 s clip (with centred frames)?

# %%
frames_in_two_seconds = None  # ✏️ your answer: a whole number

# Check: the STFT of 2 s of silence, with Riffusion's settings.
_expected = stft(np.zeros(2 * sample_rate), N, H, L).shape[-1]
check_answer(frames_in_two_seconds, _expected,
             hint="frames are centred on samples 0, H, 2H, ..., up to sample n (reflection supplies what lies past "
                  "the end): 1 + floor(n / H).");

# %% [markdown]
# **Exercise 3.** A 7000 Hz sinusoid is sampled at $F_s = 10\,000$ Hz. What frequency (Hz) do you hear?

# %%
heard_frequency_hz = None  # ✏️ your answer in Hz

# Check: the loudest bin of the sampled tone (N = F_s gives bins exactly 1 Hz apart).
_tone = np.sin(2 * np.pi * 7000 * np.arange(10000) / 10000)
_expected = float(np.abs(stft(_tone, n_fft=10000, hop_length=2500)).mean(axis=-1).argmax())
check_answer(heard_frequency_hz, _expected, atol=1, hint="frequencies above F_s / 2 fold back: F_s - f.");

# %% [markdown]
# **Exercise 4.** The magnitude spectrogram of the demo clip holds how many numbers per audio sample? (To 1 %.)
# Compare: the complex STFT holds twice as many.

# %%
numbers_per_sample = None  # ✏️ your answer

# Check: count them.
_expected = np.abs(X).size / demo.shape[-1]
check_answer(numbers_per_sample, _expected, rtol=0.01,
             hint="(N/2 + 1) bins per frame, one frame per hop of H samples.");

# %% [markdown]
# **Exercise 5.** With a Hann window, two tones closer than about the main lobe's half-width, $2F_s/L$, merge
# into one peak. Riffusion's window gives 20 Hz. What half-width (Hz) would a 50 ms Hann window give?

# %%
half_width_50ms_hz = None  # ✏️ your answer in Hz

# Check: find the first zero of a 50 ms Hann window's spectrum, as in section 3.
_W = np.abs(np.fft.rfft(get_window("hann", int(0.05 * sample_rate), N)))
_expected = float(np.argmax(np.diff(_W) > 0) * sample_rate / N)
check_answer(half_width_50ms_hz, _expected, atol=0.5, hint="halve the window, and the main lobe doubles.");

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
assert riffusion_shape == (1, 8821, 513), riffusion_shape
assert (bin_spacing_hz, frames_per_second) == (2.5, 100.0), (bin_spacing_hz, frames_per_second)
assert istft_error < 1e-10, istft_error
assert (rect_first_zero_hz, hann_first_zero_hz) == (10.0, 20.0), (rect_first_zero_hz, hann_first_zero_hz)
assert -14 < rect_sidelobe_db < -13 and -33 < hann_sidelobe_db < -31, (rect_sidelobe_db, hann_sidelobe_db)
assert zero_phase_sc > -10 and random_phase_sc > -10, (zero_phase_sc, random_phase_sc)
print("✓ all of this notebook's checks passed")
