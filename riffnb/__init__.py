"""riffnb: see, hear and change every step of text-to-music with Riffusion.

The pipeline, layer by layer (each a module a notebook can import on its own):

- :mod:`riffnb.audio` and :mod:`riffnb.stft`: samples, files, resampling, the STFT and its inverse
- :mod:`riffnb.mel`: mel filterbanks and their inversion
- :mod:`riffnb.image`: Riffusion's 8-bit spectrogram images
- :mod:`riffnb.phase`: phase reconstruction (Griffin-Lim, fast Griffin-Lim, PGHI)
- :mod:`riffnb.spectrogram`: audio <-> image, the whole chain
- :mod:`riffnb.diffusion`: text -> spectrogram image with diffusers
- :mod:`riffnb.plot`, :mod:`riffnb.display`, :mod:`riffnb.widgets`: figures, players and controls
- :mod:`riffnb.cli`: the ``riffnb`` command

Names are loaded on first use, so ``import riffnb`` stays fast; torch and diffusers load only for diffusion.
"""

from __future__ import annotations

import os
import sys

from ._lazy import lazy_exports

# OpenMP threads that spin while they wait collapse when the CPU is shared (Binder, a laptop busy with other work,
# two kernels on 2 cores): a 20-step riff measured 8.2 s spinning vs 1.0 s passive. torch reads this when it
# loads, so it is set here, before riffnb imports torch, unless the user chose a policy or torch is already in.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_EXPORTS = {
    "SpectrogramParams": "params",
    "ExifTags": "params",
    "params_from_image": "params",
    "RiffnbError": "errors",
    "InvalidAudioError": "errors",
    "InvalidImageError": "errors",
    "OutputExistsError": "errors",
    "load_audio": "audio",
    "save_audio": "audio",
    "normalize_audio": "audio",
    "resample": "audio",
    "mel_filterbank": "mel",
    "mel_from_linear": "mel",
    "linear_from_mel": "mel",
    "image_from_spectrogram": "image",
    "spectrogram_from_image": "image",
    "load_image": "image",
    "save_image": "image",
    "spectral_convergence": "phase",
    "reconstruct_audio": "phase",
    "spectrogram_from_audio": "spectrogram",
    "audio_from_spectrogram": "spectrogram",
    "image_from_audio": "spectrogram",
    "audio_from_image": "spectrogram",
    "sample_clips": "clips",
    "split_clips": "clips",
    "crossfade_concatenate": "clips",
    "map_clips": "clips",
    "plot_spectrogram": "plot",
    "plot_image": "plot",
    "plot_waveform": "plot",
    "compare": "plot",
    "play": "display",
    "play_all": "display",
    "check_answer": "exercises",
    "load_pipeline": "diffusion",
    "Clip": "diffusion",
}

# stft and istft stay in riffnb.stft: exporting them here would hide that module behind the function.
_SUBMODULES = {
    "audio", "cli", "clips", "diffusion", "display", "errors", "image", "mel", "params", "phase",
    "phase_torch", "plot", "spectrogram", "stft", "synth", "train", "widgets",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBMODULES)
