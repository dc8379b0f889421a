"""Training the tiny model: the --smoke recipe end to end, resuming, the export, and the shipped model folder."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import RIFFNB_PYTHON

from riffnb.params import params_from_image
from riffnb.train.corpus import TINY_PARAMS

SHIPPED = Path(__file__).parents[1] / "riffnb" / "models" / "tiny"


def train(workdir: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``python -m riffnb.train --smoke`` as a learner would; fail with its output if it fails."""
    result = subprocess.run(
        [RIFFNB_PYTHON, "-m", "riffnb.train", "--smoke", "--workdir", str(workdir), "--threads", "1", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def load_checkpoint(workdir: Path) -> dict:
    import torch

    return torch.load(workdir / "checkpoint.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """One complete smoke training run (4 VAE steps, 4 UNet steps, 3 decoder steps): its work folder."""
    workdir = tmp_path_factory.mktemp("smoke") / "work"
    train(workdir)
    return workdir


def test_smoke_training_writes_a_loadable_pipeline(smoke_run):
    import riffnb

    folder = smoke_run / "pipeline"
    for part in ("unet", "vae", "text_encoder"):
        assert list((folder / part).glob("*.safetensors")), part
        assert not list((folder / part).glob("*.bin"))
    settings = json.loads((folder / "riffnb.json").read_text())
    assert settings["spectrogram_params"] == dataclasses.asdict(TINY_PARAMS)
    assert settings["training"]["phase"] == "done" and settings["training"]["step"] == 4
    assert settings["training"]["unet_steps_done"] == 4 and settings["training"]["decoder_steps_done"] == 3
    pipe = riffnb.load_pipeline(folder, device="cpu")
    assert pipe.params.sample_rate == 22050 and pipe.params.step_size_ms == 20
    assert pipe.pipeline.scheduler.config.timestep_spacing == "trailing"
    assert pipe.pipeline.scheduler.config.prediction_type == "v_prediction"
    scaling = pipe.pipeline.vae.config.scaling_factor
    assert scaling == pytest.approx(load_checkpoint(smoke_run)["scaling_factor"]) and scaling != 1.0
    clip = pipe.text_to_audio("bossa nova with electric guitar", seed=1, steps=2, width=256, guidance=4.0)
    assert clip.image.size == (256, TINY_PARAMS.num_frequencies)
    assert clip.sample_rate == 22050
    assert clip.samples.shape[-1] == pytest.approx(22050 * 5.12, rel=0.02)
    assert np.isfinite(clip.samples).all()


def test_smoke_training_logs_falling_or_finite_losses(smoke_run):
    lines = [json.loads(line) for line in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    phases = {line["phase"] for line in lines}
    assert {"vae", "latents", "unet", "decoder"} <= phases
    assert all(np.isfinite(line["loss"]) for line in lines if "loss" in line)
    latents = np.load(smoke_run / "latents.npz")
    from riffnb.train.train import SMOKE_RECIPE

    assert latents["mean"].shape == (24, SMOKE_RECIPE.sizes.latent_channels, TINY_PARAMS.num_frequencies // 8, 32)


def test_resume_continues_from_the_checkpoint_and_matches_an_uninterrupted_run(smoke_run, tmp_path):
    import torch

    workdir = tmp_path / "work"
    workdir.mkdir()
    # The corpus is deterministic (tested in test_corpus.py); reuse the rendered one to save time.
    shutil.copytree(smoke_run / "corpus-train", workdir / "corpus-train")
    first = train(workdir, "--unet-steps", "2", "--decoder-steps", "0")
    assert "stopped at phase done, step 2" in first.stdout and "decoder step" not in first.stdout
    halfway = load_checkpoint(workdir)
    assert halfway["phase"] == "done" and halfway["step"] == 2 and halfway["decoder_step"] == 0
    second = train(workdir, "--unet-steps", "4", "--decoder-steps", "3")
    assert "resuming" in second.stdout and "phase done, step 2" in second.stdout
    assert "rendering" not in second.stdout and "vae step" not in second.stdout and "decoder step 3/3" in second.stdout
    resumed = load_checkpoint(workdir)
    straight = load_checkpoint(smoke_run)
    assert resumed["step"] == straight["step"] == 4 and resumed["decoder_step"] == straight["decoder_step"] == 3
    # Optimiser moments, EMA and random streams were all restored: the weights equal the uninterrupted run's,
    # the autoencoder's too (the decoder phase, run after the UNet, draws from streams of its own).
    for name in ("unet", "unet_ema", "text_encoder", "text_ema", "vae"):
        for key, value in straight[name].items():
            assert torch.allclose(resumed[name][key], value, atol=1e-6), (name, key)
    assert not torch.equal(halfway["unet_ema"]["conv_in.weight"], resumed["unet_ema"]["conv_in.weight"])
    # The decoder phase trained the decoder and left the encoder, which made the UNet's latents, as it was.
    changed = {key.split(".")[0] for key, value in resumed["vae"].items()
               if not torch.equal(value, halfway["vae"][key])}
    assert changed == {"decoder", "post_quant_conv"}, changed


def test_resuming_a_run_on_other_spectrogram_parameters_says_so(smoke_run, tmp_path):
    import torch

    workdir = tmp_path / "older"
    shutil.copytree(smoke_run, workdir)
    state = load_checkpoint(workdir)
    assert state["spectrogram_params"] == dataclasses.asdict(TINY_PARAMS)
    state["spectrogram_params"]["num_frequencies"] = TINY_PARAMS.num_frequencies + 32
    torch.save(state, workdir / "checkpoint.pt")
    before = (workdir / "checkpoint.pt").read_bytes()
    result = subprocess.run(
        [RIFFNB_PYTHON, "-m", "riffnb.train", "--smoke", "--workdir", str(workdir), "--unet-steps", "6"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds a run on other spectrogram parameters" in result.stderr
    assert f"num_frequencies {TINY_PARAMS.num_frequencies + 32} (now {TINY_PARAMS.num_frequencies})" in result.stderr
    assert (workdir / "checkpoint.pt").read_bytes() == before


def test_init_from_continues_an_exported_pipeline_in_a_new_workdir(smoke_run, tmp_path):
    import torch

    workdir = tmp_path / "continued"
    workdir.mkdir()
    shutil.copytree(smoke_run / "corpus-train", workdir / "corpus-train")
    result = train(workdir, "--init-from", str(smoke_run / "pipeline"), "--unet-steps", "6")
    assert "UNet step 4" in result.stdout and "decoder fine-tuned for 3 steps" in result.stdout
    assert "vae step" not in result.stdout and "decoder step" not in result.stdout
    continued = load_checkpoint(workdir)
    assert continued["phase"] == "done" and continued["step"] == 6 and continued["unet_start_step"] == 4
    assert continued["scaling_factor"] == pytest.approx(load_checkpoint(smoke_run)["scaling_factor"])
    # The autoencoder is the exported one, untouched; the UNet moved on from the exported EMA weights.
    for key, value in load_checkpoint(smoke_run)["vae"].items():
        assert torch.equal(continued["vae"][key], value), key
    settings = json.loads((workdir / "pipeline" / "riffnb.json").read_text())
    assert settings["training"]["unet_steps_done"] == 6


def test_learning_rate_warms_up_holds_and_cools_down_over_the_last_steps():
    from riffnb.train.train import _learning_rate

    # The autoencoder's schedule: warm-up, then cosine decay over every remaining step, to 10% at the end.
    assert _learning_rate(1.0, 0, 10, 110) == pytest.approx(0.1)
    assert _learning_rate(1.0, 10, 10, 110) == pytest.approx(1.0)
    assert _learning_rate(1.0, 60, 10, 110) == pytest.approx(0.55)
    assert _learning_rate(1.0, 110, 10, 110) == pytest.approx(0.1)
    # The UNet's: constant without a cool-down, so a run can be lengthened ...
    assert [_learning_rate(1.0, step, 10, 1000, 0) for step in (10, 500, 999)] == [1.0, 1.0, 1.0]
    # ... and with one, constant until the last 100 steps, then down to 10%.
    assert _learning_rate(1.0, 899, 10, 1000, 100) == 1.0
    assert _learning_rate(1.0, 950, 10, 1000, 100) == pytest.approx(0.55)
    assert _learning_rate(1.0, 1000, 10, 1000, 100) == pytest.approx(0.1)


def test_a_cool_down_given_on_resume_lowers_the_unet_learning_rate(smoke_run, tmp_path):
    from riffnb.train.train import SMOKE_RECIPE

    workdir = tmp_path / "cooled"
    shutil.copytree(smoke_run, workdir)
    train(workdir, "--unet-steps", "6", "--unet-cooldown-steps", "2")
    assert load_checkpoint(workdir)["recipe"]["unet_cooldown_steps"] == 2
    unet_lines = [line for line in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
                  if line["phase"] == "unet" and "lr" in line]
    # Step 6 is logged with the rate of its update, halfway through the 2-step cool-down (steps 4-6).
    assert unet_lines[-1]["step"] == 6
    assert unet_lines[-1]["lr"] == pytest.approx(0.55 * SMOKE_RECIPE.unet_lr)


def test_init_from_a_folder_that_is_not_an_export_says_so(tmp_path):
    result = subprocess.run(
        [RIFFNB_PYTHON, "-m", "riffnb.train", "--smoke", "--workdir", str(tmp_path / "w"), "--init-from",
         str(tmp_path)], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a pipeline exported by riffnb.train" in result.stderr
    assert not (tmp_path / "w" / "checkpoint.pt").exists()


def test_init_from_a_pipeline_with_other_spectrogram_parameters_says_so(smoke_run, tmp_path):
    exported = tmp_path / "older"
    shutil.copytree(smoke_run / "pipeline", exported)
    params = json.loads((exported / "spectrogram_params.json").read_text())
    params["num_frequencies"] = TINY_PARAMS.num_frequencies + 32
    (exported / "spectrogram_params.json").write_text(json.dumps(params))
    result = subprocess.run(
        [RIFFNB_PYTHON, "-m", "riffnb.train", "--smoke", "--workdir", str(tmp_path / "w"), "--init-from",
         str(exported)], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "other spectrogram parameters" in result.stderr
    assert f"num_frequencies {TINY_PARAMS.num_frequencies + 32} (now {TINY_PARAMS.num_frequencies})" in result.stderr
    assert not (tmp_path / "w" / "checkpoint.pt").exists()


def test_export_only_rewrites_the_pipeline_from_the_checkpoint(smoke_run, tmp_path):
    out = tmp_path / "exported"
    train(smoke_run, "--export-only", "--out", str(out))
    assert (out / "model_index.json").is_file() and (out / "spectrogram_params.json").is_file()
    assert not list(tmp_path.glob(".*part"))


def test_full_size_model_fits_the_30_mb_budget():
    from riffnb.train.models import FULL, make_text_encoder, make_unet, make_vae, parameter_count

    total = sum(parameter_count(m) for m in (make_vae(FULL), make_unet(FULL), make_text_encoder(1200, FULL)))
    assert total * 4 < 29e6


def test_shipped_tiny_model_is_small_and_loads_by_name():
    import riffnb

    assert (SHIPPED / "model_index.json").is_file(), "riffnb/models/tiny is missing: export it with python -m riffnb.train"
    size = sum(path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file())
    assert size <= 30e6
    pipe = riffnb.load_pipeline("tiny", device="cpu")
    assert pipe.params == TINY_PARAMS
    clip = pipe.text_to_audio("bossa nova with electric guitar", seed=0, steps=4, width=256)
    assert clip.image.size == (256, TINY_PARAMS.num_frequencies) and np.abs(clip.samples).max() > 0
    # The images say how they were drawn: saved and read back, they decode with the model's parameters.
    assert params_from_image(clip.image) == TINY_PARAMS
