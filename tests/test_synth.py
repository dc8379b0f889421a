import json
import time

import numpy as np
import pytest

from riffnb import synth
from riffnb.errors import RiffnbError
from riffnb.stft import stft

SR = 22050


def power_spectrogram(x, sample_rate=SR, n_fft=2048, hop=256):
    S = np.abs(stft(np.asarray(x).reshape(-1), n_fft, hop, n_fft)) ** 2
    return S, np.arange(S.shape[0]) * sample_rate / n_fft, np.arange(S.shape[1]) * hop / sample_rate


def centroid(S, freqs, mask=None):
    P = S[:, mask].sum(1) if mask is not None else S.sum(1)
    return float((freqs * P).sum() / P.sum())


# --- harmony -------------------------------------------------------------------------------------------------------

def test_keys_scales_and_chords():
    assert synth.parse_key("Bb") == 10 and synth.parse_key("c#") == 1 and synth.parse_key(26) == 2
    with pytest.raises(RiffnbError, match="unknown key"):
        synth.parse_key("H")
    assert synth.scale_pitches("C", "major", 60, 72).tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    assert synth.scale_pitches("A", "minor", 57, 69).tolist() == [57, 59, 60, 62, 64, 65, 67, 69]
    assert [c.name for c in synth.progression((2, 5, 1), "C", "major", sevenths=True)] == ["Dm7", "G7", "Cmaj7"]
    # Minor keys borrow the leading tone for V: a major triad, a dominant seventh.
    assert [c.name for c in synth.progression((1, 4, 5), "A", "minor")] == ["Am", "Dm", "E"]
    assert synth.diatonic_chord(5, "A", "minor", sevenths=True).name == "E7"
    # Spelled the key's way: sharps in sharp keys, flats in flat keys.
    assert synth.diatonic_chord(2, "F#", "minor", sevenths=True).name == "G#m7b5"
    assert synth.diatonic_chord(4, "F", "major").name == "Bb"
    assert synth.key_name(1, "major") == "Db" and synth.key_name(1, "minor") == "C#"
    assert synth.diatonic_chord(1, "D", "major").voicing(60) == (62, 66, 69)
    assert synth.midi_to_hz(69) == 440.0 and synth.note_name(61) == "C#4"


# --- scores: patterns, tempo, register -----------------------------------------------------------------------------

def beats_in_bar(part, bpm, meter, grid=0.5):
    """Where in the bar each note starts, in beats, on a ``grid`` (the humanised timing is a few ms off it)."""
    return np.round(np.array([n.onset for n in part.notes]) * bpm / 60 / grid) * grid % meter


def by_role(score):
    return {p.role: p for p in score.parts}


def test_bossa_bass_on_one_and_three_with_anticipation():
    score = synth.compose("bossa_nova", bpm=120, key="D", mode="major", duration_s=10.0, seed=2)
    bass = by_role(score)["bass"]
    eighths = set(beats_in_bar(bass, 120, 4))
    assert eighths <= {0.0, 2.0, 3.5}
    assert {2.0, 3.5} <= eighths, "fifth on 3 and the anticipation on the 'and' of 4"
    chords = by_role(score)["chords"]
    # Strummed and humanised by a few hundredths of a beat; the 2-bar cycle is 8 beats.
    clave = set(beats_in_bar(chords, 120, 8))
    assert clave == {0.0, 1.5, 3.0, 5.0, 6.5}, "syncopated guitar comping on the bossa clave"


def test_waltz_is_oom_pah_pah_in_three():
    score = synth.compose("waltz", bpm=120, key="F", mode="major", duration_s=6.0, seed=0)
    assert score.description.meter == 3
    parts = by_role(score)
    assert set(beats_in_bar(parts["bass"], 120, 3)) == {0.0}
    assert set(beats_in_bar(parts["chords"], 120, 3)) == {1.0, 2.0}


def test_techno_four_on_the_floor_and_offbeat_hats_are_exact():
    bpm = 128
    score = synth.compose("techno", bpm=bpm, duration_s=5.12, seed=4)
    drums = by_role(score)["drums"]
    kicks = np.array([n.onset for n in drums.notes if n.pitch == 36])
    np.testing.assert_allclose(kicks, np.arange(kicks.size) * 60 / bpm, atol=1e-6)
    hats = np.array([n.onset for n in drums.notes if n.pitch == 46])
    np.testing.assert_allclose(hats, (np.arange(hats.size) + 0.5) * 60 / bpm, atol=1e-6)
    bass = by_role(score)["bass"]
    assert set(beats_in_bar(bass, bpm, 1, grid=0.25)) == {0.5}


def test_jazz_ride_swings_and_bass_walks():
    score = synth.compose("jazz_swing", bpm=150, key="Bb", mode="major", duration_s=8.0, seed=1)
    ride = [n for n in by_role(score)["drums"].notes if n.pitch == 51]
    offbeats = [(n.onset * 150 / 60) % 1 for n in ride if 0.2 < (n.onset * 150 / 60) % 1 < 0.9]
    assert offbeats and abs(np.median(offbeats) - 2 / 3) < 0.03, "the 'ga' of ding-ga-ding falls on the triplet"
    bass = by_role(score)["bass"]
    assert set(beats_in_bar(bass, 150, 4, grid=1)) == {0, 1, 2, 3}, "a walking bass plays every beat"
    steps = np.abs(np.diff([n.pitch for n in bass.notes]))
    assert steps.max() <= 12 and np.mean(steps) < 6, "a walking line moves mostly by small steps"


def test_melody_and_chords_stay_in_key():
    score = synth.compose("rock", ["flute", "piano", "bass"], key="E", mode="minor", bpm=120, seed=5)
    scale = set((np.array(synth.SCALES["minor"]) + 4) % 12) | {(4 + 11) % 12}  # and V's raised leading tone
    for part in score.parts:
        assert {n.pitch % 12 for n in part.notes} <= scale, part.instrument


def test_register_shifts_harmony_but_not_bass():
    parts = {r: by_role(synth.compose("bossa_nova", ["piano", "bass"], key="C", mode="major", bpm=130,
                                      register=r, seed=3))
             for r in ("low", "mid", "high")}
    mean = {r: np.mean([n.pitch for n in p["chords"].notes]) for r, p in parts.items()}
    assert mean["high"] - mean["mid"] == pytest.approx(12) and mean["mid"] - mean["low"] == pytest.approx(12)
    assert [n.pitch for n in parts["high"]["bass"].notes] == [n.pitch for n in parts["low"]["bass"].notes]


def test_instruments_take_roles():
    roles = [(p.instrument, p.role) for p in synth.compose("jazz_swing", ["flute", "bass", "piano", "drums"]).parts]
    assert roles == [("flute", "melody"), ("bass", "bass"), ("piano", "chords"), ("drums", "drums")]
    explicit = synth.compose("waltz", {"bass": "piano", "melody": "organ"}).parts
    assert [(p.instrument, p.role) for p in explicit] == [("piano", "bass"), ("organ", "melody")]
    assert [p.role for p in synth.compose("techno", ["synth"]).parts] == ["arpeggio"]
    assert [p.role for p in synth.compose("ballad", ["piano"]).parts] == ["arpeggio"]
    with pytest.raises(RiffnbError, match="unknown style"):
        synth.compose("polka")
    with pytest.raises(RiffnbError, match="unknown instrument"):
        synth.compose("rock", ["banjo"])
    with pytest.raises(RiffnbError, match="drums"):
        synth.compose("rock", {"chords": "drums"})
    with pytest.raises(RiffnbError, match="rock has no 'solo' part"):
        synth.compose("rock", {"solo": "flute"})
    with pytest.raises(RiffnbError, match="bpm"):
        synth.compose("rock", bpm=1000)
    with pytest.raises(RiffnbError, match="register"):
        synth.compose("rock", register="very high")


def test_description_is_json_and_reads_well():
    clip = synth.render("rock", bpm=120, key="E", mode="minor", duration_s=2.0, sample_rate=SR, seed=0)
    description = clip.description
    assert description.summary() == (
        "rock in E minor at 120 BPM, 4/4: overdriven electric guitar (chords), bass (bass), drums (drums)")
    data = json.loads(json.dumps(description.to_dict()))
    assert data["style"] == "rock" and data["key"] == "E" and data["meter"] == 4
    assert len(data["chords"]) == 1 and data["chords"][0] in ("Em", "C", "G", "D", "B", "Am")
    drums = [p for p in data["parts"] if p["role"] == "drums"][0]
    assert set(drums["pieces"]) == {"kick", "snare", "closed hi-hat"}
    guitar, notes = data["parts"][0], clip.score.parts[0].notes
    assert guitar["notes"] == len(notes) > 0
    assert guitar["lowest"] == synth.note_name(min(n.pitch for n in notes)) and min(n.pitch for n in notes) >= 40


# --- rendering -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("style", list(synth.STYLES))
def test_every_style_renders_full_scale_within_range(style):
    clip = synth.render(style, duration_s=3.0, sample_rate=SR, seed=7)
    assert clip.samples.shape == (1, 3 * SR) and clip.samples.dtype == np.float64
    assert np.isfinite(clip.samples).all()
    assert 0.85 <= np.abs(clip.samples).max() <= 1.0
    # Sound throughout, not a burst and then silence.
    quarters = np.abs(clip.samples[0, : 3 * SR // 6 * 6]).reshape(6, -1).max(axis=1)
    assert quarters.min() > 0.05


def test_deterministic_for_a_seed():
    a = synth.render("house", duration_s=2.0, sample_rate=SR, seed=11)
    b = synth.render("house", duration_s=2.0, sample_rate=SR, seed=11)
    c = synth.render("house", duration_s=2.0, sample_rate=SR, seed=12)
    assert np.array_equal(a.samples, b.samples) and a.description == b.description
    assert not np.array_equal(a.samples, c.samples)
    assert np.array_equal(synth.render_demo_clip(1.0, SR), synth.render_demo_clip(1.0, SR))
    assert not np.array_equal(synth.render_demo_clip(1.0, SR), synth.render_demo_clip(1.0, SR, seed=1))


def test_demo_clip_is_a_bossa_on_electric_guitar_bass_and_percussion_and_fast():
    synth.render_demo_clip(0.5)  # warm the drum kit cache
    start = time.perf_counter()
    samples = synth.render_demo_clip()
    elapsed = time.perf_counter() - start
    assert samples.shape == (1, 225792) and np.abs(samples).max() <= 1.0
    assert elapsed < 1.0, f"the demo clip took {elapsed:.2f} s"
    description = synth.render("bossa_nova", {"chords": "electric_guitar", "bass": "bass", "drums": "drums"}).description
    assert [p.label for p in description.parts] == ["clean electric guitar", "bass", "drums"]
    assert set(description.parts[2].pieces) == {"kick", "side stick", "shaker"}
    S, freqs, _ = power_spectrogram(samples, 44100, 4096, 1024)
    spectrum = S.sum(1)
    share = lambda lo, hi: spectrum[(freqs >= lo) & (freqs < hi)].sum() / spectrum.sum()
    assert share(30, 150) > 0.1, "a bass line"
    assert share(200, 2000) > 0.2, "guitar chords"
    assert share(4000, 11000) > 1e-4, "a shaker"


def test_other_sample_rates():
    for sample_rate in (8000, 16000):
        samples = synth.render("jazz_swing", duration_s=1.5, sample_rate=sample_rate, seed=0).samples
        assert samples.shape == (1, int(1.5 * sample_rate)) and np.isfinite(samples).all()
        assert np.abs(samples).max() == pytest.approx(0.9)


def test_notes_after_the_end_are_dropped_and_tails_cut():
    part = synth.Part("piano", (synth.Note(60, 0.0, 0.5), synth.Note(64, 2.0, 0.5)))
    samples = synth.render_part(part, 1.0, SR)
    assert samples.shape == (SR,)
    assert np.abs(samples[: SR // 4]).max() > 0.1


# --- timbre: every instrument sounds like itself ---------------------------------------------------------------------

def signature(x):
    """Attack time, level held after 0.8 s, spectral centroid early and late (octaves), spectral flatness (dB)."""
    S, freqs, t = power_spectrogram(x)
    envelope = np.sqrt(S.sum(0))
    peak = envelope.max()
    flat = S[5:900].mean(1)
    return {
        "attack": t[np.argmax(envelope >= 0.9 * peak)],
        "sustain": envelope[np.searchsorted(t, 0.8)] / peak,
        "early": np.log2(centroid(S, freqs, t < 0.15)),
        "late": np.log2(centroid(S, freqs, (t >= 0.5) & (t < 0.9))),
        "flatness": 10 * np.log10(np.exp(np.mean(np.log(flat + 1e-30))) / flat.mean()),
    }


@pytest.fixture(scope="module")
def signatures():
    notes = {name: synth.render_note(name, 45 if "bass" in name else 69, 1.0, sample_rate=SR)[0]
             for name in synth.INSTRUMENTS if name != "drums"}
    notes["overdriven guitar"] = synth.render_note("electric_guitar", 69, 1.0, sample_rate=SR, drive=0.9)[0]
    return {name: signature(x) for name, x in notes.items()}


def test_every_instrument_has_its_own_signature(signatures):
    # Differences in units a listener (or a classifier on spectrograms) would notice.
    scales = {"attack": 0.05, "sustain": 0.1, "early": 0.3, "late": 0.3, "flatness": 3.0}
    names = list(signatures)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            distance = max(abs(signatures[a][k] - signatures[b][k]) / s for k, s in scales.items())
            assert distance > 1.0, f"{a} and {b} sound alike: {signatures[a]} vs {signatures[b]}"


def test_envelopes_match_the_instruments(signatures):
    s = signatures
    for plucked in ("piano", "acoustic_guitar", "electric_guitar"):
        assert s[plucked]["attack"] < 0.03 and s[plucked]["sustain"] < 0.4, plucked
    for held in ("organ", "flute", "strings"):
        assert s[held]["sustain"] > 0.7, held
    assert s["strings"]["attack"] > 0.15 > s["flute"]["attack"], "strings swell in, a flute speaks quickly"
    assert s["acoustic_guitar"]["sustain"] < s["electric_guitar"]["sustain"] < s["overdriven guitar"]["sustain"]
    # Breath noise makes the flute the least tonal of the sustained instruments.
    assert s["flute"]["flatness"] > s["organ"]["flatness"] + 10 and s["flute"]["flatness"] > s["strings"]["flatness"]
    # A synth's filter envelope closes: bright attack, darker sustain.
    for swept in ("synth", "synth_bass"):
        assert s[swept]["early"] - s[swept]["late"] > 0.8, swept
    assert s["bass"]["late"] < 7.5 and s["synth_bass"]["late"] < 7.5, "basses live below ~200 Hz"


def partial_frequency(x, expected, sample_rate=SR):
    spectrum = np.abs(np.fft.rfft(x[:sample_rate] * np.hanning(sample_rate), 8 * sample_rate))
    freqs = np.fft.rfftfreq(8 * sample_rate, 1 / sample_rate)
    window = (freqs > expected * 0.97) & (freqs < expected * 1.03)
    return freqs[window][np.argmax(spectrum[window])]


def test_piano_strings_are_stiff_and_guitar_strings_in_tune():
    f0 = float(synth.midi_to_hz(45))
    piano = synth.render_note("piano", 45, 1.5, sample_rate=SR)[0]
    guitar = synth.render_note("acoustic_guitar", 45, 1.5, sample_rate=SR)[0]
    cents = lambda f, k: 1200 * np.log2(f / (k * f0))
    assert abs(cents(partial_frequency(piano, f0), 1)) < 2
    assert cents(partial_frequency(piano, 10 * f0), 10) > 6, "piano partials stretch sharp (inharmonicity)"
    for k in (1, 3):
        assert abs(cents(partial_frequency(guitar, k * f0), k)) < 3, "Karplus-Strong tuned to the note"


def test_flute_has_vibrato_and_organ_a_sub_octave():
    f0 = float(synth.midi_to_hz(72))
    flute = synth.render_note("flute", 72, 1.5, sample_rate=SR)[0]
    S, freqs, t = power_spectrogram(flute, n_fft=4096, hop=256)
    band = (freqs > f0 * 0.95) & (freqs < f0 * 1.05)
    held = (t > 0.6) & (t < 1.4)
    track = (S[band][:, held] * freqs[band, None]).sum(0) / S[band][:, held].sum(0)
    rate = np.abs(np.fft.rfft(track - track.mean()))
    rates = np.fft.rfftfreq(track.size, 256 / SR)
    assert 4 < rates[np.argmax(rate)] < 6.5, "a 5 Hz vibrato"
    assert np.ptp(track) > 0.004 * f0
    organ = synth.render_note("organ", 60, 1.0, sample_rate=SR)[0]
    S, freqs, _ = power_spectrogram(organ, n_fft=8192, hop=1024)
    spectrum = S.sum(1)
    f0 = float(synth.midi_to_hz(60))
    level = lambda f: spectrum[np.argmin(np.abs(freqs - f))]
    assert level(f0 / 2) > 0.3 * level(f0), "the 16' drawbar sounds an octave below"


def test_drum_kit_pieces():
    def hit(number):
        return synth.render_note("drums", number, 0.1, sample_rate=44100)[0]

    def profile(x):
        S, freqs, t = power_spectrogram(x, 44100, 2048, 256)
        envelope = S.sum(0)
        return centroid(S, freqs), t[np.argmax(envelope < envelope.max() * 1e-3)]  # centroid, time to -30 dB

    kick, snare, closed, opened, ride, shaker, stick = (profile(hit(n)) for n in (36, 38, 42, 46, 51, 70, 37))
    assert kick[0] < 200 < 1000 < snare[0] < closed[0]
    assert closed[0] > 6000 and opened[0] > 6000 and shaker[0] > 4000
    assert opened[1] > 3 * closed[1], "an open hi-hat rings, a closed one chokes"
    assert ride[1] > 0.5 > stick[1]
    with pytest.raises(RiffnbError, match="no drum"):
        hit(99)


def onset_tempo(x, expected_bpm, sample_rate=SR, hop=256):
    """Tempo from the autocorrelation of spectral flux, searched within 0.7-1.4 beat periods of the expectation."""
    S = np.abs(stft(x, 1024, hop, 1024))
    flux = np.maximum(np.diff(np.log1p(1000 * S), axis=1), 0).sum(0)
    flux -= flux.mean()
    acf = np.correlate(flux, flux, "full")[flux.size - 1 :]
    fps = sample_rate / hop
    period = 60 / expected_bpm * fps
    lags = np.arange(int(0.7 * period), int(1.4 * period) + 1)
    best = lags[np.argmax(acf[lags])]
    assert lags[0] < best < lags[-1], "the strongest periodicity lies outside the search window"
    a, b, c = acf[best - 1 : best + 2]
    return 60 * fps / (best + 0.5 * (a - c) / (a - 2 * b + c))


@pytest.mark.parametrize("style, bpm", [("rock", 100), ("rock", 140), ("techno", 130), ("house", 122),
                                        ("waltz", 150), ("jazz_swing", 160), ("bossa_nova", 130), ("ballad", 70)])
def test_drums_play_at_the_requested_tempo(style, bpm):
    clip = synth.render(style, {"drums": "drums"}, bpm=bpm, duration_s=8.0, sample_rate=SR, seed=3)
    assert onset_tempo(clip.samples[0], bpm) == pytest.approx(bpm, rel=0.02)
