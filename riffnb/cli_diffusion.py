"""The ``riffnb`` subcommands that run a diffusion model: generate, riff, interpolate, batch.

    riffnb generate "jazz piano" -o jazz.wav [--seed 1 --steps 30 --image jazz.png]
    riffnb riff song.wav -o riffed.wav --prompt "church bells" [--strength 0.55 --mask mask.png]
    riffnb interpolate --start-prompt "jazz" --end-prompt "techno" --num-clips 5 -o morph.wav
    riffnb batch prompts.json OUT_DIR

Registered in :data:`riffnb.cli.SUBCOMMANDS` like every other subcommand (see :mod:`riffnb.cli`); torch and
diffusers load only when a command runs. Inputs are checked before the model loads, and outputs before anything;
a command's files are written together, after all the work, and removed again if one of them cannot be written.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import typing as T

from .errors import RiffnbError

if T.TYPE_CHECKING:
    from PIL import Image

    from .diffusion.pipeline import RiffusionPipeline


def _add_model_options(parser: argparse.ArgumentParser,
                       model_help: str = "hub id, local diffusers folder, or shipped model name") -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default=None,
                       help=f"{model_help} (default: riffusion/riffusion-model-v1 on a GPU with the hub, else tiny)")
    group.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    group.add_argument("--dtype", help="float16, bfloat16 or float32 (default: float16 on a GPU, float32 on a CPU)")


def _add_sampling_options(parser: argparse.ArgumentParser, steps_help: str) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--steps", type=int, default=None, help=steps_help)
    group.add_argument("--scheduler", help="dpm++ (default), pndm (the model's own), ddim, euler, euler_a or lms")


def _add_prompt_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="seed of the noise (default: random, printed)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale (default: the model's; Riffusion's is 7.0)")
    parser.add_argument("--negative", help="negative prompt: what to steer away from")


def _add_output_options(parser: argparse.ArgumentParser, image_help: str) -> None:
    from . import cli

    parser.add_argument("-o", "--output", required=True, help=f"output audio file ({cli.audio_suffixes()})")
    parser.add_argument("--image", help=f"also write the spectrogram image {image_help} (.png)")


def _load(args: argparse.Namespace) -> "RiffusionPipeline":
    from .diffusion.loading import load_pipeline

    pipe = load_pipeline(args.model, device=args.device, dtype=args.dtype)
    pipe.pipeline.set_progress_bar_config(disable=True)
    return pipe


def _choose_model(args: argparse.Namespace) -> None:
    """Set ``args.model`` to the model riffnb loads when --model names none (saying which, as load_pipeline does),
    so that inputs can be checked against its spectrogram parameters before it loads."""
    if args.model is None:
        from .diffusion.loading import choose_device, choose_model

        args.model, note = choose_model(choose_device(args.device))
        print(note, file=sys.stderr)


def _outputs(args: argparse.Namespace) -> list[str]:
    from . import cli

    outputs = [cli.audio_output(args.output)]
    if getattr(args, "image", None):
        outputs.append(cli.image_output(args.image))
    return outputs


def _write(args: argparse.Namespace, samples, sample_rate: int, image=None, params=None) -> None:
    """Write the audio, and with ``--image`` the spectrogram ``image`` (made from the audio with ``params`` if None,
    before anything is written): both files, or neither if one cannot be written."""
    from .audio import output_set, save_audio
    from .image import save_image

    if args.image and image is None:
        from .spectrogram import image_from_audio

        image = image_from_audio(samples, sample_rate, params)
    with output_set() as claim:
        claim(args.output, args.overwrite)
        save_audio(args.output, samples, sample_rate, overwrite=args.overwrite)
        if args.image:
            claim(args.image, args.overwrite)
            save_image(image, args.image, overwrite=args.overwrite)


def _steps(args: argparse.Namespace) -> dict[str, T.Any]:
    return {} if args.steps is None else {"steps": args.steps}


# generate ------------------------------------------------------------------------------------------------------


def register_generate(subparsers: argparse._SubParsersAction) -> None:
    from . import cli

    parser = cli.add_command(
        subparsers,
        "generate",
        run_generate,
        help="generate music from a text prompt",
        outputs=_outputs,
        description="Generate a clip from a text prompt with a Riffusion model: draw a spectrogram image with "
        "Stable Diffusion and turn it into audio.",
    )
    parser.add_argument("prompt", help="what to play, e.g. 'funky jazz piano'; weights work: '(jazz:1.3) piano'")
    _add_output_options(parser, "here")
    _add_prompt_options(parser)
    parser.add_argument("--width", type=int, default=None,
                        help="image width in pixels, a multiple of 8 (default: the model's; Riffusion's 512 decodes to 5.11 s)")
    _add_sampling_options(parser, "denoising steps (default: the model's; Riffusion's is 30)")
    _add_model_options(parser)


def run_generate(args: argparse.Namespace) -> None:
    from . import cli
    from .diffusion.pipeline import check_settings

    cli.check_prompt(args.prompt)
    check_settings(args.model, seed=args.seed, steps=args.steps, guidance=args.guidance, width=args.width,
                   scheduler=args.scheduler)
    pipe = _load(args)
    with cli.timer() as elapsed:
        clip = pipe.text_to_audio(
            args.prompt, negative_prompt=args.negative, seed=args.seed, guidance=args.guidance, width=args.width,
            scheduler=args.scheduler, **_steps(args),
        )
    _write(args, clip.samples, clip.sample_rate, clip.image)
    print(f"wrote {args.output}: {clip.duration:.2f} s, seed {clip.seed}, {clip.steps} {clip.scheduler} steps "
          f"({elapsed():.1f} s)")


# riff ----------------------------------------------------------------------------------------------------------


def register_riff(subparsers: argparse._SubParsersAction) -> None:
    from . import cli
    from .diffusion.seeds import RIFFUSION_MASKS, RIFFUSION_SEED_IMAGES, SEEDS

    parser = cli.add_command(
        subparsers,
        "riff",
        run_riff,
        help="change existing music (audio file, spectrogram image or seed image) towards a prompt",
        outputs=_outputs,
        description="Riff on existing music with Riffusion's img2img: noise the spectrogram of INPUT and denoise "
        "it towards --prompt. Audio is riffed in overlapping windows and crossfaded back together, as on "
        "Riffusion's audio-to-audio page, so the output is as long as the input.",
    )
    parser.add_argument("input", help="audio file, spectrogram image, or seed image name "
                        f"(riffnb's: {', '.join(SEEDS)}; Riffusion's, downloaded: {', '.join(RIFFUSION_SEED_IMAGES)})")
    _add_output_options(parser, "of the result here")
    parser.add_argument("--prompt", required=True, help="what to turn it into")
    parser.add_argument("--strength", type=float, default=None,
                        help="denoising strength from 0 (keep the input) to 1 (ignore it); default 0.75, or 0.55 "
                        "for audio input (Riffusion's audio-to-audio; 0.4 for a lighter touch)")
    parser.add_argument("--mask", help="mask image (or Riffusion mask name: "
                        f"{', '.join(RIFFUSION_MASKS)}): white is repainted, black kept")
    _add_prompt_options(parser)
    parser.add_argument("--window-s", type=float, default=5.0,
                        help="audio input: window length in s (default: 5.0; shorter audio is riffed whole, as one "
                        "window)")
    parser.add_argument("--overlap-s", type=float, default=0.2,
                        help="audio input: overlap of the windows, crossfaded, in s (default: 0.2)")
    _add_sampling_options(parser, "denoising steps of the full schedule; strength x steps run (default: the model's)")
    _add_model_options(parser)


def _input_kind(path: str) -> str:
    """'audio', 'image' or 'seed' for the riff input, checked before the model loads."""
    from .diffusion.seeds import IMAGE_SUFFIXES, RIFFUSION_SEED_IMAGES, SEEDS, SeedImageError

    if os.path.isdir(path):
        raise RiffnbError(f"{path}: is a directory; give an audio file, an image or a seed image name")
    if os.path.exists(path):
        return "image" if os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES else "audio"
    if path in SEEDS or path in RIFFUSION_SEED_IMAGES:
        return "seed"
    raise SeedImageError(
        f"{path}: no such file, and no seed image of that name (riffnb's: {', '.join(SEEDS)}; Riffusion's: "
        f"{', '.join(RIFFUSION_SEED_IMAGES)})"
    )


def _riffusion_seed_or(source: str):
    """Riffusion's seed image if ``source`` names one (downloaded now, before the model loads), else ``source``."""
    from .diffusion.seeds import RIFFUSION_SEED_IMAGES, riffusion_image

    return riffusion_image(source) if source in RIFFUSION_SEED_IMAGES and not os.path.exists(source) else source


def _source_image(args: argparse.Namespace, source, name: str) -> "Image.Image":
    """The spectrogram image ``source`` (an image or audio file, a seed image name, or a downloaded seed image,
    given as ``name``) gives the model of ``args``, made before the model loads: an image of another height is
    refused here, naming the file and what to give instead."""
    from PIL import Image

    from . import cli
    from .diffusion.loading import defaults_for, limits_for, params_for
    from .diffusion.seeds import IMAGE_SUFFIXES, SEEDS, resolve_source
    from .image import load_image

    if isinstance(source, str) and os.path.splitext(source)[1].lower() in IMAGE_SUFFIXES:
        source = load_image(source)  # a damaged file is reported before anything about the model
    _choose_model(args)
    model = args.model
    params = params_for(model)
    if isinstance(source, Image.Image) and source.height != params.num_frequencies:
        raise RiffnbError(
            f"{name}: image is {source.width}x{source.height}, but {model}'s spectrograms are "
            f"{params.num_frequencies} rows tall; use audio, a riffnb seed image ({', '.join(SEEDS)}), or an image "
            f"made for this model ('riffnb audio-to-image SONG.wav IMAGE.png --model {model}')"
        )
    with cli.about_input(name):
        image, _ = resolve_source(source, params, multiple=limits_for(model).vae_scale_factor,
                                  width=defaults_for(model).width)
    return image


def run_riff(args: argparse.Namespace) -> None:
    from . import cli
    from .audio import load_audio
    from .diffusion.loading import params_for
    from .diffusion.pipeline import check_settings
    from .diffusion.riff import AUDIO_TO_AUDIO_STRENGTH, DEFAULT_STRENGTH, check_strength, check_windows
    from .diffusion.seeds import resolve_mask
    from .spectrogram import prepare_audio

    kind = _input_kind(args.input)
    cli.check_prompt(args.prompt, "--prompt")
    check_settings(args.model, seed=args.seed, steps=args.steps, guidance=args.guidance, scheduler=args.scheduler)
    strength = check_strength(args.strength if args.strength is not None else
                              AUDIO_TO_AUDIO_STRENGTH if kind == "audio" else DEFAULT_STRENGTH)
    # A damaged input, a seed image that cannot be downloaded or an image of the wrong height fails before the
    # model loads.
    audio = load_audio(args.input) if kind == "audio" else None
    source = _riffusion_seed_or(args.input)
    mask, _ = resolve_mask(args.mask)
    if audio is None:
        _source_image(args, source, args.input)
    else:
        _choose_model(args)
        params = params_for(args.model)
        with cli.about_input(args.input):
            audio = prepare_audio(*audio, params), params.sample_rate
        window_s, overlap_s = check_windows(args.window_s, args.overlap_s, params, names=("--window-s", "--overlap-s"),
                                            duration_s=audio[0].shape[-1] / params.sample_rate)
    pipe = _load(args)
    options = dict(strength=strength, seed=args.seed, guidance=args.guidance, negative_prompt=args.negative,
                   mask=mask, scheduler=args.scheduler, **_steps(args))
    with cli.timer() as elapsed:
        if audio is not None:
            riffed = pipe.riff_audio(audio, args.prompt, window_s=window_s, overlap_s=overlap_s, **options)
            samples, sample_rate = riffed.samples, riffed.sample_rate
            seed, detail = riffed.clips[0].seed, f"{len(riffed.clips)} window(s)"
            image = None
        else:
            with cli.about_input(args.input) if kind == "image" else contextlib.nullcontext():
                clip = pipe.riff(source, args.prompt, **options)
            samples, sample_rate, image, seed, detail = clip.samples, clip.sample_rate, clip.image, clip.seed, "1 clip"
    _write(args, samples, sample_rate, image, pipe.params)
    print(f"wrote {args.output}: {samples.shape[-1] / sample_rate:.2f} s, {detail}, strength {strength:g}, "
          f"seed {seed} ({elapsed():.1f} s)")


# interpolate ---------------------------------------------------------------------------------------------------


def register_interpolate(subparsers: argparse._SubParsersAction) -> None:
    from . import cli
    from .diffusion.interpolate import DEFAULT_CROSSFADE_S
    from .diffusion.seeds import DEFAULT_SEED_IMAGE

    parser = cli.add_command(
        subparsers,
        "interpolate",
        run_interpolate,
        help="morph from one prompt and seed to another over several clips",
        outputs=_outputs,
        description="Riffusion's interpolation: riff one seed image at evenly spaced alphas from the start "
        "prompt and seed to the end ones (text embeddings, guidance and denoising interpolated linearly, the "
        "noise spherically), and join the clips with short crossfades.",
    )
    parser.add_argument("--start-prompt", required=True, help="prompt of the first clip")
    parser.add_argument("--end-prompt", required=True, help="prompt of the last clip")
    parser.add_argument("--start-seed", type=int, default=0, help="seed of the first clip (default: 0)")
    parser.add_argument("--end-seed", type=int, default=1, help="seed of the last clip (default: 1)")
    parser.add_argument("--num-clips", type=int, default=5, help="clips, the first and last included (default: 5)")
    _add_output_options(parser, "of the whole result here")
    parser.add_argument("--seed-image", default=DEFAULT_SEED_IMAGE,
                        help=f"the image every clip is riffed from: a seed name, image or audio file (default: "
                        f"{DEFAULT_SEED_IMAGE}; og_beat is Riffusion's)")
    parser.add_argument("--mask", help="mask image or Riffusion mask name: white is repainted, black kept")
    parser.add_argument("--start-denoising", type=float, default=0.75, help="strength at the start (default: 0.75)")
    parser.add_argument("--end-denoising", type=float, default=0.75, help="strength at the end (default: 0.75)")
    parser.add_argument("--start-guidance", type=float, default=None, help="guidance at the start (default: the model's)")
    parser.add_argument("--end-guidance", type=float, default=None, help="guidance at the end (default: the model's)")
    parser.add_argument("--crossfade", type=float, default=DEFAULT_CROSSFADE_S,
                        help=f"crossfade between clips in s (default: {DEFAULT_CROSSFADE_S})")
    _add_sampling_options(parser, "denoising steps of the full schedule (default: the model's)")
    _add_model_options(parser)


def run_interpolate(args: argparse.Namespace) -> None:
    from . import cli
    from .diffusion.interpolate import interpolation_alphas, stitch_clips
    from .diffusion.loading import params_for
    from .diffusion.pipeline import check_settings
    from .diffusion.riff import PromptInput
    from .diffusion.seeds import resolve_mask

    cli.check_prompt(args.start_prompt, "--start-prompt")
    cli.check_prompt(args.end_prompt, "--end-prompt")
    check_settings(args.model, steps=args.steps, scheduler=args.scheduler)
    interpolation_alphas(args.num_clips)
    start = PromptInput(args.start_prompt, args.start_seed, args.start_denoising, args.start_guidance)
    end = PromptInput(args.end_prompt, args.end_seed, args.end_denoising, args.end_guidance)
    if not 0 <= args.crossfade < math.inf:
        raise RiffnbError(f"--crossfade must be a number of seconds, 0 or more, got {args.crossfade:g}")
    _input_kind(args.seed_image)
    seed_image = _riffusion_seed_or(args.seed_image)
    mask, _ = resolve_mask(args.mask)
    clip_width = _source_image(args, seed_image, args.seed_image).width
    _check_crossfade(args.crossfade, args.num_clips, clip_width, params_for(args.model))
    pipe = _load(args)
    with cli.timer() as elapsed:
        clips = pipe.interpolate(start, end, num_clips=args.num_clips, source=seed_image, mask=mask,
                                 scheduler=args.scheduler, **_steps(args))
        samples = stitch_clips(clips, args.crossfade)
    _write(args, samples, clips[0].sample_rate, params=pipe.params)
    count = f"{len(clips)} clip" + ("s" if len(clips) > 1 else "")
    print(f"wrote {args.output}: {samples.shape[-1] / clips[0].sample_rate:.2f} s, {count} from "
          f"{args.start_prompt!r} (seed {args.start_seed}) to {args.end_prompt!r} (seed {args.end_seed}) "
          f"({elapsed():.1f} s)")


def _check_crossfade(crossfade_s: float, num_clips: int, clip_width: int, params) -> None:
    """Refuse a --crossfade the clips are too short for, before they are made: every clip is as wide as the seed
    image, and a clip between two others fades in at its start and out at its end."""
    from .clips import num_samples

    fades = min(num_clips - 1, 2)
    clip_samples = (clip_width - 1) * params.hop_length  # W columns decode to W - 1 hops
    if fades and num_samples(crossfade_s, params.sample_rate) * fades > clip_samples:
        longest = clip_samples // fades * 100 // params.sample_rate / 100  # rounded down to 10 ms
        raise RiffnbError(
            f"--crossfade {crossfade_s:g} s is too long for clips of {clip_samples / params.sample_rate:.2f} s"
            f"{' (each fades in and out)' if fades == 2 else ''}; use at most {longest:.2f} s"
        )


# batch ---------------------------------------------------------------------------------------------------------


def register_batch(subparsers: argparse._SubParsersAction) -> None:
    from . import cli

    parser = cli.add_command(
        subparsers,
        "batch",
        run_batch,
        help="generate every prompt of a JSON batch file (Riffusion's playground format)",
        outputs=lambda args: cli.check_folder(args.output_dir),
        description="Generate every entry of a batch file with every parameter set, as Riffusion's text-to-audio "
        'batch page: {"params": {"num_inference_steps": 30, ...}, "entries": [{"prompt": ..., "seed": ...}]}; '
        "settings a parameter set leaves out are the model's. Writes <entry>_<prompt>_seed<seed>_p<params>.wav, "
        ".png and .json per clip, and index.json. An interrupted or failed batch removes the files it wrote, so "
        "running it again starts afresh.",
    )
    parser.add_argument("batch", help="the batch file (JSON)")
    parser.add_argument("output_dir", help="folder for the clips and index.json (created if missing)")
    parser.add_argument("--num-seeds", type=int, default=1,
                        help="seeds per entry, counting up from the entry's (default: 1)")
    parser.add_argument("--format", default="wav", choices=sorted(cli.AUDIO_FORMATS),
                        help="audio format (default: wav)")
    _add_model_options(parser, "for parameter sets that name no checkpoint")


def run_batch(args: argparse.Namespace) -> None:
    from . import cli
    from .diffusion.batch import load_batch, run_batch

    batch = load_batch(args.batch)

    def progress(done: int, total: int, clip) -> None:
        print(f"[{done}/{total}] {clip.prompt!r} seed {clip.seed}", flush=True)

    with cli.timer() as elapsed:
        results = run_batch(batch, args.model, output_dir=args.output_dir, num_seeds=args.num_seeds,
                            audio_format=args.format, overwrite=args.overwrite, device=args.device,
                            dtype=args.dtype, callback=progress)
    print(f"wrote {len(results)} clip(s) and index.json to {args.output_dir} ({elapsed():.1f} s)")


#: The diffusion subcommands, in ``riffnb --help`` order.
COMMANDS = (register_generate, register_riff, register_interpolate, register_batch)
