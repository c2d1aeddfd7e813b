"""What a prepared data folder holds beside its clips table: its label set (labels.json), so a run, its
report and its trained heads know which classes, in which order, without assuming the ten animals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from animal_audio.errors import DatasetError
from animal_audio.esc50 import MANIFEST
from animal_audio.fileio import read_json, write_json
from animal_audio.labels import ANIMALS, CLASSES, LabelSet

LABELS_FILE = "labels.json"


def write_labels(data_dir: str | os.PathLike[str], labels: LabelSet, folds: str = "ESC-50's folds") -> None:
    """labels.json; `folds` says where the data's folds come from (the report's protocol names it)."""
    path = Path(data_dir) / LABELS_FILE
    document = {**labels.as_dict(), "folds": folds}
    if read_json(path) != document:  # unchanged: a second prepare writes nothing
        write_json(path, document)


def check_destination(data_dir: str | os.PathLike[str], labels: LabelSet) -> None:
    """DatasetError before preparing `labels` into a folder that holds prepared clips of other classes:
    nothing another preparation (or the app's own ten animals) made is overwritten."""
    if not (Path(data_dir) / MANIFEST).is_file():
        return
    held = read_labels(data_dir)
    if held.names != labels.names:
        raise DatasetError(
            f"{data_dir} already holds prepared clips of other classes ({', '.join(held.names)}). "
            "Prepare into another folder (--out), or delete that one first."
        )


def folds_origin(data_dir: str | os.PathLike[str]) -> str:
    """Where the data's folds come from, as prepare recorded it (ESC-50's own, or seeded ones)."""
    document = read_json(Path(data_dir) / LABELS_FILE) or {}
    return str(document.get("folds") or "ESC-50's folds")


def read_labels(data_dir: str | os.PathLike[str]) -> LabelSet:
    """The data folder's label set; folders prepared before label sets existed hold the ten animals."""
    path = Path(data_dir) / LABELS_FILE
    document = read_json(path) if path.is_file() else None
    if path.is_file() and document is None:
        raise DatasetError(f"{path} is not readable JSON; prepare the data again.")
    try:
        return LabelSet.from_dict(document)
    except (TypeError, ValueError, AttributeError) as error:
        raise DatasetError(f"{path} does not hold a label set ({error}); prepare the data again.") from error


def esc50_label_set(choice: str, categories: Sequence[str]) -> LabelSet:
    """`--esc50-classes`: "animals" (the default ten), "all" (the release's 50, in target order) or names
    separated by commas, checked against the release's `categories` (target order)."""
    choice = choice.strip().lower()
    if choice in ("", "animals"):
        return ANIMALS
    if choice == "all":
        return _esc50_labels(tuple(categories))
    names = tuple(dict.fromkeys(n.strip() for n in choice.split(",") if n.strip()))
    unknown = [n for n in names if n not in categories]
    if unknown:
        raise DatasetError(f"Not ESC-50 classes: {', '.join(unknown)}. The 50 are: {', '.join(categories)}.")
    if len(names) < 2:
        raise DatasetError("Choose at least two ESC-50 classes: a classifier needs something to tell apart.")
    return ANIMALS if names == CLASSES else _esc50_labels(names)


def _esc50_labels(names: tuple[str, ...]) -> LabelSet:
    from animal_audio.audioset_map import ESC50_DISPLAY_NAMES

    return LabelSet(names, {n: ESC50_DISPLAY_NAMES[n] for n in names if n in ESC50_DISPLAY_NAMES})


def require_every_class(table: pd.DataFrame, labels: LabelSet, where: str | os.PathLike[str]) -> None:
    """DatasetError naming the classes with no clips: nothing can be learned or tested for them."""
    empty = [name for name in labels.names if not (table["label"] == name).any()]
    if empty:
        raise DatasetError(
            f"No clips of {', '.join(empty)} in {where}. Prepare the data from a folder or an ESC-50 copy "
            "that holds them (e.g. the full release: `python -m train prepare --download`)."
        )
    unknown = sorted(set(table["label"]) - set(labels.names))
    if unknown:
        raise DatasetError(f"{where} lists clips of {', '.join(map(str, unknown))}, not in its label set.")
