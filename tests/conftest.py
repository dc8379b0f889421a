import sys
from pathlib import Path

# Shared reference implementations (tests/riffusion_reference.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


# Fixtures for audio files, the CLI and bad inputs (tests/test_audio.py, test_clips.py, test_cli.py) -----------------

import os
import subprocess

import numpy as np
import pytest

#: The interpreter tests run the CLI with: the project's venv when there is one, else the one running pytest.
RIFFNB_PYTHON = str(Path(__file__).parents[1] / ".venv" / "bin" / "python")
if not os.path.exists(RIFFNB_PYTHON):
    RIFFNB_PYTHON = sys.executable


def make_music(seconds=3.0, sample_rate=44100, stereo=True, seed=0):
    """A few plucked chord notes plus a little noise, ``(channels, n)`` peaking near 0.5: music-like test audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = np.exp(-4 * ((t * 2) % 1))
    left = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * envelope
    right = sum(0.15 * np.sin(2 * np.pi * f * t + 1.0) for f in (164.8, 220.0, 261.6)) * envelope
    channels = [left, right] if stereo else [left]
    return np.stack(channels) + 0.005 * rng.normal(size=(len(channels), t.size))


@pytest.fixture(scope="session")
def stereo_music():
    """3 s of stereo music-like audio at 44.1 kHz: ``(samples (2, n), sample_rate)``."""
    return make_music(), 44100


@pytest.fixture
def run_riffnb(tmp_path):
    """Run ``python -m riffnb ARGS...`` in ``tmp_path`` as a user would; returns the CompletedProcess (text)."""

    def run(*args, timeout=300):
        return subprocess.run(
            [RIFFNB_PYTHON, "-m", "riffnb", *map(str, args)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def bad_inputs(tmp_path):
    """Files riffnb must refuse with one clear line, by name -> path (all in ``tmp_path / "bad"``).

    Images: truncated PNG, text named .png, RGBA, coloured palette, 16-bit, wrong height (500 rows), JPEG text.
    Audio: empty WAV, float WAV with a NaN, truncated WAV, text named .wav, unknown format (.m4a of random bytes).
    """
    import soundfile
    from PIL import Image

    folder = tmp_path / "bad"
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = {}
    gray = rng.integers(0, 256, (512, 64), dtype=np.uint8)

    good_png = folder / "good.png"
    Image.fromarray(gray, mode="L").convert("RGB").save(good_png)
    data = good_png.read_bytes()
    paths["truncated_png"] = folder / "truncated.png"
    paths["truncated_png"].write_bytes(data[: len(data) // 2])
    good_png.unlink()
    paths["text_png"] = folder / "text.png"
    paths["text_png"].write_text("this is not an image\n")
    paths["rgba_png"] = folder / "rgba.png"
    Image.fromarray(np.dstack([gray] * 3 + [np.full_like(gray, 255)]), mode="RGBA").save(paths["rgba_png"])
    paths["palette_png"] = folder / "palette.png"
    palette = Image.fromarray(gray, mode="L").convert("P")
    palette.putpalette([value for index in range(256) for value in (index, 255 - index, (index * 7) % 256)])
    palette.save(paths["palette_png"])
    paths["16bit_png"] = folder / "16bit.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(paths["16bit_png"])
    paths["wrong_height_png"] = folder / "wrong_height.png"
    Image.fromarray(gray[:500], mode="L").convert("RGB").save(paths["wrong_height_png"])

    paths["empty_wav"] = folder / "empty.wav"
    soundfile.write(paths["empty_wav"], np.zeros((0, 1)), 44100)
    paths["nan_wav"] = folder / "nan.wav"
    noise = rng.uniform(-0.5, 0.5, (44100, 1))
    noise[1000] = np.nan
    soundfile.write(paths["nan_wav"], noise, 44100, subtype="FLOAT")
    whole = folder / "whole.wav"
    soundfile.write(whole, rng.uniform(-0.5, 0.5, (44100, 2)), 44100)
    paths["truncated_wav"] = folder / "truncated.wav"
    paths["truncated_wav"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    paths["text_wav"] = folder / "text.wav"
    paths["text_wav"].write_text("RIFF? no, just text\n")
    paths["unknown_format"] = folder / "song.m4a"
    paths["unknown_format"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return paths


# Tiny diffusion pipelines (tests/diffusion_fixtures.py), built once per session ---------------------------------------


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory):
    """A tiny random StableDiffusionPipeline saved in the diffusers layout (safetensors), with its own
    ``spectrogram_params.json`` (64 mel rows at 16 kHz). Do not modify it: copy it first."""
    from diffusion_fixtures import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-pipeline") / "pipeline")


@pytest.fixture(scope="session")
def tiny_pipe(tiny_pipeline_dir):
    """``riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")``, progress bars off; shared: do not modify it."""
    import riffnb

    pipe = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")
    pipe.pipeline.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def torch_threads():
    """torch's thread count before the test, put back after it (load_pipeline sets it for the whole process)."""
    import torch

    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)
