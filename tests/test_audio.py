"""Audio files in and out, resampling and Riffusion's output normalisation, on real files."""

import os
import stat
import struct

import numpy as np
import pytest
import soundfile
from conftest import make_music

from riffnb.audio import (
    as_channels,
    atomic_output,
    output_set,
    audio_format_for,
    load_audio,
    normalize_audio,
    resample,
    save_audio,
)
from riffnb.errors import InvalidAudioError, OutputExistsError, RiffnbError


def dominant_frequency(samples, sample_rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return np.argmax(spectrum) * sample_rate / samples.size


def level_db(samples):
    return 20 * np.log10(np.sqrt(np.mean(np.square(samples))))


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(".part")]


# Reading and writing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_lossless_round_trip_is_exact_to_16_bits(tmp_path, stereo_music, suffix):
    samples, sample_rate = stereo_music
    path = tmp_path / f"music.{suffix}"
    save_audio(path, samples, sample_rate)
    loaded, loaded_rate = load_audio(path)
    assert loaded_rate == sample_rate and loaded.shape == samples.shape and loaded.dtype == np.float64
    assert np.abs(loaded - samples).max() <= 1 / 32768
    info = soundfile.info(path)
    assert (info.format, info.subtype, info.channels) == (suffix.upper(), "PCM_16", 2)


@pytest.mark.parametrize("suffix, format_name", [("ogg", "OGG"), ("mp3", "MP3")])
def test_lossy_round_trip_keeps_length_level_and_pitch(tmp_path, suffix, format_name):
    sample_rate = 44100
    t = np.arange(2 * sample_rate) / sample_rate
    tone = 0.4 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / f"tone.{suffix}"
    save_audio(path, np.stack([tone, 0.5 * tone]), sample_rate)
    assert soundfile.info(path).format == format_name
    loaded, loaded_rate = load_audio(path)
    assert loaded_rate == sample_rate and loaded.shape[0] == 2
    # Lossy codecs may add or drop an encoder frame at most.
    assert abs(loaded.shape[1] - tone.size) <= 2304
    middle = slice(sample_rate // 2, sample_rate)
    assert abs(level_db(loaded[0, middle]) - level_db(tone[middle])) < 0.5
    assert abs(level_db(loaded[1, middle]) - level_db(0.5 * tone[middle])) < 0.5
    assert abs(dominant_frequency(loaded[0, middle], sample_rate) - 1000) < 5


def test_format_argument_overrides_the_suffix(tmp_path, stereo_music):
    samples, sample_rate = stereo_music
    path = tmp_path / "music.audio"
    save_audio(path, samples, sample_rate, format="flac")
    assert soundfile.info(path).format == "FLAC"
    assert load_audio(path)[0].shape == samples.shape


def test_mono_options_and_one_dimensional_input(tmp_path, stereo_music):
    samples, sample_rate = stereo_music
    path = tmp_path / "stereo.wav"
    save_audio(path, samples, sample_rate)
    mixed, _ = load_audio(path, mono=True)
    assert mixed.shape == (1, samples.shape[1])
    assert np.abs(mixed[0] - samples.mean(axis=0)).max() < 2 / 32768
    assert load_audio(path, mono=False)[0].shape == samples.shape

    mono_path = tmp_path / "mono.wav"
    save_audio(mono_path, samples[0], sample_rate)  # (n,) is mono
    assert load_audio(mono_path)[0].shape == (1, samples.shape[1])
    doubled, _ = load_audio(mono_path, mono=False)
    assert doubled.shape == (2, samples.shape[1]) and np.array_equal(doubled[0], doubled[1])


@pytest.mark.parametrize("target_rate", [22050, 48000, 16000])
def test_load_resamples_with_soxr(tmp_path, target_rate):
    sample_rate = 44100
    t = np.arange(sample_rate) / sample_rate
    path = tmp_path / "tone.wav"
    save_audio(path, 0.5 * np.sin(2 * np.pi * 1000 * t), sample_rate)
    samples, rate = load_audio(path, sample_rate=target_rate)
    assert rate == target_rate and samples.shape == (1, target_rate)
    assert abs(dominant_frequency(samples[0], rate) - 1000) < 2
    assert abs(level_db(samples[0, 1000:-1000]) - level_db(0.5 * np.sin(2 * np.pi * 1000 * t))) < 0.05
    assert load_audio(path, sample_rate=sample_rate)[1] == sample_rate


# Writing safely ------------------------------------------------------------------------------------------------


def test_save_never_overwrites_unless_asked(tmp_path, stereo_music):
    samples, sample_rate = stereo_music
    path = tmp_path / "music.wav"
    save_audio(path, samples, sample_rate)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match=r"already exists; pass --overwrite \(overwrite=True\)"):
        save_audio(path, samples[:, :1000], sample_rate)
    assert path.read_bytes() == before
    save_audio(path, samples[:, :1000], sample_rate, overwrite=True)
    assert load_audio(path)[0].shape == (2, 1000)
    assert leftovers(tmp_path) == []


def test_save_is_atomic_and_a_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "high.mp3"
    # MP3 cannot store 96 kHz: the encoder fails after the temporary file exists.
    with pytest.raises(InvalidAudioError, match="MP3 at 96000 Hz.*sample rates"):
        save_audio(path, np.zeros((1, 9600)), 96000)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path):
    path = tmp_path / "keep.mp3"
    save_audio(path, 0.1 * np.ones((1, 44100)), 44100)
    before = path.read_bytes()
    with pytest.raises(InvalidAudioError):
        save_audio(path, np.zeros((1, 9600)), 96000, overwrite=True)
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_atomic_output_cleans_up_after_an_error_and_creates_folders(tmp_path):
    target = tmp_path / "new" / "folder" / "file.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            open(temporary, "w").write("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and leftovers(target.parent) == []
    with atomic_output(target) as temporary:
        open(temporary, "w").write("whole")
    assert target.read_text() == "whole"


def test_an_output_set_that_fails_puts_back_the_files_it_replaced(tmp_path):
    kept, replaced, new = tmp_path / "kept.txt", tmp_path / "replaced.txt", tmp_path / "new.txt"
    for path in (kept, replaced):
        path.write_text(f"the previous run's {path.name}")
    before = {path.name: (path.read_text(), path.stat().st_mtime_ns) for path in (kept, replaced)}
    with pytest.raises(KeyboardInterrupt):
        with output_set() as claim:
            for path in (replaced, new):
                claim(path, overwrite=True)
                path.write_text("this run's")
            with output_set() as inner_claim:       # as a clip's files inside a batch
                inner_claim(kept, overwrite=True)
                kept.write_text("this run's")
            raise KeyboardInterrupt
    assert {path.name: (path.read_text(), path.stat().st_mtime_ns) for path in tmp_path.iterdir()} == before

    # Without overwrite an existing file is refused, and nothing moves.
    with pytest.raises(OutputExistsError, match="kept.txt already exists; pass --overwrite"):
        with output_set() as claim:
            claim(new, overwrite=False)
            new.write_text("this run's")
            claim(kept, overwrite=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.txt", "replaced.txt"]

    # A finished set keeps the new files and drops the old ones, hidden copies included.
    with output_set() as claim:
        for path in (kept, new):
            claim(path, overwrite=True)
            path.write_text("this run's")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.txt", "new.txt", "replaced.txt"]
    assert kept.read_text() == new.read_text() == "this run's"


def test_written_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "perm.wav"
    save_audio(path, np.zeros(100), 44100)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_bad_output_names(tmp_path):
    with pytest.raises(RiffnbError, match=r"\.xyz.*use one of \.wav, \.flac, \.ogg, \.mp3"):
        save_audio(tmp_path / "out.xyz", np.zeros(100), 44100)
    with pytest.raises(RiffnbError, match="is a directory"):
        save_audio(tmp_path, np.zeros(100), 44100, format="wav", overwrite=True)
    assert audio_format_for("a.WAV") == ("WAV", "PCM_16")
    assert os.listdir(tmp_path) == []


def test_mp3_and_ogg_writing_is_available():
    # libsndfile >= 1.1 writes MP3; riffnb's MP3 support rests on it.
    assert {"MP3", "OGG"} <= set(soundfile.available_formats())
    assert "MPEG_LAYER_III" in soundfile.available_subtypes("MP3")


# Refusing bad input with one line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty_wav", "audio is empty"),
        ("nan_wav", "NaN"),
        ("truncated_wav", "truncated audio file"),
        ("text_wav", "not an audio format riffnb can read"),
        ("unknown_format", "not an audio format riffnb can read"),
    ],
)
def test_bad_audio_files_give_one_line_errors(bad_inputs, name, message):
    path = bad_inputs[name]
    with pytest.raises(InvalidAudioError) as caught:
        load_audio(path)
    text = str(caught.value)
    assert message in text and text.startswith(str(path)) and "\n" not in text


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InvalidAudioError, match="missing.wav: no such file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(InvalidAudioError, match="is a directory"):
        load_audio(tmp_path)


@pytest.mark.parametrize("suffix", ["flac", "ogg", "mp3"])
def test_truncated_compressed_files_are_refused_quietly(tmp_path, capfd, stereo_music, suffix):
    samples, sample_rate = stereo_music
    whole = tmp_path / f"whole.{suffix}"
    save_audio(whole, samples, sample_rate)
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    capfd.readouterr()
    with pytest.raises(InvalidAudioError, match="truncated") as caught:
        load_audio(cut)
    assert "\n" not in str(caught.value)
    # mpg123 writes warnings about damaged streams straight to file descriptor 2; riffnb keeps them quiet.
    assert capfd.readouterr().err == ""


def test_streamed_wav_with_placeholder_size_is_not_called_truncated(tmp_path):
    samples = (np.sin(np.arange(4410) / 10) * 10000).astype("<i2")
    # What a streaming writer leaves when it cannot seek back: the RIFF and data sizes are 0xFFFFFFFF.
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16)
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + fmt
    path = tmp_path / "streamed.wav"
    path.write_bytes(header + b"data" + struct.pack("<I", 0xFFFFFFFF) + samples.tobytes())
    loaded, rate = load_audio(path)
    assert rate == 44100 and loaded.shape == (1, 4410)
    assert np.abs(loaded[0] * 32768 - samples).max() < 1e-9


def test_unreadable_file_is_an_os_error(tmp_path):
    path = tmp_path / "locked.wav"
    save_audio(path, np.zeros(100), 44100)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read any file (root)")
        with pytest.raises(PermissionError):
            load_audio(path)
    finally:
        path.chmod(0o644)


# Normalisation -------------------------------------------------------------------------------------------------


def riffusion_normalize(samples):
    """Riffusion's output levelling with pydub's int16 arithmetic (audioop.rms / mul / max), as a reference."""
    full_scale = 32768.0
    pcm = np.trunc(samples / np.abs(samples).max() * 32767)  # Riffusion's own peak-normalise to int16
    dbfs = 20 * np.log10(np.sqrt(np.mean(pcm.astype(float) ** 2)) / full_scale)
    gained = np.floor(np.clip(pcm * 10 ** ((-12 - dbfs) / 20), -32768, 32767))  # apply_gain saturates
    max_dbfs = 20 * np.log10(np.abs(gained).max() / full_scale)
    return gained * 10 ** ((-0.1 - max_dbfs) / 20) / full_scale  # pydub.effects.normalize(headroom=0.1)


def test_normalize_levels_a_quiet_tone():
    t = np.arange(44100) / 44100
    tone = 0.01 * np.sin(2 * np.pi * 440 * t)
    out = normalize_audio(tone)
    assert out.shape == tone.shape
    assert 20 * np.log10(np.abs(out).max()) == pytest.approx(-0.1, abs=1e-9)
    # A sine's RMS sits 3.01 dB below its peak and is far from the clipping point.
    assert level_db(out) == pytest.approx(-0.1 - 3.0103, abs=1e-3)
    assert np.allclose(out / out.max(), tone / tone.max())


def test_normalize_matches_riffusions_int16_chain_on_music():
    music = make_music(seconds=2.0)
    ours = normalize_audio(music)
    reference = riffusion_normalize(music)
    assert ours.shape == music.shape
    assert np.abs(ours - reference).max() < 2e-4
    assert 20 * np.log10(np.abs(ours).max()) == pytest.approx(-0.1, abs=1e-9)


def test_normalize_clips_peaks_far_above_the_rms_like_riffusion():
    rng = np.random.default_rng(1)
    quiet = 0.01 * rng.normal(size=44100)
    quiet[::4410] = 0.9  # sparse clicks: crest factor far above 12 dB
    out = normalize_audio(quiet)
    reference = riffusion_normalize(quiet)
    # The reference's int16 steps are amplified by the ~16x gain: about 16 / 32768 apart.
    assert np.abs(out - reference).max() < 1e-3
    peak = np.abs(out).max()
    assert (np.abs(out) > 0.999 * peak).sum() == 10  # every click hits the same ceiling: clipped
    # Clipping squashed the clicks: they now stand far less above the noise than in the input.
    noise = np.ones(quiet.size, bool)
    noise[::4410] = False
    click_to_noise_in = 20 * np.log10(0.9) - level_db(quiet[noise])
    click_to_noise_out = 20 * np.log10(peak) - level_db(out[noise])
    assert click_to_noise_out < click_to_noise_in - 15


def test_normalize_keeps_silence_silent_and_refuses_nan():
    silent = np.zeros((2, 1000))
    out = normalize_audio(silent)
    assert out.shape == (2, 1000) and not out.any()
    with pytest.raises(InvalidAudioError, match="NaN"):
        normalize_audio(np.array([0.1, np.nan, 0.2]))


def test_normalize_options():
    tone = 0.3 * np.sin(np.linspace(0, 200 * np.pi, 10000))
    assert 20 * np.log10(np.abs(normalize_audio(tone, headroom_db=3.0)).max()) == pytest.approx(-3.0)
    # With the RMS target only 1 dB below full scale, the sine's peaks (3 dB above RMS) are clipped first.
    flattened = normalize_audio(tone, target_dbfs=-1.0)
    assert 20 * np.log10(np.abs(flattened).max()) - level_db(flattened) < 2.0


def test_as_channels_reports_empty_audio_as_empty():
    with pytest.raises(InvalidAudioError, match="audio is empty"):
        as_channels(np.zeros((1, 0)))


def test_integer_pcm_is_scaled_to_full_scale_floats(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    as_int16 = np.round(tone * 32767).astype(np.int16)
    as_uint8 = np.round(tone * 127 + 128).astype(np.uint8)
    assert np.abs(as_channels(as_int16)[0] - tone).max() < 1e-4
    assert np.abs(as_channels(as_uint8)[0] - tone).max() < 1e-2
    # A file written from scipy.io.wavfile-style int16 keeps its level instead of clipping to a square wave.
    save_audio(tmp_path / "tone.wav", as_int16, 22050)
    loaded, _ = load_audio(tmp_path / "tone.wav")
    assert np.abs(loaded).max() == pytest.approx(0.5, abs=1e-3)


def test_sample_rates_must_be_whole_positive_hertz(tmp_path, stereo_music):
    samples, _ = stereo_music
    save_audio(tmp_path / "a.wav", samples, 44100.0)  # a whole float is a rate
    _, rate = load_audio(tmp_path / "a.wav", sample_rate=22050.0)
    assert rate == 22050 and isinstance(rate, int)
    with pytest.raises(InvalidAudioError, match=r"got True \(is it meant for another argument, e.g. mono=True\?\)"):
        load_audio(tmp_path / "a.wav", True)
    with pytest.raises(InvalidAudioError, match="sample_rate must be a positive whole number of Hz, got 0"):
        save_audio(tmp_path / "b.wav", samples, 0)
    assert not (tmp_path / "b.wav").exists()
    with pytest.raises(InvalidAudioError, match="transpose soundfile's"):
        resample(np.zeros((1000, 2)), 44100, 22050)
    with pytest.raises(InvalidAudioError, match=r"got a \(samples, sample_rate\) pair"):
        save_audio(tmp_path / "c.wav", stereo_music, 44100)


def test_unwritable_output_is_named_before_any_work(tmp_path):
    from riffnb.audio import check_output_path

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RiffnbError, match=r"cannot write .*a-file/x\.wav: .*a-file is a file, not a folder"):
        check_output_path(blocker / "x.wav")
    with pytest.raises(RiffnbError, match=r"^cannot write /proc/x\.wav: "):
        save_audio("/proc/x.wav", np.zeros(100), 8000)
