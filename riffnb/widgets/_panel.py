"""What every riffnb panel shares: layout, the error box, busy buttons, and HTML for images, figures and players.

Panels build on the part of the ipywidgets API that 7.7 (Colab) and 8 (JupyterLab 4, Notebook 7, VS Code) have in
common. Results are shown as HTML widgets holding ``<img>``, ``<audio controls>`` and ``<a download>`` elements with
``data:`` URLs, never ``Output`` widgets: an HTML widget's value is its content (tests and notebooks can read it),
it renders the same in every frontend, and it needs no kernel round trip to show.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import json
import re
import time
import traceback
import typing as T

import ipywidgets as W

from ..errors import RiffnbError

if T.TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    from ..diffusion.clip import Clip
    from ..diffusion.pipeline import RiffusionPipeline

#: The ipywidgets major version this kernel runs (7 on Colab, 8 elsewhere).
IPYWIDGETS_MAJOR = int(W.__version__.split(".")[0])

#: Width of a description column, so that rows of controls line up.
DESCRIPTION_STYLE = {"description_width": "110px"}


def hover_text(text: str) -> dict[str, str]:
    """The keyword that gives a described widget (Text, slider, ...) a hover text: ``tooltip`` in ipywidgets 8,
    ``description_tooltip`` in 7.7 (Colab), which ignores ``tooltip``. Buttons take ``tooltip`` in both."""
    return {"tooltip" if int(W.__version__.split(".")[0]) >= 8 else "description_tooltip": text}

_ERROR_STYLE = (
    "border-left: 4px solid #c62828; background: #fdecea; color: #611a15; padding: 6px 10px; margin: 4px 0; "
    "white-space: normal"
)


def action(label: str) -> T.Callable:
    """Make a panel method an action: its controls are disabled while it runs, an error shows in the panel's error
    box (the method then returns None) instead of escaping into the kernel's log, and the status line says how
    long it took. ``label`` is what the status line says while it runs ("generating")."""

    def decorate(method: T.Callable) -> T.Callable:
        @functools.wraps(method)
        def run(self: "Panel", *args: T.Any, **kwargs: T.Any) -> T.Any:
            return self._attempt(label, method, self, *args, **kwargs)

        return run

    return decorate


class Panel:
    """Base of riffnb's panels: ``panel.widget`` is the whole panel, ``display(panel)`` shows it.

    Attributes every panel has: ``error`` (an HTML box, hidden while there is no error), ``status`` (one line: what
    runs, or what the last action took) and ``last_error`` (the exception the error box shows, or None).
    """

    title = ""
    help = ""

    def __init__(self) -> None:
        self.error = W.HTML(value="", layout=W.Layout(display="none"))
        self.status = W.HTML(value="")
        self.last_error: BaseException | None = None
        self._controls: list[W.Widget] = []
        self._widget: W.Widget | None = None
        self._running = 0
        # While an action runs: each control's disabled state to restore afterwards.
        self._restore: dict[int, bool] = {}

    # Layout ---------------------------------------------------------------------------------------------------

    def _assemble(self, *rows: W.Widget) -> W.VBox:
        header = W.HTML(
            value=f"<b>{html.escape(self.title)}</b>"
            + (f' <span style="opacity: 0.75">{html.escape(self.help)}</span>' if self.help else "")
        )
        self._widget = W.VBox([header, *rows, self.error, self.status], layout=W.Layout(width="100%"))
        return self._widget

    @property
    def widget(self) -> W.Widget:
        """The panel as one widget, to place in your own layouts (``VBox([panel.widget, ...])``)."""
        assert self._widget is not None, "a panel calls _assemble() in its __init__"
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _control(self, *widgets: W.Widget) -> None:
        """Register controls that are disabled while an action runs."""
        self._controls.extend(widgets)

    # Actions and errors ---------------------------------------------------------------------------------------

    def _enable(self, widget: W.Widget, enabled: bool = True) -> None:
        """Enable or disable a control; while an action runs, from when the action ends."""
        if self._running and id(widget) in self._restore:
            self._restore[id(widget)] = not enabled
        else:
            widget.disabled = not enabled

    @contextlib.contextmanager
    def _busy(self, label: str) -> T.Iterator[None]:
        """Disable the controls (restoring each one's own state afterwards) and say what runs."""
        outermost = not self._running
        if outermost:
            self._restore = {id(widget): widget.disabled for widget in self._controls}
            for widget in self._controls:
                widget.disabled = True
        self._running += 1
        self.status.value = f'<span style="opacity: 0.75">{html.escape(label)}&hellip;</span>'
        started = time.perf_counter()
        try:
            yield
        finally:
            self._running -= 1
            if outermost:
                for widget in self._controls:
                    widget.disabled = self._restore.get(id(widget), False)
                self._restore = {}
            self.status.value = (
                f'<span style="opacity: 0.75">{html.escape(label)} took {time.perf_counter() - started:.2f} s</span>'
            )

    def _attempt(self, label: str, function: T.Callable, *args: T.Any, **kwargs: T.Any) -> T.Any:
        self.clear_error()
        try:
            with self._busy(label):
                return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - shown in the panel, which stays usable
            self.show_error(error, label)
            return None

    def _make_progress(self, total: int, width: str = "320px") -> W.IntProgress:
        self.progress = W.IntProgress(value=0, min=0, max=max(total, 1), layout=W.Layout(width=width))
        return self.progress

    def _reset_progress(self) -> None:
        self.progress.value = 0
        self.progress.bar_style = ""

    @contextlib.contextmanager
    def _tracking(self, total: int) -> T.Iterator[W.IntProgress]:
        """The progress bar of one run of ``total`` units: blue while running, green when done, red on an error."""
        self.progress.max = max(total, 1)
        self.progress.value = 0
        self.progress.bar_style = "info"
        try:
            yield self.progress
        except BaseException:
            self.progress.bar_style = "danger"
            raise
        self.progress.value = self.progress.max
        self.progress.bar_style = "success"

    @property
    def running(self) -> bool:
        """True while an action runs."""
        return self._running > 0

    def show_error(self, error: BaseException, doing: str = "") -> None:
        """Show ``error`` in the panel's error box. A riffnb error is one line saying what to fix; anything else
        also shows its traceback (folded), since it is a bug worth reporting."""
        self.last_error = error
        message = html.escape(str(error).strip() or type(error).__name__)
        where = f" while {html.escape(doing)}" if doing else ""
        details = ""
        if not isinstance(error, RiffnbError):
            message = f"{html.escape(type(error).__name__)}: {message}"
            trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            details = f"<details><summary>traceback</summary><pre>{html.escape(trace)}</pre></details>"
        self.error.value = (
            f'<div class="riffnb-error" role="alert" style="{_ERROR_STYLE}"><b>Error{where}:</b> {message}{details}</div>'
        )
        self.error.layout.display = None

    def clear_error(self) -> None:
        self.last_error = None
        self.error.value = ""
        self.error.layout.display = "none"


# HTML for results --------------------------------------------------------------------------------------------------


def png_bytes(image: "Image.Image") -> bytes:
    """``image`` as PNG bytes, with its EXIF (Riffusion's parameter tags) kept, as :func:`riffnb.image.save_image`
    writes it."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=image.getexif())
    return buffer.getvalue()


def data_url(data: bytes, mime: str) -> str:
    """``data`` inline as a ``data:`` URL (base64)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_html(image: "Image.Image", *, alt: str = "spectrogram", min_height: int = 0, max_height: int = 0,
               caption: str = "") -> str:
    """An ``<img>`` of ``image`` (inline PNG), pixels kept sharp; shown scaled up to at least ``min_height`` or
    down to at most ``max_height`` pixels tall (aspect kept)."""
    height = image.height
    if min_height and height < min_height:
        height = min_height
    if max_height and height > max_height:
        height = max_height
    width = max(1, round(image.width * height / image.height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    tag = (
        f'<img src="{data_url(buffer.getvalue(), "image/png")}" alt="{html.escape(alt)}" width="{width}" '
        f'height="{height}" style="image-rendering: pixelated; border: 1px solid #8884">'
    )
    if caption:
        return (f'<figure style="display: inline-block; margin: 4px 12px 4px 0; vertical-align: top">{tag}'
                f'<figcaption style="font-size: 0.85em">{html.escape(caption)}</figcaption></figure>')
    return tag


def figure_html(figure: "Figure", *, dpi: int = 80) -> str:
    """An ``<img>`` of a matplotlib figure (inline PNG), as wide as it was drawn, never wider than the panel."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return f'<img src="{data_url(buffer.getvalue(), "image/png")}" style="max-width: 100%" alt="figure">'


def player_html(samples: "np.ndarray", sample_rate: int, label: str | None = None) -> str:
    """A labelled ``<audio controls>`` player (:func:`riffnb.display.play`: honest level, no autoplay, no loop)."""
    from ..display import play

    return play(samples, sample_rate, label=label)._repr_html_()


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe version of ``text`` ("funky jazz, piano!" -> "funky_jazz_piano")."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit] or "clip"


def download_link(data: bytes, filename: str, mime: str, label: str) -> str:
    """An ``<a download>`` link that saves ``data`` as ``filename`` (works in every frontend, Colab included)."""
    return (f'<a download="{html.escape(filename)}" href="{data_url(data, mime)}" '
            f'style="margin-right: 1em" title="save {html.escape(filename)}">&#x2B07; {html.escape(label)}</a>')


def audio_download(samples: "np.ndarray", sample_rate: int, stem: str) -> str:
    from ..audio import wav_bytes

    return download_link(wav_bytes(samples, sample_rate), f"{stem}.wav", "audio/wav", "WAV")


def clip_downloads(clip: "Clip", stem: str | None = None) -> str:
    """Download links for a clip's WAV, its spectrogram PNG (with EXIF) and its settings JSON."""
    stem = stem or f"{slug(clip.prompt)}_seed{clip.seed}"
    return (
        '<div class="riffnb-downloads">'
        + audio_download(clip.samples, clip.sample_rate, stem)
        + download_link(png_bytes(clip.image), f"{stem}.png", "image/png", "PNG")
        + download_link(json.dumps(clip.settings(), indent=2).encode(), f"{stem}.json", "application/json",
                        "settings")
        + "</div>"
    )


def clip_html(clip: "Clip", *, label: str | None = None, min_height: int = 256, max_height: int = 512) -> str:
    """A generated clip: its spectrogram image, a player and download links."""
    caption = label or f"{clip.prompt!r}, seed {clip.seed}, {clip.duration:.2f} s"
    return (
        '<div class="riffnb-clip">'
        + image_html(clip.image, alt=f"spectrogram of {clip.prompt}", min_height=min_height, max_height=max_height)
        + "<br>"
        + player_html(clip.samples, clip.sample_rate, caption)
        + clip_downloads(clip)
        + "</div>"
    )


# ipywidgets 7 / 8 differences ---------------------------------------------------------------------------------


def uploaded_files(upload: W.FileUpload) -> list[tuple[str, bytes]]:
    """``(name, content)`` of the files in a FileUpload, in ipywidgets 7 (a dict by name) and 8 (a tuple of dicts)."""
    value = upload.value
    if isinstance(value, dict):
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]


# Models ------------------------------------------------------------------------------------------------------------

# One model in memory at a time: Binder has 2 GB, and a second copy of Riffusion's weights needs 4 GB more.
_pipelines: dict[str, "RiffusionPipeline"] = {}


def pipeline_for(model: "str | RiffusionPipeline") -> "RiffusionPipeline":
    """The pipeline for ``model``: a loaded pipeline as it is, else :func:`riffnb.load_pipeline` (kept for the next
    call, shared by every panel; loading another model drops the previous one)."""
    if not isinstance(model, str):
        return model
    name = model.strip()
    if not name:
        raise RiffnbError("no model given: type 'tiny' (riffnb's small model), a hub id or a local folder")
    if name not in _pipelines:
        from ..diffusion.loading import load_pipeline

        _pipelines.clear()
        _pipelines[name] = load_pipeline(name)
    return _pipelines[name]


@contextlib.contextmanager
def quiet_progress(pipe: "RiffusionPipeline") -> T.Iterator[None]:
    """Hide diffusers' own tqdm bar while a panel generates: Colab and classic Notebook print a button callback's
    output under the panel, which has its own progress bar. The pipeline's setting is restored afterwards."""
    inner = pipe.pipeline
    saved = dict(getattr(inner, "_progress_bar_config", None) or {})
    inner.set_progress_bar_config(**{**saved, "disable": True})
    try:
        yield
    finally:
        inner.set_progress_bar_config(**saved)


def model_label(model: "str | RiffusionPipeline") -> str:
    return model if isinstance(model, str) else (model.model or "pipeline")
