"""`python -m train finetune`: fine-tune HuBERT on folds 1-3, early-stop on fold 4 (one step of `compare`).

Stopped with Ctrl-C, the same command resumes from the last saved Trainer state.
The checkpoint loads with `python -m train evaluate --model <out>/checkpoint`, the
app (ANIMAL_AUDIO_HUBERT=<out>/checkpoint) and transformers.pipeline.

On several GPUs or machines (data-parallel, the README's "Scaling out"):
    torchrun --nproc_per_node=4 -m train finetune --data DATA --precision bf16
    accelerate launch --num_processes 4 -m train finetune --data DATA
"""

from __future__ import annotations

import argparse

from animal_audio import esc50, settings
from animal_audio.datasets import read_labels, require_every_class
from animal_audio.formatting import duration
from animal_audio.models.distributed import PRECISIONS
from animal_audio.models.published import training_base
from train.common import add_command, add_data_argument, add_device_argument, progress_for


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "finetune",
        "fine-tune HuBERT on the train folds (validation fold for early stopping)",
        __doc__,
    )
    add_data_argument(parser)
    parser.add_argument(
        "--out",
        help="output folder (default: <runs>/finetune; a re-run with the same settings resumes there)",
    )
    parser.add_argument(
        "--hubert", help=f"base model, hub id or directory (default {settings.DEFAULT_HUBERT})"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs (0: off)")
    parser.add_argument("--no-augment", action="store_true", help="train on the clips as they are")
    parser.add_argument("--max-steps", type=int, help="cap optimisation steps (smoke tests)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="mixed precision on a CUDA GPU: bf16 (Ampere or newer) or fp16; refused on a CPU "
        "(default: accelerate launch's --mixed_precision, else no: float32)",
    )
    parser.add_argument(
        "--gradient-accumulation",
        type=int,
        default=1,
        metavar="N",
        help="batches per optimizer step: the effective batch is batch size x N x processes",
    )
    add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from animal_audio.models import distributed
    from animal_audio.models.finetune import DEFAULT_AUGMENT, finetune

    data = settings.data_dir(args.data)
    table, labels = esc50.load_manifest(data), read_labels(data)
    require_every_class(table, labels, data)
    split = esc50.fold_split(table)
    # A fixed default folder, so that re-running the same command resumes the stopped run.
    out = args.out or settings.runs_dir() / "finetune"
    progress = progress_for(args)
    try:
        result = finetune(
            split.train,
            split.validation,
            out,
            labels=labels,
            base=args.hubert or training_base(settings.chosen(None, settings.ENV_HUBERT)),
            epochs=args.epochs,
            seed=args.seed,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            augment=None if args.no_augment else DEFAULT_AUGMENT,
            early_stopping_patience=args.patience or None,
            device=args.device,
            max_steps=args.max_steps,
            precision=args.precision,
            gradient_accumulation=args.gradient_accumulation,
            progress=progress,
        )
    finally:
        progress.close()
    if not distributed.is_main_process():  # the main process wrote the checkpoint and reports
        return 0
    best = result.best_validation
    processes = distributed.process_count()
    on = f" on {processes} processes" if processes > 1 else ""
    print(
        f"\nBest on the validation fold: accuracy {best.get('accuracy', float('nan')):.4f}, "
        f"macro-F1 {best.get('macro_f1', float('nan')):.4f} ({duration(result.train_seconds)} of training{on})"
    )
    print(f"Checkpoint: {result.checkpoint_dir}")
    print(
        f"Test it: python -m train evaluate --data {args.data or settings.data_dir()} --model {result.checkpoint_dir}"
    )
    return 0
