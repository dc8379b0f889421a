"""Tiny randomly initialised Stable Diffusion pipelines, saved in the real diffusers layout, for offline tests.

The hub model (riffusion/riffusion-model-v1) cannot be downloaded here, so tests build a pipeline with the same
architecture at a toy size (UNet2DConditionModel, AutoencoderKL with 8x downsampling, CLIPTextModel, a CLIP BPE
tokenizer from a hand-written vocabulary, a PNDM scheduler configured like Riffusion's), save it with
``save_pretrained`` (safetensors) and load it through ``riffnb.load_pipeline``: the same code path as the hub model.

The pipeline carries its own spectrogram parameters (64 mel rows at 16 kHz, 8 Griffin-Lim iterations) in
``spectrogram_params.json`` so that turning its images into audio stays fast.

Other test modules use it through the ``tiny_pipeline_dir`` and ``tiny_pipe`` fixtures in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Spectrogram parameters of the tiny test model: the image is TINY_HEIGHT rows tall.
TINY_PARAMS = {
    "sample_rate": 16000,
    "num_frequencies": 64,
    "max_frequency": 8000,
    "num_griffin_lim_iters": 8,
}
TINY_HEIGHT = TINY_PARAMS["num_frequencies"]

#: Words the hand-written tokenizer knows as whole tokens; anything else falls back to single bytes.
_WORDS = ["jazz", "piano", "funky", "drum", "drums", "beat", "guitar", "solo", "with", "and", "a", "the", "lofi",
          "ambient", "synth", "bass", "church", "bells", "on", "sunday", "morning"]


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2/CLIP byte-level BPE: every byte maps to a printable character, so any text tokenizes without <unk>.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def write_tokenizer_files(folder: Path) -> int:
    """Write a CLIP ``vocab.json`` and ``merges.txt`` into ``folder``; return the vocabulary size."""
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    merges: list[str] = []
    for word in _WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merge = f"{pieces[0]} {pieces[1]}"
            if merge not in merges:
                merges.append(merge)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return len(vocab)


def final_layer_norm_bias(text_encoder):
    """The bias of a CLIPTextModel's final layer norm (transformers 4 nests it under ``text_model``, 5 does not)."""
    return next(p for name, p in text_encoder.named_parameters() if name.endswith("final_layer_norm.bias"))


def build_tiny_pipeline(path: os.PathLike | str, seed: int = 0) -> Path:
    """Build a tiny random StableDiffusionPipeline and save it to ``path`` in the diffusers layout.

    Returns ``path``. Takes about a second on a 2-core CPU; the folder is about 1 MB.
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    # Four blocks: 8x downsampling like SD's VAE, so a 64-row image has 8 latent rows.
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    tokenizer_dir = path / "_tokenizer_source"
    vocab_size = write_tokenizer_files(tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # A trained CLIP's final layer norm has a bias, so its embeddings' mean is not zero (weighted prompts rescale
    # by that mean); a freshly initialised one has none.
    with torch.no_grad():
        final_layer_norm_bias(text_encoder).normal_(0.2, 0.1)
    # Riffusion's scheduler: PNDM, scaled_linear 0.00085-0.012, skip_prk_steps, steps_offset 1.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):
        (tokenizer_dir / name).unlink()
    tokenizer_dir.rmdir()
    (path / "spectrogram_params.json").write_text(json.dumps(TINY_PARAMS, indent=2))
    return path
