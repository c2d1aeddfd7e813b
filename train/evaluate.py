"""`python -m train evaluate`: test one model on a test fold and print its metrics.

--model is one of:
  yamnet-zeroshot        YAMNet's AudioSet classes mapped onto the animals (--yamnet picks the weights)
  hubert                 the HuBERT that --hubert or ANIMAL_AUDIO_HUBERT names (checkpoint or published probe)
  DIR with config.json   a fine-tuned HuBERT checkpoint (e.g. <run>/models/hubert-finetune/checkpoint)
  DIR with probe.json    a linear probe (e.g. <run>/models/yamnet-probe); the probe records which
                         embedder it was trained on (YAMNet or HuBERT), --yamnet / --hubert its weights
                         (a probe written by `train publish` names its base HuBERT; --hubert overrides it)
  USER/NAME              a HuBERT published on the Hub by `train publish` (checkpoint or probe)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from animal_audio import esc50, settings
from animal_audio.datasets import read_labels
from animal_audio.errors import CheckpointError, DatasetError
from animal_audio.evaluation import evaluate_classifier
from animal_audio.formatting import percent
from animal_audio.labels import ANIMALS, zero_shot_problem
from animal_audio.metrics import classification_metrics, labels_from_probs
from train.common import add_command, add_data_argument, add_model_arguments, progress_for

ZERO_SHOT = "yamnet-zeroshot"
HUBERT = "hubert"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        "test one model (checkpoint dir, probe dir or yamnet-zeroshot) on a test fold",
        __doc__,
    )
    parser.add_argument(
        "--model", required=True, help="yamnet-zeroshot, hubert, a checkpoint or probe dir, or USER/NAME"
    )
    add_data_argument(parser)
    parser.add_argument("--fold", type=int, default=esc50.DEFAULT_TEST_FOLDS[0], help="test fold (default 5)")
    parser.add_argument("--json", help="also write the metrics to this JSON file")
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def load_classifier(spec: str, args: argparse.Namespace, labels: Any = None) -> Any:
    """The classifier `spec` names (see the module docstring); zero-shot answers over `labels` (a LabelSet)."""
    labels = labels or ANIMALS
    if spec in (ZERO_SHOT, "yamnet"):
        from animal_audio.models.yamnet import YamnetZeroShot

        problem = zero_shot_problem(labels)
        if problem:
            raise DatasetError(f"{ZERO_SHOT} is {problem}.")
        return YamnetZeroShot.load(args.yamnet, labels)
    from animal_audio.models.published import load_hubert

    if spec == HUBERT:
        return load_hubert(args.hubert, device=args.device, fast=args.fast, labels=labels)
    path = Path(spec)
    if (path / "checkpoint" / "config.json").is_file():
        path = path / "checkpoint"  # a fine-tuning output folder
    if (path / "probe.json").is_file():
        from animal_audio.models.probe import LinearProbe, ProbeClassifier

        probe = LinearProbe.load(path)
        if probe.embedder_name != "hubert":
            from animal_audio.models.yamnet import YamnetModel

            embedder = YamnetModel.load(args.yamnet)
            return ProbeClassifier(f"{embedder.name}-probe", embedder, probe)
    if (path / "config.json").is_file() or (path / "probe.json").is_file():
        return load_hubert(str(path), base=args.hubert, device=args.device, fast=args.fast, labels=labels)
    if settings.is_hub_id(spec) and "/" in spec:
        return load_hubert(
            spec, base=args.hubert, device=args.device, fast=args.fast, labels=labels
        )  # a hub id
    raise CheckpointError(
        f"--model {spec}: not '{ZERO_SHOT}', and no fine-tuned checkpoint (config.json) or linear "
        "probe (probe.json) in that folder. Point it at <run>/models/<model>/ of a finished comparison."
    )


def run(args: argparse.Namespace) -> int:
    data = settings.data_dir(args.data)
    table, labels = esc50.load_manifest(data), read_labels(data)
    test = table[table["fold"] == args.fold].reset_index(drop=True)
    if test.empty:
        raise DatasetError(f"No clips of fold {args.fold} in the prepared data: use --fold 1-5.")
    classifier = load_classifier(args.model, args, labels)
    progress = progress_for(args)
    try:
        probs, seconds = evaluate_classifier(classifier, list(test["path"]), progress=progress, stage="test")
    finally:
        progress.close()
    if probs.shape[1] != len(labels):
        raise CheckpointError(
            f"{args.model} answers over {probs.shape[1]} classes, the data in {data} has {len(labels)} "
            f"({', '.join(labels.names)}): test a model trained on this data."
        )
    metrics = classification_metrics(test["label"], labels_from_probs(probs, labels.names), labels.names)
    metrics.update(model=args.model, test_fold=args.fold, inference_seconds_per_clip=round(seconds, 5))
    print(f"\n{classifier.describe()}")
    print(
        f"fold {args.fold}, {len(test)} clips: accuracy {percent(metrics['accuracy'])}, "
        f"macro-F1 {percent(metrics['macro_f1'])}, {seconds:.3f} s per clip\n"
    )
    print(f"{'class':<18}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label in labels.names:
        row = metrics["per_class"][label]
        print(
            f"{labels.display_names.get(label) or labels.display(label):<18}{row['precision']:>10.3f}{row['recall']:>10.3f}"
            f"{row['f1']:>10.3f}{row['support']:>9d}"
        )
    if args.json:
        from animal_audio.fileio import write_json

        write_json(args.json, metrics)
    return 0
