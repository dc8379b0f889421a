"""Endless tracks: clip after clip the way Riffusion's web app plays, stitched into one growing stream.

Riffusion's app never stops: it asks its server for one clip at a time, each an img2img riff of the same seed image
at an interpolation ``alpha`` between two :class:`~riffnb.diffusion.riff.PromptInput` ends, and plays them back to
back. Its rules (``pages/index.tsx`` and ``ModelInference.tsx`` in riffusion-app-hobby):

- ``alpha`` starts at 0.25 and advances 0.25 per clip: 0.25, 0.5, 0.75, 1.0, then rolls over to 0.25.
- With an unchanged prompt ``P`` the clips interpolate from ``(P, seed s)`` to ``(P, seed s + 1)``; at each roll-over
  ``s`` becomes ``s + 1``, so the noise glides from seed to seed and the music keeps changing.
- A new prompt ``Q`` waits for the next roll-over, then the next four clips interpolate from ``(P, s)`` to
  ``(Q, s)`` (the same seed at both ends: only the text changes); at the roll-over after that ``Q`` is the prompt and
  the seeds start stepping again. A prompt entered during a transition is the next transition.

:class:`EndlessSchedule` is those rules alone (no model: easy to test and to print); :class:`EndlessTrack` runs them
with a pipeline and crossfades the clips into :attr:`EndlessTrack.audio`.
"""

from __future__ import annotations

import dataclasses
import typing as T

import numpy as np

from ..errors import RiffnbError
from .interpolate import DEFAULT_CROSSFADE_S
from .riff import PromptInput

if T.TYPE_CHECKING:
    from PIL import Image

    from .pipeline import Clip, RiffusionPipeline

#: Riffusion's app: alpha advances this much per clip.
ALPHA_STEP = 0.25



@dataclasses.dataclass(frozen=True)
class EndlessRequest:
    """One clip of an endless track: riff at ``alpha`` between ``start`` and ``end``."""

    index: int
    alpha: float
    start: PromptInput
    end: PromptInput

    @property
    def transition(self) -> bool:
        """True while moving from one prompt to another (both ends then share a seed) rather than between seeds."""
        return self.start.seed == self.end.seed


class EndlessSchedule:
    """Riffusion's app rules for the next clip: an iterator of :class:`EndlessRequest` that never ends.

    Parameters
    ----------
    prompt
        The prompt to start with.
    seed
        The first seed (the app draws a random one; riffnb uses 0 unless told).
    alpha_step
        How far alpha moves per clip (the app's ``alphaVelocity``, 0.25).
    denoising, guidance, negative_prompt
        Used for both ends of every request (the app sends the same values at both ends).

    Examples
    --------
    >>> schedule = EndlessSchedule("jazz piano", seed=7)
    >>> [(r.alpha, r.start.seed, r.end.seed) for r in schedule.take(5)]
    [(0.25, 7, 8), (0.5, 7, 8), (0.75, 7, 8), (1.0, 7, 8), (0.25, 8, 9)]
    >>> schedule.set_prompt("church bells")
    >>> [(r.alpha, r.start.prompt, r.end.prompt, r.end.seed) for r in schedule.take(4)][::3]
    [(0.5, 'jazz piano', 'jazz piano', 9), (0.25, 'jazz piano', 'church bells', 9)]
    """

    def __init__(
        self,
        prompt: str,
        seed: int = 0,
        *,
        alpha_step: float = ALPHA_STEP,
        denoising: float = 0.75,
        guidance: float | None = None,
        negative_prompt: str | None = None,
    ) -> None:
        if not 0 < alpha_step <= 1:
            raise RiffnbError(f"alpha_step must be in (0, 1], got {alpha_step}; Riffusion's app uses 0.25")
        self.prompt = _check_prompt(prompt)
        self.seed = int(seed)
        self.alpha_step = float(alpha_step)
        self.denoising = denoising
        self.guidance = guidance
        self.negative_prompt = negative_prompt
        #: Where alpha restarts whenever the state changes (the app hard-codes 0.25, its default step).
        self.alpha = self.alpha_step
        #: The prompt being transitioned to, or None while the prompt stays the same.
        self.target: str | None = None
        #: A prompt given with :meth:`set_prompt`, waiting for the next roll-over.
        self.pending: str | None = None
        self.index = 0

    def set_prompt(self, prompt: str | None) -> None:
        """Move to ``prompt`` at the next roll-over (None cancels a prompt still waiting).

        Setting the prompt that is already playing (and not leaving) cancels a waiting change instead.
        """
        if prompt is None:
            self.pending = None
            return
        prompt = _check_prompt(prompt)
        current = self.target if self.target is not None else self.prompt
        self.pending = None if prompt == current else prompt

    def _input(self, prompt: str, seed: int) -> PromptInput:
        return PromptInput(
            prompt, seed, denoising=self.denoising, guidance=self.guidance, negative_prompt=self.negative_prompt
        )

    def __iter__(self) -> "EndlessSchedule":
        return self

    def __next__(self) -> EndlessRequest:
        if self.target is None:
            end = self._input(self.prompt, self.seed + 1)
        else:
            end = self._input(self.target, self.seed)
        request = EndlessRequest(self.index, self.alpha, self._input(self.prompt, self.seed), end)
        self.index += 1
        alpha = self.alpha + self.alpha_step
        # The app's tolerance: 1.0 itself is played, anything past it rolls over.
        if alpha > 1 + 1e-3:
            alpha -= 1
            if self._roll_over():
                # The app restarts alpha whenever the state changes (at 0.25, its step; here at the step). With a
                # step that divides 1 the roll-over has put it there already.
                alpha = self.alpha_step
        self.alpha = alpha
        return request

    def _roll_over(self) -> bool:
        """Apply the roll-over rules; True if the state changed (same prompt <-> transition)."""
        was_transition = self.target is not None
        if was_transition:
            self.prompt, self.target = self.target, None
        else:
            self.seed += 1
        if self.pending is not None:
            self.target, self.pending = self.pending, None
        return was_transition != (self.target is not None)

    def take(self, count: int) -> list[EndlessRequest]:
        """The next ``count`` requests."""
        return [next(self) for _ in range(count)]


class EndlessTrack:
    """An endless piece of music: iterate to generate clip after clip; :attr:`audio` grows with each one.

    Made by :meth:`RiffusionPipeline.endless <riffnb.diffusion.pipeline.RiffusionPipeline.endless>`. Each step runs
    :func:`~riffnb.diffusion.riff.riffuse` for the next :class:`EndlessRequest` of an :class:`EndlessSchedule` and
    crossfades the clip onto the end of the track. Change the music with :meth:`set_prompt`; as in Riffusion's app
    the change starts at the next roll-over of alpha and takes four clips.

    Examples
    --------
    ::

        track = pipe.endless("lofi beat", seed=3)
        for clip in track.take(4):
            print(clip.prompt, clip.extra["alpha"])
        track.set_prompt("church bells")
        track.take(8)
        track.save("endless.wav")
    """

    def __init__(
        self,
        pipeline: "RiffusionPipeline",
        schedule: EndlessSchedule,
        init_image: "Image.Image",
        *,
        mask: "Image.Image | None" = None,
        steps: int | None = None,
        scheduler: str | None = None,
        crossfade_s: float = DEFAULT_CROSSFADE_S,
        callback: T.Callable | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.schedule = schedule
        self.init_image = init_image
        self.mask = mask
        self.steps = steps
        self.scheduler = scheduler
        self.crossfade_s = crossfade_s
        self.callback = callback
        #: Every clip generated so far, in order.
        self.clips: list["Clip"] = []
        #: Where each clip starts in :attr:`audio`, in samples.
        self.starts: list[int] = []
        self._audio: np.ndarray | None = None

    @property
    def sample_rate(self) -> int:
        return self.pipeline.params.sample_rate

    @property
    def audio(self) -> np.ndarray:
        """The track so far, ``(channels, n)``: every clip, crossfaded into the next. Empty before the first."""
        if self._audio is None:
            return np.zeros((self.pipeline.params.num_channels, 0))
        return self._audio

    @property
    def duration_s(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    def set_prompt(self, prompt: str | None) -> None:
        """Move to ``prompt`` at the next roll-over (see :meth:`EndlessSchedule.set_prompt`)."""
        self.schedule.set_prompt(prompt)

    def __iter__(self) -> "EndlessTrack":
        return self

    def __next__(self) -> "Clip":
        from ..clips import crossfade_concatenate
        from .riff import riffuse

        request = next(self.schedule)
        clip = riffuse(
            self.pipeline,
            request.start,
            request.end,
            request.alpha,
            self.init_image,
            mask=self.mask,
            steps=self.steps,
            scheduler=self.scheduler,
            callback=self.callback,
            mode="endless",
        )
        if self._audio is None:
            self.starts.append(0)
            self._audio = np.array(clip.samples, dtype=np.float64, ndmin=2)
        else:
            fade = min(int(round(self.crossfade_s * self.sample_rate)), clip.samples.shape[-1] // 2)
            self.starts.append(self._audio.shape[-1] - fade)
            self._audio = crossfade_concatenate([self._audio, clip.samples], self.sample_rate, fade / self.sample_rate)
        self.clips.append(clip)
        return clip

    def take(self, count: int) -> list["Clip"]:
        """Generate the next ``count`` clips (appending them to :attr:`audio`) and return them."""
        return [next(self) for _ in range(count)]

    def save(self, path: str, *, overwrite: bool = False) -> None:
        """Write :attr:`audio` so far to ``path`` (WAV, FLAC, OGG or MP3)."""
        from ..audio import save_audio

        if self._audio is None:
            raise RiffnbError("the track has no clips yet; generate some first, e.g. track.take(4)")
        save_audio(path, self.audio, self.sample_rate, overwrite=overwrite)


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str):
        raise RiffnbError(f"a prompt must be a string, got {type(prompt).__name__}")
    return prompt


def endless_track(
    pipe: "RiffusionPipeline",
    prompt: str,
    *,
    seed: int | None = None,
    source: T.Any = None,
    mask: T.Any = None,
    steps: int | None = None,
    denoising: float = 0.75,
    guidance: float | None = None,
    negative_prompt: str | None = None,
    alpha_step: float = ALPHA_STEP,
    scheduler: str | None = None,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
    callback: T.Callable | None = None,
) -> EndlessTrack:
    """An :class:`EndlessTrack` of ``prompt``: Riffusion's app, without the browser.

    Parameters
    ----------
    seed
        The first seed (None: a random one); it steps up by one every four clips.
    source
        The seed image every clip is riffed from (anything :func:`~riffnb.diffusion.seeds.resolve_source` takes):
        riffnb's ``"beat"`` by default, ``"og_beat"`` for Riffusion's own (downloaded).
    denoising, guidance, negative_prompt
        Used for every clip (Riffusion's app: denoising 0.75, guidance 7; None: the model's default guidance).
    alpha_step
        How far each clip moves between seeds or prompts (the app's 0.25: four clips per seed or transition).
    crossfade_s
        Overlap of consecutive clips in :attr:`EndlessTrack.audio`.
    """
    from .pipeline import check_seed, random_seed
    from .seeds import DEFAULT_SEED_IMAGE, resolve_mask, resolve_source

    seed = random_seed() if seed is None else check_seed(seed)
    schedule = EndlessSchedule(
        prompt, seed, alpha_step=alpha_step, denoising=denoising, guidance=guidance, negative_prompt=negative_prompt
    )
    if crossfade_s < 0:
        raise RiffnbError(f"crossfade_s must not be negative, got {crossfade_s}")
    image, _ = resolve_source(
        DEFAULT_SEED_IMAGE if source is None else source, pipe.params, multiple=pipe.pipeline.vae_scale_factor,
        width=pipe.defaults.width,
    )
    mask_image, _ = resolve_mask(mask)
    return EndlessTrack(
        pipe, schedule, image, mask=mask_image, steps=steps, scheduler=scheduler, crossfade_s=crossfade_s, callback=callback
    )
