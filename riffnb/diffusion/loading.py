"""Loading a Riffusion-style model: a hub id, a local diffusers folder, or a model riffnb ships.

Everything that can go wrong before the first step runs (no network, a gated model, a folder that is not a
pipeline, pickled weights, a missing GPU, GPU memory) becomes one :class:`ModelLoadError` line that says what to
do, within seconds. Weights are read from safetensors only unless ``allow_pickle=True``; no code from a model folder
is ever run (no ``trust_remote_code``, no custom component classes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import typing as T
import warnings
from pathlib import Path

from ..errors import RiffnbError
from ..params import SpectrogramParams

if T.TYPE_CHECKING:
    import torch

    from .pipeline import RiffusionPipeline

#: Riffusion's model: what riffnb loads when none is named, where it can run (a GPU, and the hub or its cache).
DEFAULT_MODEL = "riffusion/riffusion-model-v1"

#: What riffnb loads when none is named and DEFAULT_MODEL cannot run here.
FALLBACK_MODEL = "tiny"

#: Models riffnb ships as package data under ``riffnb/models/<name>/`` (a diffusers folder plus
#: ``spectrogram_params.json``), by name -> one-line description.
SHIPPED_MODELS = {
    "tiny": "a small text-to-music model trained for riffnb, fast enough for a CPU",
}

#: Seconds to wait for the hub to answer before saying it cannot be reached.
HUB_TIMEOUT = 10.0

#: The file in a model folder holding the SpectrogramParams its images were trained with (Riffusion's if absent).
PARAMS_FILE = "spectrogram_params.json"

#: The file in a model folder with riffnb's settings for it: how it samples by default (Riffusion's if absent).
SETTINGS_FILE = "riffnb.json"

_REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder")
_TRUSTED_LIBRARIES = ("diffusers", "transformers")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelLoadError(RiffnbError):
    """A model could not be loaded; the message says why and what to do."""


class ModelNotFoundError(ModelLoadError):
    """No model under that name: not a shipped model, not a folder, not on the hub."""


class GatedModelError(ModelLoadError):
    """The hub model is gated: the user must accept its terms and log in."""


class HubUnreachableError(ModelLoadError):
    """The Hugging Face hub cannot be reached (no network, offline mode, hub down) and no cached copy exists."""


class NotAPipelineError(ModelLoadError):
    """A folder or hub repository that is not a Stable Diffusion pipeline in the diffusers layout."""


class UnsafeCheckpointError(ModelLoadError):
    """Weights stored only as pickles, which can run code when loaded; refused unless ``allow_pickle=True``."""


class DeviceError(ModelLoadError):
    """The requested device or dtype is not usable here."""


class DeviceMemoryError(RiffnbError, MemoryError):
    """The GPU (or the machine) ran out of memory, or a model's weights would not fit in what is free."""


@dataclasses.dataclass(frozen=True)
class SamplingDefaults:
    """How a model samples when a call leaves a setting out (``None``): denoising steps, guidance, image width in
    pixels and scheduler. Riffusion's unless the model folder's ``riffnb.json`` says otherwise.

    Examples
    --------
    >>> SamplingDefaults()
    SamplingDefaults(steps=30, guidance=7.0, width=512, scheduler='dpm++')
    """

    steps: int = 30
    guidance: float = 7.0
    width: int = 512
    scheduler: str = "dpm++"

    def as_settings(self) -> dict[str, T.Any]:
        """The entries of a model folder's ``riffnb.json`` that :func:`read_defaults` reads back.

        >>> SamplingDefaults().as_settings()
        {'default_steps': 30, 'guidance': 7.0, 'width': 512, 'default_scheduler': 'dpm++'}
        """
        return {"default_steps": self.steps, "guidance": self.guidance, "width": self.width,
                "default_scheduler": self.scheduler}

    def resolve(self, **settings: T.Any) -> dict[str, T.Any]:
        """``settings`` with every ``None`` replaced by this default of the same name.

        >>> SamplingDefaults().resolve(steps=None, guidance=3.0)
        {'steps': 30, 'guidance': 3.0}
        """
        return {name: getattr(self, name) if value is None else value for name, value in settings.items()}


#: Riffusion's playground: 30 DPM-Solver++ steps at guidance 7, 512 columns (5.11 s of audio).
RIFFUSION_DEFAULTS = SamplingDefaults()


@dataclasses.dataclass(frozen=True)
class ModelLimits:
    """What a model's settings must fit: image widths are multiples of its VAE's downsampling factor, and
    denoising steps are at most ``max_steps`` (:func:`max_steps`).

    Examples
    --------
    >>> ModelLimits()
    ModelLimits(vae_scale_factor=8, max_steps=999)
    """

    vae_scale_factor: int = 8
    max_steps: int = 999


def max_steps(scheduler_config: T.Mapping[str, T.Any]) -> int:
    """The most denoising steps a model with this scheduler config can take: its noise schedule's timesteps less
    the scheduler's ``steps_offset``, which shifts every timestep up.

    At more, the timesteps run past the schedule's end: diffusers' DDIM and PNDM index out of it (Riffusion's 1000
    timesteps with offset 1 allow 999 steps), DDIM refuses more than 1000, other schedulers repeat timesteps and
    LMS turns the latents into NaN.

    >>> max_steps({"num_train_timesteps": 1000, "steps_offset": 1})
    999
    """
    return int(scheduler_config.get("num_train_timesteps", 1000)) - int(scheduler_config.get("steps_offset") or 0)


#: Stable Diffusion's limits, which Riffusion's model and riffnb's shipped ones share.
SD_LIMITS = ModelLimits()

# ---------------------------------------------------------------------------------------------------------------
# Device and dtype


def choose_device(device: "str | torch.device | None" = None) -> "torch.device":
    """The device to run on: ``device`` if given (checked), else CUDA, then Apple MPS, then CPU.

    Examples
    --------
    >>> choose_device("cpu")
    device(type='cpu')
    """
    import torch

    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(f"unknown device {device!r} ({error}); use 'cuda', 'mps' or 'cpu'") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {device!r} was requested but torch sees no CUDA GPU; on Colab pick Runtime > Change runtime "
            "type > T4 GPU, or pass device='cpu'"
        )
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"device {device!r} was requested but Apple MPS is not available here; pass device='cpu'")
    return chosen


_DTYPE_NAMES = {
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float32": "float32", "fp32": "float32", "float": "float32",
}


def choose_dtype(device: "torch.device", dtype: "str | torch.dtype | None" = None) -> "torch.dtype":
    """The weights' dtype: ``dtype`` if given, else float16 on CUDA and MPS, float32 on CPU.

    CPU defaults to float32 because it gives the same result on every CPU; ``dtype="bfloat16"`` is about 1.7x
    faster on CPUs with bfloat16 support (SD1.5: ~11 s instead of ~19 s per step on a 2-core EPYC).

    Examples
    --------
    >>> import torch
    >>> choose_dtype(torch.device("cpu")), choose_dtype(torch.device("cpu"), "bf16")
    (torch.float32, torch.bfloat16)
    """
    import torch

    if dtype is None:
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    else:
        name = _DTYPE_NAMES.get(str(dtype).lower().removeprefix("torch."))
        if name is None:
            raise DeviceError(f"unknown dtype {dtype!r}; use 'float16', 'bfloat16' or 'float32'")
        chosen = getattr(torch, name)
    if chosen not in (torch.float16, torch.bfloat16, torch.float32):
        raise DeviceError(f"dtype {chosen} is not supported; use float16, bfloat16 or float32")
    return chosen


def _memory_error(error: BaseException) -> bool:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t)
    if isinstance(error, (MemoryError, *oom_types)):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message or "not enough memory" in message
    )


@contextlib.contextmanager
def memory_errors(action: str, device: "torch.device | None" = None) -> T.Iterator[None]:
    """Turn running out of GPU or CPU memory inside the block into one :class:`DeviceMemoryError` line.

    ``action`` says what was being done ("generating 4 clips of width 1024").
    """
    try:
        yield
    except Exception as error:
        if not _memory_error(error):
            raise
        import torch

        on_gpu = device is not None and device.type in ("cuda", "mps")
        if on_gpu and torch.cuda.is_available():
            torch.cuda.empty_cache()
        where = f"{device.type.upper()} GPU" if on_gpu else "machine"
        raise DeviceMemoryError(
            f"the {where} ran out of memory while {action}; lower the batch size or the width, use "
            "dtype='float16' on a GPU, or restart the runtime to free memory held by earlier models"
        ) from None


def available_memory() -> int | None:
    """Bytes of memory this process can still take before the kernel reclaims or kills: the smaller of the machine's
    ``MemAvailable`` and its container's limit less the memory the container holds (cgroup v2 or v1, as on
    Binder, whose ``free`` shows the host's memory). None where neither can be read (not Linux).
    """
    figures = [figure for figure in (_meminfo_available(Path("/proc/meminfo")),
                                     _cgroup_available(Path("/sys/fs/cgroup"))) if figure is not None]
    return min(figures) if figures else None


def _meminfo_available(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available(root: Path, membership: Path = Path("/proc/self/cgroup")) -> int | None:
    """The tightest of the limits less the working sets (what a cgroup holds but cannot drop: usage less inactive
    file cache, as Kubernetes counts it) over this process's memory cgroup and its ancestors, cgroup v2 at
    ``root`` and v1 at ``root/memory``; None without a limit. ``membership`` (``/proc/self/cgroup``) names the
    process's cgroup; in a container whose mount shows only its own cgroup, that is the mount's root."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        lines = []
    paths = {"v2": "/", "v1": "/"}
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            paths["v2"] = path
        elif "memory" in controllers.split(","):
            paths["v1"] = path
    figures = []
    for base, path, files in (
        (root, paths["v2"], ("memory.max", "memory.current", "inactive_file")),
        (root / "memory", paths["v1"], ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")),
    ):
        folder = base / path.strip("/")
        if not folder.is_dir():
            folder = base
        while True:
            figure = _cgroup_level_available(folder, *files)
            if figure is not None:
                figures.append(figure)
            if folder == base:
                break
            folder = folder.parent
    return min(figures) if figures else None


def _cgroup_level_available(folder: Path, limit_file: str, usage_file: str, inactive_key: str) -> int | None:
    try:
        limit_text = (folder / limit_file).read_text().strip()
        usage = int((folder / usage_file).read_text())
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines() if line.strip())
        # v2 writes "max" for no limit; v1 a number near 2**63.
        if limit_text == "max" or int(limit_text) >= 2**60:
            return None
        return max(0, int(limit_text) - (usage - int(stat.get(inactive_key, 0))))
    except (OSError, ValueError):
        return None


#: safetensors' names of the floating-point dtypes riffnb loads in.
_SAFETENSORS_FLOATS = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def converted_weight_bytes(folder: Path, dtype: "torch.dtype") -> tuple[int, set[str]]:
    """The memory loading the pipeline in ``folder`` as ``dtype`` allocates for its weights, and the dtypes they
    are stored in: floating-point tensors stored in another dtype are converted into new memory, while tensors
    stored as ``dtype`` stay mapped from their safetensors file, which the kernel reads back as it needs them (so
    Riffusion's 4.3 GB of float32 weights run, slowly, in 2 GB). Read from the headers of the files the loader
    reads, without loading a tensor; pickled weights (``allow_pickle``) are read into memory: their file size.

    Examples
    --------
    >>> import torch
    >>> converted_weight_bytes(shipped_model_folder("tiny"), torch.float32)
    (0, {'F32'})
    """
    target = _SAFETENSORS_FLOATS.get(str(dtype).replace("torch.", ""), "")
    total, stored = 0, set()
    for component in _WEIGHTED_COMPONENTS:
        # Precision variants (name.fp16.safetensors) lie beside the weights the loader reads.
        files = [path for path in sorted((folder / component).glob("*.safetensors")) if "." not in path.stem]
        if not files:
            pickles = [path for path in (folder / component).glob("*") if path.suffix in _PICKLE_SUFFIXES]
            total += sum(path.stat().st_size for path in pickles)
        for path in files:
            for tensor_dtype, count in _safetensors_tensors(path):
                if tensor_dtype in _SAFETENSORS_FLOATS.values():
                    stored.add(tensor_dtype)
                    if tensor_dtype != target:
                        total += count * dtype.itemsize
    return total, stored


def _safetensors_tensors(path: Path) -> list[tuple[str, int]]:
    """``(dtype, element count)`` of each tensor in a safetensors file, from its header; none for a damaged header
    (the loader then says what is wrong with the file)."""
    try:
        with open(path, "rb") as file:
            header = json.loads(file.read(int.from_bytes(file.read(8), "little")))
        return [(tensor["dtype"], math.prod(tensor["shape"]))
                for name, tensor in header.items() if name != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def check_memory_for(folder: Path, model: str, dtype: "torch.dtype") -> None:
    """Refuse a load whose converted weights (:func:`converted_weight_bytes`) need more memory than is free
    (:func:`available_memory`): Riffusion's model in bfloat16 on a 2 GB Binder machine thrashes for minutes, then
    may end the kernel, losing the notebook's state. Activations come on top, so passing is necessary, not
    sufficient.
    """
    needed, stored = converted_weight_bytes(folder, dtype)
    free = available_memory()
    if not needed or free is None or needed <= free:
        return
    amount = lambda count: f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"  # noqa: E731
    names = {code: name for name, code in _SAFETENSORS_FLOATS.items()}
    kept = " or ".join(sorted(names[code] for code in stored)) if stored else ""
    stays = f"load it in {kept} (its weights are then read from the files as needed), " if kept else ""
    raise DeviceMemoryError(
        f"{model} needs {amount(needed)} of memory for its weights in {str(dtype).replace('torch.', '')}"
        f"{f' (its files store {kept})' if kept else ''} and {amount(free)} is free here, so loading it would stall "
        f"the machine or end the kernel; {stays}use the shipped model (load_pipeline('tiny')), or a machine with "
        "a GPU and more memory (Colab: Runtime > Change runtime type > T4 GPU); check_memory=False loads it anyway"
    )


# ---------------------------------------------------------------------------------------------------------------
# Finding the model folder


def shipped_model_folder(name: str) -> Path:
    """The package-data folder of riffnb's shipped model ``name``; raises if this installation lacks it."""
    if name not in SHIPPED_MODELS:
        raise ModelNotFoundError(f"riffnb ships no model named {name!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
    folder = Path(__file__).resolve().parent.parent / "models" / name
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(
            f"riffnb's shipped model {name!r} is not part of this installation (no {folder}); upgrade riffnb, or "
            f"pass a hub id such as {DEFAULT_MODEL!r} or a local diffusers folder"
        )
    return folder


def check_pipeline_folder(folder: Path, allow_pickle: bool = False) -> dict:
    """Check that ``folder`` holds a Stable Diffusion pipeline riffnb may load; return its ``model_index.json``.

    Refuses custom component code (riffnb never runs code from a model) and, unless ``allow_pickle``, weights
    stored only as pickles.
    """
    if folder.is_file():
        raise NotAPipelineError(
            f"{folder} is a single file; riffnb loads pipeline folders in the diffusers layout (convert a .ckpt or "
            ".safetensors checkpoint with StableDiffusionPipeline.from_single_file(...).save_pretrained(folder))"
        )
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise NotAPipelineError(
            f"{folder} is not a diffusers pipeline folder (no model_index.json); pass the folder that "
            "save_pretrained wrote, a hub id, or the shipped model 'tiny'"
        )
    try:
        index = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotAPipelineError(f"{index_path} is not valid JSON ({error}); re-save or re-download the model") from None
    missing = [name for name in _REQUIRED_COMPONENTS if not (isinstance(index.get(name), list) and index[name][0])]
    if missing:
        raise NotAPipelineError(
            f"{folder} is not a Stable Diffusion pipeline: model_index.json lacks {', '.join(missing)}; riffnb loads "
            "StableDiffusionPipeline models such as riffusion/riffusion-model-v1"
        )
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or not spec or spec[0] is None:
            continue
        if spec[0] not in _TRUSTED_LIBRARIES:
            raise NotAPipelineError(
                f"{folder}: component {name!r} needs code from {spec[0]!r}; riffnb never runs code shipped with a "
                "model, only diffusers and transformers classes"
            )
    for name in _WEIGHTED_COMPONENTS:
        files = [p.name for p in (folder / name).glob("*")] if (folder / name).is_dir() else []
        if any(f.endswith(".safetensors") or f.endswith(".safetensors.index.json") for f in files):
            continue
        if any(f.endswith(_PICKLE_SUFFIXES) or f.endswith(".bin.index.json") for f in files):
            if allow_pickle:
                continue
            raise UnsafeCheckpointError(
                f"{folder / name} holds only pickled weights, which can run code when loaded; convert them to "
                "safetensors, or pass allow_pickle=True if you trust where they came from"
            )
        raise NotAPipelineError(f"{folder / name} holds no weights; re-save or re-download the model")
    return index


def network_error_types() -> tuple[type[BaseException], ...]:
    """The exception types a failed connection to the Hugging Face hub raises, to catch in ``except`` clauses.

    huggingface_hub has used requests, httpx and httpx2 across versions: this holds whichever of their transport
    errors are installed, plus Python's ``ConnectionError`` and ``TimeoutError``.

    Examples
    --------
    >>> ConnectionError in network_error_types()
    True
    """
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "RequestException")):
        try:
            types.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def _hub_patterns(allow_pickle: bool) -> tuple[list[str], list[str]]:
    weights = ["*.safetensors", "*.safetensors.index.json"] + (["*.bin", "*.bin.index.json"] if allow_pickle else [])
    allow = ["model_index.json", PARAMS_FILE, "scheduler/*", "tokenizer/*"] + [
        f"{component}/{pattern}" for component in _WEIGHTED_COMPONENTS for pattern in ["*.json"] + weights
    ]
    # Precision variants and training leftovers would double the download for nothing.
    ignore = ["*.fp16.*", "*non_ema*", "*.ema.*"]
    return allow, ignore


def hub_offline() -> bool:
    """True when the user told huggingface_hub not to use the network (``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.upper() in ("1", "ON", "YES", "TRUE") or bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _fetch_from_hub(
    repo_id: str, *, revision: str | None, token: str | None, allow_pickle: bool, local_files_only: bool
) -> Path:
    """Download (or find in the cache) the files of ``repo_id`` a pipeline needs; return the snapshot folder."""
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    allow, ignore = _hub_patterns(allow_pickle)
    network_errors = network_error_types()
    alternatives = f"pass a local diffusers folder, or use riffnb's shipped model: load_pipeline('tiny')"

    def cached() -> Path | None:
        try:
            return Path(
                huggingface_hub.snapshot_download(
                    repo_id, revision=revision, allow_patterns=allow, ignore_patterns=ignore, local_files_only=True
                )
            )
        except (hub_errors.LocalEntryNotFoundError, FileNotFoundError, *network_errors):
            return None

    if local_files_only or hub_offline():
        folder = cached()
        if folder is None:
            reason = "HF_HUB_OFFLINE is set" if hub_offline() else "local_files_only=True"
            raise HubUnreachableError(f"{reason} and {repo_id} is not in the Hugging Face cache; {alternatives}")
        return folder

    def unreachable(error: BaseException) -> HubUnreachableError:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return HubUnreachableError(
            f"cannot reach the Hugging Face hub to load {repo_id} ({detail}); check the network, or {alternatives}"
        )

    def gated() -> GatedModelError:
        return GatedModelError(
            f"{repo_id} is gated: accept its terms at https://huggingface.co/{repo_id} while logged in, then log in "
            "here (huggingface_hub.login() or `hf auth login`) or pass token=...; or use load_pipeline('tiny')"
        )

    try:
        info = huggingface_hub.HfApi().model_info(repo_id, revision=revision, token=token, timeout=HUB_TIMEOUT)
    except hub_errors.GatedRepoError:
        raise gated() from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{repo_id} is not on the Hugging Face hub (or it is private: log in or pass token=...); check the "
            f"spelling, e.g. {DEFAULT_MODEL!r}"
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelNotFoundError(f"{repo_id} has no revision {revision!r}; check the branch, tag or commit") from None
    except (hub_errors.HfHubHTTPError, *network_errors) as error:
        folder = cached()
        if folder is None:
            raise unreachable(error) from None
        return folder

    files = [sibling.rfilename for sibling in info.siblings or []]
    if "model_index.json" not in files:
        raise NotAPipelineError(
            f"{repo_id} is not a diffusers pipeline (no model_index.json on the hub); riffnb loads "
            f"StableDiffusionPipeline models such as {DEFAULT_MODEL!r}"
        )
    for component in _WEIGHTED_COMPONENTS:
        mine = [f for f in files if f.startswith(component + "/")]
        if not any(".safetensors" in f for f in mine) and any(f.endswith(_PICKLE_SUFFIXES) for f in mine):
            if not allow_pickle:
                raise UnsafeCheckpointError(
                    f"{repo_id}'s {component} weights are only pickled, which can run code when loaded; pass a "
                    "revision with safetensors (e.g. a refs/pr/N conversion), or allow_pickle=True if you trust it"
                )
    if info.gated and token is None and huggingface_hub.get_token() is None:
        raise gated()
    try:
        return Path(
            huggingface_hub.snapshot_download(
                repo_id,
                revision=info.sha or revision,
                allow_patterns=allow,
                ignore_patterns=ignore,
                token=token,
                etag_timeout=HUB_TIMEOUT,
            )
        )
    except hub_errors.GatedRepoError:
        raise gated() from None
    except (hub_errors.HfHubHTTPError, *network_errors) as error:
        raise unreachable(error) from None


def locate_model(model: T.Any) -> "Path | str":
    """Where ``model`` is, without downloading anything: the folder of a shipped model or of a local path, or the
    hub id it names. A name that is none of these is a :class:`ModelNotFoundError`.

    Shipped names are names: ``"tiny"`` is the shipped model, ``Path("tiny")`` the folder ``./tiny``.

    Examples
    --------
    >>> locate_model("riffusion/riffusion-model-v1")
    'riffusion/riffusion-model-v1'
    >>> locate_model("no-such-model")
    Traceback (most recent call last):
    ...
    riffnb.diffusion.loading.ModelNotFoundError: unknown model 'no-such-model': pass a hub id such as 'riffusion/riffusion-model-v1', a local diffusers folder, or a shipped model (tiny)
    """
    if not isinstance(model, (str, os.PathLike)):
        raise ModelNotFoundError(
            f"model must be a hub id, a folder or a shipped model name (a str or a path), got {type(model).__name__} "
            f"{model!r}; e.g. {FALLBACK_MODEL!r} or {DEFAULT_MODEL!r}"
        )
    text = os.fspath(model)
    if not text.strip():
        raise ModelNotFoundError(
            f"the model name is empty; pass a hub id such as {DEFAULT_MODEL!r}, a local diffusers folder, or a shipped "
            f"model ({', '.join(SHIPPED_MODELS)}); None picks one"
        )
    folder = _local_folder(model)
    if folder is not None:
        return folder
    path = Path(text).expanduser()
    if path.exists():
        return path  # a file: check_pipeline_folder says what to do with it
    looks_like_path = text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1
    if isinstance(model, os.PathLike) or looks_like_path:
        raise ModelNotFoundError(f"no such folder: {text}; check the path, or pass a hub id or 'tiny'")
    if not _HUB_ID.match(text):
        raise ModelNotFoundError(
            f"unknown model {text!r}: pass a hub id such as {DEFAULT_MODEL!r}, a local diffusers folder, or a "
            f"shipped model ({', '.join(SHIPPED_MODELS)})"
        )
    return text


def resolve_model(
    model: str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | None = None,
    allow_pickle: bool = False,
    local_files_only: bool = False,
) -> Path:
    """The local folder for ``model``: a shipped model name, an existing folder, or a hub id (downloaded)."""
    located = locate_model(model)
    if isinstance(located, Path):
        return located
    return _fetch_from_hub(
        located, revision=revision, token=token, allow_pickle=allow_pickle, local_files_only=local_files_only
    )


def read_params(folder: Path) -> SpectrogramParams:
    """The SpectrogramParams stored with a model (``spectrogram_params.json``), else Riffusion's defaults."""
    path = folder / PARAMS_FILE
    if not path.is_file():
        return SpectrogramParams()
    try:
        values = json.loads(path.read_text())
        names = {field.name for field in dataclasses.fields(SpectrogramParams)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown fields {', '.join(unknown)}")
        return SpectrogramParams(**values)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise NotAPipelineError(f"{path} is not valid spectrogram parameters ({error}); fix or delete it") from None


def read_defaults(folder: Path) -> SamplingDefaults:
    """The sampling defaults stored with a model (``riffnb.json``: ``default_steps``, ``guidance``, ``width``,
    ``default_scheduler``), else Riffusion's."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return RIFFUSION_DEFAULTS
    try:
        values = json.loads(path.read_text())
        defaults = SamplingDefaults(
            steps=int(values.get("default_steps", RIFFUSION_DEFAULTS.steps)),
            guidance=float(values.get("guidance", RIFFUSION_DEFAULTS.guidance)),
            width=int(values.get("width", RIFFUSION_DEFAULTS.width)),
            scheduler=str(values.get("default_scheduler", RIFFUSION_DEFAULTS.scheduler)),
        )
        if defaults.steps < 1 or defaults.width < 8 or defaults.width % 8:
            raise ValueError("default_steps must be >= 1 and width a positive multiple of 8")
        return defaults
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise NotAPipelineError(f"{path} is not valid riffnb settings ({error}); fix or delete it") from None


#: The entry of a model folder's ``riffnb.json`` naming how many threads torch should run it with on a CPU.
CPU_THREADS_KEY = "cpu_threads"


def read_cpu_threads(folder: Path) -> int | None:
    """The number of torch threads the model in ``folder`` runs fastest with on a CPU (``riffnb.json``'s
    ``cpu_threads``), or None if it does not say (then torch's own setting stays)."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        threads = json.loads(path.read_text()).get(CPU_THREADS_KEY)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"{CPU_THREADS_KEY} must be a whole number, 1 or more, got {threads!r}")
        return threads
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, ValueError) as error:
        raise NotAPipelineError(f"{path} is not valid riffnb settings ({error}); fix or delete it") from None


def read_limits(folder: Path) -> ModelLimits:
    """The limits of the model in ``folder``, from its VAE's and its scheduler's configs (Stable Diffusion's for
    whatever they do not say), without loading weights: the VAE factor as diffusers computes it."""
    limits = {}
    try:
        vae = json.loads((folder / "vae" / "config.json").read_text())
        limits["vae_scale_factor"] = 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        pass  # loading the model says what is wrong with it
    try:
        scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        limits["max_steps"] = max_steps(scheduler)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError):
        pass
    return dataclasses.replace(SD_LIMITS, **limits)


def _local_folder(model: "str | os.PathLike") -> Path | None:
    """The folder of a shipped model (named by a str) or an existing local folder; None for anything else (a hub
    id, an empty name, which would otherwise be the current folder, or not a name at all)."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    text = os.fspath(model)
    if isinstance(model, str) and text in SHIPPED_MODELS:
        return shipped_model_folder(text)
    path = Path(text).expanduser()
    return path if text.strip() and path.is_dir() else None


def defaults_for(model: "str | os.PathLike | RiffusionPipeline") -> SamplingDefaults:
    """The sampling defaults of a loaded pipeline, a shipped model or a local folder, without loading weights;
    Riffusion's for anything else (a hub id).

    >>> defaults_for("tiny").width
    256
    """
    if hasattr(model, "defaults"):
        return model.defaults
    folder = _local_folder(model)
    return RIFFUSION_DEFAULTS if folder is None else read_defaults(folder)


def params_for(model: "str | os.PathLike | RiffusionPipeline") -> SpectrogramParams:
    """The spectrogram parameters of a loaded pipeline, a shipped model or a local folder, without loading
    weights; Riffusion's for anything else (a hub id).

    >>> params_for("tiny").step_size_ms
    20
    """
    if hasattr(model, "params"):
        return model.params
    folder = _local_folder(model)
    return SpectrogramParams() if folder is None else read_params(folder)


def limits_for(model: "str | os.PathLike | RiffusionPipeline | None") -> ModelLimits:
    """The limits of a loaded pipeline, a shipped model or a local folder, without loading weights; Stable
    Diffusion's for anything else (a hub id, or None: the default models share them).

    >>> limits_for("tiny")
    ModelLimits(vae_scale_factor=8, max_steps=999)
    """
    if hasattr(model, "limits"):
        return model.limits
    folder = None if model is None else _local_folder(model)
    return SD_LIMITS if folder is None else read_limits(folder)


def choose_model(device: "torch.device", **hub_options: T.Any) -> tuple[str, str]:
    """The model to load when none is named, and a one-line note saying which and why.

    Riffusion's model (:data:`DEFAULT_MODEL`) where it can run: on a GPU, with the hub or its cache. Elsewhere the
    shipped :data:`FALLBACK_MODEL`: on a CPU an SD1.5-sized UNet takes about 10-20 s per step.
    """
    fallback = f"riffnb: using its embedded {FALLBACK_MODEL!r} model"
    if device.type == "cpu":
        return FALLBACK_MODEL, (f"{fallback}, as there is no GPU ({DEFAULT_MODEL} needs one); name it to load it "
                                f"anyway: load_pipeline({DEFAULT_MODEL!r}), or --model {DEFAULT_MODEL}")
    try:
        resolve_model(DEFAULT_MODEL, **hub_options)  # fetched now, found in the cache when loaded
        return DEFAULT_MODEL, f"riffnb: using {DEFAULT_MODEL} on {device.type}"
    except (HubUnreachableError, GatedModelError) as error:
        reason = str(error).split(";")[0]
        return FALLBACK_MODEL, f"{fallback}: {reason}"


# ---------------------------------------------------------------------------------------------------------------
# Loading


@contextlib.contextmanager
def quiet_libraries() -> T.Iterator[None]:
    """Inside the block, diffusers and transformers log errors only and draw no progress bars; the caller's
    settings (and huggingface_hub's progress bars, which transformers switches along) come back afterwards.

    Loading a model otherwise leaves a notebook cell or a terminal full of progress bars ("Loading pipeline
    components", "Loading weights") and notes about things riffnb chose on purpose.
    """
    import importlib

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # The module, not the tqdm class huggingface_hub.utils exports under the same name.
    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")
    libraries = (diffusers_logging, transformers_logging)
    saved = [(library.get_verbosity(), library.is_progress_bar_enabled()) for library in libraries]
    hub_bars = dict(hub_tqdm.progress_bar_states)
    with warnings.catch_warnings():
        # huggingface_hub warns when HF_HUB_DISABLE_PROGRESS_BARS overrides the switch transformers flips.
        warnings.filterwarnings("ignore", message="Cannot (en|dis)able progress bars")
        try:
            for library in libraries:
                library.set_verbosity_error()
                library.disable_progress_bar()
            yield
        finally:
            for library, (verbosity, bars) in zip(libraries, saved):
                library.set_verbosity(verbosity)
                (library.enable_progress_bar if bars else library.disable_progress_bar)()
            hub_tqdm.progress_bar_states.clear()
            hub_tqdm.progress_bar_states.update(hub_bars)


def load_pipeline(
    model: str | os.PathLike | None = None,
    device: "str | torch.device | None" = None,
    dtype: "str | torch.dtype | None" = None,
    *,
    params: SpectrogramParams | None = None,
    allow_pickle: bool = False,
    token: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    compile: bool = False,
    check_memory: bool = True,
    threads: int | None = None,
) -> "RiffusionPipeline":
    """Load a text-to-spectrogram Stable Diffusion model as a :class:`~riffnb.diffusion.pipeline.RiffusionPipeline`.

    Parameters
    ----------
    model
        A hub id (``"riffusion/riffusion-model-v1"``, gated: accept its terms and log in first), a local folder in
        the diffusers layout (what ``save_pretrained`` writes), or the name of a model riffnb ships (``"tiny"``).
        None: Riffusion's model where it can run (a GPU, and the hub or its cache), else ``"tiny"``; a one-line
        note on stderr says which (:func:`choose_model`).
    device, dtype
        Chosen for you when None: CUDA float16, Apple MPS float16, else CPU float32. Force them with e.g.
        ``device="cpu", dtype="bfloat16"``.
    params
        The model's spectrogram parameters; default: the folder's ``spectrogram_params.json``, else Riffusion's.
    allow_pickle
        Also load weights stored as pickles (``.bin``/``.ckpt``), which can run code: only for models you trust.
    token, revision, local_files_only
        Passed to the hub: an access token (default: the one ``huggingface_hub.login()`` stored), a branch, tag or
        commit, and whether to use only the local cache.
    compile
        Wrap the UNet in ``torch.compile`` (faster steps on a GPU after a slow first call).
    check_memory
        Refuse a ``dtype`` whose converted weights need more than the free memory (:func:`check_memory_for`),
        which would stall the machine or end the kernel: Riffusion's model in bfloat16 on a 2 GB Binder machine.
        False loads them anyway.
    threads
        On a CPU, the number of threads torch runs with, set for the whole process (``torch.set_num_threads``).
        None takes the model's own number (its ``riffnb.json``'s ``cpu_threads``: 1 for the shipped tiny model,
        whose small tensors a second thread barely speeds up, while waking it up for each of the model's many small
        operations can double the time of a clip) and otherwise leaves torch's setting as it is. Ignored on a GPU.

    Examples
    --------
    >>> pipe = load_pipeline("tiny")                                          # doctest: +SKIP
    >>> clip = pipe.text_to_audio("church bells on a sunday morning", seed=1) # doctest: +SKIP
    """
    from .pipeline import RiffusionPipeline

    chosen_device = choose_device(device)
    chosen_dtype = choose_dtype(chosen_device, dtype)
    if threads is not None:
        from ..stft import positive_int

        threads = positive_int("threads", threads)
    hub_options = {"revision": revision, "token": token, "allow_pickle": allow_pickle,
                   "local_files_only": local_files_only}
    if model is None:
        model, note = choose_model(chosen_device, **hub_options)
        print(note, file=sys.stderr)
    folder = resolve_model(model, **hub_options)
    check_pipeline_folder(folder, allow_pickle=allow_pickle)
    model_params = params if params is not None else read_params(folder)
    model_defaults = read_defaults(folder)
    if threads is None and chosen_device.type == "cpu":
        threads = read_cpu_threads(folder)
    if check_memory:
        check_memory_for(folder, os.fspath(model), chosen_dtype)

    with memory_errors(f"loading {os.fspath(model)}", chosen_device), quiet_libraries():
        # Importing it makes transformers warn that torchvision is missing, which riffnb does not need.
        from diffusers import StableDiffusionPipeline

        try:
            with warnings.catch_warnings():
                # diffusers >= 0.40 renamed torch_dtype to dtype; the old name works everywhere riffnb runs.
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipeline = StableDiffusionPipeline.from_pretrained(
                    folder,
                    torch_dtype=chosen_dtype,
                    use_safetensors=None if allow_pickle else True,
                    safety_checker=None,
                    feature_extractor=None,
                    requires_safety_checker=False,
                    local_files_only=True,
                )
        except (OSError, ValueError, RuntimeError, KeyError, TypeError, EnvironmentError) as error:
            if _memory_error(error):
                raise
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise NotAPipelineError(
                f"{folder} could not be loaded as a Stable Diffusion pipeline ({detail}); re-save or re-download it"
            ) from None
        pipeline = pipeline.to(chosen_device)
    import torch

    if threads is not None and chosen_device.type == "cpu":
        torch.set_num_threads(threads)
    if compile:
        pipeline.unet = torch.compile(pipeline.unet)
    return RiffusionPipeline(pipeline, params=model_params, model=os.fspath(model), defaults=model_defaults)
