"""Diffusion speed on this machine: seconds per denoising step and per clip, and peak memory.

Two models, random weights (timing does not depend on what the weights learned):

- the tiny test pipeline (tests/diffusion_fixtures.py), loaded through ``riffnb.load_pipeline`` as users load a
  model; a whole ``text_to_audio`` clip (30 DPM-Solver++ steps, 512 wide) against the same generation by diffusers'
  own ``StableDiffusionPipeline.__call__`` with plain prompt embeddings (the baseline: riffnb's wrapper, weighted
  prompts and scheduler swap must cost nothing measurable);
- the SD1.5 architecture Riffusion uses (UNet 860M parameters, VAE, CLIP ViT-L/14 text encoder), built from its
  config; on a CPU one UNet step takes ~19 s (fp32), so only ``--sd-steps`` steps are timed, with the unrolled
  functions of ``riffnb.diffusion.steps`` (proven equal to ``text_to_audio`` by the tests), and the clip time is
  estimated as encode + steps x step + VAE decode + image-to-audio. Ratios: bfloat16 against float32, and
  diffusers' default SDPA attention against the classic attention processor (``--attention``).

Each configuration runs in its own process so that its peak resident memory (``ru_maxrss``) is its own. Times are
the best of the repeats: the machine is shared and the minimum is the least disturbed measurement.

Run:  .venv/bin/python benchmarks/bench_diffusion.py [--sd-steps 2] [--attention] [--skip-sd]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import positive_int  # benchmarks/, first on sys.path when this script runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CLIP_STEPS = 30  # text_to_audio's default
WIDTH = 512


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def time_alternately(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Wall times of ``repeats`` calls of each function, taken in turn so that all see the same disturbances from
    other work on the machine."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def diffusers_clip(pipe, embeddings, *, steps: int, guidance: float, width: int, scheduler: str | None = None,
                   seed: int = 0):
    """The baseline for ``pipe.text_to_audio``: diffusers' own ``StableDiffusionPipeline.__call__`` on the same
    components, plain prompt embeddings (``riffnb.diffusion.steps.encode_prompt``) and settings, then the same
    ``image_to_audio``. riffnb's wrapper, weighted prompts and scheduler swap must cost nothing measurable next to it.
    """
    import torch

    from riffnb.diffusion import schedulers

    own = pipe.pipeline.scheduler
    pipe.pipeline.scheduler = schedulers.make_scheduler(own.config, scheduler)
    try:
        generator = torch.Generator().manual_seed(seed)
        image = pipe.pipeline(
            prompt_embeds=embeddings.cond, negative_prompt_embeds=embeddings.uncond, height=pipe.height,
            width=width, num_inference_steps=steps, guidance_scale=guidance, generator=generator,
        ).images[0]
    finally:
        pipe.pipeline.scheduler = own
    return pipe.image_to_audio(image)


# -- scenarios (each in a child process) -----------------------------------------------------------------------------


def scenario_tiny(repeats: int) -> dict:
    import riffnb
    from diffusion_fixtures import build_tiny_pipeline
    from riffnb.diffusion import steps

    with tempfile.TemporaryDirectory() as folder:
        pipe = riffnb.load_pipeline(build_tiny_pipeline(Path(folder) / "tiny"), device="cpu")
    pipe.pipeline.set_progress_bar_config(disable=True)
    prompt = "funky jazz piano"
    pipe.text_to_audio(prompt, seed=0, steps=2, width=WIDTH)  # warm-up: numba kernels, first-call allocations

    embeddings = steps.encode_prompt(pipe, prompt)

    times = time_alternately({
        "riffnb": lambda: pipe.text_to_audio(prompt, seed=0, steps=CLIP_STEPS, width=WIDTH),
        "diffusers": lambda: diffusers_clip(pipe, embeddings, steps=CLIP_STEPS, guidance=7.0, width=WIDTH),
    }, repeats)
    clip_s, baseline_s = min(times["riffnb"]), min(times["diffusers"])
    sampler = steps.make_scheduler(pipe, None, CLIP_STEPS)
    latents = steps.initial_noise(pipe, WIDTH, steps.make_generator(0))
    step_s = best_of(lambda: steps.denoise_step(pipe, sampler, latents, sampler.timesteps[0], embeddings), repeats * 5)
    image = steps.decode(pipe, latents)[0]
    audio_s = best_of(lambda: pipe.image_to_audio(image), repeats)
    return {
        "name": f"tiny, fp32, {pipe.height}x{WIDTH}",
        "step_s": step_s,
        "clip_s": clip_s,
        "clip_note": f"measured, {CLIP_STEPS} steps, audio {audio_s:.2f} s",
        "baseline_clip_s": baseline_s,
        "peak_gb": peak_rss_gb(),
    }


def sd15_pipeline(dtype):
    """A StableDiffusionPipeline with SD1.5's architecture and random weights (the tiny test tokenizer)."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from diffusion_fixtures import write_tokenizer_files

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    ))
    with tempfile.TemporaryDirectory() as folder:
        write_tokenizer_files(Path(folder))
        tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1, set_alpha_to_one=False)
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    return pipeline.to(dtype=dtype)


def scenario_sd15(dtype_name: str, sd_steps: int, attention: bool) -> dict:
    import torch

    from riffnb.diffusion import steps
    from riffnb.diffusion.pipeline import RiffusionPipeline

    dtype = getattr(torch, dtype_name)
    start = time.perf_counter()
    pipe = RiffusionPipeline(sd15_pipeline(dtype), model="SD1.5 architecture, random weights")
    pipe.pipeline.set_progress_bar_config(disable=True)
    build_s = time.perf_counter() - start
    encode_s = best_of(lambda: steps.encode_prompt(pipe, "funky jazz piano"), 2)
    embeddings = steps.encode_prompt(pipe, "funky jazz piano")
    sampler = steps.make_scheduler(pipe, None, CLIP_STEPS)
    latents = steps.initial_noise(pipe, WIDTH, steps.make_generator(0))
    step_times = []
    for timestep in sampler.timesteps[:sd_steps]:
        begin = time.perf_counter()
        latents = steps.denoise_step(pipe, sampler, latents, timestep, embeddings)
        step_times.append(time.perf_counter() - begin)
    step_s = min(step_times)
    classic_s = None
    if attention:
        from diffusers.models.attention_processor import AttnProcessor

        pipe.pipeline.unet.set_attn_processor(AttnProcessor())
        begin = time.perf_counter()
        steps.predict_noise(pipe, sampler, latents, sampler.timesteps[0], embeddings, 7.0)
        classic_s = time.perf_counter() - begin
    begin = time.perf_counter()
    image = steps.decode(pipe, latents)[0]
    decode_s = time.perf_counter() - begin
    audio_s = best_of(lambda: pipe.image_to_audio(image), 1)
    clip_s = encode_s + CLIP_STEPS * step_s + decode_s + audio_s
    return {
        "name": f"SD1.5 arch, {dtype_name}, 512x{WIDTH}",
        "step_s": step_s,
        "clip_s": clip_s,
        "clip_note": (f"estimated: encode {encode_s:.2f} + {CLIP_STEPS} x step + VAE decode {decode_s:.1f} + "
                      f"audio {audio_s:.1f} s; built in {build_s:.0f} s"),
        "classic_attention_step_s": classic_s,
        "peak_gb": peak_rss_gb(),
    }


# -- driver ----------------------------------------------------------------------------------------------------------


def run_child(arguments: list[str], options: argparse.Namespace) -> dict:
    flags = ["--repeats", str(options.repeats), "--sd-steps", str(options.sd_steps)]
    flags += ["--attention"] if options.attention else []
    result = subprocess.run([sys.executable, __file__, *flags, "--child", *arguments], capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        raise SystemExit(f"benchmark child {arguments} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed runs of each (best is reported)")
    parser.add_argument("--sd-steps", type=positive_int, default=2, help="SD1.5 UNet steps to time per dtype (~19 s each)")
    parser.add_argument("--attention", action="store_true", help="also time one SD1.5 step with classic attention")
    parser.add_argument("--skip-sd", action="store_true", help="only the tiny pipeline")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.child:
        kind = options.child[0]
        if kind == "tiny":
            print(json.dumps(scenario_tiny(options.repeats)))
        else:
            print(json.dumps(scenario_sd15(options.child[1], options.sd_steps, options.attention)))
        return

    import torch

    # Other work on a shared machine slows every figure; the load average says how much there was.
    print(f"riffnb diffusion benchmark: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at the start\n")
    results = [run_child(["tiny"], options)]
    if not options.skip_sd:
        results += [run_child(["sd15", "float32"], options), run_child(["sd15", "bfloat16"], options)]

    print(f"{'configuration':<34} {'s/step':>9} {'s/clip':>9} {'peak RSS':>9}")
    for row in results:
        print(f"{row['name']:<34} {row['step_s']:>9.3f} {row['clip_s']:>9.1f} {row['peak_gb']:>7.2f} GB")
        print(f"{'':<34} {row['clip_note']}")
    print(f"(load average {os.getloadavg()[0]:.1f} at the end)")
    tiny = results[0]
    print(f"\ntiny: riffnb text_to_audio / diffusers __call__ (+ the same audio conversion): "
          f"{tiny['clip_s'] / tiny['baseline_clip_s']:.3f} ({tiny['clip_s']:.2f} s vs {tiny['baseline_clip_s']:.2f} s)")
    if len(results) == 3:
        fp32, bf16 = results[1], results[2]
        print(f"SD1.5 step, float32 / bfloat16: {fp32['step_s'] / bf16['step_s']:.2f}x")
        for row in (fp32, bf16):
            if row.get("classic_attention_step_s"):
                print(f"SD1.5 step ({row['name']}), classic attention / SDPA: "
                      f"{row['classic_attention_step_s'] / row['step_s']:.2f}x")
        t4 = 7.0 / 50  # diffusers' published SD1.5 fp16 figure on a T4: ~7 s for 50 steps at 512x512
        print(f"\nColab T4 (public SD1.5 fp16 figure, 50 steps ~7 s): ~{t4:.2f} s/step, so a {CLIP_STEPS}-step "
              f"clip ~{CLIP_STEPS * t4:.1f} s + VAE decode + audio; this CPU: {fp32['step_s'] / t4:.0f}x slower "
              f"per step in float32")


if __name__ == "__main__":
    main()
