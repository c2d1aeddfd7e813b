"""What a finished run reports: the predictions table and the metrics.json document.

Also records the library versions and the machine, so every number can be traced
to what produced it.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from animal_audio import esc50, paired, settings
from animal_audio.calibration import BINS as CALIBRATION_BINS
from animal_audio.calibration import calibration, fit_temperature, with_temperature
from animal_audio.compare_config import CompareConfig
from animal_audio.datasets import folds_origin
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.metrics import classification_metrics, cross_validation_metrics, labels_from_probs
from animal_audio.run_context import targets
from animal_audio.runs import Part


def predictions_table(
    splits: list[esc50.Split], parts: dict[str, list[Part]], labels: LabelSet = ANIMALS
) -> pd.DataFrame:
    """One row per test clip: fold, true label, and each model's label and probabilities over `labels`."""
    frames = []
    for i, split in enumerate(splits):
        frame = pd.DataFrame(
            {
                "filename": split.test["filename"].to_numpy(),
                "fold": split.test["fold"].to_numpy(),
                "split": split.name,
                "true_label": split.test["label"].to_numpy(),
            }
        )
        for name, model_parts in parts.items():
            probs = model_parts[i].probs
            frame[prediction_column(name)] = labels_from_probs(probs, labels.names)
            for j, label in enumerate(labels.names):
                frame[probability_column(name, label)] = np.round(probs[:, j], 6)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def prediction_column(model: str) -> str:
    return f"{model}:label"


def probability_column(model: str, label: str) -> str:
    return f"{model}:p_{label}"


def metrics_document(
    config: CompareConfig,
    splits: list[esc50.Split],
    parts: dict[str, list[Part]],
    predictions: pd.DataFrame,
    run_seconds: float,
    unavailable: Optional[dict[str, str]] = None,
    labels: LabelSet = ANIMALS,
) -> dict[str, Any]:
    """metrics.json: the numbers of every model that ran; `unavailable`: {model: why it did not run}."""
    models: dict[str, Any] = {}
    classes = labels.names
    for name, model_parts in parts.items():
        pooled = classification_metrics(
            predictions["true_label"], predictions[prediction_column(name)], classes
        )
        if config.protocol == "cv":
            folds = []
            for split in splits:
                rows = predictions["split"] == split.name
                fold_metrics = classification_metrics(
                    predictions.loc[rows, "true_label"],
                    predictions.loc[rows, prediction_column(name)],
                    classes,
                )
                fold_metrics["test_fold"] = int(split.test["fold"].iloc[0])
                folds.append(fold_metrics)
            entry = cross_validation_metrics(folds, pooled)
            for fold, part in zip(entry["folds"], model_parts):
                fold["train_seconds"] = round(part.train_seconds, 3)
        else:
            entry = pooled
        n_test = [len(s.test) for s in splits]
        # Time to train one model (the mean over CV folds); embeddings shared by the folds count in each.
        entry["train_seconds"] = round(float(np.mean([p.train_seconds for p in model_parts])), 3)
        entry["inference_seconds_per_clip"] = round(
            float(np.average([p.inference_seconds_per_clip for p in model_parts], weights=n_test)), 5
        )
        # The same number under the shorter name that readers of metrics.json may expect.
        entry["inference_seconds"] = entry["inference_seconds_per_clip"]
        entry["trained_on"] = model_parts[0].extra.get("trained_on", "")
        # What the app loads (relative to the run dir; in CV, the model of the last split) and the
        # weights it was trained from or runs on (a probe's embedder; zero-shot's YAMNet).
        entry["model_dir"] = model_parts[-1].extra.get("model_dir")
        entry["base"] = model_parts[-1].extra.get("base")
        entry["details"] = [p.extra for p in model_parts]
        entry.update(_calibration(predictions, name, classes))
        entry.update(_temperature_scaling(splits, model_parts, predictions, name, classes))
        models[name] = entry
    return {
        "labels": labels.as_dict(),
        "models": models,
        # Every pair on every clip tested (all folds in CV), from the predictions.csv being written.
        "paired": paired.paired_tests(
            predictions, list(models), seed=config.seed, per_fold=config.protocol == "cv"
        ),
        "statistics": {**paired.method(), "ece_bins": CALIBRATION_BINS},
        "unavailable": dict(unavailable or {}),
        "config": config.to_dict(),
        "protocol": _protocol_description(config.protocol, splits, folds_origin(config.data_dir)),
        "seed": config.seed,
        "versions": versions(),
        "machine": machine(config.device, any(m.startswith("hubert") for m in models)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_seconds": round(run_seconds, 1),
    }


def _calibration(predictions: pd.DataFrame, name: str, classes: tuple[str, ...]) -> dict[str, Any]:
    """ece and reliability bins of one model, from the table's rounded probabilities (predictions.csv's)."""
    probs = predictions[[probability_column(name, label) for label in classes]].to_numpy(dtype=np.float64)
    return calibration(probs, predictions["true_label"], predictions[prediction_column(name)], classes)


def _temperature_scaling(
    splits: list[esc50.Split],
    model_parts: list[Part],
    predictions: pd.DataFrame,
    name: str,
    classes: tuple[str, ...],
) -> dict[str, Any]:
    """Per split, T fitted on the validation fold's predictions and applied to the test fold's: the
    ECE after it ("temperatures" per split; "temperature": the last split's, the app's). {} when a part has
    no validation predictions."""
    if any(p.validation_probs is None for p in model_parts):
        return {}
    temperatures = [
        fit_temperature(part.validation_probs, targets(split.validation, classes))
        for split, part in zip(splits, model_parts)
    ]
    columns = [probability_column(name, label) for label in classes]
    scaled = predictions[columns].to_numpy(dtype=np.float64)
    for split, temperature in zip(splits, temperatures):
        rows = (predictions["split"] == split.name).to_numpy()
        scaled[rows] = with_temperature(scaled[rows], temperature)
    after = calibration(scaled, predictions["true_label"], predictions[prediction_column(name)], classes)
    return {"temperature": temperatures[-1], "temperatures": temperatures, "ece_calibrated": after["ece"]}


def _protocol_description(protocol: str, splits: list[esc50.Split], origin: str) -> dict[str, Any]:
    def folds(frame: pd.DataFrame) -> list[int]:
        return sorted(int(f) for f in frame["fold"].unique())

    return {
        "name": protocol,
        "description": (
            f"5-fold cross-validation over {origin}: each fold is the test set once; "
            "mean and sample std over folds"
            if protocol == "cv"
            else f"fixed split of {origin}: train folds 1-3, validation fold 4, test fold 5"
        ),
        "splits": [
            {
                "name": s.name,
                "train_folds": folds(s.train),
                "validation_folds": folds(s.validation),
                "test_folds": folds(s.test),
                "train_clips": len(s.train),
                "validation_clips": len(s.validation),
                "test_clips": len(s.test),
            }
            for s in splits
        ],
        "probes": "linear probes choose C (and pooling) on the validation fold with candidates fitted on the "
        "train folds, then refit the choice on train + validation folds",
        "ensemble": "the ensemble's weights are chosen on its members' validation-fold predictions",
        "temperature": "each model's temperature (ece_calibrated, and the app's bars) is fitted on its "
        "validation-fold predictions; predictions.csv and ece keep the probabilities the models give",
        "finetune": "fine-tuning trains on the train folds and keeps the best epoch on the validation fold",
        "zeroshot": "YAMNet zero-shot trains on nothing; its AudioSet -> class map is fixed in labels.py "
        "and audioset_map.py",
    }


def versions() -> dict[str, Optional[str]]:
    """Library versions that change numbers, read without importing the (slow) frameworks."""
    found: dict[str, Optional[str]] = {"python": platform.python_version()}
    for package in (
        "torch",
        "transformers",
        "tensorflow",
        "scikit-learn",
        "numpy",
        "pandas",
        "ai-edge-litert",
        "onnxruntime",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine(device: Optional[str] = None, uses_torch: bool = True) -> dict[str, Any]:
    """The hardware behind a result: runs and benchmarks record it the same way."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "cpu_count": settings.usable_cpus(),
        "cpu_threads": settings.cpu_threads(),
        "device": settings.torch_device(device) if uses_torch else "cpu",
    }


def _cpu_model() -> str:
    """'AMD EPYC 9V74 ...' where Linux says it; platform.processor() is often empty there."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
