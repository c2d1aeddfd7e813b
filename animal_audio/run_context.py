"""What every per-model runner of a comparison shares: the settings, the run directory, the splits.

Its own module so the runners can live in several modules (pipeline.py, probe_run.py, ensemble_run.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from animal_audio import esc50
from animal_audio.compare_config import CompareConfig
from animal_audio.evaluation import evaluate_classifier
from animal_audio.labels import ANIMALS, CLASSES, LabelSet
from animal_audio.progress import CancelCheck, ProgressCallback
from animal_audio.runs import Part, load_part, model_subdir, save_part

#: The model that combines the others (from their validation-fold predictions).
ENSEMBLE = "ensemble"


@dataclass
class RunContext:
    config: CompareConfig
    run_dir: Path
    table: pd.DataFrame
    splits: list[esc50.Split]
    progress: Optional[ProgressCallback]
    cancel: Optional[CancelCheck]
    #: The data's classes (labels.json): every model of the run answers over these, in this order.
    labels: LabelSet = ANIMALS

    def model_dir(self, name: str, split: esc50.Split) -> Path:
        return self.run_dir / model_subdir(self.config.protocol, name, split)

    def stage(self, name: str, split: esc50.Split, what: str = "") -> str:
        head = f"{name} {what}".strip()
        return head if len(self.splits) == 1 else f"{head} ({split.name})"

    def load_part(self, name: str, split: esc50.Split) -> Optional[Part]:
        """A finished part to reuse; one without validation predictions (made by an older version) is redone."""
        part = load_part(self.run_dir, self.config.fingerprint(), name, split, len(self.labels))
        return None if part is not None and part.validation_probs is None else part

    def finished(self, name: str) -> bool:
        """Whether every split of `name` has a finished part to reuse."""
        return all(self.load_part(name, split) is not None for split in self.splits)

    def save_part(self, name: str, split: esc50.Split, part: Part) -> Part:
        return save_part(self.run_dir, self.config.fingerprint(), name, split, part)

    def test(self, classifier: Any, name: str, split: esc50.Split) -> tuple[np.ndarray, float]:
        """The classifier's probabilities on the split's test clips and its seconds per clip."""
        return self.predict(classifier, name, split, split.test, "test")

    def validate(self, classifier: Any, name: str, split: esc50.Split) -> np.ndarray:
        """Its probabilities on the validation clips: the ensemble's weights and its temperature are fitted there."""
        return self.predict(classifier, name, split, split.validation, "validation")[0]

    def predict(
        self, classifier: Any, name: str, split: esc50.Split, rows: pd.DataFrame, what: str
    ) -> tuple[np.ndarray, float]:
        return evaluate_classifier(
            classifier,
            list(rows["path"]),
            progress=self.progress,
            cancel=self.cancel,
            stage=self.stage(name, split, what),
        )


def targets(table: pd.DataFrame, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Class indices of a table's labels, in the label set's order."""
    return np.array([list(classes).index(label) for label in table["label"]], dtype=np.int64)


def rows_of(paths: Sequence[str], table: pd.DataFrame) -> list[int]:
    """Indices into `paths` of the table's clips."""
    index = {path: i for i, path in enumerate(paths)}
    return [index[p] for p in table["path"]]
