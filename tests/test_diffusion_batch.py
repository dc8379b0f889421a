"""Batch generation from Riffusion's JSON batch format: parsing, clear errors, and a real run on the tiny model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from riffnb.diffusion.batch import Batch, BatchEntry, BatchFormatError, BatchParams, load_batch, output_names, run_batch
from riffnb.diffusion.loading import SamplingDefaults
from riffnb.diffusion.pipeline import RiffusionPipeline
from riffnb.errors import OutputExistsError, RiffnbError

# The example on Riffusion's text-to-audio batch page, trailing comma and all.
RIFFUSION_EXAMPLE = """
{
  "params": {
    "checkpoint": "riffusion/riffusion-model-v1",
    "scheduler": "DPMSolverMultistepScheduler",
    "num_inference_steps": 50,
    "guidance": 7.0,
    "width": 512,
  },
  "entries": [
    {
      "prompt": "Church bells",
      "seed": 42
    },
    {
      "prompt": "electronic beats",
      "negative_prompt": "drums",
      "seed": 100
    },
    {
      "prompt": "classical violin concerto",
      "seed": 4
    }
  ]
}
"""


def test_riffusions_own_example_parses(tmp_path):
    path = tmp_path / "batch.json"
    path.write_text(RIFFUSION_EXAMPLE)
    batch = load_batch(path)
    assert batch.params == (BatchParams("params[0]", "riffusion/riffusion-model-v1", "dpm++", 50, 7.0, 512),)
    assert batch.entries == (
        BatchEntry("Church bells", 42),
        BatchEntry("electronic beats", 100, "drums"),
        BatchEntry("classical violin concerto", 4),
    )
    assert load_batch(RIFFUSION_EXAMPLE) == batch == load_batch(str(path))


def test_lists_of_params_defaults_and_round_trip():
    batch = load_batch({
        "params": [{"name": "fast", "num_inference_steps": 10, "scheduler": "EulerAncestralDiscreteScheduler"},
                   {"scheduler": "pndm", "guidance": 3}],
        "entries": [{"prompt": "a, \"quoted\" ,]"}],
    })
    assert [p.name for p in batch.params] == ["fast", "params[1]"]
    assert [p.scheduler for p in batch.params] == ["euler_a", "pndm"]
    # Left out: None, the model's default when the batch runs.
    assert batch.params[1].guidance == 3.0 and batch.params[1].num_inference_steps is None
    assert batch.params[0].guidance is None and batch.params[0].width is None
    assert batch.entries == (BatchEntry('a, "quoted" ,]', 42, None),)
    assert load_batch(batch.to_json()) == batch
    assert load_batch(json.dumps(batch.to_json())) == batch


@pytest.mark.parametrize(
    "data, fragment",
    [
        ("{ not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"entries": []}', "'entries' must be a non-empty list"),
        ('{"params": {}}', "'entries' must be a non-empty list"),
        ('{"entries": [{"promt": "bells"}]}', "entries[0] has unknown key 'promt'"),
        ('{"entries": [{"seed": 1}]}', 'entries[0] needs a "prompt" string'),
        ('{"entries": [{"prompt": "a", "seed": -3}]}', "entries[0].seed must be a whole number"),
        ('{"entries": [{"prompt": "a", "seed": 1.5}]}', "entries[0].seed must be a whole number"),
        ('{"entries": [{"prompt": "a", "seed": 9223372036854775808}]}',
         "entries[0].seed must be a whole number from 0 to 2**63 - 1"),
        # An unset shell variable in a generated file, say.
        ('{"entries": [{"prompt": "a"}, {"prompt": " "}]}', 'entries[1].prompt is empty; say what to play'),
        ('{"entries": [{"prompt": "a", "negative_prompt": 7}]}', "entries[0].negative_prompt must be a string"),
        ('{"params": {"width": 500}, "entries": [{"prompt": "a"}]}',
         "params[0].width: width must be a positive multiple of 8 pixels, got 500; try 496 or 504"),
        ('{"params": {"num_inference_steps": 0}, "entries": [{"prompt": "a"}]}',
         "params[0].num_inference_steps: steps must be a positive integer"),
        ('{"params": {"num_inference_steps": 1001}, "entries": [{"prompt": "a"}]}',
         "params[0].num_inference_steps: steps must be at most 999"),
        ('{"params": {"guidance": "x"}, "entries": [{"prompt": "a"}]}', "params[0].guidance: guidance must be a finite"),
        # Python's json reads Infinity and NaN.
        ('{"params": {"guidance": Infinity}, "entries": [{"prompt": "a"}]}', "guidance must be a finite number"),
        ('{"params": {"guidance": NaN}, "entries": [{"prompt": "a"}]}', "guidance must be a finite number"),
        ('{"params": {"scheduler": "Magic"}, "entries": [{"prompt": "a"}]}', "unknown scheduler 'Magic'"),
        ('{"params": [], "entries": [{"prompt": "a"}]}', "'params' is an empty list"),
        ('{"params": {}, "entries": [{"prompt": "a"}], "extra": 1}', "unknown top-level key 'extra'"),
    ],
)
def test_invalid_batches_are_one_line_errors(data, fragment):
    with pytest.raises(BatchFormatError) as raised:
        load_batch(data)
    message = str(raised.value)
    assert fragment in message and "\n" not in message


def test_missing_batch_file(tmp_path):
    with pytest.raises(BatchFormatError, match="no such batch file"):
        load_batch(tmp_path / "nope.json")


def test_output_names_are_unique_per_entry_seed_and_params():
    batch = Batch((BatchParams("a"), BatchParams("b")), (BatchEntry("Church bells!", 5), BatchEntry("Church bells!", 5)))
    names = output_names(batch, num_seeds=2)
    assert len(names) == len({stem for *_, stem in names}) == 8
    assert names[0] == (0, 0, 5, "000_Church_bells_seed5_p0")
    assert names[3] == (0, 1, 6, "000_Church_bells_seed6_p1")


def test_run_writes_every_clip_and_an_index(tiny_pipe, tiny_pipeline_dir, tmp_path):
    data = {
        "params": [{"num_inference_steps": 2, "width": 64},
                   {"name": "own model", "checkpoint": str(tiny_pipeline_dir), "num_inference_steps": 2,
                    "width": 64, "scheduler": "DDIMScheduler"}],
        "entries": [{"prompt": "church bells", "negative_prompt": "piano", "seed": 3}],
    }
    seen = []
    results = run_batch(data, tiny_pipe, output_dir=tmp_path / "out",
                        callback=lambda done, total, clip: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert [(r.entry_index, r.params_index, r.seed) for r in results] == [(0, 0, 3), (0, 1, 3)]
    assert results[0].clip.scheduler == "dpm++" and results[1].clip.scheduler == "ddim"
    assert results[1].clip.negative_prompt == "piano" and results[0].clip.image.size == (64, 64)
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["entries"][0]["negative_prompt"] == "piano" and len(index["results"]) == 2
    for result, listed in zip(results, index["results"]):
        assert (tmp_path / "out" / listed["audio_path"]).is_file() and (tmp_path / "out" / listed["image_path"]).is_file()
        assert listed["seed"] == result.seed
    # The same entry, seed and settings give the same clip whichever way it is made.
    direct = tiny_pipe.text_to_audio("church bells", negative_prompt="piano", seed=3, steps=2, width=64)
    assert np.array_equal(direct.samples, results[0].clip.samples)

    before = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    with pytest.raises(OutputExistsError):
        run_batch(data, tiny_pipe, output_dir=tmp_path / "out")
    assert {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()} == before


def test_settings_a_batch_leaves_out_are_the_models_and_index_json_records_them(tiny_pipe, tmp_path):
    defaults = SamplingDefaults(steps=3, guidance=2.5, width=72, scheduler="ddim")
    pipe = RiffusionPipeline(tiny_pipe.pipeline, params=tiny_pipe.params, model="own defaults", defaults=defaults)
    data = {"params": [{}, {"num_inference_steps": 2, "guidance": 1.0}], "entries": [{"prompt": "bells", "seed": 4}]}
    results = run_batch(data, pipe, output_dir=tmp_path)
    made = [(r.clip.steps, r.clip.guidance, r.clip.width, r.clip.scheduler) for r in results]
    assert made == [(3, 2.5, 72, "ddim"), (2, 1.0, 72, "ddim")]
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["params"] == [{"name": "params[0]"}, {"name": "params[1]", "num_inference_steps": 2, "guidance": 1.0}]
    recorded = [(r["steps"], r["guidance"], r["width"], r["scheduler"], r["model"]) for r in index["results"]]
    assert recorded == [(3, 2.5, 72, "ddim", "own defaults"), (2, 1.0, 72, "ddim", "own defaults")]


def test_an_interrupted_or_failed_batch_leaves_nothing_and_can_run_again(tiny_pipe, tmp_path):
    data = {"params": {"num_inference_steps": 2, "width": 64}, "entries": [{"prompt": "a"}, {"prompt": "b"}]}
    folder = tmp_path / "out"

    def interrupt(done, total, clip):
        if done == 1:  # the first clip's files are written by now
            assert len(list(folder.iterdir())) == 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(data, tiny_pipe, output_dir=folder, callback=interrupt)
    assert list(folder.iterdir()) == []

    def block_the_index(done, total, clip):
        if done == total:  # the last file cannot be written now: the clips go too
            (folder / "index.json").mkdir()

    with pytest.raises(RiffnbError, match="index.json is a directory"):
        run_batch(data, tiny_pipe, output_dir=folder, callback=block_the_index)
    assert [path.name for path in folder.iterdir()] == ["index.json"]
    (folder / "index.json").rmdir()
    assert len(run_batch(data, tiny_pipe, output_dir=folder)) == 2
    assert len(list(folder.iterdir())) == 7


def test_an_interrupted_overwrite_leaves_the_previous_batch_as_it_was(tiny_pipe, tmp_path):
    data = {"params": {"num_inference_steps": 2, "width": 64}, "entries": [{"prompt": "a"}, {"prompt": "b"}]}
    folder = tmp_path / "out"
    run_batch(data, tiny_pipe, output_dir=folder)
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in folder.iterdir()}
    assert len(before) == 7

    def interrupt(done, total, clip):
        if done == 1:  # the first clip's files have replaced the previous run's by now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch({**data, "entries": [{"prompt": "c"}, {"prompt": "d"}]}, tiny_pipe, output_dir=folder,
                  overwrite=True, callback=interrupt)
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in folder.iterdir()} == before


def test_settings_are_checked_against_each_models_limits_before_it_loads(tiny_pipeline_dir, tmp_path):
    short = tmp_path / "short-schedule"
    shutil.copytree(tiny_pipeline_dir, short)
    config = json.loads((short / "scheduler" / "scheduler_config.json").read_text())
    (short / "scheduler" / "scheduler_config.json").write_text(json.dumps({**config, "num_train_timesteps": 500}))
    (short / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights: loading would fail")
    data = {"params": {"num_inference_steps": 600}, "entries": [{"prompt": "a"}]}
    with pytest.raises(BatchFormatError, match="params\\[0\\].num_inference_steps: steps must be at most 499 for this"):
        run_batch(data, short, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_audio_format_is_named(tiny_pipe, tmp_path):
    data = {"entries": [{"prompt": "a"}]}
    with pytest.raises(RiffnbError, match="cannot write audio with format 'xyz'; use one of .wav"):
        run_batch(data, tiny_pipe, output_dir=tmp_path, audio_format="xyz")


def test_seeds_past_the_largest_are_refused_before_any_clip(tmp_path):
    data = {"entries": [{"prompt": "a"}, {"prompt": "b", "seed": 2**63 - 2}]}
    # No pipeline can load from here: the seeds are checked first.
    with pytest.raises(BatchFormatError, match=r"entries\[1\]: its 3 seeds from 9223372036854775806 would run to "
                                               r"9223372036854775808, past the largest seed"):
        run_batch(data, tmp_path / "no-model", output_dir=tmp_path / "out", num_seeds=3)
    assert not (tmp_path / "out").exists()
