"""The evaluation judges: features of corpus audio and classifiers that tell instruments and registers apart."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import soundfile

from riffnb.errors import OutputExistsError, RiffnbError
from riffnb.train import evaluate
from riffnb.train.corpus import TINY_PARAMS, corpus_specs, image_array, render_spec
from riffnb.train.evaluate import (
    JUDGE_PARAMS,
    LISTENING_COLUMNS,
    Judged,
    SoftmaxClassifier,
    audio_features,
    corpus_clip_as_drawn,
    image_features,
    solo_specs,
    write_listening_sheet,
)


def test_solo_specs_keep_only_the_lead():
    specs = corpus_specs("eval", 30)
    solos = solo_specs(specs)
    assert all(solo.instruments == (spec.lead,) for solo, spec in zip(solos, specs))
    assert any(len(spec.instruments) > 1 for spec in specs)


def test_features_of_audio_and_of_its_image_agree_and_pad_short_audio():
    spec = solo_specs(corpus_specs("eval", 1))[0]
    samples = render_spec(spec)
    features = audio_features(samples)
    assert np.allclose(features, image_features(image_array(samples, JUDGE_PARAMS)))
    assert features.shape == (128 * 2 + 16 + 91,)
    shortened = audio_features(samples[:, :-300])  # what a rebuilt 256-column image gives back
    assert shortened.shape == features.shape and np.isfinite(shortened).all()


def test_classifier_tells_instruments_apart_on_held_out_clips():
    wanted = ("drums", "flute", "bass", "strings")
    specs = [dataclasses.replace(s, instruments=(wanted[i % 4],)) for i, s in enumerate(corpus_specs("eval", 48))]
    features = np.stack([audio_features(render_spec(spec)) for spec in specs])
    labels = [spec.lead for spec in specs]
    classifier = SoftmaxClassifier().fit(features[:36], labels[:36])
    assert classifier.classes == sorted(wanted)
    assert classifier.accuracy(features[36:], labels[36:]) >= 0.75
    shuffled = list(np.random.default_rng(0).permutation(labels[:36]))
    # Trained on shuffled labels it must do worse: the accuracy above comes from the audio.
    assert SoftmaxClassifier().fit(features[:36], shuffled).accuracy(features[36:], labels[36:]) < 0.75


def test_listening_sheet_keeps_every_clip_playable_beside_its_verdict(tiny_pipe, tmp_path):
    clips = [tiny_pipe.text_to_audio(prompt, seed=seed, steps=2, width=64)
             for prompt, seed in (("a flute <solo>", 3), ("slow piano", 4))]
    spec = dataclasses.replace(solo_specs(corpus_specs("eval", 1))[0], instruments=("flute",))
    flute = corpus_clip_as_drawn(tiny_pipe, spec, "a flute <solo>")
    rows = [Judged(clips[0], "instrument", "flute", "flute", corpus_clip=flute),
            Judged(clips[1], "tempo", "slow", "fast")]
    folder = tmp_path / "listen"
    page = write_listening_sheet(folder, rows, title="two clips")

    with open(folder / "listening.csv", newline="", encoding="utf-8") as file:
        records = list(csv.DictReader(file))
    assert tuple(records[0]) == LISTENING_COLUMNS
    assert [(r["prompt"], r["seed"], r["asked"], r["judged"], r["heard"]) for r in records] == [
        ("a flute <solo>", "3", "flute", "flute", ""), ("slow piano", "4", "slow", "fast", "")]
    assert records[0]["corpus_file"] == records[0]["file"].replace(".wav", "_corpus.wav")
    assert records[1]["corpus_file"] == ""
    text = page.read_text(encoding="utf-8")
    for file, clip in [(r["file"], c) for r, c in zip(records, clips)] + [(records[0]["corpus_file"], flute)]:
        samples, rate = soundfile.read(folder / file, always_2d=True)
        assert rate == clip.sample_rate and samples.shape[0] == clip.samples.shape[-1]
        assert f'src="{file}"' in text and (folder / file).with_suffix(".png").is_file()
    assert text.count("<audio") == 3
    settings = json.loads((folder / records[0]["corpus_file"]).with_suffix(".json").read_text())
    assert settings["mode"] == "corpus clip" and settings["spec"]["instruments"] == ["flute"]
    assert "a flute &lt;solo&gt;" in text and text.count('class="miss"') == 1  # only the judge's disagreement
    (tmp_path / "plain").mkdir()
    assert folder.stat().st_mode == (tmp_path / "plain").stat().st_mode  # not private, as mkdtemp would make it
    (tmp_path / "plain").rmdir()

    # A folder that holds something is refused and left as it was; a failed write leaves nothing behind.
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(OutputExistsError, match="name a new folder"):
        write_listening_sheet(folder, rows)
    assert sorted(p.name for p in folder.iterdir()) == before
    broken = [rows[0], Judged(dataclasses.replace(clips[1], sample_rate=0), "tempo", "slow", "slow")]
    with pytest.raises(RiffnbError):
        write_listening_sheet(tmp_path / "broken", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["listen"]


def test_judges_keep_their_features_in_the_cache_file_named(tmp_path, monkeypatch):
    cache = tmp_path / "judges.features"  # no .npy suffix: the file must still be this one
    first = evaluate.train_judges(24, cache=cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judges.features"]

    def no_rendering(spec):
        raise AssertionError("the cached features should have been used")

    monkeypatch.setattr(evaluate, "render_spec", no_rendering)
    second = evaluate.train_judges(24, cache=cache)
    assert second.reference_accuracy == first.reference_accuracy
    assert second.instrument.classes == first.instrument.classes


def test_in_tune_fraction_tells_a_melody_in_tune_from_one_between_the_notes():
    solo = {spec.lead: spec for spec in reversed(solo_specs(corpus_specs("eval", 200)))}  # each lead's first clip
    rate = TINY_PARAMS.sample_rate
    melody = render_spec(solo["flute"])
    assert evaluate.in_tune_fraction(melody, rate) > 0.9
    # The same samples read at a 40-cent higher rate: every note lands 40 cents sharp, between two notes.
    assert evaluate.in_tune_fraction(melody, rate * 2 ** (40 / 1200)) < 0.2
    assert np.isnan(evaluate.in_tune_fraction(render_spec(solo["drums"]), rate))


def test_the_outside_ear_hears_notes_in_corpus_clips_and_none_once_their_harmonics_are_smeared():
    from PIL import Image
    from scipy.ndimage import gaussian_filter1d

    import riffnb

    solo = {spec.lead: spec for spec in reversed(solo_specs(corpus_specs("eval", 200)))}
    rate = TINY_PARAMS.sample_rate
    piano = render_spec(solo["piano"])
    assert evaluate.note_posteriors(piano, rate).shape == (int(piano.shape[-1] * 86 / rate), 88)  # 86 frames a second
    assert evaluate.notes_heard(piano, rate) > 0.9
    assert evaluate.notes_heard(render_spec(solo["drums"]), rate) < 0.2
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, piano.shape[-1])
    assert evaluate.notes_heard(noise, rate) < 0.05

    def heard_from(pixels: np.ndarray) -> float:
        image = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8)).convert("RGB")
        return evaluate.notes_heard(*riffnb.audio_from_image(image, params=TINY_PARAMS))

    # Rebuilt from its image the piano is still heard; with every harmonic smeared over a band or two of the image
    # (what a blurring decoder does to chords) it is not, though loudness, rhythm and pitch range are all still there.
    pixels = image_array(piano, TINY_PARAMS).astype(float)
    assert heard_from(pixels) > 0.8
    assert heard_from(gaussian_filter1d(pixels, 1.5, axis=0)) < 0.05


def test_the_outside_ear_says_how_to_install_it_when_it_is_missing(monkeypatch):
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    evaluate._basic_pitch_session.cache_clear()
    monkeypatch.setattr(metadata, "distribution", not_installed)
    try:
        with pytest.raises(RiffnbError, match="pip install onnxruntime && pip install --no-deps basic-pitch"):
            evaluate.notes_heard(np.zeros(22050, np.float32), 22050)
    finally:
        evaluate._basic_pitch_session.cache_clear()
