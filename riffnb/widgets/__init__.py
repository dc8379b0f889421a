"""Widgets for the course: explorers for every step of the chain, and panels that generate music.

Each panel is a class whose controls are attributes (``panel.prompt``, ``panel.steps``, ...) and whose work is a
method the button calls and a notebook or test can call too (``panel.run()``, ``panel.generate()``). Show one with
``display(panel)`` or as the last expression of a cell; ``panel.widget`` is the whole panel as one widget.

- :class:`STFTExplorer`, :class:`MelExplorer`, :class:`PhaseExplorer`: the signal chain
- :class:`DiffusionStepper`: scrub the denoising steps of a generation; compare schedulers and guidance
- :class:`GeneratePanel`: text to music, with a live preview of the denoising
- :class:`InterpolationPanel`, :class:`RiffPanel`, :class:`EndlessPlayer`: Riffusion's riffs, morphs and endless
  music

They work with ipywidgets 7.7 (Colab) and 8 (JupyterLab 4, Notebook 7, VS Code). Errors appear in the panel, which
stays usable; nothing plays until you press play (the endless player starts playing when you press its Start).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "Panel": "_panel",
    "STFTExplorer": "explorers",
    "MelExplorer": "explorers",
    "PhaseExplorer": "explorers",
    "GeneratePanel": "generate",
    "DiffusionStepper": "generate",
    "InterpolationPanel": "riffing",
    "RiffPanel": "riffing",
    "EndlessPlayer": "riffing",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
