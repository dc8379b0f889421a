"""Loading: local folders, the hub (unreachable here: for real), the cache, shipped names, refusals, devices."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import riffnb
from riffnb.diffusion import loading
from riffnb.diffusion.loading import (
    DeviceError,
    DeviceMemoryError,
    HubUnreachableError,
    ModelNotFoundError,
    NotAPipelineError,
    UnsafeCheckpointError,
)
from riffnb.diffusion.pipeline import RiffusionPipeline
from riffnb.errors import RiffnbError
from riffnb.params import SpectrogramParams

from diffusion_fixtures import TINY_PARAMS

PYTHON = str(Path(__file__).parents[1] / ".venv" / "bin" / "python")
if not os.path.exists(PYTHON):
    PYTHON = sys.executable


def copy_pipeline(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def run_loader(model: str, env: dict[str, str], timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """Load ``model`` in a fresh interpreter (hub settings are read at import); return the run and the seconds the
    ``load_pipeline`` call took, measured inside it (imports excluded)."""
    code = (
        "import sys, time, torch, diffusers, riffnb\n"
        "start = time.perf_counter()\n"
        "try:\n"
        f"    pipe = riffnb.load_pipeline({model!r}, device='cpu')\n"
        "    print('LOADED', pipe.params.num_frequencies)\n"
        "except riffnb.RiffnbError as error:\n"
        "    print('ERROR', type(error).__name__, error)\n"
        "print('SECONDS', time.perf_counter() - start)\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}
    )
    seconds = float(result.stdout.rsplit("SECONDS", 1)[1]) if "SECONDS" in result.stdout else float("nan")
    return result, seconds


def test_local_folder_loads_with_its_params(tiny_pipe, tiny_pipeline_dir):
    assert isinstance(tiny_pipe, RiffusionPipeline)
    assert tiny_pipe.params == SpectrogramParams(**TINY_PARAMS)
    assert tiny_pipe.height == TINY_PARAMS["num_frequencies"]
    assert tiny_pipe.device == torch.device("cpu") and tiny_pipe.dtype == torch.float32
    assert type(tiny_pipe.pipeline).__name__ == "StableDiffusionPipeline"
    assert tiny_pipe.pipeline.safety_checker is None
    assert tiny_pipe.model == os.fspath(tiny_pipeline_dir)
    assert "StableDiffusionPipeline" not in repr(tiny_pipe) and "cpu" in repr(tiny_pipe)


def test_loading_is_quiet_about_the_safety_checker(tiny_pipeline_dir, capfd, recwarn):
    riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")
    captured = capfd.readouterr()
    assert "safety" not in (captured.out + captured.err).lower()
    assert not [w for w in recwarn if "safety" in str(w.message).lower() or "torch_dtype" in str(w.message)]


def test_loading_writes_nothing_and_restores_the_callers_settings(tiny_pipeline_dir, capfd):
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libraries = (diffusers_logging, transformers_logging)

    def settings():
        return [(library.get_verbosity(), library.is_progress_bar_enabled()) for library in libraries]

    def apply(chosen):
        for library, (verbosity, bars) in zip(libraries, chosen):
            library.set_verbosity(verbosity)
            library.enable_progress_bar() if bars else library.disable_progress_bar()

    original = settings()
    try:
        for chosen in ([(20, True), (20, True)], [(40, False), (40, False)], [(30, True), (50, False)]):
            apply(chosen)
            capfd.readouterr()
            riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")
            captured = capfd.readouterr()
            assert captured.out == "" and captured.err == "", captured.out + captured.err
            assert settings() == chosen
    finally:
        apply(original)


def test_loading_in_a_fresh_interpreter_writes_nothing(tiny_pipeline_dir):
    # transformers warns once per process (about torchvision) when diffusers' pipeline is first imported.
    code = f"import riffnb\nriffnb.load_pipeline({os.fspath(tiny_pipeline_dir)!r}, device='cpu')\n"
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr


def test_folder_without_params_file_gets_riffusions(tiny_pipeline_dir, tmp_path):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "model")
    (folder / loading.PARAMS_FILE).unlink()
    with pytest.raises(RiffnbError, match="rows tall"):
        # Riffusion's 512 rows are fine for the VAE; but forcing a height the VAE cannot make is refused.
        riffnb.load_pipeline(folder, device="cpu", params=SpectrogramParams(num_frequencies=60))
    pipe = riffnb.load_pipeline(folder, device="cpu")
    assert pipe.params == SpectrogramParams()


def test_params_argument_overrides_the_folder(tiny_pipeline_dir):
    params = SpectrogramParams(num_frequencies=32, sample_rate=8000, max_frequency=4000)
    assert riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", params=params).params == params


def test_dtype_and_device_can_be_forced(tiny_pipeline_dir):
    pipe = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", dtype="bf16")
    assert pipe.dtype == torch.bfloat16
    assert pipe.pipeline.unet.dtype == pipe.pipeline.vae.dtype == pipe.pipeline.text_encoder.dtype == torch.bfloat16


def test_device_and_dtype_choices():
    assert loading.choose_device() == torch.device("cpu")  # this machine has neither CUDA nor MPS
    assert loading.choose_dtype(torch.device("cpu")) == torch.float32
    assert loading.choose_dtype(torch.device("cuda")) == torch.float16
    assert loading.choose_dtype(torch.device("mps")) == torch.float16
    assert loading.choose_dtype(torch.device("cpu"), torch.bfloat16) == torch.bfloat16
    assert loading.choose_dtype(torch.device("cpu"), "torch.float16") == torch.float16
    with pytest.raises(DeviceError, match="no CUDA GPU.*device='cpu'"):
        loading.choose_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        loading.choose_device("gpu")
    with pytest.raises(DeviceError, match="unknown dtype"):
        loading.choose_dtype(torch.device("cpu"), "int8")
    with pytest.raises(DeviceError, match="not supported"):
        loading.choose_dtype(torch.device("cpu"), torch.float64)


# -- the hub ---------------------------------------------------------------------------------------------------------


def hub_resolves() -> bool:
    try:
        socket.getaddrinfo("huggingface.co", 443)
        return True
    except OSError:
        return False


@pytest.mark.skipif(hub_resolves(), reason="the network is up: this test is about a machine without it")
def test_default_hub_model_without_network_fails_fast():
    result, seconds = run_loader(loading.DEFAULT_MODEL, {"HF_HUB_CACHE": "/nonexistent-riffnb-cache"})
    assert "ERROR HubUnreachableError cannot reach the Hugging Face hub" in result.stdout, result.stdout + result.stderr
    assert "load_pipeline('tiny')" in result.stdout and "local diffusers folder" in result.stdout
    assert seconds < 5, f"took {seconds:.1f} s"


def test_unreachable_hub_fails_fast(tmp_path):
    # Port 9 (discard) on localhost is closed: a real connection refusal, on any machine.
    result, seconds = run_loader(
        "riffnb-test/tiny", {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "cache")}
    )
    assert "ERROR HubUnreachableError cannot reach the Hugging Face hub to load riffnb-test/tiny" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("ERROR")]) == 1
    assert seconds < 5, f"took {seconds:.1f} s"


def make_hub_cache(cache: Path, repo_id: str, pipeline_dir: Path) -> None:
    """Lay ``pipeline_dir`` out as huggingface_hub's cache does after a download of ``repo_id``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(pipeline_dir, repo / "snapshots" / commit)


def test_offline_mode_uses_the_cache_or_says_so(tiny_pipeline_dir, tmp_path):
    cache = tmp_path / "cache"
    make_hub_cache(cache, "riffnb-test/tiny", tiny_pipeline_dir)
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    result, _ = run_loader("riffnb-test/tiny", env)
    assert f"LOADED {TINY_PARAMS['num_frequencies']}" in result.stdout, result.stdout + result.stderr
    result, seconds = run_loader("riffnb-test/other", env)
    assert "ERROR HubUnreachableError HF_HUB_OFFLINE is set and riffnb-test/other is not in the Hugging Face cache" in result.stdout
    assert seconds < 2


def test_unreachable_hub_falls_back_to_the_cache(tiny_pipeline_dir, tmp_path):
    cache = tmp_path / "cache"
    make_hub_cache(cache, "riffnb-test/tiny", tiny_pipeline_dir)
    result, _ = run_loader("riffnb-test/tiny", {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(cache)})
    assert f"LOADED {TINY_PARAMS['num_frequencies']}" in result.stdout, result.stdout + result.stderr


def test_hub_download_patterns_skip_pickles_variants_and_the_safety_checker():
    allow, ignore = loading._hub_patterns(allow_pickle=False)
    assert "unet/*.safetensors" in allow and not any(".bin" in p for p in allow)
    assert not any(p.startswith(("safety_checker", "feature_extractor")) for p in allow)
    assert "*.fp16.*" in ignore
    assert "unet/*.bin" in loading._hub_patterns(allow_pickle=True)[0]


# -- names and folders -----------------------------------------------------------------------------------------------


def test_shipped_model_slot():
    assert "tiny" in loading.SHIPPED_MODELS
    with pytest.raises(ModelNotFoundError, match="ships no model named 'huge'"):
        loading.shipped_model_folder("huge")
    if (Path(riffnb.__file__).parent / "models" / "tiny" / "model_index.json").exists():
        pytest.skip("the shipped model is installed, so its missing-model message cannot be shown")
    with pytest.raises(ModelNotFoundError, match="'tiny' is not part of this installation.*upgrade riffnb"):
        riffnb.load_pipeline("tiny", device="cpu")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("riffusion-model-v1", "unknown model 'riffusion-model-v1': pass a hub id such as"),
        ("./no/such/folder", "no such folder: ./no/such/folder"),
        ("a/b/c", "no such folder: a/b/c"),
        (Path("relative-missing"), "no such folder: relative-missing"),
        # A path is a path: Path("tiny") is the folder ./tiny, not the shipped model.
        (Path("tiny"), "no such folder: tiny"),
        (123, "model must be a hub id, a folder or a shipped model name"),
        # Not the current folder.
        ("", "the model name is empty"),
        ("  ", "the model name is empty"),
    ],
)
def test_names_that_are_nothing(model, message):
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match=message.replace(".", r"\.")):
        riffnb.load_pipeline(model, device="cpu")
    assert time.perf_counter() - start < 1


def test_a_local_folder_named_like_a_shipped_model_loads_as_a_path(tiny_pipeline_dir, tmp_path, monkeypatch):
    copy_pipeline(tiny_pipeline_dir, tmp_path / "tiny")
    monkeypatch.chdir(tmp_path)
    folder = riffnb.load_pipeline(Path("tiny"), device="cpu")
    assert folder.params == SpectrogramParams(**TINY_PARAMS) and loading.params_for(Path("tiny")) == folder.params
    assert loading.params_for("tiny") == loading.read_params(loading.shipped_model_folder("tiny")) != folder.params


def test_limits_are_read_from_the_folder_without_loading(tiny_pipe, tiny_pipeline_dir, tmp_path):
    assert loading.limits_for(tiny_pipeline_dir) == tiny_pipe.limits == loading.ModelLimits(8, 999)
    assert loading.limits_for("tiny") == loading.limits_for("some/hub-model") == loading.limits_for(None)
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "other")
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"num_train_timesteps": 500}))
    vae = json.loads((folder / "vae" / "config.json").read_text())
    (folder / "vae" / "config.json").write_text(json.dumps({**vae, "block_out_channels": [8, 8, 16]}))
    assert loading.limits_for(folder) == loading.ModelLimits(vae_scale_factor=4, max_steps=500)


def test_the_readme_counts_the_seconds_a_models_columns_make():
    # W columns decode to W - 1 hops of audio, as Riffusion's Griffin-Lim gives them.
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for model in ("tiny", "riffusion/riffusion-model-v1"):
        width, params = loading.defaults_for(model).width, loading.params_for(model)
        seconds = (width - 1) * params.hop_length / params.sample_rate
        assert f"{width} columns = {seconds:.2f} s" in readme, (model, seconds)


def test_folders_that_are_not_pipelines(tiny_pipeline_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotAPipelineError, match="not a diffusers pipeline folder \\(no model_index.json\\)"):
        riffnb.load_pipeline(empty, device="cpu")
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"\0" * 16)
    with pytest.raises(NotAPipelineError, match="is a single file.*from_single_file"):
        riffnb.load_pipeline(single, device="cpu")

    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "no-unet")
    index = json.loads((folder / "model_index.json").read_text())
    del index["unet"]
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(NotAPipelineError, match="lacks unet"):
        riffnb.load_pipeline(folder, device="cpu")

    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "bad-json")
    (folder / "model_index.json").write_text("{not json")
    with pytest.raises(NotAPipelineError, match="not valid JSON"):
        riffnb.load_pipeline(folder, device="cpu")

    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "no-weights")
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(NotAPipelineError, match="vae holds no weights"):
        riffnb.load_pipeline(folder, device="cpu")


def test_damaged_weights_are_one_line(tiny_pipeline_dir, tmp_path):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "damaged")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(NotAPipelineError) as caught:
        riffnb.load_pipeline(folder, device="cpu")
    assert "could not be loaded as a Stable Diffusion pipeline" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_params_file(tiny_pipeline_dir, tmp_path):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "params")
    (folder / loading.PARAMS_FILE).write_text(json.dumps({"num_frequencies": 64, "colour": "blue"}))
    with pytest.raises(NotAPipelineError, match="unknown fields colour"):
        riffnb.load_pipeline(folder, device="cpu")
    (folder / loading.PARAMS_FILE).write_text(json.dumps({"sample_rate": -1}))
    with pytest.raises(NotAPipelineError, match="sample_rate must be a positive whole number"):
        riffnb.load_pipeline(folder, device="cpu")


def test_custom_component_code_is_refused(tiny_pipeline_dir, tmp_path):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "custom")
    index = json.loads((folder / "model_index.json").read_text())
    index["unet"] = ["my_unet", "MyUNet"]
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "unet" / "my_unet.py").write_text("raise SystemExit('riffnb ran code from a model folder')\n")
    with pytest.raises(NotAPipelineError, match="needs code from 'my_unet'; riffnb never runs code"):
        riffnb.load_pipeline(folder, device="cpu")


def test_pickled_weights_need_allow_pickle(tiny_pipe, tmp_path):
    folder = tmp_path / "pickled"
    tiny_pipe.pipeline.save_pretrained(folder, safe_serialization=False)
    assert (folder / "unet" / "diffusion_pytorch_model.bin").exists()
    with pytest.raises(UnsafeCheckpointError, match="only pickled weights.*allow_pickle=True"):
        riffnb.load_pipeline(folder, device="cpu")
    pipe = riffnb.load_pipeline(folder, device="cpu", allow_pickle=True)
    for name in ("unet", "vae"):
        mine = getattr(pipe.pipeline, name).state_dict()
        theirs = getattr(tiny_pipe.pipeline, name).state_dict()
        assert all(torch.equal(mine[key], theirs[key]) for key in theirs)


def test_running_out_of_memory_is_one_line():
    # A real allocation failure: ~1 PB on the CPU allocator.
    with pytest.raises(DeviceMemoryError) as caught:
        with loading.memory_errors("generating 4 clips", torch.device("cpu")):
            torch.empty(2**50, dtype=torch.uint8)
    message = str(caught.value)
    assert message.startswith("the machine ran out of memory while generating 4 clips; lower the batch size")
    assert "\n" not in message and isinstance(caught.value, MemoryError) and isinstance(caught.value, RiffnbError)
    with pytest.raises(KeyError):
        with loading.memory_errors("anything"):
            raise KeyError("not about memory")


def test_converted_weight_bytes_counts_the_weights_the_loader_copies(tiny_pipe, tiny_pipeline_dir, tmp_path):
    modules = [tiny_pipe.pipeline.unet, tiny_pipe.pipeline.vae, tiny_pipe.pipeline.text_encoder]
    floats = sum(tensor.numel() for module in modules for tensor in module.state_dict().values()
                 if tensor.is_floating_point())
    # Stored in float32: loaded as float32 they stay mapped from the files; as float16 they are copied.
    assert loading.converted_weight_bytes(tiny_pipeline_dir, torch.float32) == (0, {"F32"})
    assert loading.converted_weight_bytes(tiny_pipeline_dir, torch.float16) == (2 * floats, {"F32"})
    # A precision variant beside the weights is not what the loader reads.
    folder = tmp_path / "with-variant"
    shutil.copytree(tiny_pipeline_dir, folder)
    shutil.copy(folder / "unet" / "diffusion_pytorch_model.safetensors",
                folder / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    assert loading.converted_weight_bytes(folder, torch.float16) == (2 * floats, {"F32"})


def test_a_load_whose_converted_weights_exceed_the_free_memory_is_refused(tiny_pipeline_dir, monkeypatch):
    # As Riffusion's model in bfloat16 in a 2 GB Binder container: measured, its load thrashed for 5 minutes.
    needed, _ = loading.converted_weight_bytes(tiny_pipeline_dir, torch.float16)
    monkeypatch.setattr(loading, "available_memory", lambda: needed - 1)
    with pytest.raises(DeviceMemoryError) as caught:
        riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", dtype="float16")
    message = str(caught.value)
    assert f"{tiny_pipeline_dir} needs" in message and "for its weights in float16 (its files store float32)" in message
    assert "load it in float32" in message and "load_pipeline('tiny')" in message
    assert "check_memory=False loads it anyway" in message and "\n" not in message
    pipe = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", dtype="float16", check_memory=False)
    assert pipe.dtype == torch.float16
    # In the dtype its files store, the weights need no new memory: loaded even with none free.
    monkeypatch.setattr(loading, "available_memory", lambda: 0)
    assert riffnb.load_pipeline(tiny_pipeline_dir, device="cpu").dtype == torch.float32


def test_available_memory_is_the_tightest_cgroup_limit_less_its_working_set(tmp_path):
    # Binder's free shows the host's memory: the cgroup's limit is what the kernel enforces.
    def write(folder: Path, **files: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name.replace("_", ".", 1)).write_text(text)

    # A container that sees only its own cgroup (v2, namespaced): /proc/self/cgroup says "0::/".
    v2 = tmp_path / "v2"
    write(v2, memory_max="2147483648\n", memory_current="1073741824\n",
          memory_stat="anon 900000000\ninactive_file 73741824\nactive_file 1000\n")
    (tmp_path / "namespaced").write_text("0::/\n")
    assert loading._cgroup_available(v2, tmp_path / "namespaced") == 2147483648 - (1073741824 - 73741824)
    (v2 / "memory.max").write_text("max\n")
    assert loading._cgroup_available(v2, tmp_path / "namespaced") is None

    # A v1 machine that shows the whole tree: the process's cgroup, and a tighter limit on its parent.
    (tmp_path / "member").write_text("4:memory:/pod/notebook\n1:cpu:/\n0::/\n")
    v1 = tmp_path / "v1"
    unlimited = "9223372036854771712\n"
    write(v1 / "memory", memory_limit_in_bytes=unlimited, memory_usage_in_bytes="9000000000\n",
          memory_stat="total_inactive_file 0\n")
    write(v1 / "memory" / "pod", memory_limit_in_bytes="3000000000\n", memory_usage_in_bytes="2000000000\n",
          memory_stat="total_inactive_file 100000000\n")
    write(v1 / "memory" / "pod" / "notebook", memory_limit_in_bytes="2147483648\n",
          memory_usage_in_bytes="1000000000\n", memory_stat="cache 500\ntotal_inactive_file 100000000\n")
    assert loading._cgroup_available(v1, tmp_path / "member") == 3000000000 - 1900000000
    (v1 / "memory" / "pod" / "memory.limit_in_bytes").write_text(unlimited)
    assert loading._cgroup_available(v1, tmp_path / "member") == 2147483648 - 900000000
    # Docker on v1 mounts the container's own cgroup: the path /proc/self/cgroup names is not under the mount.
    docker = tmp_path / "docker"
    write(docker / "memory", memory_limit_in_bytes="2147483648\n", memory_usage_in_bytes="1000000000\n",
          memory_stat="total_inactive_file 100000000\n")
    (tmp_path / "in-docker").write_text("4:memory:/docker/0123abcd\nnot a cgroup line\n0::/\n")
    assert loading._cgroup_available(docker, tmp_path / "in-docker") == 2147483648 - 900000000
    assert loading._cgroup_available(tmp_path / "nothing", tmp_path / "nothing") is None

    (tmp_path / "meminfo").write_text("MemTotal:       24683784 kB\nMemAvailable:    1500000 kB\n")
    assert loading._meminfo_available(tmp_path / "meminfo") == 1500000 * 1024
    free = loading.available_memory()
    assert free is not None and 0 < free <= loading._meminfo_available(Path("/proc/meminfo"))


def test_compile_wraps_the_unet(tiny_pipeline_dir):
    # Only the wrapping: compiling runs on first use and takes minutes on this CPU.
    pipe = riffnb.load_pipeline(tiny_pipeline_dir, device="cpu", compile=True)
    assert type(pipe.pipeline.unet).__name__ == "OptimizedModule"
    assert pipe.dtype == torch.float32 and pipe.pipeline.unet.config.in_channels == 4


def test_importing_the_diffusion_package_stays_light():
    code = (
        "import sys, riffnb, riffnb.diffusion\n"
        "riffnb.diffusion.ModelLoadError, riffnb.diffusion.SHIPPED_MODELS\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# Public names of these modules that the package does not export, and why.
NOT_EXPORTED = {
    # The package attribute is the module of the same name once that is imported: use pipe.riff / pipe.interpolate.
    "riff", "interpolate",
    # img2img building blocks, like steps.py's: reached through their module.
    "img2img_timesteps", "encode_image", "latent_mask", "img2img_latents", "check_alpha", "DOT_THRESHOLD", "Source",
    # Batch's default seed (42) would read as riffnb's at package level; Riffusion's seed repository is a default.
    "DEFAULT_SEED", "RIFFUSION_SEED_REPO", "IMAGE_SUFFIXES",
}


def test_the_package_exports_the_public_names_of_every_module():
    import importlib
    import inspect

    import riffnb.diffusion as package

    for name in ("riff", "interpolate", "endless", "batch", "seeds"):
        module = importlib.import_module(f"riffnb.diffusion.{name}")
        public = {
            key for key, value in vars(module).items()
            if not key.startswith("_") and not inspect.ismodule(value) and key not in ("annotations", "T", "np")
            and getattr(value, "__module__", module.__name__) == module.__name__
        }
        missing = public - set(package.__all__) - NOT_EXPORTED
        assert not missing, f"{name}.py: {sorted(missing)}"
    for name in package.__all__:
        assert getattr(package, name) is getattr(importlib.import_module(f"riffnb.diffusion.{package._EXPORTS[name]}"), name)
    for name in ("PromptInput", "EndlessTrack", "EndlessSchedule", "load_batch", "run_batch", "seed_image", "riffuse",
                 "stitch_clips"):
        assert name in package.__all__ and name in dir(package)


# ---------------------------------------------------------------------------------------------------------------
# Which model when none is named, and each model's sampling defaults


def test_no_model_named_on_a_cpu_loads_tiny_and_says_so_in_one_line(capfd):
    pipe = riffnb.load_pipeline(device="cpu")
    note = capfd.readouterr().err.strip().splitlines()
    assert pipe.model == "tiny" and len(note) == 1
    assert "embedded 'tiny' model, as there is no GPU" in note[0]
    # Said in the library and on the command line: how to load it anyway in both.
    assert note[0].endswith("load_pipeline('riffusion/riffusion-model-v1'), or --model riffusion/riffusion-model-v1")
    assert pipe.defaults == loading.defaults_for("tiny")


def test_on_a_gpu_without_the_hub_the_default_falls_back_to_tiny_with_the_reason():
    import torch

    model, note = loading.choose_model(torch.device("cuda"), local_files_only=True)
    assert model == "tiny"
    assert "local_files_only=True and riffusion/riffusion-model-v1 is not in the Hugging Face cache" in note


def test_sampling_defaults_come_from_the_models_riffnb_json(tiny_pipeline_dir, tmp_path):
    shipped = json.loads((loading.shipped_model_folder("tiny") / loading.SETTINGS_FILE).read_text())
    tiny = loading.defaults_for("tiny")
    assert (tiny.steps, tiny.guidance, tiny.width, tiny.scheduler) == (
        shipped["default_steps"], shipped["guidance"], shipped["width"], shipped["default_scheduler"])
    assert riffnb.load_pipeline(tiny_pipeline_dir, device="cpu").defaults == loading.RIFFUSION_DEFAULTS
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "defaults")
    (folder / loading.SETTINGS_FILE).write_text(json.dumps({"default_steps": 3, "guidance": 2.5, "width": 64}))
    assert loading.defaults_for(folder) == loading.SamplingDefaults(steps=3, guidance=2.5, width=64)
    assert loading.defaults_for("some/hub-model") == loading.RIFFUSION_DEFAULTS


@pytest.mark.parametrize(
    ("settings", "message"),
    [("{not json", "is not valid riffnb settings"), (json.dumps({"width": 100}), "width a positive multiple of 8"),
     (json.dumps({"default_steps": "many"}), "invalid literal")],
)
def test_bad_settings_file_is_one_line(tiny_pipeline_dir, tmp_path, settings, message):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "settings")
    (folder / loading.SETTINGS_FILE).write_text(settings)
    with pytest.raises(NotAPipelineError, match=message):
        riffnb.load_pipeline(folder, device="cpu")


def test_shipped_tokenizer_loads_with_transformers_4_too():
    """transformers 4.x reads CLIPTokenizer from vocab.json and merges.txt; 5.x from tokenizer.json. Both ship, equal."""
    folder = Path(riffnb.__file__).parent / "models" / "tiny" / "tokenizer"
    fast = json.loads((folder / "tokenizer.json").read_text())["model"]
    assert json.loads((folder / "vocab.json").read_text()) == fast["vocab"]
    merges = (folder / "merges.txt").read_text().splitlines()
    assert merges[0].startswith("#version") and [line.split() for line in merges[1:]] == fast["merges"]


def test_on_a_cpu_torch_runs_with_the_models_own_thread_count(tiny_pipeline_dir, tmp_path, torch_threads):
    assert loading.read_cpu_threads(loading.shipped_model_folder("tiny")) == 1
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "one-thread")
    (folder / loading.SETTINGS_FILE).write_text(json.dumps({loading.CPU_THREADS_KEY: 1}))
    torch.set_num_threads(2)
    riffnb.load_pipeline(folder, device="cpu")
    assert torch.get_num_threads() == 1
    riffnb.load_pipeline(folder, device="cpu", threads=2)  # the caller's number wins
    assert torch.get_num_threads() == 2
    riffnb.load_pipeline(tiny_pipeline_dir, device="cpu")  # a model that does not say leaves torch's setting
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_a_thread_count_that_is_not_a_positive_whole_number_is_refused_before_loading(threads, torch_threads):
    with pytest.raises(RiffnbError, match=f"threads must be a positive integer, got {threads!r}"):
        riffnb.load_pipeline("no/such-model-is-looked-up", device="cpu", threads=threads)


@pytest.mark.parametrize("threads", [0, "one", 2.0, False])
def test_a_bad_cpu_threads_in_riffnb_json_is_one_line(tiny_pipeline_dir, tmp_path, threads, torch_threads):
    folder = copy_pipeline(tiny_pipeline_dir, tmp_path / "bad-threads")
    (folder / loading.SETTINGS_FILE).write_text(json.dumps({loading.CPU_THREADS_KEY: threads}))
    with pytest.raises(NotAPipelineError, match="cpu_threads must be a whole number, 1 or more"):
        riffnb.load_pipeline(folder, device="cpu")
