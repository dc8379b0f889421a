"""A generated clip: the spectrogram image, its audio, and every setting needed to make it again."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import os
import typing as T
from pathlib import Path

import numpy as np

from ..audio import AUDIO_FORMATS, atomic_output, audio_html, output_set, save_audio
from ..errors import RiffnbError
from ..image import save_image
from ..params import SpectrogramParams

if T.TYPE_CHECKING:
    import torch
    from PIL import Image


@dataclasses.dataclass(eq=False)
class Clip:
    """One generated clip. Shows itself in a notebook (spectrogram and player); :meth:`save` writes it to disk.

    Attributes
    ----------
    image
        The spectrogram image the model drew (PIL, Riffusion's EXIF parameter tags included).
    samples, sample_rate
        The audio: float ``(channels, n)`` in [-1, 1].
    seed, prompt, negative_prompt, steps, guidance, width, scheduler, model
        The settings it was made with: the same settings and seed give the same clip, bit for bit, on a CPU.
    params
        The spectrogram parameters that turned the image into audio.
    mode
        How it was made ("text_to_audio", or the name of another generator).
    extra
        Settings particular to ``mode`` (e.g. a seed image and denoising strength), saved with the rest.
    latents
        The final latents, ``(1, 4, height / 8, width / 8)``, for inspection; not saved.
    """

    image: "Image.Image"
    samples: np.ndarray
    sample_rate: int
    seed: int
    prompt: str
    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    scheduler: str | None = None
    model: str | None = None
    params: SpectrogramParams = dataclasses.field(default_factory=SpectrogramParams)
    mode: str = "text_to_audio"
    extra: dict[str, T.Any] = dataclasses.field(default_factory=dict)
    latents: "torch.Tensor | None" = dataclasses.field(default=None, repr=False)

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return self.samples.shape[-1] / self.sample_rate

    def settings(self) -> dict[str, T.Any]:
        """Everything needed to make this clip again, as JSON-ready values (what :meth:`save` writes)."""
        from .. import __version__

        return {
            "mode": self.mode,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "width": self.width,
            "scheduler": self.scheduler,
            "model": self.model,
            **self.extra,
            "duration_s": round(self.duration, 6),
            "sample_rate": self.sample_rate,
            "params": dataclasses.asdict(self.params),
            "riffnb_version": __version__,
        }

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Path]:
        """Write the audio, the spectrogram PNG and the settings as JSON next to each other.

        ``path`` names the audio file (``.wav``, ``.flac``, ``.ogg``, ``.mp3``; no suffix means ``.wav``); the image
        and the settings get the same name with ``.png`` and ``.json``. Nothing is written if any of the three
        exists, unless ``overwrite=True``; each file is written under a temporary name and renamed.

        Returns the paths written, by kind ("audio", "image", "settings").

        Examples
        --------
        >>> clip.save("out/bells")                      # doctest: +SKIP
        {'audio': PosixPath('out/bells.wav'), 'image': PosixPath('out/bells.png'), 'settings': PosixPath('out/bells.json')}
        """
        path = Path(path)
        suffix = path.suffix.lower().lstrip(".")
        if suffix and suffix not in AUDIO_FORMATS:
            known = ", ".join("." + name for name in AUDIO_FORMATS)
            raise RiffnbError(f"cannot save a clip as {path.name!r}; name the audio file with {known} or no suffix")
        audio_path = path if suffix else path.with_name(path.name + ".wav")
        paths = {
            "audio": audio_path,
            "image": audio_path.with_suffix(".png"),
            "settings": audio_path.with_suffix(".json"),
        }
        # A clip is its three files: do not leave a partial set behind, nor lose the files it replaces.
        with output_set() as claim:
            for target in paths.values():
                claim(target, overwrite)
            save_audio(paths["audio"], self.samples, self.sample_rate, overwrite=overwrite)
            save_image(self.image, paths["image"], overwrite=overwrite)
            with atomic_output(paths["settings"], overwrite) as temporary:
                Path(temporary).write_text(json.dumps(self.settings(), indent=2) + "\n")
        return paths

    def audio_html(self) -> str:
        """An ``<audio controls>`` element playing this clip (16-bit WAV, inline): :func:`riffnb.audio.audio_html`."""
        return audio_html(self.samples, self.sample_rate)

    def image_html(self) -> str:
        """An ``<img>`` element showing the spectrogram (PNG, inline)."""
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = html.escape(f"spectrogram of: {self.prompt}")
        return (
            f'<img src="data:image/png;base64,{data}" alt="{alt}" width="{self.image.width}" '
            f'height="{self.image.height}" style="image-rendering: pixelated">'
        )

    def _repr_html_(self) -> str:
        caption = html.escape(f"{self.prompt!r}  seed {self.seed}  {self.duration:.2f} s")
        return (
            f"<figure style=\"margin: 0\">{self.image_html()}<br>{self.audio_html()}"
            f"<figcaption><code>{caption}</code></figcaption></figure>"
        )

    def __repr__(self) -> str:
        return (
            f"Clip(prompt={self.prompt!r}, seed={self.seed}, duration={self.duration:.2f} s, "
            f"mode={self.mode!r}, steps={self.steps}, guidance={self.guidance}, width={self.width}, "
            f"scheduler={self.scheduler!r}, model={self.model!r})"
        )
