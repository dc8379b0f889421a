import numpy as np
import pytest
from riffusion_reference import riffusion_mel_spectrogram

from riffnb.audio import resample
from riffnb.errors import InvalidAudioError
from riffnb.image import image_from_spectrogram
from riffnb.params import ExifTags, SpectrogramParams, params_from_image
from riffnb.spectrogram import image_from_audio, spectrogram_from_audio


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(3)
    t = np.arange(int(2.0 * 44100)) / 44100
    notes = sum(0.2 * np.sin(2 * np.pi * f * t) * np.exp(-3 * ((t * 4) % 1)) for f in (196.0, 246.9, 293.7))
    return notes + 0.01 * rng.normal(size=t.size)


def test_mel_spectrogram_matches_riffusions_torch_chain(clip):
    ours = spectrogram_from_audio(clip, 44100)
    reference = riffusion_mel_spectrogram(clip)
    assert ours.shape == (1, 512, 1 + clip.size // 441) and ours.dtype == np.float32
    assert np.abs(ours[0] - reference).max() <= 1e-5 * reference.max()
    # int16 scaling, as pydub hands Riffusion its samples: music lands in Riffusion's MAX_VALUE range.
    assert 1e6 < ours.max() < 1e8


def test_image_from_audio_is_riffusions_image_with_exif(clip):
    image = image_from_audio(clip, 44100)
    expected = image_from_spectrogram(riffusion_mel_spectrogram(clip)[None].astype(np.float32))
    pixels, reference = np.asarray(image, dtype=int), np.asarray(expected, dtype=int)
    # Float rounding may move a pixel across a truncation boundary, never further.
    assert np.abs(pixels - reference).max() <= 1 and (pixels != reference).mean() < 1e-3
    assert params_from_image(image) == SpectrogramParams()
    assert image.getexif()[ExifTags.MAX_VALUE] == pytest.approx(float(spectrogram_from_audio(clip, 44100).max()))


def test_any_sample_rate_and_channel_count_in(clip):
    at_22k = resample(clip, 44100, 22050)
    stereo = np.stack([at_22k, at_22k])
    from_22k = spectrogram_from_audio(at_22k, 22050)
    assert from_22k.shape == (1, 512, 1 + clip.size // 441)
    assert np.allclose(spectrogram_from_audio(stereo, 22050), from_22k, rtol=1e-5, atol=1e-3 * from_22k.max())
    stereo_params = SpectrogramParams(stereo=True)
    assert spectrogram_from_audio(clip, 44100, stereo_params).shape[0] == 2
    image = image_from_audio(np.stack([clip, 0.5 * clip]), 44100, stereo_params)
    assert params_from_image(image).stereo


@pytest.mark.parametrize(
    "samples, message",
    [
        (np.zeros(0), "empty"),
        (np.full(44100, np.nan), "NaN"),
        (np.zeros(1000), "at least"),
    ],
)
def test_bad_audio_is_explained(samples, message):
    with pytest.raises(InvalidAudioError, match=message):
        spectrogram_from_audio(samples, 44100)


def test_three_channels_mix_to_mono_but_not_to_stereo():
    three = np.random.default_rng(0).normal(0, 0.1, (3, 44100))
    assert spectrogram_from_audio(three, 44100).shape[0] == 1
    with pytest.raises(InvalidAudioError, match="3-channel"):
        spectrogram_from_audio(three, 44100, SpectrogramParams(stereo=True))


def test_exif_survives_copies_and_crops(clip):
    params = SpectrogramParams(num_frequencies=128, step_size_ms=20)
    image = image_from_audio(clip, 44100, params)
    for derived in (image.copy(), image.crop((0, 0, 50, 128)), image.convert("RGB")):
        assert params_from_image(derived) == params
        assert derived.getexif()[ExifTags.MAX_VALUE] == image.getexif()[ExifTags.MAX_VALUE]


def test_griffin_lim_iterations_come_from_the_params(clip):
    from riffnb.spectrogram import audio_from_spectrogram

    spectrogram = spectrogram_from_audio(clip[:22050], 44100)
    for params, expected in ((SpectrogramParams(), 16), (SpectrogramParams(num_griffin_lim_iters=3), 3)):
        seen = []
        audio_from_spectrogram(spectrogram, params, callback=lambda i, *_: seen.append(i))
        assert max(seen) == expected
    seen = []
    audio_from_spectrogram(spectrogram, SpectrogramParams(num_griffin_lim_iters=3), n_iter=5,
                           callback=lambda i, *_: seen.append(i))
    assert max(seen) == 5
    with pytest.raises(Exception, match="num_griffin_lim_iters must be None or an integer >= 0"):
        SpectrogramParams(num_griffin_lim_iters=-1)
