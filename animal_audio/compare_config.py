"""What a comparison run compares and how: the model names, the protocols and CompareConfig.

Its own module so the pipeline, the run directory files and the time estimate share
one definition without importing each other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from animal_audio import esc50
from animal_audio.datasets import read_labels
from animal_audio.errors import AnimalAudioError, DatasetError
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.pooling import DEFAULT_POOLING, POOLINGS

#: "ensemble" combines the others chosen with it (ensemble.py), so it comes last.
MODEL_NAMES = ("hubert-finetune", "hubert-probe", "yamnet-zeroshot", "yamnet-probe", "ensemble")
PROTOCOLS = ("folds", "cv")


@dataclass(frozen=True)
class CompareConfig:
    """What to compare and how; everything a run needs to be repeated.

    `esc50_dir`: an ESC-50 release to prepare into `data_dir` when that holds no
    prepared data yet. `runs_dir`: where `latest.json` lives (default
    `settings.runs_dir()`); `update_latest=False` leaves it alone (benchmarks).
    `max_steps` caps fine-tuning steps (tests, smoke runs). `probe_poolings`: the probes' features
    (pooling.py); with several, the validation fold chooses (head_choice.py).
    """

    data_dir: Path
    out_dir: Optional[Path] = None
    models: tuple[str, ...] = MODEL_NAMES
    protocol: str = "folds"
    hubert: Optional[str] = None
    yamnet: Optional[str] = None
    epochs: int = 10
    device: Optional[str] = None
    seed: int = 42
    fast: Optional[bool] = None
    max_steps: Optional[int] = None
    esc50_dir: Optional[Path] = None
    runs_dir: Optional[Path] = None
    update_latest: bool = True
    probe_poolings: tuple[str, ...] = (DEFAULT_POOLING,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        for name in ("out_dir", "esc50_dir", "runs_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser())
        models = parse_models(self.models)
        object.__setattr__(self, "models", models)
        poolings = parse_poolings(self.probe_poolings)
        object.__setattr__(self, "probe_poolings", poolings)
        if self.protocol not in PROTOCOLS:
            raise AnimalAudioError(f"Unknown protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}.")
        if self.epochs < 1:
            raise AnimalAudioError(f"epochs must be at least 1 (got {self.epochs}).")
        if self.max_steps is not None and self.max_steps < 1:
            raise AnimalAudioError(f"max_steps must be at least 1 (got {self.max_steps}).")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["models"] = list(self.models)
        data["probe_poolings"] = list(self.probe_poolings)
        return data

    def fingerprint(self) -> str:
        """Identifies the settings that change results, so finished parts are only reused for them.

        Leaves out where results go, which models (parts are per model) and the device.
        """
        data = self.to_dict()
        for key in ("out_dir", "models", "device", "runs_dir", "update_latest", "esc50_dir"):
            data.pop(key, None)
        data["data_dir"] = str(Path(data["data_dir"]).resolve())
        labels = _data_labels(self.data_dir)
        if not labels.is_animals:  # the same folder prepared again for other classes: nothing to reuse
            data["labels"] = list(labels.names)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _data_labels(data_dir: Path) -> LabelSet:
    """The prepared data's label set (the animals where none is prepared yet or it is unreadable)."""
    try:
        return read_labels(data_dir)
    except DatasetError:
        return ANIMALS


def parse_models(models: str | Sequence[str]) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> validated, de-duplicated names in the order given."""
    names = models.split(",") if isinstance(models, str) else list(models)
    names = [n.strip().lower() for n in names if n and n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise AnimalAudioError(
            f"Unknown model name(s): {', '.join(unknown)}. Choose from: {', '.join(MODEL_NAMES)}."
        )
    if not names:
        raise AnimalAudioError(f"No models chosen. Choose from: {', '.join(MODEL_NAMES)}.")
    return tuple(dict.fromkeys(names))


def parse_poolings(poolings: str | Sequence[str]) -> tuple[str, ...]:
    """'mean,mean+max' or a list -> validated, de-duplicated poolings (pooling.POOLINGS)."""
    names = poolings.split(",") if isinstance(poolings, str) else list(poolings)
    names = [n.strip().lower() for n in names if n and n.strip()]
    unknown = [n for n in names if n not in POOLINGS]
    if unknown or not names:
        raise AnimalAudioError(
            f"Unknown or no probe pooling(s): {', '.join(unknown) or '(none)'}. Choose from: {', '.join(POOLINGS)}."
        )
    return tuple(dict.fromkeys(names))


def protocol_splits(table: pd.DataFrame, protocol: str) -> list[esc50.Split]:
    """The train/validation/test splits of `protocol`; fails when the data lacks folds."""
    splits = list(esc50.cross_validation_splits(table)) if protocol == "cv" else [esc50.fold_split(table)]
    for split in splits:
        if split.test.empty or split.train.empty:
            raise DatasetError(
                f"Split {split.name!r} has no training or no test clips: the prepared data "
                "lacks folds. Prepare all five ESC-50 folds."
            )
    return splits
