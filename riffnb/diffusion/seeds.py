"""Seed images and masks: the spectrograms a riff starts from, by name, file, audio or image.

Riffusion's app riffs every clip from a *seed image* (``og_beat`` by default), which gives its endless music a
steady beat, and can hold parts of it fixed with a *mask*. Two sources of named seeds:

- riffnb's own (:data:`SEEDS`): loops riffnb composes and plays itself with :mod:`riffnb.synth` and turns into
  spectrogram images at the model's parameters. They work offline and at any width; their tempo makes 5.12 s (one
  512-column image) a whole number of bars, so they loop seamlessly like Riffusion's.
- Riffusion's (:data:`RIFFUSION_SEED_IMAGES`, :data:`RIFFUSION_MASKS`): 512x512 grayscale PNGs without EXIF (they
  decode with Riffusion's default parameters), downloaded from the model repository on first use; offline, one
  line says so.

:func:`resolve_source` and :func:`resolve_mask` turn whatever a user passes into an image.
"""

from __future__ import annotations

import functools
import os
import typing as T

import numpy as np

from ..errors import InvalidImageError, RiffnbError
from ..image import tag_image
from ..params import SpectrogramParams

if T.TYPE_CHECKING:
    from PIL import Image

#: Riffusion's seed images (``seed_images/<name>.png`` in its repositories).
RIFFUSION_SEED_IMAGES = ("og_beat", "agile", "marim", "motorway", "vibes")

#: Riffusion's masks: white is repainted, black kept.
RIFFUSION_MASKS = (
    "mask_beat_lines_80",
    "mask_gradient_dark",
    "mask_gradient_top_70",
    "mask_gradient_top_fifth_75",
    "mask_top_third_75",
    "mask_top_third_95",
)

#: Where Riffusion's seed images and masks are downloaded from.
RIFFUSION_SEED_REPO = "riffusion/riffusion-model-v1"

# 5.12 s is 8 beats at 93.75 BPM and 12 at 140.625: whole 4/4 bars, so a 512-column seed loops cleanly.
_SLOW_BPM = 93.75
_FAST_BPM = 140.625

#: riffnb's own seed loops: name -> (description, arguments of :func:`riffnb.synth.render`).
SEEDS: dict[str, tuple[str, dict[str, T.Any]]] = {
    "beat": (
        "a rock drum beat (kick, snare backbeat, hi-hats), the counterpart of Riffusion's og_beat",
        {"style": "rock", "instruments": {"drums": "drums"}, "bpm": _SLOW_BPM},
    ),
    "arpeggio": (
        "piano arpeggios over a bass note, mallet-like, the counterpart of Riffusion's marim",
        {"style": "ballad", "instruments": {"arpeggio": "piano", "bass": "piano"}, "bpm": _SLOW_BPM, "key": "A",
         "mode": "minor", "register": "high"},
    ),
    "techno": (
        "four-on-the-floor techno with an off-beat synth bass, the counterpart of Riffusion's motorway",
        {"style": "techno", "bpm": _FAST_BPM, "key": "E", "mode": "minor"},
    ),
    "bossa": (
        "a bossa nova on guitar, bass and light percussion, the counterpart of Riffusion's vibes",
        {"style": "bossa_nova", "bpm": _FAST_BPM, "key": "D", "mode": "major"},
    ),
}

#: The seed riffnb riffs from when none is given.
DEFAULT_SEED_IMAGE = "beat"

#: File suffixes read as images (anything else is read as audio).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class SeedImageError(RiffnbError):
    """A seed image or mask that cannot be found or downloaded."""


def _known_names() -> str:
    return f"riffnb's {', '.join(SEEDS)}; Riffusion's {', '.join(RIFFUSION_SEED_IMAGES)}"


def seed_audio(name: str, params: SpectrogramParams | None = None, width: int = 512) -> tuple[np.ndarray, int]:
    """The audio of riffnb's seed ``name``: as long as ``width`` image columns, at ``params.sample_rate``.

    Examples
    --------
    >>> samples, sample_rate = seed_audio("beat", width=100)
    >>> samples.shape, sample_rate
    ((1, 44100), 44100)
    """
    from ..synth import render

    if name not in SEEDS:
        raise SeedImageError(f"riffnb has no seed {name!r}; its seeds are {', '.join(SEEDS)}")
    params = params or SpectrogramParams()
    if width < 1:
        raise SeedImageError(f"a seed image needs a positive width, got {width}")
    options = {"key": "A", "mode": "minor", **SEEDS[name][1]}
    rendering = render(duration_s=params.duration_of(width), sample_rate=params.sample_rate, seed=0, **options)
    return rendering.samples, params.sample_rate


@functools.lru_cache(maxsize=32)
def _own_seed_image(name: str, params: SpectrogramParams, width: int) -> "Image.Image":
    from ..spectrogram import image_from_audio

    samples, sample_rate = seed_audio(name, params, width)
    image = image_from_audio(samples, sample_rate, params)
    # width columns of hops give width + 1 STFT frames; Riffusion's images are the first width.
    return _with_exif_of(image.crop((0, 0, width, image.height)), image)


def seed_image(
    name: str, params: SpectrogramParams | None = None, width: int = 512, *, repo: str = RIFFUSION_SEED_REPO
) -> "Image.Image":
    """A named seed image: one of riffnb's :data:`SEEDS` (made at ``params``, ``width`` columns wide) or one of
    Riffusion's :data:`RIFFUSION_SEED_IMAGES` (512x512, downloaded; ``params`` and ``width`` do not apply).

    Examples
    --------
    >>> seed_image("beat", width=64).size
    (64, 512)
    """
    if name in SEEDS:
        cached = _own_seed_image(name, params or SpectrogramParams(), int(width))
        return _with_exif_of(cached.copy(), cached)
    if name in RIFFUSION_SEED_IMAGES:
        return riffusion_image(name, repo=repo)
    raise SeedImageError(f"no seed image named {name!r}; the names are {_known_names()}")


def riffusion_image(
    name: str, *, repo: str = RIFFUSION_SEED_REPO, revision: str | None = None, token: str | None = None
) -> "Image.Image":
    """Riffusion's seed image or mask ``name``: from the Hugging Face cache, else downloaded from ``repo``.

    Offline, gated or missing, it fails within seconds with one line that says so.
    """
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    from ..image import load_image
    from .loading import HUB_TIMEOUT, hub_offline, network_error_types

    if name not in RIFFUSION_SEED_IMAGES + RIFFUSION_MASKS:
        raise SeedImageError(
            f"Riffusion has no seed image or mask {name!r}; seed images: {', '.join(RIFFUSION_SEED_IMAGES)}; "
            f"masks: {', '.join(RIFFUSION_MASKS)}"
        )
    filename = f"seed_images/{name}.png"
    instead = f"use one of riffnb's own seed images ({', '.join(SEEDS)}) or pass an image file"
    download = functools.partial(huggingface_hub.hf_hub_download, repo, filename, revision=revision, token=token)
    try:
        return load_image(download(local_files_only=True))
    except hub_errors.LocalEntryNotFoundError:
        pass
    if hub_offline():
        raise SeedImageError(
            f"HF_HUB_OFFLINE is set and Riffusion's {name!r} is not in the Hugging Face cache; {instead}"
        )
    network_errors = network_error_types()

    def unreachable(error: BaseException) -> SeedImageError:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return SeedImageError(f"cannot download Riffusion's {name!r} from {repo} ({detail}); {instead}")

    gated = SeedImageError(
        f"{repo} is gated: accept its terms at https://huggingface.co/{repo} and log in (`hf auth login`) to "
        f"download {filename}; or {instead}"
    )
    # One quick question first: the download itself retries for half a minute when the hub cannot be reached.
    try:
        info = huggingface_hub.HfApi().model_info(repo, revision=revision, token=token, timeout=HUB_TIMEOUT)
    except hub_errors.GatedRepoError:
        raise gated from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError):
        raise SeedImageError(f"{repo} (revision {revision or 'main'}) is not on the hub; {instead}") from None
    except (hub_errors.HfHubHTTPError, *network_errors) as error:
        raise unreachable(error) from None
    if info.siblings is not None and filename not in {sibling.rfilename for sibling in info.siblings}:
        raise SeedImageError(f"{repo} has no {filename}; {instead}")
    try:
        return load_image(download(etag_timeout=HUB_TIMEOUT))
    except hub_errors.GatedRepoError:
        raise gated from None
    except hub_errors.EntryNotFoundError as error:
        raise unreachable(error) from None
    except (hub_errors.HfHubHTTPError, *network_errors) as error:
        raise unreachable(error) from None


# ---------------------------------------------------------------------------------------------------------------
# Whatever the user passes -> an image


def resolve_source(
    source: T.Any, params: SpectrogramParams, *, multiple: int = 8, width: int = 512
) -> tuple["Image.Image", str | None]:
    """The spectrogram image a riff starts from, and a name for it (None when it has none).

    ``source`` is a PIL image, a :class:`~riffnb.diffusion.clip.Clip`, ``(samples, sample_rate)``, the path of an
    image or of an audio file (turned into an image at ``params``), or a seed image name (:func:`seed_image`,
    512 columns). The image must be ``params.num_frequencies`` rows tall; its width is brought to the nearest
    multiple of ``multiple`` (the VAE's factor) by cropping or repeating the last few columns.
    """
    from PIL import Image

    from ..audio import load_audio
    from ..image import check_spectrogram_image, load_image
    from ..spectrogram import image_from_audio
    from .clip import Clip

    name: str | None = None
    if isinstance(source, Clip):
        image = source.image
    elif isinstance(source, Image.Image):
        image = source
    elif isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], np.ndarray):
        samples, sample_rate = source
        image = image_from_audio(samples, int(sample_rate), params)
        name = "audio"
    elif isinstance(source, np.ndarray):
        raise RiffnbError("pass audio as (samples, sample_rate), e.g. riffnb.load_audio(path), not bare samples")
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if os.path.exists(name) or os.path.splitext(name)[1]:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                image = load_image(name)
            else:
                image = image_from_audio(*load_audio(name), params)
        elif name in SEEDS or name in RIFFUSION_SEED_IMAGES:
            image = seed_image(name, params, width)
        else:
            raise SeedImageError(f"{name}: no such file, and no seed image of that name ({_known_names()})")
    else:
        raise RiffnbError(
            f"cannot riff a {type(source).__name__}; pass an image, an image or audio file, (samples, sample_rate), "
            "a Clip or a seed image name"
        )
    if image.mode == "P":
        check_spectrogram_image(image, params)
        image = _with_exif_of(image.convert("RGB"), image)
    check_spectrogram_image(image, params)
    return fit_width(image, multiple), name


def fit_width(image: "Image.Image", multiple: int = 8) -> "Image.Image":
    """``image`` with its width at the nearest multiple of ``multiple``: extra columns cropped from the right, or
    the last column repeated (EXIF kept). 513 columns (5.12 s of audio) become 512, as Riffusion draws them.

    Examples
    --------
    >>> from PIL import Image
    >>> fit_width(Image.new("RGB", (513, 64))).size, fit_width(Image.new("RGB", (21, 64))).size
    ((512, 64), (24, 64))
    """
    from PIL import Image

    width = max(multiple, int(round(image.width / multiple)) * multiple)
    if width == image.width:
        return image
    if width < image.width:
        fitted = image.crop((0, 0, width, image.height))
    else:
        pixels = np.asarray(image)
        padding = [(0, 0), (0, width - image.width)] + [(0, 0)] * (pixels.ndim - 2)
        fitted = Image.fromarray(np.pad(pixels, padding, mode="edge"), mode=image.mode)
    return _with_exif_of(fitted, image)


def _with_exif_of(image: "Image.Image", original: "Image.Image") -> "Image.Image":
    # Images read from files or made before tag_image carry their tags in getexif() only, which copies drop.
    return tag_image(image, original.getexif())


def resolve_mask(mask: T.Any) -> tuple["Image.Image | None", str | None]:
    """A mask image and its name from a PIL image, an image path or a Riffusion mask name (None: no mask).

    Any size: it is stretched over the source. White is repainted, black kept, gray in between.
    """
    from PIL import Image

    from ..image import load_image

    if mask is None:
        return None, None
    if isinstance(mask, Image.Image):
        return mask, None
    if isinstance(mask, (str, os.PathLike)):
        name = os.fspath(mask)
        if os.path.exists(name) or name not in RIFFUSION_MASKS:
            if not os.path.exists(name):
                raise InvalidImageError(
                    f"{name}: no such mask file, and no Riffusion mask of that name ({', '.join(RIFFUSION_MASKS)})"
                )
            return load_image(name), name
        return riffusion_image(name), name
    raise RiffnbError(f"a mask is an image, an image path or a Riffusion mask name, not a {type(mask).__name__}")
