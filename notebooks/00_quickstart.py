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
# # 00 · Quickstart: from a prompt to music
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/00_quickstart.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F00_quickstart.ipynb)
#
# Write a sentence, get five seconds of music. riffnb follows Riffusion's recipe: Stable Diffusion draws a
# picture of the sound (a spectrogram), and the picture is turned back into sound. Run the cells from top to
# bottom (Shift+Enter); with riffnb's tiny model the whole notebook takes under a minute on a CPU. On Binder (2 GB
# of memory), choose Kernel > Shut Down All Kernels before you open the next notebook: JupyterLab keeps every
# notebook's kernel, and its memory, alive.
#
# **At the end of this notebook you will** have made music from text, know what a prompt, a seed and the model's
# settings do, and know how long a clip the model's picture of it holds.

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

# %% [markdown]
# ## 1. A prompt, a seed, a clip

# %%
import riffnb

# ⚙️ MODEL SWITCH — the only line to change. "tiny": riffnb's embedded model, any CPU, seconds per clip.
# "riffusion/riffusion-model-v1": the real Riffusion (needs a GPU and the Hugging Face hub).
MODEL = "tiny"
pipe = riffnb.load_pipeline(MODEL)

clip = pipe.text_to_audio("bossa nova with electric guitar", seed=6)
clip

# %% [markdown]
# **What happened.** The prompt was encoded into numbers by a text encoder; the seed drew a block of random
# noise; the model removed that noise in 20 small steps (30 for Riffusion), steered by the prompt; an
# autoencoder turned the result into the spectrogram image above (time runs to the right, pitch goes up, dark
# is loud); and phase reconstruction turned the image into the audio you can play. The same prompt and seed
# always give the same clip; another seed gives another take. `clip.save("bossa.wav")` keeps it (the audio,
# the image and the settings).
#
# ## 2. Your turn
#
# Type a prompt, pick a seed (or roll the dice) and press **Generate**: the preview shows the image as the noise
# is removed, then the clip appears with a player and downloads. The tiny model knows the words it was trained
# on: styles (bossa nova, rock, waltz, techno, house, jazz swing, ballad), instruments (piano, acoustic or
# electric guitar, bass, drums, organ, strings, flute, synth), slow or fast, low or high. Riffusion knows far
# more; switch `MODEL` above on a GPU.

# %%
panel = riffnb.widgets.GeneratePanel(pipe, prompt="jazz swing with piano and drums")
panel

# %% [markdown]
# ## Exercise
#
# The picture's width is time: each column is one step of `pipe.params.hop_length` samples, at
# `pipe.params.sample_rate` samples per second. How many seconds does a picture 512 columns wide stand for, one
# step per column? (The audio made from it is one step shorter, as `clip.duration` shows for the clip above: its
# first and last columns sit on the two ends of the sound. Notebook 02 explains.)

# %%
from riffnb.exercises import check_answer

seconds_in_512_columns = None  # ✏️ your answer in seconds

check_answer(seconds_in_512_columns, pipe.params.duration_of(512), atol=0.005,
             hint="columns x seconds per column, and a column is hop_length / sample_rate seconds.")

# %% [markdown]
# ## Where to go next
#
# The course opens up every step you just ran, one notebook each:
#
# - **01 · Sound, sampling and the STFT**: what a sound is to a computer, and the spectrogram.
# - **02 · Mel spectrograms and Riffusion's images**: how a sound becomes the picture the model draws.
# - **03 · Phase reconstruction**: how the picture becomes sound again.
# - **04 · Diffusion step by step**: the prompt, the noise, the denoising loop and guidance, taken apart.
# - **05 · Riffing**: changing music that already exists: masks, morphs between prompts, endless music.
# - **06 · Train your own tiny Riffusion**: how the tiny model was trained, at toy size.
#
# ## Check
#
# The clip's image and sound once more, and the numbers they must have. (The course's test suite runs this too.)

# %%
import numpy as np
from IPython.display import display

clip_seconds = clip.duration
image_size = clip.image.size
peak = float(np.abs(clip.samples).max())
display(riffnb.plot_image(clip.image, title=f"{clip.prompt!r}, seed {clip.seed}"))
display(riffnb.display.play(clip.samples, clip.sample_rate, label=f"{clip_seconds:.2f} s at {clip.sample_rate} Hz"))

assert image_size == (pipe.defaults.width, pipe.height), image_size     # time x mel bands
assert clip.samples.shape[-1] == (pipe.defaults.width - 1) * pipe.params.hop_length, clip_seconds  # a step short
assert clip.sample_rate == pipe.params.sample_rate and np.isfinite(clip.samples).all() and 0.01 < peak <= 1, peak
print("✓ all of this notebook's checks passed")
