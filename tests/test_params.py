import dataclasses

import numpy as np
import pytest
from PIL import Image

from riffnb.errors import InvalidImageError
from riffnb.image import load_image, save_image
from riffnb.params import ExifTags, SpectrogramParams, max_value_from_image, params_from_image


def test_defaults_are_riffusions():
    p = SpectrogramParams()
    assert (p.n_fft, p.win_length, p.hop_length) == (17640, 4410, 441)
    assert (p.stereo, p.sample_rate, p.num_frequencies, p.min_frequency, p.max_frequency) == (
        False, 44100, 512, 0, 10000
    )
    assert (p.mel_scale_norm, p.mel_scale_type, p.num_griffin_lim_iters, p.power_for_image) == (None, "htk", None, 0.25)
    assert p.duration_of(512) == pytest.approx(5.12)
    assert p.columns_for(5.12) == 512


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SpectrogramParams().sample_rate = 22050


def test_exif_uses_riffusions_tag_numbers():
    exif = SpectrogramParams(stereo=True, max_frequency=20000).to_exif()
    assert exif[11000] == 44100 and exif[11005] is True and exif[11060] == 20000
    assert exif[11070] == 0.25 and isinstance(exif[11070], float)
    assert sorted(exif) == [11000, 11005, 11010, 11020, 11030, 11040, 11050, 11060, 11070, 11090]
    assert exif[11090] == "htk"  # riffnb's own tag: the frequency scale


def test_exif_round_trips_through_a_png_file(tmp_path):
    params = SpectrogramParams(stereo=True, step_size_ms=20, num_frequencies=64, min_frequency=40, max_frequency=8000,
                               mel_scale_type="semitone", power_for_image=0.5)
    image = Image.new("RGB", (10, 64))
    image.getexif().update(params.to_exif())
    image.getexif()[ExifTags.MAX_VALUE] = 1.5e7
    save_image(image, tmp_path / "x.png")
    loaded = load_image(tmp_path / "x.png")
    assert params_from_image(loaded) == params
    assert max_value_from_image(loaded) == pytest.approx(1.5e7)


def test_image_without_exif_decodes_with_defaults_and_its_exif_wins():
    plain = Image.new("L", (4, 512))
    assert params_from_image(plain) == SpectrogramParams()
    assert max_value_from_image(plain) is None
    custom = SpectrogramParams(num_frequencies=128, mel_scale_type="slaney")
    assert params_from_image(plain, default=custom) == custom
    tagged = Image.new("RGB", (4, 256))
    tagged.getexif().update(SpectrogramParams(num_frequencies=256).to_exif())
    decoded = params_from_image(tagged, default=custom)
    # The stored tags win (riffnb's scale tag too); what EXIF cannot store comes from the default.
    assert decoded.num_frequencies == 256 and decoded.mel_scale_type == "htk"
    with_norm = dataclasses.replace(custom, mel_scale_norm="slaney")
    assert params_from_image(tagged, default=with_norm).mel_scale_norm == "slaney"
    # Riffusion's own images carry its tags but not the scale: that comes from the default.
    del tagged.getexif()[ExifTags.MEL_SCALE_TYPE]
    assert params_from_image(tagged, default=custom).mel_scale_type == "slaney"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_frequency": 30000}, "max_frequency"),
        ({"num_frequencies": 0}, "num_frequencies"),
        ({"mel_scale_type": "bark"}, "mel_scale_type"),
        ({"mel_scale_type": "semitone"}, "min_frequency must be positive"),
        ({"window_duration_ms": 500}, "win_length <= n_fft"),
        # A typo here once filled 24 GB and got the process killed.
        ({"num_frequencies": 100000}, "num_frequencies must be at most the STFT's 8821 frequency bins"),
        ({"power_for_image": float("inf")}, "power_for_image must be a finite number, got inf"),
        ({"step_size_ms": float("nan")}, "step_size_ms must be a finite number, got nan"),
        ({"max_frequency": "10k"}, "max_frequency must be a finite number"),
    ],
)
def test_invalid_params_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectrogramParams(**kwargs)


def test_nonsense_exif_gives_an_image_error():
    image = Image.new("RGB", (4, 512))
    image.getexif()[ExifTags.MAX_FREQUENCY] = 99999
    with pytest.raises(InvalidImageError, match="EXIF"):
        params_from_image(image)
