"""Training the tiny model: the --smoke recipe end to end, resuming, the export, and the shipped model folder."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import RIFFNB_PYTHON

from riffnb.params import params_from_image
from riffnb.train.corpus import TINY_PARAMS

SHIPPED = Path(__file__).parents[1] / "riffnb" / "models" / "tiny"


def train(workdir: Path, *args: str, cwd: Path | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``python -m riffnb.train --smoke`` (in ``cwd``) as a learner would; fail with its output if it fails."""
    result = subprocess.run(
        [RIFFNB_PYTHON, "-m", "riffnb.train", "--smoke", "--workdir", str(workdir), "--threads", "1", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def riffnb_train(*args: str | Path, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``python -m riffnb.train ARGS...`` (in ``cwd``) and return how it ended, success or not."""
    return subprocess.run([RIFFNB_PYTHON, "-m", "riffnb.train", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    """The command stopped with exit status 2 and one ``error:`` line holding every phrase, no traceback."""
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in errors[0], errors[0]


def load_checkpoint(workdir: Path) -> dict:
    import torch

    return torch.load(workdir / "checkpoint.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """One complete smoke training run (4 VAE steps, 4 UNet steps, 3 decoder steps): its work folder."""
    workdir = tmp_path_factory.mktemp("smoke") / "work"
    train(workdir)
    return workdir


def test_smoke_training_writes_a_loadable_pipeline(smoke_run, torch_threads):
    import riffnb

    folder = smoke_run / "pipeline"
    for part in ("unet", "vae", "text_encoder"):
        assert list((folder / part).glob("*.safetensors")), part
        assert not list((folder / part).glob("*.bin"))
    settings = json.loads((folder / "riffnb.json").read_text())
    assert settings["spectrogram_params"] == dataclasses.asdict(TINY_PARAMS)
    assert settings["training"]["phase"] == "done" and settings["training"]["step"] == 4
    assert settings["training"]["unet_steps_done"] == 4 and settings["training"]["decoder_steps_done"] == 3
    assert settings["cpu_threads"] == 1
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
    assert f"resuming {workdir} (the --smoke recipe) at phase done, step 2" in second.stdout
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
    (tmp_path / "notes.txt").write_text("not a model")
    result = riffnb_train("--smoke", "--workdir", tmp_path / "w", "--init-from", tmp_path)
    # The fix it names works from any folder: the shipped model's name, not its path in the repository.
    assert_refused(result, "is not a pipeline exported by riffnb.train", "a shipped model's name (tiny)")
    assert not (tmp_path / "w").exists()
    assert_refused(riffnb_train("--smoke", "--workdir", tmp_path / "w", "--init-from", "no-such-model"),
                   "no such folder: no-such-model")
    assert not (tmp_path / "w").exists()


def test_init_from_takes_the_shipped_model_by_name_from_any_folder(tmp_path):
    # Without --unet-steps the full recipe would stop where the shipped model stopped: nothing to train.
    result = riffnb_train("--workdir", tmp_path / "w", "--init-from", "tiny", cwd=tmp_path)
    done = json.loads((SHIPPED / "riffnb.json").read_text())["training"]["unet_steps_done"]
    assert_refused(result, f"{SHIPPED} has had {done} UNet steps", f"pass --unet-steps above {done}")
    assert not (tmp_path / "w").exists()


def test_init_from_a_model_of_other_sizes_says_so_in_one_line(tmp_path):
    result = riffnb_train("--smoke", "--workdir", tmp_path / "w", "--init-from", "tiny", "--unet-steps", "20000",
                          cwd=tmp_path)
    assert_refused(result, "holds networks of other sizes than the --smoke recipe",
                   "unet block_out_channels [48, 96, 128] (recipe: [16, 32, 32])", "continue it without --smoke")
    assert "size mismatch" not in result.stderr and len(result.stderr.splitlines()) < 10
    assert not (tmp_path / "w").exists()


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
    # transformers 4 loads CLIPTokenizer from these two; transformers 5 from tokenizer.json.
    for name in ("vocab.json", "merges.txt"):
        assert (out / "tokenizer" / name).read_bytes() == (smoke_run / "tokenizer" / name).read_bytes()


def test_export_only_of_a_missing_work_folder_creates_nothing(tmp_path):
    assert_refused(riffnb_train("--smoke", "--workdir", tmp_path / "typo", "--export-only"),
                   f"{tmp_path / 'typo' / 'checkpoint.pt'} does not exist")
    assert not (tmp_path / "typo").exists()


def test_export_over_an_earlier_export_keeps_the_files_that_are_not_the_pipeline(smoke_run, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(smoke_run / "pipeline", model)
    (model / "README.md").write_text("# the model card\n")
    (model / "HISTORY.md").write_text("# how it was trained\n")
    (model / "figures").mkdir()
    (model / "figures" / "loss.png").write_bytes(b"png")
    (model / "unet" / "stale.safetensors").write_bytes(b"weights of an older export")
    settings = json.loads((model / "riffnb.json").read_text())
    settings["training"]["exported_at"] = "an older export"
    (model / "riffnb.json").write_text(json.dumps(settings))
    # "." is resolved against the folder the command runs in.
    train(smoke_run, "--export-only", "--out", ".", cwd=model)
    assert (model / "README.md").read_text() == "# the model card\n"
    assert (model / "HISTORY.md").read_text() == "# how it was trained\n"
    assert (model / "figures" / "loss.png").read_bytes() == b"png"
    # The pipeline's own parts are replaced whole, leftovers and all.
    assert not (model / "unet" / "stale.safetensors").exists()
    assert json.loads((model / "riffnb.json").read_text())["training"]["exported_at"] != "an older export"
    assert not list(tmp_path.glob(".*"))


def test_export_refuses_an_out_it_would_empty_or_that_holds_the_run(smoke_run, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(smoke_run, workdir)
    before = (workdir / "checkpoint.pt").read_bytes()
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "notes.txt").write_text("mine")
    cases = {
        documents: "holds files and is not a pipeline exported by riffnb.train",
        workdir: "is or holds the work folder",
        tmp_path: "is or holds the work folder",
        workdir / "corpus-train": "is inside the work folder",
        workdir / "elsewhere": "is inside the work folder",
        workdir / "checkpoint.pt": "is inside the work folder",
    }
    for out, message in cases.items():
        assert_refused(riffnb_train("--smoke", "--workdir", workdir, "--export-only", "--out", out),
                       f"--out {out} {message}", "pass a")
    # Relative paths: "." is the folder the command runs in (here the one holding the work folder).
    assert_refused(riffnb_train("--smoke", "--workdir", "work", "--export-only", "--out", ".", cwd=tmp_path),
                   f"--out {tmp_path} is or holds the work folder {workdir}")
    assert [path.name for path in documents.iterdir()] == ["notes.txt"]
    assert (documents / "notes.txt").read_text() == "mine"
    assert (workdir / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in workdir.iterdir()) == sorted(p.name for p in smoke_run.iterdir())
    assert not list(tmp_path.glob(".*"))


def test_a_bad_out_is_refused_before_training_starts(tmp_path):
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "notes.txt").write_text("mine")
    assert_refused(riffnb_train("--smoke", "--workdir", tmp_path / "work", "--out", documents),
                   "holds files and is not a pipeline")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("option, value", [
    ("--threads", "0"), ("--unet-steps", "-5"), ("--vae-steps", "0"), ("--decoder-steps", "-1"),
    ("--unet-cooldown-steps", "-1"), ("--corpus-workers", "0"), ("--checkpoint-minutes", "-1"),
    ("--export-minutes", "nan"), ("--unet-steps", "many"),
])
def test_bad_numbers_are_refused_before_anything_starts(tmp_path, option, value):
    result = riffnb_train("--smoke", "--workdir", tmp_path / "work", option, value)
    assert_refused(result, f"argument {option}:")
    assert not (tmp_path / "work").exists()


def test_smoke_runs_have_a_work_folder_of_their_own(tmp_path):
    assert_refused(riffnb_train("--smoke", "--export-only", cwd=tmp_path),
                   f"{Path('checkpoints') / 'smoke' / 'checkpoint.pt'} does not exist")
    assert_refused(riffnb_train("--export-only", cwd=tmp_path),
                   f"{Path('checkpoints') / 'tiny' / 'checkpoint.pt'} does not exist")
    assert list(tmp_path.iterdir()) == []


def test_a_work_folder_resumes_only_the_recipe_it_was_started_with(smoke_run, tmp_path):
    import torch

    from riffnb.train.train import FULL_RECIPE

    workdir = tmp_path / "work"
    shutil.copytree(smoke_run, workdir)
    # The toy run, resumed without --smoke, would be exported as if it were the full model.
    assert_refused(riffnb_train("--workdir", workdir, "--out", tmp_path / "model"),
                   f"{workdir} holds a run of the --smoke recipe, not of the full recipe", "resume it with --smoke",
                   "pass another --workdir")
    assert not (tmp_path / "model").exists()
    # And a full run, resumed with --smoke, would silently train on for hours.
    state = load_checkpoint(workdir)
    state["recipe"] = FULL_RECIPE.to_dict()
    torch.save(state, workdir / "checkpoint.pt")
    before = (workdir / "checkpoint.pt").read_bytes()
    assert_refused(riffnb_train("--smoke", "--workdir", workdir, "--unet-steps", "6"),
                   f"{workdir} holds a run of the full recipe, not of the --smoke recipe", "resume it without --smoke")
    assert (workdir / "checkpoint.pt").read_bytes() == before


def test_a_second_run_in_a_work_folder_in_use_stops(smoke_run, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from riffnb.train.train import LOCK_FILE

    workdir = tmp_path / "work"
    shutil.copytree(smoke_run, workdir)
    before = (workdir / "checkpoint.pt").read_bytes()
    # This process plays the run already training there.
    with open(workdir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        result = riffnb_train("--smoke", "--workdir", workdir, "--threads", "1", "--unet-steps", "6")
    assert_refused(result, f"{workdir} is in use by another training run (pid {os.getpid()}", "another --workdir")
    assert (workdir / "checkpoint.pt").read_bytes() == before


def processes_mentioning(text: str) -> list[str]:
    """The ids of the processes whose command line holds ``text`` (Linux's /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="lists processes through Linux's /proc")
def test_a_stopped_run_stops_its_corpus_renderer_and_frees_the_work_folder(tmp_path):
    import fcntl

    from riffnb.train.train import LOCK_FILE, SMOKE_RECIPE, Trainer

    workdir = tmp_path / "work"
    # Enough clips that the renderer is still busy when the autoencoder has taken its first steps.
    recipe = dataclasses.replace(SMOKE_RECIPE, train_clips=640, vae_steps=10**6)
    trainer = Trainer(workdir, recipe, overlap_corpus=True, corpus_workers=2, log_every=1)

    def stop_once_training() -> None:
        # What SIGINT's handler does: the run saves and stops after this step.
        deadline = time.time() + 120
        while trainer.step == 0 and time.time() < deadline:
            time.sleep(0.1)
        trainer.stop_requested = True

    stopper = threading.Thread(target=stop_once_training)
    stopper.start()
    trainer.run()
    stopper.join()
    corpus = str(workdir / "corpus-train")
    assert trainer.phase == "vae" and 0 < load_checkpoint(workdir)["step"] < recipe.vae_steps
    assert not (workdir / "corpus-train").exists() and (workdir / "corpus-train.part" / "progress.json").is_file()
    deadline = time.time() + 10
    while processes_mentioning(corpus) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(corpus) == []
    with open(workdir / LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_renderer_that_fails_after_the_corpus_is_complete_is_no_failure(smoke_run, tmp_path):
    from riffnb.train.train import _check_renderer

    # A renderer racing another one on the same folder fails on the files the winner moved: exit status 1.
    renderer = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    renderer.wait()
    complete = tmp_path / "corpus-train"
    shutil.copytree(smoke_run / "corpus-train", complete)
    _check_renderer(complete, renderer)
    with pytest.raises(RuntimeError, match="rendering the corpus failed"):
        _check_renderer(tmp_path / "unfinished", renderer)


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
