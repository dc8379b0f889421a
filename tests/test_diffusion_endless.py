"""Endless tracks: Riffusion's app rules for alpha, seeds and prompt changes, and seamless stitching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from riffnb.diffusion import seeds
from riffnb.diffusion.pipeline import RiffusionPipeline
from riffnb.diffusion.endless import EndlessSchedule
from riffnb.errors import RiffnbError


def summary(requests):
    return [(r.alpha, r.start.prompt, r.start.seed, r.end.prompt, r.end.seed) for r in requests]


def test_same_prompt_steps_alpha_by_a_quarter_and_seeds_at_each_roll_over():
    schedule = EndlessSchedule("lofi beat", seed=100)
    assert summary(schedule.take(9)) == [
        (0.25, "lofi beat", 100, "lofi beat", 101),
        (0.5, "lofi beat", 100, "lofi beat", 101),
        (0.75, "lofi beat", 100, "lofi beat", 101),
        (1.0, "lofi beat", 100, "lofi beat", 101),
        (0.25, "lofi beat", 101, "lofi beat", 102),
        (0.5, "lofi beat", 101, "lofi beat", 102),
        (0.75, "lofi beat", 101, "lofi beat", 102),
        (1.0, "lofi beat", 101, "lofi beat", 102),
        (0.25, "lofi beat", 102, "lofi beat", 103),
    ]


def test_a_new_prompt_waits_for_the_roll_over_then_transitions_with_one_seed():
    schedule = EndlessSchedule("lofi beat", seed=7, denoising=0.8, guidance=6.0)
    first = schedule.take(2)
    schedule.set_prompt("church bells")
    rest = schedule.take(10)
    assert summary(first + rest) == [
        (0.25, "lofi beat", 7, "lofi beat", 8),
        (0.5, "lofi beat", 7, "lofi beat", 8),
        (0.75, "lofi beat", 7, "lofi beat", 8),  # the change waits for the roll-over
        (1.0, "lofi beat", 7, "lofi beat", 8),
        (0.25, "lofi beat", 8, "church bells", 8),  # transition: the seed steps once, then holds
        (0.5, "lofi beat", 8, "church bells", 8),
        (0.75, "lofi beat", 8, "church bells", 8),
        (1.0, "lofi beat", 8, "church bells", 8),
        (0.25, "church bells", 8, "church bells", 9),  # the new prompt, seeds stepping again from the same seed
        (0.5, "church bells", 8, "church bells", 9),
        (0.75, "church bells", 8, "church bells", 9),
        (1.0, "church bells", 8, "church bells", 9),
    ]
    assert [r.transition for r in rest[2:7]] == [True, True, True, True, False]
    assert all(r.start.denoising == r.end.denoising == 0.8 and r.end.guidance == 6.0 for r in rest)
    assert [r.index for r in first + rest] == list(range(12))


def test_prompts_during_a_transition_chain_and_the_playing_prompt_cancels():
    schedule = EndlessSchedule("a", seed=0)
    schedule.take(3)
    schedule.set_prompt("b")
    assert summary(schedule.take(2)) == [(1.0, "a", 0, "a", 1), (0.25, "a", 1, "b", 1)]
    schedule.set_prompt("c")  # queued behind the transition
    chained = schedule.take(7)
    assert [(r.start.prompt, r.end.prompt) for r in chained] == [("a", "b")] * 3 + [("b", "c")] * 4
    assert {r.start.seed for r in chained} == {1}
    schedule.set_prompt("c")  # already where it is heading: nothing changes
    schedule.set_prompt("d")
    schedule.set_prompt(None)  # cancelled before the roll-over
    assert summary(schedule.take(1)) == [(0.25, "c", 1, "c", 2)]


def test_other_alpha_steps_roll_over_like_the_app():
    schedule = EndlessSchedule("a", seed=0, alpha_step=0.4)
    assert [(round(r.alpha, 6), r.start.seed) for r in schedule.take(5)] == [
        (0.4, 0), (0.8, 0), (0.2, 1), (0.6, 1), (1.0, 1)]
    schedule = EndlessSchedule("a", seed=0, alpha_step=0.4)
    schedule.set_prompt("b")
    # A change of state restarts alpha at the first step (the app's reset).
    assert [(round(r.alpha, 6), r.end.prompt) for r in schedule.take(4)] == [
        (0.4, "a"), (0.8, "a"), (0.4, "b"), (0.8, "b")]
    for bad in (0, 1.5):
        with pytest.raises(RiffnbError, match="alpha_step"):
            EndlessSchedule("a", alpha_step=bad)


# The track, with the tiny model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def track(tiny_pipe):
    # The tiny model's audio band-limited to 1 kHz: smooth enough that a discontinuity would stand out against
    # the clips' own sample-to-sample changes (full-band noise would hide one).
    smooth = RiffusionPipeline(
        tiny_pipe.pipeline, params=dataclasses.replace(tiny_pipe.params, max_frequency=1000), model=tiny_pipe.model
    )
    track = smooth.endless("lofi beat", seed=3, source=seeds.seed_image("beat", smooth.params, width=64),
                           steps=2, crossfade_s=0.01)
    track.take(3)
    track.set_prompt("church bells")
    track.take(3)
    return track


def test_track_clips_follow_the_schedule(track):
    assert [clip.extra["alpha"] for clip in track.clips] == [0.25, 0.5, 0.75, 1.0, 0.25, 0.5]
    assert [clip.extra["end"]["prompt"] for clip in track.clips] == ["lofi beat"] * 4 + ["church bells"] * 2
    assert [clip.extra["end"]["seed"] for clip in track.clips] == [4, 4, 4, 4, 4, 4]
    assert all(clip.mode == "endless" for clip in track.clips)


def test_track_audio_grows_with_crossfades_and_has_no_clicks_at_the_seams(track):
    rate = track.sample_rate
    fade = round(0.01 * rate)
    lengths = [clip.samples.shape[-1] for clip in track.clips]
    audio = track.audio
    assert audio.shape == (1, sum(lengths) - fade * (len(lengths) - 1))
    assert track.starts == [sum(lengths[:i]) - i * fade for i in range(len(lengths))]
    assert track.duration_s == pytest.approx(audio.shape[-1] / rate)
    # A click is a jump between neighbouring samples bigger than any inside the clips themselves.
    inside = max(np.abs(np.diff(clip.samples[0])).max() for clip in track.clips)

    def seam_jumps(signal):
        jumps = np.abs(np.diff(signal[0]))
        return [jumps[start - 8 : start + fade + 8].max() for start in track.starts[1:]]

    assert max(seam_jumps(audio)) <= inside
    cut = audio.copy()
    cut[:, track.starts[2] + fade // 2 :] += 2 * inside  # what a click looks like to this test
    assert max(seam_jumps(cut)) > inside
    # The seams are crossfades, not cuts: the overlap holds both clips.
    first, second = track.clips[0].samples[0], track.clips[1].samples[0]
    overlap = audio[0, track.starts[1] : track.starts[1] + fade]
    assert not np.allclose(overlap, first[-fade:]) and not np.allclose(overlap, second[:fade])


def test_track_saves_its_audio(track, tiny_pipe, tmp_path):
    import soundfile

    track.save(tmp_path / "endless.wav")
    samples, rate = soundfile.read(tmp_path / "endless.wav", always_2d=True)
    assert rate == track.sample_rate and samples.shape == (track.audio.shape[-1], 1)
    empty = tiny_pipe.endless("x", seed=1, source=seeds.seed_image("beat", tiny_pipe.params, width=64))
    assert empty.audio.shape == (1, 0)
    with pytest.raises(RiffnbError, match="no clips yet"):
        empty.save(tmp_path / "empty.wav")
