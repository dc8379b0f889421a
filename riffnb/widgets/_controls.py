"""Controls the diffusion panels share: model, seeds with a dice button, steps, guidance, duration, scheduler,
seed images and masks, and loading the model they name."""

from __future__ import annotations

import html
import typing as T

import ipywidgets as W

from ..errors import RiffnbError
from ..params import SpectrogramParams
from ._panel import DESCRIPTION_STYLE, model_label, pipeline_for

if T.TYPE_CHECKING:
    from PIL import Image

    from ..diffusion.loading import SamplingDefaults
    from ..diffusion.pipeline import RiffusionPipeline

#: Image widths the duration slider offers (64 columns = 0.64 s at Riffusion's 100 columns per second).
WIDTHS = tuple(range(64, 1025, 64))

#: The model panels load when none is given: riffnb's small model, which runs on a CPU.
DEFAULT_PANEL_MODEL = "tiny"

#: Rows of Riffusion's seed images (512x512): only a model drawing images this tall can riff on them.
RIFFUSION_SEED_ROWS = 512


def width_options(params: SpectrogramParams, widths: T.Iterable[int]) -> list[tuple[str, int]]:
    """``(label, width)`` pairs for a duration slider: "5.12 s" for 512 columns at Riffusion's parameters."""
    return [(f"{params.duration_of(width):.2f} s", int(width)) for width in sorted(set(widths))]


def seed_image_options(params: SpectrogramParams) -> list[tuple[str, str]]:
    """``(label, name)`` of the named seed images a model with ``params`` can use: riffnb's own (made offline at
    any parameters), then Riffusion's (downloaded, 512x512) when its images are 512 rows tall."""
    from ..diffusion.seeds import RIFFUSION_SEED_IMAGES, SEEDS

    options = [(f"{name} (riffnb)", name) for name in SEEDS]
    if params.num_frequencies == RIFFUSION_SEED_ROWS:
        options += [(f"{name} (Riffusion, downloaded)", name) for name in RIFFUSION_SEED_IMAGES]
    return options


class DiffusionControls:
    """Builders for the controls of the diffusion panels (a mixin for :class:`~riffnb.widgets._panel.Panel`)."""

    status: W.HTML

    def _model_control(self, model: "str | RiffusionPipeline") -> W.Combobox:
        """The model box; also fixes the model's sampling defaults, which controls given None start from.

        When another model loads (:meth:`pipeline`), steps, guidance, duration and scheduler are set to that
        model's defaults, replacing what was chosen for the previous model (a student's own values too).
        """
        from ..diffusion.loading import DEFAULT_MODEL, SHIPPED_MODELS, defaults_for, params_for

        self._given_pipeline = None if isinstance(model, str) else model
        self._defaults = defaults_for(model)
        self._params = params_for(model)
        # The model the sampling controls were set for: loading the same one again keeps the student's values.
        self._controls_model = model_label(model).strip()
        self.model = W.Combobox(value=model_label(model), options=list(SHIPPED_MODELS) + [DEFAULT_MODEL],
                                description="model", ensure_option=False, style=DESCRIPTION_STYLE,
                                layout=W.Layout(width="440px"),
                                placeholder="tiny, a hub id, or a local folder")
        self.model.observe(self._on_model, names="value")
        return self.model

    def _on_model(self, change: dict) -> None:
        from ..diffusion.loading import params_for

        # A shipped model or a local folder tells its image size without loading, so the seed images a student
        # may pick follow the box as it is typed in; the model's own parameters replace the guess when it loads.
        name = change["new"].strip()
        given = self._given_pipeline
        try:
            params = params_for(given if given is not None and name == model_label(given) else name)
        except (RiffnbError, RuntimeError):
            # A folder whose parameters file is broken, or a half-typed "~user" path: loading it will say what
            # is wrong.
            return
        self._fit_to(params)

    def _seed_control(self, value: int, description: str = "seed") -> tuple[W.BoundedIntText, W.Button]:
        """A seed box and a dice button that draws a random seed into it."""
        from ..diffusion.pipeline import MAX_SEED, random_seed

        seed = W.BoundedIntText(value=value, min=0, max=MAX_SEED, description=description, style=DESCRIPTION_STYLE,
                                layout=W.Layout(width="260px"))
        dice = W.Button(description="", icon="random", tooltip="draw a random seed", layout=W.Layout(width="44px"))

        def roll(button: W.Button) -> None:
            seed.value = random_seed()

        dice.on_click(roll)
        return seed, dice

    def _steps_control(self, value: int | None) -> W.IntSlider:
        return W.IntSlider(value=self._defaults.steps if value is None else value, min=1, max=100, description="steps", continuous_update=False,
                           style=DESCRIPTION_STYLE)

    def _guidance_control(self, value: float | None, description: str = "guidance") -> W.FloatSlider:
        return W.FloatSlider(value=self._defaults.guidance if value is None else value, min=0.0, max=20.0, step=0.5, description=description,
                             continuous_update=False, style=DESCRIPTION_STYLE)

    def _strength_control(self, value: float, description: str = "strength") -> W.FloatSlider:
        return W.FloatSlider(value=value, min=0.0, max=1.0, step=0.05, description=description,
                             continuous_update=False, style=DESCRIPTION_STYLE)

    def _width_control(self, value: int | None) -> W.SelectionSlider:
        value = self._defaults.width if value is None else value
        self.width = W.SelectionSlider(options=width_options(self._params, WIDTHS + (value,)), value=value,
                                       description="duration", continuous_update=False, style=DESCRIPTION_STYLE)
        return self.width

    def _scheduler_control(self, value: str | None) -> W.Dropdown:
        from ..diffusion.schedulers import SCHEDULERS

        return W.Dropdown(options=list(SCHEDULERS), value=self._defaults.scheduler if value is None else value, description="scheduler", style=DESCRIPTION_STYLE,
                          layout=W.Layout(width="260px"))

    def _seed_image_control(self, value: str, extra: T.Sequence[tuple[str, str]] = ()) -> W.Dropdown:
        self._seed_image_extra = list(extra)
        options = self._seed_image_extra + seed_image_options(self._params)
        names = [name for _, name in options]
        if value not in names:
            raise RiffnbError(
                f"seed image {value!r} is not offered for a model whose images are {self._params.num_frequencies} "
                f"rows tall (Riffusion's seed images are 512x512, for Riffusion's model): choose one of "
                f"{', '.join(names)}"
            )
        self.seed_image = W.Dropdown(options=options, value=value, description="seed image",
                                     style=DESCRIPTION_STYLE, layout=W.Layout(width="440px"))
        return self.seed_image

    def _mask_control(self) -> W.Dropdown:
        from ..diffusion.seeds import RIFFUSION_MASKS

        # Dropdowns show a None value as no selection: "none" stands for no mask.
        self.mask = W.Dropdown(options=[("none", "none")] + [(f"{name} (Riffusion, downloaded)", name)
                                                             for name in RIFFUSION_MASKS],
                               value="none", description="mask", style=DESCRIPTION_STYLE,
                               layout=W.Layout(width="440px"))
        return self.mask

    def mask_choice(self) -> str | None:
        """The chosen Riffusion mask's name, or None for no mask."""
        return None if self.mask.value == "none" else self.mask.value

    # ------------------------------------------------------------------------------------------------------------

    def pipeline(self) -> "RiffusionPipeline":
        """The pipeline the model box names (loaded on first use, then shared), or the one the panel was given.

        The controls are fitted to it: the duration slider is labelled in its seconds and the seed images are
        those its images fit; a model other than the one the controls were set for also sets steps, guidance,
        duration and scheduler to its defaults, so read them after calling this.
        """
        given = self._given_pipeline
        name = self.model.value.strip()
        if given is not None and name == model_label(given):
            pipe = given
        else:
            self.status.value = f'<span style="opacity: 0.75">loading {html.escape(self.model.value)}&hellip;</span>'
            pipe = pipeline_for(self.model.value)
        self._fit_to(pipe.params)
        if name != self._controls_model:
            self._controls_model = name
            self._set_defaults(pipe.defaults)
        return pipe

    def _set_defaults(self, defaults: "SamplingDefaults") -> None:
        self.steps.value = defaults.steps
        self.guidance.value = defaults.guidance
        self.scheduler.value = defaults.scheduler
        # The slider refuses a width it does not offer.
        self.width.options = width_options(self._params, [value for _, value in self.width.options]
                                           + [defaults.width])
        self.width.value = defaults.width

    def _fit_to(self, params: SpectrogramParams) -> None:
        """Label the duration slider in ``params``' seconds and offer the seed images that fit its image height.
        Each choice stays where it was if the new list holds it (a seed image that no longer fits becomes
        riffnb's default): new options alone would move it to the first."""
        from ..diffusion.seeds import DEFAULT_SEED_IMAGE

        self._params = params
        options = width_options(params, [value for _, value in self.width.options])
        if options != list(self.width.options):
            value = self.width.value
            self.width.options = options
            self.width.value = value
        seed_image = getattr(self, "seed_image", None)
        if seed_image is not None:
            options = self._seed_image_extra + seed_image_options(params)
            if options != list(seed_image.options):
                value = seed_image.value
                seed_image.options = options
                seed_image.value = value if value in [name for _, name in options] else DEFAULT_SEED_IMAGE

    def named_seed_image(self, pipe: "RiffusionPipeline", name: str) -> "Image.Image":
        """The seed image ``name`` for ``pipe``: riffnb's own at the duration slider's width, Riffusion's as it is."""
        from ..diffusion.seeds import SEEDS, seed_image

        if name in SEEDS:
            return seed_image(name, pipe.params, self.width.value)
        return seed_image(name)
