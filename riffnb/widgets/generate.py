"""Text to music in a notebook: the generate panel, and a stepper that opens up the denoising loop.

Both are views over :meth:`RiffusionPipeline.text_to_audio <riffnb.diffusion.pipeline.RiffusionPipeline.text_to_audio>`
and its per-step callback; the live preview is the pipeline's fast latent preview (``latents_to_image(fast=True)``),
the step view its VAE decoding (``latents_to_image``) and phase reconstruction (``image_to_audio``).

The model loads on the first Generate (``"tiny"``, riffnb's small model, runs on any CPU; Riffusion's own
``"riffusion/riffusion-model-v1"`` needs a GPU to be pleasant: on Colab pick a T4 runtime). Panels share one loaded
model; pass ``model=pipe`` to use a pipeline you loaded yourself.
"""

from __future__ import annotations

import dataclasses
import time
import typing as T
import weakref

import ipywidgets as W

from ..errors import RiffnbError
from ._controls import DEFAULT_PANEL_MODEL, DiffusionControls
from ._panel import DESCRIPTION_STYLE, Panel, action, clip_html, image_html, player_html, quiet_progress

if T.TYPE_CHECKING:
    import torch
    from PIL import Image

    from ..diffusion.clip import Clip
    from ..diffusion.pipeline import RiffusionPipeline

#: Seconds between two live previews: each is a PNG sent to the browser, so not more often than that.
PREVIEW_INTERVAL_S = 0.3


class GenerationSettings(DiffusionControls):
    """The controls of the text-to-music panels, as attributes of the panel: ``prompt``, ``negative_prompt``,
    ``seed`` (and the ``dice`` button that draws a new one), ``steps``, ``guidance``, ``width`` (shown as a
    duration), ``scheduler`` and ``model``."""

    def _make_settings(
        self,
        model: "str | RiffusionPipeline",
        *,
        prompt: str,
        negative_prompt: str,
        seed: int,
        steps: int | None,
        guidance: float | None,
        width: int | None,
        scheduler: str | None,
    ) -> None:
        wide = {"layout": W.Layout(width="100%"), "style": DESCRIPTION_STYLE}
        self._model_control(model)
        self.prompt = W.Textarea(value=prompt, description="prompt", placeholder="funky jazz piano", rows=2, **wide)
        self.negative_prompt = W.Text(value=negative_prompt, description="negative prompt",
                                      placeholder="what to steer away from (optional)", **wide)
        self.seed, self.dice = self._seed_control(seed)
        self.steps = self._steps_control(steps)
        self.guidance = self._guidance_control(guidance)
        self._width_control(width)
        self.scheduler = self._scheduler_control(scheduler)

    def _settings_rows(self) -> list[W.Widget]:
        return [
            self.prompt,
            self.negative_prompt,
            W.HBox([self.seed, self.dice, self.scheduler]),
            W.HBox([self.steps, self.guidance]),
            W.HBox([self.width, self.model]),
        ]

    def _settings_controls(self) -> tuple[W.Widget, ...]:
        return (self.prompt, self.negative_prompt, self.seed, self.dice, self.steps, self.guidance, self.width,
                self.scheduler, self.model)

    def _checked_prompt(self) -> str:
        """The prompt; an empty one is refused (before a model loads for nothing)."""
        if not self.prompt.value.strip():
            raise RiffnbError("the prompt is empty: describe the music, e.g. 'funky jazz piano'")
        return self.prompt.value

    def text_to_audio_options(self) -> dict[str, T.Any]:
        """The keyword arguments for ``text_to_audio`` that the controls hold, other than the prompt. Read them
        after :meth:`pipeline`: a newly loaded model sets them to its defaults."""
        return dict(
            negative_prompt=self.negative_prompt.value or None,
            seed=self.seed.value,
            steps=self.steps.value,
            guidance=self.guidance.value,
            width=self.width.value,
            scheduler=self.scheduler.value,
        )


# ----------------------------------------------------------------------------------------------------------------


class GeneratePanel(Panel, GenerationSettings):
    """Prompt in, music out: Generate shows the denoising live, then the spectrogram, a player and downloads.

    Parameters
    ----------
    model
        A model name for :func:`riffnb.load_pipeline` (``"tiny"``, a hub id, a local folder), loaded on the first
        Generate, or a pipeline you loaded. Another model typed in the model box loads on the next Generate and
        sets steps, guidance, duration and scheduler to its defaults, replacing the values chosen before.
    prompt, negative_prompt, seed, steps, guidance, width, scheduler
        Starting values of the controls; for steps, guidance, width (in image columns) and scheduler None takes
        the model's defaults (tiny: 20 steps, guidance 4, 256 columns = 5.10 s; Riffusion: 30, 7, 512 = 5.11 s).

    Attributes
    ----------
    clip
        The last :class:`~riffnb.diffusion.clip.Clip` generated (None before the first).

    Examples
    --------
    >>> panel = GeneratePanel("tiny")             # doctest: +SKIP
    >>> panel                                     # doctest: +SKIP
    >>> clip = panel.generate()                   # doctest: +SKIP
    """

    title = "Generate"
    help = "text to music; the preview shows the image as it is denoised"

    def __init__(
        self,
        model: "str | RiffusionPipeline" = DEFAULT_PANEL_MODEL,
        *,
        prompt: str = "funky jazz piano",
        negative_prompt: str = "",
        seed: int = 42,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
    ) -> None:
        super().__init__()
        self._make_settings(model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                            guidance=guidance, width=width, scheduler=scheduler)
        self.generate_button = W.Button(description="Generate", button_style="primary", icon="play",
                                        tooltip="generate a clip with these settings")
        self.live_preview = W.Checkbox(value=True, description="live preview", indent=False,
                                       layout=W.Layout(width="120px"))
        self._make_progress(self.steps.value)
        self.preview = W.HTML()
        self.result = W.HTML()
        self.clip: "Clip | None" = None
        self._control(*self._settings_controls(), self.generate_button)
        self.generate_button.on_click(lambda button: self.generate())
        self._assemble(
            *self._settings_rows(),
            W.HBox([self.generate_button, self.live_preview, self.progress]),
            W.HBox([self.preview, self.result]),
        )

    @action("generating")
    def generate(self) -> "Clip":
        """Generate a clip with the controls' settings; returns it (also kept as ``panel.clip``)."""
        self._reset_progress()
        prompt = self._checked_prompt()
        pipe = self.pipeline()
        options = self.text_to_audio_options()
        self.preview.value = ""
        shown = [0.0]

        def on_step(index: int, timestep: T.Any, latents: "torch.Tensor") -> None:
            self.progress.value = index + 1
            now = time.monotonic()
            if self.live_preview.value and now - shown[0] >= PREVIEW_INTERVAL_S:
                shown[0] = now
                self.preview.value = image_html(
                    pipe.latents_to_image(latents, fast=True), alt="preview", min_height=192, max_height=256,
                    caption=f"step {index + 1}/{options['steps']} (fast preview)",
                )

        with self._tracking(options["steps"]):
            with quiet_progress(pipe):
                clip = pipe.text_to_audio(prompt, callback=on_step, **options)
        self.preview.value = ""
        self.clip = clip
        self.result.value = clip_html(clip)
        return clip


# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class StepperRun:
    """One generation the stepper keeps: every step's latents, the timesteps, thumbnails and the final clip, and
    the pipeline that made them (weakly: panels keep one model in memory, and only its VAE decodes its latents)."""

    label: str
    clip: "Clip"
    latents: list["torch.Tensor"]
    timesteps: list[float]
    thumbnails: list["Image.Image"]
    pipeline: "weakref.ref[RiffusionPipeline]"
    decoded: dict[int, tuple["Image.Image", T.Any, int]] = dataclasses.field(default_factory=dict)


class DiffusionStepper(Panel, GenerationSettings):
    """Scrub through the denoising steps of a generation: the decoded image and the audio after each step.

    Run generates a clip and keeps the latents of every step; the step slider decodes the latents after that step
    with the VAE and turns the image into audio. Every run is kept (up to ``max_runs``): change the scheduler or the
    guidance and run again, then compare the results side by side, or pick an earlier run to scrub. A run decodes
    with the model that made it: once another model has replaced it, the run's steps already shown still play.

    Examples
    --------
    >>> stepper = DiffusionStepper("tiny", steps=20)   # doctest: +SKIP
    >>> stepper.run()                                  # doctest: +SKIP
    >>> stepper.step.value = 5                         # doctest: +SKIP
    """

    title = "Diffusion stepper"
    help = "run, then scrub the steps; change scheduler or guidance and run again to compare"

    def __init__(
        self,
        model: "str | RiffusionPipeline" = DEFAULT_PANEL_MODEL,
        *,
        prompt: str = "funky jazz piano",
        negative_prompt: str = "",
        seed: int = 42,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        scheduler: str | None = None,
        max_runs: int = 6,
    ) -> None:
        super().__init__()
        self._make_settings(model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                            guidance=guidance, width=width, scheduler=scheduler)
        self.max_runs = max_runs
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="generate and keep every step")
        self._make_progress(self.steps.value)
        self.run_choice = W.Dropdown(options=[], description="run", style=DESCRIPTION_STYLE,
                                     layout=W.Layout(width="520px"), disabled=True)
        self.step = W.IntSlider(value=1, min=1, max=self.steps.value, description="after step", disabled=True,
                                continuous_update=False, style=DESCRIPTION_STYLE, layout=W.Layout(width="520px"))
        self.filmstrip = W.HTML()
        self.view = W.HTML()
        self.comparison = W.HTML()
        #: Every run kept, oldest first.
        self.runs: list[StepperRun] = []
        self._control(*self._settings_controls(), self.run_button, self.run_choice, self.step)
        self.run_button.on_click(lambda button: self.run())
        self.run_choice.observe(self._on_run_choice, names="value")
        self.step.observe(self._on_step, names="value")
        self._assemble(
            *self._settings_rows(),
            W.HBox([self.run_button, self.progress]),
            self.run_choice,
            self.step,
            self.filmstrip,
            self.view,
            self.comparison,
        )

    @action("generating and keeping every step")
    def run(self) -> "Clip":
        """Generate with the controls' settings, keeping every step; show the last step. Returns the clip."""
        self._reset_progress()
        prompt = self._checked_prompt()
        pipe = self.pipeline()
        options = self.text_to_audio_options()
        latents: list["torch.Tensor"] = []
        timesteps: list[float] = []
        thumbnails: list["Image.Image"] = []

        def keep(index: int, timestep: T.Any, step_latents: "torch.Tensor") -> None:
            latents.append(step_latents.cpu())
            timesteps.append(float(timestep))
            preview = pipe.latents_to_image(step_latents, fast=True)
            thumbnails.append(preview.resize((max(1, preview.width * 48 // preview.height), 48)))
            self.progress.value = index + 1

        with self._tracking(options["steps"]):
            with quiet_progress(pipe):
                clip = pipe.text_to_audio(prompt, callback=keep, **options)
        label = (f"#{len(self.runs) + 1}: {clip.scheduler}, guidance {clip.guidance:g}, {clip.steps} steps, "
                 f"seed {clip.seed}")
        self.runs.append(StepperRun(label, clip, latents, timesteps, thumbnails, weakref.ref(pipe)))
        del self.runs[: -self.max_runs]
        # Options change the value: the observer must not draw while the slider is re-ranged.
        self.run_choice.options = [(run.label, index) for index, run in enumerate(self.runs)]
        self.run_choice.value = len(self.runs) - 1
        self.step.max = len(latents)
        self.step.value = len(latents)
        self._enable(self.run_choice)
        self._enable(self.step)
        self._show(self.runs[-1], len(latents))
        self.comparison.value = self._comparison_html()
        return clip

    @property
    def current(self) -> StepperRun:
        if not self.runs:
            raise RiffnbError("no run yet: press Run first")
        return self.runs[self.run_choice.value if self.run_choice.value is not None else -1]

    def _on_run_choice(self, change: dict) -> None:
        if not self.running and change["new"] is not None and self.runs:
            self.show_step(self.step.value)

    def _on_step(self, change: dict) -> None:
        if not self.running and self.runs:
            self.show_step(change["new"])

    @action("decoding the step")
    def show_step(self, step: int) -> None:
        """Decode and play the latents after ``step`` (1 = the first) of the chosen run."""
        run = self.current
        self._show(run, step)

    def _show(self, run: StepperRun, step: int) -> None:
        step = int(min(max(step, 1), len(run.latents)))
        if self.step.max != len(run.latents):
            self.step.max = len(run.latents)
        if step not in run.decoded:
            pipe = run.pipeline()
            if pipe is None:
                model = run.clip.model
                raise RiffnbError(
                    f"run {run.label.split(':')[0]} was made with {model or 'another model'}, which is no longer "
                    "loaded (panels keep one model in memory): the steps already shown still play; to scrub the "
                    f"others, {f'set the model box to {model} and ' if model else ''}Run again"
                )
            image = pipe.latents_to_image(run.latents[step - 1])
            samples, sample_rate = pipe.image_to_audio(image)
            run.decoded[step] = (image, samples, sample_rate)
        image, samples, sample_rate = run.decoded[step]
        strip = "".join(
            f'<span style="display: inline-block; margin: 1px; outline: {"2px solid #d32f2f" if i + 1 == step else "none"}"'
            f' title="step {i + 1}, timestep {run.timesteps[i]:g}">{image_html(thumbnail, alt=f"step {i + 1}")}</span>'
            for i, thumbnail in enumerate(run.thumbnails)
        )
        self.filmstrip.value = f'<div style="overflow-x: auto; white-space: nowrap">{strip}</div>'
        self.view.value = (
            image_html(image, alt=f"step {step}", min_height=256, max_height=512,
                       caption=f"after step {step} of {len(run.latents)} (timestep {run.timesteps[step - 1]:g}), "
                               "VAE-decoded")
            + "<br>" + player_html(samples, sample_rate, f"step {step}")
        )

    def _comparison_html(self) -> str:
        items = "".join(
            f'<div style="display: inline-block; vertical-align: top; margin-right: 12px">'
            f'{clip_html(run.clip, label=run.label, min_height=128, max_height=192)}</div>'
            for run in self.runs
        )
        return f"<b>All runs</b><div>{items}</div>"
