"""Text -> spectrogram image -> audio with a Riffusion-style Stable Diffusion model (diffusers, torch).

- :mod:`~riffnb.diffusion.loading`: :func:`load_pipeline` (hub id, local folder, or a shipped model), device/dtype
- :mod:`~riffnb.diffusion.pipeline`: :class:`RiffusionPipeline` and its ``text_to_audio``
- :mod:`~riffnb.diffusion.clip`: :class:`Clip`, a generated clip that shows, plays and saves itself
- :mod:`~riffnb.diffusion.prompts`: Riffusion's weighted prompts ``(word:1.3)``
- :mod:`~riffnb.diffusion.schedulers`: samplers by name
- :mod:`~riffnb.diffusion.steps`: the denoising loop unrolled into small functions, plus fast latent previews
- :mod:`~riffnb.diffusion.riff`: riffing (img2img) with Riffusion's semantics, :class:`PromptInput`, :func:`riffuse`,
  :func:`riff_audio`
- :mod:`~riffnb.diffusion.interpolate`: a row of clips morphing between two prompts and seeds, :func:`stitch_clips`
- :mod:`~riffnb.diffusion.endless`: :class:`EndlessTrack`, clip after clip like Riffusion's app
- :mod:`~riffnb.diffusion.batch`: :func:`load_batch` and :func:`run_batch` for Riffusion's JSON batch files
- :mod:`~riffnb.diffusion.seeds`: seed images and masks by name, file, audio or image

Names load on first use: importing this package does not import torch. The functions ``riff`` and ``interpolate``
share their modules' names, so they are reached as methods of :class:`RiffusionPipeline` (``pipe.riff``) or from
their modules (``riffnb.diffusion.riff.riff``); the package attribute is the module once it is imported.
"""

from __future__ import annotations

import importlib
import typing as T

_EXPORTS = {
    "load_pipeline": "loading",
    "choose_device": "loading",
    "choose_dtype": "loading",
    "DEFAULT_MODEL": "loading",
    "FALLBACK_MODEL": "loading",
    "SHIPPED_MODELS": "loading",
    "SamplingDefaults": "loading",
    "RIFFUSION_DEFAULTS": "loading",
    "choose_model": "loading",
    "defaults_for": "loading",
    "params_for": "loading",
    "limits_for": "loading",
    "ModelLimits": "loading",
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
    "check_settings": "pipeline",
    "Clip": "clip",
    "PromptError": "prompts",
    "parse_weighted_prompt": "prompts",
    "SCHEDULERS": "schedulers",
    "DEFAULT_SCHEDULER": "schedulers",
    "UnknownSchedulerError": "schedulers",
    "PromptInput": "riff",
    "RiffedAudio": "riff",
    "riffuse": "riff",
    "riff_audio": "riff",
    "lerp": "riff",
    "slerp": "riff",
    "check_strength": "riff",
    "check_windows": "riff",
    "DEFAULT_STRENGTH": "riff",
    "AUDIO_TO_AUDIO_STRENGTH": "riff",
    "AUDIO_TO_AUDIO_WINDOW_S": "riff",
    "AUDIO_TO_AUDIO_OVERLAP_S": "riff",
    "interpolation_alphas": "interpolate",
    "stitch_clips": "interpolate",
    "DEFAULT_CROSSFADE_S": "interpolate",
    "EndlessTrack": "endless",
    "EndlessSchedule": "endless",
    "EndlessRequest": "endless",
    "endless_track": "endless",
    "ALPHA_STEP": "endless",
    "Batch": "batch",
    "BatchParams": "batch",
    "BatchEntry": "batch",
    "BatchResult": "batch",
    "BatchFormatError": "batch",
    "load_batch": "batch",
    "run_batch": "batch",
    "output_names": "batch",
    "SEEDS": "seeds",
    "DEFAULT_SEED_IMAGE": "seeds",
    "RIFFUSION_SEED_IMAGES": "seeds",
    "RIFFUSION_MASKS": "seeds",
    "SeedImageError": "seeds",
    "seed_image": "seeds",
    "seed_audio": "seeds",
    "riffusion_image": "seeds",
    "resolve_source": "seeds",
    "resolve_mask": "seeds",
    "fit_width": "seeds",
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
