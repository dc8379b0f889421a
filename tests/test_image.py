import io

import numpy as np
import pytest
from PIL import Image

from riffusion_reference import riffusion_decode, riffusion_encode

from riffnb.errors import InvalidImageError, OutputExistsError
from riffnb.image import (
    check_spectrogram_image,
    image_from_spectrogram,
    load_image,
    save_image,
    spectrogram_from_image,
)
from riffnb.params import ExifTags, SpectrogramParams


@pytest.fixture
def spectrogram():
    rng = np.random.default_rng(7)
    return (rng.gamma(0.3, 1.0, size=(1, 512, 513)) * 3e6).astype(np.float32)


def test_mono_encoding_is_byte_exact(spectrogram):
    image = image_from_spectrogram(spectrogram)
    assert image.mode == "RGB" and image.size == (513, 512)
    assert np.array_equal(np.asarray(image), riffusion_encode(spectrogram))
    assert image.getexif()[ExifTags.MAX_VALUE] == pytest.approx(float(spectrogram.max()))


def test_stereo_encoding_is_byte_exact_and_channel_layout(spectrogram):
    stereo = np.concatenate([spectrogram, spectrogram[:, ::-1] * 0.5])
    pixels = np.asarray(image_from_spectrogram(stereo))
    assert np.array_equal(pixels, riffusion_encode(stereo))
    assert (pixels[..., 0] == 0).all()
    assert not np.array_equal(pixels[..., 1], pixels[..., 2])


@pytest.mark.parametrize("power", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("stereo", [False, True])
def test_decoding_is_exact_for_saved_pngs(tmp_path, spectrogram, power, stereo):
    if stereo:
        spectrogram = np.concatenate([spectrogram, spectrogram * 0.3])
    save_image(image_from_spectrogram(spectrogram, power), tmp_path / "s.png")
    loaded = load_image(tmp_path / "s.png")
    ours = spectrogram_from_image(loaded, power=power, stereo=stereo)
    reference = riffusion_decode(np.asarray(loaded), power=power, stereo=stereo)
    assert ours.dtype == np.float32 and np.array_equal(ours, reference)


def test_low_frequencies_are_at_the_bottom():
    spectrogram = np.zeros((1, 8, 3))
    spectrogram[0, 0] = 1.0  # lowest bin loud
    pixels = np.asarray(image_from_spectrogram(spectrogram))[..., 0]
    assert (pixels[-1] == 0).all() and (pixels[:-1] == 255).all()


def test_silence_is_a_white_image():
    pixels = np.asarray(image_from_spectrogram(np.zeros((1, 4, 4))))
    assert (pixels == 255).all()


def test_grayscale_and_grayscale_palette_images_decode_like_rgb(spectrogram):
    rgb = image_from_spectrogram(spectrogram)
    gray = rgb.convert("L")
    palette = gray.convert("P")  # Riffusion's seed images come as such
    expected = spectrogram_from_image(rgb)
    assert np.array_equal(spectrogram_from_image(gray), expected)
    assert np.array_equal(spectrogram_from_image(palette), expected)


@pytest.mark.parametrize(
    "image, message",
    [
        (Image.new("RGBA", (4, 512)), "alpha"),
        (Image.new("I;16", (4, 512)), "16-bit"),
        (Image.new("RGB", (4, 512), (255, 0, 0)).convert("P", palette=Image.Palette.ADAPTIVE), "colour palette"),
        (Image.new("F", (4, 512)), "floating point"),
    ],
)
def test_unusable_modes_are_refused(image, message):
    with pytest.raises(InvalidImageError, match=message):
        spectrogram_from_image(image)


def test_wrong_height_names_the_fix():
    with pytest.raises(InvalidImageError, match="height 512"):
        check_spectrogram_image(Image.new("RGB", (512, 500)), SpectrogramParams())


def test_bad_files(tmp_path):
    with pytest.raises(InvalidImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(InvalidImageError, match="not an image"):
        load_image(tmp_path / "text.png")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:-40])
    with pytest.raises(InvalidImageError, match="truncated"):
        load_image(tmp_path / "cut.png")


def test_save_never_overwrites_unless_told(tmp_path):
    target = tmp_path / "s.png"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="overwrite"):
        save_image(Image.new("RGB", (2, 2)), target)
    assert target.read_bytes() == b"keep me"
    save_image(Image.new("RGB", (2, 2)), target, overwrite=True)
    assert load_image(target).size == (2, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]


def png_bytes_rgb16(width, height):
    """A 16-bit-per-channel RGB PNG, which PIL would open as plain 8-bit RGB."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x12\x34" * 3 * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_rgb_png_is_refused(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(png_bytes_rgb16(4, 512))
    assert Image.open(path).mode == "RGB"  # what PIL alone would let through
    with pytest.raises(InvalidImageError, match="16-bit"):
        load_image(path)


def test_image_mistakes_get_named(tmp_path):
    spectrogram = np.random.default_rng(0).random((1, 8, 5))
    image = image_from_spectrogram(spectrogram)
    with pytest.raises(InvalidImageError, match=r"save_image takes \(image, path\)"):
        save_image(np.asarray(image), tmp_path / "a.png")
    with pytest.raises(InvalidImageError, match="JPEG cannot hold a RGBA image"):
        save_image(image.convert("RGBA"), tmp_path / "a.jpg")
    for bad_power in (0, -1):
        with pytest.raises(InvalidImageError, match="power must be positive"):
            image_from_spectrogram(spectrogram, power=bad_power)
        with pytest.raises(InvalidImageError, match="power must be positive"):
            spectrogram_from_image(image, power=bad_power)
    with pytest.raises(InvalidImageError, match="expected a PIL image or the path of one, got ndarray"):
        spectrogram_from_image(np.asarray(image))
    assert not any(tmp_path.iterdir())
    save_image(image, tmp_path / "b.png")
    assert spectrogram_from_image(tmp_path / "b.png").shape == (1, 8, 5)
