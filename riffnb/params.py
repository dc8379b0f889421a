"""Spectrogram parameters, exactly as Riffusion defines them, and their EXIF round trip.

Riffusion writes the parameters an image was made with into the PNG's EXIF block under tags 11000-11080, so an
image can be turned back into audio without knowing how it was made. riffnb adds one tag of its own, 11090, for the
frequency scale (Riffusion only ever uses the HTK mel scale, and does not store it). Images without EXIF
(Riffusion's own seed images) decode with the defaults; an image's EXIF, when present, wins.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
import typing as T

from .errors import InvalidImageError, InvalidParamsError

if T.TYPE_CHECKING:
    from PIL import Image


class ExifTags(enum.IntEnum):
    """Riffusion's private EXIF tag numbers."""

    SAMPLE_RATE = 11000
    STEREO = 11005
    STEP_SIZE_MS = 11010
    WINDOW_DURATION_MS = 11020
    PADDED_DURATION_MS = 11030
    NUM_FREQUENCIES = 11040
    MIN_FREQUENCY = 11050
    MAX_FREQUENCY = 11060
    POWER_FOR_IMAGE = 11070
    MAX_VALUE = 11080
    #: riffnb's own: the frequency scale (``mel_scale_type``), which Riffusion's readers ignore.
    MEL_SCALE_TYPE = 11090


#: The frequency scales of the image's rows (see :func:`riffnb.mel.hz_to_mel`): Riffusion's HTK mel, Slaney's mel,
#: and equal-tempered semitones.
MEL_SCALES = ("htk", "slaney", "semitone")

#: The fields that are numbers of ms, Hz or a power: NaN or infinity in one would reach the STFT sizes or the EXIF.
_REAL_FIELDS = ("step_size_ms", "window_duration_ms", "padded_duration_ms", "min_frequency", "max_frequency",
                "power_for_image")


def _is_finite(value: T.Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class SpectrogramParams:
    """How audio becomes a mel spectrogram image and back; Riffusion's field names and defaults.

    Durations are in milliseconds and turned into samples with Riffusion's truncating ``int(ms / 1000 * sr)``.

    Examples
    --------
    >>> p = SpectrogramParams()
    >>> p.n_fft, p.win_length, p.hop_length
    (17640, 4410, 441)
    >>> SpectrogramParams.from_exif(p.to_exif()) == p
    True
    """

    stereo: bool = False
    sample_rate: int = 44100
    step_size_ms: int = 10
    window_duration_ms: int = 100
    padded_duration_ms: int = 400
    num_frequencies: int = 512
    min_frequency: int = 0
    max_frequency: int = 10000
    mel_scale_norm: T.Optional[str] = None
    mel_scale_type: str = "htk"
    #: Griffin-Lim iterations :func:`riffnb.spectrogram.audio_from_spectrogram` runs unless told ``n_iter``. None
    #: (the default) leaves it to :func:`riffnb.phase.reconstruct_audio`'s own, 16 after a PGHI start; Riffusion sets
    #: 32, for plain Griffin-Lim from random phase.
    num_griffin_lim_iters: T.Optional[int] = None
    power_for_image: float = 0.25

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.sample_rate, numbers.Real) and not isinstance(self.sample_rate, bool) and (
            float(self.sample_rate).is_integer()
        ):
            # 22050.0 (or numpy's 22050) from a file or arithmetic means 22050; the STFT sizes need a Python int.
            object.__setattr__(self, "sample_rate", int(self.sample_rate))
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            problems.append(f"sample_rate must be a positive whole number of Hz, got {self.sample_rate!r}")
        not_finite = [name for name in _REAL_FIELDS if not _is_finite(getattr(self, name))]
        if not_finite:
            problems.append(" and ".join(f"{name} must be a finite number, got {getattr(self, name)!r}"
                                         for name in not_finite))
            raise InvalidParamsError("invalid SpectrogramParams: " + "; ".join(problems))
        if not problems and not 0 <= self.min_frequency < self.max_frequency <= self.sample_rate / 2:
            problems.append(
                f"need 0 <= min_frequency < max_frequency <= sample_rate/2, got {self.min_frequency}, "
                f"{self.max_frequency}, {self.sample_rate / 2:g}"
            )
        if self.num_frequencies < 1:
            problems.append(f"num_frequencies must be at least 1, got {self.num_frequencies}")
        if self.mel_scale_type not in MEL_SCALES:
            problems.append(
                f"mel_scale_type must be one of {', '.join(map(repr, MEL_SCALES))}, got {self.mel_scale_type!r}"
            )
        elif self.mel_scale_type == "semitone" and self.min_frequency <= 0:
            problems.append("a semitone scale has no band at 0 Hz: min_frequency must be positive")
        if self.mel_scale_norm not in (None, "slaney"):
            problems.append(f"mel_scale_norm must be None or 'slaney', got {self.mel_scale_norm!r}")
        if self.num_griffin_lim_iters is not None and not (
            isinstance(self.num_griffin_lim_iters, int) and self.num_griffin_lim_iters >= 0
        ):
            problems.append(f"num_griffin_lim_iters must be None or an integer >= 0, got {self.num_griffin_lim_iters!r}")
        if self.power_for_image <= 0:
            problems.append(f"power_for_image must be positive, got {self.power_for_image}")
        if not problems and not 0 < self.hop_length <= self.win_length <= self.n_fft:
            problems.append(
                f"need 0 < hop_length <= win_length <= n_fft, got {self.hop_length}, {self.win_length}, {self.n_fft} "
                "(check step_size_ms, window_duration_ms, padded_duration_ms)"
            )
        elif not problems and self.num_frequencies > self.n_fft // 2 + 1:
            # More bands than STFT bins leaves bands empty, and a typo (100000) would fill the memory.
            problems.append(
                f"num_frequencies must be at most the STFT's {self.n_fft // 2 + 1} frequency bins (n_fft // 2 + 1), "
                f"got {self.num_frequencies}; use fewer bands or a longer padded_duration_ms"
            )
        if problems:
            raise InvalidParamsError("invalid SpectrogramParams: " + "; ".join(problems))

    @property
    def n_fft(self) -> int:
        """FFT size in samples: the padded window (17640 at the defaults)."""
        return int(self.padded_duration_ms / 1000.0 * self.sample_rate)

    @property
    def win_length(self) -> int:
        """Hann window length in samples (4410 at the defaults)."""
        return int(self.window_duration_ms / 1000.0 * self.sample_rate)

    @property
    def hop_length(self) -> int:
        """Samples between frames: one image column (441 at the defaults, 100 columns per second)."""
        return int(self.step_size_ms / 1000.0 * self.sample_rate)

    @property
    def num_channels(self) -> int:
        return 2 if self.stereo else 1

    def duration_of(self, num_columns: int) -> float:
        """Seconds of audio an image ``num_columns`` wide is cut from, one hop per column (512 columns -> 5.12 s).

        Decoded, the image gives one hop less (5.11 s): the centred STFT puts its first and last frames on the
        audio's ends, so ``n`` samples make ``1 + n // hop_length`` columns and ``W`` columns ``W - 1`` hops.
        """
        return num_columns * self.hop_length / self.sample_rate

    def columns_for(self, duration_s: float) -> int:
        """Image columns for ``duration_s`` seconds of audio."""
        return int(round(duration_s * self.sample_rate / self.hop_length))

    def to_exif(self) -> dict[int, T.Any]:
        """The EXIF tags Riffusion writes, and riffnb's own for the frequency scale (not stored: the mel norm and
        the iteration counts)."""
        return {
            ExifTags.SAMPLE_RATE: self.sample_rate,
            ExifTags.STEREO: self.stereo,
            ExifTags.STEP_SIZE_MS: self.step_size_ms,
            ExifTags.WINDOW_DURATION_MS: self.window_duration_ms,
            ExifTags.PADDED_DURATION_MS: self.padded_duration_ms,
            ExifTags.NUM_FREQUENCIES: self.num_frequencies,
            ExifTags.MIN_FREQUENCY: self.min_frequency,
            ExifTags.MAX_FREQUENCY: self.max_frequency,
            ExifTags.POWER_FOR_IMAGE: float(self.power_for_image),
            ExifTags.MEL_SCALE_TYPE: self.mel_scale_type,
        }

    @classmethod
    def from_exif(cls, exif: T.Mapping[int, T.Any], default: "SpectrogramParams | None" = None) -> "SpectrogramParams":
        """Parameters from EXIF tags; tags that are absent keep the values of ``default`` (Riffusion's defaults).

        The fields EXIF does not store (mel norm, Griffin-Lim iterations) come from ``default``, and so does the scale
        of an image made by Riffusion, which does not store it.
        """
        base = default or cls()
        fields = {
            "sample_rate": (ExifTags.SAMPLE_RATE, int),
            "stereo": (ExifTags.STEREO, bool),
            "step_size_ms": (ExifTags.STEP_SIZE_MS, int),
            "window_duration_ms": (ExifTags.WINDOW_DURATION_MS, int),
            "padded_duration_ms": (ExifTags.PADDED_DURATION_MS, int),
            "num_frequencies": (ExifTags.NUM_FREQUENCIES, int),
            "min_frequency": (ExifTags.MIN_FREQUENCY, int),
            "max_frequency": (ExifTags.MAX_FREQUENCY, int),
            "power_for_image": (ExifTags.POWER_FOR_IMAGE, float),
            "mel_scale_type": (ExifTags.MEL_SCALE_TYPE, str),
        }
        values = {name: cast(exif[tag]) for name, (tag, cast) in fields.items() if tag in exif}
        try:
            return dataclasses.replace(base, **values)
        except InvalidParamsError as error:
            raise InvalidImageError(f"the image's EXIF holds {error}; re-encode it or pass params explicitly") from None


def params_from_image(image: "Image.Image", default: SpectrogramParams | None = None) -> SpectrogramParams:
    """The parameters stored in ``image``'s EXIF, or ``default`` (Riffusion's defaults) where none are stored."""
    return SpectrogramParams.from_exif(image.getexif(), default=default)


def max_value_from_image(image: "Image.Image") -> float | None:
    """The spectrogram maximum stored in EXIF tag 11080 when the image was made from audio, else None."""
    value = image.getexif().get(ExifTags.MAX_VALUE)
    return None if value is None else float(value)
