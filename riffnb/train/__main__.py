"""``python -m riffnb.train``: train the tiny model from scratch (resumable), or export a checkpoint.

Examples
--------
::

    python -m riffnb.train --smoke --workdir /tmp/tiny-smoke          # a toy run in about a minute
    python -m riffnb.train --workdir checkpoints/tiny --out riffnb/models/tiny   # the full recipe, ~4 h on 2 cores
    python -m riffnb.train --workdir checkpoints/tiny --export-only --out riffnb/models/tiny
    # train the shipped model on with the learning rate kept up, then end with a cool-down:
    python -m riffnb.train --workdir checkpoints/more --init-from tiny --unet-steps 20000 --unet-cooldown-steps 0
    python -m riffnb.train --workdir checkpoints/more --unet-steps 21000 --unet-cooldown-steps 1000

Run the same command again to continue an interrupted run; ``--unet-steps`` may be raised to train longer. Once a
cool-down has run, a longer run raises the learning rate again (a warm restart), so give ``--unet-cooldown-steps 0``
until the length is final. A work folder keeps the recipe it was started with (``--smoke`` or not), and only one
run at a time trains in it. Exporting over an earlier export keeps the files that are not part of the pipeline
(README.md, HISTORY.md, ...); any other folder given as ``--out`` must be new or empty.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ..errors import RiffnbError
from .train import FULL_RECIPE, SMOKE_RECIPE, Trainer, check_export_folder, export_pipeline, log

#: Default work folders: a different one for --smoke, so that a toy run never lands in (or resumes) the real one.
WORKDIR = "checkpoints/tiny"
SMOKE_WORKDIR = "checkpoints/smoke"


def _count(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _minutes(text: str) -> float:
    """An argparse type: a finite number of minutes, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be 0 or more minutes, not {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m riffnb.train",
        description="Train riffnb's tiny text-to-music model from scratch on a corpus riffnb composes itself.",
    )
    parser.add_argument("--workdir", default=None,
                        help="folder for the corpus, checkpoint.pt, metrics.jsonl and previews (default: "
                             f"{WORKDIR}, {SMOKE_WORKDIR} with --smoke)")
    parser.add_argument("--out", default=None,
                        help="where to write the trained pipeline: a new or empty folder, or an earlier export to "
                             "replace (default: WORKDIR/pipeline); riffnb ships riffnb/models/tiny")
    parser.add_argument("--smoke", action="store_true", help="a toy recipe that finishes in about a minute")
    parser.add_argument("--vae-steps", type=_count(1), default=None, help="autoencoder steps (may be raised on resume)")
    parser.add_argument("--unet-steps", type=_count(1), default=None, help="UNet steps (may be raised on resume)")
    parser.add_argument("--unet-cooldown-steps", type=_count(0), default=None,
                        help="lower the UNet's learning rate to 10%% over its last N steps (may be set on resume; "
                             f"default: the recipe's, {FULL_RECIPE.unet_cooldown_steps}, none with --smoke; give 0 "
                             "while a run may still be lengthened)")
    parser.add_argument("--decoder-steps", type=_count(0), default=None,
                        help="steps fine-tuning the autoencoder's decoder after the UNet (may be raised on resume)")
    parser.add_argument("--threads", type=_count(1), default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--corpus-workers", type=_count(1), default=2, help="processes rendering the corpus")
    parser.add_argument("--overlap-corpus", action="store_true",
                        help="train the autoencoder on the clips rendered so far while the rest render")
    parser.add_argument("--checkpoint-minutes", type=_minutes, default=5.0, help="minutes between checkpoints")
    parser.add_argument("--preview-minutes", type=_minutes, default=0.0,
                        help="minutes between preview images during the UNet phase (0: none)")
    parser.add_argument("--export-minutes", type=_minutes, default=0.0,
                        help="also export the pipeline this often during the UNet phase (0: only at the end)")
    parser.add_argument("--init-from", default=None, metavar="PIPELINE",
                        help="start a new WORKDIR from an exported pipeline, a folder written by --out or 'tiny' "
                             "(the shipped model), and train its UNet further; ignored when WORKDIR already holds a "
                             "checkpoint")
    parser.add_argument("--export-only", action="store_true", help="export the checkpoint in WORKDIR and exit")
    return parser.parse_args(argv)


def make_trainer(args: argparse.Namespace, workdir: Path) -> Trainer:
    step_names = ("vae_steps", "unet_steps", "unet_cooldown_steps", "decoder_steps")
    overrides = {name: getattr(args, name) for name in step_names if getattr(args, name) is not None}
    return Trainer(
        workdir,
        SMOKE_RECIPE if args.smoke else FULL_RECIPE,
        step_overrides=overrides,
        checkpoint_minutes=args.checkpoint_minutes,
        preview_minutes=args.preview_minutes,
        corpus_workers=args.corpus_workers,
        overlap_corpus=args.overlap_corpus,
        init_from=args.init_from,
    )


def fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir or (SMOKE_WORKDIR if args.smoke else WORKDIR))
    # Checked before anything is created or trained: a mistake here must not cost a folder, or a 4-hour run.
    if args.export_only and not (workdir / "checkpoint.pt").is_file():
        return fail(f"{workdir / 'checkpoint.pt'} does not exist; train first, or pass the --workdir of a run")
    try:
        out = check_export_folder(args.out or workdir / "pipeline", workdir)
    except RiffnbError as error:
        return fail(error)
    # Spinning OpenMP threads collapse when the CPU is shared: a step measured 14.7 s with the default (active)
    # policy vs 2.2 s passive, on 2 cores with other jobs running. Must be set before torch starts its threads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    try:
        trainer = make_trainer(args, workdir)
    except RiffnbError as error:
        return fail(error)
    if args.export_only:
        if trainer.phase in ("vae", "latents"):
            return fail(f"the checkpoint is still in phase {trainer.phase!r}; the UNet has not started")
        export_pipeline(trainer, out)
        return 0

    def export_along_the_way() -> None:
        try:
            export_pipeline(trainer, out)
        except RiffnbError as error:
            log(f"not exported: {error}")

    if args.export_minutes > 0:
        trainer.periodic_tasks.append((args.export_minutes * 60, export_along_the_way))
    started = time.time()
    try:
        trainer.run()
    except RiffnbError as error:
        return fail(error)
    if trainer.phase in ("unet", "decoder", "done"):
        try:
            export_pipeline(trainer, out)
        except RiffnbError as error:
            return fail(f"{error} (the checkpoint is saved: export it with --export-only)")
    log(f"stopped at phase {trainer.phase}, step {trainer.step} after {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
