"""Quality and speed of riffnb's tiny model: prompt adherence, tuning, autoencoder error, seconds per clip, peak memory.

Prompt adherence is judged by classifiers trained only on the corpus generator's audio (held-out seeds, the
``"eval"`` split; see :mod:`riffnb.train.evaluate`), never on model output. Prompts are written with the held-out
sentence frames, so they are paraphrases the model never saw in training.

Whether the clips sound like music and not noise is asked three more ways. Spectral flatness, of the same clips and
of the prompts' own corpus clips through the same image and phase reconstruction. Notes heard by an outside ear
(``notes_heard``: Spotify's basic-pitch transcriber, trained on recordings, never on riffnb's audio), of the same
clips and of those corpus clips as rendered, rebuilt from their image, and through the autoencoder. And whether
melodies are in tune
(``in_tune_fraction``: the share of pitched frames within 20 cents of a note of the scale), of flute and synth
prompts at each stage from their corpus clips to generated ones: rendered, rebuilt from the image, through the
autoencoder, riffed at low strengths (the UNet's last steps), generated; ``--tuning-only`` asks only that.

Usage::

    python benchmarks/eval_tiny.py                       # the shipped model, riffnb/models/tiny
    python benchmarks/eval_tiny.py --model /work/checkpoints/tiny/pipeline --clips-per-instrument 8 --json out.json
    python benchmarks/eval_tiny.py --listen listen/       # also keep every judged clip (and its corpus clip), with a
                                                          # page to hear them
    python benchmarks/eval_tiny.py --model candidate/ --tuning-only   # only the tuning, in a few minutes
    python benchmarks/eval_tiny.py --speed-only           # only seconds per clip and peak memory, in a minute

Speed is prompt to finished audio (phase reconstruction included, model already loaded, after a warm-up clip) at
the model's default steps, scheduler, guidance and width (its riffnb.json), the median of ``--repeats`` clips,
printed against the target (2 s per clip) and against a baseline timed alternately in the same run: diffusers' own
``StableDiffusionPipeline.__call__`` on the same components and settings, then the same ``image_to_audio``
(``bench_diffusion.diffusers_clip``), so that numbers from a busy machine stay comparable. The model runs on its
own thread count (its riffnb.json's ``cpu_threads``, unless ``--threads``); where that differs from torch's default,
the same clips are timed at torch's default too, in turn with the others. Also as a multiple of a fixed torch
workload (the machine unit). Peak memory is the maximum resident set size of a fresh process that loads
the model and makes one clip at its defaults (target 1 GB).

The full evaluation needs basic-pitch's model and onnxruntime (the outside ear of ``notes_heard``), which
scripts/setup.sh installs; it checks for them before it starts. ``--tuning-only`` and ``--speed-only`` do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import subprocess
import sys
import time
import typing as T
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riffnb.audio import atomic_output  # noqa: E402
from riffnb.errors import RiffnbError  # noqa: E402
from riffnb.train.captions import HELD_OUT_FRAMES, INSTRUMENT_WORDS, STYLE_WORDS, ClipSpec, describe  # noqa: E402
from riffnb.train.corpus import CLIP_SECONDS, corpus_specs, load_corpus, render_spec  # noqa: E402
from riffnb.train.evaluate import (  # noqa: E402
    Judged,
    audio_features,
    autoencoder_round_trip,
    check_new_folder,
    corpus_clip_as_drawn,
    in_tune_fraction,
    notes_heard,
    solo_specs,
    spectral_flatness,
    train_judges,
    write_listening_sheet,
)

from benchlib import of_limit, positive_int  # noqa: E402  (benchmarks/, first on sys.path when this script runs)

PITCHED = [name for name in INSTRUMENT_WORDS if name not in ("bass", "drums")]
#: The leads that play one note at a time, whose tuning ``in_tune_fraction`` can measure.
MELODIC_LEADS = ("flute", "synth")
#: Riffing strengths at which :func:`tuning` measures the in-tune share.
TUNING_STRENGTHS = (0.1, 0.2, 0.4)
SEED_PROMPT = "bossa nova with electric guitar"
#: Prompt to finished audio, seconds per clip (the README's target for the embedded model).
SPEED_TARGET_S = 2.0
#: Peak resident memory of a fresh process that loads the model and makes one clip (the README's 1 GB).
MEMORY_TARGET_MB = 1024.0


def machine_unit(repeats: int = 5) -> float:
    """Seconds for a fixed torch workload (a small conv stack): the baseline speed ratios are printed against."""
    import torch

    layers = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 3, padding=1) for _ in range(4)]).eval()
    x = torch.randn(2, 32, 64, 128)
    times = []
    with torch.no_grad():
        layers(x)
        for _ in range(repeats):
            started = time.perf_counter()
            layers(x)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def adherence_prompts(clips_per_instrument: int, seed: int = 0) -> list[tuple[str, ClipSpec]]:
    """Held-out-frame prompts naming one instrument (and a style), with the spec each one describes."""
    rng = random.Random(seed)
    styles = list(STYLE_WORDS)
    specs = corpus_specs("eval", 5000)
    prompts = []
    for instrument in INSTRUMENT_WORDS:
        for number in range(clips_per_instrument):
            base = specs[len(prompts) * 7 % len(specs)]
            spec = ClipSpec(styles[(number + len(prompts)) % len(styles)], (instrument,), base.tempo_bpm, base.key,
                            base.mode, "mid", base.seed)
            frame = HELD_OUT_FRAMES[number % len(HELD_OUT_FRAMES)]
            prompts.append((describe(spec, frame, rng, keep_probability=0.0), spec))
    return prompts


def attribute_prompts(attribute: str, count: int, seed: int = 1) -> list[tuple[str, str]]:
    """Prompts asking for one value of ``attribute`` ("tempo": slow/fast, "register": low/high) and that value."""
    rng = random.Random(seed)
    values = ("slow", "fast") if attribute == "tempo" else ("low", "high")
    prompts = []
    for number in range(count):
        value = values[number % 2]
        instrument = PITCHED[number % len(PITCHED)] if attribute == "register" else list(INSTRUMENT_WORDS)[number % 9]
        style = list(STYLE_WORDS)[(number // 2) % len(STYLE_WORDS)]
        frame = HELD_OUT_FRAMES[number % len(HELD_OUT_FRAMES)]
        text = frame.format(style=STYLE_WORDS[style][0], instruments=INSTRUMENT_WORDS[instrument][0],
                            attributes=value, bpm="")
        prompts.append((" ".join(text.split()), value))
    rng.shuffle(prompts)
    return prompts


def peak_memory_mb(model: str) -> float:
    """Peak resident memory (MB) of a fresh Python process that loads ``model`` and makes one clip."""
    code = (
        "import riffnb\n"
        f"pipe = riffnb.load_pipeline({model!r}, device='cpu')\n"
        "pipe.text_to_audio('bossa nova with electric guitar', seed=0)  # the model's default settings\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, so a child of
        # this (large) benchmark process would report the parent's peak.
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def image_of(pixels: np.ndarray):
    """The RGB spectrogram image of ``pixels`` (``(rows, columns)`` on the 0-255 scale), as the pipeline draws them."""
    from PIL import Image

    return Image.fromarray(np.asarray(pixels).astype(np.uint8)).convert("RGB")


def vae_error(pipe, count: int = 64, corpus: Path | None = None) -> dict:
    """The autoencoder's mean absolute pixel error (0-255 scale) and its relative mel magnitude error on corpus clips."""
    from riffnb.train.corpus import clip_image

    if corpus is not None and (corpus / "images.npy").is_file():
        images = np.asarray(load_corpus(corpus)[0][-count:])
    else:
        images = np.stack([clip_image(spec, pipe.params) for spec in corpus_specs("eval", count)])
    decoded = autoencoder_round_trip(pipe, images)
    # Pixels are magnitude ** 0.25 (inverted); compare magnitudes too, where loud parts dominate as they do to the ear.
    original_magnitude = (1 - images / 255.0) ** 4
    decoded_magnitude = (1 - decoded / 255.0) ** 4
    relative = np.linalg.norm(decoded_magnitude - original_magnitude) / np.linalg.norm(original_magnitude)
    return {"pixel_mae_0_255": float(np.abs(decoded - images).mean()), "magnitude_relative_error": float(relative)}


def vae_instrument_accuracy(pipe, judge, skip: int, per_instrument: int = 6) -> dict:
    """The instrument judge on held-out solo corpus clips: as rendered, rebuilt from their image, and rebuilt after
    the autoencoder's round trip.

    The clips come from the eval split after its first ``skip`` clips (the ones the judges learned from).

    If the round trip keeps the judge's verdicts, what the autoencoder blurs is not what tells instruments apart,
    and a prompt's wrong instrument comes from the UNet and text encoder.
    """
    from riffnb.train.corpus import image_array

    specs = []
    for spec in solo_specs(corpus_specs("eval", skip + 40 * per_instrument)[skip:]):
        if sum(s.lead == spec.lead for s in specs) < per_instrument:
            specs.append(spec)
    labels = [spec.lead for spec in specs]
    audio = [render_spec(spec, pipe.params) for spec in specs]
    images = np.stack([image_array(samples, pipe.params) for samples in audio])

    def rebuilt(pixels: np.ndarray) -> np.ndarray:
        return pipe.image_to_audio(image_of(pixels))[0]

    def accuracy(clips) -> float:
        return judge.accuracy(np.stack([audio_features(samples) for samples in clips]), labels)

    return {"clips": len(specs), "rendered": accuracy(audio), "rebuilt": accuracy(map(rebuilt, images)),
            "after_round_trip": accuracy(map(rebuilt, autoencoder_round_trip(pipe, images)))}


def corpus_reference(pipe, prompts: list[tuple[str, ClipSpec]]) -> tuple[dict, list]:
    """The noise checks on the prompts' corpus clips: spectral flatness as rendered and after the model's image and
    phase reconstruction, and notes heard (per lead) as rendered, rebuilt, and rebuilt after the autoencoder's round
    trip. Also returns the rebuilt clips (:func:`corpus_clip_as_drawn`), one per prompt, for the listening sheet.

    Rebuilt is what a perfect model's clips would measure: Griffin-Lim's phase is not the original's, and a little
    smearing makes any reconstructed sound somewhat flatter. Through the autoencoder is the best the model's own
    decoder can draw.
    """
    rate = pipe.params.sample_rate
    flatness: dict[str, list[float]] = {"rendered": [], "rebuilt": []}
    notes: dict[str, dict[str, list[float]]] = {"rendered": {}, "rebuilt": {}, "autoencoder": {}}
    drawn_clips = []
    for (prompt, _), spec in zip(prompts, solo_specs(spec for _, spec in prompts)):
        samples = render_spec(spec, pipe.params)
        drawn = corpus_clip_as_drawn(pipe, spec, prompt, samples)
        decoded = autoencoder_round_trip(pipe, np.asarray(drawn.image.convert("L"))[None])[0]
        stages = {"rendered": samples, "rebuilt": drawn.samples,
                  "autoencoder": pipe.image_to_audio(image_of(decoded))[0]}
        for stage, clip in stages.items():
            notes[stage].setdefault(spec.lead, []).append(notes_heard(clip, rate))
        flatness["rendered"].append(spectral_flatness(samples))
        flatness["rebuilt"].append(spectral_flatness(stages["rebuilt"]))
        drawn_clips.append(drawn)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, int(CLIP_SECONDS * rate))
    return {
        "flatness": {"corpus_rendered": float(np.median(flatness["rendered"])),
                     "corpus_reconstructed": float(np.median(flatness["rebuilt"])),
                     "corpus_reconstructed_max": float(np.max(flatness["rebuilt"])),
                     "white_noise": spectral_flatness(noise)},
        "notes_heard": {**{f"corpus_{stage}": medians(by_lead) for stage, by_lead in notes.items()},
                        "white_noise": notes_heard(noise, rate)},
    }, drawn_clips


def medians(by_lead: dict[str, list[float]]) -> dict[str, float]:
    """The median of each lead's values, and of all of them (``"all"``)."""
    every = [value for values in by_lead.values() for value in values]
    return {lead: float(np.median(values)) for lead, values in by_lead.items()} | {"all": float(np.median(every))}


def tuning(pipe, settings: dict, clips_per_lead: int = 12, strengths: T.Sequence[float] = TUNING_STRENGTHS) -> dict:
    """Where melodies go out of tune: the in-tune share at each stage from a corpus clip to a generated one.

    Asked of :data:`MELODIC_LEADS` prompts from :func:`adherence_prompts` (seeds 5000 on), the leads that play one
    note at a time: their corpus clips as rendered; through image and phase reconstruction; through the
    autoencoder too (``"autoencoder"``); riffed towards their own prompt at each of ``strengths`` (noised to that
    level, then the last ``strength`` of the sampler's steps: how much of the tuning the UNet loses at low noise);
    and generated from the prompt alone. Each value is the median of :func:`in_tune_fraction` over the clips
    (0.4 = random pitches).
    """
    from riffnb.train.corpus import image_array

    rate = pipe.params.sample_rate
    stages = ["rendered", "rebuilt", "autoencoder", *(f"strength {strength}" for strength in strengths), "generated"]
    values: dict[str, list[float]] = {stage: [] for stage in stages}
    prompts = [(prompt, spec) for prompt, spec in adherence_prompts(clips_per_lead) if spec.lead in MELODIC_LEADS]
    riff_settings = {name: settings[name] for name in ("steps", "guidance", "scheduler")}
    for number, (prompt, spec) in enumerate(prompts):
        seed = 5000 + number
        samples = render_spec(spec, pipe.params)
        pixels = image_array(samples, pipe.params, settings["width"])
        image = image_of(pixels)
        decoded = image_of(autoencoder_round_trip(pipe, pixels[None])[0])
        audio = {
            "rendered": samples,
            "rebuilt": pipe.image_to_audio(image)[0],
            "autoencoder": pipe.image_to_audio(decoded)[0],
            **{f"strength {strength}": pipe.riff(image, prompt, strength=strength, seed=seed, **riff_settings).samples
               for strength in strengths},
            "generated": pipe.text_to_audio(prompt, seed=seed, **settings).samples,
        }
        for stage in stages:
            values[stage].append(in_tune_fraction(audio[stage], rate))
    return {"clips": len(prompts), **{stage: float(np.nanmedian(column)) for stage, column in values.items()}}


def speed(pipe, settings: dict, repeats: int = 5, torch_default_threads: int | None = None) -> dict:
    """Seconds per clip of ``pipe.text_to_audio`` at ``settings`` (median of ``repeats``, after a warm-up), with the
    target, the same run's diffusers baseline timed alternately with it, and the machine unit. With
    ``torch_default_threads`` other than the threads the model runs with (``load_pipeline(threads=...)``), the
    same clips are also timed, in turn with the others, at that many threads: what the model's own thread count
    saves."""
    import itertools

    import torch

    from bench_diffusion import diffusers_clip, time_alternately
    from riffnb.diffusion import steps

    threads = torch.get_num_threads()

    def at_default_threads(seed: int) -> None:
        torch.set_num_threads(torch_default_threads)
        try:
            pipe.text_to_audio(SEED_PROMPT, seed=seed, **settings)
        finally:
            torch.set_num_threads(threads)

    embeddings = steps.encode_prompt(pipe, SEED_PROMPT)
    clip = pipe.text_to_audio(SEED_PROMPT, seed=0, **settings)  # warm-up: numba kernels, first-call allocations
    diffusers_clip(pipe, embeddings, seed=0, **settings)
    ours, theirs, defaults = itertools.count(), itertools.count(), itertools.count()
    functions = {
        "riffnb": lambda: pipe.text_to_audio(SEED_PROMPT, seed=next(ours), **settings),
        "diffusers": lambda: diffusers_clip(pipe, embeddings, seed=next(theirs), **settings),
    }
    if torch_default_threads not in (None, threads):
        functions["torch's default threads"] = lambda: at_default_threads(next(defaults))
    times = time_alternately(functions, repeats)
    seconds, baseline = statistics.median(times["riffnb"]), statistics.median(times["diffusers"])
    unit = machine_unit()
    results = {"seconds_per_clip": seconds, "clip_seconds": clip.duration, "timed_clips": repeats,
               "threads": threads, "target_seconds_per_clip": SPEED_TARGET_S,
               "seconds_per_clip_over_target": seconds / SPEED_TARGET_S, "diffusers_seconds_per_clip": baseline,
               "seconds_per_clip_over_diffusers": seconds / baseline,
               "seconds_per_clip_over_machine_unit": seconds / unit, "machine_unit_s": unit}
    if "torch's default threads" in times:
        at_default = statistics.median(times["torch's default threads"])
        results.update({"torch_default_threads": torch_default_threads,
                        "seconds_per_clip_at_torch_default_threads": at_default,
                        "seconds_per_clip_over_torch_default_threads": seconds / at_default})
    return results


def print_speed(results: dict) -> None:
    print(f"speed: {results['seconds_per_clip']:.2f} s per {results['clip_seconds']:.2f} s clip (median of "
          f"{results['timed_clips']}) at {results['settings']}; target {SPEED_TARGET_S:g} s: "
          f"{of_limit(results['seconds_per_clip'], SPEED_TARGET_S)} of it")
    print(f"  baseline, same run: diffusers' StableDiffusionPipeline call on the same components and settings + the "
          f"same image_to_audio: {results['diffusers_seconds_per_clip']:.2f} s; riffnb / diffusers "
          f"{results['seconds_per_clip_over_diffusers']:.2f}x")
    if "torch_default_threads" in results:
        print(f"  the same clips at torch's default {results['torch_default_threads']} threads instead of the model's "
              f"{results['threads']}, same run: {results['seconds_per_clip_at_torch_default_threads']:.2f} s; "
              f"{results['threads']} / {results['torch_default_threads']} threads "
              f"{results['seconds_per_clip_over_torch_default_threads']:.2f}x")
    print(f"  machine unit (a fixed torch workload, same run) {results['machine_unit_s'] * 1000:.0f} ms: a clip is "
          f"{results['seconds_per_clip_over_machine_unit']:.0f} of them", flush=True)


def speed_and_memory(pipe, settings: dict, args: argparse.Namespace, results: dict,
                     torch_default_threads: int | None = None) -> None:
    """Time the model (:func:`speed`) and, unless ``--skip-memory``, measure a fresh process's peak; print both."""
    results.update(speed(pipe, settings, args.repeats, torch_default_threads))
    print_speed(results)
    if not args.skip_memory:
        measure_memory(args.model, results)


def measure_memory(model: str, results: dict) -> None:
    results["peak_memory_mb"] = peak_memory_mb(model)
    results["target_peak_memory_mb"] = MEMORY_TARGET_MB
    print(f"peak memory of a fresh process (load + one clip at the model's defaults): {results['peak_memory_mb']:.0f} "
          f"MB; target {MEMORY_TARGET_MB:.0f} MB (1 GB): {of_limit(results['peak_memory_mb'], MEMORY_TARGET_MB)} of "
          "it", flush=True)


def write_json(path: Path, results: dict) -> None:
    """Write ``results`` to ``path`` whole or not at all (main() has refused an existing file without --overwrite)."""
    with atomic_output(path, overwrite=True) as temporary:
        Path(temporary).write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="shipped name or pipeline folder (default: %(default)s)")
    parser.add_argument("--clips-per-instrument", type=positive_int, default=6)
    parser.add_argument("--attribute-clips", type=positive_int, default=18, help="clips per attribute (tempo, register)")
    parser.add_argument("--seed-prompt-clips", type=positive_int, default=8, help=f"seeds of {SEED_PROMPT!r} judged")
    parser.add_argument("--judge-clips", type=positive_int, default=900,
                        help="held-out corpus clips the classifiers learn from")
    parser.add_argument("--judge-cache", type=Path, default=None,
                        help="an .npy file keeping the judges' corpus features between runs")
    parser.add_argument("--corpus", type=Path, default=None, help="a rendered corpus folder for the VAE error")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here (a new file)")
    parser.add_argument("--overwrite", action="store_true", help="let --json replace an existing file")
    parser.add_argument("--threads", type=positive_int, help="torch threads (default: the model's own, its "
                        "riffnb.json's cpu_threads, 1 for tiny; else torch's)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the fresh-process peak memory measurement")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="timed clips for the speed, each alternated with the diffusers baseline (default: "
                             "%(default)s; the median is reported)")
    parser.add_argument("--steps", type=positive_int, default=None, help="override the model's default steps")
    parser.add_argument("--guidance", type=float, default=None, help="override the model's default guidance")
    parser.add_argument("--scheduler", default=None, help="override the model's default scheduler")
    parser.add_argument("--tuning-only", action="store_true",
                        help="measure only where melodies go out of tune (a few minutes; for judging candidates)")
    parser.add_argument("--speed-only", action="store_true",
                        help="measure only seconds per clip (against the 2 s target and the same run's diffusers "
                             "baseline) and, unless --skip-memory, peak memory (about a minute)")
    parser.add_argument("--listen", type=Path, default=None,
                        help="a new folder to keep every judged clip in, with index.html to hear them and "
                             "listening.csv for a listener's verdicts")
    args = parser.parse_args(argv)
    if args.tuning_only and args.speed_only:
        parser.error("--tuning-only and --speed-only each measure one thing: give one of them, or neither for all")
    only = "--tuning-only" if args.tuning_only else "--speed-only" if args.speed_only else None
    if only and args.listen is not None:
        parser.error(f"--listen keeps the judged clips, and {only} judges none: give one of them")
    # Checked before the judging, not after it: a full evaluation takes ten minutes.
    if args.listen is not None:
        try:
            check_new_folder(args.listen)
        except RiffnbError as error:
            parser.error(f"--listen: {error}")
    if args.json is not None and args.json.exists() and not args.overwrite:
        parser.error(f"--json: {args.json} already exists; pass --overwrite to replace it, or name a new file")
    if only is None:
        # The outside ear (notes_heard) is an optional dependency; without it the evaluation would fail minutes in.
        try:
            notes_heard(np.zeros(22050), 22050)
        except RiffnbError as error:
            parser.error(f"{error}; scripts/setup.sh installs both. --tuning-only and --speed-only run without them")
    if Path(args.model).exists():
        # The memory measurement runs in a child process started in the repository root.
        args.model = str(Path(args.model).resolve())

    import torch

    import riffnb

    torch_default_threads = torch.get_num_threads()
    results: dict = {"model": args.model}
    try:
        pipe = riffnb.load_pipeline(args.model, device="cpu", threads=args.threads)
    except RiffnbError as error:
        parser.error(f"--model: {error}")
    pipe.pipeline.set_progress_bar_config(disable=True)
    # The model's defaults (its riffnb.json), with any the command line overrides.
    settings = dataclasses.asdict(pipe.defaults)
    settings.update({name: getattr(args, name) for name in ("steps", "guidance", "scheduler")
                     if getattr(args, name) is not None})
    try:  # checked now rather than at the first clip
        from riffnb.diffusion import schedulers
        from riffnb.diffusion.pipeline import check_guidance

        pipe.check_steps(settings["steps"])
        check_guidance(settings["guidance"])
        schedulers.scheduler_key(settings["scheduler"])
    except RiffnbError as error:
        parser.error(str(error))
    results["settings"] = settings

    if args.speed_only:
        speed_and_memory(pipe, settings, args, results, torch_default_threads)
        if args.json:
            write_json(args.json, results)
        return 0

    # Are melodies in tune, and where along the way from a corpus clip to a generated one do they stop being?
    results["in_tune"] = tuning(pipe, settings)
    print(f"in tune (median share of pitched frames within 20 cents of a note; 0.4 = random pitches), "
          f"{results['in_tune']['clips']} {' and '.join(MELODIC_LEADS)} prompts: "
          + ", ".join(f"{stage} {value:.2f}" for stage, value in results["in_tune"].items() if stage != "clips"),
          flush=True)
    if args.tuning_only:
        if args.json:
            write_json(args.json, results)
        return 0

    started = time.perf_counter()
    judges = train_judges(args.judge_clips, cache=args.judge_cache)
    results["judge_accuracy_on_real_clips"] = judges.reference_accuracy
    print(f"judges trained in {time.perf_counter() - started:.0f} s; accuracy on held-out real clips: "
          + ", ".join(f"{k} {v:.0%}" for k, v in judges.reference_accuracy.items()), flush=True)

    heard: list[Judged] = []

    def generate(prompt: str, seed: int):
        clip = pipe.text_to_audio(prompt, seed=seed, **settings)
        return clip, audio_features(clip.samples)

    # Instrument adherence on paraphrased prompts.
    confusion: dict[str, dict[str, int]] = {name: {} for name in INSTRUMENT_WORDS}
    prompts = adherence_prompts(args.clips_per_instrument)
    correct = 0
    flatness = []
    notes: dict[str, list[float]] = {}
    for number, (prompt, spec) in enumerate(prompts):
        clip, features = generate(prompt, seed=1000 + number)
        predicted = judges.instrument.predict(features)[0]
        heard.append(Judged(clip, "instrument", spec.lead, predicted))
        confusion[spec.lead][predicted] = confusion[spec.lead].get(predicted, 0) + 1
        correct += predicted == spec.lead
        flatness.append(spectral_flatness(clip.samples))
        notes.setdefault(spec.lead, []).append(notes_heard(clip.samples, clip.sample_rate))
    results["instrument_accuracy"] = correct / len(prompts)
    results["instrument_confusion"] = confusion
    print(f"instrument adherence: {correct}/{len(prompts)} = {correct / len(prompts):.0%}", flush=True)
    for name, row in confusion.items():
        print(f"  {name:16s} {row}")

    # Does it sound like noise? Not a substitute for listening (--listen), but a number that would catch it.
    references, drawn_clips = corpus_reference(pipe, prompts)
    for row, drawn in zip(heard, drawn_clips, strict=True):
        row.corpus_clip = drawn
    reference = references["flatness"]
    noise_like = sum(value > reference["corpus_reconstructed_max"] for value in flatness)
    results["spectral_flatness"] = {"generated": float(np.median(flatness)), **reference,
                                    "generated_flatter_than_every_corpus_clip": f"{noise_like}/{len(flatness)}"}
    print(f"spectral flatness (median; 0 = tones, {reference['white_noise']:.2f} = white noise): generated "
          f"{np.median(flatness):.2g}, the prompts' corpus clips {reference['corpus_rendered']:.2g} as rendered and "
          f"{reference['corpus_reconstructed']:.2g} through the image and phase reconstruction; {noise_like} of "
          f"{len(flatness)} generated clips flatter than every one of those", flush=True)
    results["notes_heard"] = {"generated": medians(notes), **references["notes_heard"]}
    print(f"notes heard by an outside ear (basic-pitch; median share of frames with a note; white noise "
          f"{results['notes_heard']['white_noise']:.2f}), generated / the prompts' corpus clips as rendered / rebuilt "
          "from the image / through the autoencoder:")
    for lead in [*notes, "all"]:
        print(f"  {lead:16s} " + " / ".join(f"{results['notes_heard'][stage][lead]:.2f}" for stage in (
            "generated", "corpus_rendered", "corpus_rebuilt", "corpus_autoencoder")), flush=True)

    for attribute, judge in (("tempo", judges.tempo), ("register", judges.register)):
        hits = 0
        attribute_prompt_list = attribute_prompts(attribute, args.attribute_clips)
        for number, (prompt, value) in enumerate(attribute_prompt_list):
            clip, features = generate(prompt, seed=2000 + number)
            predicted = judge.predict(features)[0]
            heard.append(Judged(clip, attribute, value, predicted))
            hits += predicted == value
        results[f"{attribute}_accuracy"] = hits / len(attribute_prompt_list)
        print(f"{attribute} adherence: {hits}/{len(attribute_prompt_list)} = {hits / len(attribute_prompt_list):.0%}",
              flush=True)

    # The seed prompt: heard as electric guitar, and as bossa nova, over several seeds.
    seed_clips = [generate(SEED_PROMPT, seed) for seed in range(args.seed_prompt_clips)]
    verdicts = {}
    for question, judge, wanted in (("instrument", judges.instrument, "electric guitar"),
                                    ("style", judges.style, "bossa nova")):
        verdicts[question] = [judge.predict(features)[0] for _, features in seed_clips]
        hits = verdicts[question].count(wanted)
        results[f"seed_prompt_{wanted.replace(' ', '_')}"] = f"{hits}/{len(seed_clips)}"
        print(f"'{SEED_PROMPT}' judged {wanted}: {hits}/{len(seed_clips)}")
    results["notes_heard"]["seed_prompt"] = float(np.median([notes_heard(clip.samples, clip.sample_rate)
                                                             for clip, _ in seed_clips]))
    print(f"'{SEED_PROMPT}': notes heard {results['notes_heard']['seed_prompt']:.2f}", flush=True)
    for (clip, _), instrument, style in zip(seed_clips, verdicts["instrument"], verdicts["style"]):
        heard.append(Judged(clip, "seed prompt", "electric guitar, bossa nova", f"{instrument}, {style}"))

    results["vae"] = vae_error(pipe, corpus=args.corpus)
    print(f"VAE reconstruction: {results['vae']}")
    results["vae_instrument_accuracy"] = vae_instrument_accuracy(pipe, judges.instrument, skip=args.judge_clips)
    print(f"instrument judge on held-out solo clips, rendered / rebuilt from the image / after the VAE round trip: "
          f"{results['vae_instrument_accuracy']}", flush=True)

    speed_and_memory(pipe, settings, args, results, torch_default_threads)
    if args.json:
        write_json(args.json, results)
    if args.listen is not None:
        title = (f"{args.model}: {len(heard)} judged clips ({settings['steps']} {settings['scheduler']} steps, "
                 f"guidance {settings['guidance']})")
        page = write_listening_sheet(args.listen, heard, title=title)
        print(f"listen: open {page}, write what you hear in {args.listen / 'listening.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
