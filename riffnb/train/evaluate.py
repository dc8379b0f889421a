"""Measuring the tiny model: independent classifiers trained on the corpus generator's audio, never on model output.

Prompt adherence is judged by ear-like features of the *audio* (a generated clip is turned into sound, and that
sound into a fresh mel image with the judges' own fixed parameters, :data:`JUDGE_PARAMS`, exactly as a corpus clip
is, so that models drawing with other parameters face the same judges): per-band loudness and its spread over time
(timbre and pitch range), per-band onset strength (attack), and the autocorrelation of the onset envelope
(tempo). A softmax regression (:class:`SoftmaxClassifier`, scipy only) per question — which instrument, slow or
fast, low or high — is trained on clips rendered from held-out seeds (the ``"eval"`` split, never used for
training the model) and then asked about the model's clips.

Examples
--------
>>> specs = [s for s in solo_specs(corpus_specs("eval", 40)) if s.lead in ("drums", "flute")]
>>> features = np.stack([audio_features(render_spec(s)) for s in specs])
>>> classifier = SoftmaxClassifier().fit(features, [s.lead for s in specs])
>>> classifier.accuracy(features, [s.lead for s in specs]) > 0.9
True
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import html
import os
import re
import shutil
import typing as T
import uuid
from pathlib import Path

import numpy as np
import scipy.optimize

from ..audio import atomic_output, resample
from ..errors import OutputExistsError, RiffnbError
from ..params import SpectrogramParams
from .captions import ClipSpec
from .corpus import CLIP_SECONDS, corpus_specs, image_array, render_spec

#: The judges' ears: 128 HTK mel bands up to 10 kHz, 22.05 kHz, 20 ms hop (the tiny model's first parameters).
#: Fixed, so that every export, whatever parameters it draws with, is heard by the same judges.
JUDGE_PARAMS = SpectrogramParams(
    sample_rate=22050,
    step_size_ms=20,
    window_duration_ms=100,
    padded_duration_ms=100,
    num_frequencies=128,
    min_frequency=0,
    max_frequency=10000,
)

#: Onset-envelope autocorrelation lags (image columns, 20 ms each) covering 0.2-2 s: beats from 30 to 300 BPM.
TEMPO_LAGS = range(10, 101)


def solo_specs(specs: T.Iterable[ClipSpec]) -> list[ClipSpec]:
    """The same clips with the lead instrument alone: what a one-instrument prompt should sound like."""
    return [dataclasses.replace(spec, instruments=(spec.lead,)) for spec in specs]


def autoencoder_round_trip(pipe, images: np.ndarray) -> np.ndarray:
    """Spectrogram images ``(n, rows, columns)`` on the 0-255 scale through ``pipe``'s autoencoder and back (the
    posterior means, no sampling), rounded to whole pixel levels as the pipeline draws them: what the UNet's
    latents can at best stand for.
    """
    import torch

    vae = pipe.pipeline.vae
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 127.5 - 1.0)[:, None].expand(-1, 3, -1, -1)
        y = vae.decode(vae.encode(x.to(vae.device, vae.dtype)).latent_dist.mean).sample.clamp(-1, 1)
    return np.clip(np.round((y[:, 0].float().cpu().numpy() + 1) * 127.5), 0, 255)


def image_features(pixels: np.ndarray) -> np.ndarray:
    """Feature vector of a uint8 spectrogram image ``(bins, columns)`` (low frequencies at the bottom).

    Pixels are turned back into the image's loudness scale (1 = loudest); per-band mean and standard deviation
    over time, per-band mean onset (positive change from one column to the next, 16 bands), and the normalised
    autocorrelation of the onset envelope at :data:`TEMPO_LAGS`.
    """
    loudness = 1.0 - np.asarray(pixels, dtype=np.float64)[::-1] / 255.0
    band_mean = loudness.mean(axis=1)
    band_std = loudness.std(axis=1)
    rise = np.maximum(np.diff(loudness, axis=1), 0.0)
    band_onsets = rise.reshape(16, -1, rise.shape[1]).mean(axis=(1, 2))
    envelope = rise.sum(axis=0)
    envelope = envelope - envelope.mean()
    energy = float(envelope @ envelope) or 1.0
    autocorrelation = np.array([envelope[:-lag] @ envelope[lag:] / energy for lag in TEMPO_LAGS])
    return np.concatenate([band_mean, band_std, band_onsets * 10, autocorrelation])


def audio_features(samples: np.ndarray) -> np.ndarray:
    """:func:`image_features` of the :data:`JUDGE_PARAMS` image of ``samples`` (at their 22.05 kHz).

    Audio rebuilt from a 256-column image is a few samples shorter than 5.12 s; it is padded with silence.
    """
    samples = np.atleast_2d(samples)
    missing = int(np.ceil(CLIP_SECONDS * JUDGE_PARAMS.sample_rate)) - samples.shape[-1]
    if missing > 0:
        samples = np.pad(samples, ((0, 0), (0, missing)))
    return image_features(image_array(samples, JUDGE_PARAMS))


def spectral_flatness(samples: np.ndarray, n_fft: int = 2048, hop_length: int = 512) -> float:
    """Median over frames of the spectral flatness of the mono mix: how noise-like the sound is.

    Flatness is the geometric over the arithmetic mean of a frame's power spectrum (librosa's
    ``spectral_flatness``): near 0 for tones and chords, about 0.56 for white noise (Hann window). Silent frames
    are left out, so a clip's pauses do not count as tonal.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> spectral_flatness(np.sin(2 * np.pi * 440 * t)) < 0.01 < 0.3 < spectral_flatness(
    ...     np.random.default_rng(0).normal(size=22050))
    True
    """
    import librosa

    mono = np.atleast_2d(np.asarray(samples, dtype=np.float32)).mean(axis=0)
    loud = librosa.feature.rms(y=mono, frame_length=n_fft, hop_length=hop_length)[0] > 1e-3
    flatness = librosa.feature.spectral_flatness(y=mono, n_fft=n_fft, hop_length=hop_length)[0]
    return float(np.median(flatness[loud])) if loud.any() else float("nan")


def in_tune_fraction(samples: np.ndarray, sample_rate: int, tolerance_cents: float = 20.0,
                     reference_hz: float = 440.0, minimum_frames: int = 10) -> float:
    """Share of a melody's pitched frames that lie within ``tolerance_cents`` of an equal-tempered note.

    The fundamental of the mono mix is tracked with probabilistic YIN (librosa's ``pyin``, 60-2000 Hz); frames
    it calls voiced with probability above 0.5 count, and each is measured in cents from the nearest note of the
    12-tone scale tuned to ``reference_hz``. A melody played in tune scores near 1, one held between two notes near 0,
    and pitches that drift across the scale near ``2 * tolerance_cents / 100`` (0.4 at 20 cents), as uniformly
    random pitches would.
    NaN when fewer than ``minimum_frames`` frames are pitched (chords, drums, silence): the question does not apply.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> round(in_tune_fraction(np.sin(2 * np.pi * 440 * t), 22050), 2)
    1.0
    >>> round(in_tune_fraction(np.sin(2 * np.pi * 452 * t), 22050), 2)  # 47 cents sharp: between A and A sharp
    0.0
    """
    import librosa

    mono = np.atleast_2d(np.asarray(samples, dtype=np.float32)).mean(axis=0)
    f0, voiced, probability = librosa.pyin(mono, fmin=60.0, fmax=2000.0, sr=sample_rate, frame_length=2048)
    pitched = f0[voiced & (probability > 0.5)]
    if len(pitched) < minimum_frames:
        return float("nan")
    cents = 1200.0 * np.log2(pitched / reference_hz)
    off_grid = np.abs((cents + 50.0) % 100.0 - 50.0)
    return float(np.mean(off_grid <= tolerance_cents))


#: Spotify's basic-pitch (ICASSP 2022 model, Apache-2.0), which reads 2 s windows of 22.05 kHz audio and writes
#: 86 frames a second (256-sample hop); windows overlap by 30 frames, half of which is dropped at each side.
BASIC_PITCH_RATE = 22050
BASIC_PITCH_HOP = 256
BASIC_PITCH_WINDOW = 2 * BASIC_PITCH_RATE - BASIC_PITCH_HOP
BASIC_PITCH_OVERLAP = 30
BASIC_PITCH_INSTALL = "pip install onnxruntime && pip install --no-deps basic-pitch==0.4.0"


@functools.lru_cache(maxsize=1)
def _basic_pitch_session():
    from importlib import metadata

    try:
        import onnxruntime
        # Located through the installed files, not imported: basic_pitch's own modules want TensorFlow.
        model = Path(metadata.distribution("basic-pitch").locate_file(
            "basic_pitch/saved_models/icassp_2022/nmp.onnx"))
    except (ImportError, metadata.PackageNotFoundError):
        model = None
    if model is None or not model.is_file():
        raise RiffnbError(f"notes_heard needs onnxruntime and basic-pitch's model file: {BASIC_PITCH_INSTALL} "
                          "(--no-deps: its declared requirements pull in TensorFlow, which its ONNX model does not "
                          "need)")
    return onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])


def note_posteriors(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """An outside ear's note probabilities: basic-pitch's ``(frames, 88)`` piano-key posteriorgram of the mono mix.

    basic-pitch is a polyphonic transcriber trained on recordings of real instruments and voices (MAESTRO piano,
    GuitarSet, MedleyDB, iKala) and on rendered MIDI (Slakh): it has never heard riffnb's corpus or model, so it
    asks "are there notes in this?" the way a listener trained on real music would.
    """
    mono = np.atleast_2d(np.asarray(samples, dtype=np.float32)).mean(axis=0)
    mono = resample(mono, sample_rate, BASIC_PITCH_RATE).astype(np.float32)
    frames = int(len(mono) * (BASIC_PITCH_RATE // BASIC_PITCH_HOP) / BASIC_PITCH_RATE)
    overlap = BASIC_PITCH_OVERLAP * BASIC_PITCH_HOP
    padded = np.concatenate([np.zeros(overlap // 2, np.float32), mono])
    starts = range(0, len(padded), BASIC_PITCH_WINDOW - overlap)
    windows = np.stack([np.pad(padded[start:start + BASIC_PITCH_WINDOW],
                               (0, max(0, start + BASIC_PITCH_WINDOW - len(padded)))) for start in starts])
    session = _basic_pitch_session()
    (notes,) = session.run(["StatefulPartitionedCall:1"], {"serving_default_input_2:0": windows[..., None]})
    half = BASIC_PITCH_OVERLAP // 2
    return notes[:, half:-half].reshape(-1, notes.shape[-1])[:frames]


def notes_heard(samples: np.ndarray, sample_rate: int, threshold: float = 0.5) -> float:
    """Share of frames in which an outside ear (:func:`note_posteriors`) hears at least one note.

    A check that a clip does not sound like noise, from a model that learnt music elsewhere: the corpus's clips
    score about 0.1 (drums) to 1 (held notes; plucked chords 0.4-0.7), white noise 0.

    Examples
    --------
    >>> t = np.arange(3 * 22050) / 22050
    >>> notes_heard(0.3 * np.sin(2 * np.pi * 440 * t), 22050) > 0.9
    True
    >>> notes_heard(np.random.default_rng(0).uniform(-0.5, 0.5, 3 * 22050), 22050)
    0.0
    """
    return float(np.mean(note_posteriors(samples, sample_rate).max(axis=1) > threshold))


class SoftmaxClassifier:
    """Multinomial logistic regression with L2 regularisation on standardised features (L-BFGS, scipy only)."""

    def __init__(self, l2: float = 1e-2) -> None:
        self.l2 = l2

    def fit(self, features: np.ndarray, labels: T.Sequence[str]) -> "SoftmaxClassifier":
        features = np.asarray(features, dtype=np.float64)
        self.classes = sorted(set(labels))
        targets = np.array([self.classes.index(label) for label in labels])
        self.mean = features.mean(axis=0)
        self.scale = features.std(axis=0) + 1e-6
        x = np.hstack([(features - self.mean) / self.scale, np.ones((len(features), 1))])
        onehot = np.eye(len(self.classes))[targets]
        shape = (x.shape[1], len(self.classes))

        def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
            weights = flat.reshape(shape)
            logits = x @ weights
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probabilities[np.arange(len(x)), targets] + 1e-12))
            loss += 0.5 * self.l2 * float(np.sum(weights[:-1] ** 2))
            gradient = x.T @ (probabilities - onehot) / len(x)
            gradient[:-1] += self.l2 * weights[:-1]
            return loss, gradient.ravel()

        result = scipy.optimize.minimize(loss_and_gradient, np.zeros(np.prod(shape)), jac=True, method="L-BFGS-B",
                                         options={"maxiter": 500})
        self.weights = result.x.reshape(shape)
        return self

    def predict(self, features: np.ndarray) -> list[str]:
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        x = np.hstack([(features - self.mean) / self.scale, np.ones((len(features), 1))])
        return [self.classes[i] for i in np.argmax(x @ self.weights, axis=1)]

    def accuracy(self, features: np.ndarray, labels: T.Sequence[str]) -> float:
        return float(np.mean([a == b for a, b in zip(self.predict(features), labels)]))


@dataclasses.dataclass
class Judges:
    """The four classifiers and their accuracy on held-out corpus clips (how far to trust them)."""

    instrument: SoftmaxClassifier
    tempo: SoftmaxClassifier
    register: SoftmaxClassifier
    style: SoftmaxClassifier
    reference_accuracy: dict[str, float]


def train_judges(count: int = 900, corpus_seed: int = 0, test_fraction: float = 0.25,
                 progress: T.Callable[[int, int], None] | None = None, cache: str | os.PathLike | None = None) -> Judges:
    """Train the instrument, tempo, register and style classifiers on ``count`` solo clips of the eval split.

    The last ``test_fraction`` of the clips is held back to report each classifier's own accuracy on real clips;
    the returned classifiers are then refitted on all of them. ``cache`` names an ``.npy`` file keeping the
    clips' features between runs (rendering 900 clips takes a minute or more).
    """
    specs = solo_specs(corpus_specs("eval", count, corpus_seed))
    features = None
    if cache is not None and os.path.isfile(cache):
        features = np.load(cache)
        if features.shape[0] != len(specs):
            features = None
    if features is None:
        rows = []
        for number, spec in enumerate(specs):
            rows.append(audio_features(render_spec(spec)))
            if progress:
                progress(number + 1, len(specs))
        features = np.stack(rows)
        if cache is not None:
            # Through a file object: np.save given a name would add ".npy" to one without it, and the next run,
            # looking for the name it was given, would never find its cache.
            with atomic_output(cache, overwrite=True) as temporary, open(temporary, "wb") as file:
                np.save(file, features)
    split = int(len(specs) * (1 - test_fraction))
    questions = {
        "instrument": (lambda s: s.lead, lambda s: True),
        "tempo": (lambda s: s.tempo_class, lambda s: s.tempo_class != "medium"),
        "register": (lambda s: s.register, lambda s: s.register != "mid" and s.lead not in ("bass", "drums")),
        "style": (lambda s: s.style, lambda s: True),
    }
    judges, accuracy = {}, {}
    for name, (label_of, used) in questions.items():
        chosen = np.array([used(spec) for spec in specs])
        labels = np.array([label_of(spec) for spec in specs], dtype=object)
        train = chosen.copy()
        train[split:] = False
        test = chosen.copy()
        test[:split] = False
        accuracy[name] = SoftmaxClassifier().fit(features[train], list(labels[train])).accuracy(
            features[test], list(labels[test])
        )
        judges[name] = SoftmaxClassifier().fit(features[chosen], list(labels[chosen]))
    return Judges(reference_accuracy=accuracy, **judges)


@dataclasses.dataclass
class Judged:
    """One generated clip, what its prompt asked for and what a judge heard: a row of a listening sheet."""

    clip: T.Any  # a riffnb Clip (prompt, seed, samples, image, save)
    question: str  # "instrument", "tempo", ...
    asked: str
    judged: str
    corpus_clip: T.Any = None  # the prompt's own corpus clip, as a listener should hear it (corpus_clip_as_drawn)


#: Columns of ``listening.csv``; a listener fills in ``heard`` and ``notes``.
LISTENING_COLUMNS = ("file", "corpus_file", "question", "prompt", "seed", "asked", "judged", "heard", "notes")


def corpus_clip_as_drawn(pipe, spec: ClipSpec, prompt: str, rendered: np.ndarray | None = None):
    """The corpus clip ``spec`` describes, as ``pipe`` would play it had it drawn the clip's image exactly.

    Rendered by the corpus's synthesizer, turned into ``pipe``'s spectrogram image and back through the same phase
    reconstruction as every generated clip: what a perfect model would give for ``prompt``, so a listener can
    tell what the model loses from what the image and phase reconstruction lose anyway. ``rendered`` is the
    spec's audio at ``pipe.params`` if the caller has it already (``render_spec(spec, pipe.params)``). Returns a
    :class:`~riffnb.diffusion.clip.Clip` (``mode="corpus clip"``, the spec in ``extra``).

    Examples
    --------
    >>> reference = corpus_clip_as_drawn(pipe, spec, "a flute solo")      # doctest: +SKIP
    >>> reference.save("flute-corpus")                                    # doctest: +SKIP
    """
    from ..diffusion.clip import Clip
    from ..spectrogram import image_from_audio

    if rendered is None:
        rendered = render_spec(spec, pipe.params)
    image = image_from_audio(rendered, pipe.params.sample_rate, pipe.params)
    samples, rate = pipe.image_to_audio(image)
    return Clip(image=image, samples=samples, sample_rate=rate, seed=spec.seed, prompt=prompt, params=pipe.params,
                mode="corpus clip", extra={"spec": dataclasses.asdict(spec)})


def check_new_folder(folder: str | os.PathLike) -> None:
    """Raise :class:`OutputExistsError` unless ``folder`` is missing or an empty folder (call it before slow work)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputExistsError(f"{folder} already exists and is not an empty folder; name a new folder for the clips")


def write_listening_sheet(folder: str | os.PathLike, rows: T.Sequence[Judged], title: str = "") -> Path:
    """Save every clip of ``rows`` into a new ``folder`` with a page to listen to them and a sheet to fill in.

    The judges are classifiers on audio features; only a person can say whether a clip sounds like music and like
    its prompt. ``folder`` gets each clip's WAV, spectrogram PNG and settings JSON (``Clip.save``), and those of
    its ``corpus_clip`` where a row has one (``NNN_..._corpus.wav``), ``index.html`` (every clip playable beside its
    spectrogram, its prompt, what was asked, what the judge heard and its corpus clip) and ``listening.csv`` (one
    row per clip, with empty ``heard`` and ``notes`` columns for the listener).

    ``folder`` must not exist yet or be empty: the files are written to a temporary folder beside it, which is
    renamed to ``folder`` only when everything is written, so a failure leaves nothing behind.

    Examples
    --------
    >>> write_listening_sheet("listen", [Judged(clip, "instrument", "flute", "flute")])   # doctest: +SKIP
    PosixPath('listen/index.html')
    """
    folder = Path(folder)
    check_new_folder(folder)
    parent = folder.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    # Named and made like atomic_output's temporary file (not by mkdtemp, which makes it private), so the folder
    # gets the user's usual permissions.
    staging = parent / f".{folder.name}.{uuid.uuid4().hex[:12]}.part"
    staging.mkdir()
    try:
        records = []
        for number, row in enumerate(rows):
            stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{number:03d} {row.question} {row.asked}")
            row.clip.save(staging / f"{stem}.wav")
            corpus_file = ""
            if row.corpus_clip is not None:
                corpus_file = f"{stem}_corpus.wav"
                row.corpus_clip.save(staging / corpus_file)
            records.append({"file": f"{stem}.wav", "corpus_file": corpus_file, "question": row.question,
                            "prompt": row.clip.prompt, "seed": row.clip.seed, "asked": row.asked,
                            "judged": row.judged, "heard": "", "notes": ""})
        with open(staging / "listening.csv", "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=LISTENING_COLUMNS)
            writer.writeheader()
            writer.writerows(records)
        (staging / "index.html").write_text(_listening_page(records, title), encoding="utf-8")
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "index.html"


def _listening_page(records: T.Sequence[dict], title: str) -> str:
    escape = html.escape
    lines = [
        "<!doctype html>",
        '<meta charset="utf-8">',
        f"<title>{escape(title or 'listening sheet')}</title>",
        "<style>body{font-family:sans-serif} td{padding:4px 8px;vertical-align:middle} .miss{background:#fde2e2}"
        " img{image-rendering:pixelated;height:96px}</style>",
        f"<h1>{escape(title or 'listening sheet')}</h1>",
        "<p>Listen to each clip: does it sound like music, and like its prompt? Write what you hear in the "
        "<code>heard</code> column of <code>listening.csv</code>. Rows where the judge disagreed with the prompt "
        "are shaded. Where a row has a corpus clip, it is the music the prompt describes as the training corpus "
        "plays it, drawn into the model's image and brought back through the same phase reconstruction: what a "
        "perfect model would give, so what it lacks is lost to the image, not to the model.</p>",
        "<table>",
        "<tr><th>#</th><th>question</th><th>prompt</th><th>seed</th><th>asked</th><th>judged</th>"
        "<th>generated</th><th>spectrogram</th><th>corpus clip</th><th>spectrogram</th></tr>",
    ]

    def player(file: str, what: str) -> str:
        if not file:
            return "<td></td><td></td>"
        image = file[: -len(".wav")] + ".png"
        return (f'<td><audio controls preload="none" src="{escape(file)}"></audio></td>'
                f'<td><img src="{escape(image)}" alt="spectrogram of {escape(what)}"></td>')

    for number, record in enumerate(records):
        shade = "" if record["asked"] == record["judged"] else ' class="miss"'
        lines.append(
            f"<tr{shade}><td>{number}</td><td>{escape(record['question'])}</td><td>{escape(record['prompt'])}</td>"
            f"<td>{record['seed']}</td><td>{escape(record['asked'])}</td><td>{escape(record['judged'])}</td>"
            + player(record["file"], record["prompt"])
            + player(record["corpus_file"], f"the corpus clip of {record['prompt']}")
            + "</tr>"
        )
    lines.append("</table>")
    return "\n".join(lines) + "\n"


__all__ = ["JUDGE_PARAMS", "Judged", "Judges", "SoftmaxClassifier", "audio_features", "check_new_folder",
           "corpus_clip_as_drawn", "image_features", "in_tune_fraction", "note_posteriors", "notes_heard", "solo_specs", "spectral_flatness",
           "train_judges", "write_listening_sheet"]
