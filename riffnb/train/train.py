"""Training the tiny model from scratch: corpus, autoencoder, then text encoder and UNet together.

The recipe (:class:`Recipe`) runs in phases, each resumable:

1. **corpus**: render the training clips (:func:`riffnb.train.corpus.build_corpus`), cached in the work folder.
2. **vae**: train the :class:`~diffusers.AutoencoderKL` on half-width crops of the spectrogram images (L1
   reconstruction, L1 of the differences between neighbouring pixels, a small KL term), cosine learning-rate decay.
3. **latents**: encode every clip once with the finished autoencoder (mean and standard deviation of each latent),
   and set the latent scaling factor to 1 / their standard deviation, as Stable Diffusion does.
4. **unet**: train the UNet and the CLIP text encoder together on the cached latents with v-prediction, a new
   random caption per clip per step, 10% empty captions (for classifier-free guidance) and an exponential moving
   average (EMA) of both networks' weights, which is what gets exported.
5. **decoder**: fine-tune the autoencoder's decoder alone, the encoder frozen, as Stability AI did for Stable
   Diffusion's decoders: the latents keep their meaning, so the UNet still fits, and they are drawn sharper.

Everything needed to continue is saved to ``<workdir>/checkpoint.pt`` every few minutes and at the end of each
phase, written to a temporary file and renamed: the phase and step, every network, the optimizers, the EMA weights
and all random number generators. Running the same command again continues where it stopped. The exported pipeline
(:func:`export_pipeline`) is a diffusers folder that :func:`riffnb.load_pipeline` loads.

Examples
--------
Train the toy recipe in a minute and load the result::

    python -m riffnb.train --smoke --workdir /tmp/tiny-smoke
    python -c "import riffnb; print(riffnb.load_pipeline('/tmp/tiny-smoke/pipeline'))"
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import typing as T
from pathlib import Path

import numpy as np

from ..diffusion.loading import (
    CPU_THREADS_KEY,
    PARAMS_FILE,
    SETTINGS_FILE,
    SHIPPED_MODELS,
    SamplingDefaults,
    read_params,
    resolve_model,
)
from ..errors import OutputExistsError, RiffnbError
from .captions import ClipSpec, caption_for
from .corpus import IMAGE_WIDTH, TINY_PARAMS, build_corpus, load_corpus
from .models import FULL, SMOKE, ModelSizes, make_text_encoder, make_training_scheduler, make_unet, make_vae

try:
    import fcntl
except ImportError:  # Windows: no flock, so nothing stops a second run in the same work folder there.
    fcntl = None

if T.TYPE_CHECKING:
    import torch


#: The fields of a :class:`Recipe` a resumed run may change; the others are fixed by the run's first start.
STEP_FIELDS = ("vae_steps", "unet_steps", "unet_cooldown_steps", "decoder_steps")

#: The file in the work folder that a training run holds locked (and the corpus renderer it starts, which inherits
#: the lock): a second run in the same folder would train on the same ``checkpoint.pt``.
LOCK_FILE = "train.lock"


class TrainingError(RiffnbError):
    """A training run that cannot start, resume or export as asked; the message says what to do instead."""


#: Prompts drawn at every preview, to watch the model learn.
PREVIEW_PROMPTS = (
    "bossa nova with electric guitar",
    "fast rock with drums",
    "slow piano ballad",
    "techno with synth",
)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every setting of a training run. :data:`FULL_RECIPE` makes the shipped model, :data:`SMOKE_RECIPE` a toy.

    Step counts can be raised when resuming (train longer); everything else is fixed by the first run.
    """

    sizes: ModelSizes = FULL
    train_clips: int = 2400
    corpus_seed: int = 0
    vae_steps: int = 2000
    vae_batch: int = 8
    vae_crop: int = 128
    vae_lr: float = 5e-4
    kl_weight: float = 1e-5
    gradient_weight: float = 1.0
    #: Constant learning rate to step 11254, then the cool-down below. On semitone bands the electric guitar was learnt
    #: only between steps 9178 and 11254, and training on at this rate measured worse (128 bands); cooling down from
    #: 11254 instead sharpened the chords an outside ear hears (generated clips: notes heard 0.25 -> 0.42 at the
    #: sampling defaults); holding the rate to 20000 before the same cool-down did not (0.41, and instrument
    #: adherence 89% -> 80%), nor did 3000 more steps cooling from 1e-4 to 1e-5 (0.46, the chords barely moved,
    #: adherence 87%). riffnb/models/tiny/HISTORY.md has the tables.
    unet_steps: int = 14254
    unet_batch: int = 32
    unet_lr: float = 1e-3
    #: The last UNet steps, during which the learning rate falls to 10% (cosine). 0 keeps it constant to the end,
    #: so that a run can be lengthened; give the cool-down when the length is final.
    unet_cooldown_steps: int = 3000
    #: The joint autoencoder steps leave a decoder that smears the harmonics of chords into bands: an outside ear
    #: (:func:`~riffnb.train.evaluate.notes_heard`) heard notes in 35% of the frames of the evaluation's corpus
    #: clips after the round trip, 72% without it. These steps, on the frozen encoder's latents, took it to 81%
    #: (a 3000-step trial: 73%) and generated clips from 3% to 25% (riffnb/models/tiny/HISTORY.md).
    decoder_steps: int = 8000
    decoder_lr: float = 3e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict[str, T.Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: T.Mapping[str, T.Any]) -> "Recipe":
        sizes = ModelSizes(**{k: tuple(v) if isinstance(v, list) else v for k, v in values["sizes"].items()})
        return cls(**{**values, "sizes": sizes})


FULL_RECIPE = Recipe()
SMOKE_RECIPE = Recipe(
    sizes=SMOKE, train_clips=24, vae_steps=4, vae_batch=2, unet_steps=4, unet_batch=4, unet_cooldown_steps=0,
    decoder_steps=3, warmup_steps=2, ema_decay=0.9,
)


def _without_steps(recipe: Recipe) -> Recipe:
    return dataclasses.replace(recipe, **{name: 0 for name in STEP_FIELDS})


def recipe_name(recipe: Recipe) -> str:
    """"the --smoke recipe", "the full recipe" or "a custom recipe", whatever the step counts."""
    for known, name in ((SMOKE_RECIPE, "the --smoke recipe"), (FULL_RECIPE, "the full recipe")):
        if _without_steps(recipe) == _without_steps(known):
            return name
    return "a custom recipe"


def _recipe_differences(held: Recipe, asked: Recipe) -> str:
    """The fields other than step counts in which ``held`` differs from ``asked``, as "name value (asked: value)"."""

    def fields(recipe: Recipe) -> dict[str, T.Any]:
        values = dataclasses.asdict(_without_steps(recipe))
        sizes = values.pop("sizes")
        return {**values, **{f"sizes.{name}": value for name, value in sizes.items()}}

    held_values, asked_values = fields(held), fields(asked)
    return ", ".join(f"{name} {value!r} (asked: {asked_values[name]!r})" for name, value in held_values.items()
                     if value != asked_values[name])


def _resumed_recipe(workdir: Path, held: Recipe, asked: Recipe) -> Recipe:
    """``held``, the recipe of the run in ``workdir``, after checking that it is the one asked for (step counts
    aside): resuming another one would silently train, or export, a model of other sizes than the command says."""
    if _without_steps(held) == _without_steps(asked):
        return held
    name = recipe_name(held)
    fix = {
        "the --smoke recipe": "resume it with --smoke",
        "the full recipe": "resume it without --smoke",
    }.get(name, "resume it from Python with the Recipe it was started with")
    if name == "a custom recipe":
        name += f" ({_recipe_differences(held, asked)})"
    raise TrainingError(f"{workdir} holds a run of {name}, not of {recipe_name(asked)} asked for; {fix}, or pass "
                        "another --workdir to start a new run")


#: How the exported model samples when a call does not say (written into its ``riffnb.json``). Guidance 4, not
#: Riffusion's 7: for the cooled-down UNet it gave the seed prompt its electric guitar more often (8 vs 5 of 17
#: seeds), more notes heard and better tempo adherence, at one clip less instrument adherence
#: (riffnb/models/tiny/HISTORY.md).
SAMPLING_DEFAULTS = SamplingDefaults(steps=20, guidance=4.0, width=IMAGE_WIDTH, scheduler="dpm++")

#: Torch threads the exported model runs with on a CPU (its ``riffnb.json``; :func:`riffnb.load_pipeline` sets it).
#: Its operations are small: on this project's 2-core machines a second thread saved at most a tenth of a clip's
#: time, and where idle threads sleep between operations (riffnb's OMP_WAIT_POLICY=PASSIVE) waking them doubled it.
CPU_THREADS = 1


def log(message: str) -> None:
    """Print a time-stamped line (training runs for hours under nohup; the stamp says when)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


class EMA:
    """An exponential moving average of a module's weights, kept in a copy of the module.

    The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so the average is not dominated by the random
    initialisation early on.
    """

    def __init__(self, module: "torch.nn.Module", decay: float) -> None:
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay

    def update(self, module: "torch.nn.Module", step: int) -> None:
        import torch

        decay = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            averaged = list(self.module.parameters())
            current = [p.detach() for p in module.parameters()]
            torch._foreach_lerp_(averaged, current, 1 - decay)


def _pixels_to_tensor(pixels: np.ndarray) -> "torch.Tensor":
    """uint8 images ``(b, h, w)`` -> float ``(b, 3, h, w)`` in [-1, 1], the range the pipeline's VAE decodes to."""
    import torch

    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32)) / 127.5 - 1.0
    return x[:, None].expand(-1, 3, -1, -1).contiguous()


def _gradient_l1(reconstruction: "torch.Tensor", target: "torch.Tensor") -> "torch.Tensor":
    """L1 distance between the images' differences along frequency and along time.

    Pixel L1 alone let the autoencoder settle on blurred spectrograms (the harmonics of each note smeared into a
    band, l1 stuck near 0.165 for hundreds of steps); thin harmonic lines and sharp onsets are large differences
    between neighbouring pixels, so this term pays for them directly.
    """
    import torch.nn.functional as F

    along_frequency = F.l1_loss(reconstruction.diff(dim=2), target.diff(dim=2))
    along_time = F.l1_loss(reconstruction.diff(dim=3), target.diff(dim=3))
    return along_frequency + along_time


def v_prediction_loss(unet, scheduler, latents: "torch.Tensor", noise: "torch.Tensor", timesteps: "torch.Tensor",
                      text_embeddings: "torch.Tensor") -> "torch.Tensor":
    """The UNet's training loss: ``latents`` noised with ``noise`` to ``timesteps``, and the mean squared error of
    the UNet's prediction of the velocity v = sqrt(alpha_bar_t) * noise - sqrt(1 - alpha_bar_t) * latents (the
    recipe's phase 4; notebook 06 computes it by hand and checks it against this)."""
    import torch.nn.functional as F

    noisy = scheduler.add_noise(latents, noise, timesteps)
    target = scheduler.get_velocity(latents, noise, timesteps)
    return F.mse_loss(unet(noisy, timesteps, text_embeddings).sample, target)


def _learning_rate(base: float, step: int, warmup: int, total: int, decay_steps: int | None = None) -> float:
    """Linear warm-up, then constant, then a cosine decay to 10% of ``base`` over the last ``decay_steps`` steps
    before ``total`` (every step after the warm-up when ``decay_steps`` is None; none when it is 0)."""
    if step < warmup:
        return base * (step + 1) / warmup
    decay_start = warmup if decay_steps is None else max(warmup, total - decay_steps)
    if step < decay_start:
        return base
    progress = min(1.0, (step - decay_start) / max(1, total - decay_start))
    return base * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def _differences_from_tiny_params(params: dict[str, T.Any]) -> str:
    """The fields in which ``params`` (a dict of :class:`~riffnb.params.SpectrogramParams`) differ from
    :data:`TINY_PARAMS`, as "name value (now value)" phrases; empty when they agree."""
    return ", ".join(f"{name} {value!r} (now {getattr(TINY_PARAMS, name)!r})" for name, value in params.items()
                     if value != getattr(TINY_PARAMS, name))


def _network_sizes(sizes: ModelSizes) -> dict[str, dict[str, T.Any]]:
    """The ``config.json`` entries that ``sizes`` sets in each network, as :mod:`riffnb.train.models` builds them."""
    return {
        "vae": {"block_out_channels": list(sizes.vae_channels), "norm_num_groups": sizes.vae_groups,
                "latent_channels": sizes.latent_channels},
        "unet": {"block_out_channels": list(sizes.unet_channels), "norm_num_groups": sizes.unet_groups,
                 "attention_head_dim": sizes.unet_heads, "cross_attention_dim": sizes.text_width},
        "text_encoder": {"hidden_size": sizes.text_width, "num_hidden_layers": sizes.text_layers,
                         "num_attention_heads": sizes.text_heads},
    }


def _size_differences(folder: Path, sizes: ModelSizes) -> list[str]:
    """How the networks of the pipeline in ``folder`` differ in size from ``sizes``, as "part key value (recipe:
    value)" phrases."""
    differences = []
    for part, expected in _network_sizes(sizes).items():
        path = folder / part / "config.json"
        # A part without its config is for load_pipeline to report.
        config = json.loads(path.read_text()) if path.is_file() else expected
        differences += [f"{part} {key} {config.get(key)!r} (recipe: {value!r})" for key, value in expected.items()
                        if config.get(key) != value]
    return differences


def _pipeline_to_continue(init_from: str | os.PathLike, recipe: Recipe) -> tuple[Path, dict[str, T.Any]]:
    """The folder of the exported pipeline ``init_from`` (a folder or a shipped model's name) and its training
    record, after checking that ``recipe`` can continue it. Reads only: nothing is created when it cannot."""
    text = os.fspath(init_from)
    # resolve_model would also download a hub id: a whole pipeline, to be refused unless riffnb.train exported it.
    if text not in SHIPPED_MODELS and not Path(text).expanduser().exists():
        raise TrainingError(f"no such folder: {text}; pass a folder written by --out, or a shipped model's name "
                            f"({', '.join(SHIPPED_MODELS)})")
    folder = resolve_model(text)
    settings_path = folder / SETTINGS_FILE
    training = json.loads(settings_path.read_text()).get("training") if settings_path.is_file() else None
    if training is None:
        raise TrainingError(f"{folder} is not a pipeline exported by riffnb.train (no {SETTINGS_FILE} with a training "
                            f"record); pass a folder written by --out, or a shipped model's name "
                            f"({', '.join(SHIPPED_MODELS)})")
    differences = _differences_from_tiny_params(dataclasses.asdict(read_params(folder)))
    if differences:
        raise TrainingError(f"{folder} draws with other spectrogram parameters than this version of riffnb.train: "
                            f"{differences}; it cannot be continued, train a model from scratch instead")
    differences = _size_differences(folder, recipe.sizes)
    if differences:
        fix = "continue it with a recipe of its sizes"
        if not _size_differences(folder, SMOKE):
            fix = "continue it with --smoke"
        elif not _size_differences(folder, FULL):
            fix = "continue it without --smoke"
        shown = ", ".join(differences[:3]) + (f" and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise TrainingError(f"{folder} holds networks of other sizes than {recipe_name(recipe)}: {shown}; {fix}")
    done = training["unet_steps_done"]
    if recipe.unet_steps <= done:
        raise TrainingError(f"{folder} has had {done} UNet steps and the run would stop at step {recipe.unet_steps}; "
                            f"pass --unet-steps above {done} to train it further")
    return folder, training


class Trainer:
    """One training run in ``workdir``: builds or resumes everything and runs the phases.

    Parameters
    ----------
    workdir
        Holds the corpus, the tokenizer, cached latents, ``checkpoint.pt``, ``metrics.jsonl`` and previews.
    recipe
        The run's recipe. A resumed run must have been started with it (a :class:`TrainingError` says which one
        it was, if not); only the step counts may differ, and those given in ``step_overrides``
        (``{"vae_steps": ..., "unet_steps": ..., "unet_cooldown_steps": ..., "decoder_steps": ...}``) replace them.
    checkpoint_minutes
        How often to save while a phase runs.
    preview_minutes
        How often (during the UNet phase) to draw :data:`PREVIEW_PROMPTS` into ``previews/``; 0 turns it off.
    corpus_workers
        Processes rendering the corpus.
    overlap_corpus
        Start training the autoencoder on the clips rendered so far while a separate process renders the rest
        (more throughput on a busy machine). The autoencoder phase then depends on timing, so a resumed run no
        longer replays it exactly; the other phases still do.
    init_from
        An exported pipeline to continue, a folder or a shipped model's name such as ``"tiny"`` (a new work folder
        only; ignored when ``workdir`` holds a checkpoint): see :meth:`_start_from_pipeline`.
    log_every
        Print the mean losses and append them to ``metrics.jsonl`` every this many steps (1 for a loss curve).
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        recipe: Recipe = FULL_RECIPE,
        *,
        step_overrides: T.Mapping[str, int] | None = None,
        checkpoint_minutes: float = 5.0,
        preview_minutes: float = 0.0,
        corpus_workers: int = 1,
        overlap_corpus: bool = False,
        init_from: str | os.PathLike | None = None,
        log_every: int = 25,
    ) -> None:
        import torch

        self.workdir = Path(workdir)
        self.checkpoint_path = self.workdir / "checkpoint.pt"
        self.checkpoint_seconds = checkpoint_minutes * 60
        self.log_every = log_every
        self.corpus_workers = corpus_workers
        self.overlap_corpus = overlap_corpus
        self.stop_requested = False
        #: (interval seconds, callable) run during the UNet phase, e.g. exporting the pipeline every half hour.
        self.periodic_tasks: list[tuple[float, T.Callable[[], T.Any]]] = []
        if preview_minutes > 0:
            self.periodic_tasks.append((preview_minutes * 60, self.preview))
        state = continued = None
        if self.checkpoint_path.is_file():
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
            recipe = _resumed_recipe(self.workdir, Recipe.from_dict(state["recipe"]), recipe)
        recipe = dataclasses.replace(recipe, **(step_overrides or {}))
        if state is None and init_from is not None:
            continued = _pipeline_to_continue(init_from, recipe)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recipe = recipe
        # Seeded before the networks are built: their initial weights are part of the run.
        torch.manual_seed(recipe.seed)
        self.tokenizer = self._tokenizer()
        self.vae = make_vae(recipe.sizes)
        self.text_encoder = make_text_encoder(
            len(self.tokenizer), recipe.sizes, self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        )
        self.unet = make_unet(recipe.sizes, (TINY_PARAMS.num_frequencies // 8, IMAGE_WIDTH // 8))
        self.scheduler = make_training_scheduler()
        self.vae_optimizer = torch.optim.AdamW(self.vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0)
        self.unet_optimizer = torch.optim.AdamW(
            list(self.unet.parameters()) + list(self.text_encoder.parameters()), lr=recipe.unet_lr, weight_decay=1e-2
        )
        self.unet_ema = EMA(self.unet, recipe.ema_decay)
        self.text_ema = EMA(self.text_encoder, recipe.ema_decay)
        self.decoder_optimizer = torch.optim.AdamW(self._decoder_parameters(), lr=recipe.decoder_lr, weight_decay=0.0)
        self.phase = "vae"
        #: The step of the phase running: autoencoder steps in phase "vae", UNet steps from "latents" on.
        self.step = 0
        self.decoder_step = 0
        self.scaling_factor = 1.0
        #: The UNet step the run started from: 0, or the step of the pipeline given as ``init_from``.
        self.unet_start_step = 0
        self.rng = np.random.default_rng(recipe.seed)
        self.caption_rng = random.Random(recipe.seed)
        # The decoder phase draws from streams of its own, so it leaves the others where the UNet left them.
        self.decoder_rng = np.random.default_rng((recipe.seed, 1))
        self.decoder_generator = torch.Generator().manual_seed(recipe.seed + 1)
        if state is not None:
            self._load_state(state)
            log(f"resuming {self.workdir} ({recipe_name(recipe)}) at phase {self.phase}, step {self.step}")
        elif continued is not None:
            self._start_from_pipeline(*continued)

    # ------------------------------------------------------------------------------------------------------------
    # State

    def _tokenizer(self):
        from transformers import CLIPTokenizer

        from .tokenizer import MODEL_MAX_LENGTH, write_tokenizer_source

        # The tokenizer is written once and then read back, so a resumed run keeps its vocabulary even if the
        # caption grammar has grown since.
        folder = self.workdir / "tokenizer"
        if not (folder / "vocab.json").is_file():
            write_tokenizer_source(folder)
        return CLIPTokenizer.from_pretrained(folder, model_max_length=MODEL_MAX_LENGTH)

    def state_dict(self) -> dict[str, T.Any]:
        """Everything a resumed run needs, as one dict of tensors and plain values."""
        import torch

        return {
            "recipe": self.recipe.to_dict(),
            "spectrogram_params": dataclasses.asdict(TINY_PARAMS),
            "phase": self.phase,
            "step": self.step,
            "scaling_factor": self.scaling_factor,
            "unet_start_step": self.unet_start_step,
            "vae": self.vae.state_dict(),
            "vae_optimizer": self.vae_optimizer.state_dict(),
            "unet": self.unet.state_dict(),
            "text_encoder": self.text_encoder.state_dict(),
            "unet_optimizer": self.unet_optimizer.state_dict(),
            "unet_ema": self.unet_ema.module.state_dict(),
            "text_ema": self.text_ema.module.state_dict(),
            "decoder_step": self.decoder_step,
            "decoder_optimizer": self.decoder_optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "caption_rng": self.caption_rng.getstate(),
            "decoder_rng": self.decoder_rng.bit_generator.state,
            "decoder_torch_rng": self.decoder_generator.get_state(),
            "saved_at": time.time(),
        }

    def _load_state(self, state: dict[str, T.Any]) -> None:
        import torch

        # Checkpoints from before the parameters were saved cannot be checked.
        differences = _differences_from_tiny_params(state.get("spectrogram_params", dataclasses.asdict(TINY_PARAMS)))
        if differences:
            raise TrainingError(f"{self.workdir} holds a run on other spectrogram parameters than this version of "
                                f"riffnb.train: {differences}; resume it with the version that started it, or start "
                                "a new work folder")
        self.phase = state["phase"]
        self.step = state["step"]
        self.scaling_factor = state["scaling_factor"]
        self.unet_start_step = state.get("unet_start_step", 0)
        self.vae.load_state_dict(state["vae"])
        self.vae_optimizer.load_state_dict(state["vae_optimizer"])
        self.unet.load_state_dict(state["unet"])
        self.text_encoder.load_state_dict(state["text_encoder"])
        self.unet_optimizer.load_state_dict(state["unet_optimizer"])
        self.unet_ema.module.load_state_dict(state["unet_ema"])
        self.text_ema.module.load_state_dict(state["text_ema"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.caption_rng.setstate(state["caption_rng"])
        # Checkpoints from before the decoder phase existed have not run it.
        if "decoder_step" in state:
            self.decoder_step = state["decoder_step"]
            self.decoder_optimizer.load_state_dict(state["decoder_optimizer"])
            self.decoder_rng.bit_generator.state = state["decoder_rng"]
            self.decoder_generator.set_state(state["decoder_torch_rng"])

    def _start_from_pipeline(self, folder: Path, training: dict[str, T.Any]) -> None:
        """Continue training an exported pipeline (e.g. the shipped model) in a new work folder.

        The networks start from the exported weights (the EMA weights, which then seed both the trained copy and its
        average); the optimizer starts afresh, so the learning rate warms up again. The run skips the autoencoder and
        goes on counting UNet steps from where the export stopped. ``folder`` and ``training`` (the training record
        of its ``riffnb.json``) come from :func:`_pipeline_to_continue`, which has checked them.
        """
        from ..diffusion.loading import load_pipeline

        exported = load_pipeline(folder, device="cpu", dtype="float32").pipeline
        if exported.tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise TrainingError(f"{folder}'s tokenizer differs from the caption grammar's vocabulary; it cannot be "
                                "continued with this version of riffnb.train")
        self.vae.load_state_dict(exported.vae.state_dict())
        self.scaling_factor = float(exported.vae.config.scaling_factor)
        self.text_encoder.load_state_dict(exported.text_encoder.state_dict())
        self.unet.load_state_dict(exported.unet.state_dict())
        self.unet_ema.module.load_state_dict(self.unet.state_dict())
        self.text_ema.module.load_state_dict(self.text_encoder.state_dict())
        self.recipe = dataclasses.replace(self.recipe, vae_steps=training["vae_steps"])
        self.unet_start_step = training["unet_steps_done"]
        self.decoder_step = training.get("decoder_steps_done", 0)
        self.phase, self.step = "latents", 0
        log(f"starting from {folder}: its autoencoder (decoder fine-tuned for {self.decoder_step} steps), and UNet "
            f"step {self.unet_start_step}")

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (temporary file, then rename)."""
        import torch

        temporary = self.checkpoint_path.with_name(f".{self.checkpoint_path.name}.{os.getpid()}.part")
        torch.save(self.state_dict(), temporary)
        os.replace(temporary, self.checkpoint_path)
        log(f"checkpoint: phase {self.phase}, step {self.step}")

    def _metrics(self, **values: T.Any) -> None:
        with open(self.workdir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps({"time": round(time.time(), 1), "phase": self.phase, "step": self.step, **values}) + "\n")

    # ------------------------------------------------------------------------------------------------------------
    # Phases

    def corpus(self) -> tuple[np.ndarray, list[ClipSpec]]:
        """The training corpus, rendered on first use."""
        folder = self.workdir / "corpus-train"
        if not (folder / "specs.json").is_file():
            log(f"rendering {self.recipe.train_clips} training clips into {folder}")
            started = time.time()
            build_corpus(
                folder,
                "train",
                self.recipe.train_clips,
                self.recipe.corpus_seed,
                workers=self.corpus_workers,
                progress=lambda done, total: log(f"corpus {done}/{total}") if done % 1024 == 0 else None,
            )
            log(f"corpus rendered in {time.time() - started:.0f} s")
        images, specs = load_corpus(folder)
        if len(specs) != self.recipe.train_clips:
            raise TrainingError(f"{folder} holds {len(specs)} clips, the recipe wants {self.recipe.train_clips}; "
                                "delete the folder to render the recipe's, or pass another --workdir")
        return images, specs

    def run(self) -> None:
        """Run the remaining phases; stops cleanly (after saving) on SIGINT or SIGTERM.

        Raises :class:`TrainingError` if another run holds the work folder (:data:`LOCK_FILE`).
        """

        def request_stop(signum, frame):
            log(f"signal {signum}: saving and stopping after this step")
            self.stop_requested = True

        folder = self.workdir / "corpus-train"
        renderer, previous = None, {}
        with self._holding_workdir() as lock:
            try:
                if self.overlap_corpus and self.phase == "vae" and not (folder / "specs.json").is_file():
                    renderer = self._start_rendering(folder, lock)
                    images, available = self._partial_corpus(folder, renderer)
                else:
                    # The corpus build resumes by itself after a kill, so stopping politely only matters from here on.
                    images, specs = self.corpus()
                    available = lambda: len(images)  # noqa: E731
                previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
                if self.phase == "done" and self.step < self.recipe.unet_steps:
                    self.phase = "unet"
                elif self.phase == "done" and self.decoder_step < self.recipe.decoder_steps:
                    self.phase = "decoder"
                if self.phase == "vae":
                    self.train_vae(images, available)
                if renderer is not None:
                    if self.stop_requested:
                        return
                    log("waiting for the corpus to finish rendering")
                    renderer.wait()
                    _check_renderer(folder, renderer)
                images, specs = self.corpus()
                if self.phase == "latents" and not self.stop_requested:
                    self.encode_latents(images)
                if self.phase == "unet" and not self.stop_requested:
                    self.train_unet(specs)
                if self.phase == "decoder" and not self.stop_requested:
                    self.train_decoder(images)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
                if renderer is not None:
                    _stop_renderer(renderer)

    @contextlib.contextmanager
    def _holding_workdir(self) -> T.Iterator[T.IO | None]:
        """Hold :data:`LOCK_FILE` locked while the block runs (yields its open file; None where there is no flock)."""
        if fcntl is None:
            yield None
            return
        with open(self.workdir / LOCK_FILE, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise TrainingError(
                    f"{self.workdir} is in use by another training run (pid {holder}, or the corpus renderer it "
                    "started); wait for it to finish or stop it, or pass another --workdir"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield handle

    def _start_rendering(self, folder: Path, lock: T.IO | None) -> "subprocess.Popen":
        code = (
            "import sys\nfrom riffnb.train.corpus import build_corpus\n"
            "build_corpus(sys.argv[1], 'train', int(sys.argv[2]), int(sys.argv[3]), workers=int(sys.argv[4]))\n"
        )
        arguments = [str(folder), str(self.recipe.train_clips), str(self.recipe.corpus_seed), str(self.corpus_workers)]
        log(f"rendering {self.recipe.train_clips} training clips into {folder} in a separate process")
        # A process group of its own, so that stopping it also stops the processes it forks to render; and the
        # lock's descriptor, so that the work folder stays locked while it renders even if this process is killed.
        return subprocess.Popen([sys.executable, "-c", code, *arguments], start_new_session=True,
                                pass_fds=() if lock is None else (lock.fileno(),))

    def _partial_corpus(self, folder: Path, renderer) -> tuple[np.ndarray, T.Callable[[], int]]:
        """The images of a corpus being rendered (memory-mapped) and a function giving how many are finished."""
        part = folder.with_name(folder.name + ".part")
        minimum = min(self.recipe.train_clips, 4 * self.recipe.vae_batch)

        def available() -> int:
            try:
                return json.loads((part / "progress.json").read_text())["done"]
            except (OSError, ValueError):
                return self.recipe.train_clips if (folder / "specs.json").is_file() else 0

        while available() < minimum:
            _check_renderer(folder, renderer)
            time.sleep(2)
        source = folder if (folder / "specs.json").is_file() else part
        # The open memory map stays valid when the renderer renames the folder at the end.
        return np.load(source / "images.npy", mmap_mode="r"), available

    def _checkpoint_due(self, last: float) -> bool:
        return time.time() - last >= self.checkpoint_seconds

    def train_vae(self, images: np.ndarray, available: T.Callable[[], int] | None = None) -> None:
        """Phase 2: the autoencoder on random half-width crops, L1 + KL.

        ``available()`` says how many leading images are ready (all of them unless the corpus is still rendering).
        """
        import torch
        import torch.nn.functional as F

        recipe = self.recipe
        self.vae.train()
        last_save = time.time()
        started, losses = time.time(), []
        ready = available() if available else len(images)
        while self.step < recipe.vae_steps and not self.stop_requested:
            if ready < len(images) and self.step % 25 == 0:
                ready = available()
            lr = _learning_rate(recipe.vae_lr, self.step, recipe.warmup_steps, recipe.vae_steps)
            for group in self.vae_optimizer.param_groups:
                group["lr"] = lr
            x = _pixels_to_tensor(self._random_crops(images, ready, self.rng))
            posterior = self.vae.encode(x).latent_dist
            reconstruction = self.vae.decode(posterior.sample()).sample
            l1 = F.l1_loss(reconstruction, x)
            kl = posterior.kl().mean() / posterior.mean[0].numel()
            loss = l1 + recipe.kl_weight * kl + recipe.gradient_weight * _gradient_l1(reconstruction, x)
            self.vae_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.vae.parameters(), 1.0)
            self.vae_optimizer.step()
            self.step += 1
            losses.append((l1.item(), kl.item()))
            if self.step % self.log_every == 0 or self.step == recipe.vae_steps:
                l1_mean, kl_mean = np.mean(losses, axis=0)
                rate = len(losses) / (time.time() - started)
                log(f"vae step {self.step}/{recipe.vae_steps} l1 {l1_mean:.4f} kl {kl_mean:.3f} lr {lr:.2e} "
                    f"{rate:.2f} steps/s on {ready} clips")
                self._metrics(l1=float(l1_mean), kl=float(kl_mean), lr=lr, steps_per_s=rate)
                started, losses = time.time(), []
            if self._checkpoint_due(last_save):
                self.save_checkpoint()
                last_save = time.time()
        if self.step >= recipe.vae_steps:
            self.phase, self.step = "latents", 0
        self.save_checkpoint()

    def _random_crops(self, images: np.ndarray, ready: int, rng: np.random.Generator) -> np.ndarray:
        """``vae_batch`` random ``vae_crop``-wide crops of the first ``ready`` images."""
        recipe = self.recipe
        index = np.sort(rng.integers(0, ready, recipe.vae_batch))
        offsets = rng.integers(0, images.shape[2] - recipe.vae_crop + 1, recipe.vae_batch)
        return np.stack([images[i, :, o : o + recipe.vae_crop] for i, o in zip(index, offsets)])

    def latents_path(self) -> Path:
        return self.workdir / "latents.npz"

    def encode_latents(self, images: np.ndarray, batch: int = 32) -> None:
        """Phase 3: encode every clip once; set the scaling factor; cache mean and std in ``latents.npz``."""
        import torch

        self.vae.eval()
        means, stds = [], []
        started = time.time()
        with torch.no_grad():
            for start in range(0, len(images), batch):
                posterior = self.vae.encode(_pixels_to_tensor(images[start : start + batch])).latent_dist
                means.append(posterior.mean.numpy())
                stds.append(posterior.std.numpy())
        mean, std = np.concatenate(means), np.concatenate(stds)
        # Stable Diffusion scales latents to unit variance so the noise schedule's signal-to-noise ratios hold.
        spread = float(np.sqrt(np.mean(mean**2 + std**2) - np.mean(mean) ** 2))
        if self.unet_start_step == 0:
            # A continued UNet keeps the scale it was trained with.
            self.scaling_factor = 1.0 / spread
        temporary = self.workdir / f".latents.{os.getpid()}.part.npz"
        np.savez(temporary, mean=mean.astype(np.float32), std=std.astype(np.float32))
        os.replace(temporary, self.latents_path())
        reconstruction_error = self.reconstruction_error(images[: min(len(images), 64)])
        log(
            f"encoded {len(images)} clips in {time.time() - started:.0f} s: latent std {spread:.3f}, scaling factor "
            f"{self.scaling_factor:.4f}, reconstruction L1 {reconstruction_error:.4f} (pixels in [-1, 1])"
        )
        self._metrics(scaling_factor=self.scaling_factor, reconstruction_l1=reconstruction_error)
        self.phase, self.step = "unet", self.unet_start_step
        self.save_checkpoint()

    def reconstruction_error(self, images: np.ndarray) -> float:
        """Mean absolute error of the autoencoder on full images (pixels in [-1, 1]), using the latent means."""
        import torch

        with torch.no_grad():
            x = _pixels_to_tensor(images)
            y = self.vae.decode(self.vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
        return float((y - x).abs().mean())

    def encode_captions(self, captions: list[str], text_encoder=None) -> "torch.Tensor":
        """Text-encoder hidden states ``(b, 77, width)`` for ``captions``, as StableDiffusionPipeline computes them."""
        ids = self.tokenizer(
            captions, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids
        return (text_encoder or self.text_encoder)(ids)[0]

    def train_unet(self, specs: list[ClipSpec]) -> None:
        """Phase 4: UNet and text encoder on cached latents with v-prediction; EMA of both."""
        import torch

        recipe = self.recipe
        cached = np.load(self.latents_path())
        latent_mean, latent_std = cached["mean"], cached["std"]
        self.unet.train()
        self.text_encoder.train()
        parameters = list(self.unet.parameters()) + list(self.text_encoder.parameters())
        last_save = time.time()
        last_run = [time.time()] * len(self.periodic_tasks)
        started, losses = time.time(), []
        while self.step < recipe.unet_steps and not self.stop_requested:
            lr = _learning_rate(recipe.unet_lr, self.step - self.unet_start_step, recipe.warmup_steps,
                                recipe.unet_steps - self.unet_start_step, recipe.unet_cooldown_steps)
            for group in self.unet_optimizer.param_groups:
                group["lr"] = lr
            index = self.rng.integers(0, len(specs), recipe.unet_batch)
            captions = [
                "" if self.caption_rng.random() < recipe.caption_dropout else caption_for(specs[i], self.caption_rng)
                for i in index
            ]
            mean = torch.from_numpy(latent_mean[index])
            std = torch.from_numpy(latent_std[index])
            latents = (mean + std * torch.randn_like(mean)) * self.scaling_factor
            noise = torch.randn_like(latents)
            timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(index),))
            loss = v_prediction_loss(self.unet, self.scheduler, latents, noise, timesteps,
                                     self.encode_captions(captions))
            self.unet_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            self.unet_optimizer.step()
            self.unet_ema.update(self.unet, self.step)
            self.text_ema.update(self.text_encoder, self.step)
            self.step += 1
            losses.append(loss.item())
            if self.step % self.log_every == 0 or self.step == recipe.unet_steps:
                rate = len(losses) / (time.time() - started)
                log(f"unet step {self.step}/{recipe.unet_steps} loss {np.mean(losses):.4f} lr {lr:.2e} {rate:.2f} steps/s")
                self._metrics(loss=float(np.mean(losses)), lr=lr, steps_per_s=rate)
                started, losses = time.time(), []
            if self._checkpoint_due(last_save):
                self.save_checkpoint()
                last_save = time.time()
            for number, (interval, task) in enumerate(self.periodic_tasks):
                if time.time() - last_run[number] >= interval:
                    task()
                    last_run[number] = time.time()
        if self.step >= recipe.unet_steps:
            self.phase = "decoder"
        self.save_checkpoint()

    def _decoder_parameters(self) -> list:
        return list(self.vae.decoder.parameters()) + list(self.vae.post_quant_conv.parameters())

    def train_decoder(self, images: np.ndarray) -> None:
        """Phase 5: the autoencoder's decoder alone, on latents drawn from the frozen encoder; L1 + gradient L1.

        The encoder, and so every latent the UNet learnt from, stays as it is: only how latents are drawn changes.
        The phase has random streams of its own, so a UNet lengthened after it replays exactly as if it had not run.
        """
        import torch
        import torch.nn.functional as F

        recipe = self.recipe
        self.vae.train()
        parameters = self._decoder_parameters()
        last_save = time.time()
        started, losses = time.time(), []
        while self.decoder_step < recipe.decoder_steps and not self.stop_requested:
            lr = _learning_rate(recipe.decoder_lr, self.decoder_step, recipe.warmup_steps, recipe.decoder_steps)
            for group in self.decoder_optimizer.param_groups:
                group["lr"] = lr
            x = _pixels_to_tensor(self._random_crops(images, len(images), self.decoder_rng))
            with torch.no_grad():
                latents = self.vae.encode(x).latent_dist.sample(generator=self.decoder_generator)
            reconstruction = self.vae.decode(latents).sample
            l1 = F.l1_loss(reconstruction, x)
            loss = l1 + recipe.gradient_weight * _gradient_l1(reconstruction, x)
            self.decoder_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            self.decoder_optimizer.step()
            self.decoder_step += 1
            losses.append(l1.item())
            if self.decoder_step % self.log_every == 0 or self.decoder_step == recipe.decoder_steps:
                rate = len(losses) / (time.time() - started)
                log(f"decoder step {self.decoder_step}/{recipe.decoder_steps} l1 {np.mean(losses):.4f} lr {lr:.2e} "
                    f"{rate:.2f} steps/s")
                self._metrics(l1=float(np.mean(losses)), lr=lr, steps_per_s=rate, decoder_step=self.decoder_step)
                started, losses = time.time(), []
            if self._checkpoint_due(last_save):
                self.save_checkpoint()
                last_save = time.time()
        self.vae.eval()
        if self.decoder_step >= recipe.decoder_steps:
            self.phase = "done"
        self.save_checkpoint()

    # ------------------------------------------------------------------------------------------------------------
    # Output

    def diffusers_pipeline(self):
        """A :class:`~diffusers.StableDiffusionPipeline` of the current weights (EMA for UNet and text encoder)."""
        from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

        vae = copy.deepcopy(self.vae).eval()
        vae.register_to_config(scaling_factor=self.scaling_factor)
        sampler = DPMSolverMultistepScheduler.from_config(self.scheduler.config, algorithm_type="dpmsolver++")
        return StableDiffusionPipeline(
            vae=vae,
            text_encoder=copy.deepcopy(self.text_ema.module).eval(),
            tokenizer=self.tokenizer,
            unet=copy.deepcopy(self.unet_ema.module).eval(),
            scheduler=sampler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    def preview(self, prompts: T.Sequence[str] = PREVIEW_PROMPTS, seed: int = 0) -> Path:
        """Draw ``prompts`` with the EMA weights into ``previews/unet-<step>.png`` (one image per row)."""
        import torch
        from PIL import Image

        pipeline = self.diffusers_pipeline()
        pipeline.set_progress_bar_config(disable=True)
        rng_state = torch.get_rng_state()
        rows = []
        for prompt in prompts:
            generator = torch.Generator().manual_seed(seed)
            image = pipeline(
                prompt, height=TINY_PARAMS.num_frequencies, width=IMAGE_WIDTH, num_inference_steps=SAMPLING_DEFAULTS.steps,
                guidance_scale=SAMPLING_DEFAULTS.guidance, generator=generator,
            ).images[0]
            rows.append(np.asarray(image.convert("L")))
        # Sampling must not change the training run's random stream (resume has to reproduce it exactly).
        torch.set_rng_state(rng_state)
        folder = self.workdir / "previews"
        folder.mkdir(exist_ok=True)
        path = folder / f"unet-{self.step:06d}.png"
        Image.fromarray(np.concatenate(rows)).save(path)
        log(f"preview: {path}")
        return path


def _check_renderer(folder: Path, renderer: "subprocess.Popen") -> None:
    """Raise if the corpus renderer has failed, that is exited with an error and left no complete corpus.

    A renderer racing another on the same folder (one left running by an older version, or where there is no flock)
    fails on the files the other one has moved away, although the corpus is complete.
    """
    if renderer.poll() not in (None, 0) and not (folder / "specs.json").is_file():
        raise RuntimeError(f"rendering the corpus failed (exit status {renderer.returncode})")


def _stop_renderer(renderer: "subprocess.Popen") -> None:
    """End a corpus renderer still running, and the processes it forked; the next run continues its work."""
    if renderer.poll() is not None:
        return
    log("stopping the corpus renderer; the next run continues from the clips it finished")
    if hasattr(os, "killpg"):
        os.killpg(renderer.pid, signal.SIGTERM)
    else:
        renderer.terminate()
    renderer.wait()


def _is_exported_pipeline(folder: Path) -> bool:
    return (folder / "model_index.json").is_file() and (folder / SETTINGS_FILE).is_file()


def _pipeline_entries(folder: Path) -> set[str]:
    """The names in the pipeline ``folder`` that an export writes: its files and its components' folders."""
    index = json.loads((folder / "model_index.json").read_text())
    return {"model_index.json", PARAMS_FILE, SETTINGS_FILE} | {name for name in index if not name.startswith("_")}


def check_export_folder(out: str | os.PathLike, workdir: str | os.PathLike) -> Path:
    """``out`` as an absolute path, after checking that exporting the run in ``workdir`` there loses nothing.

    ``out`` must be a new or empty folder, or a pipeline exported before (the export replaces it and keeps the files
    that are not part of the pipeline, such as README.md); and neither the work folder, nor a folder holding it, nor
    one inside it other than ``<workdir>/pipeline``. Raises :class:`TrainingError` or
    :class:`~riffnb.errors.OutputExistsError` otherwise.
    """
    out = Path(out).expanduser().resolve()
    workdir = Path(workdir).expanduser().resolve()
    if out == workdir or out in workdir.parents:
        raise TrainingError(f"--out {out} is or holds the work folder {workdir}, which exporting there would replace "
                            "(checkpoint and all); pass a folder outside it")
    if workdir in out.parents and out != workdir / "pipeline":
        raise TrainingError(f"--out {out} is inside the work folder {workdir}, whose files belong to the run; pass a "
                            f"folder outside it, or leave out --out to export to {workdir / 'pipeline'}")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file; pass a folder")
    if out.is_dir() and not _is_exported_pipeline(out) and any(out.iterdir()):
        raise OutputExistsError(f"--out {out} holds files and is not a pipeline exported by riffnb.train (no "
                                f"model_index.json and {SETTINGS_FILE}); pass a new or empty folder")
    return out


def export_pipeline(trainer: Trainer, out: str | os.PathLike) -> Path:
    """Write the trainer's pipeline (EMA weights) to ``out`` in the diffusers layout, replacing it atomically.

    Besides what ``save_pretrained`` writes (safetensors weights, configs, the tokenizer, to which the
    tokenizer's source files are added for transformers 4), the folder gets
    ``spectrogram_params.json`` (read by :func:`riffnb.load_pipeline`) and ``riffnb.json`` (parameters, sampling
    defaults and how far the model was trained). ``out`` is checked first (:func:`check_export_folder`): a pipeline
    exported before is replaced, but what else its folder holds (README.md, HISTORY.md, ...) is kept.
    """
    out = check_export_folder(out, trainer.workdir)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.part")
    shutil.rmtree(temporary, ignore_errors=True)
    trainer.diffusers_pipeline().save_pretrained(temporary, safe_serialization=True)
    # transformers 5 saves only tokenizer.json; transformers 4's CLIPTokenizer reads vocab.json and merges.txt.
    for name in ("vocab.json", "merges.txt"):
        shutil.copy2(trainer.workdir / "tokenizer" / name, temporary / "tokenizer" / name)
    params = dataclasses.asdict(TINY_PARAMS)
    (temporary / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")
    settings = {
        "spectrogram_params": params,
        **SAMPLING_DEFAULTS.as_settings(),
        CPU_THREADS_KEY: CPU_THREADS,
        "training": {
            "phase": trainer.phase,
            "step": trainer.step,
            "vae_steps": trainer.recipe.vae_steps,
            "unet_steps_done": trainer.step if trainer.phase in ("unet", "decoder", "done") else 0,
            "decoder_steps_done": trainer.decoder_step,
            "train_clips": trainer.recipe.train_clips,
            "exported_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    (temporary / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    if _is_exported_pipeline(out):
        # Copied, not moved: until the swap below, the old folder stays whole.
        replaced = _pipeline_entries(out) | _pipeline_entries(temporary)
        for entry in out.iterdir():
            if entry.name in replaced:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, temporary / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, temporary / entry.name, follow_symlinks=False)
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    if out.exists():
        os.replace(out, old)
    os.replace(temporary, out)
    shutil.rmtree(old, ignore_errors=True)
    log(f"exported {out} (phase {trainer.phase}, step {trainer.step})")
    return out


__all__ = [
    "FULL_RECIPE", "LOCK_FILE", "PREVIEW_PROMPTS", "Recipe", "SMOKE_RECIPE", "STEP_FIELDS", "Trainer", "TrainingError",
    "check_export_folder", "export_pipeline", "recipe_name",
]
