"""`python -m train compare`: train and test the chosen models on the same ESC-50 test clips.

A re-run with the same settings (and no --out) resumes the newest unfinished run, or a finished
one that left some of the same models out: cached embeddings, finished fine-tuning checkpoints and
finished model/fold results are reused.

A model that cannot load here (e.g. HuBERT offline) is left out: the others' results are written as
usual, metrics.json lists it under "unavailable" with the reason, and the exit status is 3 (0: all ran).
"""

from __future__ import annotations

import argparse
import logging

from animal_audio import settings
from animal_audio.availability import unavailable_models
from animal_audio.compare_config import MODEL_NAMES, CompareConfig, parse_models, parse_poolings
from animal_audio.estimate import estimate_seconds
from animal_audio.formatting import duration, not_run_line, percent
from animal_audio.labels import LabelSet
from animal_audio.models.published import training_base
from animal_audio.pipeline import run_comparison
from animal_audio.pooling import DEFAULT_POOLING, POOLINGS
from animal_audio.report import headline
from animal_audio.runs import REPORT_FILE
from train.common import add_command, add_data_argument, add_model_arguments, progress_for

log = logging.getLogger(__name__)

#: Exit status when the results are written but some chosen models could not run (metrics.json "unavailable").
EXIT_SOME_NOT_RUN = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "compare",
        "train and test HuBERT / YAMNet models on the same test fold(s), write a run directory",
        __doc__,
    )
    add_data_argument(parser)
    parser.add_argument(
        "--esc50-dir", help="ESC-50 release to prepare into --data when it is not prepared yet"
    )
    parser.add_argument(
        "--out",
        help="run directory, never pruned (default: <runs>/<timestamp>, or the unfinished run to resume; "
        "the runs folder keeps the newest ANIMAL_AUDIO_KEEP_RUNS)",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODEL_NAMES),
        help=f"comma-separated subset of {', '.join(MODEL_NAMES)} (default: all)",
    )
    parser.add_argument(
        "--cv", action="store_true", help="5-fold cross-validation instead of folds 1-3 / 4 / 5"
    )
    add_model_arguments(parser)
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (default 10)")
    parser.add_argument("--max-steps", type=int, help="cap fine-tuning steps (smoke tests)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--probe-pooling",
        default=DEFAULT_POOLING,
        help=f"the probes' features, comma-separated from {', '.join(POOLINGS)}; with several, the "
        f"validation fold chooses (default {DEFAULT_POOLING})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = CompareConfig(
        data_dir=settings.data_dir(args.data),
        out_dir=args.out,
        models=parse_models(args.models),
        protocol="cv" if args.cv else "folds",
        # The app's rule too (demo/training.make_config): --hubert, else ANIMAL_AUDIO_HUBERT, as a base to train.
        hubert=args.hubert or training_base(settings.chosen(None, settings.ENV_HUBERT)),
        yamnet=args.yamnet,
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
        fast=args.fast,
        max_steps=args.max_steps,
        esc50_dir=args.esc50_dir,
        probe_poolings=parse_poolings(args.probe_pooling),
    )
    # Without --out the pipeline names the run directory (and logs it): only such runs are pruned later.
    log.info("expected time on this machine: ~%s", duration(estimate_seconds(config)))
    for name, reason in unavailable_models(config).items():  # known before anything loads
        log.warning("%s", not_run_line(name, reason))
    progress = progress_for(args)
    try:
        result = run_comparison(config, progress=progress)
    finally:
        progress.close()
    print(f"\n{headline(result.metrics)}\n")
    labels = LabelSet.from_dict(result.metrics.get("labels"))
    if not labels.is_animals:
        print(f"  {len(labels)} classes: {', '.join(labels.names)}\n")
    for name, entry in result.metrics["models"].items():
        cv = config.protocol == "cv"
        accuracy = percent(entry["accuracy"], entry.get("accuracy_std") if cv else None)
        macro_f1 = percent(entry["macro_f1"], entry.get("macro_f1_std") if cv else None)
        print(f"  {name:<16} accuracy {accuracy:<16} macro-F1 {macro_f1}")
    unavailable = result.metrics.get("unavailable") or {}
    for name, reason in unavailable.items():
        print(f"  {name:<16} {not_run_line(name, reason)}")
    print(f"\nReport: {result.run_dir / REPORT_FILE}")
    return EXIT_SOME_NOT_RUN if unavailable else 0
