"""The ``riffnb`` command end to end, as a user runs it: ``python -m riffnb ...`` in a subprocess, real files."""

import hashlib
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import RIFFNB_PYTHON, make_music
from PIL import Image

import riffnb
from riffnb.audio import save_audio
from riffnb.params import ExifTags, SpectrogramParams, params_from_image

SUBCOMMANDS = {
    "audio-to-image": ["--step-size-ms", "--num-frequencies", "--min-frequency", "--max-frequency", "--stereo",
                       "--sample-rate", "--window-duration-ms", "--padded-duration-ms", "--power-for-image",
                       "--overwrite"],
    "image-to-audio": ["--n-iter", "--algorithm", "--init", "--phase-seed", "--no-normalize", "--overwrite"],
    "print-exif": ["image"],
    "sample-clips": ["--num-clips", "--duration-ms", "--seed", "--mono", "--extension", "--overwrite",
                     "--consecutive", "--overlap-ms"],
    "demo": ["output_dir", "--overwrite", "--prompt", "--model", "--n-iter"],
}


def snapshot(folder):
    """Every file under ``folder`` with a digest of its bytes: compare two to see what a command changed."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("riffnb: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""


def interrupt_when(ready, folder, *args, timeout=300):
    """Run ``riffnb ARGS`` in ``folder``, press Ctrl-C (SIGINT) as soon as ``ready()`` is true, and return the
    finished run (a CompletedProcess, text)."""
    process = subprocess.Popen([RIFFNB_PYTHON, "-m", "riffnb", *map(str, args)], cwd=folder, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


INTERRUPTED = "riffnb: interrupted (no partial output files are left behind)\n"


@pytest.fixture
def music_wav(tmp_path):
    path = tmp_path / "music.wav"
    save_audio(path, make_music(seconds=2.0), 44100)
    return path


# Help and usage ------------------------------------------------------------------------------------------------


def test_top_level_help_lists_every_command(run_riffnb):
    result = run_riffnb("--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: riffnb")
    for name in SUBCOMMANDS:
        assert name in result.stdout
    assert run_riffnb("--version").stdout.strip() == "riffnb 0.1.0"


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_command_has_help(run_riffnb, name):
    result = run_riffnb(name, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: riffnb {name}")
    for option in SUBCOMMANDS[name]:
        assert option in result.stdout


def test_no_command_is_a_usage_error(run_riffnb):
    result = run_riffnb()
    assert result.returncode == 2 and "required: COMMAND" in result.stderr and "Traceback" not in result.stderr


# The commands --------------------------------------------------------------------------------------------------


def test_audio_to_image_print_exif_image_to_audio(run_riffnb, tmp_path, music_wav):
    result = run_riffnb("audio-to-image", music_wav, "music.png")
    assert result.returncode == 0 and result.stderr == "" and "wrote music.png: 201x512" in result.stdout
    image = Image.open(tmp_path / "music.png")
    assert image.size == (201, 512) and image.mode == "RGB"
    assert params_from_image(image) == SpectrogramParams()
    assert image.getexif()[ExifTags.MAX_VALUE] > 1e6  # int16-scaled, as Riffusion's

    exif = run_riffnb("print-exif", "music.png")
    assert exif.returncode == 0
    assert re.search(r"^SAMPLE_RATE +=  +44100$", exif.stdout, re.MULTILINE)
    assert re.search(r"^NUM_FREQUENCIES +=  +512$", exif.stdout, re.MULTILINE)
    assert re.search(r"^MAX_VALUE +=  *\d", exif.stdout, re.MULTILINE)

    back = run_riffnb("image-to-audio", "music.png", "back.wav", "--n-iter", "2", "--init", "random",
                      "--phase-seed", "0")
    assert back.returncode == 0 and back.stderr == "" and "wrote back.wav: 2.00 s at 44100 Hz" in back.stdout
    samples, rate = soundfile.read(tmp_path / "back.wav", always_2d=True)
    assert rate == 44100 and samples.shape == (200 * 441, 1)
    assert 20 * np.log10(np.abs(samples).max()) == pytest.approx(-0.1, abs=0.01)  # Riffusion's normalisation

    quiet = run_riffnb("image-to-audio", "music.png", "raw.flac", "--n-iter", "0", "--no-normalize")
    assert quiet.returncode == 0
    raw, _ = soundfile.read(tmp_path / "raw.flac")
    # Decoded at the stored MAX_VALUE: the level of the original (peak ~0.5), not normalised to full scale.
    assert 0.2 < np.abs(raw).max() < 0.9


def test_audio_to_image_options_reach_the_image_and_back(run_riffnb, tmp_path, music_wav):
    result = run_riffnb("audio-to-image", music_wav, "wide.png", "--stereo", "--num-frequencies", "256",
                        "--step-size-ms", "20", "--max-frequency", "8000", "--min-frequency", "40")
    assert result.returncode == 0, result.stderr
    image = Image.open(tmp_path / "wide.png")
    assert image.size == (101, 256)
    assert not np.asarray(image)[..., 0].any()  # stereo: red is empty, left is green, right blue
    params = params_from_image(image)
    assert (params.stereo, params.num_frequencies, params.step_size_ms, params.min_frequency,
            params.max_frequency) == (True, 256, 20, 40, 8000)
    back = run_riffnb("image-to-audio", "wide.png", "wide.ogg", "--n-iter", "1")
    assert back.returncode == 0, back.stderr
    info = soundfile.info(tmp_path / "wide.ogg")
    assert info.channels == 2 and info.samplerate == 44100 and abs(info.duration - 2.0) < 0.03


def test_sample_clips_random_and_consecutive(run_riffnb, tmp_path):
    long_audio = tmp_path / "long.flac"
    music = make_music(seconds=12.0)
    save_audio(long_audio, music, 44100)

    result = run_riffnb("sample-clips", long_audio, "clips", "--num-clips", "3", "--seed", "5")
    assert result.returncode == 0 and result.stdout == "wrote 3 clip(s) of 5120 ms to clips\n", result.stderr
    names = sorted(path.name for path in (tmp_path / "clips").iterdir())
    assert len(names) == 3
    for name in names:
        match = re.fullmatch(r"clip_(\d)_start_(\d+)_ms_duration_(\d+)_ms\.wav", name)
        start_ms, duration_ms = int(match.group(2)), int(match.group(3))
        clip, rate = soundfile.read(tmp_path / "clips" / name, always_2d=True)
        assert rate == 44100 and clip.shape == (225792, 2) and duration_ms == 5120
        start = start_ms * 44100 // 1000
        source = music[:, start - 50 : start + 50 + 225792]  # start in ms is rounded down
        offsets = [abs(clip[:4410, 0] - source[0, k : k + 4410]).max() for k in range(101)]
        assert min(offsets) <= 1 / 32768 + 1e-6
    same = run_riffnb("sample-clips", long_audio, "again", "--num-clips", "3", "--seed", "5")
    assert same.returncode == 0 and sorted(path.name for path in (tmp_path / "again").iterdir()) == names

    consecutive = run_riffnb("sample-clips", long_audio, "parts", "--consecutive", "--overlap-ms", "200",
                             "--mono", "--extension", "flac")
    assert consecutive.returncode == 0, consecutive.stderr
    assert consecutive.stdout == "wrote 3 clip(s) of 5120 ms (the last 2160 ms) to parts\n"
    parts = sorted((tmp_path / "parts").iterdir(), key=lambda path: int(path.name.split("_")[1]))
    assert [part.name for part in parts] == [
        "clip_0_start_0_ms_duration_5120_ms.flac",
        "clip_1_start_4920_ms_duration_5120_ms.flac",
        "clip_2_start_9840_ms_duration_2160_ms.flac",
    ]
    assert all(soundfile.info(part).channels == 1 for part in parts)


def test_sample_clips_refuses_before_writing_any_clip(run_riffnb, tmp_path):
    long_audio = tmp_path / "long.wav"
    save_audio(long_audio, make_music(seconds=8.0), 44100)
    first = run_riffnb("sample-clips", long_audio, "clips", "--num-clips", "2", "--seed", "1")
    assert first.returncode == 0
    existing = sorted((tmp_path / "clips").iterdir())
    existing[1].unlink()  # one clip of the same run is missing: the rerun must still write nothing
    before = snapshot(tmp_path)
    again = run_riffnb("sample-clips", long_audio, "clips", "--num-clips", "2", "--seed", "1")
    assert_one_line_error(again, "already exists", "--overwrite")
    assert snapshot(tmp_path) == before
    replaced = run_riffnb("sample-clips", long_audio, "clips", "--num-clips", "2", "--seed", "1", "--overwrite")
    assert replaced.returncode == 0
    assert len(list((tmp_path / "clips").iterdir())) == 2

    too_long = run_riffnb("sample-clips", long_audio, "more", "--duration-ms", "10000")
    assert_one_line_error(too_long, "long.wav: audio is 8.00 s long, shorter than one 10 s clip")
    assert not (tmp_path / "more").exists()


def test_demo_makes_music_from_text_then_round_trips_a_clip(run_riffnb, tmp_path):
    # What scripts/setup.sh runs: the default folder, replacing an earlier demo only with --overwrite.
    (tmp_path / "riffnb-demo").mkdir()
    (tmp_path / "riffnb-demo" / "demo.png").write_bytes(b"old")
    refused = run_riffnb("demo")
    assert_one_line_error(refused, "riffnb-demo/demo.png already exists", "--overwrite")
    assert not (tmp_path / "riffnb-demo" / "text-to-music.wav").exists()  # checked before any work

    result = run_riffnb("demo", "--overwrite", "--n-iter", "4")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    folder = tmp_path / "riffnb-demo"
    assert {path.name for path in folder.iterdir()} == {
        "text-to-music.wav", "text-to-music.png", "text-to-music.json", "demo.wav", "demo.png", "reconstructed.wav"}
    # The main job: text to music with the embedded model, its image tagged with the model's parameters.
    generated, generated_rate = soundfile.read(folder / "text-to-music.wav")
    tiny = json.loads((Path(riffnb.__file__).parent / "models" / "tiny" / "spectrogram_params.json").read_text())
    assert generated_rate == tiny["sample_rate"] and generated.shape[0] == pytest.approx(5.12 * generated_rate, rel=0.01)
    assert params_from_image(Image.open(folder / "text-to-music.png")) == SpectrogramParams(**tiny)
    settings = json.loads((folder / "text-to-music.json").read_text())
    assert (settings["prompt"], settings["seed"], settings["model"]) == ("bossa nova with electric guitar", 42, "tiny")

    demo, rate = soundfile.read(folder / "demo.wav")
    rebuilt, rebuilt_rate = soundfile.read(folder / "reconstructed.wav")
    assert rate == rebuilt_rate == 44100 and demo.shape == rebuilt.shape == (225792,)
    assert 20 * np.log10(np.abs(rebuilt).max()) == pytest.approx(-0.1, abs=0.01)
    image = Image.open(folder / "demo.png")
    assert image.size == (513, 512) and params_from_image(image) == SpectrogramParams()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("loaded tiny on cpu (")
    assert re.fullmatch(r"wrote riffnb-demo/text-to-music.wav and riffnb-demo/text-to-music.png: 5.1\d s of 'bossa "
                        r"nova with electric guitar' \(seed 42, 20 dpm\+\+ steps, prompt to audio in \d+\.\d s\)", lines[1])
    assert [line.split(":")[0] for line in lines[2:5]] == [
        "wrote riffnb-demo/demo.wav", "wrote riffnb-demo/demo.png", "wrote riffnb-demo/reconstructed.wav"
    ]
    assert all(re.search(r": \d+\.\d\d s\)$", line) for line in lines[2:5])  # timings
    scores = re.search(r"spectral convergence .*: (-?\d+\.\d) dB against the image, (-?\d+\.\d) dB", lines[5])
    assert scores and float(scores.group(1)) < -10 and float(scores.group(2)) < -10

    # Another run refuses at once and leaves the files alone.
    before = snapshot(tmp_path)
    assert_one_line_error(run_riffnb("demo", "riffnb-demo"), "riffnb-demo/text-to-music.wav already exists")
    assert snapshot(tmp_path) == before


def test_an_interrupted_demo_removes_the_files_it_wrote(run_riffnb, tmp_path):
    folder = tmp_path / "interrupted"
    # Many iterations: the reconstruction is still running when Ctrl-C comes after the generated clip is saved.
    result = interrupt_when(lambda: (folder / "text-to-music.json").exists(), tmp_path, "demo", folder,
                            "--n-iter", "2000")
    assert (result.returncode, result.stderr) == (130, INTERRUPTED)
    assert "wrote" in result.stdout and not folder.exists()  # the run made it, so the run removes it


def test_an_interrupted_overwrite_puts_back_the_previous_demo(run_riffnb, tmp_path):
    folder = tmp_path / "again"
    assert run_riffnb("demo", folder, "--n-iter", "1").returncode == 0
    before = snapshot(folder)
    generated = folder / "text-to-music.json"
    result = interrupt_when(lambda: generated.exists() and generated.stat().st_mtime_ns != before[generated.name][1],
                            tmp_path, "demo", folder, "--overwrite", "--n-iter", "2000")
    assert (result.returncode, result.stderr) == (130, INTERRUPTED)
    assert "wrote" in result.stdout and snapshot(folder) == before
    assert sorted(path.name for path in folder.iterdir()) == sorted(before)


# Bad input: one line, exit status 1, nothing written -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("truncated_png", ["truncated.png: damaged or truncated image"]),
        ("text_png", ["text.png: not an image file"]),
        ("rgba_png", ["alpha channel"]),
        ("palette_png", ["colour palette"]),
        ("16bit_png", ["16-bit"]),
        ("wrong_height_png", ["64x500", "512 rows"]),
        ("text_wav", ["not an image file"]),
    ],
)
def test_image_to_audio_refuses_bad_images(run_riffnb, tmp_path, bad_inputs, name, fragments):
    before = snapshot(tmp_path)
    result = run_riffnb("image-to-audio", bad_inputs[name], "out.wav")
    assert_one_line_error(result, *fragments)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("empty_wav", ["empty.wav: audio is empty"]),
        ("nan_wav", ["nan.wav: audio holds NaN"]),
        ("truncated_wav", ["truncated.wav: truncated audio file"]),
        ("text_wav", ["text.wav: not an audio format riffnb can read"]),
        ("unknown_format", ["song.m4a: not an audio format riffnb can read", "ffmpeg"]),
        ("text_png", ["not an audio format"]),
    ],
)
def test_audio_commands_refuse_bad_audio(run_riffnb, tmp_path, bad_inputs, name, fragments):
    before = snapshot(tmp_path)
    assert_one_line_error(run_riffnb("audio-to-image", bad_inputs[name], "out.png"), *fragments)
    assert_one_line_error(run_riffnb("sample-clips", bad_inputs[name], "clips"), *fragments)
    assert snapshot(tmp_path) == before


def test_too_short_inputs_are_named_in_the_error(run_riffnb, tmp_path):
    save_audio(tmp_path / "blip.wav", 0.1 * np.ones(1000), 44100)
    assert_one_line_error(run_riffnb("audio-to-image", "blip.wav", "blip.png"), "blip.wav: audio is 0.023 s long")
    Image.fromarray(np.full((512, 2), 128, np.uint8)).save(tmp_path / "narrow.png")
    assert_one_line_error(run_riffnb("image-to-audio", "narrow.png", "narrow.wav"), "narrow.png: 2 frames")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blip.wav", "narrow.png"]


@pytest.mark.parametrize("command, output", [("audio-to-image", "out.png"), ("image-to-audio", "out.wav"),
                                             ("print-exif", None), ("sample-clips", "clips")])
def test_missing_input_and_directory_input(run_riffnb, tmp_path, command, output):
    outputs = [output] if output else []
    assert_one_line_error(run_riffnb(command, "nowhere.xyz", *outputs), "nowhere.xyz: no such file")
    (tmp_path / "folder").mkdir()
    assert_one_line_error(run_riffnb(command, "folder", *outputs), "folder: is a directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder"]


def test_an_image_without_exif_from_another_model_decodes_with_model(run_riffnb, tmp_path):
    from riffnb.diffusion.loading import params_for

    tiny = params_for("tiny")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (tiny.num_frequencies, 64), np.uint8)).save(
        tmp_path / "stripped.png")
    before = snapshot(tmp_path)
    assert_one_line_error(run_riffnb("image-to-audio", "stripped.png", "out.wav"),
                          "stripped.png: image is 64x96 with no spectrogram parameters in its EXIF",
                          "512 rows tall; pass --model with the model that drew it (e.g. --model tiny)")
    assert_one_line_error(run_riffnb("image-to-audio", "stripped.png", "out.wav", "--model", "tinny"),
                          "unknown model 'tinny'")
    assert snapshot(tmp_path) == before
    result = run_riffnb("image-to-audio", "stripped.png", "out.wav", "--model", "tiny", "--n-iter", "1")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    info = soundfile.info(tmp_path / "out.wav")
    assert info.samplerate == tiny.sample_rate and info.frames == 63 * tiny.hop_length


def test_print_exif_of_a_non_image_and_of_an_image_without_tags(run_riffnb, tmp_path, bad_inputs):
    assert_one_line_error(run_riffnb("print-exif", bad_inputs["text_png"]), "not an image file")
    Image.fromarray(np.zeros((512, 8), np.uint8)).save(tmp_path / "plain.png")
    result = run_riffnb("print-exif", "plain.png")
    assert result.returncode == 0
    assert result.stdout == "plain.png: no Riffusion EXIF tags; it decodes with Riffusion's default parameters\n"


@pytest.mark.parametrize("name, reason", [
    ("photo.png", "image is 300x200 with no spectrogram parameters in its EXIF, and Riffusion's images are 512 rows "
                  "tall; pass --model with the model that drew it"),
    ("rgba_png", "not a spectrogram image: it has an alpha channel"),
])
def test_print_exif_says_when_an_image_without_tags_does_not_decode(run_riffnb, tmp_path, bad_inputs, name, reason):
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(tmp_path / "photo.png")
    path = bad_inputs.get(name, name)
    result = run_riffnb("print-exif", path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"{path}: no Riffusion EXIF tags, and image-to-audio cannot decode it as it is: ")
    assert reason in result.stdout and result.stdout.count("\n") == 1
    assert_one_line_error(run_riffnb("image-to-audio", path, "out.wav"), reason)


def test_existing_output_is_refused_before_reading_the_input(run_riffnb, tmp_path, bad_inputs, music_wav):
    (tmp_path / "taken.wav").write_bytes(b"precious")
    before = snapshot(tmp_path)
    # The input is damaged too: the output check runs first, so the message is about the output.
    result = run_riffnb("image-to-audio", bad_inputs["truncated_png"], "taken.wav")
    assert_one_line_error(result, "taken.wav already exists; pass --overwrite")
    (tmp_path / "taken.png").write_bytes(b"precious")
    assert_one_line_error(run_riffnb("audio-to-image", music_wav, "taken.png"), "taken.png already exists")
    assert (tmp_path / "taken.wav").read_bytes() == b"precious" == (tmp_path / "taken.png").read_bytes()
    assert {k: v for k, v in snapshot(tmp_path).items() if k != "taken.png"} == before


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["audio-to-image", "music.wav", "out.bmp"], ["out.bmp", "use .png"]),
        (["image-to-audio", "any.png", "out.aac"], ["'out.aac'", ".wav, .flac, .ogg, .mp3"]),
        (["audio-to-image", "music.wav", "out.png", "--min-frequency", "20000"], ["min_frequency < max_frequency"]),
        (["audio-to-image", "music.wav", "folder.png"], ["folder.png is a directory"]),
        (["image-to-audio", "any.png", "folder.png"], ["'folder.png'"]),
        (["image-to-audio", "any.png", "out.wav", "--algorithm", "magic"], ["--algorithm must be one of"]),
        (["image-to-audio", "any.png", "out.wav", "--init", "psychic"], ["--init must be one of random, zeros, pghi"]),
        (["image-to-audio", "any.png", "out.wav", "--init", "random", "--phase-seed", "-1"],
         ["--phase-seed must be a whole number, 0 or more, got -1"]),
        (["image-to-audio", "any.png", "out.wav", "--phase-seed", "3"],
         ["--phase-seed has no effect with the default --init pghi", "add --init random, or drop --phase-seed"]),
        (["image-to-audio", "any.png", "out.wav", "--init", "zeros", "--phase-seed", "3"],
         ["--phase-seed has no effect with --init zeros"]),
        (["demo", "new", "--init", "random", "--phase-seed", "-1"], ["--phase-seed must be a whole number"]),
        (["demo", "new", "--prompt", " "], ["--prompt is empty (an unset shell variable?); say what to play"]),
        (["audio-to-image", "music.wav", "out.png", "--model", "tiny", "--num-frequencies", "64", "--stereo"],
         ["--model tiny sets every spectrogram parameter", "drop --stereo and --num-frequencies, or drop --model"]),
        (["sample-clips", "music.wav", "music.wav"], ["music.wav exists and is not a folder"]),
        (["sample-clips", "music.wav", "c", "--consecutive", "--overlap-ms", "6000"], ["--overlap-ms"]),
        (["demo", "music.wav"], ["music.wav exists and is not a folder"]),
    ],
)
def test_bad_arguments_give_one_line_errors(run_riffnb, tmp_path, music_wav, args, fragments):
    Image.fromarray(np.zeros((512, 8), np.uint8)).save(tmp_path / "any.png")
    (tmp_path / "folder.png").mkdir()
    before = snapshot(tmp_path)
    assert_one_line_error(run_riffnb(*args), *fragments)
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


def test_phase_options_help_lists_what_riffnb_phase_takes(run_riffnb, tmp_path):
    import inspect

    from riffnb import cli, phase

    # Written out in riffnb.cli to keep --help fast: they must be riffnb.phase's.
    assert tuple(cli.PHASE_ALGORITHMS) == phase.ALGORITHMS and tuple(cli.PHASE_INITS) == phase.INITS
    defaults = inspect.signature(phase.reconstruct_audio).parameters
    assert cli.PHASE_DEFAULTS == {name: defaults[name].default for name in ("n_iter", "algorithm", "init")}
    help_text = " ".join(run_riffnb("image-to-audio", "--help").stdout.split())
    for fragment in ("--algorithm {gla,fgla}", "(default: fgla)", "--init {random,zeros,pghi}", "(default: pghi)",
                     "0 or more (default: 16)", "seed of --init random"):
        assert fragment in help_text

    Image.fromarray(np.full((512, 40), 100, np.uint8)).save(tmp_path / "any.png")
    result = run_riffnb("image-to-audio", "any.png", "out.wav", "--init", "PGHI", "--algorithm", "GLA", "--n-iter", "1")
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_audio_to_image_with_a_models_parameters(run_riffnb, tmp_path, music_wav):
    from riffnb.diffusion.loading import params_for

    result = run_riffnb("audio-to-image", music_wav, "tiny.png", "--model", "tiny")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    tiny = params_for("tiny")
    image = Image.open(tmp_path / "tiny.png")
    assert params_from_image(image) == tiny and tiny.mel_scale_type == "semitone"  # which no flag offers
    assert image.height == tiny.num_frequencies and f"wrote tiny.png: {image.width}x96 image" in result.stdout


def test_sample_clips_reports_a_shorter_last_clip(run_riffnb, tmp_path):
    save_audio(tmp_path / "twelve.wav", make_music(seconds=12.0), 44100)
    result = run_riffnb("sample-clips", "twelve.wav", "parts", "--consecutive", "--duration-ms", "5000",
                        "--overlap-ms", "1000")
    assert result.returncode == 0 and result.stdout == "wrote 3 clip(s) of 5000 ms (the last 4000 ms) to parts\n"
    last = sorted(path.name for path in (tmp_path / "parts").iterdir())[-1]
    assert last == "clip_2_start_8000_ms_duration_4000_ms.wav"


@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_run_removes_only_the_folder_it_made(run_riffnb, tmp_path, existing):
    save_audio(tmp_path / "long.wav", make_music(seconds=60.0), 44100)
    clips = tmp_path / "clips"
    if existing:
        clips.mkdir()
    result = interrupt_when(lambda: any(clips.glob("*.mp3")), tmp_path, "sample-clips", "long.wav", clips,
                            "--num-clips", "30", "--extension", "mp3")
    assert (result.returncode, result.stderr) == (130, INTERRUPTED)
    assert clips.exists() == existing and snapshot(tmp_path / "clips") == {}
