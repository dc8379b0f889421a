# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Mel spectrograms and Riffusion's images
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/02_mel_and_images.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F02_mel_and_images.ipynb)
#
# Notebook 01 ended with an STFT magnitude of 8821 frequency bins × 513 frames. Riffusion's model draws
# 512 × 512 grey images. This notebook follows the magnitude down to the pixels and back up to sound, and
# listens to what each step costs.
#
# **At the end of this notebook you will know**
#
# 1. the mel scale, $m = 2595 \log_{10}(1 + f/700)$, and why frequency bands for music are spaced like it;
# 2. how a mel filterbank pools 8821 STFT bins into 512 mel bands, as one matrix product;
# 3. exactly how Riffusion turns a mel spectrogram into an 8-bit image (normalise, power 1/4, invert,
#    truncate, flip) and what the image's EXIF block stores;
# 4. what each step loses: everything above 10 kHz, detail inside each mel band, quiet levels below the 8-bit
#    floor, and the phase;
# 5. how to undo the mel scale (minimum-norm least squares) and hear a spectrogram image.
#
# **You need** notebook 01 (STFT, bins, decibels) and matrix products. Runs on a CPU in about a minute. On Binder
# (2 GB of memory), choose Kernel > Shut Down All Kernels before you open the next notebook: JupyterLab keeps
# every notebook's kernel, and its memory, alive.

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
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from PIL import Image

from riffnb.display import play, play_all
from riffnb.exercises import check_answer
from riffnb.image import image_from_spectrogram, load_image, save_image, spectrogram_from_image
from riffnb.mel import hz_to_mel, linear_from_mel, mel_filterbank, mel_frequencies, mel_from_linear, mel_to_hz
from riffnb.params import ExifTags, SpectrogramParams, max_value_from_image, params_from_image
from riffnb.phase import spectral_convergence
from riffnb.plot import compare, plot_filterbank, plot_image, plot_spectrogram
from riffnb.spectrogram import INT16_SCALE, audio_from_image, image_from_audio, spectrogram_from_audio
from riffnb.stft import istft, stft
from riffnb.synth import note_name, render
from riffnb.train.corpus import TINY_PARAMS

# %% [markdown]
# The same 5.12 s demo clip as in notebook 01, and its STFT with Riffusion's settings.

# %%
params = SpectrogramParams()                     # Riffusion's settings
sample_rate, N, H, L = params.sample_rate, params.n_fft, params.hop_length, params.win_length
band = {"chords": "electric_guitar", "bass": "bass", "drums": "drums"}
demo = render("bossa_nova", band, seed=0).samples              # (1, 225792) in [-1, 1]
X = stft(demo, N, H, L)                          # (1, 8821 bins, 513 frames), complex
frequencies = np.arange(N // 2 + 1) * sample_rate / N          # bin k -> k F_s / N Hz
display(plot_spectrogram(np.abs(X), params, scale="linear", title="demo clip: STFT magnitude, 0 to 22 kHz"))
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ## 1. The mel scale
#
# We hear pitch by ratios: every doubling of frequency is an octave, whether 110 → 220 Hz or 1760 → 3520 Hz.
# Equal steps in Hz are therefore huge musical steps at the bottom and tiny ones at the top, and STFT bins, all
# 2.5 Hz wide, spend most of their numbers on the high frequencies. The **mel scale** (Stevens, Volkmann &
# Newman, 1937) measures pitch as listeners judged it. Riffusion uses the HTK formula:
#
# $$m(f) = 2595 \log_{10}\!\left(1 + \frac{f}{700\ \text{Hz}}\right), \qquad
#   f(m) = 700\ \text{Hz} \left(10^{m / 2595} - 1\right).$$
#
# Below about 700 Hz it is nearly linear, above it nearly logarithmic; 1000 Hz is about 1000 mel.

# %%
f = np.linspace(0, 10000, 1001)
np.testing.assert_allclose(2595 * np.log10(1 + f / 700), hz_to_mel(f))   # the formula is riffnb's
np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
middle_hz = float(mel_to_hz(hz_to_mel(10000) / 2))       # half-way from 0 to 10 kHz, in pitch
print(f"half-way in pitch from 0 to 10 kHz is {middle_hz:.0f} Hz: the lower half of the pitch range gets "
      f"{middle_hz / 10000:.0%} of the STFT bins below 10 kHz, the upper half {1 - middle_hz / 10000:.0%}")

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.plot(f, hz_to_mel(f))
ax.plot(f, f, color="0.6", linestyle=":", label="m = f (for comparison)")
ax.set(xlabel="frequency f (Hz)", ylabel="pitch m (mel)", title="the HTK mel scale", xlim=(0, 10000), ylim=(0, 3200))
ax.legend()
plt.show()

# %% [markdown]
# Listen to the difference. Each sequence has eight tones from 200 Hz to 4000 Hz. The first takes equal
# steps in Hz, the second equal steps in mel. The first sprints through the low tones and then seems to stall;
# the second sounds much more even.

# %%
def tone_sequence(frequencies_hz, seconds=0.25, rate=22050):
    """Sine tones one after another, each with 10 ms fades so that no step clicks."""
    t = np.arange(int(seconds * rate)) / rate
    fade = np.minimum(1, np.minimum(t, t[::-1]) / 0.01)
    return np.concatenate([0.3 * np.sin(2 * np.pi * f * t) * fade for f in frequencies_hz])


steps_hz = np.linspace(200, 4000, 8)
steps_mel = mel_to_hz(np.linspace(hz_to_mel(200), hz_to_mel(4000), 8))
print("equal Hz steps: ", np.round(steps_hz).astype(int), "Hz")
print("equal mel steps:", np.round(steps_mel).astype(int), "Hz")
play_all({"equal steps in Hz": (tone_sequence(steps_hz), 22050),
          "equal steps in mel": (tone_sequence(steps_mel), 22050)})

# %% [markdown]
# ## 2. The mel filterbank
#
# A mel spectrogram pools the STFT bins into $B$ bands spaced evenly in mel. Band $b$ is a triangle: it rises
# from edge frequency $f_{b-1}$ to 1 at its centre $f_b$ and falls to 0 at $f_{b+1}$, with the $B + 2$ edges
# evenly spaced in mel between $f_\min$ and $f_\max$:
#
# $$f_b = f\!\left(m(f_\min) + b\,\frac{m(f_\max) - m(f_\min)}{B + 1}\right), \qquad
#   F(b, k) = \max\!\left(0,\ \min\!\left(\frac{f_k - f_{b-1}}{f_b - f_{b-1}},\
#   \frac{f_{b+1} - f_k}{f_{b+1} - f_b}\right)\right),$$
#
# where $f_k = kF_s/N$ is the frequency of STFT bin $k$. Stacked, the triangles are a matrix $F$ of shape
# $B \times (N/2+1)$, and the **mel spectrogram** is one matrix product per frame:
#
# $$\mathcal{M} = F \, \lvert\mathcal{X}\rvert \qquad (B \times \text{frames}).$$
#
# Riffusion: $B = 512$ bands from $f_\min = 0$ to $f_\max = 10$ kHz, triangles of height 1 (no area
# normalisation), as torchaudio builds them. The formula in numpy, checked against `riffnb.mel.mel_filterbank`
# on a small example (40 bands, 2048-point FFT at 22.05 kHz):

# %%
def triangles(sample_rate, n_fft, n_bands, f_min, f_max):
    """F(b, k) exactly as written above."""
    f_k = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_bands + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((f_k - lower) / (centre - lower), (upper - f_k) / (upper - centre)))


np.testing.assert_allclose(triangles(22050, 2048, 40, 0, 8000), mel_filterbank(22050, 2048, 40, 0, 8000), atol=1e-12)
fb = mel_filterbank(sample_rate, N, params.num_frequencies, params.min_frequency, params.max_frequency)
print(f"Riffusion's filterbank F: {fb.shape} (bands x STFT bins)")
fig, axes = plt.subplots(1, 2, figsize=(13, 3.2), layout="constrained", gridspec_kw={"width_ratios": [2, 1]})
plot_filterbank(params, every=16, ax=axes[0])
plot_filterbank(params, ax=axes[1], title="all bands, 0-60 Hz: lines join STFT bins 2.5 Hz apart")
axes[1].set_xlim(0, 60)
plt.show()

# %% [markdown]
# The triangles are narrow at the bottom and wide at the top. At Riffusion's settings the lowest bands are
# spaced less than 4 Hz apart and hold only two to four STFT bins each; their peaks fall between bins, so their
# largest weights are below 1 (right). This is why notebook 01's zero-padding to 2.5 Hz bins matters. The
# highest bands are 57 Hz apart and pool 45 bins each. Everything above 10 kHz gets no band at all.

# %%
edges = mel_to_hz(np.linspace(hz_to_mel(params.min_frequency), hz_to_mel(params.max_frequency),
                              params.num_frequencies + 2))
bins_per_band = (fb > 0).sum(axis=1)
bins_with_weight = int(fb.any(axis=0).sum())
rows = [
    ("lowest band", f"{edges[0]:.1f} to {edges[2]:.1f} Hz", f"{edges[1] - edges[0]:.2f} Hz", bins_per_band[0]),
    ("band 256", f"{edges[255]:.0f} to {edges[257]:.0f} Hz", f"{edges[256] - edges[255]:.2f} Hz",
     bins_per_band[255]),
    ("highest band", f"{edges[-3]:.0f} to {edges[-1]:.0f} Hz", f"{edges[-1] - edges[-2]:.2f} Hz",
     bins_per_band[-1]),
]
display(Markdown("| band | triangle spans | centre spacing | STFT bins inside |\n|---|---|---|---|\n"
                 + "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)))
print(f"STFT bins with any weight: {bins_with_weight} of {fb.shape[1]} (all of them below 10 kHz)")

# %% [markdown]
# Now the mel spectrogram of the demo. `riffnb.spectrogram.spectrogram_from_audio` runs Riffusion's forward
# chain: it is $F\lvert\mathcal{X}\rvert$, computed on the samples scaled to 16-bit integer range (Riffusion
# reads audio as int16 numbers, $\pm 32768$), so its values are 32 768 times ours. On the right, rows are mel
# bands: the low frequencies, where the notes are, get most of the picture.

# %%
mel = spectrogram_from_audio(demo, sample_rate)  # (1, 512 bands, 513 frames), float32, int16 scale
np.testing.assert_allclose(mel, INT16_SCALE * mel_from_linear(np.abs(X), fb), rtol=1e-5, atol=1e-6 * mel.max())
np.testing.assert_allclose(mel_from_linear(np.abs(X), fb), fb @ np.abs(X))   # mel_from_linear is F @ |X|
mel_shape = mel.shape

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
plot_spectrogram(np.abs(X), params, fmax=10000, ax=axes[0], title="STFT: 4001 bins up to 10 kHz (linear axis)")
plot_spectrogram(mel, params, ax=axes[1], title="mel spectrogram: 512 bands (mel axis)")
plt.show()
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ### Another scale: one band per semitone
#
# A mel band is a different musical interval at every height: in Riffusion's 512 bands, neighbouring centres
# are about 51 cents apart near 150 Hz but 12 cents near 2.4 kHz (a semitone is 100 cents). So a melody looks
# different depending on where it is played: moved up an octave it covers other numbers of rows, and a scale is a
# different pattern of rows at every height. A model that draws with convolutions, which treat every height
# alike, has to learn where the notes lie separately everywhere, and riffnb's tiny model did not: with 128 HTK
# bands its melodies drifted between the notes.
#
# So the tiny model uses a third scale, `mel_scale_type="semitone"`, on which the "mel" of a frequency is its
# MIDI note number, $m(f) = 69 + 12 \log_2(f / 440\ \text{Hz})$. Bands one unit apart are one equal-tempered
# semitone apart at every height, each centred on a note: 96 bands from E1 (41 Hz) to D#9 (9.96 kHz). A scale is
# now the same pattern of rows at any height, and a note drawn on one row is in tune. The price: wide bands in
# the highs (a semitone near 5 kHz is 300 Hz wide), so less detail there, and at the bottom bands narrower than a
# 100 ms window can tell apart (neighbouring bass rows repeat each other); the tiny model pads its FFT to 200 ms
# so that every band, down to the lowest notes, holds an STFT bin (with 10 Hz bins, F1, F#1, A1 and C2 would get
# none).

# %%
tiny = TINY_PARAMS
tiny_centres = mel_frequencies(tiny.num_frequencies, tiny.min_frequency, tiny.max_frequency, tiny.mel_scale_type)
tiny_notes = hz_to_mel(tiny_centres, "semitone")                    # MIDI note numbers of the band centres
np.testing.assert_allclose(tiny_notes, np.round(tiny_notes), atol=0.05)   # every centre within 5 cents of a note
riffusion_centres = mel_frequencies(params.num_frequencies, params.min_frequency, params.max_frequency)


def band_spacing_cents(centres, hz):
    """Cents between the band centre nearest ``hz`` and the next one up."""
    nearest = int(np.argmin(np.abs(centres - hz)))
    return 1200 * np.log2(centres[nearest + 1] / centres[nearest])


spacing_cents = {hz: (band_spacing_cents(riffusion_centres, hz), band_spacing_cents(tiny_centres, hz))
                 for hz in (150, 600, 2400)}
display(Markdown("| near | Riffusion's 512 HTK bands | the tiny model's semitone bands |\n|---|---|---|\n"
                 + "\n".join(f"| {hz} Hz | {a:.0f} cents | {b:.0f} cents |" for hz, (a, b) in spacing_cents.items())))
print(f"tiny model: {tiny.num_frequencies} bands, {note_name(round(tiny_notes[0]))} ({tiny_centres[0]:.1f} Hz) to "
      f"{note_name(round(tiny_notes[-1]))} ({tiny_centres[-1]:.0f} Hz)")
fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
plot_filterbank(tiny, ax=ax, title="the tiny model's bands, 200-600 Hz: one triangle per note")
ax.set_xlim(200, 600)
plt.show()

# %% [markdown]
# ## 3. Riffusion's image
#
# Riffusion turns the mel spectrogram $\mathcal{M}$ (one channel) into 8-bit pixels $P$ in five steps:
#
# $$P(b, m) = \left\lfloor 255 - 255 \left(\frac{\mathcal{M}(b, m)}{\max \mathcal{M}}\right)^{1/4} \right\rfloor,$$
#
# 1. divide by the maximum, so values lie in $[0, 1]$;
# 2. raise to the power $1/4$ (`power_for_image`), which lifts quiet detail (next section);
# 3. scale to 0-255 and **invert**: loud is dark, silence is white;
# 4. truncate to an integer (`astype(uint8)`: no rounding);
# 5. flip vertically so that low frequencies are at the bottom, and copy the grey into R, G and B.
#
# The maximum, needed to undo step 1, goes into the image's EXIF block (below). In numpy, checked pixel for
# pixel against `riffnb.image.image_from_audio`:

# %%
image = image_from_audio(demo, sample_rate)      # a PIL image, 513 x 512 (width = frames, height = bands)
pixels = (255 - (mel[0] / mel.max()) ** 0.25 * 255).astype(np.uint8)[::-1]   # steps 1-5, top row = top band
np.testing.assert_array_equal(pixels, np.asarray(image)[..., 0])
np.testing.assert_array_equal(np.asarray(image)[..., 0], np.asarray(image)[..., 2])   # R = G = B
image_size = image.size
print(f"image: {image.width} x {image.height} pixels, mode {image.mode}")
display(plot_image(image, title="what the model draws (dark = loud)"))
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ### Why the power 1/4?
#
# Without it (power 1) a pixel would be linear in magnitude: one grey level is 1/255 of the maximum, so
# everything more than $20\log_{10} 255 = 48$ dB below the peak would get the same almost-white pixel (254),
# and the picture would be a few dark partials on white. With power $p$, a magnitude $x$ (relative to the
# maximum) gets a pixel of its own while $255\, x^p > 1$; everything at or below
#
# $$20 \log_{10} x = -\frac{20 \log_{10} 255}{p}\ \text{dB} = -48\ \text{dB}\ (p = 1), \quad
#   -96\ \text{dB}\ (p = \tfrac12), \quad -193\ \text{dB}\ (p = \tfrac14)$$
#
# looks the same (254). Like the decibels of notebook 01, the power compresses: it spreads the 256 grey levels
# over the whole range of levels in music instead of spending them all on the loudest 48 dB.

# %%
level_db = np.linspace(-200, 0, 2001)
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
for p in (1.0, 0.5, 0.25):
    ax.plot(level_db, 255 - 255 * (10 ** (level_db / 20)) ** p, label=f"power {p:g}")
ax.set(xlabel="level (dB below the maximum)", ylabel="pixel value (dark = loud)",
       title="pixel value against level", xlim=(-200, 0), ylim=(0, 260))
ax.legend()
plt.show()

fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), layout="constrained")
visible_share = {}                               # share of pixels visibly grey (darker than 230)
for ax, p in zip(axes, (1.0, 0.5, 0.25)):
    picture = image_from_spectrogram(mel, power=p)
    visible_share[p] = float((np.asarray(picture)[..., 0] < 230).mean())
    plot_image(picture, ax=ax, colorbar=p == 0.25, title=f"power {p:g}: {visible_share[p]:.0%} of pixels visibly grey")
plt.show()
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# ### The parameters travel with the image
#
# Riffusion writes its settings into EXIF tags 11000-11080 of the PNG, so an image can be decoded without
# knowing how it was made; tag 11080 holds the maximum $\max\mathcal{M}$ (about $10^7$ for music in int16
# scale). riffnb adds tag 11090, the frequency scale: Riffusion only ever uses HTK mel and does not store it, but
# an image drawn on semitone bands would decode wrongly without it (Riffusion's readers ignore the extra tag).
# `riffnb.image.save_image` keeps them; PIL's plain `image.save(path)` silently drops EXIF.

# %%
exif = image.getexif()
display(Markdown("| tag | name | value |\n|---|---|---|\n"
                 + "\n".join(f"| {tag.value} | {tag.name} | {exif[tag]} |" for tag in ExifTags if tag in exif)))

with tempfile.TemporaryDirectory() as folder:
    save_image(image, os.path.join(folder, "demo.png"))
    image.save(os.path.join(folder, "plain.png"))
    kept = params_from_image(load_image(os.path.join(folder, "demo.png"))) == params
    stored_max = max_value_from_image(load_image(os.path.join(folder, "demo.png")))
    plain_tags = len(Image.open(os.path.join(folder, "plain.png")).getexif())
print(f"save_image kept the parameters: {kept}; stored maximum: {stored_max:.4g}; "
      f"PIL's plain save kept {plain_tags} EXIF tags")

# %% [markdown]
# ### Time: 100 columns per second
#
# One column per hop of 10 ms: 100 columns per second. The forward STFT of 5.12 s gives
# $1 + 225\,792 / 441 = 513$ columns; Riffusion's model draws 512, which stand for $512 \times 10$ ms $= 5.12$ s.
# This is the convention (riffnb's `SpectrogramParams.duration_of`, and Riffusion's "5.12 s"): an image of $W$
# columns **stands for** $W$ hops. Decoded, it gives one hop less, $W - 1$ hops: the centred STFT puts its first
# and last columns on the two ends of the sound (the demo's 513 columns decode to its 5.12 s, 512 columns to
# 5.11 s).

# %%
decoded_512_seconds = audio_from_image(image.crop((0, 0, 512, image.height)))[0].shape[-1] / sample_rate
print(f"{image.width} columns from {demo.shape[-1] / sample_rate:.2f} s of audio; "
      f"a 512-column image stands for {params.duration_of(512):.2f} s and decodes to {decoded_512_seconds:.2f} s")

# %% [markdown]
# ### Stereo images
#
# With `stereo=True` Riffusion puts the left channel's pixels in green and the right's in blue (red stays 0).
# Here the band plays on the left and a flute on the right. Loud is dark *in its own channel*: a sound on the
# left only lowers green and leaves the pixel blue (the bass line), a sound on the right only looks green (the
# flute's notes), and silence on both sides is cyan (green + blue).

# %%
flute = render("bossa_nova", {"melody": "flute"}, seed=0).samples   # same key and tempo as the demo
stereo = np.concatenate([demo, flute]) * 0.7     # (2, samples): left = band, right = flute
stereo_params = SpectrogramParams(stereo=True)
stereo_image = image_from_audio(stereo, sample_rate, stereo_params)
display(plot_image(stereo_image, title="stereo: green channel = left (band), blue = right (flute)"))
play(stereo, sample_rate, label="stereo: band left, flute right")

# %% [markdown]
# ## 4. From the image back to sound, one loss at a time
#
# Decoding undoes what can be undone. From pixels $P$ (flipped back), with the stored maximum:
#
# $$\hat{\mathcal{M}} = \max\mathcal{M} \cdot \left(\frac{255 - P}{255}\right)^{4}.$$
#
# Then the mel bands must become STFT bins again. $F$ maps 4001 numbers to 512, so infinitely many
# magnitudes $S$ give $FS = \hat{\mathcal{M}}$. riffnb takes the **minimum-norm** one (the least energy spread
# over the bins, which the pseudo-inverse $F^+$ gives), then clips negative values to 0:
#
# $$\hat S = \max\!\left(0,\ F^\top (F F^\top)^{-1} \hat{\mathcal M}\right).$$
#
# $FF^\top$ is only $512 \times 512$, so this is fast. Checked against `riffnb.mel.linear_from_mel`:

# %%
decoded = spectrogram_from_image(image, max_value=max_value_from_image(image))  # (1, 512, 513), int16 scale
quantisation_sc = spectral_convergence(mel, decoded)
print(f"8-bit image vs mel spectrogram: spectral convergence {quantisation_sc:.1f} dB")

mel_linear = mel_from_linear(np.abs(X), fb)      # the mel spectrogram in our [-1, 1] scale
by_hand = np.maximum(0, fb.T @ np.linalg.solve(fb @ fb.T, mel_linear[0]))
S_hat = linear_from_mel(mel_linear, fb)          # (1, 8821, 513)
np.testing.assert_allclose(by_hand, S_hat[0], atol=1e-8 * S_hat.max())
mel_roundtrip_sc = spectral_convergence(mel_linear, mel_from_linear(S_hat, fb))
print(f"F S_hat reproduces the mel spectrogram: spectral convergence {mel_roundtrip_sc:.1f} dB")

# %% [markdown]
# $\hat S = F^\top w$ is a weighted sum of the triangles themselves ($w = (FF^\top)^{-1}\hat{\mathcal M}$ per frame):
# inside a band it can only take the triangles' piecewise-linear shape, so the partials inside a wide band are
# replaced by that shape, and where the weights go negative, clipping leaves dark stripes. Compare near 2-5 kHz,
# where bands are 15-30 Hz apart:

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained", sharey=True)
plot_spectrogram(np.abs(X), params, fmax=5000, ax=axes[0], colorbar=False, title="STFT magnitude |X|")
plot_spectrogram(S_hat, params, fmax=5000, ax=axes[1], title="from the mel spectrogram: S_hat")
for ax in axes:
    ax.set_xlim(1.0, 2.0)
    ax.set_ylim(2000, 5000)
plt.show()
play(demo, sample_rate, label="demo clip")

# %% [markdown]
# Now listen to the chain one loss at a time. Until the last step we cheat and borrow the *true* phase
# $e^{i\angle\mathcal{X}}$ of the original, so that each clip differs from the previous one by exactly one loss:
#
# 1. **above 10 kHz**: the STFT with the bins above 10 kHz set to 0, inverted exactly;
# 2. **mel bands**: $\hat S$ from the exact mel spectrogram, with the true phase;
# 3. **8-bit image**: $\hat S$ from the decoded image, with the true phase;
# 4. **phase reconstruction**: what `riffnb.spectrogram.audio_from_image` really does, with no access to the
#    original: the phase is rebuilt from the magnitude alone (notebook 03 explains how).
#
# Each clip is scored against the original in both domains: over the whole STFT (0-22 kHz) and over the mel
# bands the image keeps (0-10 kHz).

# %%
true_phase = np.exp(1j * np.angle(X))
in_band = (frequencies <= params.max_frequency)[:, None]
ladder = {
    "original": demo,
    "1. nothing above 10 kHz": istft(X * in_band, H, L, N, length=demo.shape[-1]),
    "2. + mel bands": istft(S_hat * true_phase, H, L, N, length=demo.shape[-1]),
    "3. + 8-bit image": istft(linear_from_mel(decoded / INT16_SCALE, fb) * true_phase, H, L, N,
                              length=demo.shape[-1]),
    "4. + phase reconstruction": audio_from_image(image, normalize=False)[0],
}
scores = {}
for label, audio in ladder.items():
    stft_sc = spectral_convergence(np.abs(X), np.abs(stft(audio, N, H, L)))
    mel_sc = spectral_convergence(mel, spectrogram_from_audio(audio, sample_rate))
    scores[label] = (stft_sc, mel_sc)
display(Markdown("| clip | spectral convergence, STFT 0-22 kHz | spectral convergence, mel 0-10 kHz |\n|---|---|---|\n"
                 + "\n".join(f"| {label} | {a:.1f} dB | {b:.1f} dB |" for label, (a, b) in scores.items())))
display(compare({"original": mel, "rebuilt from the image": spectrogram_from_audio(ladder["4. + phase reconstruction"],
                                                                              sample_rate)}, params=params))
play_all([(audio, sample_rate, label) for label, audio in ladder.items()])

# %% [markdown]
# Listen for: what do the hi-hats lose in (1)? Can you tell (2) from (3)? What changes in (4), where nothing
# of the original but the image is used?
#
# The table's mel column (the part of the sound the image is about) says: removing everything above 10 kHz
# leaves the mel bands intact; pooling into 512 bands is the big loss; 8 bits cost next to nothing on top;
# rebuilding the phase from the magnitude alone costs a little more here, with riffnb's method (PGHI and fast
# Griffin-Lim). Notebook 03 shows how much more simpler methods lose.
#
# Riffusion's own output is also levelled: `audio_from_image(image)` (the default `normalize=True`) sets it to
# -12 dBFS and then peak-normalises it, so every generated clip is equally loud.
#
# ### Try it yourself (optional)
#
# The mel explorer changes the number of bands, the frequency range, the mel scale and the power, and plays
# the audio rebuilt from the image. (Each change takes a few seconds.)

# %%
from riffnb.widgets import MelExplorer

MelExplorer(demo, sample_rate)

# %% [markdown]
# ## 5. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 1.** How many mel is 1000 Hz on the HTK scale? (To within 1 mel.)

# %%
mel_of_1000_hz = None  # ✏️ your answer in mel

# Check: riffnb's hz_to_mel.
_expected = float(hz_to_mel(1000.0))
check_answer(mel_of_1000_hz, _expected, atol=1, hint="m(f) = 2595 log10(1 + f / 700).");

# %% [markdown]
# **Exercise 2.** In Riffusion's image, which pixel value does a bin get whose magnitude is half the maximum?

# %%
pixel_at_half_max = None  # ✏️ your answer: a whole number 0-255

# Check: encode a two-pixel spectrogram [maximum, half of it] and read the second pixel.
_expected = int(np.asarray(image_from_spectrogram(np.array([[[1.0, 0.5]]])))[0, 1, 0])
check_answer(pixel_at_half_max, _expected, hint="255 - 255 * 0.5 ** 0.25, then truncate (do not round).");

# %% [markdown]
# **Exercise 3.** How many of the 8821 STFT bins carry any weight in Riffusion's filterbank? (Careful at the
# two ends of the range: a triangle's weight is 0 exactly at its outer edges.)

# %%
bins_used_by_filterbank = None  # ✏️ your answer: a whole number

# Check: count the columns of F that are not all zero.
_expected = int((mel_filterbank(44100, 17640, 512, 0, 10000) > 0).any(axis=0).sum())
check_answer(bins_used_by_filterbank, _expected,
             hint="bins are 2.5 Hz apart; which bins lie strictly between 0 Hz and 10 kHz?");

# %% [markdown]
# **Exercise 4.** A Riffusion image is 768 pixels wide. How many seconds does it stand for (one hop per column,
# the convention of section 3)? And how many seconds long is the audio `audio_from_image` decodes from it?

# %%
seconds_in_768_columns = None  # ✏️ your answer in seconds
decoded_seconds_of_768_columns = None  # ✏️ your answer in seconds

# Check: SpectrogramParams knows the first; decode the demo's image stretched to 768 columns for the second.
check_answer(seconds_in_768_columns, SpectrogramParams().duration_of(768), atol=0.005,
             hint="one column per hop of 10 ms.")
_decoded = audio_from_image(image.resize((768, image.height)), n_iter=0)[0]
check_answer(decoded_seconds_of_768_columns, _decoded.shape[-1] / sample_rate, atol=0.005,
             hint="W columns decode to W - 1 hops.");

# %% [markdown]
# **Exercise 5.** With `power_for_image = 0.5`, how many dB below the maximum is the quietest level a pixel can
# still show (the level that pixel value 254 decodes to)? Give a negative number, to 0.5 dB.

# %%
quietest_db_at_half_power = None  # ✏️ your answer in dB (negative)

# Check: decode a single pixel of value 254 with power 0.5 and maximum 1.
_pixel = Image.new("RGB", (1, 1), (254, 254, 254))
_expected = float(20 * np.log10(spectrogram_from_image(_pixel, power=0.5, max_value=1.0)[0, 0, 0]))
check_answer(quietest_db_at_half_power, _expected, atol=0.5, hint="solve 255 x^p = 1 for x, then take 20 log10 x.");

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
assert fb.shape == (512, 8821) and bins_with_weight == 3999, (fb.shape, bins_with_weight)
assert mel_shape == (1, 512, 513) and image_size == (513, 512), (mel_shape, image_size)
assert decoded_512_seconds == params.duration_of(511), decoded_512_seconds    # one hop less than it stands for
assert visible_share[0.25] > visible_share[0.5] > visible_share[1.0], visible_share
assert kept and plain_tags == 0, (kept, plain_tags)
assert quantisation_sc < -30, quantisation_sc
assert mel_roundtrip_sc < -40, mel_roundtrip_sc
band_limited, mel_bands, eight_bit, rebuilt = (scores[label] for label in list(ladder)[1:])
assert band_limited[1] < -60 and band_limited[0] < -20, band_limited      # nothing lost below 10 kHz
assert -35 < mel_bands[1] < -25 and abs(eight_bit[1] - mel_bands[1]) < 2, (mel_bands, eight_bit)
assert eight_bit[1] < rebuilt[1] < -20 and eight_bit[0] < rebuilt[0], (eight_bit, rebuilt)
print("✓ all of this notebook's checks passed")
