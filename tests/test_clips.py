"""Long audio: image-sized clips, crossfaded stitching without clicks, mapping a function over clips."""

import numpy as np
import pytest
from conftest import make_music

from riffnb.clips import (
    DEFAULT_CLIP_S,
    AudioClip,
    crossfade_concatenate,
    map_clips,
    num_samples,
    sample_clips,
    split_clips,
)
from riffnb.errors import InvalidAudioError
from riffnb.params import SpectrogramParams

SR = 44100


def max_jump(samples):
    return np.abs(np.diff(samples, axis=-1)).max()


def seam_jump(joined, seams, radius=2):
    """The largest sample-to-sample step within ``radius`` samples of each seam."""
    return max(max_jump(joined[..., seam - radius : seam + radius + 1]) for seam in seams)


def tone(frequency, seconds, phase=0.0, amplitude=0.5):
    t = np.arange(num_samples(seconds, SR)) / SR
    return amplitude * np.sin(2 * np.pi * frequency * t + phase)


# Cutting -------------------------------------------------------------------------------------------------------


def test_default_clip_is_one_512_column_image():
    params = SpectrogramParams()
    assert num_samples(DEFAULT_CLIP_S, SR) == 512 * params.hop_length == 225792
    assert params.columns_for(DEFAULT_CLIP_S) == 512


def test_sample_clips_draws_reproducible_random_clips():
    music = make_music(seconds=12.0)
    clips = sample_clips(music, SR, num_clips=5, seed=7)
    assert len(clips) == 5 and all(isinstance(clip, AudioClip) for clip in clips)
    for clip in clips:
        assert clip.samples.shape == (2, 225792)
        assert 0 <= clip.start <= music.shape[1] - 225792
        assert np.array_equal(clip.samples, music[:, clip.start : clip.start + 225792])
    again = sample_clips(music, SR, num_clips=5, seed=7)
    assert [clip.start for clip in again] == [clip.start for clip in clips]
    other = sample_clips(music, SR, num_clips=5, seed=8)
    assert [clip.start for clip in other] != [clip.start for clip in clips]


def test_sample_clips_reach_both_ends():
    # 6 possible starts: many draws hit the first and the last.
    audio = np.arange(10.0)
    starts = {clip.start for clip in sample_clips(audio, 1, num_clips=200, duration_s=5, seed=0)}
    assert starts == set(range(6))


def test_sample_clips_refuses_audio_shorter_than_a_clip():
    with pytest.raises(InvalidAudioError, match=r"audio is 3\.00 s long, shorter than one 5\.12 s clip"):
        sample_clips(make_music(seconds=3.0), SR)


@pytest.mark.parametrize("total, overlap", [(225792 * 3, 0), (225792 * 3 + 1, 0), (600000, 8820), (1000, 8820)])
def test_split_clips_cover_everything_once_in_order(total, overlap):
    audio = np.arange(total, dtype=float)[None] / total
    clips = split_clips(audio, SR, overlap_s=overlap / SR)
    length = 225792
    assert [clip.start for clip in clips] == list(range(0, len(clips) * (length - overlap), length - overlap))
    assert all(clip.samples.shape == (1, length) for clip in clips)
    assert clips[-1].start + length >= total  # covered to the end ...
    assert len(clips) == 1 or clips[-1].start < total - overlap  # ... with no clip that adds nothing
    for clip in clips:
        real = audio[:, clip.start : clip.start + length]
        assert np.array_equal(clip.samples[:, : real.shape[1]], real)
        assert not clip.samples[:, real.shape[1] :].any()  # zero padding


def test_split_clips_without_padding_ends_short_but_longer_than_the_overlap():
    audio = np.ones(1000)
    clips = split_clips(audio, 100, duration_s=3.0, overlap_s=0.5, pad=False)
    assert [(clip.start, clip.samples.shape[1]) for clip in clips] == [(0, 300), (250, 300), (500, 300), (750, 250)]


def test_split_clips_rejects_an_overlap_as_long_as_a_clip():
    with pytest.raises(ValueError, match="overlap"):
        split_clips(np.ones(100), 10, duration_s=1.0, overlap_s=1.0)


# Stitching -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlap_s", [0.0, 0.05, 0.2])
def test_linear_crossfade_rebuilds_split_audio_exactly(overlap_s):
    music = make_music(seconds=12.0)
    clips = split_clips(music, SR, overlap_s=overlap_s)
    joined = crossfade_concatenate(clips, SR, crossfade_s=overlap_s, curve="linear")
    assert np.allclose(joined[:, : music.shape[1]], music, atol=1e-12)


# Equal-power gains sum to up to sqrt(2) where the two clips are in phase: a smooth swell, not a click.
@pytest.mark.parametrize("curve, swell", [("equal_power", np.sqrt(2)), ("linear", 1.0)])
def test_crossfaded_seams_have_no_clicks(curve, swell):
    # Tones that do not line up at the seams: butt-joined they click, crossfaded they must not.
    clips = [tone(440, 1.0, phase) for phase in (0.0, 2.0, 4.0)] + [tone(330, 1.0, 1.0)]
    smooth = max(max_jump(clip) for clip in clips)
    butt = crossfade_concatenate(clips, SR, crossfade_s=0.0)
    seams = [SR * i for i in (1, 2, 3)]
    assert seam_jump(butt, seams) > 5 * smooth  # the measurement sees a click when there is one
    joined = crossfade_concatenate(clips, SR, crossfade_s=0.1, curve=curve)
    fade = num_samples(0.1, SR)
    assert joined.shape == (1, 4 * SR - 3 * fade)
    fade_regions = [seam for i in (1, 2, 3) for seam in (i * (SR - fade), i * (SR - fade) + fade)]
    assert max_jump(joined) <= 1.05 * swell * smooth
    assert seam_jump(joined, fade_regions) <= 1.05 * swell * smooth


def test_equal_power_keeps_the_loudness_of_unrelated_clips_steady():
    rng = np.random.default_rng(0)
    clips = [rng.normal(0, 0.1, 2 * SR) for _ in range(2)]
    fade = num_samples(0.5, SR)
    middle = slice(2 * SR - fade // 2 - 2000, 2 * SR - fade // 2 + 2000)  # the middle of the overlap
    steady = 20 * np.log10(0.1)

    def middle_db(curve):
        joined = crossfade_concatenate(clips, SR, crossfade_s=0.5, curve=curve)[0]
        return 20 * np.log10(np.sqrt(np.mean(joined[middle] ** 2)))

    assert abs(middle_db("equal_power") - steady) < 0.5
    assert middle_db("linear") - steady < -2.5  # linear dips 3 dB on unrelated audio: why equal power exists


def test_crossfade_mixes_mono_into_stereo_and_accepts_clip_tuples():
    stereo = np.ones((2, 100))
    joined = crossfade_concatenate([AudioClip(0, np.ones(100)), stereo], 100, crossfade_s=0.2, curve="linear")
    assert joined.shape == (2, 180) and np.allclose(joined, 1.0)


def test_crossfade_errors():
    with pytest.raises(ValueError, match="curve"):
        crossfade_concatenate([np.ones(10)], 10, curve="cubic")
    with pytest.raises(InvalidAudioError, match="no clips"):
        crossfade_concatenate([], 10)
    # A middle clip is faded at both ends, so it needs two crossfades' worth of samples.
    with pytest.raises(InvalidAudioError, match="clip 1 has 30 samples, too short"):
        crossfade_concatenate([np.ones(100), np.ones(30), np.ones(100)], 100, crossfade_s=0.2)
    with pytest.raises(InvalidAudioError, match="NaN"):
        crossfade_concatenate([np.ones(100), np.full(100, np.nan)], 100, crossfade_s=0.2)


# Mapping -------------------------------------------------------------------------------------------------------


def test_map_clips_identity_returns_the_input():
    music = make_music(seconds=11.0)
    out = map_clips(lambda clip: clip, music, SR, overlap_s=0.2, curve="linear")
    assert out.shape == music.shape and np.allclose(out, music, atol=1e-12)


def test_map_clips_stitches_phase_jumbled_clips_without_clicks():
    # Each clip comes back as a tone of random phase, as phase reconstruction gives: the seams must stay smooth.
    rng = np.random.default_rng(3)
    calls = []

    def rephase(clip):
        calls.append(clip.shape)
        return tone(220, clip.shape[1] / SR, rng.uniform(0, 2 * np.pi))[None]

    audio = np.zeros((1, 16 * SR))
    out = map_clips(rephase, audio, SR)
    assert out.shape == audio.shape
    assert len(calls) == 4 and set(calls) == {(1, 225792)}
    smooth = max_jump(tone(220, 1.0))
    assert max_jump(out) <= 1.05 * np.sqrt(2) * smooth  # at most the equal-power swell, never a click
    seams = [clip.start for clip in split_clips(audio, SR, overlap_s=0.2)[1:]]
    butt = np.concatenate([rephase(np.zeros((1, 225792)))[0] for _ in seams])
    assert seam_jump(butt[None], [225792 * i for i in range(1, len(seams))]) > 3 * smooth


def test_map_clips_fits_results_of_another_length_to_the_timeline():
    audio = np.ones((2, 30000))
    shorter = map_clips(lambda clip: clip[:, :-50], audio, 10000, duration_s=1.0, overlap_s=0.1, curve="linear")
    longer = map_clips(lambda clip: np.pad(clip, ((0, 0), (0, 70))), audio, 10000, duration_s=1.0, overlap_s=0.1)
    assert shorter.shape == longer.shape == (2, 30000)
    assert np.allclose(longer[:, :9000], 1.0)
    # The 50 missing samples at the end of each clip are a dip inside the crossfade, not a shift of what follows.
    assert np.allclose(shorter[:, :9950], 1.0) and np.allclose(shorter[:, 10000:18950], 1.0)
    assert (shorter[:, 9950:10000] < 0.9999).all()


def test_likely_mistakes_get_named():
    x = np.zeros((2, 44100))
    with pytest.raises(InvalidAudioError, match="takes a list of clips, got one array of shape"):
        crossfade_concatenate(x, 44100)
    with pytest.raises(InvalidAudioError, match=r"for a \(samples, sample_rate\) pair .* return its \[0\]"):
        map_clips(lambda clip: (clip, 44100), x, 44100, duration_s=0.5, overlap_s=0.1)
    with pytest.raises(InvalidAudioError, match="sample_rate must be a positive whole number of Hz, got 0"):
        split_clips(x, 0)
