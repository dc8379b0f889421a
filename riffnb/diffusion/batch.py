"""Batch text-to-audio from a list of prompts, in the JSON format of Riffusion's playground.

Riffusion's "text to audio batch" page reads a file like this (its ``params`` may also be a list of parameter sets,
each run for every entry; an entry's ``seed`` defaults to 42, and a setting a parameter set leaves out to the
model's own, ``pipe.defaults``)::

    {
      "params": {"checkpoint": "riffusion/riffusion-model-v1", "scheduler": "DPMSolverMultistepScheduler",
                 "num_inference_steps": 50, "guidance": 7.0, "width": 512},
      "entries": [
        {"prompt": "Church bells", "seed": 42},
        {"prompt": "electronic beats", "negative_prompt": "drums", "seed": 100}
      ]
    }

:func:`load_batch` reads and checks it (a mistake is one line naming the entry and the fix; the trailing comma in
the example on Riffusion's own help page is forgiven), :func:`run_batch` generates every clip and optionally writes
them with an ``index.json`` listing what was made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing as T

from ..errors import RiffnbError

if T.TYPE_CHECKING:
    from .pipeline import Clip, RiffusionPipeline

#: Riffusion's default seed for an entry without one.
DEFAULT_SEED = 42

_PARAM_KEYS = {"name", "checkpoint", "scheduler", "num_inference_steps", "guidance", "width"}
_ENTRY_KEYS = {"prompt", "negative_prompt", "seed"}


class BatchFormatError(RiffnbError):
    """A batch file that does not follow Riffusion's batch format."""


@dataclasses.dataclass(frozen=True)
class BatchParams:
    """One parameter set of a batch: how every entry is generated. None: the model's default
    (:attr:`RiffusionPipeline.defaults <riffnb.diffusion.pipeline.RiffusionPipeline.defaults>`)."""

    name: str
    checkpoint: str | None = None
    scheduler: str | None = None
    num_inference_steps: int | None = None
    guidance: float | None = None
    width: int | None = None


@dataclasses.dataclass(frozen=True)
class BatchEntry:
    """One prompt of a batch."""

    prompt: str
    seed: int = DEFAULT_SEED
    negative_prompt: str | None = None


@dataclasses.dataclass(frozen=True)
class Batch:
    """A parsed batch file: parameter sets x entries."""

    params: tuple[BatchParams, ...]
    entries: tuple[BatchEntry, ...]

    def to_json(self) -> dict:
        """The batch in Riffusion's format (what :func:`load_batch` reads)."""

        def compact(item: T.Any) -> dict:
            return {key: value for key, value in dataclasses.asdict(item).items() if value is not None}

        return {"params": [compact(p) for p in self.params], "entries": [compact(e) for e in self.entries]}


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """One generated clip of a batch: which entry and parameter set (indices into the batch), the seed, the clip,
    and the files :meth:`Clip.save <riffnb.diffusion.clip.Clip.save>` wrote (empty when not written)."""

    entry_index: int
    params_index: int
    seed: int
    clip: "Clip"
    paths: dict = dataclasses.field(default_factory=dict)


def load_batch(source: T.Union[str, os.PathLike, T.Mapping]) -> Batch:
    """Read a batch: a path to a JSON file, JSON text, or the already-parsed dict.

    Examples
    --------
    >>> batch = load_batch('{"params": {"num_inference_steps": 20}, "entries": [{"prompt": "bells"}]}')
    >>> batch.entries[0], batch.params[0].num_inference_steps, batch.params[0].guidance
    (BatchEntry(prompt='bells', seed=42, negative_prompt=None), 20, None)
    >>> load_batch('{"entries": [{"promt": "bells"}]}')
    Traceback (most recent call last):
    ...
    riffnb.diffusion.batch.BatchFormatError: batch: entries[0] has unknown key 'promt'; allowed: negative_prompt, prompt, seed
    """
    where = "batch"
    if isinstance(source, T.Mapping):
        data = source
    else:
        text = os.fspath(source)
        if isinstance(source, os.PathLike) or not text.lstrip().startswith(("{", "[")):
            where = text
            if not os.path.isfile(text):
                raise BatchFormatError(f"{text}: no such batch file; pass a JSON file with 'params' and 'entries'")
            try:
                with open(text, encoding="utf-8") as file:
                    text = file.read()
            except (OSError, UnicodeDecodeError) as error:
                raise BatchFormatError(f"{where}: cannot read it ({error})") from None
        data = _parse_json(text, where)
    return _check_batch(data, where)


def _parse_json(text: str, where: str) -> T.Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        try:
            # Riffusion's own example has a trailing comma in "params"; accept what its users copy.
            return json.loads(_drop_trailing_commas(text))
        except json.JSONDecodeError:
            pass
        raise BatchFormatError(
            f"{where}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); fix the file"
        ) from None


_STRING_OR_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|,(?=\s*[}\]])', re.DOTALL)


def _drop_trailing_commas(text: str) -> str:
    """``text`` without commas right before ``}`` or ``]`` (strings are left alone)."""
    return _STRING_OR_TRAILING_COMMA.sub(lambda match: match.group(0) if match.group(0) != "," else "", text)


def _check_batch(data: T.Any, where: str) -> Batch:
    if not isinstance(data, T.Mapping):
        raise BatchFormatError(f"{where}: expected a JSON object with 'params' and 'entries', got {type(data).__name__}")
    unknown = sorted(set(data) - {"params", "entries"})
    if unknown:
        raise BatchFormatError(f"{where}: unknown top-level key {unknown[0]!r}; a batch has 'params' and 'entries'")
    raw_params = data.get("params", {})
    raw_params = list(raw_params) if isinstance(raw_params, list) else [raw_params]
    if not raw_params:
        raise BatchFormatError(f"{where}: 'params' is an empty list; give at least one parameter set or leave it out")
    params = tuple(_check_params(p, f"params[{i}]", where) for i, p in enumerate(raw_params))
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise BatchFormatError(f"{where}: 'entries' must be a non-empty list of {{\"prompt\": ..., \"seed\": ...}}")
    return Batch(params, tuple(_check_entry(e, f"entries[{i}]", where) for i, e in enumerate(entries)))


def _check_keys(item: T.Any, allowed: set[str], label: str, where: str) -> None:
    if not isinstance(item, T.Mapping):
        raise BatchFormatError(f"{where}: {label} must be a JSON object, got {type(item).__name__}")
    for key in item:
        if key not in allowed:
            raise BatchFormatError(f"{where}: {label} has unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")


def _check_params(item: T.Any, label: str, where: str) -> BatchParams:
    _check_keys(item, _PARAM_KEYS, label, where)
    values = dict(item)
    values.setdefault("name", label)
    for key in ("name", "checkpoint", "scheduler"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise BatchFormatError(f"{where}: {label}.{key} must be a string, got {values[key]!r}")
    if values.get("scheduler") is not None:
        values["scheduler"] = _scheduler(values["scheduler"], f"{where}: {label}.scheduler")
    # Against Stable Diffusion's limits here; run_batch checks them against each parameter set's model too.
    _check_settings(BatchParams(**values), None, f"{where}: {label}")
    if values.get("guidance") is not None:
        values["guidance"] = float(values["guidance"])
    return BatchParams(**values)


def _check_settings(params: BatchParams, model: T.Any, label: str) -> None:
    """:func:`~riffnb.diffusion.pipeline.check_settings` of the settings ``params`` gives, for ``model``; an error
    names ``label`` and the key in the batch file ("params[0].num_inference_steps: steps must be ...")."""
    from .pipeline import check_settings

    for key, name in (("num_inference_steps", "steps"), ("guidance", "guidance"), ("width", "width")):
        try:
            check_settings(model, **{name: getattr(params, key)})
        except RiffnbError as error:
            raise BatchFormatError(f"{label}.{key}: {error}") from None


def _check_entry(item: T.Any, label: str, where: str) -> BatchEntry:
    _check_keys(item, _ENTRY_KEYS, label, where)
    from .pipeline import check_seed

    prompt = item.get("prompt")
    if not isinstance(prompt, str):
        raise BatchFormatError(f"{where}: {label} needs a \"prompt\" string, got {prompt!r}")
    if not prompt.strip():
        raise BatchFormatError(f"{where}: {label}.prompt is empty; say what to play, e.g. \"funky jazz piano\"")
    seed = item.get("seed", DEFAULT_SEED)
    try:
        check_seed(seed)
    except RiffnbError:
        raise BatchFormatError(
            f"{where}: {label}.seed must be a whole number from 0 to 2**63 - 1, got {seed!r}"
        ) from None
    negative = item.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise BatchFormatError(f"{where}: {label}.negative_prompt must be a string, got {negative!r}")
    return BatchEntry(prompt, seed, negative or None)


def _check_seed_ranges(batch: Batch, num_seeds: int) -> None:
    """Refuse an entry whose ``num_seeds`` seeds, counting up from its own, go past the largest seed: found before
    any clip is made, not when the first seed too large comes up."""
    from .pipeline import check_seed

    for index, entry in enumerate(batch.entries):
        last = entry.seed + num_seeds - 1
        try:
            check_seed(last)
        except RiffnbError:
            raise BatchFormatError(
                f"entries[{index}]: its {num_seeds} seeds from {entry.seed} would run to {last}, past the largest "
                "seed, 2**63 - 1; lower its seed or the seeds per entry (--num-seeds)"
            ) from None


def _scheduler(name: str, where: str) -> str:
    """riffnb's name for a scheduler (:func:`~riffnb.diffusion.schedulers.scheduler_key` reads the diffusers class
    names Riffusion's files use, e.g. "DPMSolverMultistepScheduler")."""
    from .schedulers import UnknownSchedulerError, scheduler_key

    try:
        return scheduler_key(name.strip())
    except UnknownSchedulerError as error:
        raise BatchFormatError(f"{where}: {error}") from None


def _is_int(value: T.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit]
    return slug or "empty"


def output_names(batch: Batch, num_seeds: int = 1) -> list[tuple[int, int, int, str]]:
    """``(entry index, params index, seed, file stem)`` of every clip a batch makes, in generation order.

    Stems are unique: ``<entry>_<prompt slug>_seed<seed>_p<params>``.
    """
    names = []
    for entry_index, entry in enumerate(batch.entries):
        for seed in range(entry.seed, entry.seed + num_seeds):
            for params_index in range(len(batch.params)):
                stem = f"{entry_index:03d}_{_slug(entry.prompt)}_seed{seed}_p{params_index}"
                names.append((entry_index, params_index, seed, stem))
    return names


def run_batch(
    batch: T.Union[Batch, str, os.PathLike, T.Mapping],
    pipeline: "RiffusionPipeline | str | os.PathLike | None" = None,
    *,
    output_dir: str | os.PathLike | None = None,
    num_seeds: int = 1,
    audio_format: str = "wav",
    overwrite: bool = False,
    device: T.Any = None,
    dtype: T.Any = None,
    callback: T.Callable[[int, int, "Clip"], None] | None = None,
) -> list[BatchResult]:
    """Generate every entry with every parameter set (and ``num_seeds`` seeds from each entry's, as Riffusion's
    "Num Seeds").

    Parameters
    ----------
    batch
        A :class:`Batch`, or anything :func:`load_batch` reads.
    pipeline
        The pipeline (or the model to load, after the outputs are checked) for parameter sets that name no
        ``checkpoint``; Riffusion's model when None. Sets naming a checkpoint get it loaded with
        :func:`~riffnb.diffusion.loading.load_pipeline` on ``device``/``dtype`` (the pipeline's, if given), once
        each.
    output_dir
        Write each clip with :meth:`Clip.save <riffnb.diffusion.clip.Clip.save>` as ``<stem>.<audio_format>``,
        ``<stem>.png`` (with EXIF) and ``<stem>.json`` (its settings), stems from :func:`output_names`, and
        ``index.json`` (the batch and what was made, with the settings each clip was made with, like Riffusion's
        page). Existing files are refused before anything is generated unless ``overwrite``. A batch is one
        output: if it fails or is interrupted, the files it wrote are removed, so a rerun starts afresh instead of
        being refused.
    callback
        Called as ``callback(done, total, clip)`` after each clip.
    """
    from ..audio import audio_format_for, check_output_path
    from ..audio import output_set

    if not isinstance(batch, Batch):
        batch = load_batch(batch)
    if not _is_int(num_seeds) or num_seeds < 1:
        raise RiffnbError(f"num_seeds must be a whole number >= 1, got {num_seeds!r}")
    _check_seed_ranges(batch, num_seeds)
    names = output_names(batch, num_seeds)
    if output_dir is not None:
        output_dir = os.fspath(output_dir)
        if os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise RiffnbError(f"{output_dir} exists and is not a folder; give an output folder")
        audio_format_for(str(audio_format), format=str(audio_format))
        for *_, stem in names:
            for suffix in (audio_format, "png", "json"):
                check_output_path(os.path.join(output_dir, f"{stem}.{suffix}"), overwrite)
        check_output_path(os.path.join(output_dir, "index.json"), overwrite)

    models = [p.checkpoint if p.checkpoint is not None else pipeline for p in batch.params]
    for params, model in zip(batch.params, models):
        _check_settings(params, model, params.name)
    pipelines = _pipelines_for(models, pipeline, device, dtype)
    for params, loaded in zip(batch.params, pipelines):
        _check_settings(params, loaded, params.name)
    results = []
    with output_set() as claim:
        for done, (entry_index, params_index, seed, stem) in enumerate(names, start=1):
            entry, params = batch.entries[entry_index], batch.params[params_index]
            clip = pipelines[params_index].text_to_audio(
                entry.prompt,
                negative_prompt=entry.negative_prompt,
                seed=seed,
                steps=params.num_inference_steps,
                guidance=params.guidance,
                width=params.width,
                scheduler=params.scheduler,
            )
            paths = {}
            if output_dir is not None:
                paths = clip.save(os.path.join(output_dir, f"{stem}.{audio_format}"), overwrite=overwrite)
            results.append(BatchResult(entry_index, params_index, seed, clip, paths))
            if callback is not None:
                callback(done, len(names), clip)
        if output_dir is not None:
            claim(os.path.join(output_dir, "index.json"), overwrite)
            _write_index(batch, results, os.path.join(output_dir, "index.json"), overwrite)
    return results


def _pipelines_for(
    models: T.Sequence["RiffusionPipeline | str | os.PathLike | None"],
    pipeline: "RiffusionPipeline | str | os.PathLike | None",
    device: T.Any,
    dtype: T.Any,
) -> list["RiffusionPipeline"]:
    """The pipeline of each parameter set's model, each loaded once (on ``pipeline``'s device and dtype when it is
    a loaded one, unless ``device`` or ``dtype`` say otherwise)."""
    from pathlib import Path

    from .loading import load_pipeline

    loaded: dict[T.Any, "RiffusionPipeline"] = {}
    if not isinstance(pipeline, (str, os.PathLike, type(None))):
        device = device if device is not None else pipeline.device
        dtype = dtype if dtype is not None else pipeline.dtype

    def get(model: "RiffusionPipeline | str | os.PathLike | None") -> "RiffusionPipeline":
        if not isinstance(model, (str, os.PathLike, type(None))):
            return model
        # A name and a path stay apart: "tiny" is the shipped model, Path("tiny") the folder ./tiny.
        key = model if model is None or isinstance(model, str) else Path(model)
        if key not in loaded:
            # None: riffnb's default model (load_pipeline says which).
            loaded[key] = load_pipeline(model, device=device, dtype=dtype)
            loaded[key].pipeline.set_progress_bar_config(disable=True)
        return loaded[key]

    return [get(model) for model in models]


def _write_index(batch: Batch, results: T.Sequence[BatchResult], path: str, overwrite: bool) -> None:
    from ..audio import atomic_output

    index = batch.to_json()
    index["results"] = [
        {
            "entry": result.entry_index,
            "params": batch.params[result.params_index].name,
            "prompt": batch.entries[result.entry_index].prompt,
            "negative_prompt": batch.entries[result.entry_index].negative_prompt,
            "seed": result.seed,
            # The settings the clip was made with: what the parameter set gave, else the model's defaults.
            **{name: getattr(result.clip, name) for name in ("steps", "guidance", "width", "scheduler", "model")},
            **{f"{kind}_path": os.path.basename(path) for kind, path in result.paths.items()},
        }
        for result in results
    ]
    with atomic_output(path, overwrite) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(index, file, indent=2)
