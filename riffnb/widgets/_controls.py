"""Controls the diffusion panels share: model, seeds with a dice button, steps, guidance, duration, scheduler,
seed images and masks, and loading the model they name."""

from __future__ import annotations

import html
import typing as T

import ipywidgets as W

from ..params import SpectrogramParams
from ._panel import DESCRIPTION_STYLE, model_label, pipeline_for

if T.TYPE_CHECKING:
    from PIL import Image

    from ..diffusion.pipeline import RiffusionPipeline

#: Image widths the duration slider offers (64 columns = 0.64 s at Riffusion's 100 columns per second).
WIDTHS = tuple(range(64, 1025, 64))

#: The model panels load when none is given: riffnb's small model, which runs on a CPU.
DEFAULT_PANEL_MODEL = "tiny"


def width_options(params: SpectrogramParams, widths: T.Iterable[int]) -> list[tuple[str, int]]:
    """``(label, width)`` pairs for a duration slider: "5.12 s" for 512 columns at Riffusion's parameters."""
    return [(f"{params.duration_of(width):.2f} s", int(width)) for width in sorted(set(widths))]


def seed_image_options(include_riffusion: bool = True) -> list[tuple[str, str]]:
    """``(label, name)`` of the named seed images: riffnb's own (made offline), then Riffusion's (downloaded)."""
    from ..diffusion.seeds import RIFFUSION_SEED_IMAGES, SEEDS

    options = [(f"{name} (riffnb)", name) for name in SEEDS]
    if include_riffusion:
        options += [(f"{name} (Riffusion, downloaded)", name) for name in RIFFUSION_SEED_IMAGES]
    return options


class DiffusionControls:
    """Builders for the controls of the diffusion panels (a mixin for :class:`~riffnb.widgets._panel.Panel`)."""

    status: W.HTML

    def _model_control(self, model: "str | RiffusionPipeline") -> W.Combobox:
        """The model box; also fixes the model's sampling defaults, which controls given None start from."""
        from ..diffusion.loading import DEFAULT_MODEL, SHIPPED_MODELS, defaults_for, params_for

        self._given_pipeline = None if isinstance(model, str) else model
        self._defaults = defaults_for(model)
        self._params = params_for(model)
        self.model = W.Combobox(value=model_label(model), options=list(SHIPPED_MODELS) + [DEFAULT_MODEL],
                                description="model", ensure_option=False, style=DESCRIPTION_STYLE,
                                layout=W.Layout(width="440px"),
                                placeholder="tiny, a hub id, or a local folder")
        return self.model

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
        self.seed_image = W.Dropdown(options=list(extra) + seed_image_options(), value=value,
                                     description="seed image", style=DESCRIPTION_STYLE, layout=W.Layout(width="440px"))
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
        """The pipeline the model box names (loaded on first use, then shared), or the one the panel was given."""
        given = self._given_pipeline
        if given is not None and self.model.value.strip() == model_label(given):
            pipe = given
        else:
            self.status.value = f'<span style="opacity: 0.75">loading {html.escape(self.model.value)}&hellip;</span>'
            pipe = pipeline_for(self.model.value)
        width = getattr(self, "width", None)
        if width is not None:
            options = width_options(pipe.params, [value for _, value in width.options])
            if options != list(width.options):
                value = width.value
                width.options = options
                width.value = value
        return pipe

    def named_seed_image(self, pipe: "RiffusionPipeline", name: str) -> "Image.Image":
        """The seed image ``name`` for ``pipe``: riffnb's own at the duration slider's width, Riffusion's as it is."""
        from ..diffusion.seeds import SEEDS, seed_image

        if name in SEEDS:
            return seed_image(name, pipe.params, self.width.value)
        return seed_image(name)
