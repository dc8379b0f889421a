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
# # 06 · Train your own tiny Riffusion
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/06_train_your_own.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F06_train_your_own.ipynb)
#
# Riffusion fine-tuned Stable Diffusion 1.5, a billion parameters trained on billions of images, on spectrograms
# of music. riffnb's **tiny** model (`riffnb.load_pipeline("tiny")`) was trained from scratch instead, on a CPU,
# with the same kinds of networks at under 1 % of the size and on music riffnb composes itself. This
# notebook walks through that recipe, `riffnb.train`, and runs all of it at toy size, in well under a minute of
# training.
#
# **At the end of this notebook you will know**
#
# 1. how the training corpus is made: seeded synthesized clips, their 96×256 spectrogram images, and captions
#    drawn from a grammar with synonyms;
# 2. how a word-level CLIP tokenizer turns captions into token ids;
# 3. the three networks (autoencoder, text encoder, UNet), their sizes, and how they compare with Stable
#    Diffusion 1.5's;
# 4. what each is trained to do: the autoencoder to reconstruct spectrograms, the UNet to predict the
#    "velocity" $v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$;
# 5. how to run the recipe (corpus → autoencoder → latents → UNet, with an exponential moving average),
#    export the result, load it with `riffnb.load_pipeline`, and keep training the shipped model;
# 6. how an independent judge measures whether the music follows the prompt.
#
# **You need** notebook 04 (latents, the noise schedule, what the UNet predicts) and a little PyTorch.
# Runs on a CPU in about a minute and a half; everything it writes goes to a temporary folder.

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
import contextlib
import copy
import dataclasses
import io
import json
import random
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from PIL import Image

import riffnb
from riffnb.audio import resample
from riffnb.diffusion import steps
from riffnb.diffusion.loading import resolve_model
from riffnb.display import play_all
from riffnb.exercises import check_answer
from riffnb.plot import compare, plot_image
from riffnb.train.captions import (HELD_OUT_FRAMES, INSTRUMENT_WORDS, STYLE_WORDS, TRAINING_FRAMES,
                                   canonical_caption, caption_for, vocabulary)
from riffnb.train.corpus import TINY_PARAMS, corpus_specs, image_array, render_spec
from riffnb.train.evaluate import SoftmaxClassifier, audio_features, autoencoder_round_trip, solo_specs
from riffnb.train.models import (FULL, SMOKE, make_text_encoder, make_training_scheduler, make_unet, make_vae,
                                 parameter_count)
from riffnb.train.tokenizer import build_tokenizer
from riffnb.train.train import FULL_RECIPE, SMOKE_RECIPE, Trainer, export_pipeline, v_prediction_loss

# The tiny networks gain little from more threads, and on a shared or containerised CPU (Binder, Colab, a busy
# laptop) extra threads mostly wait for each other: one thread is the fastest choice there.
torch.set_num_threads(1)
# Everything this notebook writes goes here; the folder is deleted when the kernel stops.
scratch = tempfile.TemporaryDirectory(prefix="riffnb-06-")
workdir = Path(scratch.name)

# The model this recipe made, shipped inside riffnb: sections 3-5 look inside it, on the CPU in float32 whatever
# the machine has, as it was trained (the cells below hand it CPU tensors).
shipped = riffnb.load_pipeline("tiny", device="cpu", dtype="float32")
shipped_training = json.loads((resolve_model("tiny") / "riffnb.json").read_text())["training"]
print(shipped)
print(f"trained for {shipped_training['vae_steps']} autoencoder steps and {shipped_training['unet_steps_done']} UNet "
      f"steps on {shipped_training['train_clips']} clips")

# %% [markdown]
# ## 1. The corpus: music riffnb composes, with captions
#
# Riffusion learned from spectrograms of real recordings with text descriptions. The tiny model learns from
# `riffnb.synth`, which composes and plays short pieces: every clip is a `ClipSpec` (a style, a lead instrument
# and up to two accompanying ones, a tempo, a key and mode, a register) drawn from a seeded random stream, so
# the same corpus comes out on every machine and nothing is downloaded. `corpus_specs("train", n)` gives the
# first $n$ specs of the training split; the `"eval"` split draws from different seeds, clips the model never
# hears.
#
# Each clip is 5.12 s, turned into a spectrogram image exactly as in notebook 02, but with the tiny model's own
# parameters (`TINY_PARAMS`): 22.05 kHz, a 20 ms hop and 96 bands one semitone apart, one per note from E1
# (41 Hz) to D#9 (10 kHz; notebook 02 says why), so an image is 96×256 pixels instead of Riffusion's 512×512:
# 11 times fewer pixels to draw.

# %%
print(f"tiny model: {TINY_PARAMS.sample_rate} Hz, hop {TINY_PARAMS.step_size_ms} ms, "
      f"{TINY_PARAMS.num_frequencies} {TINY_PARAMS.mel_scale_type} bands, "
      f"{TINY_PARAMS.min_frequency}-{TINY_PARAMS.max_frequency} Hz")
train_specs = corpus_specs("train", 4)
train_audio = [render_spec(spec) for spec in train_specs]           # (1, n) at 22.05 kHz, in [-1, 1]
train_pixels = [image_array(samples) for samples in train_audio]    # uint8 (96, 256): what the model learns to draw


def as_picture(pixels):
    """A uint8 corpus image as an RGB spectrogram image carrying the tiny model's parameters (for plots and audio)."""
    return steps.with_params(Image.fromarray(np.asarray(pixels)).convert("RGB"), TINY_PARAMS)


fig, axes = plt.subplots(2, 2, figsize=(11, 5.5), layout="constrained", sharex=True, sharey=True)
for ax, spec, pixels in zip(axes.flat, train_specs, train_pixels):
    plot_image(as_picture(pixels), ax=ax, title=canonical_caption(spec), colorbar=False)
    ax.title.set_fontsize("small")
plt.show()
print(f"each image: {train_pixels[0].shape[0]} x {train_pixels[0].shape[1]} pixels")
play_all([(samples, TINY_PARAMS.sample_rate, f"clip {spec.seed}: {spec.style}, {' + '.join(spec.instruments)}")
          for spec, samples in zip(train_specs, train_audio)])

# %% [markdown]
# ### Captions from a grammar with synonyms
#
# The captions above are the *canonical* ones: every attribute, first synonym. During training the model
# rarely sees exactly those: at every step each clip gets a fresh caption from `caption_for`: a random sentence frame,
# a random synonym for each word, and each optional attribute (tempo word, mode, register, BPM, key) kept or
# dropped at random. A caption always names every instrument that plays, so the model learns that the words
# for instruments matter, and it learns from long descriptions and from the short prompts people type.

# %%
rng = random.Random(0)
spec = train_specs[0]
print(f"the clip: {spec}")
print(f"canonical: {canonical_caption(spec)!r}")
for _ in range(6):
    print(f"  random:  {caption_for(spec, rng)!r}")

# %% [markdown]
# The synonyms (the first is the canonical word). Bare "guitar" stands for both guitars.

# %%
rows = ["| canonical | synonyms |", "|---|---|"]
for table in (INSTRUMENT_WORDS, STYLE_WORDS):
    rows += [f"| **{name}** | {', '.join(words[1:])} |" for name, words in table.items()]
display(Markdown("\n".join(rows)))
print(f"{len(TRAINING_FRAMES)} training frames, e.g. {TRAINING_FRAMES[3]!r}")
print(f"{len(HELD_OUT_FRAMES)} held-out frames, never used in training: {list(HELD_OUT_FRAMES)}")

# %% [markdown]
# The held-out frames matter in sections 7 and 9: the judge prompts the model with sentences it has never read, so it is
# measured on paraphrases, not on memorised wording.
#
# ## 2. The tokenizer: one token per caption word
#
# Riffusion's text encoder is CLIP's, with a byte-pair vocabulary of 49 408 tokens learned from web text. The
# tiny model keeps CLIP's tokenizer *class* (`transformers.CLIPTokenizer`, so diffusers loads it unchanged) but
# writes its own vocabulary: the 256 byte symbols (so any text still tokenizes, letter by letter) plus one merge
# chain per word of the caption grammar, which makes every caption word exactly one token.

# %%
tokenizer = build_tokenizer(workdir / "tokenizer-demo")
caption_words = vocabulary()
print(f"caption vocabulary: {len(caption_words)} words, e.g. {caption_words[:8]}")
vocabulary_size = len(tokenizer)
print(f"tokenizer: {vocabulary_size} tokens (CLIP ViT-L/14: 49408)")
assert tokenizer.get_vocab() == shipped.pipeline.tokenizer.get_vocab()   # the shipped model's tokenizer, exactly

for text in ("bossa nova with electric guitar", "kazoo jazz"):
    tokens = tokenizer.tokenize(text)
    ids = tokenizer(text).input_ids
    print(f"{text!r}\n  tokens {tokens}\n  ids    {ids}")
padded = tokenizer("bossa nova with electric guitar", padding="max_length",
                   max_length=tokenizer.model_max_length).input_ids
print(f"padded to {len(padded)} ids: start {padded[0]}, end/padding {padded[-1]}")

# %% [markdown]
# The tokenizer holds more tokens than there are words: 2 special tokens, the byte symbols alone and as word
# ends (2 × 256), and the pieces each word's merges build on the way to the whole word.
# "kazoo" is not a caption word, so it falls apart into letters the text encoder never learned anything about:
# the tiny model only understands the words of its grammar. Numbers too are split into digits, as CLIP does.
#
# ## 3. The three networks
#
# The tiny model uses exactly the classes of Riffusion's pipeline (`riffnb.train.models`), so the same diffusers
# code runs both:
#
# | network | job | tiny | Stable Diffusion 1.5 (Riffusion) |
# |---|---|---|---|
# | `AutoencoderKL` | image ↔ latents, 8× smaller each way | 8 latent channels, no attention | 4 latent channels |
# | `CLIPTextModel` | token ids → 77 vectors | 2 layers, width 128 | 12 layers, width 768 |
# | `UNet2DConditionModel` | noisy latents, timestep, text → prediction | 3 levels, 48-128 wide | 4 levels, 320-1280 |
#
# The sizes live in a `ModelSizes`: `FULL` is the shipped model, `SMOKE` a toy for tests and for section 6.
# Parameter counts, for fresh networks of each size and for the shipped model:

# %%
networks = {
    "autoencoder": (make_vae, "vae", 83.7e6),
    "text encoder": (lambda sizes: make_text_encoder(vocabulary_size, sizes), "text_encoder", 123.1e6),
    "UNet": (make_unet, "unet", 859.5e6),
}
parameters = {}
for name, (make, component, sd15) in networks.items():
    full, smoke = parameter_count(make(FULL)), parameter_count(make(SMOKE))
    assert parameter_count(getattr(shipped.pipeline, component)) == full   # FULL is what shipped
    parameters[name] = {"SMOKE": smoke, "FULL (tiny)": full, "SD 1.5": sd15}
unet_parameters = parameters["UNet"]["FULL (tiny)"]
total = {size: sum(counts[size] for counts in parameters.values()) for size in ("SMOKE", "FULL (tiny)", "SD 1.5")}

rows = ["| network | SMOKE (toy) | FULL (shipped tiny) | SD 1.5 | SD 1.5 / tiny |", "|---|---|---|---|---|"]
for name, counts in {**parameters, "**total**": total}.items():
    rows.append(f"| {name} | {counts['SMOKE'] / 1e6:.3f} M | {counts['FULL (tiny)'] / 1e6:.2f} M | "
                f"{counts['SD 1.5'] / 1e6:.0f} M | {counts['SD 1.5'] / counts['FULL (tiny)']:.0f}× |")
display(Markdown("\n".join(rows)))
print(f"the tiny model's weights: {4 * total['FULL (tiny)'] / 1e6:.0f} MB in float32 (Riffusion's: ~4.3 GB)")

# %% [markdown]
# (Stable Diffusion 1.5's counts are quoted, not computed: its 860 M-parameter UNet alone takes 3.4 GB in float32.)
# A convolution's parameters grow with the product of its input and output channels, so narrower layers shrink
# the count quadratically: the tiny UNet is 7 to 10 times narrower than Stable Diffusion's and has 160 times
# fewer parameters.
#
# ## 4. The autoencoder
#
# The autoencoder is trained first, alone. Its encoder maps a 96×256 spectrogram image (three equal RGB
# channels, pixels scaled to $[-1, 1]$) to a distribution over latents of shape 8×12×32, its decoder maps
# latents back to an image. The training loss is the reconstruction error (L1, plus L1 of the differences
# between neighbouring pixels, which pays for sharp harmonics and onsets) and a tiny KL term that keeps the
# latents close to a standard normal. Here is the shipped autoencoder on clips from the held-out split:

# %%
eval_specs = corpus_specs("eval", 8)
eval_pixels = np.stack([image_array(render_spec(spec)) for spec in eval_specs])   # uint8 (8, 96, 256)
vae = shipped.pipeline.vae
scaling_factor = vae.config.scaling_factor
with torch.no_grad():
    pixels_in = torch.from_numpy(eval_pixels / 127.5 - 1.0).float()[:, None].expand(-1, 3, -1, -1)
    posterior = vae.encode(pixels_in).latent_dist
# The UNet works on latents scaled to unit variance (Stable Diffusion's scaling_factor).
eval_latents = posterior.mean * scaling_factor
print(f"image {tuple(pixels_in.shape[1:])} -> latents {tuple(eval_latents.shape[1:])}, "
      f"{pixels_in[0].numel() / eval_latents[0].numel():.0f}x fewer numbers")
print(f"scaling factor {scaling_factor:.3f}: scaled latents have standard deviation {eval_latents.std():.2f}")

decoded = steps.decode(shipped, eval_latents)                       # images, as the pipeline decodes them
decoded_pixels = np.stack([np.asarray(image)[..., 0] for image in decoded])
vae_pixel_error = float(np.abs(decoded_pixels.astype(float) - eval_pixels).mean())
print(f"mean reconstruction error: {vae_pixel_error:.1f} pixel levels of 255")
# The same round trip as the evaluation script's (riffnb.train.evaluate), to float rounding at a pixel level's edge.
assert np.abs(decoded_pixels - autoencoder_round_trip(shipped, eval_pixels)).max() <= 1

original = as_picture(eval_pixels[0])
display(compare({"original (held-out clip)": original, "through the autoencoder": decoded[0]}))
play_all({"original": riffnb.audio_from_image(original),
          "through the autoencoder": riffnb.audio_from_image(decoded[0])})

# %% [markdown]
# Listen for what is lost: the autoencoder keeps rhythm, loudness and pitch range but blurs the finest harmonics.
# Every generated clip goes through this decoder, so its error is a floor for the whole model. (That is why the
# recipe ends by fine-tuning the decoder once more, in section 6.)
#
# The latents of the first clip, channel by channel: a small image, 12 rows (bands / 8) by 32 columns
# (time / 8), in which the rhythm is still visible.

# %%
fig, axes = plt.subplots(2, 4, figsize=(11, 3.2), layout="constrained", sharex=True, sharey=True)
for channel, ax in enumerate(axes.flat):
    shown = ax.imshow(eval_latents[0, channel].numpy(), origin="upper", cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto",
                      interpolation="nearest")
    ax.set_title(f"channel {channel}", fontsize="small")
for ax in axes[1]:
    ax.set_xlabel("column (x8 px, 0.16 s)")
for ax in axes[:, 0]:
    ax.set_ylabel("row (x8 bands)")
fig.colorbar(shown, ax=axes, label="scaled latent value")
plt.show()

# %% [markdown]
# ## 5. What the UNet learns: predicting $v$
#
# With the autoencoder frozen, every clip is encoded once; the UNet (and the text encoder, trained together with
# it) then learns on latents $x_0$. One training step, as in Stable Diffusion:
#
# 1. draw a timestep $t$ uniformly from 0…999 and noise $\varepsilon \sim \mathcal N(0, I)$;
# 2. make the noisy latents $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$ (notebook 04);
# 3. ask the UNet for a prediction from $x_t$, $t$ and the caption's embeddings (an empty caption 10% of the
#    time, so that classifier-free guidance has an unconditional model to push away from);
# 4. minimise the mean squared error to the target.
#
# Riffusion's target is the noise $\varepsilon$. The tiny model's is the **velocity**
#
# $$v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0 .$$
#
# At low noise $v \approx \varepsilon$; at high noise $v \approx -x_0$, the music itself, where an $\varepsilon$
# target would be almost $x_t$ and teach little. And when $x_0$ and $\varepsilon$ both have unit variance, so
# does $v$ at every $t$: each timestep's loss is on the same scale. The formula by hand, checked against the
# training scheduler's `get_velocity`:

# %%
scheduler = make_training_scheduler()
print(f"prediction_type {scheduler.config.prediction_type!r}, {scheduler.config.num_train_timesteps} timesteps")
alphas_cumprod = scheduler.alphas_cumprod


def velocity(x0, noise, alpha_bar):
    """The v-prediction target for clean latents ``x0``, noise ``noise`` and ᾱ_t = ``alpha_bar``."""
    return alpha_bar**0.5 * noise - (1 - alpha_bar) ** 0.5 * x0


noise = torch.randn(eval_latents.shape, generator=torch.Generator().manual_seed(0))
timesteps = torch.tensor([0, 100, 250, 400, 500, 600, 750, 999])
by_hand = velocity(eval_latents, noise, alphas_cumprod[timesteps].view(-1, 1, 1, 1))
velocity_error = float((by_hand - scheduler.get_velocity(eval_latents, noise, timesteps)).abs().max())
print(f"largest difference from get_velocity: {velocity_error:.1e}")

# %% [markdown]
# How well does the shipped UNet do it? Its loss on the held-out clips, at each timestep, with their captions,
# with empty captions, and for a "network" that always answers 0 (its loss is the mean of $v^2$). The latents are
# the encoder's posterior means; training draws around them, with a spread of well under 1% of their variance.

# %%
captions = [caption_for(spec, random.Random(spec.seed)) for spec in eval_specs]
text_encoder, unet = shipped.pipeline.text_encoder, shipped.pipeline.unet


def embed(texts):
    ids = shipped.pipeline.tokenizer(texts, padding="max_length", max_length=77, truncation=True,
                                     return_tensors="pt").input_ids
    return text_encoder(ids)[0]


shipped_losses = {"with the captions": [], "with empty captions": [], "always predicting 0": []}
with torch.no_grad():
    context = {"with the captions": embed(captions), "with empty captions": embed([""] * len(captions))}
    for t in timesteps.tolist():
        t_batch = torch.full((len(eval_specs),), t)
        noisy = scheduler.add_noise(eval_latents, noise, t_batch)
        target = scheduler.get_velocity(eval_latents, noise, t_batch)
        for label, hidden in context.items():
            prediction = unet(noisy, t_batch, hidden).sample
            shipped_losses[label].append(float(((prediction - target) ** 2).mean()))
        shipped_losses["always predicting 0"].append(float((target**2).mean()))
    # The loop by hand is the recipe's training loss (riffnb.train.train.v_prediction_loss), timestep by timestep.
    last_t = torch.full((len(eval_specs),), int(timesteps[-1]))
    recipe_loss = float(v_prediction_loss(unet, scheduler, eval_latents, noise, last_t, context["with the captions"]))
    assert abs(recipe_loss - shipped_losses["with the captions"][-1]) < 1e-5, recipe_loss
shipped_mean_loss = float(np.mean(shipped_losses["with the captions"]))

fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
for label, losses in shipped_losses.items():
    ax.plot(timesteps, losses, "o-", label=label)
ax.set(xlabel="timestep t (0 = clean, 999 = pure noise)", ylabel="mean squared error",
       title="the shipped UNet's v-prediction loss on held-out clips", ylim=(0, 1.2))
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print(f"averaged over these timesteps: {shipped_mean_loss:.3f} with captions, "
      f"{np.mean(shipped_losses['always predicting 0']):.3f} predicting 0")

# %% [markdown]
# The loss is highest at the two ends: near $t = 0$ the target is almost pure noise $\varepsilon$, unguessable
# from $x_t \approx x_0$; near $t = 999$ the target is almost the music $-x_0$, and the noise hides it. There the
# caption helps most: the gap between the two lines is what the text encoder contributes.
#
# ## 6. A toy training run
#
# `riffnb.train.Trainer` runs the recipe in a work folder, in phases: **corpus** (render the clips), **vae**
# (train the autoencoder), **latents** (encode every clip once, set the scaling factor), **unet** (train the UNet
# and the text encoder together), **decoder** (sharpen the autoencoder's decoder). A `Recipe` holds every
# setting: `FULL_RECIPE` made the shipped model,
# `SMOKE_RECIPE` is a toy for tests. Ours is the toy's small networks with a little more training:

# %%
TOY_RECIPE = dataclasses.replace(
    SMOKE_RECIPE,
    train_clips=24,        # clips in the corpus (FULL: 2400)
    vae_steps=40, vae_batch=4, vae_lr=2e-3,
    unet_steps=40, unet_batch=16, unet_lr=3e-3,
    decoder_steps=20,
    warmup_steps=5,
)
rows = ["| setting | toy (this notebook) | FULL_RECIPE (the shipped model) |", "|---|---|---|"]
for field in ("train_clips", "vae_steps", "vae_batch", "vae_lr", "unet_steps", "unet_batch", "unet_lr",
              "decoder_steps", "decoder_lr", "warmup_steps", "ema_decay", "caption_dropout"):
    rows.append(f"| `{field}` | {getattr(TOY_RECIPE, field)} | {getattr(FULL_RECIPE, field)} |")
rows.append(f"| `sizes.unet_channels` | {TOY_RECIPE.sizes.unet_channels} | {FULL_RECIPE.sizes.unet_channels} |")
display(Markdown("\n".join(rows)))

# A work folder that holds a run is resumed, not restarted: start from an empty one each time this cell runs.
shutil.rmtree(workdir / "toy", ignore_errors=True)
trainer = Trainer(workdir / "toy", TOY_RECIPE, log_every=1)   # log (and plot) every step
images, specs = trainer.corpus()                          # phase 1: render the corpus (cached in the folder)
print(f"corpus: {images.shape[0]} images of {images.shape[1]}x{images.shape[2]} pixels")

# %% [markdown]
# Phase 2, the autoencoder, on random half-width crops (it is fully convolutional, so it learns from 96×128
# crops and still encodes whole images). `l1` is the mean pixel error on the $[-1, 1]$ scale (×127.5 for pixel
# levels), `kl` the KL term:

# %%
trainer.train_vae(images)

# %% [markdown]
# Phase 3 encodes the corpus once and sets the scaling factor to 1 / (the latents' standard deviation):

# %%
trainer.encode_latents(images)

# %% [markdown]
# Phase 4, the UNet and the text encoder. `train_unet` trains until the recipe's `unet_steps` and ends with a
# checkpoint, `checkpoint.pt`: networks, optimizer, the EMA weights and every random stream, so a stopped run
# continues exactly where it was (running `python -m riffnb.train` again with a larger `--unet-steps` does that).

# %%
log = io.StringIO()
with contextlib.redirect_stdout(log):                     # keep the loss lines, skip the checkpoint notices
    trainer.train_unet(specs)
print("\n".join(line for line in log.getvalue().splitlines() if "unet step" in line))

metrics = [json.loads(line) for line in (trainer.workdir / "metrics.jsonl").read_text().splitlines()]
unet_points = [(m["step"], m["loss"]) for m in metrics if m["phase"] == "unet" and "loss" in m]
toy_losses = [loss for _, loss in unet_points]

fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
ax.plot(*zip(*unet_points), ".-", label="your toy run")
ax.axhline(1.0, color="0.5", linestyle=":", label="always predicting 0")
ax.axhline(shipped_mean_loss, color="C2", linestyle="--", label="the shipped model (section 5)")
ax.set(xlabel="UNet step", ylabel="v-prediction loss (MSE)", title="phase 4: training the UNet", ylim=(0, 1.2))
ax.grid(alpha=0.3)
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# The loss falls fast at first and then slowly: the toy has learned the average look of a spectrogram's latents,
# not yet music. (The two losses are on different autoencoders' latents, so the comparison is rough.) The
# shipped model's UNet saw 32 clips per step for the number of steps printed at the top of this notebook to get
# down to its line.
#
# Phase 5 goes back to the autoencoder and trains its **decoder** alone, the encoder frozen, on the same
# reconstruction loss. The encoder made every latent the UNet learnt from; as long as it does not change, the
# UNet still fits, and only how latents are drawn gets sharper. Stability AI did the same for Stable Diffusion
# (the `sd-vae-ft-mse` decoder works with every SD 1.x UNet). In the shipped recipe it matters: after the joint
# training the decoder still smeared chords into bands of noise.

# %%
encoder_before = copy.deepcopy(trainer.vae.encoder.state_dict())
with contextlib.redirect_stdout(io.StringIO()):           # one loss line per step; the count below says enough
    trainer.train_decoder(images)
encoder_after = trainer.vae.encoder.state_dict()
encoder_kept = all(torch.equal(value, encoder_after[key]) for key, value in encoder_before.items())
print(f"{trainer.decoder_step} decoder steps; encoder unchanged: {encoder_kept}")

# %% [markdown]
# ### Exponential moving average, and the export
#
# The weights that get exported are not the last ones but an **exponential moving average** (EMA) of them,
# updated after every step: $\theta_{\text{EMA}} \leftarrow d\,\theta_{\text{EMA}} + (1-d)\,\theta$ with
# $d = \min(\text{ema\_decay}, \frac{1+\text{step}}{10+\text{step}})$. Averaging over roughly the last thousand steps
# (FULL: $d = 0.999$) smooths out the noise of single steps and samples noticeably better.
#
# `export_pipeline` writes a diffusers folder (safetensors weights, configs, the tokenizer) plus two riffnb files:
# `spectrogram_params.json` (how its images become sound) and `riffnb.json` (the sampling defaults and how far
# it was trained). `riffnb.load_pipeline` loads it like any model.

# %%
toy_folder = export_pipeline(trainer, workdir / "toy-pipeline")
for path in sorted(toy_folder.rglob("*")):
    if path.is_file():
        print(f"{path.relative_to(toy_folder)!s:48} {path.stat().st_size / 1e3:8.1f} kB")
print(json.loads((toy_folder / "riffnb.json").read_text())["training"])
toy = riffnb.load_pipeline(toy_folder)
print(toy)

# %% [markdown]
# ## 7. Your model against a trained one
#
# The same prompts, seeds and sampling settings for your toy model and for a trained one. The prompts are
# written with the held-out sentence frames, so neither model has read them.

# %%
# ⚙️ MODEL SWITCH — the only line to change. "tiny": riffnb's embedded model, any CPU, seconds per clip.
# "riffusion/riffusion-model-v1": the real Riffusion (needs a GPU and the Hugging Face hub).
MODEL = "tiny"
pipe = riffnb.load_pipeline(MODEL)

# %%
SEED = 3
PROMPTS = {                                   # instrument -> a prompt that asks for it
    "flute": "a waltz tune for flute",
    "drums": "some techno music featuring drums",
    "organ": "organ in a ballad style",
}
toy_clips = {name: toy.text_to_audio(prompt, seed=SEED) for name, prompt in PROMPTS.items()}
trained_clips = {name: pipe.text_to_audio(prompt, seed=SEED) for name, prompt in PROMPTS.items()}
print(f"toy: {toy.defaults}\n{MODEL}: {pipe.defaults}")

first = next(iter(PROMPTS))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
plot_image(toy_clips[first].image, ax=axes[0], title=f"your toy model: {PROMPTS[first]!r}")
plot_image(trained_clips[first].image, ax=axes[1], title=f"{MODEL}: {PROMPTS[first]!r}")
plt.show()
for name, prompt in PROMPTS.items():
    display(Markdown(f"**{prompt!r}**"))
    display(play_all({"your toy model": (toy_clips[name].samples, toy_clips[name].sample_rate),
                      MODEL: (trained_clips[name].samples, trained_clips[name].sample_rate)}))

# %% [markdown]
# Forty steps on 24 clips make a model that draws spectrogram-like texture but no music yet, whatever the prompt.
#
# ## 8. Running the full recipe
#
# The command line runs the same `Trainer`, resumable, with logs, checkpoints and optional previews:
#
# ```bash
# python -m riffnb.train --smoke --workdir /tmp/tiny-smoke            # the SMOKE recipe end to end, ~1 minute
# python -m riffnb.train --workdir runs/tiny --out my-tiny            # FULL_RECIPE from scratch, ~3.5 h, 2 cores
# python -m riffnb.train --workdir runs/tiny --out my-tiny            # the same command again: it resumes
# python -m riffnb.train --workdir runs/tiny --unet-steps 20000       # resume and train longer
# python -m riffnb.train --workdir runs/tiny --export-only --out my-tiny   # export the latest checkpoint
# python -m riffnb.train --workdir runs/more --init-from tiny --unet-steps 20000
# ```
#
# The last one keeps training the **shipped** model: a new work folder starts from its exported weights (the
# autoencoder stays as it is, the UNet goes on counting from where the export stopped) with a fresh optimizer.
# `--preview-minutes 15` draws a few prompts into `previews/` every 15 minutes; `--export-minutes 30` exports
# along the way, so you can listen with `riffnb.load_pipeline("my-tiny")` while it trains. `metrics.jsonl` in the
# work folder holds every loss printed here. In Python, `Trainer(workdir, recipe).run()` runs whatever phases
# remain. (Fine-tuning Riffusion itself on your own music is a different job: it needs a GPU and diffusers'
# training scripts.)
#
# ## 9. Does the music follow the prompt? An independent judge
#
# Listening is the real test, but a number helps to follow a run. The loss does not say whether a prompt for
# flute gives a flute, and the model cannot grade itself. `riffnb.train.evaluate` trains a **judge**: a softmax
# regression on features of the *audio* (per-band loudness and its spread over time, per-band onset strength,
# the autocorrelation of the onset envelope for tempo), fitted only on synthesizer clips from the held-out
# `"eval"` seeds, never on model output. Each question gets its own judge: which instrument, slow or fast, low or
# high. Here is a small one for the three instruments of our prompts:

# %%
JUDGED = tuple(PROMPTS)
judge_specs = [spec for spec in solo_specs(corpus_specs("eval", 120)) if spec.lead in JUDGED]
judge_features = np.stack([audio_features(render_spec(spec)) for spec in judge_specs])
judge_labels = [spec.lead for spec in judge_specs]
split = len(judge_specs) * 3 // 4               # fit on the first three quarters, test on the rest
judge_accuracy = SoftmaxClassifier().fit(judge_features[:split], judge_labels[:split]).accuracy(
    judge_features[split:], judge_labels[split:])
judge = SoftmaxClassifier().fit(judge_features, judge_labels)
print(f"{len(judge_specs)} real clips; accuracy on the {len(judge_specs) - split} it did not fit: {judge_accuracy:.0%}")


def heard(clip):
    """What the judge hears in a generated clip (features at the tiny model's rate, whatever the model's)."""
    samples = resample(clip.samples, clip.sample_rate, TINY_PARAMS.sample_rate)
    return judge.predict(audio_features(samples))[0]


verdicts = {name: {"your toy model": heard(toy_clips[name]), MODEL: heard(trained_clips[name])} for name in JUDGED}
rows = ["| prompt | asks for | your toy model: judge hears | " + MODEL + ": judge hears |", "|---|---|---|---|"]
for name, prompt in PROMPTS.items():
    rows.append(f"| {prompt} | {name} | {verdicts[name]['your toy model']} | {verdicts[name][MODEL]} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# `benchmarks/eval_tiny.py` does this at scale: judges for all nine instruments, for slow or fast and for low or
# high register, each fitted on 900 clips, dozens of paraphrased prompts, plus the autoencoder's error, seconds
# per clip and peak memory. Its numbers for the shipped export are in the model card,
# `riffnb/models/tiny/README.md`. Run it on your own export with `python benchmarks/eval_tiny.py --model my-tiny`.
#
# ## 10. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 1.** The autoencoder halves height and width three times (8×) and has 8 latent channels. What is
# the shape (channels, height, width) of the latents of a 96×256 image? Answer as a tuple.

# %%
latent_shape = None  # ✏️ your answer: (channels, height, width)

check_answer(latent_shape, tuple(eval_latents.shape[1:]),
             hint="height and width each divided by 8; the channels are the VAE's latent_channels (models.py).")

# %% [markdown]
# **Exercise 2.** The UNet's first layer, `unet.conv_in`, is a 3×3 convolution from the 8 latent channels to 48
# channels, with one bias per output channel. How many trainable parameters does it have?

# %%
conv_in_parameters = None  # ✏️ your answer: a whole number

check_answer(conv_in_parameters, parameter_count(shipped.pipeline.unet.conv_in),
             hint="each output channel has one 3x3 kernel per input channel, plus a bias.")

# %% [markdown]
# **Exercise 3.** At a timestep where $\bar\alpha_t = 0.36$, one latent value is $x_0 = 0.5$ and its noise is
# $\varepsilon = 1.0$. What is the v-prediction target?

# %%
v_target = None  # ✏️ your answer

check_answer(v_target, float(velocity(torch.tensor(0.5), torch.tensor(1.0), 0.36)), atol=1e-3,
             hint="v = sqrt(ᾱ) ε - sqrt(1 - ᾱ) x0, with sqrt(0.36) = 0.6.")

# %% [markdown]
# **Exercise 4.** $x_0$ and $\varepsilon$ are independent, with mean 0 and variance 1. What loss (mean squared
# error) does a network get that always predicts $v = 0$, at any timestep? (The dotted line of section 6.)

# %%
zero_prediction_loss = None  # ✏️ your answer

# Check: measure it on a million random numbers at an arbitrary ᾱ.
_draws = torch.randn(2, 1_000_000, generator=torch.Generator().manual_seed(1))
check_answer(zero_prediction_loss, float((velocity(_draws[0], _draws[1], 0.3) ** 2).mean()), atol=0.01,
             hint="for independent unit-variance terms the variance of a·ε - b·x0 is a² + b²; here ᾱ + (1 - ᾱ).")

# %% [markdown]
# **Exercise 5.** In `FULL_RECIPE`, how many times on average does the UNet phase see each training clip (each
# time with a fresh caption and fresh noise)? (To 1 %.)

# %%
passes_per_clip = None  # ✏️ your answer

check_answer(passes_per_clip, FULL_RECIPE.unet_steps * FULL_RECIPE.unet_batch / FULL_RECIPE.train_clips,
             rtol=0.01, hint="steps times clips per step, divided by the number of clips.")

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
assert train_pixels[0].shape == (TINY_PARAMS.num_frequencies, 256), train_pixels[0].shape
assert 500 < vocabulary_size < 2000 and all(len(tokenizer.tokenize(word)) == 1 for word in caption_words)
assert 4e6 < unet_parameters < 7e6 and total["FULL (tiny)"] * 4 < 30e6, parameters
assert tuple(eval_latents.shape[1:]) == (8, 12, 32), eval_latents.shape
assert vae_pixel_error < 20, vae_pixel_error
assert velocity_error < 1e-5, velocity_error
assert shipped_mean_loss < 0.5 < np.mean(shipped_losses["always predicting 0"]), shipped_losses
assert len(toy_losses) == TOY_RECIPE.unet_steps and np.mean(toy_losses[-5:]) < np.mean(toy_losses[:5]) - 0.05, toy_losses
assert trainer.phase == "done" and trainer.step == TOY_RECIPE.unet_steps, (trainer.phase, trainer.step)
assert trainer.decoder_step == TOY_RECIPE.decoder_steps and encoder_kept, (trainer.decoder_step, encoder_kept)
assert toy.params == TINY_PARAMS and toy_clips[first].image.size == (toy.defaults.width, toy.params.num_frequencies)
assert judge_accuracy >= 0.8, judge_accuracy
print("✓ all of this notebook's checks passed")
