"""Text -> spectrogram image -> audio with a Riffusion-style Stable Diffusion model (diffusers, torch).

- :mod:`~riffnb.diffusion.loading`: :func:`load_pipeline` (hub id, local folder, or a shipped model), device/dtype
- :mod:`~riffnb.diffusion.pipeline`: :class:`RiffusionPipeline` and its ``text_to_audio``
- :mod:`~riffnb.diffusion.clip`: :class:`Clip`, a generated clip that shows, plays and saves itself
- :mod:`~riffnb.diffusion.prompts`: Riffusion's weighted prompts ``(word:1.3)``
- :mod:`~riffnb.diffusion.schedulers`: samplers by name
- :mod:`~riffnb.diffusion.steps`: the denoising loop unrolled into small functions, plus fast latent previews

Names load on first use: importing this package does not import torch.
"""

from __future__ import annotations

import importlib
import typing as T

_EXPORTS = {
    "load_pipeline": "loading",
    "choose_device": "loading",
    "choose_dtype": "loading",
    "DEFAULT_MODEL": "loading",
    "SHIPPED_MODELS": "loading",
    "ModelLoadError": "loading",
    "ModelNotFoundError": "loading",
    "GatedModelError": "loading",
    "HubUnreachableError": "loading",
    "NotAPipelineError": "loading",
    "UnsafeCheckpointError": "loading",
    "DeviceError": "loading",
    "DeviceMemoryError": "loading",
    "RiffusionPipeline": "pipeline",
    "GenerationError": "pipeline",
    "random_seed": "pipeline",
    "Clip": "clip",
    "PromptError": "prompts",
    "parse_weighted_prompt": "prompts",
    "SCHEDULERS": "schedulers",
    "DEFAULT_SCHEDULER": "schedulers",
    "UnknownSchedulerError": "schedulers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> T.Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'riffnb.diffusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
