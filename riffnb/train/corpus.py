"""The tiny model's training corpus: seeded clips from :mod:`riffnb.synth`, their spectrogram images and captions.

Nothing is downloaded: every clip is a :class:`~riffnb.train.captions.ClipSpec` drawn from a seeded random stream,
rendered by :func:`riffnb.synth.render` and turned into a Riffusion spectrogram image with the tiny model's own
parameters (:data:`TINY_PARAMS`: 22.05 kHz, 20 ms hop, 96 semitone bands, so 5.12 s is a 96x256 image). The same seed
always gives the same corpus, on any machine and with any number of worker processes.

Splits draw from disjoint seed ranges: ``"train"`` clips train the models, ``"eval"`` clips (seeds the model never
saw) train and test the evaluation classifier in :mod:`riffnb.train.evaluate`.

A built corpus is a folder with ``images.npy`` (uint8 ``(n, 96, 256)``, the red channel of each image, low
frequencies at the bottom as in the PNG) and ``specs.json`` (the clip specs, in the same order).

Examples
--------
>>> specs = corpus_specs("train", 3, corpus_seed=0)
>>> [s.seed for s in specs]
[0, 1, 2]
>>> image = clip_image(specs[0])
>>> image.shape, image.dtype
((96, 256), dtype('uint8'))
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import random
import shutil
import typing as T
from pathlib import Path

import numpy as np

from ..errors import OutputExistsError
from ..params import SpectrogramParams
from .captions import ClipSpec, random_spec

#: The tiny model's spectrogram parameters: chosen for speed on a CPU and for melodies that stay in tune (see
#: riffnb/models/tiny/README.md). 50 columns per second; 96 bands one equal-tempered semitone apart, centred on the
#: notes E1 (41 Hz) to D#9 (9.96 kHz) to within 5 cents, so every row of the image is a note and a scale is the
#: same pattern at every height. The 100 ms window is zero-padded to 200 ms so that the narrow low bands each
#: cover an FFT bin.
TINY_PARAMS = SpectrogramParams(
    sample_rate=22050,
    step_size_ms=20,
    window_duration_ms=100,
    padded_duration_ms=200,
    num_frequencies=96,
    min_frequency=39,
    max_frequency=10548,
    mel_scale_type="semitone",
)

#: Seconds per clip: Riffusion's 5.12 s, which is 256 columns at a 20 ms hop.
CLIP_SECONDS = 5.12

#: Width in pixels of a corpus image.
IMAGE_WIDTH = TINY_PARAMS.columns_for(CLIP_SECONDS)

#: First seed of each split; the ranges never overlap (no corpus has a million clips).
SPLIT_SEED_OFFSETS = {"train": 0, "eval": 1_000_000}

#: What riffnb.synth calls each canonical instrument of the captions.
SYNTH_INSTRUMENTS = {
    "piano": "piano",
    "acoustic guitar": "acoustic_guitar",
    "electric guitar": "electric_guitar",
    "bass": "bass",
    "drums": "drums",
    "organ": "organ",
    "strings": "strings",
    "flute": "flute",
    "synth": "synth",
}

#: What riffnb.synth calls each canonical style of the captions.
SYNTH_STYLES = {
    "bossa nova": "bossa_nova",
    "rock": "rock",
    "waltz": "waltz",
    "techno": "techno",
    "house": "house",
    "jazz swing": "jazz_swing",
    "ballad": "ballad",
}


def corpus_specs(split: str, count: int, corpus_seed: int = 0) -> list[ClipSpec]:
    """The first ``count`` clip specs of ``split`` (``"train"`` or ``"eval"``) for ``corpus_seed``.

    The stream is a prefix-stable sequence: asking for more clips extends the list without changing the first ones.
    """
    if split not in SPLIT_SEED_OFFSETS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_SEED_OFFSETS)}, got {split!r}")
    offset = SPLIT_SEED_OFFSETS[split]
    specs = []
    for index in range(count):
        seed = offset + index
        # One stream per clip (not one for the whole list) keeps the sequence prefix-stable.
        rng = random.Random(f"riffnb-tiny:{corpus_seed}:{seed}")
        specs.append(random_spec(rng, seed))
    return specs


def render_spec(spec: ClipSpec, params: SpectrogramParams = TINY_PARAMS, duration_s: float = CLIP_SECONDS) -> np.ndarray:
    """Audio ``(1, n)`` in [-1, 1] at ``params.sample_rate`` for ``spec``."""
    from ..synth import render

    rendering = render(
        SYNTH_STYLES[spec.style],
        [SYNTH_INSTRUMENTS[name] for name in spec.instruments],
        bpm=spec.tempo_bpm,
        key=spec.key,
        mode=spec.mode,
        register=spec.register,
        duration_s=duration_s,
        sample_rate=params.sample_rate,
        seed=spec.seed,
    )
    return rendering.samples


def image_array(samples: np.ndarray, params: SpectrogramParams = TINY_PARAMS, width: int = IMAGE_WIDTH) -> np.ndarray:
    """The Riffusion image of ``samples`` as uint8 ``(num_frequencies, width)``: the pixels the model learns to draw.

    The STFT of 5.12 s has one frame more than 256 columns; like Riffusion (513 -> 512), the last is dropped.
    """
    from ..spectrogram import image_from_audio

    image = image_from_audio(samples, params.sample_rate, params)
    pixels = np.asarray(image)[..., 0]
    if pixels.shape[1] < width:
        raise ValueError(f"audio gives {pixels.shape[1]} columns, fewer than the {width} asked for")
    return np.ascontiguousarray(pixels[:, :width])


def clip_image(spec: ClipSpec, params: SpectrogramParams = TINY_PARAMS) -> np.ndarray:
    """Render ``spec`` and return its image array (:func:`image_array`)."""
    return image_array(render_spec(spec, params), params)


def _render_chunk(specs: list[dict]) -> np.ndarray:
    return np.stack([clip_image(ClipSpec.from_dict(values)) for values in specs])


def build_corpus(
    folder: str | os.PathLike,
    split: str,
    count: int,
    corpus_seed: int = 0,
    workers: int = 1,
    progress: T.Callable[[int, int], None] | None = None,
) -> Path:
    """Render ``count`` clips of ``split`` into ``folder`` (``images.npy`` + ``specs.json``); return the folder.

    Clips are rendered into ``<folder>.part`` and the folder appears only when complete. An interrupted build
    resumes from the last finished chunk of 32 clips (``progress.json`` records it), so a killed training run
    loses at most a few seconds of rendering. An existing complete corpus with the same specs is kept as it is.
    """
    folder = Path(folder)
    specs = corpus_specs(split, count, corpus_seed)
    # Through JSON and back, so that comparisons with specs.json see lists where the dataclasses hold tuples.
    spec_dicts = json.loads(json.dumps([spec.to_dict() for spec in specs]))
    if (folder / "specs.json").is_file() and (folder / "images.npy").is_file():
        if json.loads((folder / "specs.json").read_text()) == spec_dicts:
            return folder
        raise OutputExistsError(f"{folder} holds a different corpus; delete it or choose another folder")
    temporary = folder.with_name(folder.name + ".part")
    shape = (count, TINY_PARAMS.num_frequencies, IMAGE_WIDTH)
    done = 0
    resumable = (temporary / "progress.json").is_file() and (temporary / "specs.json").is_file()
    if resumable and json.loads((temporary / "specs.json").read_text()) == spec_dicts:
        images = np.lib.format.open_memmap(temporary / "images.npy", mode="r+")
        if images.shape == shape:
            done = json.loads((temporary / "progress.json").read_text())["done"]
    if done == 0:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        (temporary / "specs.json").write_text(json.dumps(spec_dicts))
        images = np.lib.format.open_memmap(temporary / "images.npy", mode="w+", dtype=np.uint8, shape=shape)

    def record(start: int, block: np.ndarray) -> None:
        nonlocal done
        images[start : start + len(block)] = block
        images.flush()
        done = start + len(block)
        marker = temporary / "progress.json.tmp"
        marker.write_text(json.dumps({"done": done}))
        os.replace(marker, temporary / "progress.json")
        if progress:
            progress(done, count)

    chunk = 32
    starts = list(range(done, count, chunk))
    chunks = [spec_dicts[start : start + chunk] for start in starts]
    if workers > 1:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for start, block in zip(starts, pool.map(_render_chunk, chunks)):
                record(start, block)
    else:
        for start, specs_chunk in zip(starts, chunks):
            record(start, _render_chunk(specs_chunk))
    del images
    (temporary / "progress.json").unlink()
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(temporary, folder)
    return folder


def load_corpus(folder: str | os.PathLike) -> tuple[np.ndarray, list[ClipSpec]]:
    """The images (memory-mapped uint8 ``(n, 128, 256)``) and specs of a corpus written by :func:`build_corpus`."""
    folder = Path(folder)
    images = np.load(folder / "images.npy", mmap_mode="r")
    specs = [ClipSpec.from_dict(values) for values in json.loads((folder / "specs.json").read_text())]
    if len(specs) != len(images):
        raise ValueError(f"{folder}: {len(images)} images but {len(specs)} specs; rebuild the corpus")
    return images, specs


__all__ = [
    "CLIP_SECONDS",
    "IMAGE_WIDTH",
    "TINY_PARAMS",
    "build_corpus",
    "clip_image",
    "corpus_specs",
    "image_array",
    "load_corpus",
    "render_spec",
]
