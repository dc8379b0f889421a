"""The tiny model's components: Riffusion's architecture (Stable Diffusion 1.x) at a size a CPU trains in hours.

Same classes as riffusion-model-v1, so the same diffusers code path loads and runs it:

- :class:`~diffusers.AutoencoderKL`: 8x down-sampling and 3-channel (RGB) images like Riffusion's, but 8 latent
  channels instead of 4: with 4 (16x compression) the short training here blurred the harmonics of every note
  into a smear across the mel bins; 8 keeps them at no cost to the UNet's speed. The mid-block attention is left
  out: the autoencoder is then fully convolutional, so it can be trained on half-width crops (twice the images
  per second) and still encode full images the same way.
- :class:`~transformers.CLIPTextModel`: 2 layers of width 128 over the word-level vocabulary of
  :mod:`riffnb.train.tokenizer`.
- :class:`~diffusers.UNet2DConditionModel`: three levels; cross-attention to the text only at the two coarser
  levels (6x16 and 3x8 latents for a 5.12 s clip of 96 bands), where it is cheap.
- :class:`~diffusers.DDPMScheduler` for training: Stable Diffusion's scaled-linear betas, v-prediction (which
  samples better in few steps than epsilon-prediction), "trailing" timestep spacing for the samplers built from it.

:class:`ModelSizes` holds every size; :data:`FULL` is the shipped model, :data:`SMOKE` a toy for tests.
"""

from __future__ import annotations

import dataclasses
import typing as T

if T.TYPE_CHECKING:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel


@dataclasses.dataclass(frozen=True)
class ModelSizes:
    """Channel widths and depths of the three networks."""

    vae_channels: tuple[int, ...] = (8, 16, 32, 64)
    vae_groups: int = 8
    latent_channels: int = 8
    unet_channels: tuple[int, ...] = (48, 96, 128)
    unet_groups: int = 16
    unet_heads: int = 8
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4


FULL = ModelSizes()
SMOKE = ModelSizes(
    vae_channels=(8, 8, 16, 16), vae_groups=4, unet_channels=(16, 32, 32), unet_groups=8, unet_heads=4,
    text_width=32, text_layers=1, text_heads=2,
)


def make_vae(sizes: ModelSizes = FULL, sample_size: int = 128) -> "AutoencoderKL":
    """A fresh :class:`~diffusers.AutoencoderKL` with ``len(vae_channels) - 1`` halvings (8x for four levels)."""
    from diffusers import AutoencoderKL

    levels = len(sizes.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=sizes.vae_channels,
        layers_per_block=1,
        latent_channels=sizes.latent_channels,
        norm_num_groups=sizes.vae_groups,
        sample_size=sample_size,
        mid_block_add_attention=False,
    )


def make_text_encoder(vocab_size: int, sizes: ModelSizes = FULL, bos: int = 0, eos: int = 1) -> "CLIPTextModel":
    """A fresh :class:`~transformers.CLIPTextModel` for a tokenizer of ``vocab_size`` tokens (77 positions)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=sizes.text_width,
        intermediate_size=4 * sizes.text_width,
        num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads,
        max_position_embeddings=77,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    return CLIPTextModel(config)


def make_unet(sizes: ModelSizes = FULL, latent_size: tuple[int, int] = (12, 32)) -> "UNet2DConditionModel":
    """A fresh :class:`~diffusers.UNet2DConditionModel` over ``latent_channels`` latents, attending to the text."""
    from diffusers import UNet2DConditionModel

    levels = len(sizes.unet_channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1)
    up = ("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=sizes.latent_channels,
        out_channels=sizes.latent_channels,
        block_out_channels=sizes.unet_channels,
        layers_per_block=1,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=sizes.text_width,
        attention_head_dim=sizes.unet_heads,
        norm_num_groups=sizes.unet_groups,
    )


def make_training_scheduler() -> "DDPMScheduler":
    """Stable Diffusion's noise schedule with v-prediction and trailing spacing (inherited by every sampler)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        # Unused with trailing spacing, but StableDiffusionPipeline warns about any other value.
        steps_offset=1,
        clip_sample=False,
    )


def parameter_count(module) -> int:
    """Number of parameters of a torch module."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["FULL", "SMOKE", "ModelSizes", "make_text_encoder", "make_training_scheduler", "make_unet", "make_vae",
           "parameter_count"]
