"""Captions for the tiny model's corpus: what a clip is (a :class:`ClipSpec`) and sentences that describe it.

Every clip of the corpus is drawn as a :class:`ClipSpec` (style, instruments, tempo, key, mode, register) and
described by a caption built from a small grammar with synonyms: ``"bossa nova with electric guitar"``,
``"fast minor rock, electric guitar and drums, 140 bpm"``, ``"deep flute ballad"``. A caption names every
instrument that plays and may leave out the rest (tempo, mode, register), so the model learns both from full
descriptions and from the short prompts people type.

Some sentence frames (:data:`HELD_OUT_FRAMES`) are never used for training: evaluation prompts are written with them,
so prompt adherence is measured on paraphrases the model has not seen.

Examples
--------
>>> import random
>>> spec = ClipSpec(style="bossa nova", instruments=("electric guitar",), tempo_bpm=120, key="A", mode="minor",
...                 register="mid", seed=0)
>>> caption_for(spec, random.Random(0)) != ""
True
>>> "electric guitar" in canonical_caption(spec)
True
"""

from __future__ import annotations

import dataclasses
import random
import re
import typing as T

#: The instruments of the corpus (canonical names, as :mod:`riffnb.synth` knows them), each with its synonyms.
#: The canonical name comes first and is the most frequent wording. Bare "guitar" stands for both guitars.
INSTRUMENT_WORDS: dict[str, tuple[str, ...]] = {
    "piano": ("piano", "grand piano", "acoustic piano"),
    "acoustic guitar": ("acoustic guitar", "nylon guitar", "classical guitar", "guitar"),
    "electric guitar": ("electric guitar", "clean electric guitar", "guitar"),
    "bass": ("bass", "bass guitar", "electric bass", "bassline"),
    "drums": ("drums", "drum kit", "percussion", "beat"),
    "organ": ("organ", "hammond organ", "electric organ"),
    "strings": ("strings", "string section", "violins", "string ensemble"),
    "flute": ("flute", "solo flute", "wooden flute"),
    "synth": ("synth", "synthesizer", "synth lead", "analog synth"),
}

#: The styles of the corpus (canonical names) and their synonyms.
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "bossa nova": ("bossa nova", "bossa", "brazilian bossa nova"),
    "rock": ("rock", "rock and roll", "classic rock"),
    "waltz": ("waltz", "viennese waltz", "waltz in three four"),
    "techno": ("techno", "techno beat", "dance music"),
    "house": ("house", "house music", "deep house"),
    "jazz swing": ("jazz swing", "swing", "jazz", "swing jazz"),
    "ballad": ("ballad", "arpeggios", "arpeggiated ballad", "gentle ballad"),
}

TEMPO_WORDS: dict[str, tuple[str, ...]] = {
    "slow": ("slow", "relaxed", "laid back", "calm"),
    "fast": ("fast", "quick", "upbeat", "energetic"),
}
MODE_WORDS: dict[str, tuple[str, ...]] = {
    "major": ("major", "happy", "cheerful"),
    "minor": ("minor", "sad", "melancholic", "dark"),
}
REGISTER_WORDS: dict[str, tuple[str, ...]] = {
    "low": ("low", "deep", "low pitched"),
    "high": ("high", "bright", "high pitched"),
}

#: Tempo ranges (BPM, inclusive) of each style, wider than each style's usual range so that "slow" and "fast" are
#: heard within a style, not only across styles. BPM values are multiples of 5.
STYLE_TEMPI: dict[str, tuple[int, int]] = {
    "bossa nova": (90, 150),
    "rock": (80, 170),
    "waltz": (70, 170),
    "techno": (115, 150),
    "house": (110, 135),
    "jazz swing": (80, 180),
    "ballad": (60, 100),
}
#: Below SLOW_BPM a clip may be called slow, above FAST_BPM fast; in between tempo words are not used.
SLOW_BPM = 95
FAST_BPM = 130
BPM_VALUES = tuple(range(60, 185, 5))

KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: How keys are spoken in captions ("in f sharp minor"); the tokenizer lower-cases.
KEY_WORDS = {
    "C": "c", "C#": "c sharp", "D": "d", "Eb": "e flat", "E": "e", "F": "f", "F#": "f sharp", "G": "g",
    "Ab": "a flat", "A": "a", "Bb": "b flat", "B": "b",
}
REGISTERS = ("low", "mid", "high")
#: Leads whose pitch does not follow the register (so their captions never name one).
UNSHIFTED_INSTRUMENTS = ("bass", "drums")
MODES = ("major", "minor")

#: Instruments that accompany a lead in a style (bass and drums where the style has them), in order of preference.
STYLE_ACCOMPANIMENT: dict[str, tuple[str, ...]] = {
    "bossa nova": ("bass", "drums", "acoustic guitar", "piano"),
    "rock": ("drums", "bass", "electric guitar", "organ"),
    "waltz": ("bass", "strings", "piano"),
    "techno": ("drums", "bass", "synth"),
    "house": ("drums", "bass", "organ", "piano"),
    "jazz swing": ("bass", "drums", "piano"),
    "ballad": ("strings", "piano", "bass"),
}

#: Sentence frames used for training. Slots: {style} {instruments} {attributes} (tempo/mode/register words),
#: {bpm} (", 120 bpm" or ""). Frames with a slot whose value is empty still read naturally.
TRAINING_FRAMES = (
    "{attributes} {style} with {instruments}{bpm}",
    "{style} with {instruments}",
    "{attributes} {instruments} {style}{bpm}",
    "{instruments} playing {attributes} {style}{bpm}",
    "{attributes} {style} on {instruments}",
    "{style}, {instruments}, {attributes}{bpm}",
    "{attributes} {style} played by {instruments}{bpm}",
    "{instruments} {style}",
    "a {attributes} {style} song with {instruments}{bpm}",
)

#: Frames never used for training: evaluation prompts ("paraphrases") are written with these.
HELD_OUT_FRAMES = (
    "some {attributes} {style} music featuring {instruments}{bpm}",
    "{instruments} in a {attributes} {style} style",
    "a {attributes} {style} tune for {instruments}{bpm}",
)

#: Filler words that appear only in frames and connectors (kept here so the tokenizer knows every word).
FRAME_WORDS = ("a", "with", "and", "on", "playing", "played", "by", "song", "bpm", "in", "key", "some", "music",
               "featuring", "style", "tune", "for", "sharp", "flat")


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What one corpus clip is: the music the synthesizer renders and the captions describe.

    Attributes
    ----------
    style
        A key of :data:`STYLE_WORDS`.
    instruments
        Keys of :data:`INSTRUMENT_WORDS`; the first is the lead (melody or main part), the rest accompany.
    tempo_bpm
        Beats per minute, one of :data:`BPM_VALUES`.
    key, mode
        Tonic (one of :data:`KEYS`) and ``"major"`` or ``"minor"``.
    register
        ``"low"``, ``"mid"`` or ``"high"``: the octave the lead plays in.
    seed
        Seeds every random choice of the composition, so a spec renders to the same audio every time.
    """

    style: str
    instruments: tuple[str, ...]
    tempo_bpm: int
    key: str
    mode: str
    register: str
    seed: int

    @property
    def lead(self) -> str:
        """The lead instrument: the label an instrument classifier is trained to find."""
        return self.instruments[0]

    @property
    def tempo_class(self) -> str:
        """``"slow"``, ``"fast"`` or ``"medium"`` by :data:`SLOW_BPM` and :data:`FAST_BPM`."""
        if self.tempo_bpm <= SLOW_BPM:
            return "slow"
        if self.tempo_bpm >= FAST_BPM:
            return "fast"
        return "medium"

    def to_dict(self) -> dict[str, T.Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: T.Mapping[str, T.Any]) -> "ClipSpec":
        return cls(**{**values, "instruments": tuple(values["instruments"])})


def random_spec(rng: random.Random, seed: int, *, accompaniment_probability: float = 0.5) -> ClipSpec:
    """Draw a clip: a style, a lead instrument, maybe up to two accompanying instruments, tempo, key, register.

    Styles and leads are drawn uniformly so every pair is equally frequent; the accompaniment comes from the style's
    usual band (:data:`STYLE_ACCOMPANIMENT`).
    """
    style = rng.choice(list(STYLE_WORDS))
    lead = rng.choice(list(INSTRUMENT_WORDS))
    instruments = [lead]
    if rng.random() < accompaniment_probability:
        band = [name for name in STYLE_ACCOMPANIMENT[style] if name != lead]
        instruments += rng.sample(band, k=min(len(band), rng.choice((1, 1, 2))))
    low, high = STYLE_TEMPI[style]
    tempo = rng.choice([bpm for bpm in BPM_VALUES if low <= bpm <= high])
    return ClipSpec(
        style=style,
        instruments=tuple(instruments),
        tempo_bpm=tempo,
        key=rng.choice(KEYS),
        mode=rng.choice(MODES),
        # The synthesizer shifts harmony and melody by the register but never bass or drums.
        register="mid" if lead in UNSHIFTED_INSTRUMENTS else rng.choice(REGISTERS),
        seed=seed,
    )


def _join(words: T.Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe(
    spec: ClipSpec,
    frame: str,
    rng: random.Random,
    *,
    keep_probability: float = 0.5,
    canonical: bool = False,
) -> str:
    """Fill ``frame`` for ``spec``: synonyms and optional attributes are drawn from ``rng``.

    Each optional attribute (tempo word, mode, register, BPM, key) is kept with ``keep_probability``; with
    ``canonical`` the first (canonical) synonym is used for everything and all attributes are kept.
    """

    def word(table: T.Mapping[str, tuple[str, ...]], name: str) -> str:
        return table[name][0] if canonical else rng.choice(table[name])

    def keep() -> bool:
        return canonical or rng.random() < keep_probability

    instruments = list(spec.instruments)
    if not canonical:
        # The lead comes first most of the time, but not always: word order must not be the only cue.
        if len(instruments) > 1 and rng.random() < 0.3:
            rng.shuffle(instruments)
    attributes = []
    if spec.tempo_class != "medium" and keep():
        attributes.append(word(TEMPO_WORDS, spec.tempo_class))
    if spec.register != "mid" and keep():
        attributes.append(word(REGISTER_WORDS, spec.register))
    mode_phrase = ""
    if keep():
        if keep() and not canonical:
            mode_phrase = f"in {KEY_WORDS[spec.key]} {spec.mode}"
        else:
            attributes.append(word(MODE_WORDS, spec.mode))
    if not canonical:
        rng.shuffle(attributes)
    bpm = f", {spec.tempo_bpm} bpm" if keep() else ""
    text = frame.format(
        style=word(STYLE_WORDS, spec.style),
        instruments=_join([word(INSTRUMENT_WORDS, name) for name in instruments]),
        attributes=" ".join(attributes),
        bpm=bpm,
    )
    if mode_phrase:
        text = f"{text} {mode_phrase}"
    text = " ".join(text.split())
    # An empty slot between commas ("rock, piano, , 120 bpm") leaves stray commas behind.
    text = re.sub(r"\s*,(\s*,)+", ",", text).replace(" ,", ",")
    return text.strip(" ,")


def caption_for(spec: ClipSpec, rng: random.Random) -> str:
    """A random training caption for ``spec`` (a training frame, random synonyms, random optional attributes)."""
    return describe(spec, rng.choice(TRAINING_FRAMES), rng)


def canonical_caption(spec: ClipSpec) -> str:
    """The one fixed, fully specified wording of ``spec`` (canonical synonyms, every attribute)."""
    return describe(spec, TRAINING_FRAMES[0], random.Random(0), canonical=True)


def vocabulary() -> list[str]:
    """Every word captions can contain (training and held-out frames), sorted: what the tokenizer must know.

    Numbers are not included: CLIP's tokenizer reads them digit by digit.
    """
    words: set[str] = set(FRAME_WORDS)
    tables = (INSTRUMENT_WORDS, STYLE_WORDS, TEMPO_WORDS, MODE_WORDS, REGISTER_WORDS)
    for table in tables:
        for phrases in table.values():
            for phrase in phrases:
                words.update(phrase.split())
    for spoken in KEY_WORDS.values():
        words.update(spoken.split())
    for frame in TRAINING_FRAMES + HELD_OUT_FRAMES:
        for token in frame.replace(",", " ").split():
            if not token.startswith("{"):
                words.add(token)
    # BPM numbers are not listed: CLIP's pre-tokenizer splits numbers into single digits, which are byte symbols.
    return sorted(words)


__all__ = [
    "BPM_VALUES",
    "ClipSpec",
    "HELD_OUT_FRAMES",
    "INSTRUMENT_WORDS",
    "KEYS",
    "STYLE_WORDS",
    "TRAINING_FRAMES",
    "canonical_caption",
    "caption_for",
    "describe",
    "random_spec",
    "vocabulary",
]
