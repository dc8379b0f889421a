"""Audio as riffnb handles it: float samples ``(channels, n)`` in [-1, 1], plus checks, resampling and mixing.

Channels first, as librosa does. Loading and saving files live here too (soundfile reads and writes WAV, FLAC,
OGG and MP3); resampling uses soxr.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import threading
import typing as T
import uuid

import numpy as np

from .errors import InvalidAudioError, OutputExistsError, RiffnbError


def as_channels(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a float64 array ``(channels, n)``: a 1-D signal becomes one channel.

    Integer samples are PCM, as ``scipy.io.wavfile.read`` and ``soundfile.read(..., dtype="int16")`` return them,
    and are scaled to [-1, 1): int16 by 1/32768, unsigned 8-bit WAV around its midpoint 128.

    Raises :class:`InvalidAudioError` for empty audio, NaN or infinite samples, or more than two dimensions.

    Examples
    --------
    >>> as_channels(np.array([16384, -32768], dtype=np.int16)).tolist()
    [[0.5, -1.0]]
    """
    if isinstance(samples, tuple) and len(samples) == 2 and np.ndim(samples[1]) == 0:
        raise InvalidAudioError(
            "got a (samples, sample_rate) pair where audio samples were expected; pass its first item "
            "(e.g. samples, sample_rate = load_audio(path))"
        )
    try:
        array = np.asarray(samples)
    except ValueError:
        raise InvalidAudioError("audio samples must be one array (n,) or (channels, n) of equal-length channels") from None
    if array.dtype.kind not in "fiu":
        raise InvalidAudioError(f"audio samples must be numbers, got dtype {array.dtype}")
    if array.dtype.kind in "iu":
        full_scale = 2.0 ** (8 * array.dtype.itemsize - 1)
        offset = full_scale if array.dtype.kind == "u" else 0.0
        array = (array.astype(np.float64) - offset) / full_scale
    array = array.astype(np.float64, copy=False)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise InvalidAudioError(f"audio must be (n,) or (channels, n), got shape {array.shape}")
    if array.size == 0:
        raise InvalidAudioError("audio is empty: it has no samples")
    if array.shape[0] > array.shape[1]:
        raise InvalidAudioError(
            f"audio of shape {array.shape} has more channels than samples; pass it channels first "
            "(transpose soundfile's (n, channels) arrays)"
        )
    if not np.isfinite(array).all():
        raise InvalidAudioError("audio holds NaN or infinite samples; clean it (e.g. np.nan_to_num) before use")
    return array


def check_sample_rate(sample_rate: T.Any, name: str = "sample_rate") -> int:
    """``sample_rate`` as an int, or :class:`InvalidAudioError` if it is not a positive whole number of Hz.

    Examples
    --------
    >>> check_sample_rate(22050.0)
    22050
    """
    if isinstance(sample_rate, (bool, np.bool_)):
        raise InvalidAudioError(
            f"{name} must be a positive whole number of Hz, got {sample_rate!r} (is it meant for another argument, "
            "e.g. mono=True?)"
        )
    try:
        whole = int(sample_rate)
        exact = whole == sample_rate
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact or whole <= 0:
        raise InvalidAudioError(f"{name} must be a positive whole number of Hz, got {sample_rate!r}")
    return whole


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(channels, n)`` or ``(n,)`` audio from ``orig_sr`` to ``target_sr`` with soxr (high quality)."""
    orig_sr, target_sr = check_sample_rate(orig_sr, "orig_sr"), check_sample_rate(target_sr, "target_sr")
    array = np.asarray(samples)
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[0] > array.shape[1]):
        raise InvalidAudioError(
            f"resample takes (n,) or (channels, n) audio, got shape {array.shape}; transpose soundfile's "
            "(n, channels) arrays"
        )
    if orig_sr == target_sr:
        return samples
    import soxr

    resampled = soxr.resample(array.T, orig_sr, target_sr, quality="HQ").T
    if resampled.shape[-1] == 0:
        raise InvalidAudioError(
            f"{array.shape[-1]} samples at {orig_sr} Hz make no sample at {target_sr} Hz; pass longer audio"
        )
    return resampled


def mix_to_channels(samples: np.ndarray, num_channels: int) -> np.ndarray:
    """Mix ``(channels, n)`` audio down to mono by averaging, or up by repeating a mono channel."""
    current = samples.shape[0]
    if current == num_channels:
        return samples
    if num_channels == 1:
        return samples.mean(axis=0, keepdims=True)
    if current == 1:
        return np.repeat(samples, num_channels, axis=0)
    raise InvalidAudioError(f"cannot turn {current}-channel audio into {num_channels} channels; mix it to mono first")


#: File suffixes riffnb writes, with soundfile's format and subtype (16-bit PCM, as Riffusion's WAV output).
AUDIO_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}

# Frames a decoder may legitimately come up short of the header's count (MP3 encoder delay and padding).
_SHORTFALL_TOLERANCE = 4096


def load_audio(
    path: str | os.PathLike, sample_rate: int | None = None, mono: bool | None = None
) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG or MP3) as float samples ``(channels, n)`` and its sample rate.

    Parameters
    ----------
    path
        Any file soundfile (libsndfile) reads.
    sample_rate
        Resample to this rate with :func:`resample` (soxr); None keeps the file's rate.
    mono
        None keeps the file's channels, True mixes them to one, False gives two (a mono file is duplicated).

    Raises :class:`InvalidAudioError` with a one-line message for a missing file, a directory, an unknown format,
    a damaged or truncated file, empty audio and NaN or infinite samples.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.flac")
    >>> save_audio(path, 0.5 * np.sin(np.linspace(0, 2000, 44100)), 44100)
    >>> samples, sr = load_audio(path, sample_rate=22050)
    >>> samples.shape, sr
    ((1, 22050), 22050)
    """
    import soundfile

    path = os.fspath(path)
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate)
    if not os.path.exists(path):
        raise InvalidAudioError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidAudioError(f"{path}: is a directory, not an audio file")
    # Opening it ourselves first turns an unreadable file into PermissionError, not libsndfile's "System error".
    with open(path, "rb"):
        pass
    try:
        with _c_stderr_silenced(), soundfile.SoundFile(path) as file:
            declared, log, file_rate = file.frames, file.extra_info, file.samplerate
            container = file.format
            data = file.read(dtype="float64", always_2d=True)
    except soundfile.SoundFileError as error:
        if getattr(error, "code", None) == 1:  # SF_ERR_UNRECOGNISED_FORMAT
            raise InvalidAudioError(
                f"{path}: not an audio format riffnb can read (WAV, FLAC, OGG or MP3); convert it, e.g. with ffmpeg"
            ) from None
        detail = _libsndfile_detail(error)
        # The file exists and opens: libsndfile says "does not exist" when it cannot parse a stream's header.
        detail = "" if "does not exist" in detail else f" ({detail})"
        raise InvalidAudioError(f"{path}: damaged or truncated audio file{detail}") from None
    if container == "OGG" and _ogg_is_truncated(path):
        raise InvalidAudioError(
            f"{path}: truncated audio file (its Ogg stream stops before its end); re-export or re-download it"
        )
    if _is_truncated(declared, len(data), log):
        raise InvalidAudioError(
            f"{path}: truncated audio file (it holds {len(data)} of the {_declared_frames(declared, log)} frames its "
            "header announces); re-export or re-download it"
        )
    try:
        samples = as_channels(data.T)
    except InvalidAudioError as error:
        raise InvalidAudioError(f"{path}: {error}") from None
    if mono is not None:
        samples = mix_to_channels(samples, 1 if mono else 2)
    if sample_rate is not None:
        samples = resample(samples, file_rate, sample_rate)
        file_rate = sample_rate
    return samples, file_rate


def _libsndfile_detail(error: Exception) -> str:
    """libsndfile's own explanation of ``error``, on one line."""
    detail = getattr(error, "error_string", "") or str(error)
    return " ".join(detail.split()).removeprefix("Error : ").rstrip(".")


def _declared_frames(declared: int, log: str) -> int:
    """Frames the header announces: libsndfile shrinks a WAV's count to what is there but logs the header's."""
    match = _WAV_DATA_SIZE.search(log)
    if match is None:
        return declared
    block_align = _WAV_BLOCK_ALIGN.search(log)
    return int(match.group(1)) // int(block_align.group(1)) if block_align else declared


def _is_truncated(declared: int, read: int, log: str) -> bool:
    match = _WAV_DATA_SIZE.search(log)
    if match is not None:
        announced, present = int(match.group(1)), int(match.group(2))
        # Streaming writers leave a placeholder size (0 or 0xFFFFFFFF) in the header: those files are whole.
        return present < announced < 0x7FFFFFFF
    return read < declared - max(_SHORTFALL_TOLERANCE, declared // 100)


def _ogg_is_truncated(path: str) -> bool:
    """Whether an Ogg file lacks its end: Ogg stores no length, but its last page, when whole, is flagged
    end-of-stream."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - _OGG_MAX_PAGE))
        tail = file.read()
    start = tail.rfind(b"OggS")
    if start < 0 or len(tail) - start < 27:
        return True
    header_type, segments = tail[start + 5], tail[start + 26]
    page_length = 27 + segments + sum(tail[start + 27 : start + 27 + segments])
    return not header_type & 0x04 or start + page_length > len(tail)


_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_WAV_DATA_SIZE = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
_WAV_BLOCK_ALIGN = re.compile(r"Block Align\s*:\s*(\d+)")


@contextlib.contextmanager
def _c_stderr_silenced() -> T.Iterator[None]:
    """Silence the C library's stderr while decoding: mpg123 prints warnings about damaged MP3 streams there.

    riffnb reports a damaged file as one error instead. Python's own ``sys.stderr`` object is untouched.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def audio_format_for(path: str | os.PathLike, format: str | None = None) -> tuple[str, str]:
    """soundfile's ``(format, subtype)`` for writing ``path``: from ``format`` ("wav", "flac", "ogg", "mp3") or
    the file's suffix.

    Examples
    --------
    >>> audio_format_for("song.MP3"), audio_format_for("x.out", format="flac")
    (('MP3', 'MPEG_LAYER_III'), ('FLAC', 'PCM_16'))
    """
    name = (format or os.path.splitext(os.fspath(path))[1]).lower().lstrip(".")
    if name not in AUDIO_FORMATS:
        known = ", ".join("." + suffix for suffix in AUDIO_FORMATS)
        what = f"format {format!r}" if format else f"the suffix of {os.fspath(path)!r}"
        raise RiffnbError(f"cannot write audio with {what}; use one of {known}")
    return AUDIO_FORMATS[name]


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is False; refuse a directory always.

    Call it before slow work so that a run is not wasted on an output that cannot be written.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise RiffnbError(f"{path} is a directory; give the output a file name")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise RiffnbError(f"cannot write {path}: {folder} is a file, not a folder; pick another output path")
        folder = os.path.dirname(folder)
    if not os.access(folder, os.W_OK):
        raise RiffnbError(f"cannot write {path}: {folder} is not writable; pick a folder you can write to")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> T.Iterator[str]:
    """Give a temporary path in ``path``'s folder to write to; rename it to ``path`` only if the block succeeds.

    A reader never sees a half-written file and a failed write leaves nothing behind. The folder is created if
    missing; an existing ``path`` is replaced only with ``overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_output(target) as temporary:
    ...     _ = open(temporary, "w").write("hello")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    check_output_path(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.part")
    try:
        os.makedirs(folder, exist_ok=True)
        # Created here (not by mkstemp, which makes it private) so the result gets the user's usual permissions.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise RiffnbError(f"cannot write {path}: {error.strerror}; pick a folder you can write to") from None
    try:
        yield temporary
        check_output_path(path, overwrite)  # something may have appeared while we wrote
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


class _OutputSet:
    """The files one :func:`output_set` has claimed: each path, and where its previous file waits meanwhile."""

    def __init__(self) -> None:
        self.claimed: list[tuple[str, str | None]] = []

    def claim(self, path: T.Union[str, os.PathLike], overwrite: bool = False) -> None:
        path = os.fspath(path)
        if any(path == claimed for claimed, _ in self.claimed):
            return
        check_output_path(path, overwrite)
        previous = None
        if os.path.lexists(path):
            previous = os.path.join(os.path.dirname(os.path.abspath(path)),
                                    f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.previous")
            os.replace(path, previous)
        self.claimed.append((path, previous))

    def undo(self) -> None:
        for path, previous in reversed(self.claimed):
            if os.path.lexists(path):
                os.remove(path)
            if previous is not None:
                os.replace(previous, path)

    def commit(self) -> None:
        for _, previous in self.claimed:
            if previous is not None and os.path.lexists(previous):
                os.remove(previous)


# Per thread: a set opened inside another (a clip's files inside a batch) hands its files to the outer one.
_open_sets = threading.local()


@contextlib.contextmanager
def output_set() -> T.Iterator[T.Callable[[T.Union[str, os.PathLike]], None]]:
    """Write several files as one output: call the function it yields, ``claim(path, overwrite)``, with each file
    before writing it (an existing file is refused as :func:`check_output_path` does, unless ``overwrite``).

    If the block fails or is interrupted (Ctrl-C), the files written so far are removed and the files they replaced
    (``overwrite``) come back: an unfinished run leaves the folder as it found it, and a rerun is not refused
    because of it. A set opened inside another hands its files to the outer one, which decides for all of them.
    (Replaced files wait beside their names, hidden, until the set ends.)

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> old, new = os.path.join(folder, "old.txt"), os.path.join(folder, "new.txt")
    >>> _ = open(old, "w").write("the previous run's")
    >>> try:
    ...     with output_set() as claim:
    ...         for path in (old, new):
    ...             claim(path, overwrite=True)
    ...             _ = open(path, "w").write("this run's")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> sorted(os.listdir(folder)), open(old).read()
    (['old.txt'], "the previous run's")
    """
    stack = _open_sets.__dict__.setdefault("stack", [])
    files = _OutputSet()
    stack.append(files)
    try:
        yield files.claim
    except BaseException:
        stack.remove(files)
        files.undo()
        raise
    stack.remove(files)
    if stack:
        stack[-1].claimed.extend(files.claimed)
    else:
        files.commit()


def save_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    overwrite: bool = False,
    format: str | None = None,
) -> None:
    """Write ``samples`` ``(channels, n)`` or ``(n,)`` to ``path`` as WAV/FLAC (16-bit), OGG (Vorbis) or MP3.

    The format comes from ``format`` or the suffix. The file is written to a temporary name and renamed, and an
    existing ``path`` is replaced only with ``overwrite=True``. Samples beyond [-1, 1] are clipped before
    encoding (a lossy codec may still overshoot a little when decoded).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "noise.wav")
    >>> save_audio(path, np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4410)), 44100)
    >>> save_audio(path, np.zeros(10), 44100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    riffnb.errors.OutputExistsError: ... already exists; pass --overwrite (overwrite=True) to replace it
    """
    import soundfile

    path = os.fspath(path)
    file_format, subtype = audio_format_for(path, format)
    samples = as_channels(samples)
    sample_rate = check_sample_rate(sample_rate)
    if file_format not in soundfile.available_formats():
        raise RiffnbError(
            f"this soundfile (libsndfile {soundfile.__libsndfile_version__}) cannot write {file_format}; "
            "save as .wav or .flac, or upgrade soundfile (MP3 needs libsndfile 1.1 or newer)"
        )
    with atomic_output(path, overwrite) as temporary:
        try:
            soundfile.write(temporary, np.clip(samples, -1.0, 1.0).T, sample_rate, format=file_format, subtype=subtype)
        except soundfile.SoundFileError as error:
            detail = _libsndfile_detail(error)
            raise InvalidAudioError(
                f"cannot write {path} as {file_format} at {sample_rate} Hz: {detail} "
                "(resample it or pick another format)"
            ) from None


def normalize_audio(samples: np.ndarray, target_dbfs: float = -12.0, headroom_db: float = 0.1) -> np.ndarray:
    """Level audio as Riffusion does its output: gain to ``target_dbfs`` RMS, then peak-normalise to
    ``-headroom_db`` dBFS.

    Riffusion (through pydub) applies the RMS gain to int16 samples, which saturate: peaks more than
    ``-target_dbfs`` dB above the RMS level are clipped there, and this function clips them the same way. The
    peak step then sets the final level, so the output peaks at ``-headroom_db`` dBFS. RMS is taken over all
    channels together. Silent audio stays silent. The result has the shape of ``samples``.

    Examples
    --------
    >>> x = 0.01 * np.sin(np.linspace(0, 100, 1000))
    >>> y = normalize_audio(x)
    >>> round(float(20 * np.log10(np.abs(y).max())), 3)
    -0.1
    >>> normalize_audio(np.zeros((2, 5))).tolist()
    [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    shape = np.shape(samples)
    array = as_channels(samples)
    rms = np.sqrt(np.mean(np.square(array)))
    if rms == 0:
        return np.zeros(shape)
    array = np.clip(array * (10 ** (target_dbfs / 20) / rms), -1.0, 1.0)
    array *= 10 ** (-headroom_db / 20) / np.abs(array).max()
    return array.reshape(shape)


# Audio for browsers: players in notebooks and widgets are built on these.


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Audio ``(channels, n)`` or ``(n,)`` as a 16-bit PCM WAV file in memory (samples beyond +-1 are clipped).

    Examples
    --------
    >>> data = wav_bytes(np.zeros(100), 8000)
    >>> data[:4], data[8:12], len(data)
    (b'RIFF', b'WAVE', 244)
    """
    import soundfile

    audio = as_channels(samples)
    if int(sample_rate) <= 0:
        raise InvalidAudioError(f"sample_rate must be a positive number of samples per second, got {sample_rate}")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0).T, int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def audio_html(samples: np.ndarray, sample_rate: int) -> str:
    """An ``<audio controls>`` element playing the samples from an inline WAV data URL (no autoplay, no loop)."""
    data = base64.b64encode(wav_bytes(samples, sample_rate)).decode("ascii")
    return f'<audio controls preload="metadata" src="data:audio/wav;base64,{data}"></audio>'
