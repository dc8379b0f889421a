"""Samplers ("schedulers" in diffusers) by name, each built from the model's own noise schedule.

A scheduler decides which timesteps the denoising visits and how each UNet prediction moves the latents. They all
share the model's training schedule (Riffusion: scaled_linear betas 0.00085-0.012 over 1000 steps); only the
update rule differs. DPM-Solver++ (multistep, 2nd order) gives clean results in 20-30 steps, PNDM (the model's
own) and DDIM need ~50, Euler ancestral and the other ancestral samplers add fresh noise at every step.
"""

from __future__ import annotations

import re
import typing as T

from ..errors import RiffnbError

#: riffnb's default sampler: fast and clean (Riffusion's playground default too).
DEFAULT_SCHEDULER = "dpm++"

#: name -> (diffusers class, settings that differ from the class defaults).
SCHEDULERS: dict[str, tuple[str, dict[str, T.Any]]] = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    # Latents are not images in [-1, 1]: clipping the predicted sample would distort them.
    "ddim": ("DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": False}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
}

_ALIASES = {
    "dpm": "dpm++", "dpmpp": "dpm++", "dpmsolver": "dpm++", "dpmsolver++": "dpm++", "dpm++2m": "dpm++",
    "dpmsolver++multistep": "dpm++", "eulerancestral": "euler_a", "eulera": "euler_a", "plms": "pndm",
    # diffusers' class names, as Riffusion's batch files give them ("DPMSolverMultistepScheduler").
    **{re.sub(r"scheduler$", "", class_name.lower()): key for key, (class_name, _) in SCHEDULERS.items()},
}


class UnknownSchedulerError(RiffnbError):
    """A scheduler name riffnb does not know."""


def scheduler_key(name: str) -> str:
    """The canonical name for ``name`` ("DPM-Solver++" -> "dpm++", "Euler ancestral" -> "euler_a").

    diffusers' class names work too, with or without "Scheduler", as Riffusion's batch files use them
    ("DPMSolverMultistepScheduler" -> "dpm++").

    Examples
    --------
    >>> [scheduler_key(n) for n in ("DPM-Solver++", "Euler ancestral", "DDIM", "lms")]
    ['dpm++', 'euler_a', 'ddim', 'lms']
    >>> [scheduler_key(n) for n in ("DPMSolverMultistepScheduler", "EulerAncestralDiscreteScheduler", "PNDMScheduler")]
    ['dpm++', 'euler_a', 'pndm']
    """
    if not isinstance(name, str):
        raise UnknownSchedulerError(f"a scheduler name must be a string, got {type(name).__name__}; use one of {_choices()}")
    squashed = re.sub(r"[\s_\-]", "", name.lower())
    squashed = re.sub(r"(?<=.)scheduler$", "", squashed)
    if name.lower() in SCHEDULERS:
        return name.lower()
    key = _ALIASES.get(squashed, squashed)
    if key not in SCHEDULERS:
        raise UnknownSchedulerError(f"unknown scheduler {name!r}; use one of {_choices()}")
    return key


def _choices() -> str:
    return ", ".join(SCHEDULERS)


def make_scheduler(config: T.Mapping[str, T.Any], name: str | None = None):
    """A fresh diffusers scheduler ``name`` (default :data:`DEFAULT_SCHEDULER`) on the noise schedule in ``config``.

    ``config`` is a scheduler config, usually ``pipeline.scheduler.config`` (the model's). A fresh object per
    generation means no state (e.g. DPM-Solver's history of predictions) leaks between runs.

    Examples
    --------
    >>> from diffusers import PNDMScheduler
    >>> type(make_scheduler(PNDMScheduler().config, "euler_a")).__name__
    'EulerAncestralDiscreteScheduler'
    """
    import diffusers

    class_name, settings = SCHEDULERS[scheduler_key(name or DEFAULT_SCHEDULER)]
    return getattr(diffusers, class_name).from_config(dict(config), **settings)


def scheduler_name(scheduler) -> str:
    """riffnb's name for a diffusers scheduler object ("dpm++", "pndm", ...), else its class name."""
    for key, (class_name, settings) in SCHEDULERS.items():
        if type(scheduler).__name__ == class_name and all(scheduler.config.get(k) == v for k, v in settings.items()):
            return key
    return type(scheduler).__name__
