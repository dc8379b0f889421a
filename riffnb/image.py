"""Riffusion's spectrogram images: the 8-bit picture the diffusion model draws, byte for byte.

Encoding: divide by the maximum, raise to ``power`` (0.25 lifts quiet detail), scale to 0-255, invert (loud is
dark), truncate to uint8, flip so low frequencies are at the bottom. Mono images are RGB with three equal channels;
stereo images put the left channel in green and the right in blue, with red zero.
"""

from __future__ import annotations

import os
import typing as T

import numpy as np
from PIL import Image, UnidentifiedImageError

from .audio import atomic_output
from .errors import InvalidImageError
from .params import ExifTags, SpectrogramParams

#: Riffusion's decoding scale: images do not carry a usable maximum, and output audio is normalised anyway.
DEFAULT_MAX_VALUE = 30e6

_ACCEPTED_MODES = ("RGB", "L", "P")


def image_from_spectrogram(spectrogram: np.ndarray, power: float = 0.25) -> Image.Image:
    """Encode a magnitude spectrogram ``(channels, freq, time)`` (1 or 2 channels) as Riffusion's image.

    The spectrogram's maximum is stored in EXIF tag 11080 (MAX_VALUE). A silent (all-zero) spectrogram gives a
    white image.

    Examples
    --------
    >>> image = image_from_spectrogram(np.array([[[0.0, 1.0], [16.0, 81.0]]]))
    >>> image.size, image.mode, np.asarray(image)[..., 0].tolist()
    ((2, 2), 'RGB', [[85, 0], [255, 170]])
    """
    _check_power(power)
    spectrogram = np.asarray(spectrogram)
    if spectrogram.ndim != 3 or spectrogram.shape[0] not in (1, 2):
        raise ValueError(f"spectrogram must be (channels, freq, time) with 1 or 2 channels, got shape {spectrogram.shape}")
    if not np.isfinite(spectrogram).all() or (spectrogram < 0).any():
        raise ValueError("spectrogram must hold finite non-negative magnitudes")
    max_value = spectrogram.max()
    data = spectrogram / max_value if max_value > 0 else np.zeros_like(spectrogram)
    data = 255 - np.power(data, power) * 255
    data = data.astype(np.uint8)
    if data.shape[0] == 1:
        image = Image.fromarray(data[0], mode="L").convert("RGB")
    else:
        image = Image.fromarray(np.stack([np.zeros_like(data[0]), data[0], data[1]], axis=-1), mode="RGB")
    image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return tag_image(image, {ExifTags.MAX_VALUE: float(max_value)})


def tag_image(image: Image.Image, tags: T.Mapping[int, T.Any]) -> Image.Image:
    """Add EXIF ``tags`` to ``image`` (in place; returned for chaining) so that they survive copies and crops.

    Examples
    --------
    >>> tagged = tag_image(Image.new("RGB", (4, 4)), {ExifTags.SAMPLE_RATE: 22050})
    >>> tagged.crop((0, 0, 2, 4)).getexif()[ExifTags.SAMPLE_RATE]
    22050
    """
    exif = image.getexif()
    exif.update(tags)
    # PIL keeps getexif()'s edits on this object only; info["exif"] travels with copy(), crop() and transpose().
    image.info["exif"] = exif.tobytes()
    return image


def _check_power(power: float) -> None:
    if not power > 0:
        raise InvalidImageError(f"power must be positive (Riffusion's is 0.25), got {power!r}")


def spectrogram_from_image(
    image: T.Union[Image.Image, str, os.PathLike],
    power: float = 0.25,
    stereo: bool = False,
    max_value: float = DEFAULT_MAX_VALUE,
) -> np.ndarray:
    """Decode Riffusion's image (or the path of one) into a float32 magnitude spectrogram ``(channels, freq, time)``.

    Mono reads the red channel (all three are equal in a mono image), stereo green (left) and blue (right).

    Examples
    --------
    >>> S = np.random.default_rng(0).random((1, 8, 5))
    >>> back = spectrogram_from_image(image_from_spectrogram(S), max_value=S.max())
    >>> back.shape, bool(np.abs(back - S).max() < 0.1)
    ((1, 8, 5), True)
    """
    _check_power(power)
    image = load_image(image)
    check_image_mode(image)
    data = np.asarray(image.convert("RGB").transpose(Image.Transpose.FLIP_TOP_BOTTOM)).transpose(2, 0, 1)
    data = data[[1, 2]] if stereo else data[0:1]
    data = (255 - data.astype(np.float32)) / 255
    return np.power(data, 1 / power) * max_value


def check_image_mode(image: Image.Image) -> None:
    """Raise :class:`InvalidImageError` unless ``image`` is 8-bit RGB, grayscale, or a grayscale palette."""
    if image.mode not in _ACCEPTED_MODES:
        detail = {
            "RGBA": "it has an alpha channel",
            "LA": "it has an alpha channel",
            "I;16": "it is 16-bit",
            "I;16B": "it is 16-bit",
            "I": "it is 32-bit integer",
            "F": "it is floating point",
            "1": "it is 1-bit",
        }.get(image.mode, f"its mode is {image.mode}")
        raise InvalidImageError(
            f"not a spectrogram image: {detail}; riffnb reads 8-bit RGB or grayscale images "
            "(convert it, e.g. Image.open(path).convert('RGB'))"
        )
    if image.mode == "P":
        palette = np.asarray(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
        used = palette[np.unique(np.asarray(image))] if len(palette) else palette
        if len(used) and not (used == used[:, :1]).all():
            raise InvalidImageError(
                "not a spectrogram image: it uses a colour palette; riffnb reads 8-bit RGB or grayscale images "
                "(Riffusion's grayscale seed images are fine)"
            )


def check_spectrogram_image(image: Image.Image, params: SpectrogramParams) -> None:
    """Raise :class:`InvalidImageError` unless ``image`` can be decoded with ``params``."""
    check_image_mode(image)
    if image.height != params.num_frequencies:
        raise InvalidImageError(
            f"image is {image.width}x{image.height} but its parameters call for {params.num_frequencies} rows "
            f"(num_frequencies); resize it to height {params.num_frequencies} or pass matching SpectrogramParams"
        )


def load_image(image: T.Union[Image.Image, str, os.PathLike]) -> Image.Image:
    """Open and fully read an image, turning a missing, truncated or non-image file into one clear error."""
    if isinstance(image, Image.Image):
        return image
    if not isinstance(image, (str, os.PathLike)):
        raise InvalidImageError(
            f"expected a PIL image or the path of one, got {type(image).__name__}; "
            "turn a spectrogram array into an image with riffnb.image.image_from_spectrogram"
        )
    path = os.fspath(image)
    if not os.path.exists(path):
        raise InvalidImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidImageError(f"{path}: is a directory, not an image file")
    if _png_bit_depth(path) == 16:
        raise InvalidImageError(
            f"{path}: not a spectrogram image: it is a 16-bit PNG; riffnb reads 8-bit RGB or grayscale images "
            "(convert it to 8 bits per channel)"
        )
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.copy()
    except UnidentifiedImageError:
        raise InvalidImageError(f"{path}: not an image file riffnb can read (expected a PNG or JPEG)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImageError(f"{path}: damaged or truncated image ({error})") from None



def _png_bit_depth(path: str) -> int | None:
    """Bits per sample from a PNG's header (PIL opens 16-bit RGB PNGs as 8-bit RGB, hiding the lost precision)."""
    with open(path, "rb") as file:
        header = file.read(26)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR" or len(header) < 26:
        return None
    return header[24]


#: The image formats riffnb writes, by suffix (JPEG is lossy: fine to look at, not to decode exactly).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def image_format_for(path: T.Union[str, os.PathLike]) -> str:
    """The PIL format name for writing ``path`` (by suffix), or :class:`InvalidImageError` naming the choices."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in IMAGE_FORMATS:
        raise InvalidImageError(f"cannot write an image named {os.fspath(path)!r}; use .png (or .jpg, which is lossy)")
    return IMAGE_FORMATS[suffix]


def save_image(image: Image.Image, path: T.Union[str, os.PathLike], *, overwrite: bool = False) -> None:
    """Write ``image`` as PNG (or JPEG, by suffix) with its EXIF tags, atomically, never over an existing file.

    PIL's own ``image.save(path)`` drops EXIF unless given ``exif=image.getexif()``; this keeps Riffusion's tags
    so the file decodes with the parameters it was made with. A missing folder is created.
    """
    if not isinstance(image, Image.Image):
        raise InvalidImageError(
            f"save_image takes (image, path), got a {type(image).__name__} as the image; "
            "make one with riffnb.image.image_from_spectrogram or riffnb.image_from_audio"
        )
    image_format = image_format_for(path)
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        raise InvalidImageError(f"JPEG cannot hold a {image.mode} image; save it as .png, or convert('RGB') first")
    with atomic_output(path, overwrite) as temporary:
        image.save(temporary, format=image_format, exif=image.getexif())
