"""The ``riffnb`` command (also ``python -m riffnb``): Riffusion's command-line tools, plus a demo.

    riffnb audio-to-image IN OUT.png      riffnb image-to-audio IN.png OUT.wav
    riffnb print-exif IN.png              riffnb sample-clips IN OUT_DIR
    riffnb demo [OUT_DIR]

A user's mistake (missing or damaged file, wrong image, existing output) ends with one line on stderr,
``riffnb: error: ...``, and exit status 1; anything else is a bug and shows its traceback. Outputs are checked
before any work, written atomically, and never replace an existing file without ``--overwrite``.

Adding a subcommand: write ``register_<name>(subparsers)`` that calls :func:`add_command` (which wires up
``--overwrite`` and the output check) and adds its arguments, keep heavy imports (torch, diffusers) inside its run
function so that ``riffnb --help`` stays fast, and list it in :data:`SUBCOMMANDS`. The helpers below the commands
(:func:`audio_output`, :func:`image_output`, :func:`check_folder`, :func:`riffnb.image.save_image`,
:func:`add_reconstruction_options`, :func:`reconstruction_options`, :func:`check_prompt`, :func:`about_input`,
:func:`timer`) are there for subcommands in other modules too. A run that fails or is interrupted removes the
output folders it created.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import typing as T

from .audio import AUDIO_FORMATS, audio_format_for, check_output_path, load_audio, output_set, save_audio
from .cli_diffusion import COMMANDS as DIFFUSION_COMMANDS
from .errors import InvalidAudioError, InvalidImageError, RiffnbError
from .params import ExifTags, SpectrogramParams

# SpectrogramParams fields audio-to-image offers: those an image's EXIF stores, so every image the command writes
# decodes with the parameters it was made with.
_PARAM_HELP = {
    "stereo": "keep two channels, left in green and right in blue (default: mix to mono)",
    "sample_rate": "resample the audio to this rate (Hz) first",
    "step_size_ms": "hop between image columns, in ms",
    "window_duration_ms": "Hann window length, in ms",
    "padded_duration_ms": "FFT size, in ms (the window is zero-padded to it)",
    "num_frequencies": "mel bands: the image height",
    "min_frequency": "lowest mel band edge, in Hz",
    "max_frequency": "highest mel band edge, in Hz",
    "power_for_image": "exponent applied to the normalised spectrogram before 8-bit quantisation",
}

RunFunction = T.Callable[[argparse.Namespace], None]
OutputsFunction = T.Callable[[argparse.Namespace], T.Sequence[str]]


def main(argv: T.Sequence[str] | None = None) -> int:
    """Run the ``riffnb`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        overwrite = getattr(args, "overwrite", False)
        outputs = args.outputs(args)
        for path in outputs:
            if not isinstance(path, OutputFolder):
                check_output_path(path, overwrite)
        with _removing_new_folders(outputs):
            args.run(args)
    except (RiffnbError, OSError) as error:
        print(f"riffnb: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("riffnb: interrupted (no partial output files are left behind)", file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``riffnb`` argument parser with every subcommand in :data:`SUBCOMMANDS`."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="riffnb",
        description="Riffusion from the command line: audio <-> mel spectrogram images, clips, a demo, and "
        "text-to-music with the diffusion model.",
        epilog="Run 'riffnb COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"riffnb {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    run: RunFunction,
    help: str,
    outputs: OutputsFunction | None = None,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add subcommand ``name``; ``run(args)`` does the work once ``outputs(args)`` (the files it will write, and
    :func:`check_folder`'s output folder) have been checked, and a command with outputs gets ``--overwrite``."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    parser.set_defaults(run=run, outputs=outputs or (lambda args: ()))
    if outputs is not None:
        parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    return parser


# audio-to-image ------------------------------------------------------------------------------------------------


def register_audio_to_image(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "audio-to-image",
        run_audio_to_image,
        help="turn an audio file into Riffusion's spectrogram image (with its parameters in EXIF)",
        outputs=lambda args: [image_output(args.image)],
    )
    parser.add_argument("audio", help="input audio file (WAV, FLAC, OGG or MP3)")
    parser.add_argument("image", help="output image (.png; .jpg is lossy)")
    parser.add_argument("--model", metavar="NAME_OR_FOLDER",
                        help="make the image with this model's spectrogram parameters (a shipped model such as tiny, "
                        "or a model folder), to riff it with that model; its weights are not loaded. The parameter "
                        "flags below cannot be given with it")
    defaults = SpectrogramParams()
    # Defaults of None tell which flags were given: --model refuses them.
    for name, help in _PARAM_HELP.items():
        default = getattr(defaults, name)
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", default=None, help=help)
        else:
            parser.add_argument(flag, type=type(default), help=f"{help} (default: {default})")


def run_audio_to_image(args: argparse.Namespace) -> None:
    given = {name: getattr(args, name) for name in _PARAM_HELP if getattr(args, name) is not None}
    if args.model is None:
        params = SpectrogramParams(**given)
    elif given:
        flags = " and ".join("--" + name.replace("_", "-") for name in given)
        raise RiffnbError(f"--model {args.model} sets every spectrogram parameter (so that the image riffs with that "
                          f"model); drop {flags}, or drop --model to choose the parameters yourself")
    else:
        from .diffusion.loading import locate_model, params_for

        params = params_for(locate_model(args.model))
    samples, sample_rate = load_audio(args.audio)
    # Imported once the input is known to be good: a bad file is reported without waiting for scipy.
    from .image import save_image
    from .spectrogram import image_from_audio

    with timer() as elapsed, about_input(args.audio):
        image = image_from_audio(samples, sample_rate, params)
    save_image(image, args.image, overwrite=args.overwrite)
    print(f"wrote {args.image}: {image.width}x{image.height} image of {samples.shape[-1] / sample_rate:.2f} s "
          f"of audio ({elapsed():.2f} s)")


# image-to-audio ------------------------------------------------------------------------------------------------


def register_image_to_audio(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "image-to-audio",
        run_image_to_audio,
        help="turn a spectrogram image back into audio (parameters from its EXIF)",
        outputs=lambda args: [audio_output(args.audio)],
        description="Turn a spectrogram image back into audio: decode the 8-bit image with the parameters in its "
        "EXIF (Riffusion's defaults where none are stored), invert the mel scale, rebuild the phase.",
    )
    parser.add_argument("image", help="input spectrogram image (PNG or JPEG)")
    parser.add_argument("audio", help=f"output audio file ({audio_suffixes()})")
    parser.add_argument("--model", metavar="NAME_OR_FOLDER",
                        help="the model that drew the image (a shipped model such as tiny, or a model folder): its "
                        "spectrogram parameters fill in what the image's EXIF does not store; its weights are not "
                        "loaded (default: Riffusion's parameters)")
    add_reconstruction_options(parser)


def run_image_to_audio(args: argparse.Namespace) -> None:
    from .image import load_image
    from .params import params_from_image

    default = None
    if args.model is not None:
        from .diffusion.loading import locate_model, params_for

        default = params_for(locate_model(args.model))
    image = load_image(args.image)
    params = params_from_image(image, default)
    with about_input(args.image):
        check_decodable(image, params, args.model)
    options = reconstruction_options(args)
    from .spectrogram import audio_from_image

    with timer() as elapsed, about_input(args.image):
        samples, sample_rate = audio_from_image(image, params, normalize=not args.no_normalize, **options)
    save_audio(args.audio, samples, sample_rate, overwrite=args.overwrite)
    print(f"wrote {args.audio}: {samples.shape[-1] / sample_rate:.2f} s at {sample_rate} Hz, "
          f"{samples.shape[0]} channel(s) ({elapsed():.2f} s)")


def check_decodable(image, params: SpectrogramParams, model: str | None) -> None:
    """Refuse an image that ``params`` (its EXIF's, the rest ``model``'s or Riffusion's) cannot decode, saying what
    to do on the command line."""
    from .image import check_spectrogram_image

    if image.height != params.num_frequencies and ExifTags.NUM_FREQUENCIES not in image.getexif():
        drawn_by = "Riffusion's" if model is None else f"{model}'s"
        raise InvalidImageError(
            f"image is {image.width}x{image.height} with no spectrogram parameters in its EXIF, and "
            f"{drawn_by} images are {params.num_frequencies} rows tall; pass --model with the model that drew "
            "it (e.g. --model tiny), or resize it"
        )
    check_spectrogram_image(image, params)


#: riffnb.phase's algorithms, initial phases and reconstruct_audio's defaults, written out because importing
#: riffnb.phase would slow down every --help (tests/test_cli.py checks that they match).
PHASE_ALGORITHMS = {"gla": "Griffin-Lim", "fgla": "fast Griffin-Lim"}
PHASE_INITS = {"random": "uniform random", "zeros": "all zero", "pghi": "phase gradient heap integration"}
PHASE_DEFAULTS = {"n_iter": 16, "algorithm": "fgla", "init": "pghi"}


def add_reconstruction_options(parser: argparse.ArgumentParser) -> None:
    def listed(choices: dict[str, str]) -> str:
        return ", ".join(f"{name} ({meaning})" for name, meaning in choices.items())

    group = parser.add_argument_group("phase reconstruction")
    group.add_argument("--n-iter", type=int, help=f"iterations of the phase reconstruction, 0 or more (default: "
                       f"{PHASE_DEFAULTS['n_iter']})")
    # Case-insensitive: the literature writes GLA and PGHI in capitals.
    group.add_argument("--algorithm", type=str.lower, metavar="{" + ",".join(PHASE_ALGORITHMS) + "}",
                       help=f"iterative algorithm: {listed(PHASE_ALGORITHMS)} (default: {PHASE_DEFAULTS['algorithm']})")
    group.add_argument("--init", type=str.lower, metavar="{" + ",".join(PHASE_INITS) + "}",
                       help=f"initial phase: {listed(PHASE_INITS)} (default: {PHASE_DEFAULTS['init']})")
    # Not --seed: elsewhere that is the music's seed, and a phase seed changes only the reconstruction.
    group.add_argument("--phase-seed", type=int, help="seed of --init random, 0 or more (default: a fresh one)")
    parser.add_argument("--no-normalize", action="store_true", help="keep the decoded level instead of Riffusion's "
                        "output normalisation (-12 dBFS RMS, then peaks at -0.1 dBFS)")


def reconstruction_options(args: argparse.Namespace) -> dict[str, T.Any]:
    """The phase reconstruction options given on the command line (the rest keep riffnb.phase's defaults)."""
    for flag, value, choices in (("--algorithm", args.algorithm, PHASE_ALGORITHMS), ("--init", args.init, PHASE_INITS)):
        if value is not None and value not in choices:
            raise RiffnbError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")
    if args.n_iter is not None and args.n_iter < 0:
        raise RiffnbError(f"--n-iter must be 0 or more, got {args.n_iter}")
    if args.phase_seed is not None:
        if args.phase_seed < 0:
            raise RiffnbError(f"--phase-seed must be a whole number, 0 or more, got {args.phase_seed}")
        if args.init != "random":
            init = f"--init {args.init}" if args.init is not None else f"the default --init {PHASE_DEFAULTS['init']}"
            raise RiffnbError(f"--phase-seed has no effect with {init}: it seeds --init random; add --init random, "
                              "or drop --phase-seed")
    options = {"n_iter": args.n_iter, "algorithm": args.algorithm, "init": args.init, "seed": args.phase_seed}
    return {name: value for name, value in options.items() if value is not None}


# print-exif ----------------------------------------------------------------------------------------------------


def register_print_exif(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "print-exif", run_print_exif, help="print the Riffusion EXIF tags of an image")
    parser.add_argument("image", help="spectrogram image (PNG or JPEG)")


def run_print_exif(args: argparse.Namespace) -> None:
    from .image import load_image

    image = load_image(args.image)
    exif = image.getexif()
    found = [(tag.name, exif[tag]) for tag in ExifTags if tag in exif]
    for name, value in found:
        print(f"{name:<20} = {value:>8}")
    if not found:
        try:
            check_decodable(image, SpectrogramParams(), None)
        except InvalidImageError as error:
            print(f"{args.image}: no Riffusion EXIF tags, and image-to-audio cannot decode it as it is: {error}")
        else:
            print(f"{args.image}: no Riffusion EXIF tags; it decodes with Riffusion's default parameters")


# sample-clips --------------------------------------------------------------------------------------------------


def register_sample_clips(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "sample-clips",
        run_sample_clips,
        help="cut clips from long audio, at random starts (default) or consecutively",
        outputs=lambda args: check_folder(args.output_dir),
        description="Cut clips from long audio, as Riffusion's sample-clips does: --num-clips clips at random "
        "starts, or with --consecutive the whole file in order. Files are named "
        "clip_<i>_start_<ms>_ms_duration_<ms>_ms.<extension>.",
    )
    parser.add_argument("audio", help="input audio file (WAV, FLAC, OGG or MP3)")
    parser.add_argument("output_dir", help="folder for the clips (created if missing)")
    parser.add_argument("--num-clips", type=int, default=1, help="clips to draw at random starts (default: 1)")
    parser.add_argument("--duration-ms", type=int, default=5120,
                        help="clip length in ms (default: 5120, one 512-column image)")
    parser.add_argument("--seed", type=int, help="seed for the random starts (default, or negative as Riffusion's -1: "
                        "fresh ones)")
    parser.add_argument("--mono", action="store_true", help="mix the clips to mono")
    parser.add_argument("--extension", default="wav", choices=sorted(AUDIO_FORMATS), help="clip format (default: wav)")
    parser.add_argument("--consecutive", action="store_true",
                        help="split the whole file into consecutive clips instead (ignores --num-clips, --seed)")
    parser.add_argument("--overlap-ms", type=int, default=0, help="overlap of consecutive clips in ms (default: 0)")


def run_sample_clips(args: argparse.Namespace) -> None:
    from .clips import sample_clips, split_clips

    if args.duration_ms <= 0 or args.num_clips < 1 or args.overlap_ms < 0:
        raise RiffnbError("--duration-ms and --num-clips must be positive and --overlap-ms not negative")
    if args.consecutive and args.overlap_ms >= args.duration_ms:
        raise RiffnbError(f"--overlap-ms ({args.overlap_ms}) must be shorter than --duration-ms ({args.duration_ms})")
    samples, sample_rate = load_audio(args.audio, mono=True if args.mono else None)
    if args.consecutive:
        clips = split_clips(samples, sample_rate, args.duration_ms / 1000, args.overlap_ms / 1000, pad=False)
    else:
        seed = args.seed if args.seed is not None and args.seed >= 0 else None
        try:
            clips = sample_clips(samples, sample_rate, args.num_clips, args.duration_ms / 1000, seed)
        except InvalidAudioError as error:
            raise InvalidAudioError(f"{args.audio}: {error}") from None
    durations_ms = [clip.samples.shape[-1] * 1000 // sample_rate for clip in clips]
    paths = [
        os.path.join(
            args.output_dir,
            f"clip_{index}_start_{clip.start * 1000 // sample_rate}_ms_duration_{duration_ms}_ms.{args.extension}",
        )
        for index, (clip, duration_ms) in enumerate(zip(clips, durations_ms))
    ]
    # All names are known now: refuse before writing any, so a refused run leaves the folder as it was.
    for path in paths:
        check_output_path(path, args.overwrite)
    with output_set() as claim:
        for clip, path in zip(clips, paths):
            claim(path, args.overwrite)
            save_audio(path, clip.samples, sample_rate, overwrite=args.overwrite)
    # Consecutive clips end where the audio does: the last one may be shorter.
    last = f" (the last {durations_ms[-1]} ms)" if durations_ms[-1] != durations_ms[0] else ""
    print(f"wrote {len(paths)} clip(s) of {durations_ms[0]} ms{last} to {args.output_dir}")


# demo ----------------------------------------------------------------------------------------------------------


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "demo",
        run_demo,
        help="text to music with the embedded model, then a clip through the spectrogram image and back",
        outputs=lambda args: check_folder(args.output_dir) + tuple(_demo_paths(args)),
        description="Make music from a text prompt with riffnb's embedded model (text-to-music.wav and its "
        "spectrogram image text-to-music.png); then synthesize a short clip, write it as demo.wav, its Riffusion "
        "spectrogram image as demo.png, and the audio rebuilt from that image as reconstructed.wav. Prints timings "
        "and the mel spectral convergence of the reconstruction.",
    )
    parser.add_argument("output_dir", nargs="?", default="riffnb-demo", help="output folder (default: ./riffnb-demo)")
    parser.add_argument("--prompt", default=DEMO_PROMPT, help="what to play (default: %(default)r)")
    parser.add_argument("--model", default="tiny",
                        help="model for the text-to-music part: the embedded 'tiny' (default), a hub id or a folder")
    add_reconstruction_options(parser)


#: Riffusion's own example prompt, and the demo's fixed seed (``riffnb generate`` takes any).
DEMO_PROMPT = "bossa nova with electric guitar"
DEMO_SEED = 42
_DEMO_FILES = ("text-to-music.wav", "text-to-music.png", "text-to-music.json", "demo.wav", "demo.png",
               "reconstructed.wav")


def _demo_paths(args: argparse.Namespace) -> list[str]:
    return [os.path.join(args.output_dir, name) for name in _DEMO_FILES]


def run_demo(args: argparse.Namespace) -> None:
    from .image import save_image, spectrogram_from_image
    from .spectrogram import audio_from_image, image_from_audio, spectrogram_from_audio
    from .synth import render_demo_clip

    from .diffusion.loading import load_pipeline

    check_prompt(args.prompt, "--prompt")
    options = reconstruction_options(args)
    generated_path, generated_image_path, _, original_path, image_path, reconstructed_path = _demo_paths(args)
    with timer() as elapsed:
        pipe = load_pipeline(args.model)
    pipe.pipeline.set_progress_bar_config(disable=True)
    print(f"loaded {args.model} on {pipe.device.type} ({elapsed():.1f} s)")
    # One output: interrupted, the demo removes the files it wrote so far and puts back those they replaced.
    with output_set() as claim:
        with timer() as elapsed:
            clip = pipe.text_to_audio(args.prompt, seed=DEMO_SEED)
        clip.save(generated_path, overwrite=args.overwrite)
        print(f"wrote {generated_path} and {generated_image_path}: {clip.duration:.2f} s of {args.prompt!r} (seed "
              f"{clip.seed}, {clip.steps} {clip.scheduler} steps, prompt to audio in {elapsed():.1f} s)")

        params = SpectrogramParams()
        sample_rate = params.sample_rate
        with timer() as elapsed:
            samples = render_demo_clip(sample_rate=sample_rate)
        claim(original_path, args.overwrite)
        save_audio(original_path, samples, sample_rate, overwrite=args.overwrite)
        print(f"wrote {original_path}: {samples.shape[-1] / sample_rate:.2f} s of synthesized music at {sample_rate} "
              f"Hz (synthesis: {elapsed():.2f} s)")

        with timer() as elapsed:
            image = image_from_audio(samples, sample_rate, params)
        claim(image_path, args.overwrite)
        save_image(image, image_path, overwrite=args.overwrite)
        print(f"wrote {image_path}: {image.width}x{image.height} spectrogram image (STFT, mel, 8-bit: "
              f"{elapsed():.2f} s)")

        with timer() as elapsed:
            reconstructed, reconstructed_rate = audio_from_image(image, normalize=not args.no_normalize, **options)
        claim(reconstructed_path, args.overwrite)
        save_audio(reconstructed_path, reconstructed, reconstructed_rate, overwrite=args.overwrite)
        print(f"wrote {reconstructed_path}: audio rebuilt from the image "
              f"(mel inversion and phase reconstruction: {elapsed():.2f} s)")

    # Quality in the mel domain, where the image lives; the gain is matched because output audio is normalised.
    rebuilt_mel = spectrogram_from_audio(reconstructed, reconstructed_rate, params)
    image_mel = spectrogram_from_image(image, power=params.power_for_image, stereo=params.stereo)
    original_mel = spectrogram_from_audio(samples, sample_rate, params)
    against_image = _gain_matched_convergence(image_mel, rebuilt_mel)
    against_original = _gain_matched_convergence(original_mel, rebuilt_mel)
    print(f"mel spectral convergence of the reconstruction: {against_image:.1f} dB against the image, "
          f"{against_original:.1f} dB against the original audio (lower is better)")


def _gain_matched_convergence(reference, estimate) -> float:
    """Spectral convergence after scaling ``estimate`` by the least-squares gain onto ``reference``."""
    import numpy as np

    from .phase import spectral_convergence

    frames = min(reference.shape[-1], estimate.shape[-1])
    reference, estimate = reference[..., :frames].astype(np.float64), estimate[..., :frames].astype(np.float64)
    gain = np.vdot(estimate, reference) / max(np.vdot(estimate, estimate), np.finfo(float).tiny)
    return float(spectral_convergence(reference, gain * estimate))


# helpers for subcommands (here and in other modules) -----------------------------------------------------------


def image_output(path: str) -> str:
    """``path`` if riffnb can write a spectrogram image there (.png, .jpg), else a :class:`RiffnbError`."""
    from .image import image_format_for

    image_format_for(path)
    return path


def audio_output(path: str) -> str:
    """``path`` if its suffix names an audio format :func:`riffnb.audio.save_audio` writes, else an error."""
    audio_format_for(path)
    return path


def audio_suffixes() -> str:
    """The audio suffixes riffnb writes, for help texts: ".wav, .flac, .ogg, .mp3"."""
    return ", ".join("." + suffix for suffix in AUDIO_FORMATS)


class OutputFolder(str):
    """An output folder in an ``outputs`` function's list (see :func:`check_folder`)."""


def check_folder(path: str) -> tuple[OutputFolder]:
    """Refuse an output folder that is a file; returns it as an ``outputs`` function's list, which that function
    can add its files to, so that a failed run removes the folder if it made it."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise RiffnbError(f"{path} exists and is not a folder; give an output folder")
    return (OutputFolder(path),)


@contextlib.contextmanager
def _removing_new_folders(outputs: T.Sequence[str]) -> T.Iterator[None]:
    """If the block fails or is interrupted, remove the folders of ``outputs`` (files, or :class:`OutputFolder`)
    that it created, once they are empty again (the files in them remove themselves: see
    :func:`riffnb.audio.output_set`); folders that existed before, and anything in them, stay."""
    new = set()
    for path in outputs:
        folder = os.path.abspath(path if isinstance(path, OutputFolder) else os.path.dirname(path))
        while not os.path.exists(folder):
            new.add(folder)
            folder = os.path.dirname(folder)
    try:
        yield
    except BaseException:
        for folder in sorted(new, key=len, reverse=True):  # the deepest first, so their parents are empty
            with contextlib.suppress(OSError):  # not made after all, or holding something: keep it
                os.rmdir(folder)
        raise


def check_prompt(prompt: str, name: str = "the prompt") -> None:
    """Refuse a prompt with nothing in it (``name`` says which, in the message): the model would play something
    anyway, and the usual cause is a mistake such as an unset shell variable."""
    if not prompt.strip():
        raise RiffnbError(f"{name} is empty (an unset shell variable?); say what to play, e.g. 'funky jazz piano'")


@contextlib.contextmanager
def about_input(path: str) -> T.Iterator[None]:
    """Name the input file in errors about its content (too short, too few columns, ...)."""
    try:
        yield
    except RiffnbError as error:
        if str(error).startswith(f"{path}:"):
            raise
        raise type(error)(f"{path}: {error}") from None


@contextlib.contextmanager
def timer() -> T.Iterator[T.Callable[[], float]]:
    """Yields a function giving the seconds the block took (frozen when the block ends)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename and not isinstance(error, RiffnbError):
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split())


#: Every subcommand's registration function, in ``riffnb --help`` order.
SUBCOMMANDS: tuple[T.Callable[[argparse._SubParsersAction], None], ...] = (
    register_audio_to_image,
    register_image_to_audio,
    register_print_exif,
    register_sample_clips,
    register_demo,
    *DIFFUSION_COMMANDS,
)
