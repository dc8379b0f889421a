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
# # 05 · Riffing: changing music that already exists
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/riffnb/blob/main/notebooks/05_riffing.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/riffnb/HEAD?labpath=notebooks%2F05_riffing.ipynb)
#
# Text to music starts from pure noise. Riffusion's app almost never does: every clip it plays is a *riff*, a
# spectrogram that already exists, partly drowned in noise and denoised towards a prompt. This is Stable
# Diffusion's image-to-image ("img2img"), and with it come masks, smooth morphs between prompts, music that never
# stops, and restyling a whole song.
#
# **At the end of this notebook you will know**
#
# 1. what a seed image is, and how riffnb makes its own (Riffusion's are downloads; these are synthesized);
# 2. img2img: how the *strength* (Riffusion's "denoising") sets how much noise is added, and Riffusion's
#    arithmetic for how many denoising steps then actually run;
# 3. masks: keep part of a spectrogram (a time span, a frequency band) and regenerate the rest;
# 4. interpolation between two prompts and seeds: text embeddings blended in a straight line, noise along a great
#    circle (slerp), and why;
# 5. endless tracks: the rules by which Riffusion's app picks each next clip, and the crossfade that joins them;
# 6. audio to audio: a whole song riffed window by window, and why the result is exactly as long as the input.
#
# **You need** notebook 04 (text to music: latents, noise, the denoising loop, guidance); 02 for spectrogram
# images. Every spectrogram has a player next to it. With the embedded model this runs on a CPU in one to two
# minutes. On Binder (2 GB of memory), choose Kernel > Shut Down All Kernels before you open the next notebook:
# JupyterLab keeps every notebook's kernel, and its memory, alive.

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
import torch
from IPython.display import Markdown, display
from PIL import Image

import riffnb
from riffnb.clips import crossfade_concatenate, split_clips
from riffnb.diffusion import (AUDIO_TO_AUDIO_OVERLAP_S, AUDIO_TO_AUDIO_WINDOW_S, DEFAULT_CROSSFADE_S, SEEDS,
                              EndlessSchedule, PromptInput, fit_width, interpolation_alphas, schedulers, seed_image,
                              slerp, stitch_clips)
from riffnb.diffusion.riff import encode_image, img2img_timesteps, latent_mask
from riffnb.diffusion.steps import initial_noise, latent_shape, make_generator, make_scheduler
from riffnb.display import play, play_all
from riffnb.exercises import check_answer
from riffnb.plot import compare, plot_image, plot_waveform
from riffnb.spectrogram import image_from_audio
from riffnb.synth import render


def show(fig):
    """Display a figure made here with pyplot once (closed, so that the inline backend does not draw it again)."""
    display(fig)
    plt.close(fig)

# %% [markdown]
# ## The model
#
# One cell chooses the model; everything below reads the image size, sample rate and sampling settings from the
# pipeline, so it works with either.

# %%
# ⚙️ MODEL SWITCH — the only line to change. "tiny": riffnb's embedded model, any CPU, seconds per clip.
# "riffusion/riffusion-model-v1": the real Riffusion (needs a GPU and the Hugging Face hub).
MODEL = "tiny"
pipe = riffnb.load_pipeline(MODEL)

# %%
params, defaults = pipe.params, pipe.defaults
width = defaults.width                           # columns of one clip's image
clip_seconds = params.duration_of(width)
rate = params.sample_rate
print(pipe)
print(f"one clip: {pipe.height} x {width} pixels = {clip_seconds:.2f} s at {rate} Hz; "
      f"sampling defaults: {defaults.steps} {defaults.scheduler} steps, guidance {defaults.guidance}")

# %% [markdown]
# ## 1. Seed images
#
# Riffusion's app riffs every clip from a **seed image**, a spectrogram of a short loop (its default, `og_beat`,
# is a drum beat). The seed gives the endless music its steady pulse: whatever the prompt, the rhythm of the seed
# shows through. Riffusion's seeds are 512 × 512 PNGs in its model repository. riffnb composes its own with
# `riffnb.synth` and turns them into images at the model's parameters, so they work offline, at any size. Their
# tempo makes one clip a whole number of bars, so they loop without a stumble.

# %%
seeds = {name: seed_image(name, params, width) for name in SEEDS}
display(Markdown("\n".join(f"- **{name}**: {SEEDS[name][0]}" for name in seeds)))
display(compare(seeds, params=params))
play_all([(*pipe.image_to_audio(image), name) for name, image in seeds.items()])

# %% [markdown]
# ## 2. img2img: noise a spectrogram, then denoise it
#
# Notebook 04's forward process says how noisy the latents are at timestep $t$:
#
# $$z_t = \sqrt{\bar\alpha_t}\, z_0 + \sqrt{1-\bar\alpha_t}\;\varepsilon, \qquad \varepsilon \sim \mathcal N(0, I),$$
#
# where $\bar\alpha_t$ falls from about 1 (no noise) to about 0 (pure noise). Text to music starts at the noisiest
# timestep with $z$ pure noise. **img2img** instead encodes an existing image with the VAE, $z_0 =
# 0.18215\cdot\mathrm{VAE}(x)$ (the VAE's scaling factor; the embedded model has its own), noises it to a
# timestep part-way down the schedule, and runs only the remaining steps. The **strength** $s \in [0, 1]$ says
# where to start. Riffusion's arithmetic, for a schedule of $N$ steps and its scheduler's `steps_offset` (1 in
# Riffusion's configuration):
#
# $$n = \lfloor N \cdot s \rfloor + \texttt{steps\_offset};$$
#
# the source is noised to timestep `timesteps[-n]`, and the loop runs the schedule from index
# $N - n + \texttt{steps\_offset} = N - \lfloor N s \rfloor$ to its end. Riffusion's scheduler, PNDM, lists
# $N + 1$ timesteps (it repeats one near the start), so that is its last $n$: $\lfloor N s \rfloor + 1$ steps,
# starting where the noise was added. riffnb cuts every schedule at index $N - \lfloor N s \rfloor$: with PNDM
# that is Riffusion's cut; a scheduler of exactly $N$ timesteps, such as DPM-Solver++ (riffnb's default) or DDIM,
# then runs its last $\lfloor N s \rfloor$, starting where the noise was added, as diffusers' img2img does.
#
# So $s = 1$ runs everything from (nearly) pure noise and ignores the source; $s = 0$ runs nothing and returns the
# source as the VAE reproduces it. Riffusion's app uses 0.75 (its menu offers 0.75-0.95); its audio-to-audio page
# 0.55 ("0.4 for light modification"). The floor matters: $N s$ is rarely a whole number.
#
# Written out, and checked against the timesteps riffnb's img2img loop visits, with this model's default scheduler
# and with PNDM:

# %%
num_steps, scheduler_name = defaults.steps, defaults.scheduler


def steps_run(num_steps, strength, scheduler_name, steps_offset=1):
    """img2img steps: the schedule is cut at index N - int(N s), and the rest runs. That is int(N s) steps, or with
    PNDM (N + 1 timesteps) Riffusion's n = int(N s) + steps_offset; riffnb runs none while int(N s) is 0."""
    cut = int(num_steps * strength)
    return cut + steps_offset if scheduler_name == "pndm" and cut > 0 else cut


strength_grid = np.linspace(0, 1, 101)
visits = [img2img_timesteps(make_scheduler(pipe, scheduler_name, num_steps), num_steps, s) for s in strength_grid]
steps_by_package = [len(timesteps) for timesteps in visits]
assert steps_by_package == [steps_run(num_steps, s, scheduler_name) for s in strength_grid]
# PNDM: n steps run, starting at timesteps[-n], the timestep the source is noised to.
for s in strength_grid:
    pndm = make_scheduler(pipe, "pndm", num_steps)
    pndm_visits = img2img_timesteps(pndm, num_steps, s)
    n = steps_run(num_steps, s, "pndm", pndm.config.steps_offset)
    assert len(pndm_visits) == n and (n == 0 or pndm_visits[0] == pndm.timesteps[-n]), (s, pndm_visits)

# How much of the source survives where denoising starts: sqrt(alpha_bar) of signal, sqrt(1 - alpha_bar) of noise.
alphas_cumprod = make_scheduler(pipe, scheduler_name, num_steps).alphas_cumprod.double()
alpha_bar = np.array([float(alphas_cumprod[int(t[0])]) if len(t) else 1.0 for t in visits])
fig, (ax_steps, ax_mix) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
ax_steps.step(strength_grid, steps_by_package, where="post", label=f"steps run ({scheduler_name})")
ax_steps.plot(strength_grid, num_steps * strength_grid, "--", color="0.5", label=r"$N s$")
ax_steps.set(xlabel="strength s", ylabel="denoising steps run", title=f"N = {num_steps} {scheduler_name} steps")
ax_steps.legend()
ax_mix.plot(strength_grid, np.sqrt(alpha_bar), label=r"source $\sqrt{\bar\alpha_t}$")
ax_mix.plot(strength_grid, np.sqrt(1 - alpha_bar), label=r"noise $\sqrt{1-\bar\alpha_t}$")
ax_mix.set(xlabel="strength s", ylabel="amplitude (times the latents' scale)",
           title="the mix where denoising starts")
ax_mix.legend()
show(fig)
display(Markdown("| strength | steps run | first timestep | source : noise |\n|---|---|---|---|\n" + "\n".join(
    f"| {s:.2f} | {steps_by_package[i]} | {int(visits[i][0]) if len(visits[i]) else '-'} | "
    f"{np.sqrt(alpha_bar[i]):.2f} : {np.sqrt(1 - alpha_bar[i]):.2f} |"
    for i, s in enumerate(strength_grid) if i % 25 == 0)))

# %% [markdown]
# Now riff the drum-beat seed towards a prompt at five strengths, same seed each time. A callback counts the
# steps that really run.

# %%
source = seeds["beat"]
riff_prompt = "jazz piano"
strengths = [0.0, 0.25, 0.5, 0.75, 1.0]
riffs, riff_steps_counted = {}, []
for strength in strengths:
    visited = []
    riffs[strength] = pipe.riff(source, riff_prompt, strength=strength, seed=1,
                                callback=lambda index, timestep, latents: visited.append(timestep))
    riff_steps_counted.append(len(visited))
print(f"steps run at strengths {strengths}: {riff_steps_counted} of {num_steps}; "
      f"VAE scaling factor {pipe.pipeline.vae.config.scaling_factor:g}")
row = {"source: beat": source, **{f"strength {s:g}": riffs[s].image for s in strengths}}
display(compare(dict(list(row.items())[:3]), params=params))
display(compare(dict(list(row.items())[3:]), params=params))
play_all([(*pipe.image_to_audio(source), "source: beat")]
         + [(riffs[s].samples, riffs[s].sample_rate, f"strength {s:g}") for s in strengths])

# %% [markdown]
# The higher the strength, the further the riff moves from the source. At strength 0 nothing is denoised, yet the
# image is not quite the source: it went through the VAE and back, which blurs a little. Measured as the mean
# change of a pixel:

# %%
pixels = lambda image: np.asarray(image.convert("L"), dtype=float)
change_by_strength = [float(np.abs(pixels(riffs[s].image) - pixels(source)).mean()) for s in strengths]
fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.plot(strengths, change_by_strength, marker="o")
ax.set(xlabel="strength s", ylabel="mean |pixel change| (0-255)", title=f"riffs of 'beat' towards {riff_prompt!r}")
ax.grid(alpha=0.3)
show(fig)

# %% [markdown]
# ### Riff your own audio
#
# Any audio can be the source: `pipe.riff` takes `(samples, sample_rate)` or a file path, resamples it to the
# model's rate and turns it into an image (notebook 02's chain). Here the "audio you provide" is a waltz that
# `riffnb.synth` plays; to riff a recording of yours, change the `my_samples, my_rate = ...` line as its comment
# says (any WAV, FLAC, OGG or MP3, any sample rate). One clip's worth, from the start, is used.

# %%
song = render("waltz", bpm=120, key="F", mode="major", duration_s=clip_seconds, sample_rate=44100, seed=3)
print("the audio you provide:", song.description.summary())
my_samples, my_rate = song.samples, song.sample_rate   # yours: my_samples, my_rate = riffnb.load_audio("my_song.wav")
my_excerpt = my_samples[:, : int(round(clip_seconds * my_rate))]
my_image = fit_width(image_from_audio(my_excerpt, my_rate, params))   # what riff() starts from
my_riff = pipe.riff((my_excerpt, my_rate), "organ", strength=0.5, seed=2)
display(compare({"your audio, as an image": my_image, "riff: 'organ', strength 0.5": my_riff.image}, params=params))
play_all([(my_excerpt, my_rate, "your audio"), (my_riff.samples, my_riff.sample_rate, "riff, strength 0.5")])

# %% [markdown]
# ## 3. Masks: keep part, regenerate the rest
#
# A mask is a grayscale image over the spectrogram: **white is repainted, black is kept**, gray in between.
# Riffusion shrinks it to the latents' size (nearest neighbour, 8× smaller), copies it to every latent channel
# and inverts it, so that $m = 1$ marks what is kept. After every denoising step the kept part is reset to the
# source latents, noised again with the same $\varepsilon$:
#
# $$z \leftarrow m \odot \left(\sqrt{\bar\alpha_{t'}}\, z_0 + \sqrt{1-\bar\alpha_{t'}}\,\varepsilon\right) + (1 - m)
#   \odot z.$$
#
# The level $t'$ depends on the scheduler. Riffusion's PNDM noises to the timestep $t$ of the step just taken.
# With DPM-Solver++ (riffnb's default), diffusers' `add_noise` uses the level the step has just brought the
# latents to, the next step's; after the last step that is no noise at all, so the kept part ends as the source's
# latents exactly.
#
# The model sees the kept part at every step, so what it paints next to it fits in. Riffusion ships masks that
# keep the bass or the beat's lines (downloads: `mask_top_third_75` and others). Here one made with numpy: keep
# the first half of the clip, regenerate the second half.

# %%
mask_pixels = np.zeros((pipe.height, width), np.uint8)
mask_pixels[:, width // 2:] = 255                       # white: regenerate the second half
mask = Image.fromarray(mask_pixels)                     # 8-bit grayscale
mask_strength = 0.75
masked_riff = pipe.riff(source, riff_prompt, strength=mask_strength, seed=1, mask=mask)
unmasked_riff = riffs[mask_strength]                    # the same riff without a mask (section 2)
display(compare({"mask (white: regenerate)": mask, "source": source, "riff, no mask": unmasked_riff.image,
                 "riff with the mask": masked_riff.image}, params=params))
play_all([(*pipe.image_to_audio(source), "source"), (unmasked_riff.samples, rate, "riff, no mask"),
          (masked_riff.samples, rate, "riff with the mask")])

# %%
# What the mask becomes in latent space: one value per latent pixel and channel, 1 = keep.
source_latents = encode_image(pipe, source)
kept = latent_mask(pipe, mask, source_latents)
print(f"mask {mask.size[1]} x {mask.size[0]} pixels -> latent mask {tuple(kept.shape)} "
      f"(batch, channels, rows, columns); kept fraction {float(kept.mean()):.2f}")
kept_latent_change = float(((masked_riff.latents.to(source_latents) - source_latents) * kept).abs().max())
print(f"largest change of a kept latent ({scheduler_name}): {kept_latent_change:.2g}")
half = width // 2
mask_change = {
    label: (float(np.abs(pixels(clip.image)[:, :half] - pixels(source)[:, :half]).mean()),
            float(np.abs(pixels(clip.image)[:, half:] - pixels(source)[:, half:]).mean()))
    for label, clip in (("strength 0: the VAE alone", riffs[0.0]), ("riff, no mask", unmasked_riff),
                        ("riff with the mask", masked_riff))
}
display(Markdown("| | mean change, first half (kept) | second half (repainted) |\n|---|---|---|\n" + "\n".join(
    f"| {label} | {first:.1f} | {second:.1f} |" for label, (first, second) in mask_change.items())))

# %% [markdown]
# The kept half's latents come back as the source's (exactly, with DPM-Solver++), yet its pixels change more than
# a trip through the VAE alone changes them: the decoder mixes the whole image (its convolutions see across the
# seam, its normalisation layers take statistics over all of it), so the repainted half shifts the kept one too.
# It still stays far closer to the source than without the mask. The seam is soft for the same reason, and
# because the model painted the second half knowing the first.
#
# ## 4. Interpolation: from one prompt and seed to another
#
# A riff is fixed by a prompt and a seed (the seed fixes the noise $\varepsilon$). Riffusion morphs between two
# such ends, start $(P_0, \varepsilon_0)$ and end $(P_1, \varepsilon_1)$, with a parameter $\alpha \in [0, 1]$
# (its server's `riffuse`):
#
# - the **text embeddings** in a straight line: $c_\alpha = (1-\alpha)\, c_0 + \alpha\, c_1$ (so are guidance and
#   strength);
# - the **noise** along a great circle, **slerp** (spherical linear interpolation):
#
# $$\mathrm{slerp}(\varepsilon_0, \varepsilon_1; \alpha) = \frac{\sin\big((1-\alpha)\theta\big)}{\sin\theta}\,
#   \varepsilon_0 + \frac{\sin(\alpha\theta)}{\sin\theta}\, \varepsilon_1, \qquad
#   \cos\theta = \frac{\varepsilon_0\cdot\varepsilon_1}{\lVert\varepsilon_0\rVert\,\lVert\varepsilon_1\rVert}.$$
#
# (When $\cos\theta > 0.9995$ the two are nearly parallel, $\sin\theta \approx 0$, and a straight line is used.)
# Why not a straight line for the noise too? Two independent Gaussian noises of $d$ values each have norm about
# $\sqrt d$ and are nearly orthogonal. Their midpoint $(\varepsilon_0 + \varepsilon_1)/2$ has norm about
# $\sqrt{d/2}$: only 71 % of a noise. The model, told it is looking at pure noise, would see too little of it and
# paint a washed-out image. Slerp keeps the norm. In two dimensions, and on the model's real noise:

# %%
def slerp_by_hand(alpha, v0, v1):
    """The formula above (without the near-parallel fallback), in float64."""
    x0, x1 = v0.double().flatten(), v1.double().flatten()
    theta = torch.arccos(torch.dot(x0, x1) / (x0.norm() * x1.norm()))
    mixed = (torch.sin((1 - alpha) * theta) * x0 + torch.sin(alpha * theta) * x1) / torch.sin(theta)
    return mixed.reshape(v0.shape).to(v0.dtype)


start_seed, end_seed = 1, 2
noise_start = initial_noise(pipe, width, make_generator(start_seed))
noise_end = initial_noise(pipe, width, make_generator(end_seed))
ts = np.linspace(0, 1, 21)
slerp_by_hand_error = max(
    float((slerp_by_hand(t, noise_start, noise_end) - slerp(t, noise_start, noise_end)).abs().max()) for t in ts)
print(f"slerp by hand vs riffnb.diffusion.slerp: largest difference {slerp_by_hand_error:.1e}")
d = noise_start.numel()
noise_cosine = float(torch.dot(noise_start.flatten(), noise_end.flatten()) / (noise_start.norm() * noise_end.norm()))
lerp_norms = [float(((1 - t) * noise_start + t * noise_end).norm()) / np.sqrt(d) for t in ts]
slerp_norms = [float(slerp(t, noise_start, noise_end).norm()) / np.sqrt(d) for t in ts]

fig, (ax_circle, ax_norm) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
angle = np.linspace(0, np.pi / 2, 100)
ax_circle.plot(np.cos(angle), np.sin(angle), color="0.8", label="unit circle")
a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
for t in np.linspace(0, 1, 5):
    on_line = ((1 - t) * a + t * b).numpy()
    on_arc = slerp(t, a, b).numpy()
    ax_circle.plot(*on_line, "o", color="C0", label="lerp" if t == 0 else None)
    ax_circle.plot(*on_arc, "s", color="C1", mfc="none", label="slerp" if t == 0 else None)
    ax_circle.annotate(f"α={t:g}", on_arc, (6, 4), textcoords="offset points", fontsize="small")
ax_circle.set(xlabel="first coordinate", ylabel="second coordinate", aspect="equal",
              title="between two orthogonal unit vectors")
ax_circle.legend(loc="lower left")
ax_norm.plot(ts, lerp_norms, marker=".", label="lerp (straight line)")
ax_norm.plot(ts, slerp_norms, marker=".", label="slerp (great circle)")
ax_norm.set(xlabel="α", ylabel=r"norm / $\sqrt{d}$ (1 = a standard Gaussian noise)", ylim=(0, 1.15),
            title=f"the model's noise: seeds {start_seed} → {end_seed}, d = {d}")
ax_norm.legend()
show(fig)

# %% [markdown]
# Five clips from "jazz piano" (seed 1) to "rock with electric guitar and drums" (seed 2), all riffs of the same
# seed image, so they keep its beat. `stitch_clips` joins them with short crossfades into one track.

# %%
start = PromptInput("jazz piano", start_seed, denoising=0.75)
end = PromptInput("rock with electric guitar and drums", end_seed, denoising=0.75)
morph = pipe.interpolate(start, end, num_clips=5, source=source)
morph_alphas = [clip.extra["alpha"] for clip in morph]
display(compare({f"α = {alpha:g}": clip.image for alpha, clip in zip(morph_alphas, morph)}, params=params))
play_all([(clip.samples, clip.sample_rate, f"α = {alpha:g}") for alpha, clip in zip(morph_alphas, morph)])

# %%
morph_track = stitch_clips(morph)
morph_image = image_from_audio(morph_track, rate, params)
fig, ax = plt.subplots(figsize=(12, 3.4), layout="constrained")
plot_image(morph_image, params, ax=ax, title=f"{start.prompt!r} → {end.prompt!r}: the stitched track")
hop = morph[0].samples.shape[-1] - round(DEFAULT_CROSSFADE_S * rate)
for index, alpha in enumerate(morph_alphas):
    ax.axvline(index * hop / rate, color="C1", linewidth=1)
    ax.text(index * hop / rate + 0.1, pipe.height * 0.97, f"α={alpha:g}", va="top", fontsize="small",
            bbox=dict(facecolor="white", alpha=0.8, linewidth=0))
show(fig)
play(morph_track, rate, label=f"the morph, {morph_track.shape[-1] / rate:.1f} s")

# %% [markdown]
# ## 5. Endless tracks: Riffusion's app
#
# Riffusion's web app plays forever. It asks for one clip at a time, each a riff of the seed image at some
# $\alpha$ between two ends, and follows three rules:
#
# 1. $\alpha$ starts at 0.25 and moves 0.25 per clip: 0.25, 0.5, 0.75, 1.0, then **rolls over** to 0.25.
# 2. With the prompt $P$ unchanged, the clips go from $(P, \text{seed } s)$ to $(P, s+1)$; at each roll-over
#    $s \to s + 1$. The noise glides from seed to seed, so the music keeps changing but never jumps (a clip at
#    $\alpha = 1$ is exactly the next group's $\alpha = 0$, which is why 0 is skipped).
# 3. A new prompt $Q$ waits for the next roll-over; then four clips go from $(P, s)$ to $(Q, s)$, the same seed
#    at both ends so only the words change. After that $Q$ is the prompt and the seeds step again.
#
# `EndlessSchedule` is those rules alone, no model needed. Twelve clips, starting at seed 7, with "organ waltz"
# typed in while clip 3 plays:

# %%
schedule = EndlessSchedule("jazz piano", seed=7)
requests = schedule.take(3)
schedule.set_prompt("organ waltz")
requests += schedule.take(9)
rows = [f"| {r.index + 1} | {r.alpha:g} | {r.start.prompt}, {r.start.seed} | {r.end.prompt}, {r.end.seed} | "
        f"{'prompt' if r.transition else 'seed'} |" for r in requests]
display(Markdown("| clip | α | start (prompt, seed) | end (prompt, seed) | moving |\n|---|---|---|---|---|\n"
                 + "\n".join(rows)))

# %% [markdown]
# `pipe.endless` runs that schedule with the model and crossfades each clip onto the track. The same eight clips
# as the table: the prompt changes while clip 3 plays, clip 4 completes the glide from seed 7 to 8, and clips 5-8
# move to the new prompt.

# %%
track = pipe.endless("jazz piano", seed=7, source=source)
track.take(3)
track.set_prompt("organ waltz")
track.take(5)
track_alphas = [clip.extra["alpha"] for clip in track.clips]
endless_image = image_from_audio(track.audio, rate, params)
fig, ax = plt.subplots(figsize=(13, 3.4), layout="constrained")
plot_image(endless_image, params, ax=ax, title="an endless track: 8 clips")
for clip, begin in zip(track.clips, track.starts):
    ends = clip.extra["start"], clip.extra["end"]
    transition = ends[0]["seed"] == ends[1]["seed"]
    moving = f"→ {ends[1]['prompt']}" if transition else f"seed {ends[0]['seed']}→{ends[1]['seed']}"
    ax.axvline(begin / rate, color="C1", linewidth=1)
    ax.text(begin / rate + 0.1, pipe.height * 0.97, f"α={clip.extra['alpha']:g}\n{moving}", va="top",
            fontsize="small", bbox=dict(facecolor="white", alpha=0.8, linewidth=0))
show(fig)
play(track.audio, rate, label=f"endless track, {track.duration_s:.1f} s")

# %% [markdown]
# ### The crossfade
#
# Consecutive clips overlap by a few tens of milliseconds (riffnb: 30 ms; they share the seed's beat, and a longer
# overlap would pull the next clip off it). Over the overlap of $L$ samples the old clip fades out and the new one
# fades in with **equal-power** gains, at $u = (n + \tfrac12)/L$:
#
# $$g_\text{in}(n) = \sin\!\left(\tfrac{\pi}{2} u\right), \qquad g_\text{out}(n) = \cos\!\left(\tfrac{\pi}{2}
#   u\right), \qquad g_\text{in}^2 + g_\text{out}^2 = 1.$$
#
# Two clips with unrelated phases add in power, not in amplitude, so equal power keeps the loudness steady through
# the seam (linear gains, summing to 1, would dip by 3 dB in the middle). Checked against `crossfade_concatenate`,
# which joins the clips, and shown at the seam where the most is playing. (Flat tops, if you see any, are
# Riffusion's output levelling, which riffnb copies: each clip is brought to -12 dBFS average level, and peaks
# that would rise more than 12 dB above it are clipped.)

# %%
fade = round(DEFAULT_CROSSFADE_S * rate)
u = (np.arange(fade) + 0.5) / fade
gain_in, gain_out = np.sin(np.pi / 2 * u), np.cos(np.pi / 2 * u)
# Joining silence with ones leaves the fade-in gain in the overlap; ones with silence the fade-out.
package_in = crossfade_concatenate([np.zeros(fade), np.ones(2 * fade)], rate, DEFAULT_CROSSFADE_S)[0, :fade]
package_out = crossfade_concatenate([np.ones(2 * fade), np.zeros(fade)], rate, DEFAULT_CROSSFADE_S)[0, fade:2 * fade]
crossfade_error = float(max(np.abs(package_in - gain_in).max(), np.abs(package_out - gain_out).max()))
assert crossfade_error < 1e-12, crossfade_error

# The seam where the most is playing shows the fade best.
seam = max(track.starts[1:], key=lambda start: float(np.abs(track.audio[0, start:start + fade]).sum()))
around = slice(seam - 2 * fade, seam + 3 * fade)
times_ms = (np.arange(around.start, around.stop) - seam) / rate * 1000
fig, (ax_gain, ax_wave) = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
ax_gain.plot(u * fade / rate * 1000, gain_out, label=r"$g_\mathrm{out}$ (old clip)")
ax_gain.plot(u * fade / rate * 1000, gain_in, label=r"$g_\mathrm{in}$ (new clip)")
ax_gain.plot(u * fade / rate * 1000, gain_in**2 + gain_out**2, "--", color="0.5", label="sum of squares")
ax_gain.set(xlabel="time in the overlap (ms)", ylabel="gain", title="equal-power crossfade")
ax_gain.legend()
ax_wave.plot(times_ms, track.audio[0, around], linewidth=0.8)
ax_wave.axvspan(0, fade / rate * 1000, color="C1", alpha=0.2, label="overlap")
ax_wave.set(xlabel="time from the start of the new clip (ms)", ylabel="amplitude",
           title=f"the track at {seam / rate:.2f} s, a seam")
ax_wave.legend()
show(fig)

# %% [markdown]
# ## 6. Audio to audio: a whole song
#
# A riff is one clip long. Riffusion's audio-to-audio page restyles a whole song by cutting it into
# **5 s windows that overlap by 0.2 s**, riffing each (same prompt and seed, strength 0.55) and crossfading the
# results over the overlaps. `pipe.riff_audio` does the same. A window starts every $w - o = 4.8$ s; the last one
# is padded with silence to full length, and the joined result is cut back to the song's length, so **the output
# is exactly as long as the input**. A window count for a song of $T$ seconds:
#
# $$\text{windows} = \left\lceil \frac{T - o}{w - o} \right\rceil.$$
#
# A 12-second song that `riffnb.synth` plays, and its windows:

# %%
window_s, overlap_s = AUDIO_TO_AUDIO_WINDOW_S, AUDIO_TO_AUDIO_OVERLAP_S
long_song = render("bossa_nova", bpm=120, key="D", mode="major", duration_s=12.0, sample_rate=rate, seed=5)
song_samples = long_song.samples
song_seconds = song_samples.shape[-1] / rate
windows = split_clips(song_samples, rate, window_s, overlap_s)
window_starts_s = [window.start / rate for window in windows]
assert len(windows) == int(np.ceil((song_seconds - overlap_s) / (window_s - overlap_s)))
fig, (ax_song, ax_windows) = plt.subplots(2, 1, figsize=(12, 4), sharex=True, height_ratios=[2, 1],
                                          layout="constrained")
plot_waveform(song_samples, rate, ax=ax_song, title=long_song.description.summary())
ax_song.set_xlabel("")
for index, window in enumerate(windows):
    begin = window.start / rate
    ax_windows.broken_barh([(begin, window_s)], (index + 0.6, 0.8), color=f"C{index + 1}", alpha=0.6)
    ax_windows.text(begin + 0.1, index + 1, f"{begin:.1f}-{begin + window_s:.1f} s", va="center", fontsize="small")
ax_windows.axvline(song_seconds, color="0.3", linestyle=":", label="end of the song (the rest is padding)")
ax_windows.set(xlabel="time (s)", ylabel="window", yticks=range(1, len(windows) + 1), ylim=(len(windows) + 0.6, 0.4),
               xlim=(0, windows[-1].start / rate + window_s))
ax_windows.legend(loc="lower left", fontsize="small")
show(fig)
play(song_samples, rate, label="the song")

# %%
song_riff = pipe.riff_audio((song_samples, rate), "flute ballad", seed=3,
                            callback=lambda index, total, clip: print(f"window {index + 1} of {total} riffed"))
riffed_seconds = song_riff.duration
print(f"input {song_seconds:.3f} s ({song_samples.shape[-1]} samples), output {riffed_seconds:.3f} s "
      f"({song_riff.samples.shape[-1]} samples), strength {song_riff.clips[0].extra['strength']}")
display(compare({"the song": image_from_audio(song_samples, rate, params),
                 "riffed: 'flute ballad', strength 0.55": image_from_audio(song_riff.samples, rate, params)},
                params=params))
play_all([(song_samples, rate, "the song"), (song_riff.samples, rate, "riffed")])

# %% [markdown]
# ## 7. Try it yourself (optional)
#
# Three panels run what this notebook did with your own settings: the riff panel (upload audio or pick a seed
# image; strength, seed, prompt), the interpolation panel (two prompts and seeds, any number of clips, the
# stitched track) and the endless player (press Start; type a new prompt while it plays and the music moves to it
# over four clips). They use the model loaded above; on a CPU with the real model each clip takes minutes.

# %%
from riffnb.widgets import EndlessPlayer, InterpolationPanel, RiffPanel

RiffPanel(pipe, prompt="organ", strength=0.5)

# %%
InterpolationPanel(pipe, start_prompt="jazz piano", end_prompt="techno with synth", num_clips=4)

# %%
EndlessPlayer(pipe, prompt="jazz piano")

# %% [markdown]
# ## 8. Exercises
#
# Fill in each answer and run the cell: it checks your value against one it computes, without printing it.
#
# **Exercise 1.** Riffusion's app asks for 50 denoising steps at strength (denoising) 0.75, with its model's
# scheduler, PNDM. How many denoising steps actually run?

# %%
steps_at_strength_075_of_50 = None  # ✏️ your answer: a whole number

# Check: the steps riffnb's img2img runs with Riffusion's scheduler (PNDM and its noise schedule, steps_offset 1).
_riffusion_scheduler = schedulers.make_scheduler(
    {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}, "pndm")
_riffusion_scheduler.set_timesteps(50)
check_answer(steps_at_strength_075_of_50, len(img2img_timesteps(_riffusion_scheduler, 50, 0.75)),
             hint="Riffusion's n = int(N * s) + steps_offset; int() rounds down, and steps_offset is 1.");

# %% [markdown]
# **Exercise 2.** Slerp two orthogonal unit vectors, $a = (1, 0)$ and $b = (0, 1)$, at $\alpha = 0.5$. What is
# the result (two numbers, to 3 decimals)? And how long (what norm) is the straight-line midpoint $(a + b)/2$?

# %%
slerp_midpoint = None  # ✏️ your answer: [x, y]
lerp_midpoint_norm = None  # ✏️ your answer: a number

check_answer(slerp_midpoint, slerp(0.5, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).tolist(), atol=1e-3,
             hint="theta = 90 degrees; both weights are sin(45°) / sin(90°).")
check_answer(lerp_midpoint_norm, float(torch.tensor([0.5, 0.5]).norm()), atol=1e-3,
             hint="the length of (0.5, 0.5).");

# %% [markdown]
# **Exercise 3.** A mask 512 pixels wide (Riffusion's 5.12 s clip): how many columns does its latent mask have?

# %%
latent_mask_columns_of_512 = None  # ✏️ your answer: a whole number

check_answer(latent_mask_columns_of_512, latent_shape(pipe, 512)[-1], hint="the VAE shrinks images 8 times.");

# %% [markdown]
# **Exercise 4.** An endless track starts at seed 7 and its prompt never changes. Between which two seeds does its
# 9th clip interpolate? (And at which alpha? Not asked, but you will need it.)

# %%
seeds_of_clip_9 = None  # ✏️ your answer: (start seed, end seed)

check_answer(seeds_of_clip_9, [(r.start.seed, r.end.seed) for r in EndlessSchedule("any", seed=7).take(9)][-1],
             hint="four clips per seed: clips 1-4 go from 7 to 8.");

# %% [markdown]
# **Exercise 5.** You riff a 3-minute song (180 s) with `riff_audio`'s defaults (5 s windows, 0.2 s overlap). How
# many windows does it riff, and how long in seconds is the result?

# %%
windows_in_180_s = None  # ✏️ your answer: a whole number
riffed_180_s_song_seconds = None  # ✏️ your answer in seconds

# Check: cut 180 s of silence the way riff_audio does (at 100 samples per second: the count does not depend on it),
# and scale the length this notebook measured for its 12 s song.
check_answer(windows_in_180_s, len(split_clips(np.zeros(180 * 100), 100, window_s, overlap_s)),
             hint="ceil((T - o) / (w - o)).")
check_answer(riffed_180_s_song_seconds, 180 * song_riff.samples.shape[-1] / song_samples.shape[-1], atol=0.01,
             hint="look at section 6: what came out of the 12 s song?");

# %% [markdown]
# ## Check: the numbers this notebook computed
#
# If you change something above, this cell says which result moved. (The course's test suite runs it too.)

# %%
assert riff_steps_counted == [steps_run(num_steps, s, scheduler_name) for s in strengths], riff_steps_counted
assert all(a < b for a, b in zip(change_by_strength[1:], change_by_strength[2:])), change_by_strength
assert change_by_strength[0] < change_by_strength[-1] / 2, change_by_strength     # strength 0: the VAE's blur only
(kept_plain, _), (kept_masked, repainted_masked) = mask_change["riff, no mask"], mask_change["riff with the mask"]
assert kept_masked < kept_plain / 2 and kept_masked < repainted_masked / 2, mask_change
assert kept_masked > mask_change["strength 0: the VAE alone"][0], mask_change    # the decoder mixes the halves
assert scheduler_name != "dpm++" or kept_latent_change == 0, kept_latent_change
assert slerp_by_hand_error < 1e-5, slerp_by_hand_error
assert abs(noise_cosine) < 0.1 and min(slerp_norms) > 0.95 * min(slerp_norms[0], slerp_norms[-1]), slerp_norms
assert abs(lerp_norms[10] - np.sqrt(0.5)) < 0.05, lerp_norms[10]                # a noise 71 % as strong
assert morph_alphas == interpolation_alphas(5), morph_alphas
assert track_alphas == [0.25, 0.5, 0.75, 1.0] * 2, track_alphas
assert [c.extra["end"]["prompt"] for c in track.clips] == ["jazz piano"] * 4 + ["organ waltz"] * 4
assert crossfade_error < 1e-12
assert song_riff.samples.shape == song_samples.shape and len(song_riff.clips) == len(windows) == 3
print("✓ all of this notebook's checks passed")
