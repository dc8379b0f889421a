"""``python -m riffnb.train``: train the tiny model from scratch (resumable), or export a checkpoint.

Examples
--------
::

    python -m riffnb.train --smoke --workdir /tmp/tiny-smoke          # a toy run in about a minute
    python -m riffnb.train --workdir checkpoints/tiny --out riffnb/models/tiny   # the full recipe, ~4 h on 2 cores
    python -m riffnb.train --workdir checkpoints/tiny --export-only --out riffnb/models/tiny
    # train on with the learning rate kept up, then end with a cool-down:
    python -m riffnb.train --workdir checkpoints/more --init-from riffnb/models/tiny --unet-steps 20000 \\
        --unet-cooldown-steps 0
    python -m riffnb.train --workdir checkpoints/more --unet-steps 21000 --unet-cooldown-steps 1000

Run the same command again to continue an interrupted run; ``--unet-steps`` may be raised to train longer. Once a
cool-down has run, a longer run raises the learning rate again (a warm restart), so give ``--unet-cooldown-steps 0``
until the length is final.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .train import FULL_RECIPE, SMOKE_RECIPE, Trainer, export_pipeline, log


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m riffnb.train",
        description="Train riffnb's tiny text-to-music model from scratch on a corpus riffnb composes itself.",
    )
    parser.add_argument("--workdir", default="checkpoints/tiny",
                        help="folder for the corpus, checkpoint.pt, metrics.jsonl and previews (default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help="where to write the trained pipeline (default: WORKDIR/pipeline); riffnb ships "
                             "riffnb/models/tiny")
    parser.add_argument("--smoke", action="store_true", help="a toy recipe that finishes in about a minute")
    parser.add_argument("--vae-steps", type=int, default=None, help="autoencoder steps (may be raised on resume)")
    parser.add_argument("--unet-steps", type=int, default=None, help="UNet steps (may be raised on resume)")
    parser.add_argument("--unet-cooldown-steps", type=int, default=None,
                        help="lower the UNet's learning rate to 10%% over its last N steps (may be set on resume; "
                             f"default: the recipe's, {FULL_RECIPE.unet_cooldown_steps}, none with --smoke; give 0 "
                             "while a run may still be lengthened)")
    parser.add_argument("--decoder-steps", type=int, default=None,
                        help="steps fine-tuning the autoencoder's decoder after the UNet (may be raised on resume)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--corpus-workers", type=int, default=2, help="processes rendering the corpus")
    parser.add_argument("--overlap-corpus", action="store_true",
                        help="train the autoencoder on the clips rendered so far while the rest render")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints")
    parser.add_argument("--preview-minutes", type=float, default=0.0,
                        help="minutes between preview images during the UNet phase (0: none)")
    parser.add_argument("--export-minutes", type=float, default=0.0,
                        help="also export the pipeline this often during the UNet phase (0: only at the end)")
    parser.add_argument("--init-from", default=None, metavar="PIPELINE",
                        help="start a new WORKDIR from an exported pipeline (e.g. riffnb/models/tiny) and train its "
                             "UNet further; ignored when WORKDIR already holds a checkpoint")
    parser.add_argument("--export-only", action="store_true", help="export the checkpoint in WORKDIR and exit")
    return parser.parse_args(argv)


def make_trainer(args: argparse.Namespace) -> Trainer:
    step_names = ("vae_steps", "unet_steps", "unet_cooldown_steps", "decoder_steps")
    overrides = {name: getattr(args, name) for name in step_names if getattr(args, name) is not None}
    return Trainer(
        args.workdir,
        SMOKE_RECIPE if args.smoke else FULL_RECIPE,
        step_overrides=overrides,
        checkpoint_minutes=args.checkpoint_minutes,
        preview_minutes=args.preview_minutes,
        corpus_workers=args.corpus_workers,
        overlap_corpus=args.overlap_corpus,
        init_from=args.init_from,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Spinning OpenMP threads collapse when the CPU is shared: a step measured 14.7 s with the default (active)
    # policy vs 2.2 s passive, on 2 cores with other jobs running. Must be set before torch starts its threads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    try:
        trainer = make_trainer(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or str(trainer.workdir / "pipeline")
    if args.export_only:
        if not trainer.checkpoint_path.is_file():
            print(f"error: {trainer.checkpoint_path} does not exist; train first", file=sys.stderr)
            return 2
        if trainer.phase in ("vae", "latents"):
            print(f"error: the checkpoint is still in phase {trainer.phase!r}; the UNet has not started", file=sys.stderr)
            return 2
        export_pipeline(trainer, out)
        return 0
    if args.export_minutes > 0:
        trainer.periodic_tasks.append((args.export_minutes * 60, lambda: export_pipeline(trainer, out)))
    started = time.time()
    trainer.run()
    if trainer.phase in ("unet", "decoder", "done"):
        export_pipeline(trainer, out)
    log(f"stopped at phase {trainer.phase}, step {trainer.step} after {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
