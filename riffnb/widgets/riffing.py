"""Riffusion's other ways to make music, as panels: riff on a sound, morph between two prompts, play forever.

- :class:`RiffPanel`: img2img on a spectrogram (:meth:`RiffusionPipeline.riff`): upload audio or pick a seed image,
  choose how much to change it (strength) and where (mask).
- :class:`InterpolationPanel`: clips at evenly spaced steps between two prompts and seeds
  (:meth:`RiffusionPipeline.interpolate`), stitched into one track.
- :class:`EndlessPlayer`: Riffusion's app in a notebook (:meth:`RiffusionPipeline.endless`): a background thread
  makes the next clip while the current one plays; change the prompt and the music follows.
"""

from __future__ import annotations

import html
import os
import tempfile
import threading
import time
import typing as T
import uuid

import ipywidgets as W

from ..errors import RiffnbError
from ._controls import DEFAULT_PANEL_MODEL, DiffusionControls
from ._panel import (
    DESCRIPTION_STYLE,
    Panel,
    action,
    audio_download,
    clip_html,
    data_url,
    hover_text,
    image_html,
    player_html,
    slug,
    uploaded_files,
)

if T.TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from ..diffusion.clip import Clip
    from ..diffusion.endless import EndlessTrack
    from ..diffusion.pipeline import RiffusionPipeline


def _wide(**options: T.Any) -> dict[str, T.Any]:
    return {"layout": W.Layout(width="100%"), "style": DESCRIPTION_STYLE, **options}


# ----------------------------------------------------------------------------------------------------------------


class RiffPanel(Panel, DiffusionControls):
    """Riff on a sound: upload audio (or pick a seed image), say what it should become, and how much may change.

    ``strength`` 0 keeps the source, 1 ignores it (Riffusion uses 0.75; 0.4-0.55 keeps a song recognisable); a
    mask keeps its black parts and repaints its white parts. Uploaded audio is riffed from its start, as long as
    the duration slider says (riffnb's seed images are made that long too; Riffusion's are 5.12 s).

    Examples
    --------
    >>> panel = RiffPanel("tiny")                 # doctest: +SKIP
    >>> clip = panel.run()                       # doctest: +SKIP
    """

    title = "Riff"
    help = "img2img on a spectrogram: upload audio or pick a seed image, then riff it towards a prompt"

    #: The seed-image choice meaning "the uploaded file".
    UPLOAD = "upload"

    def __init__(
        self,
        model: "str | RiffusionPipeline" = DEFAULT_PANEL_MODEL,
        *,
        prompt: str = "jazz piano",
        seed_image: str = "beat",
        strength: float = 0.75,
        seed: int = 1,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
    ) -> None:
        super().__init__()
        self._model_control(model)
        self.upload = W.FileUpload(accept="audio/*,.wav,.flac,.ogg,.mp3", multiple=False,
                                   description="upload audio")
        self._seed_image_control(seed_image, extra=[("uploaded audio", self.UPLOAD)])
        self._mask_control()
        self._width_control(width)
        self.prompt = W.Textarea(value=prompt, description="prompt", rows=2, **_wide())
        self.negative_prompt = W.Text(value="", description="negative prompt", **_wide())
        self.strength = self._strength_control(strength)
        self.seed, self.dice = self._seed_control(seed)
        self.steps = self._steps_control(steps)
        self.guidance = self._guidance_control(guidance)
        self.scheduler = self._scheduler_control(scheduler)
        self.riff_button = W.Button(description="Riff", button_style="primary", icon="play",
                                    tooltip="riff the source towards the prompt")
        self._make_progress(self.steps.value)
        self.source_view = W.HTML()
        self.result = W.HTML()
        #: The last riff (None before the first).
        self.clip: "Clip | None" = None
        self._control(self.upload, self.seed_image, self.mask, self.width, self.prompt, self.negative_prompt,
                      self.strength, self.seed, self.dice, self.steps, self.guidance, self.scheduler, self.model,
                      self.riff_button)
        self.upload.observe(self._on_upload, names="value")
        self.riff_button.on_click(lambda button: self.run())
        self._assemble(
            W.HBox([self.upload, self.seed_image]),
            W.HBox([self.width, self.mask]),
            self.prompt,
            self.negative_prompt,
            W.HBox([self.strength, self.seed, self.dice]),
            W.HBox([self.steps, self.guidance, self.scheduler]),
            self.model,
            W.HBox([self.riff_button, self.progress]),
            W.HBox([self.source_view, self.result]),
        )

    def _on_upload(self, change: dict) -> None:
        if uploaded_files(self.upload):
            self.seed_image.value = self.UPLOAD

    def source(self, pipe: "RiffusionPipeline") -> tuple["Image.Image", str]:
        """The spectrogram image the riff starts from, fitted to the model, and its name: the uploaded audio (its
        first ``duration`` seconds) or the chosen seed image."""
        from ..audio import load_audio
        from ..diffusion.seeds import resolve_source

        multiple = pipe.pipeline.vae_scale_factor
        if self.seed_image.value != self.UPLOAD:
            name = self.seed_image.value
            return resolve_source(self.named_seed_image(pipe, name), pipe.params, multiple=multiple)[0], name
        files = uploaded_files(self.upload)
        if not files:
            raise RiffnbError("no audio uploaded: press 'upload audio' and pick a file, or choose a seed image")
        name, content = files[-1]
        suffix = os.path.splitext(name)[1].lower() or ".wav"
        # load_audio reads files: hand it the upload under its own suffix, which tells it the format.
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"upload{suffix}")
            with open(path, "wb") as file:
                file.write(content)
            try:
                samples, sample_rate = load_audio(path)
            except RiffnbError as error:
                raise type(error)(str(error).replace(path, name)) from None
        keep = int(round(pipe.params.duration_of(self.width.value) * sample_rate))
        return resolve_source((samples[:, :keep], sample_rate), pipe.params, multiple=multiple)[0], name

    @action("riffing")
    def run(self) -> "Clip":
        """Riff the source with the controls' settings; returns the clip (also kept as ``panel.clip``)."""
        self._reset_progress()
        if not self.prompt.value.strip():
            raise RiffnbError("the prompt is empty: say what the sound should become, e.g. 'jazz piano'")
        pipe = self.pipeline()
        source, source_name = self.source(pipe)
        source_samples, source_rate = pipe.image_to_audio(source)
        self.source_view.value = (
            image_html(source, alt="source spectrogram", min_height=192, max_height=384,
                       caption=f"source: {source_name}")
            + "<br>" + player_html(source_samples, source_rate, "source")
        )

        def on_step(index: int, timestep: T.Any, latents: T.Any) -> None:
            self.progress.value = index + 1

        # img2img runs only the last int(steps * strength) steps of the schedule.
        with self._tracking(int(self.steps.value * self.strength.value)):
            clip = pipe.riff(source, self.prompt.value, strength=self.strength.value, seed=self.seed.value,
                             steps=self.steps.value, guidance=self.guidance.value,
                             negative_prompt=self.negative_prompt.value or None, mask=self.mask_choice(),
                             scheduler=self.scheduler.value, callback=on_step)
        # Saved with the clip's settings: where it came from (riff() only knows it was given an image).
        clip.extra["source"] = source_name
        self.clip = clip
        self.result.value = clip_html(clip, label=f"riff: {clip.prompt!r}, strength {self.strength.value:g}, "
                                                  f"seed {clip.seed}", min_height=192, max_height=384)
        return clip


# ----------------------------------------------------------------------------------------------------------------


class InterpolationPanel(Panel, DiffusionControls):
    """Morph from one prompt and seed to another: clips at evenly spaced steps, played as one stitched track.

    Every clip is a riff of the same seed image (so they share a beat); prompt embeddings, guidance and strength
    move in straight lines, the noise along the great circle between the two seeds' noises (Riffusion's
    ``riffuse``). The first clip is the start prompt with the start seed, the last the end prompt with the end seed.

    Examples
    --------
    >>> panel = InterpolationPanel("tiny", num_clips=4)   # doctest: +SKIP
    >>> clips = panel.run()                               # doctest: +SKIP
    """

    title = "Interpolation"
    help = "two prompts and seeds, the clips in between, one track"

    def __init__(
        self,
        model: "str | RiffusionPipeline" = DEFAULT_PANEL_MODEL,
        *,
        start_prompt: str = "church bells on a sunday morning",
        end_prompt: str = "jazz piano",
        start_seed: int = 1,
        end_seed: int = 2,
        num_clips: int = 5,
        strength: float = 0.75,
        seed_image: str = "beat",
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
    ) -> None:
        super().__init__()
        self._model_control(model)
        self.start_prompt = W.Text(value=start_prompt, description="start prompt", **_wide())
        self.start_seed, self.start_dice = self._seed_control(start_seed, "start seed")
        self.end_prompt = W.Text(value=end_prompt, description="end prompt", **_wide())
        self.end_seed, self.end_dice = self._seed_control(end_seed, "end seed")
        self.num_clips = W.IntSlider(value=num_clips, min=2, max=16, description="clips", continuous_update=False,
                                     style=DESCRIPTION_STYLE)
        self.strength = self._strength_control(strength)
        self._seed_image_control(seed_image)
        self._width_control(width)
        self.steps = self._steps_control(steps)
        self.guidance = self._guidance_control(guidance)
        self.scheduler = self._scheduler_control(scheduler)
        self.run_button = W.Button(description="Interpolate", button_style="primary", icon="play",
                                   tooltip="make the clips and stitch them")
        self._make_progress(num_clips)
        self.clips_view = W.HTML()
        self.track = W.HTML()
        #: The last clips made, start to end, and their stitched audio ``(channels, n)``.
        self.clips: list["Clip"] = []
        self.audio: "np.ndarray | None" = None
        self._control(self.start_prompt, self.start_seed, self.start_dice, self.end_prompt, self.end_seed,
                      self.end_dice, self.num_clips, self.strength, self.seed_image, self.width, self.steps,
                      self.guidance, self.scheduler, self.model, self.run_button)
        self.run_button.on_click(lambda button: self.run())
        self._assemble(
            self.start_prompt,
            W.HBox([self.start_seed, self.start_dice]),
            self.end_prompt,
            W.HBox([self.end_seed, self.end_dice]),
            W.HBox([self.num_clips, self.strength]),
            W.HBox([self.seed_image, self.width]),
            W.HBox([self.steps, self.guidance, self.scheduler]),
            self.model,
            W.HBox([self.run_button, self.progress]),
            self.track,
            self.clips_view,
        )

    @action("interpolating")
    def run(self) -> list["Clip"]:
        """Make the clips with the controls' settings and stitch them; returns the clips."""
        from ..diffusion.interpolate import interpolation_alphas, stitch_clips
        from ..diffusion.riff import PromptInput

        self._reset_progress()
        pipe = self.pipeline()
        start = PromptInput(self.start_prompt.value, self.start_seed.value, denoising=self.strength.value,
                            guidance=self.guidance.value)
        end = PromptInput(self.end_prompt.value, self.end_seed.value, denoising=self.strength.value,
                          guidance=self.guidance.value)
        alphas = interpolation_alphas(self.num_clips.value)
        source = self.named_seed_image(pipe, self.seed_image.value)
        shown: list[str] = []

        def on_clip(index: int, total: int, clip: "Clip") -> None:
            self.progress.value = index + 1
            shown.append(clip_html(clip, label=f"alpha {alphas[index]:.2f}", min_height=96, max_height=160))
            self.clips_view.value = "".join(
                f'<div style="display: inline-block; vertical-align: top; margin-right: 8px">{item}</div>'
                for item in shown
            )

        self.clips_view.value = ""
        self.track.value = ""
        with self._tracking(len(alphas)):
            clips = pipe.interpolate(start, end, num_clips=len(alphas), source=source, steps=self.steps.value,
                                     scheduler=self.scheduler.value, callback=on_clip)
        audio = stitch_clips(clips)
        rate = clips[0].sample_rate
        stem = f"{slug(start.prompt, 20)}_to_{slug(end.prompt, 20)}"
        self.track.value = (
            player_html(audio, rate, f"{start.prompt!r} \N{RIGHTWARDS ARROW} {end.prompt!r}, {len(clips)} clips")
            + audio_download(audio, rate, stem)
        )
        self.clips, self.audio = clips, audio
        return clips


# ----------------------------------------------------------------------------------------------------------------


class EndlessPlayer(Panel, DiffusionControls):
    """Music that never stops, like Riffusion's app: a background thread makes the next clip while the current one
    plays, each a riff of the seed image moving between seeds (and to a new prompt when you type one).

    Start loads the model and starts the thread; each finished clip appears as a player, and the players play
    one after the other (the first starts by itself when "play as clips arrive" is ticked: pressing Start is the
    request). The thread keeps at most ``ahead`` clips ready beyond the one playing, stops after ``max_clips``,
    and stops when you press Stop (after the clip in progress). Stop offers the whole track as a WAV.

    When the first clip starts by itself, only the newest ``keep_players`` players stay: older ones are removed to
    save memory (the one playing by the clock is among the newest; whether the browser really played the others
    it does not tell, and it may have blocked the autoplay). With "play as clips arrive" unticked nothing plays
    until you press play, so every player stays, up to ``max_clips``.

    Where it runs: a clip must take less time to make than to play for the music not to pause between clips,
    which needs a GPU with Riffusion's model (Colab's T4 runtime); on a CPU (Binder) use the tiny model, and
    expect pauses. On Colab the thread keeps going after the cell finishes, as in JupyterLab; Binder stops idle
    servers after 10 minutes, so stop the player when you leave.

    One player plays at a time: starting one stops any other (say, the one a cell made before it was run again),
    since they would share the processor and the model.

    :meth:`step` makes one clip synchronously (what the thread does in a loop), for notebooks and tests.

    Examples
    --------
    >>> player = EndlessPlayer("tiny")            # doctest: +SKIP
    >>> player.start()                            # doctest: +SKIP
    >>> player.prompt.value = "church bells"      # doctest: +SKIP
    >>> player.stop()                             # doctest: +SKIP
    """

    title = "Endless player"
    help = "press Start; type a new prompt and the music moves to it"

    #: The player whose thread runs (at most one).
    _playing: "EndlessPlayer | None" = None

    def __init__(
        self,
        model: "str | RiffusionPipeline" = DEFAULT_PANEL_MODEL,
        *,
        prompt: str = "lofi beat",
        seed: int = 1,
        seed_image: str = "beat",
        strength: float = 0.75,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
        ahead: int = 2,
        max_clips: int = 60,
        keep_players: int = 8,
    ) -> None:
        super().__init__()
        self._model_control(model)
        self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False,
                             **_wide(**hover_text("change it while playing: the music moves to it over four clips")))
        self.seed, self.dice = self._seed_control(seed, "first seed")
        self._seed_image_control(seed_image)
        self._width_control(width)
        self.strength = self._strength_control(strength, "denoising")
        self.steps = self._steps_control(steps)
        self.guidance = self._guidance_control(guidance)
        self.scheduler = self._scheduler_control(scheduler)
        self.ahead = W.IntSlider(value=ahead, min=1, max=4, description="clips ahead", style=DESCRIPTION_STYLE)
        self.autoplay = W.Checkbox(value=True, description="play as clips arrive", indent=False)
        self.start_button = W.Button(description="Start", button_style="success", icon="play",
                                     tooltip="start making and playing clips")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop", disabled=True,
                                    tooltip="stop after the clip in progress")
        self.now = W.HTML()
        self.players = W.VBox()
        self.download = W.HTML()
        self.max_clips = max_clips
        self.keep_players = max(keep_players, ahead + 2)
        #: The running :class:`~riffnb.diffusion.endless.EndlessTrack` (None before Start).
        self.track: "EndlessTrack | None" = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending_prompt: str | None = None
        self._play_started: float | None = None
        # Whether the track's first clip started by itself: only then do older players make way for new ones.
        self._autoplaying = False
        self._stream = uuid.uuid4().hex[:12]
        # Start is an action: these are disabled while the model loads, and while the thread plays (see _settle).
        self._control(self.model, self.seed, self.dice, self.seed_image, self.width, self.strength, self.steps,
                      self.guidance, self.scheduler, self.start_button)
        self.start_button.on_click(lambda button: self.start())
        self.stop_button.on_click(lambda button: self.stop(wait=False))
        self.prompt.observe(self._on_prompt, names="value")
        self._assemble(
            self.prompt,
            W.HBox([self.seed, self.dice, self.seed_image]),
            W.HBox([self.width, self.strength]),
            W.HBox([self.steps, self.guidance, self.scheduler]),
            W.HBox([self.model, self.ahead]),
            W.HBox([self.start_button, self.stop_button, self.autoplay]),
            self.now,
            self.players,
            self.download,
        )

    @property
    def playing(self) -> bool:
        """True while the background thread makes clips."""
        return self._thread is not None and self._thread.is_alive()

    @action("loading the model and starting")
    def start(self) -> None:
        """Start a new track with the controls' settings and make clips in a background thread."""
        other = EndlessPlayer._playing
        if other is not None and other is not self and other.playing:
            other.stop(wait=False)
        self._prepare()
        self._stopping.clear()
        EndlessPlayer._playing = self
        # Through _enable, so that the end of this action does not undo it.
        self._settle(playing=True)
        self._thread = threading.Thread(target=self._produce, name="riffnb-endless", daemon=True)
        self._thread.start()

    @action("preparing the track")
    def prepare(self) -> "EndlessTrack":
        """Load the model and make a new track with the controls' settings (no clips yet; :meth:`step` adds one)."""
        return self._prepare()

    def _prepare(self) -> "EndlessTrack":
        if self.playing and self._stopping.is_set():
            raise RiffnbError("still finishing the clip in progress after Stop; press Start again when it is done")
        if self.playing:
            raise RiffnbError("already playing: press Stop first")
        if not self.prompt.value.strip():
            raise RiffnbError("the prompt is empty: describe the music, e.g. 'lofi beat'")
        pipe = self.pipeline()
        self.track = pipe.endless(self.prompt.value, seed=self.seed.value,
                                  source=self.named_seed_image(pipe, self.seed_image.value), steps=self.steps.value,
                                  denoising=self.strength.value, guidance=self.guidance.value,
                                  scheduler=self.scheduler.value)
        self._pending_prompt = None
        self._play_started = None
        self._stream = uuid.uuid4().hex[:12]
        self.players.children = ()
        self.download.value = ""
        self.now.value = ""
        return self.track

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop making clips after the one in progress (``wait``: until the thread has ended)."""
        self._stopping.set()
        self.now.value = '<span style="opacity: 0.75">stopping after the clip in progress&hellip;</span>'
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _on_prompt(self, change: dict) -> None:
        # The thread applies it before its next clip: EndlessTrack is not meant to be changed mid-clip.
        if self.track is not None:
            self._pending_prompt = change["new"]

    def step(self) -> "Clip":
        """Make the next clip of the track and add its player; returns the clip."""
        if self.track is None:
            raise RiffnbError("no track yet: press Start (or call prepare())")
        if self._pending_prompt is not None:
            prompt, self._pending_prompt = self._pending_prompt, None
            if prompt.strip():
                self.track.set_prompt(prompt)
        index = len(self.track.clips)
        self.now.value = f'<span style="opacity: 0.75">making clip {index + 1}&hellip;</span>'
        clip = next(self.track)
        self._add_player(clip, index)
        return clip

    def _add_player(self, clip: "Clip", index: int) -> None:
        request = clip.extra
        start, end = request.get("start", {}), request.get("end", {})
        where = (f"{start.get('prompt')!r} seed {start.get('seed')} \N{RIGHTWARDS ARROW} {end.get('prompt')!r} "
                 f"seed {end.get('seed')}, alpha {request.get('alpha', 0):.2f}")
        if index == 0:
            self._play_started = time.monotonic()
            self._autoplaying = self.autoplay.value
        item = W.HTML(value=self._player_html(clip, index, where, autoplay=index == 0 and self._autoplaying))
        # Appending keeps the players already shown (and the one playing) untouched in the browser.
        self.players.children = tuple(self.players.children) + (item,)
        if self._autoplaying:
            for number, old in enumerate(self.players.children[: -self.keep_players], start=1):
                if "<audio" in old.value:
                    old.value = (f'<span style="opacity: 0.6">clip {number}: removed to save memory (Stop offers '
                                 "the whole track)</span>")
        self.now.value = (f'<span style="opacity: 0.75">{len(self.track.clips)} clips, '
                          f'{self.track.duration_s:.1f} s made</span>')

    def _player_html(self, clip: "Clip", index: int, caption: str, autoplay: bool) -> str:
        from ..audio import wav_bytes

        # Inline handlers chain the players in the browser: when one ends the next starts; a clip that arrives
        # after the previous one has ended starts as soon as it can play. Only the first plays by itself, and only
        # when asked (pressing Start with "play as clips arrive" ticked).
        find = (f"var l=[].slice.call(document.querySelectorAll('audio[data-riffnb-stream=\"{self._stream}\"]'));"
                "var i=l.indexOf(this);")
        on_ended = find + "var n=l[i+1];if(n&&n.paused){n.dataset.riffnbStarted='1';n.play();}"
        on_ready = (find + "if(this.dataset.riffnbStarted)return;var p=l[i-1];"
                    "if(p&&p.ended&&p.dataset.riffnbStarted){this.dataset.riffnbStarted='1';this.play();}")
        start = ' autoplay data-riffnb-started="1"' if autoplay else ""
        source = data_url(wav_bytes(clip.samples, clip.sample_rate), "audio/wav")
        return (
            f'<div class="riffnb-endless-clip"><span style="font-size: 0.85em">clip {index + 1}: '
            f'{html.escape(caption)}</span><br><audio controls preload="auto" data-riffnb-stream="{self._stream}"'
            f'{start} onended="{html.escape(on_ended)}" oncanplay="{html.escape(on_ready)}" src="{source}"></audio>'
            "</div>"
        )

    def seconds_ahead(self) -> float:
        """Seconds of music made beyond what has played (by the clock, from when the first clip arrived)."""
        if self.track is None or self._play_started is None:
            return 0.0
        return self.track.duration_s - (time.monotonic() - self._play_started)

    def _produce(self) -> None:
        try:
            while not self._stopping.is_set() and len(self.track.clips) < self.max_clips:
                clips = self.track.clips
                clip_s = clips[-1].duration if clips else 0.0
                if clips and self.seconds_ahead() > self.ahead.value * clip_s:
                    self._stopping.wait(0.1)
                    continue
                self.step()
        except Exception as error:  # noqa: BLE001 - shown in the panel, which stays usable
            self.show_error(error, "making the next clip")
        finally:
            self._settle(playing=False)

    def _settle(self, playing: bool) -> None:
        """While the thread plays only the prompt, "ahead" and Stop can change; afterwards all but Stop."""
        for control in self._controls:
            self._enable(control, not playing)
        self._enable(self.stop_button, playing)
        if not playing and self.track is not None and self.track.clips:
            stem = f"endless_{slug(self.track.clips[0].prompt, 30)}"
            self.download.value = (f"{len(self.track.clips)} clips, {self.track.duration_s:.1f} s: "
                                   + audio_download(self.track.audio, self.track.sample_rate, stem))
            self.now.value = '<span style="opacity: 0.75">stopped</span>'
