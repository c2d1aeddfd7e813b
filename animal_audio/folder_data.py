"""Your own sounds prepared like ESC-50: a folder with one subfolder per class (`DIR/<label>/*.wav`, flac,
ogg, mp3) becomes 16 kHz mono clips, animals.csv and labels.json. With no folds in the data, seeded
stratified folds are recorded in the CSV (clips of one original recording kept together), so the fold
protocols (folds 1-3 / 4 / 5, and 5-fold CV) work unchanged."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from animal_audio.audio import read_clip, write_wav
from animal_audio.errors import AudioError, DatasetError
from animal_audio.esc50 import FOLDS, MANIFEST, PrepareResult, is_prepared, split_name, write_manifest
from animal_audio.labels import LabelSet
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: Clips longer than this are cut (the models read the first seconds; ESC-50's are 5 s).
MAX_CLIP_SECONDS = 30.0
#: Names that say which recording a clip was cut from: ESC-50's `<fold>-<source>-<take>-<target>`, or a
#: stem ending in a take/part number ("bark_2", "bark-take3", "bark (2)", "bark-B").
_ESC50_NAME = re.compile(r"^\d+-(?P<source>[^-]+)-[A-Z]+-\d+$")
_TAKE_SUFFIX = re.compile(
    r"(?:[-_ ]+(?:take|part|chunk|segment|seg|clip)?[-_ ]*\d+|\s*\(\d+\)|-[A-Z])$", re.I
)


def source_recording(stem: str) -> str:
    """The name of the recording a clip was cut from, as its file name says; the stem itself otherwise."""
    match = _ESC50_NAME.match(stem)
    if match:
        return match["source"]
    previous = None
    while previous != stem and stem:
        previous, stem = stem, _TAKE_SUFFIX.sub("", stem)
    return stem.lower() or previous or ""


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its audio files (sorted, so folds do not depend on the file system's order)."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder. Pass a folder with one subfolder per class.")
    classes = {
        sub.name: sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and not sub.name.startswith(".")
    }
    classes = {name: files for name, files in classes.items() if files}
    if len(classes) < 2:
        raise DatasetError(
            f"{folder} needs two or more subfolders with audio files ({', '.join(AUDIO_SUFFIXES)}): "
            f"one per class, e.g. {folder}/dog/*.wav and {folder}/cat/*.wav."
        )
    return classes


def _refuse_same_stems(classes: dict[str, list[Path]]) -> None:
    """Two files that would become one clip (dog/a.wav and dog/a.mp3 -> dog/a.wav): a DatasetError."""
    for label, files in classes.items():
        stems: dict[Path, Path] = {}
        for path in files:
            key = path.with_suffix("")
            if key in stems:
                raise DatasetError(
                    f"{label}: {stems[key].name} and {path.name} would both become {key.name}.wav; "
                    "rename or remove one."
                )
            stems[key] = path


def assign_folds(table: pd.DataFrame, seed: int, folds: int = len(FOLDS)) -> np.ndarray:
    """Fold 1..k per clip: stratified by label, one recording's clips in one fold, seeded."""
    smallest = int(table["label"].value_counts().min())
    if smallest < folds:
        raise DatasetError(
            f"Every class needs at least {folds} clips for {folds} folds; the smallest has {smallest}."
        )
    from sklearn.model_selection import StratifiedGroupKFold  # here: the Teach tab imports this module

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = np.zeros(len(table), dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(table, table["label"], table["src_file"]), start=1):
        fold[test] = k
    return fold


def prepare_folder(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    allow_missing: bool = False,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> PrepareResult:
    """Convert every class subfolder's clips into `out_dir` (audio/<label>/...), with folds and labels.json.
    Idempotent like ESC-50's prepare; unreadable clips are a DatasetError unless `allow_missing`."""
    from animal_audio.datasets import check_destination, write_labels

    folder, out_dir = Path(folder), Path(out_dir)
    classes = class_folders(folder)
    labels = LabelSet(tuple(classes))
    check_destination(out_dir, labels)
    _refuse_same_stems(classes)
    rows, problems, converted, reused = [], [], 0, 0
    total = sum(len(files) for files in classes.values())
    for target, (label, files) in enumerate(classes.items()):
        for src in files:
            check_cancel(cancel, "data preparation")
            relative = src.relative_to(folder / label)
            dst = out_dir / "audio" / label / relative.with_suffix(".wav")
            if is_prepared(dst) and dst.stat().st_mtime >= src.stat().st_mtime:  # not recorded again since
                reused += 1
            else:
                try:
                    clip = read_clip(src, max_seconds=MAX_CLIP_SECONDS)
                except AudioError as error:
                    problems.append(f"{label}/{relative.as_posix()}: {error}")
                    continue
                write_wav(dst, clip.waveform)
                converted += 1
            rows.append(
                {
                    "filename": relative.as_posix(),
                    "path": dst.relative_to(out_dir).as_posix(),
                    "target": target,
                    "label": label,
                    "src_file": f"{label}/{source_recording(src.stem)}",
                }
            )
            report(progress, "prepare", len(rows) / total, f"{label}/{relative.as_posix()}")
    if problems and not allow_missing:
        listed = "\n  ".join(problems[:20])
        raise DatasetError(
            f"{len(problems)} of {total} clips could not be read:\n  {listed}\n"
            "Fix or remove them, or pass --allow-missing to continue without them."
        )
    table = pd.DataFrame(rows)
    table.insert(2, "fold", assign_folds(table, seed))
    table["split"] = [split_name(fold) for fold in table["fold"]]
    table = table[["filename", "path", "fold", "target", "label", "split", "src_file"]]
    result = PrepareResult(out_dir / MANIFEST, table, converted, reused, problems, labels)
    write_manifest(result.manifest, table)
    write_labels(
        out_dir,
        labels,
        f"5 stratified folds of {folder.name}/, seeded with {seed} (recordings kept together)",
    )
    log.info("folds seeded with %d; %d recordings", seed, table["src_file"].nunique())
    return result
