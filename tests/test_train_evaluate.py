"""The evaluation judges: features of corpus audio and classifiers that tell instruments and registers apart."""

from __future__ import annotations

import dataclasses

import numpy as np

from riffnb.train.corpus import corpus_specs, image_array, render_spec
from riffnb.train.evaluate import SoftmaxClassifier, audio_features, image_features, solo_specs


def test_solo_specs_keep_only_the_lead():
    specs = corpus_specs("eval", 30)
    solos = solo_specs(specs)
    assert all(solo.instruments == (spec.lead,) for solo, spec in zip(solos, specs))
    assert any(len(spec.instruments) > 1 for spec in specs)


def test_features_of_audio_and_of_its_image_agree_and_pad_short_audio():
    spec = solo_specs(corpus_specs("eval", 1))[0]
    samples = render_spec(spec)
    features = audio_features(samples)
    assert np.allclose(features, image_features(image_array(samples)))
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
