import tracemalloc

import numpy as np
import pytest

from riffusion_reference import torchaudio_filterbank_by_formula

from riffnb.mel import hz_to_mel, linear_from_mel, mel_filterbank, mel_frequencies, mel_from_linear, mel_to_hz


@pytest.mark.parametrize("args", [(44100, 17640, 512, 0, 10000), (22050, 2048, 64, 20, 8000)])
def test_filterbank_matches_torchaudios_formula(args):
    fb = mel_filterbank(*args)
    assert np.abs(fb - torchaudio_filterbank_by_formula(*args)).max() < 1e-9


def test_filterbank_is_cached_and_read_only():
    fb = mel_filterbank(44100, 17640, 512, 0, 10000)
    assert mel_filterbank(44100, 17640, 512, 0, 10000) is fb
    with pytest.raises(ValueError):
        fb[0, 0] = 1.0


def test_mel_scales_invert_and_agree_with_librosa():
    import librosa

    f = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 10000.0])
    for scale in ("htk", "slaney"):
        assert np.allclose(mel_to_hz(hz_to_mel(f, scale), scale), f)
        assert np.allclose(hz_to_mel(f, scale), librosa.hz_to_mel(f, htk=scale == "htk"))
    slaney = mel_filterbank(22050, 2048, 40, 0, 11025, norm="slaney", mel_scale="slaney")
    assert np.allclose(slaney, librosa.filters.mel(sr=22050, n_fft=2048, n_mels=40, fmin=0, fmax=11025), atol=1e-6)
    assert mel_frequencies(3, 0, 10000).shape == (3,)


def test_semitone_scale_puts_one_note_in_each_band():
    notes = np.arange(21, 109)  # the piano's keys, A0 to C8
    hz = 440.0 * 2.0 ** ((notes - 69) / 12)
    assert np.allclose(hz_to_mel(hz, "semitone"), notes)
    assert np.allclose(mel_to_hz(notes, "semitone"), hz)
    # Band edges one semitone apart: the centres are the notes E1 (MIDI 28) to D#9 (123), each within 5 cents.
    centres = hz_to_mel(mel_frequencies(96, 39, 10548, "semitone"), "semitone")
    assert np.abs(centres - np.arange(28, 124)).max() < 0.05
    fb = mel_filterbank(22050, 4410, 96, 39, 10548, mel_scale="semitone")
    # A 440 Hz tone's bin (FFT bins are 5 Hz apart) lies at the peak of A4's band.
    assert fb[:, 88].argmax() == 69 - 28 and fb[69 - 28, 88] > 0.95
    assert fb.any(axis=1).all(), "every band, even the lowest, covers an FFT bin"


@pytest.mark.parametrize("function", [hz_to_mel, mel_to_hz])
def test_unknown_scale_is_refused_with_the_choices(function):
    with pytest.raises(ValueError, match="'htk', 'slaney', 'semitone'.*'bark'"):
        function(440.0, "bark")


@pytest.fixture(scope="module")
def riffusion_fb():
    return mel_filterbank(44100, 17640, 512, 0, 10000)


def band_limited_magnitude(frames=64, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = np.abs(rng.normal(size=(8821, frames))) * np.exp(-np.arange(8821) / 800)[:, None]
    spectrum[4001:] = 0
    return spectrum


def test_inversion_is_non_negative_and_reproduces_the_mel_spectrogram(riffusion_fb):
    mel = mel_from_linear(band_limited_magnitude(), riffusion_fb)
    for n_iter in (0, 20):
        linear = linear_from_mel(mel, riffusion_fb, n_iter=n_iter)
        assert linear.shape == (8821, 64) and linear.min() >= 0
        assert np.abs(linear[4001:]).max() == 0
        error = np.linalg.norm(mel_from_linear(linear, riffusion_fb) - mel) / np.linalg.norm(mel)
        assert error < 0.01


def test_refinement_lowers_the_error(riffusion_fb):
    mel = mel_from_linear(band_limited_magnitude(seed=3), riffusion_fb)
    errors = [np.linalg.norm(mel_from_linear(linear_from_mel(mel, riffusion_fb, n_iter=n), riffusion_fb) - mel)
              for n in (0, 30)]
    assert errors[1] < errors[0]


def test_inversion_keeps_leading_axes(riffusion_fb):
    mel = np.stack([mel_from_linear(band_limited_magnitude(8, seed), riffusion_fb) for seed in (1, 2)])
    linear = linear_from_mel(mel, riffusion_fb)
    assert linear.shape == (2, 8821, 8)
    assert np.allclose(linear[1], linear_from_mel(mel[1], riffusion_fb))


def test_inversion_of_a_whole_clip_needs_little_memory(riffusion_fb):
    mel = mel_from_linear(band_limited_magnitude(513), riffusion_fb)
    linear_from_mel(mel, riffusion_fb)  # factorise outside the measurement
    tracemalloc.start()
    linear_from_mel(mel, riffusion_fb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The output alone is 8821 x 513 float64 = 36 MB; librosa's mel_to_stft asks for 155 GiB here.
    assert peak < 150e6


def test_wrong_shape_is_reported(riffusion_fb):
    with pytest.raises(ValueError, match="512"):
        linear_from_mel(np.ones((100, 5)), riffusion_fb)
    with pytest.raises(ValueError, match="8821"):
        mel_from_linear(np.ones((100, 5)), riffusion_fb)


def test_an_edited_filterbank_is_inverted_afresh():
    fb = np.array(mel_filterbank(22050, 2048, 64, 20, 8000))
    S = np.abs(np.random.default_rng(0).normal(size=(1025, 3)))
    linear_from_mel(mel_from_linear(S, fb), fb)
    fb *= 2
    M = mel_from_linear(S, fb)
    assert np.linalg.norm(mel_from_linear(linear_from_mel(M, fb), fb) - M) / np.linalg.norm(M) < 0.05


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_rate=22050, n_fft=2048, n_mels=64, mel_scale="semitone"), "semitone scale has no band at 0 Hz"),
    (dict(sample_rate=22050, n_fft=2048, n_mels=64, f_min=8000, f_max=4000), "need 0 <= f_min < f_max"),
    (dict(sample_rate=22050, n_fft=2048, n_mels=64, f_max=20000), "need 0 <= f_min < f_max"),
    (dict(sample_rate=22050, n_fft=2048, n_mels=0), "must be positive"),
])
def test_filterbank_refuses_impossible_bands(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mel_filterbank(**kwargs)
