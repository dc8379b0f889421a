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
# # 04 · Diffusion step by step
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/04_diffusion_step_by_step.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F04_diffusion_step_by_step.ipynb)
#
# `pipe.text_to_audio("bossa nova with electric guitar")` turns a sentence into a spectrogram image and the image
# into sound. Notebooks 01-03 took the second half apart (image to sound). This one takes the first half apart:
# Stable Diffusion, the model Riffusion fine-tuned, run one visible piece at a time, and checked at the end
# against the one-line call, bit for bit.
#
# **At the end of this notebook you will know**
#
# 1. how a prompt becomes numbers: tokens, the 77-token padding and the text encoder's embeddings;
# 2. what latents are (the autoencoder's small image, 8 times smaller each way) and where the starting noise
#    comes from;
# 3. the noise schedule: the forward process $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$,
#    timesteps and sigmas, and what the network predicts ($\varepsilon$ or $v$);
# 4. one UNet call and classifier-free guidance, $\hat\varepsilon = \varepsilon_u + g\,(\varepsilon_c -
#    \varepsilon_u)$;
# 5. how a scheduler turns predictions into a denoising loop, and how the autoencoder decodes the result;
# 6. how the music appears step by step (seen and heard), and what schedulers and guidance change.
#
# **You need** notebooks 02 and 03 (Riffusion's images and how they become sound) and the normal distribution.
# With riffnb's tiny model this runs on a CPU in about a minute.

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
import torch
from IPython.display import display

import riffnb
from riffnb.diffusion import steps
from riffnb.display import play, play_all
from riffnb.exercises import check_answer
from riffnb.plot import compare, plot_image

# %% [markdown]
# ## 0. The model, and the whole thing in one call
#
# Two models share every line of this notebook. riffnb's **tiny** model (96×256 images, 22.05 kHz, 5.3 M
# parameters in its UNet) runs on any CPU; **Riffusion** itself (512×512 images, 44.1 kHz, 860 M) wants a GPU.

# %%
# ⚙️ MODEL SWITCH — the only line to change. "tiny": riffnb's embedded model, any CPU, seconds per clip.
# "riffusion/riffusion-model-v1": the real Riffusion (needs a GPU and the Hugging Face hub).
MODEL = "tiny"
pipe = riffnb.load_pipeline(MODEL)
# The by-hand checks below agree with riffnb to rounding: ~1e-6 in float32 (CPUs), ~1e-3 in float16 (GPUs).
TOLERANCE = 1e-4 if pipe.dtype == torch.float32 else 2e-2

# %% [markdown]
# The model's own sampling settings (`pipe.defaults`) are what `text_to_audio` uses when a call leaves them out;
# this notebook uses them too, written out.

# %%
PROMPT = "bossa nova with electric guitar"
SEED = 6
STEPS, GUIDANCE, WIDTH, SCHEDULER = pipe.defaults.steps, pipe.defaults.guidance, pipe.defaults.width, pipe.defaults.scheduler
print(pipe)
# W columns decode to W - 1 hops of audio (notebook 02).
print(f"defaults: {STEPS} steps of {SCHEDULER!r}, guidance {GUIDANCE}, {WIDTH} columns "
      f"= {pipe.params.duration_of(WIDTH - 1):.2f} s of audio")

started = time.perf_counter()
clip = pipe.text_to_audio(PROMPT, seed=SEED)
one_call_s = time.perf_counter() - started
print(f"text_to_audio took {one_call_s:.1f} s")
clip

# %% [markdown]
# Everything below rebuilds `clip` from its parts. The plan, with the tensor shapes for the tiny model (and
# Riffusion's):
#
# | step | what | shape |
# |---|---|---|
# | tokenizer | prompt → 77 token ids | 77 |
# | text encoder | token ids → one vector per token | 1 × 77 × 128 (768) |
# | noise | the seed → Gaussian latents | 1 × 8 × 12 × 32 (4 × 64 × 64) |
# | UNet × steps | noisy latents, timestep, text → predicted noise | as the latents |
# | scheduler × steps | prediction → slightly cleaner latents | as the latents |
# | VAE decoder | latents → spectrogram image | 96 × 256 (512 × 512) pixels |
# | notebooks 02-03 | image → audio | 5.10 s (5.11 s) |
#
# ## 1. From text to token ids
#
# The text encoder reads a fixed vocabulary of **tokens**. The tokenizer splits the prompt into tokens (CLIP's
# byte-pair encoding: common words are one token, rare ones several pieces; the tiny model's 862 tokens give each
# of the 94 words of its captions one token, and spell anything else byte by byte), adds a start and an end
# token, and pads the sequence to CLIP's fixed length of 77.

# %%
tokenizer = pipe.pipeline.tokenizer
token_ids = tokenizer(PROMPT, padding="max_length", max_length=tokenizer.model_max_length).input_ids
tokens = tokenizer.convert_ids_to_tokens(token_ids)
prompt_tokens = len(tokenizer(PROMPT).input_ids) - 2       # without the start and end tokens
print(f"vocabulary: {len(tokenizer)} tokens; sequence length: {tokenizer.model_max_length}; "
      f"this prompt: {prompt_tokens} tokens")
for position, (token, token_id) in enumerate(zip(tokens[: prompt_tokens + 4], token_ids)):
    print(f"{position:3d}  {token_id:6d}  {token}")
print(f"...  and {tokenizer.model_max_length - prompt_tokens - 4} more {tokenizer.pad_token!r} (id {tokenizer.pad_token_id})")

# %% [markdown]
# ## 2. Text embeddings
#
# The text encoder (CLIP's text transformer: 12 layers for Riffusion, 2 for the tiny model) turns each of the 77
# tokens into a vector, looking only at the tokens before it (causal attention). The UNet reads all 77 vectors
# through cross-attention. `steps.encode_prompt` encodes the prompt and, for guidance (section 6), the empty
# prompt, the *unconditional* one. Below: the same embeddings from the token ids by hand.

# %%
embeddings = steps.encode_prompt(pipe, PROMPT)
embedding_shape = tuple(embeddings.cond.shape)
print("prompt embeddings:", embedding_shape, " empty prompt:", tuple(embeddings.uncond.shape))

with torch.no_grad():
    by_hand = pipe.pipeline.text_encoder(torch.tensor([token_ids], device=pipe.device))[0]
assert torch.allclose(by_hand, embeddings.cond, atol=TOLERANCE), "encode_prompt = the text encoder on the token ids"

cond, uncond = embeddings.cond[0].float().cpu(), embeddings.uncond[0].float().cpu()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
shown = axes[0].imshow(cond.T, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
axes[0].axvline(prompt_tokens + 1.5, color="k", linewidth=0.8)                # after the end token
axes[0].set(xlabel="token position", ylabel="embedding dimension", title=f"embeddings of {PROMPT!r}")
fig.colorbar(shown, ax=axes[0], label="value")
axes[1].plot((cond - uncond).norm(dim=1), ".-", markersize=3)
axes[1].axvline(prompt_tokens + 1.5, color="k", linewidth=0.8, label="end token | padding")
axes[1].set(xlabel="token position", ylabel="distance (embedding units)",
            title="prompt vs empty prompt, position by position")
axes[1].legend()
plt.show()

# %% [markdown]
# Position 0 (the start token) is the same for every prompt: nothing comes before it. The padding positions
# differ from the empty prompt's: through causal attention each one has read the whole prompt.
#
# ## 3. Latents and the starting noise
#
# Stable Diffusion does not denoise pixels. Its autoencoder (VAE) compresses an image $8\times$ in each direction
# into **latents** with a few channels (Riffusion: 4 channels, 512×512 pixels → 4×64×64; the tiny model: 8
# channels, 96×256 → 8×12×32), and the diffusion runs there: 48 (Riffusion) or 24 (tiny) times fewer numbers
# than the RGB image. Generation starts from standard Gaussian noise of that shape, drawn from a generator
# seeded with the seed: the seed *is* the starting noise.

# %%
factor = pipe.pipeline.vae_scale_factor
latent_shape_now = steps.latent_shape(pipe, WIDTH)
print(f"image {pipe.height}x{WIDTH} pixels -> latents {latent_shape_now} (VAE factor {factor})")

generator = steps.make_generator(SEED)
noise = steps.initial_noise(pipe, WIDTH, generator)
print(f"noise: mean {noise.mean():.3f}, standard deviation {noise.std():.3f}")


def show_channels(latents, title):
    """Each latent channel as a small image (rows: frequency bands / 8, low at the bottom; columns: time / 8)."""
    channels = latents[0].float().cpu()
    fig, axes = plt.subplots(1, len(channels), figsize=(1.6 * len(channels), 1.6), layout="constrained",
                             sharey=True, squeeze=False)
    for channel, ax in enumerate(axes[0]):
        ax.imshow(channels[channel], cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto", interpolation="nearest")
        ax.set(title=f"channel {channel}", xlabel="column (x8 px)", xticks=[], yticks=[])
    axes[0, 0].set_ylabel("row (x8 px)")
    fig.suptitle(title)
    plt.show()


show_channels(noise, f"the starting noise of seed {SEED}")
show_channels(clip.latents, "the final latents of the clip")

# %% [markdown]
# The VAE decoder can draw any latents; pure noise becomes a texture of blobs, and sounds like it:

# %%
noise_image = steps.decode(pipe, noise)[0]
display(compare({"VAE(noise)": noise_image, "VAE(final latents) = the clip": clip.image}))
play_all({"decoded noise": pipe.image_to_audio(noise_image), "the clip": (clip.samples, clip.sample_rate)})

# %% [markdown]
# ## 4. The noise schedule
#
# Training teaches the UNet to undo a fixed **forward process** that drowns the latents $x_0$ of real music in
# noise over $T = 1000$ timesteps. With $\varepsilon \sim \mathcal{N}(0, I)$ and a schedule of small variances
# $\beta_1 \dots \beta_T$ ("scaled linear": $\sqrt{\beta_t}$ evenly spaced from $\sqrt{0.00085}$ to
# $\sqrt{0.012}$), the noisy latents at timestep $t$ are
#
# $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon, \qquad
#   \bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s).$$
#
# $\sqrt{\bar\alpha_t}$ is how much signal is left, $\sqrt{1-\bar\alpha_t}$ how much noise there is; their squares
# add up to 1, so $x_t$ keeps unit variance. Here is the schedule by hand, checked against the scheduler's:

# %%
scheduler = steps.make_scheduler(pipe, SCHEDULER, STEPS)
config = scheduler.config
betas = np.linspace(np.sqrt(config.beta_start), np.sqrt(config.beta_end), config.num_train_timesteps) ** 2
alphas_cumprod = np.cumprod(1 - betas)
assert config.beta_schedule == "scaled_linear"
assert np.allclose(alphas_cumprod, scheduler.alphas_cumprod.numpy(), rtol=1e-5)

visited = scheduler.timesteps.cpu().numpy().astype(int)
timesteps_all = np.arange(config.num_train_timesteps)
fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
ax.plot(timesteps_all, np.sqrt(alphas_cumprod), label=r"signal $\sqrt{\bar\alpha_t}$")
ax.plot(timesteps_all, np.sqrt(1 - alphas_cumprod), label=r"noise $\sqrt{1-\bar\alpha_t}$")
ax.plot(visited, np.sqrt(alphas_cumprod[visited]), "k|", markersize=12, label=f"the {len(visited)} timesteps visited")
ax.set(xlabel="timestep t", ylabel="amplitude (1 = all of it)", title="the forward process, scaled-linear schedule")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print("timesteps the loop visits:", visited.tolist())

# %% [markdown]
# The forward process on the clip's own latents, at a few timesteps: the formula by hand, checked against the
# scheduler's `add_noise`, decoded and played. This is what the UNet was trained on; generation runs the film
# backwards.

# %%
x0 = clip.latents.to(pipe.device, pipe.dtype)
epsilon = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)).to(x0)
ddim = steps.make_scheduler(pipe, "ddim", STEPS)   # its add_noise takes any timestep
noised = {}
for t in (0, 250, 500, 750, 999):
    alpha_bar = float(alphas_cumprod[t])
    x_t = alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * epsilon
    assert torch.allclose(x_t, ddim.add_noise(x0, epsilon, torch.tensor([t])), atol=TOLERANCE)
    noised[f"t = {t}: signal {np.sqrt(alpha_bar):.2f}, noise {np.sqrt(1 - alpha_bar):.2f}"] = steps.decode(pipe, x_t)[0]
display(compare(noised))
play_all({label.split(":")[0]: pipe.image_to_audio(image) for label, image in noised.items()})

# %% [markdown]
# ### Sigmas
#
# Dividing by $\sqrt{\bar\alpha_t}$ writes the same process as "signal plus more and more noise",
# $x_t / \sqrt{\bar\alpha_t} = x_0 + \sigma_t\,\varepsilon$ with the noise-to-signal ratio
# $\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$. Euler-type samplers (Euler, Euler ancestral, LMS) work in
# that form and list their $\sigma$ for every visited timestep; they start from noise scaled by
# `init_noise_sigma`, about the largest $\sigma$. DDIM, PNDM and DPM-Solver++ start from unit noise.

# %%
euler = steps.make_scheduler(pipe, "euler", STEPS)
# Each scheduler picks its own timesteps from the model's spacing setting: Euler's, not the loop's.
euler_visited = euler.timesteps.cpu().numpy().astype(int)
sigmas_by_hand = np.sqrt((1 - alphas_cumprod[euler_visited]) / alphas_cumprod[euler_visited])
assert np.allclose(sigmas_by_hand, euler.sigmas[:-1].numpy(), rtol=1e-4)
print("sigmas:", np.round(sigmas_by_hand, 3).tolist(), "then 0")
print(f"init_noise_sigma: euler {float(euler.init_noise_sigma):.2f}, {SCHEDULER} {float(scheduler.init_noise_sigma):.2f}")

# %% [markdown]
# ### What the network predicts: $\varepsilon$ or $v$
#
# Riffusion (like Stable Diffusion 1.5) predicts the noise $\varepsilon$. The tiny model predicts the
# "velocity" $v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$ (as Stable Diffusion 2 does),
# which stays informative at the noisiest timesteps, where $\varepsilon \approx x_t$ says little. Either way,
# with $x_t$ known, one prediction gives both the clean latents $\hat x_0$ and the noise $\hat\varepsilon$:
#
# $$\text{from }\varepsilon:\ \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}};
# \qquad \text{from }v:\ \hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,\hat v,\quad
# \hat\varepsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,\hat v.$$
#
# The model's configuration says which one it learned:

# %%
PREDICTION_TYPE = pipe.pipeline.scheduler.config.prediction_type
print(f"{pipe.model}: prediction_type = {PREDICTION_TYPE!r}")


def split_prediction(prediction, latents, timestep):
    """The clean latents x̂_0 and the noise ε̂ that a UNet prediction at ``timestep`` stands for."""
    alpha_bar = float(alphas_cumprod[int(timestep)])
    signal, noise_level = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if PREDICTION_TYPE == "epsilon":
        return (latents - noise_level * prediction) / signal, prediction
    return signal * latents - noise_level * prediction, noise_level * latents + signal * prediction  # v


# Check on the forward process at t = 500: a perfect prediction gives back x_0 and ε exactly.
alpha_bar = float(alphas_cumprod[500])
x_500 = alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * epsilon
perfect = epsilon if PREDICTION_TYPE == "epsilon" else alpha_bar**0.5 * epsilon - (1 - alpha_bar) ** 0.5 * x0
x0_back, epsilon_back = split_prediction(perfect, x_500, 500)
assert torch.allclose(x0_back, x0, atol=TOLERANCE) and torch.allclose(epsilon_back, epsilon, atol=TOLERANCE)

# %% [markdown]
# ## 5. One UNet call
#
# The UNet takes the noisy latents, the timestep and the 77 text vectors, and returns a tensor of the latents'
# shape: its prediction ($\varepsilon$ or $v$). `steps.predict_noise` makes the call (its name says "noise" for
# both kinds). With guidance 1 it runs the UNet once, on the prompt alone. Here is the very first step, from
# pure noise at the noisiest timestep:

# %%
latents = noise * scheduler.init_noise_sigma
t_first = scheduler.timesteps[0]
started = time.perf_counter()
prediction_cond = steps.predict_noise(pipe, scheduler, latents, t_first, embeddings, guidance=1.0)
unet_call_s = time.perf_counter() - started
print(f"timestep {int(t_first)}: input {tuple(latents.shape)} -> prediction {tuple(prediction_cond.shape)} "
      f"in {1000 * unet_call_s:.0f} ms")

# %% [markdown]
# ## 6. Classifier-free guidance
#
# A conditional model follows its prompt only loosely. **Classifier-free guidance** asks the UNet twice, once
# with the prompt ($\varepsilon_c$) and once with the empty prompt ($\varepsilon_u$), and extrapolates from the
# second towards and past the first:
#
# $$\hat\varepsilon = \varepsilon_u + g\,(\varepsilon_c - \varepsilon_u).$$
#
# $g = 0$ ignores the prompt, $g = 1$ is the prompt alone (one UNet call, no guidance), $g > 1$ exaggerates
# what the prompt adds. riffnb, like diffusers, runs both in one batch of two. The formula by hand, checked
# against `predict_noise`:

# %%
unconditional = steps.PromptEmbeddings(cond=embeddings.uncond, uncond=embeddings.uncond)
prediction_uncond = steps.predict_noise(pipe, scheduler, latents, t_first, unconditional, guidance=1.0)
guided_by_hand = prediction_uncond + GUIDANCE * (prediction_cond - prediction_uncond)
guided = steps.predict_noise(pipe, scheduler, latents, t_first, embeddings, guidance=GUIDANCE)
guidance_error = float((guided - guided_by_hand).abs().max())
print(f"guidance {GUIDANCE}: largest difference, riffnb vs by hand: {guidance_error:.1e}")
assert guidance_error < TOLERANCE

# %% [markdown]
# What each prediction says the finished latents $\hat x_0$ will be, already at the first step (decoded and
# played). Guidance pushes the guess away from "any music" towards the prompt:

# %%
first_guesses = {
    label: steps.decode(pipe, split_prediction(prediction, latents, t_first)[0])[0]
    for label, prediction in (("empty prompt", prediction_uncond), ("the prompt", prediction_cond),
                              (f"guidance {GUIDANCE:g}", guided))
}
display(compare({f"x̂0, {label}": image for label, image in first_guesses.items()}))
play_all({label: pipe.image_to_audio(image) for label, image in first_guesses.items()})

# %% [markdown]
# ## 7. The scheduler's step, and the whole loop
#
# A **scheduler** (sampler) turns the prediction at timestep $t$ into latents at the next, less noisy timestep.
# The simplest, DDIM, takes $\hat x_0$ and $\hat\varepsilon$ from the prediction and puts them back together at
# the next timestep's noise level:
#
# $$x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}}\,\hat\varepsilon .$$
#
# One DDIM step by hand, checked against riffnb's `denoise_step` with a DDIM scheduler:

# %%
ddim = steps.make_scheduler(pipe, "ddim", STEPS)
# DDIM's own first two timesteps (Riffusion's "leading" spacing gives other ones than DPM-Solver++'s).
t_ddim, t_next = int(ddim.timesteps[0]), int(ddim.timesteps[1])
guided_at_t_ddim = steps.predict_noise(pipe, ddim, latents, ddim.timesteps[0], embeddings, guidance=GUIDANCE)
x0_hat, epsilon_hat = split_prediction(guided_at_t_ddim, latents, t_ddim)
alpha_bar_next = float(alphas_cumprod[t_next])
ddim_by_hand = alpha_bar_next**0.5 * x0_hat + (1 - alpha_bar_next) ** 0.5 * epsilon_hat
ddim_step = steps.denoise_step(pipe, ddim, latents, ddim.timesteps[0], embeddings, GUIDANCE)
ddim_step_error = float((ddim_step - ddim_by_hand).abs().max())
print(f"DDIM step {t_ddim} -> {t_next}: largest difference, riffnb vs by hand: {ddim_step_error:.1e}")
assert ddim_step_error < TOLERANCE

# %% [markdown]
# DPM-Solver++ (riffnb's default) does the same with a second-order correction from the previous step's
# prediction, which is why 20-30 steps suffice. Now the whole loop, exactly as `text_to_audio` runs it: the
# prompt's embeddings, fresh noise from the seed, a fresh scheduler, one guided step per timestep, then the
# VAE and phase reconstruction.

# %%
started = time.perf_counter()
embeddings = steps.encode_prompt(pipe, PROMPT)
generator = steps.make_generator(SEED)
noise = steps.initial_noise(pipe, WIDTH, generator)
scheduler = steps.make_scheduler(pipe, SCHEDULER, STEPS)
latents = noise * scheduler.init_noise_sigma
history = []                                     # the latents after every step
for t in scheduler.timesteps:
    latents = steps.denoise_step(pipe, scheduler, latents, t, embeddings, GUIDANCE, generator)
    history.append(latents)
image = steps.decode(pipe, latents)[0]
samples, sample_rate = pipe.image_to_audio(image)
unrolled_s = time.perf_counter() - started

# Bit for bit on a CPU (a GPU's kernels may differ in the last bits between two calls).
exact = pipe.device.type == "cpu"
loop_difference = float((latents.cpu() - clip.latents).abs().max())
print(f"unrolled loop: {unrolled_s:.1f} s; largest difference from text_to_audio's latents: {loop_difference}")
if exact:
    assert torch.equal(latents, clip.latents)
    assert np.array_equal(np.asarray(image), np.asarray(clip.image))
    assert np.array_equal(samples, clip.samples) and sample_rate == clip.sample_rate
else:
    assert loop_difference < 1e-2, loop_difference
print(f"{len(history)} steps, {2 * len(history) if steps.uses_guidance(pipe, GUIDANCE) else len(history)} UNet "
      "evaluations: the same clip as text_to_audio")

# %% [markdown]
# ## 8. The VAE decoder
#
# `steps.decode` divides the latents by the VAE's scaling factor (0.18215 for Stable Diffusion, which makes its
# latents about unit variance), runs the decoder, and maps its output from $[-1, 1]$ to pixel values 0-255,
# tagging the image with the model's spectrogram parameters so it decodes to audio on its own.
# `steps.preview` skips the decoder: one fitted linear map per latent pixel, upscaled 8×, blurry but far
# cheaper (hundreds of times for Riffusion's large VAE), for live previews.

# %%
started = time.perf_counter()
steps.decode(pipe, latents)
decode_s = time.perf_counter() - started
steps.preview(pipe, latents)                     # the first call fits the map
started = time.perf_counter()
fast = steps.preview(pipe, latents)[0]
preview_s = time.perf_counter() - started
print(f"VAE scaling factor {pipe.pipeline.vae.config.scaling_factor:.4f}; decode {1000 * decode_s:.0f} ms, "
      f"preview {1000 * preview_s:.0f} ms")
display(compare({"VAE decoder": image, "fast preview": fast}))
play_all({"VAE decoder": (samples, sample_rate), "fast preview": pipe.image_to_audio(fast)})

# %% [markdown]
# ## 9. Every step, seen and heard
#
# The latents after a few of the steps, through the fast preview (top) and the VAE (bottom), with the VAE
# version played. The coarse structure (where the notes fall) emerges first, around the middle of the loop; the
# last steps clean up and sharpen.

# %%
shown_steps = np.linspace(0, len(history) - 1, 5).round().astype(int)
labels = [f"after step {i + 1} (t = {int(scheduler.timesteps[i])})" for i in shown_steps]
decoded_steps = {label: steps.decode(pipe, history[i])[0] for label, i in zip(labels, shown_steps)}
display(compare({label: steps.preview(pipe, history[i])[0] for label, i in zip(labels, shown_steps)}))
display(compare(decoded_steps))
play_all({label.split(" (")[0]: pipe.image_to_audio(image) for label, image in decoded_steps.items()})

# %% [markdown]
# ## 10. Schedulers and guidance, compared
#
# The same seed and prompt with other schedulers: DDIM follows nearly the same path as DPM-Solver++, Euler
# ancestral adds fresh noise at every step (from the same generator) and lands elsewhere. Then guidance: 1 (the
# prompt alone, no guidance), the model's default, and twice that.

# %%
by_scheduler = {SCHEDULER: clip}
for name in ("ddim", "euler_a"):
    by_scheduler[name] = pipe.text_to_audio(PROMPT, seed=SEED, scheduler=name)
display(compare({f"{name}, {STEPS} steps": c.image for name, c in by_scheduler.items()}))
play_all({name: (c.samples, c.sample_rate) for name, c in by_scheduler.items()})

# %%
by_guidance = {1.0: pipe.text_to_audio(PROMPT, seed=SEED, guidance=1.0), GUIDANCE: clip,
               2 * GUIDANCE: pipe.text_to_audio(PROMPT, seed=SEED, guidance=2 * GUIDANCE)}
display(compare({f"guidance {g:g}": c.image for g, c in by_guidance.items()}))
play_all({f"guidance {g:g}": (c.samples, c.sample_rate) for g, c in by_guidance.items()})

# %% [markdown]
# ### Try it yourself (optional)
#
# The diffusion stepper runs a generation and keeps every step: press **Run**, scrub the steps with the slider
# (the VAE decoding and its sound), then change the scheduler or the guidance and run again; every run stays
# listed below for comparison.

# %%
riffnb.widgets.DiffusionStepper(pipe, prompt=PROMPT, seed=SEED, steps=STEPS)

# %% [markdown]
# ## 11. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 1.** How many of the 77 token positions of `PROMPT` hold padding after the end token? (Section 1
# printed the prompt's length.)

# %%
padding_tokens = None  # ✏️ your answer: a whole number

check_answer(padding_tokens, tokenizer.model_max_length - prompt_tokens - 2,
             hint="77 positions: the start token, the prompt's tokens, the end token, then padding.")

# %% [markdown]
# **Exercise 2.** What is the shape of the latents for a 10.24 s clip with this model? (A tuple, like
# `latent_shape_now`.)

# %%
latent_shape_10s = None  # ✏️ your answer: (batch, channels, rows, columns)

check_answer(latent_shape_10s, steps.latent_shape(pipe, pipe.width_for(10.24)),
             hint="the image is twice as wide as for 5.12 s; latents are the image divided by the VAE factor 8, "
                  "with the VAE's number of channels.")

# %% [markdown]
# **Exercise 3.** From the schedule plot of section 4: at which timestep does the noise amplitude overtake the
# signal's (where $\bar\alpha_t = 1/2$)? (Within 10 timesteps.)

# %%
noise_overtakes_signal_at = None  # ✏️ your answer: a timestep between 0 and 999

check_answer(noise_overtakes_signal_at, int(np.argmax(alphas_cumprod < 0.5)), atol=10,
             hint="find where the two curves cross.")

# %% [markdown]
# **Exercise 4.** With guidance on (here $g$ = `GUIDANCE`), how many times does the UNet run per step, and how
# many times for the whole clip of section 7?

# %%
unet_calls_per_step = None  # ✏️ your answer: a whole number
unet_calls_per_clip = None  # ✏️ your answer: a whole number

check_answer(unet_calls_per_step, 2, hint="one prediction with the prompt, one with the empty prompt.")
check_answer(unet_calls_per_clip, 2 * len(scheduler.timesteps),
             hint="two per step, one step per visited timestep (section 4 listed them).")

# %% [markdown]
# **Exercise 5.** At one latent pixel the UNet predicts $\varepsilon_u = 0.2$ (empty prompt) and
# $\varepsilon_c = 0.5$ (the prompt). What does guidance $g = 7$ make of them?

# %%
guided_value = None  # ✏️ your answer: a number

check_answer(guided_value, 0.2 + 7 * (0.5 - 0.2), atol=1e-6, hint="ε_u + g (ε_c − ε_u).")

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
assert embedding_shape == (1, tokenizer.model_max_length, pipe.pipeline.text_encoder.config.hidden_size)
assert latent_shape_now == (1, pipe.pipeline.unet.config.in_channels, pipe.height // factor, WIDTH // factor)
assert PREDICTION_TYPE in ("epsilon", "v_prediction"), PREDICTION_TYPE
assert guidance_error < TOLERANCE and ddim_step_error < TOLERANCE, (guidance_error, ddim_step_error)
assert len(history) == len(scheduler.timesteps) == STEPS
assert loop_difference == 0 or not exact, loop_difference
assert all(c.image.size == (WIDTH, pipe.height) for c in [*by_scheduler.values(), *by_guidance.values()])
assert not np.array_equal(np.asarray(by_guidance[1.0].image), np.asarray(clip.image)), "guidance changes the image"
print("✓ all of this notebook's checks passed")
