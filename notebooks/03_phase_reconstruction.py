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
# # 03 · Phase reconstruction: hearing a spectrogram
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/03_phase_reconstruction.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F03_phase_reconstruction.ipynb)
#
# Riffusion's images hold magnitudes only. To play one, a phase must be invented for every one of its
# 8821 × 513 STFT bins. This notebook shows why that is hard, how the classic algorithms solve it, and how much
# a good starting point is worth.
#
# **At the end of this notebook you will know**
#
# 1. why a magnitude spectrogram alone does not determine a sound, what a *consistent* spectrogram is, and
#    why Riffusion can throw the phase away at all;
# 2. the Griffin-Lim algorithm (alternating projections): you will write it in a few lines and check it against
#    riffnb's;
# 3. fast Griffin-Lim (Griffin-Lim with momentum) and why it converges faster;
# 4. Phase Gradient Heap Integration (PGHI), which computes a phase from the magnitude's gradients with no
#    iterations, and why a good initial phase beats many iterations;
# 5. how to score a reconstruction (spectral convergence, in dB) and how to compare reconstructions by ear.
#
# **You need** notebooks 01 (STFT, inverse STFT, spectral convergence) and 02 (Riffusion's images).
# Runs on a CPU in one to two minutes. On Binder (2 GB of memory), choose Kernel > Shut Down All Kernels before
# you open the next notebook: JupyterLab keeps every notebook's kernel, and its memory, alive.

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
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from riffnb.audio import resample
from riffnb.display import play, play_all
from riffnb.exercises import check_answer
from riffnb.image import spectrogram_from_image
from riffnb.params import SpectrogramParams, max_value_from_image
from riffnb.phase import (HANN_LAMBDA, StftOperator, griffin_lim_step, initial_phase_factor, pghi_phase,
                          plan_grid, reconstruct_audio, spectral_convergence)
from riffnb.plot import compare, plot_convergence, plot_spectrogram
from riffnb.spectrogram import audio_from_image, image_from_audio, spectrogram_from_audio
from riffnb.stft import istft, stft
from riffnb.synth import render

# %% [markdown]
# The demo clip of notebooks 01 and 02, its STFT $\mathcal{X}$ with Riffusion's settings, and the magnitude
# $S = \lvert\mathcal{X}\rvert$ that every algorithm below starts from.

# %%
params = SpectrogramParams()
sample_rate, N, H, L = params.sample_rate, params.n_fft, params.hop_length, params.win_length
demo = render("bossa_nova", {"chords": "electric_guitar", "bass": "bass", "drums": "drums"}, seed=0).samples
X = stft(demo, N, H, L)                          # (1, 8821, 513) complex
S = np.abs(X)                                    # what a spectrogram image keeps
length = demo.shape[-1]
stft_options = dict(sample_rate=sample_rate, n_fft=N, hop_length=H, win_length=L, length=length)
display(plot_spectrogram(S, params, fmax=5000, title="target magnitude S = |X|"))
play(demo, sample_rate, label="demo clip (the original)")

# %% [markdown]
# ## 1. Why phase matters
#
# Every STFT coefficient is a magnitude and a phase, $\mathcal{X}(m,k) = \lvert\mathcal{X}(m,k)\rvert\,
# e^{i\varphi(m,k)}$. Notebook 01 showed that the right magnitudes with a made-up phase sound wrong. Which of
# the two carries more of what we hear depends on the frame length. A classic experiment (Oppenheim & Lim,
# 1981): give clip A's magnitudes clip B's phases.
#
# - **One frame for the whole clip** (a single DFT of 5.12 s): the magnitude only says which frequencies occur
#   *somewhere* in the clip; *when* is encoded in the phase. The hybrid comes out closer to B.
# - **100 ms frames** (Riffusion's STFT): the frames already say when; inside one frame the phase matters much
#   less. The hybrid comes out closer to A. This is why a spectrogram image can drop the phase at all.
#
# "Closer" is measured here as the spectral convergence between mel spectrograms (lower is closer); listen
# to judge for yourself.

# %%
rock_clip = render("rock", seed=1)               # clip B: another style, tempo and key
rock = rock_clip.samples
print("B:", rock_clip.description.summary())
whole_A, whole_B = np.fft.rfft(demo), np.fft.rfft(rock)       # one DFT of all 225 792 samples
hybrid_whole = np.fft.irfft(np.abs(whole_A) * np.exp(1j * np.angle(whole_B)), n=length)
X_rock = stft(rock, N, H, L)
hybrid_stft = istft(S * np.exp(1j * np.angle(X_rock)), H, L, N, length=length)

mel_A, mel_B = spectrogram_from_audio(demo, sample_rate), spectrogram_from_audio(rock, sample_rate)
swap_scores = {}
for label, hybrid in (("one DFT of the whole clip", hybrid_whole), ("STFT, 100 ms frames", hybrid_stft)):
    mel_hybrid = spectrogram_from_audio(hybrid, sample_rate)
    swap_scores[label] = (spectral_convergence(mel_A, mel_hybrid), spectral_convergence(mel_B, mel_hybrid))
display(Markdown("| magnitude of A, phase of B | mel distance to A | mel distance to B |\n|---|---|---|\n"
                 + "\n".join(f"| {k} | {a:.1f} dB | {b:.1f} dB |" for k, (a, b) in swap_scores.items())))
display(compare({"A: bossa nova": mel_A, "B: rock": mel_B, "|A| with the phase of B, 100 ms frames":
                 spectrogram_from_audio(hybrid_stft, sample_rate)}, params=params))
play_all({"A": (demo, sample_rate), "B": (rock, sample_rate),
          "|A|, phase of B (whole clip)": (hybrid_whole, sample_rate),
          "|A|, phase of B (100 ms frames)": (hybrid_stft, sample_rate)})

# %% [markdown]
# ### Consistency
#
# Frames overlap (a 100 ms window every 10 ms), so neighbouring frames see the same samples and their
# coefficients depend on each other. The STFTs of all signals form a subspace $\mathcal{C}$ of all complex
# arrays of that shape: the **consistent** spectrograms. For an arbitrary array $Y$, the inverse STFT finds the
# signal whose STFT is closest to $Y$; going back, $P_\mathcal{C}(Y) = \mathrm{STFT}(\mathrm{ISTFT}(Y))$ is the
# closest consistent spectrogram, and its magnitude is *not* $S$ any more. Phase retrieval looks for a phase
# $\varphi$ that makes $S e^{i\varphi}$ consistent, scored by the spectral convergence of notebook 01:
#
# $$\mathrm{SC}(\hat x) = 20 \log_{10} \frac{\lVert S - \lvert\mathrm{STFT}(\hat x)\rvert \rVert_F}{\lVert S
#   \rVert_F}\ \text{dB}.$$
#
# With random phases, projecting once changes the magnitudes almost completely. Overlapping frames with
# unrelated phases cancel, so the result is about 15 dB too quiet (blue in the difference panel), and their
# energy spreads to where the target is silent, such as just before each attack (red):

# %%
random_start = np.exp(2j * np.pi * np.random.default_rng(0).random(S.shape))
projected = stft(istft(S * random_start, H, L, N, length=length), N, H, L)   # P_C(S e^{i phi})
random_phase_sc = spectral_convergence(S, np.abs(projected))
print(f"spectral convergence after one projection of S with random phase: {random_phase_sc:.1f} dB")
display(compare({"target S": S, "|P_C(S e^(i random))|": np.abs(projected)}, params=params, difference=True))
play_all({"original": (demo, sample_rate),
          "S with random phase, inverted": (istft(S * random_start, H, L, N, length=length), sample_rate)})

# %% [markdown]
# ## 2. Griffin-Lim
#
# Griffin & Lim (1984) alternate between the two things we want: the right magnitude and consistency. Start
# from any phase $\varphi_0$ and repeat
#
# $$x_j = \mathrm{ISTFT}\!\left(S\, e^{i\varphi_j}\right), \qquad
#   \varphi_{j+1} = \angle\, \mathrm{STFT}(x_j).$$
#
# Each step keeps the phase of the closest consistent spectrogram and puts the target magnitude back. Griffin
# and Lim proved that $\lVert S - \lvert\mathrm{STFT}(x_j)\rvert\rVert$ never increases. In numpy, on a smaller
# problem so that it runs in a blink (2 s at 22.05 kHz, 1024-sample frames, hop 256):

# %%
small_rate, n_fft, hop = 22050, 1024, 256
n_frames = 1 + 2 * small_rate // hop             # 2 s of audio
small_length = (n_frames - 1) * hop
small = resample(demo[0], sample_rate, small_rate)[:small_length]
S_small = np.abs(stft(small, n_fft, hop))        # (513 bins, 173 frames)
start = initial_phase_factor(S_small.astype(np.float32), "random", seed=0)    # riffnb's random start


def griffin_lim_by_hand(S, phase, n_iter, momentum=0.0):
    """Griffin-Lim as written above (momentum 0) or fast Griffin-Lim (section 3); the signal and SC per step."""
    previous, scores = None, []
    for _ in range(n_iter):
        x = istft(S * np.exp(1j * phase), hop, n_fft, n_fft, length=small_length)
        rebuilt = stft(x, n_fft, hop)            # P_C: the closest consistent spectrogram
        scores.append(spectral_convergence(S, np.abs(rebuilt)))
        direction = rebuilt if previous is None else rebuilt - momentum / (1 + momentum) * previous
        phase, previous = np.angle(direction), rebuilt
    return istft(S * np.exp(1j * phase), hop, n_fft, n_fft, length=small_length), scores


def griffin_lim_riffnb(S, n_iter, momentum=0.0):
    """The same iterations with riffnb.phase.griffin_lim_step (float32, pre-allocated buffers)."""
    S32 = S.astype(np.float32)
    operator = StftOperator(n_fft, hop, n_fft, n_frames=S.shape[-1])
    estimate, previous, scores = S32 * start, None, []
    for _ in range(n_iter):
        estimate, previous, _ = griffin_lim_step(S32, estimate, previous, operator=operator, momentum=momentum)
        scores.append(spectral_convergence(S32, np.abs(previous)))
    return operator.inverse(estimate), scores


x_by_hand, gla_scores_by_hand = griffin_lim_by_hand(S_small, np.angle(start), 20)
x_riffnb, gla_scores_riffnb = griffin_lim_riffnb(S_small, 20)
gla_by_hand_error = float(np.abs(x_by_hand - x_riffnb).max())
np.testing.assert_allclose(x_by_hand, x_riffnb, atol=1e-3 * np.abs(x_by_hand).max())
print(f"20 Griffin-Lim iterations: by hand and riffnb differ by at most {gla_by_hand_error:.1e} "
      f"(float32 rounding); SC {gla_scores_by_hand[-1]:.2f} dB by hand, {gla_scores_riffnb[-1]:.2f} dB riffnb")

# %% [markdown]
# Now at full size. `riffnb.phase.reconstruct_audio` runs the same iterations; its `callback` sees every
# iteration's estimate and score, so we can draw the convergence curve and listen along the way. (It iterates on
# an FFT of twice the window, 8820 points, sampling every 2nd bin of the 17 640-point grid: not the same phases,
# but about the same quality, much faster; `riffnb.phase`'s documentation explains why. The scores are measured
# there.)

# %%
def run(**options):
    """reconstruct_audio on S with the callback recording every iteration's SC, and audio at a few iterations."""
    scores, snapshots = [], {}

    def record(iteration, estimate, score):
        scores.append(score)
        if iteration in (0, 4, 32):
            snapshots[iteration] = estimate.audio()

    began = time.perf_counter()
    audio = reconstruct_audio(S, **stft_options, callback=record, **options)
    return audio, np.array(scores), snapshots, time.perf_counter() - began


gla_audio, gla_scores, gla_snapshots, gla_seconds = run(algorithm="gla", init="random", seed=0, n_iter=32)
print(f"Griffin-Lim, 32 iterations from random phase: {gla_scores[-1]:.1f} dB in {gla_seconds:.1f} s")
display(plot_convergence(gla_scores[1:], title="Griffin-Lim from a random phase"))
play_all([(gla_snapshots[i], sample_rate, f"Griffin-Lim, iteration {i}") for i in (0, 4, 32)]
         + [(demo, sample_rate, "original")])

# %% [markdown]
# It improves fast at first, then crawls: after 32 iterations the phase is still audibly off (listen to the
# attacks). It is not stuck, only slow, and slower the further it gets: on this clip (measured, not run here)
# 100 iterations reach about -23 dB and 1000 about -28 dB. Phase retrieval is not a convex problem, so
# Griffin-Lim's guarantee is only that it never gets worse, not that it finds the best phase.
#
# ## 3. Fast Griffin-Lim
#
# Perraudin, Balázs & Søndergaard (2013) add momentum, as in accelerated gradient methods: instead of the last
# projection $Z_j = P_\mathcal{C}(S e^{i\varphi_j})$ alone, extrapolate along the last change,
#
# $$\varphi_{j+1} = \angle\left(Z_j + \alpha\,(Z_j - Z_{j-1})\right) \quad\text{written as}\quad
#   \varphi_{j+1} = \angle\left(Z_j - \tfrac{\alpha}{1+\alpha}\, Z_{j-1}\right)$$
#
# in librosa, torchaudio and riffnb (the two are the same direction up to the factor $1 + \alpha$). With
# $\alpha = 0.99$ (everyone's default) the iterations overshoot in a useful way. In the hand-written loop above
# it is the `direction` line; checked against riffnb again:

# %%
x_by_hand, fgla_scores_by_hand = griffin_lim_by_hand(S_small, np.angle(start), 20, momentum=0.99)
x_riffnb, fgla_scores_riffnb = griffin_lim_riffnb(S_small, 20, momentum=0.99)
fgla_by_hand_error = float(np.abs(x_by_hand - x_riffnb).max())
np.testing.assert_allclose(x_by_hand, x_riffnb, atol=1e-3 * np.abs(x_by_hand).max())
print(f"20 fast Griffin-Lim iterations: by hand and riffnb differ by at most {fgla_by_hand_error:.1e}")
display(plot_convergence({"Griffin-Lim (by hand)": gla_scores_by_hand, "fast Griffin-Lim (by hand)":
                          fgla_scores_by_hand}, title="2 s at 22.05 kHz, 1024-point frames"))
play_all({"Griffin-Lim, 20 iterations": (griffin_lim_by_hand(S_small, np.angle(start), 20)[0], small_rate),
          "fast Griffin-Lim, 20 iterations": (x_by_hand, small_rate), "original (22.05 kHz)": (small, small_rate)})

# %% [markdown]
# At full size, 32 iterations each:

# %%
fgla_audio, fgla_scores, fgla_snapshots, fgla_seconds = run(init="random", seed=0, n_iter=32)
print(f"fast Griffin-Lim, 32 iterations from random phase: {fgla_scores[-1]:.1f} dB in {fgla_seconds:.1f} s")
display(plot_convergence({"Griffin-Lim": gla_scores[1:], "fast Griffin-Lim (momentum 0.99)": fgla_scores[1:]},
                         title="from the same random phase"))
play_all({"Griffin-Lim, 32": (gla_audio, sample_rate), "fast Griffin-Lim, 32": (fgla_audio, sample_rate),
          "original": (demo, sample_rate)})

# %% [markdown]
# ## 4. A better start: Phase Gradient Heap Integration
#
# Both algorithms start from noise. Could the magnitude itself tell us the phase? For a Gaussian window
# $g(t) = e^{-\pi t^2/\lambda}$ it can: the STFT's log-magnitude and phase are then the real and imaginary parts
# of one analytic function, so their derivatives are tied together (the Cauchy-Riemann equations). With the
# phase measured from each frame's centre, time $t$ in samples and frequency $\omega$ in cycles per sample:
#
# $$\frac{\partial\varphi}{\partial t} = \frac{1}{\lambda}\,\frac{\partial \log S}{\partial \omega} + 2\pi\omega
#   \qquad\text{(instantaneous frequency)},$$
#
# $$\frac{\partial\varphi}{\partial \omega} = -\lambda\,\frac{\partial \log S}{\partial t}
#   \qquad\text{(local group delay)}.$$
#
# A Hann window of $L$ samples behaves like a Gaussian with $\lambda = 0.25645\, L^2$ (Průša, Balázs &
# Søndergaard, 2017). PGHI computes both derivatives from finite differences of $\log S$ and integrates them
# into a phase, starting at the loudest coefficient and always continuing from the loudest coefficient already
# done (a max-heap), so that errors start where the estimate is most reliable. Quiet coefficients (below
# $10^{-5}$ of the maximum) carry no usable gradient and get phase 0. No iterations: one pass.

# %%
began = time.perf_counter()
phase = pghi_phase(S, n_fft=N, hop_length=H, win_length=L)   # radians, same shape as S
pghi_seconds = time.perf_counter() - began
pghi_audio = istft(S * np.exp(1j * phase), H, L, N, length=length)
pghi_sc = spectral_convergence(S, np.abs(stft(pghi_audio, N, H, L)))
lam = HANN_LAMBDA * L**2
print(f"lambda = {lam:.3g} samples^2: a Gaussian of standard deviation {np.sqrt(lam / (2 * np.pi)) / sample_rate * 1000:.0f} ms")
print(f"PGHI alone: {pghi_sc:.1f} dB in {pghi_seconds:.2f} s, versus {fgla_scores[-1]:.1f} dB for 32 fast "
      f"Griffin-Lim iterations from a random phase")
play_all({"PGHI alone (no iterations)": (pghi_audio, sample_rate), "fast Griffin-Lim, 32": (fgla_audio, sample_rate),
          "original": (demo, sample_rate)})

# %% [markdown]
# And PGHI as the starting point of fast Griffin-Lim (`init="pghi"`, riffnb's default, which stops at 16
# iterations). riffnb computes that PGHI on its 8820-point working grid, where it starts a little higher (worse)
# than PGHI alone on the full grid above; the dashed line marks the latter.

# %%
pghi_fgla_audio, pghi_fgla_scores, pghi_snapshots, pghi_fgla_seconds = run(init="pghi", n_iter=32)
curves = {"Griffin-Lim, random start": gla_scores, "fast Griffin-Lim, random start": fgla_scores,
          "fast Griffin-Lim, PGHI start": pghi_fgla_scores}
fig = plot_convergence({label: scores[1:] for label, scores in curves.items()}, title="phase reconstruction, 5.12 s")
ax = fig.axes[0]
ax.scatter([0] * len(curves), [scores[0] for scores in curves.values()], c=["C0", "C1", "C2"], marker="s")
ax.axhline(pghi_sc, color="C2", linestyle="--", linewidth=1, label=f"PGHI alone, full grid: {pghi_sc:.1f} dB")
ax.legend(fontsize="small")
ax.set_xlim(-1, 33)
ax.annotate("squares: the starting phase (iteration 0)", (0, pghi_fgla_scores[0]), (2, -30),
            arrowprops=dict(arrowstyle="->", color="0.4"), fontsize="small")
display(fig)
seconds = {"Griffin-Lim, random start": gla_seconds, "fast Griffin-Lim, random start": fgla_seconds,
           "fast Griffin-Lim, PGHI start": pghi_fgla_seconds}
display(Markdown("| method | after 0 | after 8 | after 16 | after 32 iterations | time for 32 |\n|---|---|---|---|---|---|\n"
                 + "\n".join(f"| {label} | " + " | ".join(f"{scores[i]:.1f} dB" for i in (0, 8, 16, 32))
                             + f" | {seconds[label]:.1f} s |" for label, scores in curves.items())))
play_all({"PGHI + 16 fast Griffin-Lim": (reconstruct_audio(S, **stft_options), sample_rate),
          "PGHI + 32 fast Griffin-Lim": (pghi_fgla_audio, sample_rate),
          "random + 32 fast Griffin-Lim": (fgla_audio, sample_rate), "original": (demo, sample_rate)})

# %% [markdown]
# **Initialisation matters more than iterations.** PGHI alone, in one pass, scores as well as more than a dozen
# fast Griffin-Lim iterations from noise (exercise 3 asks how many). Started from PGHI, fast Griffin-Lim reaches
# after 16 iterations a score the random start does not reach after 32, and it keeps improving faster.
#
# ## 5. Listening test: Riffusion's images
#
# Everything so far started from the exact magnitude $S$. A generated image gives less: 512 mel bands in 8 bits
# (notebook 02), which `riffnb.spectrogram.audio_from_image` turns into a linear magnitude before rebuilding the
# phase. Its keyword arguments pick the phase method. Four recipes on the demo clip's image:
#
# - **Riffusion's**: random phase + 32 fast Griffin-Lim iterations on Riffusion's own 17 640-point grid at
#   44.1 kHz (`grid="full"`: what torchaudio's `GriffinLim` does with Riffusion's settings, momentum 0.99; the
#   mel inversion before it is riffnb's, not Riffusion's slower SGD);
# - **classic**: random phase + 32 Griffin-Lim iterations;
# - **PGHI alone**;
# - **riffnb's default**: PGHI + 16 fast Griffin-Lim iterations.
#
# The last three run on riffnb's reduced working grid (section 6), which is most of the difference in time.
# Scores here compare the mel spectrogram of the result with the image's (all the image can ask for).

# %%
image = image_from_audio(demo, sample_rate)
image_mel = spectrogram_from_image(image, max_value=max_value_from_image(image))
recipes = {
    "Riffusion's: random + 32 fast Griffin-Lim": dict(init="random", n_iter=32, seed=0, grid="full"),
    "classic: random + 32 Griffin-Lim": dict(algorithm="gla", init="random", n_iter=32, seed=0),
    "PGHI alone": dict(init="pghi", n_iter=0),
    "riffnb's default: PGHI + 16 fast Griffin-Lim": {},
}
audio_from_image(image, n_iter=0)                # the first call factorises the mel filterbank (then cached)
from_image, image_scores, image_seconds = {}, {}, {}
for label, options in recipes.items():
    began = time.perf_counter()
    from_image[label] = audio_from_image(image, normalize=False, **options)[0]
    image_seconds[label] = time.perf_counter() - began
    image_scores[label] = spectral_convergence(image_mel, spectrogram_from_audio(from_image[label], sample_rate))
display(Markdown("| recipe | mel spectral convergence | time |\n|---|---|---|\n"
                 + "\n".join(f"| {label} | {image_scores[label]:.1f} dB | {image_seconds[label]:.1f} s |"
                             for label in recipes)))
for label in (list(recipes)[0], list(recipes)[-1]):
    display(compare({"the image's mel spectrogram": image_mel,
                     label.split(":")[0]: spectrogram_from_audio(from_image[label], sample_rate)},
                    params=params, difference=True))
play_all([(audio, sample_rate, label) for label, audio in from_image.items()])

# %% [markdown]
# ### A blind test
#
# Three clips in a shuffled order: the original, Riffusion's recipe and riffnb's default. Listen (headphones
# help) and answer the two questions in section 7. The order is fixed by `blind_seed`; change it for a new
# shuffle.

# %%
blind_seed = 2024
blind_clips = {"the original": demo, "Riffusion's recipe": from_image[list(recipes)[0]],
               "riffnb's default": from_image[list(recipes)[-1]]}
_order = np.random.default_rng(blind_seed).permutation(len(blind_clips))
_blind = {"ABC"[position]: list(blind_clips)[index] for position, index in enumerate(_order)}
play_all([(blind_clips[_blind[letter]], sample_rate, f"clip {letter}") for letter in "ABC"])

# %% [markdown]
# ## 6. Where the time goes
#
# Each iteration is one inverse STFT and one STFT: two FFTs per frame. riffnb makes them cheaper without
# changing what they compute where it matters: an image holds nothing above 10 kHz, so the iterations can run
# at a lower sample rate, and a 4410-sample window needs an FFT of only twice its length. `plan_grid` picks
# that working grid:

# %%
grid = plan_grid(sample_rate, N, H, L, max_frequency=params.max_frequency)
print(f"Riffusion's grid: {sample_rate} Hz, FFT {N}, window {L}, hop {H}")
print(f"riffnb's working grid: {grid.sample_rate} Hz, FFT {grid.n_fft}, window {grid.win_length}, hop {grid.hop_length}: "
      f"the same {S.shape[-1]} frames, each FFT {N / grid.n_fft:.1f}x shorter")

# %% [markdown]
# ### Try it yourself (optional)
#
# The phase explorer runs any algorithm, start and number of iterations, then lets you scrub through the
# iterations: spectrogram, convergence curve and sound of each. Press **Run** (a few seconds).

# %%
from riffnb.widgets import PhaseExplorer

PhaseExplorer(demo, sample_rate)

# %% [markdown]
# ## 7. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 1.** A reconstruction scores $-20$ dB. What fraction of the target's energy $\lVert S\rVert_F^2$ is
# the energy of the error $\lVert S - \hat S\rVert_F^2$? (A number between 0 and 1.)

# %%
error_energy_fraction = None  # ✏️ your answer

# Check: a magnitude with exactly that error.
_target = np.ones(100)
_expected = float(np.sum((_target - _target * (1 - 10 ** (-20 / 20))) ** 2) / np.sum(_target**2))
check_answer(error_energy_fraction, _expected, rtol=0.01,
             hint="20 log10 of a ratio of norms; the energy ratio is that ratio squared.");

# %% [markdown]
# **Exercise 2.** What is the spectral convergence, in dB, of a silent reconstruction (all zeros)?

# %%
silence_sc_db = None  # ✏️ your answer in dB

# Check: score silence against S.
_expected = spectral_convergence(S, np.zeros_like(S))
check_answer(silence_sc_db, _expected, atol=0.01, hint="the error is then S itself.");

# %% [markdown]
# **Exercise 3.** Read it off the convergence plot of section 4: how many fast Griffin-Lim iterations from a
# random phase does it take to score as well as PGHI alone (no iterations; the dashed line)? (Within 2
# iterations.)

# %%
iterations_to_match_pghi = None  # ✏️ your answer: a whole number

# Check: the first iteration at which the random start's curve reaches PGHI's score (the dashed line).
_reached = np.flatnonzero(fgla_scores <= pghi_sc)
_expected = int(_reached[0]) if _reached.size else len(fgla_scores)
check_answer(iterations_to_match_pghi, _expected, atol=2,
             hint="find where the orange curve crosses the dashed line, PGHI's score printed in section 4.");

# %% [markdown]
# **Exercise 4.** For Riffusion's 4410-sample Hann window, what is PGHI's $\lambda$ in samples²? (To 1 %.)

# %%
pghi_lambda = None  # ✏️ your answer in samples^2

# Check: riffnb's constant for Hann windows.
_expected = HANN_LAMBDA * 4410**2
check_answer(pghi_lambda, _expected, rtol=0.01, hint="lambda = 0.25645 L^2.");

# %% [markdown]
# **Exercise 5 (blind test).** Which clip, A, B or C, is the original? And which is Riffusion's recipe?

# %%
original_is = None  # ✏️ your answer: "A", "B" or "C"
riffusion_recipe_is = None  # ✏️ your answer: "A", "B" or "C"

# Check against the shuffle (the answers are not printed).
for _question, _answer, _truth in (("the original", original_is, "the original"),
                                   ("Riffusion's recipe", riffusion_recipe_is, "Riffusion's recipe")):
    print(f"{_question}: ", end="")
    check_answer(_answer, next(_letter for _letter, _clip in _blind.items() if _clip == _truth),
                 hint="Listen again: attacks, hi-hats and the bass.")

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
whole, framed = swap_scores["one DFT of the whole clip"], swap_scores["STFT, 100 ms frames"]
assert whole[1] < whole[0] and framed[0] < framed[1] - 2, swap_scores   # whole clip: B wins; frames: A wins
assert random_phase_sc > -5, random_phase_sc
assert gla_by_hand_error < 1e-3 and fgla_by_hand_error < 1e-3, (gla_by_hand_error, fgla_by_hand_error)
assert np.all(np.diff(gla_scores_by_hand) < 1e-3), "Griffin-Lim's score never increases"
assert fgla_scores_by_hand[-1] < gla_scores_by_hand[-1] - 1, (fgla_scores_by_hand[-1], gla_scores_by_hand[-1])
assert fgla_scores[32] < gla_scores[32] - 3, (fgla_scores[32], gla_scores[32])
assert pghi_sc < fgla_scores[0] - 10 and abs(pghi_sc - pghi_fgla_scores[0]) < 3, (pghi_sc, pghi_fgla_scores[0])
assert pghi_fgla_scores[16] < fgla_scores[32] - 1 and pghi_fgla_scores[32] < fgla_scores[32] - 5, (
    pghi_fgla_scores[16], pghi_fgla_scores[32], fgla_scores[32])
default, riffusion = image_scores[list(recipes)[-1]], image_scores[list(recipes)[0]]
assert default < riffusion < image_scores["classic: random + 32 Griffin-Lim"], image_scores
print("✓ all of this notebook's checks passed")
