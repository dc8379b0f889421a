"""The denoising loop unrolled into small public functions, for the course.

:meth:`RiffusionPipeline.text_to_audio <riffnb.diffusion.pipeline.RiffusionPipeline.text_to_audio>` runs diffusers'
StableDiffusionPipeline; these functions do the same work one visible piece at a time, and give the same latents,
image and audio bit for bit for the same seed and settings::

    embeddings = steps.encode_prompt(pipe, "funky jazz piano")          # text -> CLIP embeddings
    generator = steps.make_generator(seed=42)                            # all randomness comes from here
    noise = steps.initial_noise(pipe, width=512, generator=generator)    # pure Gaussian noise, latent size
    scheduler = steps.make_scheduler(pipe, "dpm++", num_steps=30)        # which timesteps, which update rule
    latents = noise * scheduler.init_noise_sigma
    for t in scheduler.timesteps:                                        # one UNet call (x2 for guidance) each
        latents = steps.denoise_step(pipe, scheduler, latents, t, embeddings, guidance=7.0, generator=generator)
    image = steps.decode(pipe, latents)[0]                               # VAE: latents -> spectrogram image
    samples, sample_rate = pipe.image_to_audio(image)                    # image -> audio

:func:`preview` turns latents into an approximate image without the VAE (a per-pixel linear map fitted to the
model's VAE), fast enough to show at every step.
"""

from __future__ import annotations

import inspect
import typing as T

from ..image import tag_image
from . import prompts, schedulers

if T.TYPE_CHECKING:
    import torch
    from PIL import Image

    from .pipeline import RiffusionPipeline


class PromptEmbeddings(T.NamedTuple):
    """CLIP embeddings of the prompt and of the negative (unconditional) prompt, each ``(batch, tokens, width)``."""

    cond: "torch.Tensor"
    uncond: "torch.Tensor"


def encode_prompt(pipe: "RiffusionPipeline", prompt: str, negative_prompt: str | None = None) -> PromptEmbeddings:
    """Encode ``prompt`` and ``negative_prompt`` (default: the empty prompt) with the model's CLIP text encoder.

    Weighted prompts work: ``"(jazz:1.3) piano [drums]"``; see :mod:`riffnb.diffusion.prompts`.
    """
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise prompts.PromptError(
            f"negative_prompt must be a string or None, got {type(negative_prompt).__name__}"
        )
    cond, uncond = prompts.encode_weighted(
        pipe.pipeline.tokenizer, pipe.pipeline.text_encoder, [prompt, negative_prompt or ""]
    )
    return PromptEmbeddings(cond, uncond)


def make_generator(seed: int) -> "torch.Generator":
    """A CPU random generator seeded with ``seed``: the same noise on every device, so a seed means one result."""
    import torch

    return torch.Generator(device="cpu").manual_seed(int(seed))


def latent_shape(pipe: "RiffusionPipeline", width: int, batch_size: int = 1) -> tuple[int, int, int, int]:
    """The latents' shape for an image ``width`` pixels wide: ``(batch, 4, height / 8, width / 8)`` for SD."""
    factor = pipe.pipeline.vae_scale_factor
    return (batch_size, pipe.pipeline.unet.config.in_channels, pipe.height // factor, width // factor)


def initial_noise(
    pipe: "RiffusionPipeline", width: int, generator: "torch.Generator", batch_size: int = 1
) -> "torch.Tensor":
    """Standard Gaussian noise of the latents' shape, drawn from ``generator`` (as diffusers draws it)."""
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(latent_shape(pipe, width, batch_size), generator=generator, device=pipe.device, dtype=pipe.dtype)


def make_scheduler(pipe: "RiffusionPipeline", name: str | None, num_steps: int):
    """A fresh scheduler ``name`` (default DPM-Solver++) on the model's noise schedule, set for ``num_steps`` steps.

    Its ``timesteps`` are the steps the loop visits, from most to least noisy.
    """
    scheduler = schedulers.make_scheduler(pipe.pipeline.scheduler.config, name)
    scheduler.set_timesteps(num_steps, device=pipe.device)
    return scheduler


def uses_guidance(pipe: "RiffusionPipeline", guidance: float) -> bool:
    """Whether classifier-free guidance runs: a scale above 1 on a model without guidance embedding (as diffusers)."""
    return guidance > 1 and pipe.pipeline.unet.config.time_cond_proj_dim is None


def predict_noise(
    pipe: "RiffusionPipeline", scheduler, latents: "torch.Tensor", timestep, embeddings: PromptEmbeddings,
    guidance: float,
) -> "torch.Tensor":
    """The UNet's noise prediction at ``timestep``, with classifier-free guidance.

    Guidance runs the UNet on the negative and the real prompt in one batch and moves the prediction away from the
    negative one: ``uncond + guidance * (cond - uncond)``.
    """
    import torch

    guided = uses_guidance(pipe, guidance)
    model_input = torch.cat([latents] * 2) if guided else latents
    model_input = scheduler.scale_model_input(model_input, timestep)
    context = torch.cat([embeddings.uncond, embeddings.cond]) if guided else embeddings.cond
    with torch.no_grad():
        noise = pipe.pipeline.unet(
            model_input,
            timestep,
            encoder_hidden_states=context,
            timestep_cond=None,
            cross_attention_kwargs=None,
            added_cond_kwargs=None,
            return_dict=False,
        )[0]
    if guided:
        noise_uncond, noise_cond = noise.chunk(2)
        noise = noise_uncond + guidance * (noise_cond - noise_uncond)
    return noise


def denoise_step(
    pipe: "RiffusionPipeline",
    scheduler,
    latents: "torch.Tensor",
    timestep,
    embeddings: PromptEmbeddings,
    guidance: float = 7.0,
    generator: "torch.Generator | None" = None,
) -> "torch.Tensor":
    """One step of the loop: predict the noise (with guidance), then let the scheduler move the latents.

    ``generator`` feeds the samplers that add noise at each step (Euler ancestral); pass the one the initial
    noise came from to reproduce ``text_to_audio``.
    """
    noise = predict_noise(pipe, scheduler, latents, timestep, embeddings, guidance)
    accepted = inspect.signature(scheduler.step).parameters
    extra: dict[str, T.Any] = {}
    if "eta" in accepted:
        extra["eta"] = 0.0
    if "generator" in accepted:
        extra["generator"] = generator
    return scheduler.step(noise, timestep, latents, **extra, return_dict=False)[0]


def with_params(image: "Image.Image", params) -> "Image.Image":
    """``image`` with Riffusion's EXIF parameter tags, so it decodes to audio on its own."""
    return tag_image(image, params.to_exif())


#: What a generation that ran into NaN or infinite values likely hit, and what to do about it.
_OVERFLOW_CAUSES = (
    "a guidance scale far too large (Riffusion uses 7.0), hundreds of steps (20-50 is typical), or float16 "
    "overflowing: load the model with dtype='float32' (--dtype float32)"
)


def check_finite(tensor: "torch.Tensor", what: str) -> None:
    """Raise a :class:`~riffnb.diffusion.pipeline.GenerationError` if ``tensor`` holds NaN or infinite values.

    diffusers turns NaN pixels into black, the loudest value in a spectrogram image, and output normalisation then
    makes full-scale noise of them: better no clip than that.
    """
    import torch

    from .pipeline import GenerationError

    if not bool(torch.isfinite(tensor).all()):
        raise GenerationError(f"generation failed: {what} hold NaN or infinite values; likely {_OVERFLOW_CAUSES}")


def decode(pipe: "RiffusionPipeline", latents: "torch.Tensor") -> "list[Image.Image]":
    """Decode latents ``(batch, 4, h, w)`` with the VAE into spectrogram images (EXIF tagged), as diffusers does.

    NaN or infinite latents, or decoded values, are a :class:`~riffnb.diffusion.pipeline.GenerationError`.
    """
    import torch

    check_finite(latents, "the denoised latents")
    vae = pipe.pipeline.vae
    with torch.no_grad():
        pixels = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    check_finite(pixels, "the VAE's decoded pixels")
    images = pipe.pipeline.image_processor.postprocess(pixels, output_type="pil", do_denormalize=[True] * len(pixels))
    return [with_params(image, pipe.params) for image in images]


def _fit_images(height: int, width: int, count: int, device, dtype) -> "torch.Tensor":
    # Smooth colour and gray fields plus horizontal bands (spectrogram-like), in [-1, 1].
    import torch

    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(count, 3, height // 8, width // 8, generator=generator)
    coarse[: count // 2] = coarse[: count // 2, :1]
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    bands = torch.rand(count, 1, height, 1, generator=generator) ** 3
    envelope = torch.rand(count, 1, 1, width // 8, generator=generator).repeat_interleave(8, dim=-1)
    images = (0.6 * smooth + 0.4 * bands * envelope) * 2 - 1
    return images.to(device=device, dtype=dtype)


def preview_projection(pipe: "RiffusionPipeline") -> "torch.Tensor":
    """The ``(channels + 1, 3)`` linear map from a latent pixel (and 1) to RGB in [-1, 1], fitted to this VAE.

    Least squares between latents (of a few synthetic images, and unit Gaussian noise like the early steps') and
    their VAE decodings averaged over each 8x8 block. Computed once per pipeline (a fraction of a second for SD's
    VAE on a GPU, about a second on a CPU) and cached on it.
    """
    import torch

    cached = getattr(pipe, "_preview_projection", None)
    if cached is not None:
        return cached
    vae = pipe.pipeline.vae
    factor, scale = pipe.pipeline.vae_scale_factor, vae.config.scaling_factor
    images = _fit_images(8 * factor, 16 * factor, 8, pipe.device, pipe.dtype)
    with torch.no_grad():
        encoded = vae.encode(images).latent_dist.mean * scale
        # Early steps show mostly noise: fit on unit Gaussian latents too, not only on latents of images.
        noise = torch.randn(encoded.shape, generator=torch.Generator().manual_seed(0)).to(encoded)
        latents = torch.cat([encoded, noise])
        decoded = vae.decode(latents / scale, return_dict=False)[0]
    target = torch.nn.functional.avg_pool2d(decoded.float(), factor)
    x = latents.float().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    x = torch.cat([x, torch.ones(len(x), 1, device=x.device)], dim=1)
    y = target.permute(0, 2, 3, 1).reshape(-1, 3)
    projection = torch.linalg.lstsq(x.cpu(), y.cpu()).solution
    pipe._preview_projection = projection
    return projection


def preview(pipe: "RiffusionPipeline", latents: "torch.Tensor") -> "list[Image.Image]":
    """Approximate spectrogram images from latents without the VAE: one matrix product per pixel, upscaled 8x.

    Blurrier than :func:`decode` but hundreds of times cheaper, for live display at every step.
    """
    import torch

    projection = preview_projection(pipe)
    latents = latents.detach().float().cpu()
    rgb = torch.einsum("bchw,cd->bdhw", latents, projection[:-1]) + projection[-1][None, :, None, None]
    rgb = torch.nn.functional.interpolate(rgb, scale_factor=pipe.pipeline.vae_scale_factor, mode="nearest")
    images = pipe.pipeline.image_processor.postprocess(rgb, output_type="pil", do_denormalize=[True] * len(rgb))
    return [with_params(image, pipe.params) for image in images]
