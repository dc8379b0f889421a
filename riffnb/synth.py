"""Music riffnb composes and plays itself: instruments, harmony and style patterns in numpy and scipy, no downloads.

Three layers, each usable alone:

- **Harmony**: keys, major/minor scales, diatonic chords (:class:`Chord`) and progressions by scale degree.
- **Scores**: :class:`Note` (MIDI pitch, onset and duration in seconds, velocity) grouped into :class:`Part` s, one
  instrument each; :func:`compose` writes a :class:`Score` in a style (bossa nova, rock, waltz, techno, house,
  jazz swing, ballad) from a seed.
- **Sound**: :data:`INSTRUMENTS` renders notes: piano (inharmonic additive partials with a two-stage decay),
  acoustic and electric guitar and bass (Karplus-Strong plucked strings), organ (drawbars), strings (detuned
  saws through a low-pass), flute (sine, breath noise, vibrato), synth lead and synth bass (saw/square through a
  resonant low-pass swept by an envelope) and drums (kick, snare, side stick, clap, hi-hats, ride, shaker) on
  General MIDI percussion numbers. :func:`render_score` mixes a score to samples ``(1, n)`` in [-1, 1].

:func:`render` does both steps and returns the samples with a :class:`ClipDescription` of what was played (style,
key, tempo, chords, instruments and their roles), the raw material of a caption. Everything is deterministic for a
seed, and a 5 s clip renders in a fraction of a second.

Examples
--------
>>> clip = render("waltz", bpm=120, key="F", mode="major", duration_s=2.0, sample_rate=22050, seed=3)
>>> clip.samples.shape, bool(abs(clip.samples).max() <= 1.0)
((1, 44100), True)
>>> clip.description.summary()
'waltz in F major at 120 BPM, 3/4: piano (bass), piano (chords), strings (melody)'
"""

from __future__ import annotations

import dataclasses
import functools
import typing as T

import numpy as np
import scipy.signal

from .errors import RiffnbError

# ---------------------------------------------------------------------------------------------------------------
# Pitch and harmony
# ---------------------------------------------------------------------------------------------------------------

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Tonics whose key signatures have sharps (A minor too: its dominant, E, has G#); the others are spelled with flats.
_SHARP_KEYS = {"major": {7, 2, 9, 4, 11, 6}, "minor": {9, 4, 11, 6, 1, 8}}
_PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

_QUALITIES = {
    (0, 4, 7): "", (0, 3, 7): "m", (0, 3, 6): "dim", (0, 4, 8): "aug", (0, 7): "5",
    (0, 4, 7, 11): "maj7", (0, 3, 7, 10): "m7", (0, 4, 7, 10): "7", (0, 3, 6, 10): "m7b5", (0, 3, 7, 11): "m(maj7)",
}


def midi_to_hz(pitch):
    """Frequency in Hz of MIDI note ``pitch`` (69 = A4 = 440 Hz).

    Examples
    --------
    >>> float(midi_to_hz(69)), round(float(midi_to_hz(60)), 2)
    (440.0, 261.63)
    """
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note: 60 -> ``"C4"``, 70 -> ``"Bb4"``."""
    return f"{NOTE_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}"


def key_name(tonic: int, mode: str) -> str:
    """How a key's tonic is spelled: sharp keys with sharps, flat keys with flats (Db major but C# minor).

    Examples
    --------
    >>> key_name(1, "major"), key_name(1, "minor"), key_name(8, "minor")
    ('Db', 'C#', 'G#')
    """
    return _spelling(tonic, mode)[tonic % 12]


def _spelling(tonic: int, mode: str) -> tuple[str, ...]:
    return _SHARP_NAMES if tonic % 12 in _SHARP_KEYS.get(mode, ()) else _FLAT_NAMES


def parse_key(key: T.Union[str, int]) -> int:
    """Pitch class 0-11 of a key name (``"C"``, ``"F#"``, ``"Bb"``, ``"c#"``) or of an int taken modulo 12.

    Examples
    --------
    >>> parse_key("Bb"), parse_key("f#"), parse_key(14)
    (10, 6, 2)
    """
    if isinstance(key, (int, np.integer)):
        return int(key) % 12
    text = str(key).strip()
    if not text or text[0].upper() not in _PITCH_CLASSES or any(c not in "#b" for c in text[1:]):
        raise RiffnbError(f"unknown key {key!r}; use a note name such as 'C', 'F#' or 'Bb'")
    return (_PITCH_CLASSES[text[0].upper()] + text.count("#") - text.count("b")) % 12


def scale_pitches(key: T.Union[str, int], mode: str, low: int = 0, high: int = 127) -> np.ndarray:
    """MIDI pitches of the ``mode`` scale of ``key`` from ``low`` to ``high`` inclusive.

    Examples
    --------
    >>> scale_pitches("A", "minor", 57, 69).tolist()
    [57, 59, 60, 62, 64, 65, 67, 69]
    """
    steps = np.asarray(_scale(mode))
    tonic = parse_key(key)
    pitches = np.arange(low, high + 1)
    return pitches[np.isin((pitches - tonic) % 12, steps)]


def _scale(mode: str) -> tuple[int, ...]:
    if mode not in SCALES:
        raise RiffnbError(f"unknown mode {mode!r}; use one of {', '.join(SCALES)}")
    return SCALES[mode]


@dataclasses.dataclass(frozen=True)
class Chord:
    """A chord: root pitch class, intervals above the root in semitones, and its scale degree (1-7).

    Examples
    --------
    >>> c = diatonic_chord(2, "C", "major", sevenths=True)
    >>> c.name, c.pitch_classes, c.voicing(60)
    ('Dm7', (2, 5, 9, 0), (62, 65, 69, 72))
    """

    root: int
    intervals: tuple[int, ...]
    degree: int = 1
    sharps: bool = False  # spell the root with sharps (the key's own accidentals)

    @property
    def name(self) -> str:
        return (_SHARP_NAMES if self.sharps else _FLAT_NAMES)[self.root] + _QUALITIES.get(self.intervals, "(" + ",".join(map(str, self.intervals)) + ")")

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    def voicing(self, low: int) -> tuple[int, ...]:
        """Close-position pitches, root first, starting at the lowest root at or above ``low``."""
        root = low + (self.root - low) % 12
        return tuple(root + i for i in self.intervals)

    def tone(self, index: int, near: int) -> int:
        """Chord tone ``index`` (0 root, 1 third, 2 fifth, 3 seventh) in the octave closest to ``near``."""
        pc = self.pitch_classes[index % len(self.intervals)]
        return near + ((pc - near + 6) % 12) - 6


def diatonic_chord(degree: int, key: T.Union[str, int], mode: str, sevenths: bool = False) -> Chord:
    """The chord built in thirds on scale ``degree`` (1-7) of ``key``/``mode``.

    In minor the fifth degree takes the raised leading tone (harmonic minor), so V is major and V7 dominant, as
    music in minor keys almost always plays it.

    Examples
    --------
    >>> [diatonic_chord(d, "A", "minor").name for d in (1, 4, 5, 6)]
    ['Am', 'Dm', 'E', 'F']
    >>> [diatonic_chord(d, "F#", "minor", sevenths=True).name for d in (2, 5)]
    ['G#m7b5', 'C#7']
    """
    steps = _scale(mode)
    if not 1 <= degree <= 7:
        raise RiffnbError(f"scale degree must be 1-7, got {degree}")
    tonic = parse_key(key)
    picks = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    absolute = [steps[(degree - 1 + p) % 7] + 12 * ((degree - 1 + p) // 7) for p in picks]
    if mode == "minor" and degree == 5:
        absolute[1] += 1
    intervals = tuple(a - absolute[0] for a in absolute)
    return Chord(root=(tonic + absolute[0]) % 12, intervals=intervals, degree=degree,
                 sharps=_spelling(tonic, mode) is _SHARP_NAMES)


def progression(degrees: T.Sequence[int], key: T.Union[str, int], mode: str, sevenths: bool = False) -> list[Chord]:
    """Diatonic chords for a sequence of scale degrees: ``progression((2, 5, 1), "C", "major", True)`` is ii-V-I."""
    return [diatonic_chord(d, key, mode, sevenths) for d in degrees]


# ---------------------------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Note:
    """One note: MIDI ``pitch`` (for drums a General MIDI percussion number, see :data:`DRUM_NAMES`), ``onset``
    and ``duration`` in seconds (how long the key is held; the instrument's release rings on after it) and
    ``velocity`` 0-1."""

    pitch: int
    onset: float
    duration: float
    velocity: float = 0.8


@dataclasses.dataclass(frozen=True)
class Part:
    """The notes one instrument plays, its musical ``role`` in the arrangement and instrument ``settings``."""

    instrument: str
    notes: tuple[Note, ...]
    role: str = "melody"
    settings: T.Mapping[str, T.Any] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Signal building blocks
# ---------------------------------------------------------------------------------------------------------------


def _damped_partials(freqs, amps, decay_times, n: int, sample_rate: int, phases=None) -> np.ndarray:
    """Sum of ``amps[k] * exp(-t / decay_times[k]) * sin(2 pi freqs[k] t + phases[k])`` over ``n`` samples.

    Each partial is a complex exponential ``z_k ** t``; writing ``t = block * B + i`` turns the sum over partials
    into one (blocks x K) @ (K x B) complex matrix product, so a 40-partial piano note costs a few milliseconds.
    """
    freqs = np.asarray(freqs, dtype=float)
    keep = (freqs > 0) & (freqs < 0.47 * sample_rate)
    freqs = freqs[keep]
    amps = np.broadcast_to(np.asarray(amps, dtype=float), keep.shape)[keep]
    rates = 1.0 / np.broadcast_to(np.asarray(decay_times, dtype=float), keep.shape)[keep]
    phases = np.zeros_like(freqs) if phases is None else np.broadcast_to(np.asarray(phases, float), keep.shape)[keep]
    block = 512
    n_blocks = -(-n // block)
    log_step = (-rates + 2j * np.pi * freqs) / sample_rate
    within = np.exp(np.outer(log_step, np.arange(block)))
    across = np.exp(np.outer(np.arange(n_blocks) * block, log_step)) * (amps * np.exp(1j * phases))
    return (across @ within).imag.ravel()[:n]


def _phase(freq, n: int, sample_rate: int) -> np.ndarray:
    """Running phase in cycles for a constant or per-sample frequency."""
    freq = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    return np.cumsum(freq) / sample_rate - freq[0] / sample_rate


def _saw(phase: np.ndarray, step) -> np.ndarray:
    """Band-limited sawtooth (polyBLEP) from a phase in cycles advancing ``step`` cycles per sample."""
    t = phase % 1.0
    step = np.broadcast_to(np.asarray(step, dtype=float), t.shape)
    out = 2.0 * t - 1.0
    # polyBLEP smooths the jump at each wrap over one sample either side, removing most of the aliasing.
    rising = t < step
    x = t[rising] / step[rising]
    out[rising] -= 2 * x - x * x - 1
    falling = t > 1 - step
    x = (t[falling] - 1) / step[falling]
    out[falling] -= x * x + 2 * x + 1
    return out


def _oscillator(wave: str, freq, n: int, sample_rate: int, start_phase: float = 0.0) -> np.ndarray:
    freq = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    phase = _phase(freq, n, sample_rate) + start_phase
    step = freq / sample_rate
    if wave == "saw":
        return _saw(phase, step)
    if wave == "square":
        return 0.5 * (_saw(phase, step) - _saw(phase + 0.5, step))
    raise RiffnbError(f"unknown oscillator wave {wave!r}; use 'saw' or 'square'")


@functools.lru_cache(maxsize=256)
def _sos(kind: str, cutoff: T.Union[float, tuple[float, float]], sample_rate: int, order: int) -> np.ndarray:
    """Butterworth sections with cutoffs kept safely below Nyquist, so every sample rate works."""
    nyquist = sample_rate / 2
    edges = np.clip(np.asarray(cutoff, dtype=float), 10.0, 0.95 * nyquist)
    if edges.size == 2 and edges[0] >= 0.8 * edges[1]:
        edges[0] = 0.8 * edges[1]  # a band squeezed against Nyquist at a low sample rate keeps some width
    return scipy.signal.butter(order, edges, btype=kind, fs=sample_rate, output="sos")


def _filter(kind: str, signal: np.ndarray, cutoff, sample_rate: int, order: int = 2) -> np.ndarray:
    cutoff = tuple(float(c) for c in cutoff) if isinstance(cutoff, (list, tuple)) else float(cutoff)
    return scipy.signal.sosfilt(_sos(kind, cutoff, sample_rate, order), signal)


def _sweep_lowpass(signal: np.ndarray, cutoff: np.ndarray, q: float, sample_rate: int) -> np.ndarray:
    """Resonant 2-pole low-pass whose cutoff follows ``cutoff`` (Hz per sample), updated every 64 samples."""
    block = 64
    out = np.empty_like(signal)
    state = np.zeros(2)
    for start in range(0, len(signal), block):
        w0 = 2 * np.pi * min(cutoff[start], 0.45 * sample_rate) / sample_rate
        alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
        b = np.array([(1 - cos) / 2, 1 - cos, (1 - cos) / 2])
        a = np.array([1 + alpha, -2 * cos, 1 - alpha])
        out[start : start + block], state = scipy.signal.lfilter(b / a[0], a / a[0], signal[start : start + block],
                                                                 zi=state)
    return out


def _envelope(n: int, held: int, sample_rate: int, attack: float, decay: float, sustain: float,
              release: float) -> np.ndarray:
    """ADSR amplitude envelope: ``attack`` and ``release`` are the seconds to reach ~95% of their change, ``decay``
    the time constant of the fall to ``sustain``; the release starts after ``held`` samples."""
    t = np.arange(n) / sample_rate
    rise = 1.0 - np.exp(-t / max(attack, 1e-4) * 3.0)
    level = rise * (sustain + (1 - sustain) * np.exp(-t / max(decay, 1e-4)))
    if held < n:
        after = np.arange(n - held) / sample_rate
        level[held:] = level[held - 1 if held else 0] * np.exp(-after / max(release, 1e-4) * 3.0)
    return level


def _karplus_strong(freq: float, n: int, sample_rate: int, rng: np.random.Generator, decay_s: float,
                    stretch: float, brightness: float, pluck_position: float) -> np.ndarray:
    """A plucked string: a noise burst circulating in a delay line with a damping two-tap filter.

    ``y[t] = x[t] + rho * (s * y[t - N] + (1 - s) * y[t - N - 1])``. ``stretch`` s = 0.5 damps the high partials
    fastest (a dull string), s towards 1 keeps them ringing (bright). The recursion reaches back a whole period, so
    it runs one period per numpy operation. The integer loop length makes the string slightly sharp; reading the
    output back at the ratio of the two frequencies tunes it exactly.
    """
    period = sample_rate / freq
    loop = max(2, int(period - (1 - stretch)))
    ratio = (loop + 1 - stretch) / period
    length = int(np.ceil(n * ratio)) + 2
    # The string starts as a triangle pulled out at the pluck position (harmonics sin(pi k p) / k^2: a firm
    # fundamental, a comb of missing partials) plus noise from the pick or nail; ``brightness`` sets the noise
    # share and how little it is low-passed (a thumb is dark, a plectrum bright).
    peak = min(max(1, int(pluck_position * loop)), loop - 1)
    shape = np.concatenate([np.linspace(0, 1, peak, endpoint=False), np.linspace(1, 0, loop - peak)])
    noise = scipy.signal.lfilter([brightness], [1, -(1 - brightness)], rng.uniform(-1.0, 1.0, loop))
    noise = noise - np.roll(noise, peak)
    excitation = shape - shape.mean() + brightness * noise / max(np.abs(noise).max(), 1e-9)
    rho = min(10.0 ** (-3.0 / (decay_s * freq)), 0.99999)
    y = np.zeros(length + 1)  # y[0] is the silence before the pluck
    y[1 : loop + 1] = excitation[: length]
    for start in range(loop + 1, length + 1, loop):
        m = min(loop, length + 1 - start)
        y[start : start + m] = rho * (stretch * y[start - loop : start - loop + m]
                                      + (1 - stretch) * y[start - loop - 1 : start - loop - 1 + m])
    return np.interp(np.arange(n) * ratio, np.arange(length), y[1:])


def _release(n: int, held: int, sample_rate: int, time: float) -> np.ndarray:
    """1 while the note is held, then an exponential fade to -60 dB over ``time`` seconds (a damper)."""
    env = np.ones(n)
    env[held:] = np.exp(-np.arange(n - held) / sample_rate * 6.9 / time)
    return env


# ---------------------------------------------------------------------------------------------------------------
# Voices: pitch (or drum number), held and total samples -> one note's samples
# ---------------------------------------------------------------------------------------------------------------


def _piano(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    # Stiff strings: partial k sits at k f0 sqrt(1 + B k^2), B growing towards the treble.
    stiffness = 1.5e-4 * 2.0 ** ((pitch - 48) / 18)
    k = np.arange(1, min(40, int(0.45 * sample_rate / f0)) + 1)
    freqs = k * f0 * np.sqrt(1 + stiffness * k * k)
    # The hammer strikes near 1/8 of the string, leaving a soft notch; its felt rolls off the highs.
    amps = (0.25 + np.abs(np.sin(np.pi * k * 0.12))) / k ** settings.get("rolloff", 1.1)
    ring = 6.0 * 2.0 ** (-(pitch - 48) / 24)
    times = ring / (1 + 0.3 * (k - 1) ** 1.2)
    phases = rng.uniform(0, 2 * np.pi, k.size)
    # Two-stage decay: a loud prompt sound, then a quieter, slightly detuned aftersound that beats against it.
    detune = 2.0 ** (rng.uniform(0.2, 1.2, k.size) / 1200)
    tone = _damped_partials(np.concatenate([freqs, freqs * detune]), np.concatenate([0.65 * amps, 0.35 * amps]),
                            np.concatenate([times / 5, times]), n, sample_rate, np.concatenate([phases, phases]))
    # The hammer's felt thump: a few milliseconds of low noise.
    thump = np.zeros(n)
    short = min(n, int(0.04 * sample_rate))
    thump[:short] = _filter("lowpass", rng.normal(size=short), 1200, sample_rate) * np.exp(
        -np.arange(short) / (0.006 * sample_rate))
    return (tone + 0.04 * thump) * _release(n, held, sample_rate, 0.15)


def _guitar(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    string = _karplus_strong(f0, n, sample_rate, rng, decay_s=settings["decay"], stretch=settings["stretch"],
                             brightness=settings["brightness"], pluck_position=settings["pluck"])
    if "pickup" in settings:
        # A magnetic pickup senses the string at one point: a comb over the harmonics, fixed per string length.
        lag = max(1, int(settings["pickup"] * sample_rate / f0))
        string = string - 0.7 * np.concatenate([np.zeros(lag), string[:-lag]])
    return string * _release(n, held, sample_rate, settings["release"])


def _bass(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    string = _karplus_strong(f0, n, sample_rate, rng, decay_s=3.0, stretch=0.5, brightness=0.3, pluck_position=0.22)
    string /= max(np.abs(string).max(), 1e-9)
    t = np.arange(n) / sample_rate
    # The body of a bass note is its fundamental; the string adds the finger's attack and upper partials.
    fundamental = np.sin(2 * np.pi * f0 * t) * np.exp(-t / 1.5) * (1 - np.exp(-t / 0.004))
    return (0.6 * string + 0.7 * fundamental) * _release(n, held, sample_rate, 0.06)


_DRAWBAR_RATIOS = (0.5, 1.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def _organ(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    # Each drawbar step is 3 dB; 0 is off. "888400000" is the round jazz registration (16', 5 1/3', 8' full)
    # with a little 4'. Percussion adds the third harmonic (2 2/3') only at the attack, the Hammond's "ping".
    levels = np.array([int(c) for c in settings["drawbars"]])
    amps = np.where(levels > 0, 10.0 ** ((levels - 8) * 3 / 20), 0.0)
    ratios = np.array(_DRAWBAR_RATIOS)
    tone = _damped_partials(np.append(ratios, 3.0) * f0, np.append(amps, settings.get("percussion", 0.0)),
                            np.append(np.full(9, 1e9), 0.2), n, sample_rate, rng.uniform(0, 6.3, 10))
    t = np.arange(n) / sample_rate
    tremolo = 1 + 0.12 * np.sin(2 * np.pi * 6.2 * t)  # a rotating speaker's amplitude wobble
    click = _filter("highpass", rng.normal(size=n), 2000, sample_rate) * np.exp(-t / 0.002)
    return (tone * tremolo + 0.15 * click) * _envelope(n, held, sample_rate, 0.004, 1.0, 1.0, 0.04)


def _strings(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    t = np.arange(n) / sample_rate
    fade_in = np.clip((t - 0.25) / 0.4, 0, 1)
    # An ensemble: saws a few cents apart, each player with their own vibrato and phase, blend into a chorus.
    voices = sum(
        weight * _oscillator("saw", f0 * 2 ** (cents / 1200) * (1 + 0.003 * fade_in * np.sin(
            2 * np.pi * rng.uniform(4.6, 6.0) * t + rng.uniform(0, 6.3))), n, sample_rate, rng.uniform())
        for cents, weight in ((-8, 0.6), (-3, 0.8), (0, 1.0), (4, 0.8), (9, 0.6)))
    tone = _filter("lowpass", voices, min(5 * f0 + 1500, 6000), sample_rate)
    tone = _filter("highpass", tone, 120, sample_rate)
    return tone * _envelope(n, held, sample_rate, settings["attack"], 1.0, 1.0, 0.4)


def _flute(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    t = np.arange(n) / sample_rate
    depth = 0.006 * np.clip((t - 0.15) / 0.3, 0, 1)
    vibrato = np.sin(2 * np.pi * 5.0 * t + rng.uniform(0, 6.3))
    phase = 2 * np.pi * _phase(f0 * (1 + depth * vibrato), n, sample_rate)
    tone = np.sin(phase) + 0.22 * np.sin(2 * phase) + 0.08 * np.sin(3 * phase) + 0.03 * np.sin(4 * phase)
    tone *= 1 + 7.0 * depth * vibrato  # a player's vibrato moves the loudness with the pitch
    # Breath: hiss through the embouchure, strongest in the "chiff" of the attack.
    breath = _filter("bandpass", rng.normal(size=n), [1500, 7000], sample_rate)
    breath *= 0.05 + 0.25 * np.exp(-t / 0.04)
    return (tone + breath) * _envelope(n, held, sample_rate, 0.06, 1.0, 1.0, 0.08)


def _subtractive(pitch, held, n, sample_rate, rng, settings):
    f0 = float(midi_to_hz(pitch))
    wave = settings["wave"]
    # A second oscillator a few cents sharp and quieter thickens the tone without pumping the level.
    source = _oscillator(wave, f0, n, sample_rate, rng.uniform()) + settings["detuned"] * _oscillator(
        wave, f0 * 2 ** (5 / 1200), n, sample_rate, rng.uniform())
    if settings.get("sub"):
        source += _oscillator("square", f0 / 2, n, sample_rate) * settings["sub"]
    t = np.arange(n) / sample_rate
    cutoff = settings["cutoff"] + settings["envelope"] * np.exp(-t / settings["filter_decay"])
    tone = _sweep_lowpass(source, cutoff, settings["resonance"], sample_rate)
    return tone * _envelope(n, held, sample_rate, 0.004, settings["decay"], settings["sustain"], settings["release"])


# General MIDI percussion numbers riffnb's kit plays.
DRUM_NAMES = {36: "kick", 37: "side stick", 38: "snare", 39: "clap", 42: "closed hi-hat", 44: "pedal hi-hat",
              46: "open hi-hat", 51: "ride", 70: "shaker"}
_HAT_FREQS = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)  # the TR-808's six square-wave "metal" oscillators


@functools.lru_cache(maxsize=32)
def _drum(number: int, sample_rate: int) -> np.ndarray:
    """One hit of the kit (fixed, like a real kit: every hit of a piece is the same), cached and read-only."""
    if number not in DRUM_NAMES:
        raise RiffnbError(f"no drum on General MIDI number {number}; riffnb's kit has {sorted(DRUM_NAMES)}")
    rng = np.random.default_rng(number)
    lengths = {36: 0.6, 37: 0.12, 38: 0.35, 39: 0.35, 42: 0.12, 44: 0.1, 46: 0.6, 51: 1.6, 70: 0.15}
    n = int(lengths[number] * sample_rate)
    t = np.arange(n) / sample_rate
    noise = rng.normal(size=n)
    if number == 36:
        # A falling sine: a fast pitch drop from ~170 Hz to ~48 Hz is the "thump", a noise tick the beater.
        freq = 48 + 120 * np.exp(-t / 0.035)
        body = np.sin(2 * np.pi * _phase(freq, n, sample_rate)) * np.exp(-t / 0.28) * (1 - np.exp(-t / 0.001))
        hit = np.tanh(1.6 * (body + 0.3 * _filter("highpass", noise, 3000, sample_rate) * np.exp(-t / 0.004)))
    elif number == 37:
        hit = (_filter("bandpass", noise, [1200, 4000], sample_rate) * np.exp(-t / 0.012)
               + _damped_partials([450, 1650], [0.6, 0.4], [0.03, 0.015], n, sample_rate))
    elif number == 38:
        tone = _damped_partials([185, 330], [0.7, 0.4], [0.06, 0.04], n, sample_rate)
        hit = tone + 0.9 * _filter("bandpass", noise, [1500, 9000], sample_rate) * np.exp(-t / 0.11)
    elif number == 39:
        bursts = sum(np.where(t >= d, np.exp(-(t - d) / 0.004), 0.0) for d in (0.0, 0.011, 0.022))
        tail = np.where(t >= 0.03, np.exp(-(t - 0.03) / 0.09), 0.0)
        hit = _filter("bandpass", noise, [800, 3500], sample_rate) * (bursts + 0.6 * tail)
    elif number in (42, 44, 46):
        metal = sum(np.sign(np.sin(2 * np.pi * f * t + p)) for f, p in zip(_HAT_FREQS, rng.uniform(0, 6.3, 6)))
        source = _filter("highpass", 0.5 * metal + noise, 7000 if number != 44 else 5000, sample_rate, order=4)
        hit = source * np.exp(-t / {42: 0.04, 44: 0.025, 46: 0.35}[number])
    elif number == 51:
        # A cymbal is many inharmonic modes ringing for seconds; the stick adds a short bright tick.
        freqs = np.exp(rng.uniform(np.log(350), np.log(12000), 60))
        modes = _damped_partials(np.concatenate([freqs, [620, 1340, 2150]]),
                                 np.concatenate([rng.uniform(0.3, 1.0, 60) * (freqs / 1000) ** -0.3, [1.2, 0.8, 0.6]]),
                                 np.concatenate([rng.uniform(0.5, 1.8, 60), [1.2, 0.9, 0.7]]),
                                 n, sample_rate, rng.uniform(0, 6.3, 63))
        hit = modes / 8 + 0.5 * _filter("highpass", noise, 5000, sample_rate) * np.exp(-t / 0.02)
        hit *= np.minimum(1, (lengths[51] - t) / 0.2)  # fade the last 0.2 s instead of cutting the ring
    else:  # 70, shaker: a rustle of beads that swells for a moment and stops
        shape = np.where(t < 0.012, t / 0.012, np.exp(-(t - 0.012) / 0.035))
        hit = _filter("bandpass", noise, [3500, 11000], sample_rate) * shape
    hit = hit / np.abs(hit).max()
    hit.flags.writeable = False
    return hit


def _drums(pitch, held, n, sample_rate, rng, settings):
    hit = _drum(int(pitch), sample_rate)
    out = np.zeros(n)
    out[: min(n, hit.size)] = hit[:n]
    return out


@dataclasses.dataclass(frozen=True)
class Instrument:
    """How an instrument sounds and what it plays.

    ``voice(pitch, held, total, sample_rate, rng, settings)`` renders one note held for ``held`` samples into
    ``total`` samples (the release rings on); ``bus`` processes the whole part (an amplifier, a guitar body).
    ``roles`` lists the parts it can take in an arrangement, favourite first; ``low``/``high`` its playable range.
    """

    name: str
    label: str
    voice: T.Callable[..., np.ndarray]
    roles: tuple[str, ...]
    low: int
    high: int
    release_s: float
    defaults: T.Mapping[str, T.Any] = dataclasses.field(default_factory=dict)
    bus: T.Optional[T.Callable[[np.ndarray, int, T.Mapping[str, T.Any]], np.ndarray]] = None


def _acoustic_body(signal, sample_rate, settings):
    # A guitar body's air and top-plate resonances warm the low mids; the spruce top softens the highs.
    for freq, gain in ((105, 0.5), (210, 0.3)):
        b, a = scipy.signal.iirpeak(freq, 3.0, fs=sample_rate)
        signal = signal + gain * scipy.signal.lfilter(b, a, signal)
    return _filter("lowpass", signal, 8000, sample_rate, order=1)


def _amplifier(signal, sample_rate, settings):
    # An overdriven amplifier clips the whole chord together (hence the growl of power chords); the speaker
    # cabinet then cuts everything above ~5 kHz. drive 0 is clean, 1 heavy.
    drive = float(settings.get("drive", 0.0))
    gain = 1 + 30 * drive * drive
    peak = max(np.abs(signal).max(), 1e-9)
    driven = np.tanh(gain * signal / peak) / np.tanh(gain)
    driven = _filter("highpass", driven, 90, sample_rate)
    return _filter("lowpass", driven, 5500 if drive < 0.5 else 4500, sample_rate, order=2)


def _bass_amp(signal, sample_rate, settings):
    return _filter("lowpass", signal, 2500, sample_rate)


INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument("piano", "piano", _piano, ("chords", "arpeggio", "melody", "bass", "pad"), 21, 108, 0.6,
                   {"rolloff": 0.9}),
        Instrument("acoustic_guitar", "acoustic guitar", _guitar, ("chords", "arpeggio", "melody"), 40, 84, 0.3,
                   {"decay": 1.8, "stretch": 0.8, "brightness": 0.9, "pluck": 0.15, "release": 0.08},
                   bus=_acoustic_body),
        Instrument("electric_guitar", "electric guitar", _guitar, ("chords", "melody", "arpeggio"), 40, 88, 0.25,
                   {"decay": 4.0, "stretch": 0.65, "brightness": 0.7, "pluck": 0.12, "release": 0.06,
                    "pickup": 0.17, "drive": 0.3},
                   bus=_amplifier),
        Instrument("bass", "bass", _bass, ("bass",), 28, 60, 0.12, bus=_bass_amp),
        Instrument("synth_bass", "synth bass", _subtractive, ("bass",), 24, 60, 0.1,
                   {"wave": "saw", "detuned": 0.0, "cutoff": 180.0, "envelope": 1800.0, "filter_decay": 0.08,
                    "resonance": 3.0, "decay": 0.2, "sustain": 0.6, "release": 0.05, "sub": 0.5}),
        Instrument("organ", "organ", _organ, ("chords", "pad", "melody"), 36, 96, 0.06,
                   {"drawbars": "888400000", "percussion": 0.6}),
        Instrument("strings", "strings", _strings, ("pad", "melody", "chords"), 36, 96, 0.5, {"attack": 0.3}),
        Instrument("flute", "flute", _flute, ("melody",), 60, 96, 0.12),
        Instrument("synth", "synth lead", _subtractive, ("melody", "arpeggio", "chords"), 36, 96, 0.15,
                   {"wave": "saw", "detuned": 0.4, "cutoff": 600.0, "envelope": 5000.0, "filter_decay": 0.15,
                    "resonance": 2.5, "decay": 0.3, "sustain": 0.6, "release": 0.12}),
        Instrument("drums", "drums", _drums, ("drums",), 35, 81, 1.6),
    )
}


def _instrument(name: str) -> Instrument:
    if name not in INSTRUMENTS:
        raise RiffnbError(f"unknown instrument {name!r}; choose from {', '.join(INSTRUMENTS)}")
    return INSTRUMENTS[name]


def _velocity_gain(velocity: float) -> float:
    return float(np.clip(velocity, 0.0, 1.0)) ** 1.5


def render_part(part: Part, duration_s: float, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """One part's samples ``(n,)`` for a clip of ``duration_s`` seconds (unnormalised; notes past the end cut).

    Identical notes (same pitch and length) are rendered once and reused: patterns repeat, so a clip has few
    distinct notes.
    """
    instrument = _instrument(part.instrument)
    settings = {**instrument.defaults, **part.settings}
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    out = np.zeros(n)
    cache: dict[tuple[int, int, int], np.ndarray] = {}
    for note in part.notes:
        start = int(round(note.onset * sample_rate))
        if start >= n or note.velocity <= 0:
            continue
        held = max(1, int(round(note.duration * sample_rate)))
        total = held + int(instrument.release_s * sample_rate)
        key = (note.pitch, held, total)
        if key not in cache:
            cache[key] = instrument.voice(note.pitch, held, total, sample_rate, rng, settings)
        wave = cache[key][: n - start]
        out[start : start + wave.size] += _velocity_gain(note.velocity) * wave
    if instrument.bus is not None and out.any():
        out = instrument.bus(out, sample_rate, settings)
    return out


def render_note(instrument: str, pitch: int, duration_s: float = 1.0, velocity: float = 0.8,
                sample_rate: int = 44100, seed: int = 0, **settings) -> np.ndarray:
    """One note held ``duration_s`` seconds plus its release, peak-normalised to 0.9: ``(1, n)``.

    Examples
    --------
    >>> render_note("flute", 72, duration_s=0.5, sample_rate=22050).shape
    (1, 13671)
    """
    spec = _instrument(instrument)
    part = Part(instrument, (Note(pitch, 0.0, duration_s, velocity),), settings=settings)
    samples = render_part(part, duration_s + spec.release_s, sample_rate, seed)
    return _peak_normalise(samples)[None, :]


def _peak_normalise(samples: np.ndarray, peak: float = 0.9) -> np.ndarray:
    top = np.abs(samples).max()
    return samples * (peak / top) if top > 0 else samples


# ---------------------------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------------------------

# (position in beats within the cycle, duration in beats, velocity); a cycle is `cycle` beats long.
Rhythm = T.Sequence[tuple[float, float, float]]


@dataclasses.dataclass
class _Context:
    """What a pattern generator needs: the harmony over time, the key, the register and a random source."""

    rng: np.random.Generator
    key: int
    mode: str
    meter: int
    bars: int
    chords: list[Chord]  # one per bar
    center: int  # the middle of the harmony's register, MIDI

    def chord_at(self, beat: float) -> Chord:
        return self.chords[min(int(beat // self.meter), len(self.chords) - 1)]

    def scale(self, low: int, high: int) -> np.ndarray:
        return scale_pitches(self.key, self.mode, low, high)

    @property
    def beats(self) -> int:
        return self.bars * self.meter


# Each generator returns (beat, beats held, pitch, velocity) tuples.
Event = tuple[float, float, int, float]


def _cycle(ctx: _Context, rhythm: Rhythm, cycle: float) -> T.Iterator[tuple[float, float, float]]:
    """Absolute (beat, duration, velocity) of a rhythm repeated over the whole clip."""
    start = 0.0
    while start < ctx.beats:
        for position, length, velocity in rhythm:
            if start + position < ctx.beats:
                yield start + position, length, velocity
        start += cycle


def _voice_lead(tones: T.Sequence[int], center: int, previous: T.Optional[T.Sequence[int]]) -> tuple[int, ...]:
    """The inversion of pitch classes ``tones`` stacked upward that moves least from ``previous`` (or sits nearest
    ``center``): smooth voice leading, as a pianist or guitarist would play the changes."""
    best, best_cost = (), np.inf
    for inversion in range(len(tones)):
        order = tones[inversion:] + tones[:inversion]
        for base in range(center - 12, center + 1):
            if base % 12 != order[0]:
                continue
            stack = [base]
            for pc in order[1:]:
                stack.append(stack[-1] + (pc - stack[-1]) % 12 or 12)
            spread = np.mean(stack)
            cost = abs(spread - center) * 0.5
            if previous is not None and len(previous) == len(stack):
                cost += np.abs(np.array(stack) - np.array(previous)).sum()
            if cost < best_cost:
                best, best_cost = tuple(stack), cost
    return best


def _chord_tones(chord: Chord, voicing: str) -> tuple[int, ...]:
    pcs = chord.pitch_classes
    if voicing == "rootless" and len(pcs) == 4:
        return pcs[1:]  # third, fifth, seventh: the bass has the root
    return pcs


def _comp(ctx: _Context, rhythm: Rhythm, cycle: float, voicing: str = "close", strum: float = 0.0,
          anticipate: bool = False) -> list[Event]:
    """Chords on a rhythm. ``voicing``: "close" (voice-led inversions), "rootless" (jazz: third, fifth, seventh),
    "power" (root, fifth, octave). ``strum`` spreads the notes of a chord by that many beats, low to high.
    ``anticipate`` plays hits in the last half beat of a bar with the next bar's chord (a push)."""
    events, previous = [], None
    for beat, length, velocity in _cycle(ctx, rhythm, cycle):
        chord = ctx.chord_at(beat + 0.5 if anticipate else beat)
        if voicing == "power":
            root = chord.tone(0, ctx.center - 14)
            pitches = (root, root + 7, root + 12)
        else:
            pitches = _voice_lead(_chord_tones(chord, voicing), ctx.center, previous)
            previous = pitches
        for i, pitch in enumerate(pitches):
            events.append((beat + i * strum, length, pitch, velocity))
    return events


def _pad(ctx: _Context) -> list[Event]:
    """Each bar's chord held for the whole bar."""
    return _comp(ctx, [(0, ctx.meter - 0.05, 0.6)], ctx.meter)


def _arpeggio(ctx: _Context, step: float, pattern: T.Sequence[int], velocity: float = 0.6,
              low: T.Optional[int] = None) -> list[Event]:
    """Broken chords: chord tone indices ``pattern`` (0 root, 1 third, 2 fifth, 3 octave/seventh above...)
    one per ``step`` beats, each ringing a little past the next. Indices beyond the chord go up an octave."""
    events = []
    base = ctx.center - 7 if low is None else low
    beat = 0.0
    position = 0
    while beat < ctx.beats:
        chord = ctx.chord_at(beat)
        root = base + (chord.root - base) % 12
        index = pattern[position % len(pattern)]
        octave, which = divmod(index, len(chord.intervals))
        accent = 0.12 if beat % 1 == 0 else 0.0
        events.append((beat, step * 1.8, root + chord.intervals[which] + 12 * octave, velocity + accent))
        beat += step
        position += 1
    return events


def _bass_pattern(ctx: _Context, rhythm: T.Sequence[tuple[float, float, float, str]], low: int = 33) -> list[Event]:
    """A bass line per bar from (beat, duration, velocity, tone) with tone "root", "fifth", "octave" or "next"
    (the next bar's root, played early: an anticipation tied over the bar line)."""
    events = []
    skip_downbeat = False
    for bar in range(ctx.bars):
        chord = ctx.chords[bar]
        following = ctx.chords[min(bar + 1, ctx.bars - 1)]
        root = low + (chord.root - low) % 12
        for position, length, velocity, tone in rhythm:
            if position == 0 and skip_downbeat:
                continue
            if tone == "next":
                if following == chord or bar + 1 >= ctx.bars:
                    continue
                pitch = low + (following.root - low) % 12
            else:
                pitch = root + {"root": 0, "fifth": chord.intervals[-2 if len(chord.intervals) > 3 else -1],
                                "octave": 12}[tone]
            events.append((bar * ctx.meter + position, length, pitch, velocity))
        skip_downbeat = any(tone == "next" for *_, tone in rhythm) and following != chord
    return events


def _walking_bass(ctx: _Context, low: int = 31) -> list[Event]:
    """Jazz walking bass: quarter notes, root on the downbeat, chord and scale tones through the bar, and a
    chromatic or scale-step approach into the next bar's root."""
    events = []
    current = low + (ctx.chords[0].root - low) % 12
    scale = ctx.scale(low, low + 24)
    for bar in range(ctx.bars):
        chord, following = ctx.chords[bar], ctx.chords[min(bar + 1, ctx.bars - 1)]
        root = chord.tone(0, current)
        target = following.tone(0, root)
        line = [root, chord.tone(ctx.rng.choice([1, 2]), root + 5), chord.tone(2, root + 7)]
        if ctx.meter == 4:
            approach = target + ctx.rng.choice([-1, 1]) if ctx.rng.random() < 0.6 else int(
                scale[np.argmin(np.abs(scale - (target + 2)))])
            line.append(approach)
        for beat, pitch in enumerate(line[: ctx.meter]):
            while pitch < low:
                pitch += 12
            while pitch > low + 24:
                pitch -= 12
            events.append((bar * ctx.meter + beat, 0.95, pitch, 0.75 + 0.1 * (beat == 0)))
        current = target
    return events


def _melody(ctx: _Context, rhythm: Rhythm, cycle: float) -> list[Event]:
    """A tune: strong-beat notes on chord tones, steps through the scale between them. The first cycle's contour
    (its steps) is repeated from the next chord's tones, so the line has a motif that returns, as tunes do."""
    scale = ctx.scale(ctx.center - 5, ctx.center + 19)
    middle = len(scale) // 2
    steps = [0] + [int(ctx.rng.choice([-2, -1, -1, 1, 1, 2, 3, -3])) for _ in rhythm[1:]]
    events = []
    for cycle_index, start in enumerate(np.arange(0, ctx.beats, cycle)):
        chord = ctx.chord_at(start)
        # Start each statement of the motif on the chord tone nearest the middle of the register.
        candidates = [i for i, p in enumerate(scale) if p % 12 in chord.pitch_classes]
        index = min(candidates, key=lambda i: abs(i - middle + (cycle_index % 2) * 2))
        for (position, length, velocity), step in zip(rhythm, steps):
            index = int(np.clip(index + step, 0, len(scale) - 1))
            if start + position < ctx.beats:
                events.append((start + position, length, int(scale[index]), velocity))
    return events


@dataclasses.dataclass(frozen=True)
class Style:
    """A style: its meter, tempo range, harmony, feel, default band, and a pattern generator per role."""

    name: str
    label: str
    meter: int
    bpm_range: tuple[int, int]
    modes: tuple[str, ...]
    progressions: T.Mapping[str, tuple[tuple[int, ...], ...]]
    sevenths: bool
    swing: float  # where the off-beat eighth falls within the beat: 0.5 straight, 2/3 triplet swing
    humanize: bool
    band: T.Mapping[str, str]  # role -> instrument when none are asked for
    roles: T.Mapping[str, T.Callable[[_Context], list[Event]]]
    drum_role_label: str = "drums"
    levels: T.Mapping[str, float] = dataclasses.field(default_factory=dict)
    settings: T.Mapping[str, T.Mapping[str, T.Any]] = dataclasses.field(default_factory=dict)
    preferred: T.Mapping[str, str] = dataclasses.field(default_factory=dict)  # instrument -> role in this style


def _drum_grid(grid: T.Mapping[int, T.Sequence[tuple[float, float]]], cycle: float):
    """Drum generator from {GM number: [(beat in cycle, velocity)]} repeated every ``cycle`` beats."""

    def generate(ctx: _Context) -> list[Event]:
        events = []
        for number, hits in grid.items():
            for beat, _, velocity in _cycle(ctx, [(b, 0.1, v) for b, v in hits], cycle):
                events.append((beat, 0.1, number, velocity))
        return events

    return generate


def _every(step: float, span: float, velocity: float, accent: float = 0.0, offset: float = 0.0):
    """Hits every ``step`` beats over ``span`` beats, beats louder by ``accent``."""
    return [(offset + i * step, velocity + (accent if (offset + i * step) % 1 == 0 else 0.0))
            for i in range(int(round(span / step)))]


_MAJOR_POP = ((1, 5, 6, 4), (1, 6, 4, 5), (1, 4, 5, 4), (6, 4, 1, 5))
_MINOR_POP = ((1, 6, 7, 1), (1, 7, 6, 7), (1, 4, 6, 5), (1, 6, 3, 7))

_BOSSA_CLAVE = [(0, 0.45, 0.75), (1.5, 0.45, 0.6), (3, 0.45, 0.65), (5, 0.45, 0.6), (6.5, 0.45, 0.65)]

STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "bossa_nova", "bossa nova", 4, (120, 145), ("major", "minor"),
            {"major": ((1, 2, 5, 1), (1, 6, 2, 5), (2, 5, 1, 6), (1, 4, 3, 6)), "minor": ((1, 4, 5, 1), (1, 6, 2, 5))},
            sevenths=True, swing=0.5, humanize=True,
            band={"chords": "acoustic_guitar", "bass": "bass", "drums": "drums"},
            roles={
                # Guitar comping on the bossa clave across two bars, pushed ahead of the beat.
                "chords": lambda ctx: _comp(ctx, _BOSSA_CLAVE, 8, strum=0.03),
                # Root on 1, fifth on 3, and the next chord's root anticipated on the "and" of 4.
                "bass": lambda ctx: _bass_pattern(ctx, [(0, 1.4, 0.8, "root"), (2, 1.4, 0.7, "fifth"),
                                                        (3.5, 2.45, 0.75, "next")]),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.5, (0, 2, 4, 5, 3, 5, 4, 2)),
                "melody": lambda ctx: _melody(ctx, [(0, 1.5, 0.7), (1.5, 1.0, 0.6), (2.5, 1.5, 0.7),
                                                    (4.5, 1.0, 0.6), (5.5, 2.5, 0.65)], 8),
                "pad": _pad,
                # Light percussion: side stick on the clave, a shaker on every eighth, a soft kick with the bass.
                "drums": _drum_grid({37: [(b, v) for b, _, v in _BOSSA_CLAVE], 70: _every(0.5, 8, 0.35, 0.2),
                                     36: [(0, 0.55), (2, 0.45), (4, 0.55), (6, 0.45)]}, 8),
            },
            drum_role_label="percussion", levels={"drums": 0.1},
            settings={"electric_guitar": {"drive": 0.1}},
        ),
        Style(
            "rock", "rock", 4, (100, 150), ("major", "minor"), {"major": _MAJOR_POP, "minor": _MINOR_POP},
            sevenths=False, swing=0.5, humanize=True,
            band={"chords": "electric_guitar", "bass": "bass", "drums": "drums"},
            roles={
                # Driving eighth-note power chords, accented on the beat.
                "chords": lambda ctx: _comp(ctx, [(i * 0.5, 0.42, 0.85 if i % 2 == 0 else 0.65) for i in range(8)],
                                            4, voicing="power"),
                "bass": lambda ctx: _bass_pattern(ctx, [(i * 0.5, 0.45, 0.8, "root") for i in range(8)], low=28),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.5, (0, 1, 2, 3, 2, 1)),
                "melody": lambda ctx: _melody(ctx, [(0, 0.5, 0.8), (0.5, 0.5, 0.7), (1, 1, 0.75), (2.5, 0.5, 0.7),
                                                    (3, 1, 0.75)], 4),
                "pad": _pad,
                # Backbeat: kick on 1 and 3 (and the "and" of 3), snare on 2 and 4, closed hi-hat eighths.
                "drums": _drum_grid({36: [(0, 0.95), (2, 0.9), (2.5, 0.7)], 38: [(1, 0.9), (3, 0.95)],
                                     42: _every(0.5, 4, 0.5, 0.2)}, 4),
            },
            settings={"electric_guitar": {"drive": 0.85}},
        ),
        Style(
            "waltz", "waltz", 3, (90, 150), ("major", "minor"),
            {"major": ((1, 4, 5, 1), (1, 5, 5, 1), (1, 6, 2, 5)), "minor": ((1, 4, 5, 1), (1, 6, 4, 5))},
            sevenths=False, swing=0.5, humanize=True,
            band={"bass": "piano", "chords": "piano", "melody": "strings"},
            roles={
                # Oom: the bass on 1, root and fifth in alternate bars ...
                "bass": lambda ctx: [(beat, 0.9, pitch + (7 if (beat // 3) % 2 else 0), 0.8) for beat, _, pitch, _
                                     in _bass_pattern(ctx, [(0, 0.9, 0.8, "root")], low=36)],
                # ... pah-pah: short chords on 2 and 3.
                "chords": lambda ctx: _comp(ctx, [(1, 0.5, 0.55), (2, 0.5, 0.5)], 3),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.5, (0, 1, 2, 3, 2, 1)),
                "melody": lambda ctx: _melody(ctx, [(0, 2, 0.75), (2, 1, 0.6), (3, 1, 0.65), (4, 1, 0.6),
                                                    (5, 1, 0.65)], 6),
                "pad": _pad,
                "drums": _drum_grid({36: [(0, 0.7)], 42: [(1, 0.4), (2, 0.4)]}, 3),
            },
        ),
        Style(
            "techno", "techno", 4, (124, 138), ("minor",),
            {"minor": ((1, 1, 6, 7), (1, 1, 4, 4), (1, 6, 1, 7))},
            sevenths=False, swing=0.5, humanize=False,
            band={"drums": "drums", "bass": "synth_bass", "arpeggio": "synth"},
            roles={
                "drums": _drum_grid({36: _every(1, 4, 0.95), 46: _every(1, 4, 0.6, offset=0.5),
                                     42: _every(0.25, 4, 0.25), 39: [(1, 0.6), (3, 0.6)]}, 4),
                # The off-beat bass: a short note on every "and".
                "bass": lambda ctx: _bass_pattern(ctx, [(b + 0.5, 0.3, 0.85, "root") for b in range(4)], low=33),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.25, (0, 2, 3, 2, 4, 2, 3, 1)),
                "chords": lambda ctx: _comp(ctx, [(0.75, 0.2, 0.7), (2.5, 0.2, 0.7), (3.25, 0.2, 0.6)], 4),
                "melody": lambda ctx: _melody(ctx, [(0, 0.25, 0.8), (0.5, 0.25, 0.7), (0.75, 0.5, 0.75),
                                                    (1.5, 0.25, 0.7), (2, 0.75, 0.8), (3, 0.5, 0.7)], 4),
                "pad": _pad,
            },
            settings={"synth": {"wave": "square"}},
            preferred={"synth": "arpeggio"},
        ),
        Style(
            "house", "house", 4, (118, 128), ("minor", "major"),
            {"minor": ((1, 4, 1, 4), (1, 6, 4, 5), (6, 7, 1, 1)), "major": ((2, 5, 1, 1), (1, 4, 1, 4), (4, 5, 3, 6))},
            sevenths=True, swing=0.54, humanize=False,
            band={"drums": "drums", "bass": "synth_bass", "chords": "organ"},
            roles={
                "drums": _drum_grid({36: _every(1, 4, 0.95), 39: [(1, 0.8), (3, 0.8)],
                                     46: _every(1, 4, 0.55, offset=0.5), 42: _every(0.25, 4, 0.2, 0.1)}, 4),
                "bass": lambda ctx: _bass_pattern(ctx, [(0.5, 0.35, 0.8, "root"), (1.5, 0.35, 0.75, "root"),
                                                        (2.5, 0.35, 0.8, "octave"), (3.5, 0.35, 0.75, "root")],
                                                  low=33),
                # Organ or piano stabs on the classic syncopated house rhythm.
                "chords": lambda ctx: _comp(ctx, [(0, 0.3, 0.8), (0.75, 0.3, 0.65), (1.5, 0.3, 0.7),
                                                  (2.5, 0.3, 0.7), (3.25, 0.3, 0.65)], 4),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.25, (0, 1, 2, 3)),
                "melody": lambda ctx: _melody(ctx, [(0.5, 0.5, 0.75), (1.5, 0.5, 0.7), (2, 1, 0.8), (3.5, 0.5, 0.7)],
                                              4),
                "pad": _pad,
            },
        ),
        Style(
            "jazz_swing", "jazz swing", 4, (110, 190), ("major", "minor"),
            {"major": ((2, 5, 1, 1), (1, 6, 2, 5), (3, 6, 2, 5)), "minor": ((2, 5, 1, 1), (1, 4, 2, 5))},
            sevenths=True, swing=2 / 3, humanize=True,
            band={"drums": "drums", "bass": "bass", "chords": "piano"},
            roles={
                # Ride: ding, ding-ga-ding, ding-ga; pedal hi-hat on 2 and 4; the kick feathered on every beat.
                "drums": _drum_grid({51: [(0, 0.7), (1, 0.8), (1.5, 0.5), (2, 0.7), (3, 0.8), (3.5, 0.5)],
                                     44: [(1, 0.6), (3, 0.6)], 36: _every(1, 4, 0.25)}, 4),
                "bass": _walking_bass,
                # Charleston rhythm, then a push into the next chord, in rootless voicings (the bass has the root).
                "chords": lambda ctx: _comp(ctx, [(0, 0.8, 0.6), (1.5, 0.4, 0.55), (4.5, 0.4, 0.55),
                                                  (7.5, 0.9, 0.65)], 8, voicing="rootless", anticipate=True),
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.5, (0, 1, 2, 3, 4, 3, 2, 1)),
                "melody": lambda ctx: _melody(ctx, [(i * 0.5, 0.45, 0.7 if i % 2 else 0.6) for i in range(7)]
                                              + [(3.5, 1.0, 0.7)], 4),
                "pad": _pad,
            },
        ),
        Style(
            "ballad", "ballad", 4, (60, 80), ("major", "minor"), {"major": _MAJOR_POP, "minor": _MINOR_POP},
            sevenths=False, swing=0.5, humanize=True,
            band={"arpeggio": "piano", "bass": "piano"},
            roles={
                # Broken chords in eighths rising over an octave and a half and falling back.
                "arpeggio": lambda ctx: _arpeggio(ctx, 0.5, (0, 2, 3, 4, 5, 4, 3, 2), velocity=0.5),
                "bass": lambda ctx: _bass_pattern(ctx, [(0, 3.9, 0.7, "root")], low=36),
                "melody": lambda ctx: _melody(ctx, [(0, 1.5, 0.7), (1.5, 0.5, 0.6), (2, 2, 0.7)], 4),
                "pad": _pad,
                "chords": lambda ctx: _comp(ctx, [(0, 1.9, 0.5), (2, 1.9, 0.45)], 4),
                "drums": _drum_grid({36: [(0, 0.6), (2.5, 0.5)], 37: [(1, 0.5), (3, 0.5)]}, 4),
            },
            preferred={"piano": "arpeggio"},
        ),
    )
}

_STYLE_ALIASES = {"bossa": "bossa_nova", "jazz": "jazz_swing", "swing": "jazz_swing", "arpeggio": "ballad"}
_REGISTERS = {"low": -1, "mid": 0, "middle": 0, "high": 1}
_LEVELS = {"drums": 0.22, "bass": 0.2, "chords": 0.13, "arpeggio": 0.13, "pad": 0.1, "melody": 0.15}


def _style(name: str) -> Style:
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    key = _STYLE_ALIASES.get(key, key)
    if key not in STYLES:
        raise RiffnbError(f"unknown style {name!r}; choose from {', '.join(STYLES)}")
    return STYLES[key]


def _assign(style: Style, instruments) -> list[tuple[str, str]]:
    """(role, instrument) pairs: the style's band, an explicit {role: instrument} mapping, or instruments each
    given the first role it can take that the style has and nobody has taken yet."""
    if instruments is None:
        return list(style.band.items())
    if isinstance(instruments, str):
        instruments = (instruments,)
    if isinstance(instruments, T.Mapping):
        pairs = list(instruments.items())
        for role, name in pairs:
            if role not in style.roles:
                raise RiffnbError(f"{style.label} has no {role!r} part; its roles are {', '.join(style.roles)}")
            if (role == "drums") != (_instrument(name).roles == ("drums",)):
                raise RiffnbError(f"{name} cannot play the {role} part; drums play 'drums' and only drums do")
        return pairs
    pairs, taken = [], set()
    for name in instruments:
        spec = _instrument(name)
        options = [r for r in spec.roles if r in style.roles]
        if name in style.preferred:
            options.insert(0, style.preferred[name])
        if not options:
            raise RiffnbError(f"{style.label} has no part {name} can play; its roles are {', '.join(style.roles)}")
        role = next((r for r in options if r not in taken), options[0])
        taken.add(role)
        pairs.append((role, name))
    return pairs


def _fit_range(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def _seconds(beat: float, bpm: float, swing: float) -> float:
    """Clock time of a beat position: the off-beat half of each beat is moved to ``swing`` of the beat."""
    whole = np.floor(beat)
    frac = beat - whole
    bent = frac * 2 * swing if frac < 0.5 else swing + (frac - 0.5) * 2 * (1 - swing)
    return float((whole + bent) * 60.0 / bpm)


@dataclasses.dataclass(frozen=True)
class PartDescription:
    """One part of a rendered clip in words: instrument label, role, and range or drum pieces."""

    instrument: str
    label: str
    role: str
    notes: int
    lowest: T.Optional[str] = None
    highest: T.Optional[str] = None
    pieces: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ClipDescription:
    """What a clip holds, for captions and for readers: style, key, tempo, meter, chords and parts."""

    style: str
    style_label: str
    bpm: float
    key: str
    mode: str
    meter: int
    register: int
    chords: tuple[str, ...]
    parts: tuple[PartDescription, ...]
    duration_s: float
    seed: int

    def summary(self) -> str:
        """One line: ``"rock in E minor at 120 BPM, 4/4: electric guitar (chords), bass (bass), drums (drums)"``."""
        parts = ", ".join(f"{p.label} ({p.role})" for p in self.parts)
        return f"{self.style_label} in {self.key} {self.mode} at {self.bpm:g} BPM, {self.meter}/4: {parts}"

    def to_dict(self) -> dict[str, T.Any]:
        """Plain JSON-serialisable data."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Score:
    """A composed clip: its parts (notes in seconds) and its description. Render it with :func:`render_score`."""

    parts: tuple[Part, ...]
    description: ClipDescription


@dataclasses.dataclass(frozen=True)
class Rendering:
    """Rendered audio ``samples (1, n)`` in [-1, 1] at ``sample_rate``, the :class:`Score` and its description."""

    samples: np.ndarray
    sample_rate: int
    score: Score

    @property
    def description(self) -> ClipDescription:
        return self.score.description


def compose(style: str = "bossa_nova", instruments=None, bpm: T.Optional[float] = None,
            key: T.Union[str, int, None] = None, mode: T.Optional[str] = None, register: T.Union[int, str] = 0,
            duration_s: float = 5.12, seed: int = 0) -> Score:
    """Write a clip in ``style``: a chord progression in ``key``/``mode`` and a part for each instrument.

    Parameters
    ----------
    style : one of :data:`STYLES` ("bossa_nova", "rock", "waltz", "techno", "house", "jazz_swing", "ballad").
    instruments : None for the style's usual band; a list of instrument names (each takes the first role it can
        play that is still free: a guitar comps, a bass plays the bass line, a flute the melody); or an explicit
        ``{role: instrument}`` mapping with roles "chords", "bass", "melody", "arpeggio", "pad", "drums".
    bpm, key, mode : tempo in beats per minute, key ("C", "F#", "Bb") and "major"/"minor"; None picks from the
        seed within what suits the style.
    register : octave shift of the harmony and melody: "low" (-1), "mid" (0), "high" (+1) or an int. Parts are
        folded back into their instrument's range; bass and drums are not shifted.
    duration_s : clip length in seconds; seed : makes every choice (and, in :func:`render_score`, every sound).

    Examples
    --------
    >>> score = compose("jazz_swing", bpm=160, key="Bb", mode="major", seed=1)
    >>> score.description.chords
    ('Bbmaj7', 'Gm7', 'Cm7', 'F7')
    >>> [(p.instrument, p.role) for p in score.parts]
    [('drums', 'drums'), ('bass', 'bass'), ('piano', 'chords')]
    """
    spec = _style(style)
    rng = np.random.default_rng(seed)
    if bpm is None:
        bpm = float(rng.integers(spec.bpm_range[0], spec.bpm_range[1] + 1))
    if not 30 <= bpm <= 300:
        raise RiffnbError(f"bpm must be between 30 and 300, got {bpm}")
    mode = mode if mode is not None else str(rng.choice(spec.modes))
    _scale(mode)
    tonic = parse_key(key) if key is not None else int(rng.integers(12))
    if isinstance(register, str):
        if register not in _REGISTERS:
            raise RiffnbError(f"unknown register {register!r}; use 'low', 'mid', 'high' or an octave shift")
        register = _REGISTERS[register]
    if not -2 <= int(register) <= 2:
        raise RiffnbError(f"register must be an octave shift from -2 to 2, got {register}")
    if not duration_s > 0:
        raise RiffnbError(f"duration_s must be positive, got {duration_s}")
    progressions = spec.progressions.get(mode) or next(iter(spec.progressions.values()))
    degrees = progressions[int(rng.integers(len(progressions)))]
    bar_seconds = spec.meter * 60.0 / bpm
    bars = int(np.ceil(duration_s / bar_seconds)) + 1
    chords = [diatonic_chord(degrees[b % len(degrees)], tonic, mode, spec.sevenths) for b in range(bars)]
    heard_bars = int(np.ceil(duration_s / bar_seconds - 1e-9))
    parts, descriptions = [], []
    for role, name in _assign(spec, instruments):
        instrument = _instrument(name)
        shift = 0 if role in ("bass", "drums") else 12 * int(register)
        ctx = _Context(rng=np.random.default_rng([seed, len(parts)]), key=tonic, mode=mode, meter=spec.meter,
                       bars=bars, chords=chords, center=62 + shift)
        notes = []
        for beat, length, pitch, velocity in spec.roles[role](ctx):
            onset = _seconds(beat, bpm, spec.swing)
            if spec.humanize:
                onset = max(0.0, onset + float(np.clip(ctx.rng.normal(0, 0.006), -0.015, 0.015)))
                velocity = velocity * (1 + 0.08 * float(ctx.rng.normal()))
            if onset >= duration_s:
                continue
            duration = max(0.03, _seconds(beat + length, bpm, spec.swing) - _seconds(beat, bpm, spec.swing))
            if role != "drums":
                pitch = _fit_range(pitch, instrument.low, instrument.high)
            notes.append(Note(int(pitch), round(onset, 6), round(duration, 6), float(np.clip(velocity, 0.05, 1.0))))
        notes.sort(key=lambda n: (n.onset, n.pitch))
        settings = {**spec.settings.get(name, {})}
        parts.append(Part(name, tuple(notes), role, settings))
        descriptions.append(_describe_part(parts[-1], spec))
    description = ClipDescription(
        style=spec.name, style_label=spec.label, bpm=float(bpm), key=key_name(tonic, mode), mode=mode, meter=spec.meter,
        register=int(register), chords=tuple(c.name for c in chords[:heard_bars]), parts=tuple(descriptions),
        duration_s=float(duration_s), seed=int(seed))
    return Score(tuple(parts), description)


def _describe_part(part: Part, style: Style) -> PartDescription:
    instrument = _instrument(part.instrument)
    settings = {**instrument.defaults, **part.settings}
    label = instrument.label
    if part.instrument == "electric_guitar":
        label = ("overdriven " if settings["drive"] >= 0.5 else "clean ") + label
    if part.role == "drums":
        pieces = tuple(sorted({DRUM_NAMES[n.pitch] for n in part.notes}))
        return PartDescription(part.instrument, label, style.drum_role_label, len(part.notes), pieces=pieces)
    pitches = [n.pitch for n in part.notes]
    return PartDescription(part.instrument, label, part.role, len(part.notes),
                           note_name(min(pitches)) if pitches else None, note_name(max(pitches)) if pitches else None)


def render_score(score: Score, sample_rate: int = 44100) -> np.ndarray:
    """Mix a score's parts into samples ``(1, n)``, peak-normalised to 0.9.

    Each part is first brought to a loudness (RMS) set by its role, so a mix is balanced whatever instruments
    play: drums and bass forward, chords and pads behind the melody.
    """
    description = score.description
    style = STYLES.get(description.style)
    n = int(round(description.duration_s * sample_rate))
    mix = np.zeros(n)
    for index, part in enumerate(score.parts):
        samples = render_part(part, description.duration_s, sample_rate, seed=_part_seed(description.seed, index))
        rms = np.sqrt(np.mean(samples**2))
        if rms > 0:
            level = (style.levels if style else {}).get(part.role, _LEVELS.get(part.role, 0.15))
            mix += samples * (level / rms)
    return _peak_normalise(mix)[None, :]


def _part_seed(*numbers: int) -> int:
    """A seed derived from a clip's seed and a part's index, stable across runs."""
    return int(np.random.default_rng(list(numbers)).integers(2**31))


def render(style: str = "bossa_nova", instruments=None, bpm: T.Optional[float] = None,
           key: T.Union[str, int, None] = None, mode: T.Optional[str] = None, register: T.Union[int, str] = 0,
           duration_s: float = 5.12, sample_rate: int = 44100, seed: int = 0) -> Rendering:
    """Compose (:func:`compose`, same arguments) and render (:func:`render_score`) a clip.

    Returns a :class:`Rendering`: ``.samples`` ``(1, n)`` float64 in [-1, 1], ``.sample_rate``, ``.score`` (every
    note) and ``.description`` (style, key, tempo, chords, instruments and roles).

    Examples
    --------
    >>> clip = render("rock", bpm=120, key="E", mode="minor", duration_s=1.0, sample_rate=22050)
    >>> clip.description.summary()
    'rock in E minor at 120 BPM, 4/4: overdriven electric guitar (chords), bass (bass), drums (drums)'
    """
    score = compose(style, instruments, bpm, key, mode, register, duration_s, seed)
    return Rendering(render_score(score, sample_rate), sample_rate, score)


def render_demo_clip(duration_s: float = 5.12, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """The demo: a bossa nova on a clean electric guitar, bass and light percussion, ``(1, n)`` in [-1, 1].

    Examples
    --------
    >>> render_demo_clip(1.0, 22050).shape
    (1, 22050)
    """
    return render("bossa_nova", {"chords": "electric_guitar", "bass": "bass", "drums": "drums"},
                  duration_s=duration_s, sample_rate=sample_rate, seed=seed).samples
