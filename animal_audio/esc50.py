"""ESC-50: keep the chosen classes of the release (the 10 animals by default), convert, split by fold.

ESC-50's folds keep clips cut from the same source recording together, so every
split here is by fold, never at random.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pandas as pd
import soundfile as sf

from animal_audio.audio import SAMPLE_RATE, resample, write_wav
from animal_audio.errors import DatasetError
from animal_audio.esc50_download import ARCHIVE_ROOT, META, download, verify_archive  # noqa: F401 - re-exported
from animal_audio.fileio import atomic_path
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

FOLDS = (1, 2, 3, 4, 5)
MANIFEST = "animals.csv"
DEFAULT_TRAIN_FOLDS = (1, 2, 3)
DEFAULT_VALIDATION_FOLDS = (4,)
DEFAULT_TEST_FOLDS = (5,)


# --------------------------------------------------------------------------- prepare


@dataclass
class PrepareResult:
    """What `prepare` did, for the CLI summary and the app log."""

    manifest: Path
    table: pd.DataFrame
    converted: int = 0
    reused: int = 0
    problems: list[str] = field(default_factory=list)
    labels: LabelSet = ANIMALS
    #: Classes this copy of the release holds no clip of (e.g. the animals-only copy asked for rain), with
    #: the file names it looked for.
    absent: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        counts = self.table["label"].value_counts()
        per_class = ", ".join(f"{label} {int(counts.get(label, 0))}" for label in self.labels.names)
        per_split = ", ".join(f"{s} {int(n)}" for s, n in self.table["split"].value_counts().items())
        return (
            f"{len(self.table)} clips ({self.converted} converted, {self.reused} reused) | "
            f"per class: {per_class} | per split: {per_split}"
            + (f" | {len(self.problems)} problem(s)" if self.problems else "")
        )


def read_metadata(esc50_dir: str | os.PathLike[str], labels: LabelSet = ANIMALS) -> pd.DataFrame:
    """The rows of meta/esc50.csv of `labels`' classes: `label` is the category, `target` its index there."""
    table = _read_meta(Path(esc50_dir))
    chosen = table[table["category"].isin(labels.names)].copy()
    chosen["label"] = chosen["category"]
    chosen["target"] = [labels.index(c) for c in chosen["category"]]
    return chosen.sort_values(["fold", "target", "filename"]).reset_index(drop=True)


def categories(esc50_dir: str | os.PathLike[str]) -> list[str]:
    """The release's class names in target order (what `--esc50-classes` chooses from)."""
    table = _read_meta(Path(esc50_dir))
    return table.drop_duplicates("target").sort_values("target")["category"].tolist()


def _read_meta(esc50_dir: Path) -> pd.DataFrame:
    meta = esc50_dir / META
    if not meta.is_file():
        raise DatasetError(
            f"No ESC-50 metadata at {meta}. Point --esc50-dir (or ANIMAL_AUDIO_ESC50) at the "
            "folder holding meta/ and audio/, or use --download to fetch the release."
        )
    try:
        table = pd.read_csv(meta)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise DatasetError(f"{meta} is not a readable CSV ({error}); download ESC-50 again.") from error
    missing = {"filename", "fold", "target", "category"} - set(table.columns)
    if missing:
        raise DatasetError(f"{meta} lacks columns {sorted(missing)}; is this ESC-50's esc50.csv?")
    return table


def prepare(
    esc50_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: LabelSet = ANIMALS,
    allow_missing: bool = False,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> PrepareResult:
    """Convert the clips of `labels`' classes to 16 kHz mono WAV in `out_dir/audio`, write `animals.csv`
    (the manifest keeps its name whatever the classes) and `labels.json`.

    Idempotent: clips already converted are reused. Missing or unreadable clips are named in a
    `DatasetError` (or, with `allow_missing`, left out and listed in the result); a class none of whose
    files exist is one this copy does not hold: listed in `absent`, not an error.
    """
    from animal_audio.datasets import check_destination, write_labels

    check_destination(out_dir, labels)
    animals = read_metadata(esc50_dir, labels)
    out_dir = Path(out_dir)
    audio_out = out_dir / "audio"
    audio_out.mkdir(parents=True, exist_ok=True)
    result = PrepareResult(out_dir / MANIFEST, animals, labels=labels)
    audio_in = Path(esc50_dir) / "audio"
    present = {row.label for row in animals.itertuples() if (audio_in / row.filename).is_file()}
    for row in animals.itertuples(index=False):
        if row.label not in present:
            result.absent.setdefault(row.label, []).append(row.filename)
    animals = animals[animals["label"].isin(present)].reset_index(drop=True)
    keep = []
    for i, row in enumerate(animals.itertuples(index=False)):
        check_cancel(cancel, "data preparation")
        src = Path(esc50_dir) / "audio" / row.filename
        dst = audio_out / row.filename
        if is_prepared(dst):
            result.reused += 1
            keep.append(True)
        else:
            problem = _convert(src, dst)
            if problem:
                result.problems.append(f"{row.filename}: {problem}")
            else:
                result.converted += 1
            keep.append(problem is None)
        report(progress, "prepare", (i + 1) / len(animals), row.filename)
    if result.problems and not allow_missing:
        listed = "\n  ".join(result.problems[:20])
        more = f"\n  ... and {len(result.problems) - 20} more" if len(result.problems) > 20 else ""
        raise DatasetError(
            f"{len(result.problems)} of {len(animals)} clips could not be prepared:\n  {listed}{more}\n"
            "Download ESC-50 again (--download), or pass --allow-missing to continue without them."
        )
    for problem in result.problems:
        log.warning("left out %s", problem)
    table = animals[keep].copy()
    table["path"] = [f"audio/{f}" for f in table["filename"]]
    table["split"] = [split_name(fold) for fold in table["fold"]]
    columns = ["filename", "path", "fold", "target", "label", "split", "src_file", "take", "esc10"]
    result.table = table[[c for c in columns if c in table.columns]].reset_index(drop=True)
    write_manifest(result.manifest, result.table)
    write_labels(out_dir, labels)
    return result


def is_prepared(path: Path) -> bool:
    """A converted clip exists and has the right format (atomic writes make this enough)."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return info.samplerate == SAMPLE_RATE and info.channels == 1 and info.frames > 0


def _convert(src: Path, dst: Path) -> Optional[str]:
    """Convert one clip; returns a problem description instead of raising."""
    if not src.is_file():
        return "missing"
    try:
        samples, rate = sf.read(src, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        return f"unreadable ({error})"
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        return "empty or invalid samples"
    waveform = resample(samples.mean(axis=1), rate)
    write_wav(dst, np.clip(waveform, -1.0, 1.0))
    return None


def write_manifest(path: Path, table: pd.DataFrame) -> None:
    text = table.to_csv(index=False)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return  # unchanged: a second run writes nothing
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def load_manifest(data_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The prepared table, with `path` made absolute."""
    data_dir = Path(data_dir)
    manifest = data_dir / MANIFEST
    if not manifest.is_file():
        raise DatasetError(
            f"No prepared data at {data_dir} ({MANIFEST} missing). Run "
            f"`python -m train prepare --esc50-dir <ESC-50 folder> --out {data_dir}` first."
        )
    table = pd.read_csv(manifest)
    table["path"] = [str(data_dir / p) for p in table["path"]]
    return table


# --------------------------------------------------------------------------- splits


def split_name(fold: int) -> str:
    """Which part of the default split a fold belongs to."""
    if fold in DEFAULT_TEST_FOLDS:
        return "test"
    if fold in DEFAULT_VALIDATION_FOLDS:
        return "validation"
    return "train"


@dataclass(frozen=True)
class Split:
    """Train / validation / test rows, chosen by fold."""

    name: str
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    @property
    def train_and_validation(self) -> pd.DataFrame:
        """For models that need no early stopping: more data, same test fold."""
        return pd.concat([self.train, self.validation], ignore_index=True)


def fold_split(
    table: pd.DataFrame,
    train: tuple[int, ...] = DEFAULT_TRAIN_FOLDS,
    validation: tuple[int, ...] = DEFAULT_VALIDATION_FOLDS,
    test: tuple[int, ...] = DEFAULT_TEST_FOLDS,
    name: str = "folds 1-3 / 4 / 5",
) -> Split:
    """Rows of the given folds; folds may not overlap."""
    if set(train) & set(validation) or set(train) & set(test) or set(validation) & set(test):
        raise DatasetError("Train, validation and test folds must not overlap.")

    def rows(folds: tuple[int, ...]) -> pd.DataFrame:
        return table[table["fold"].isin(folds)].reset_index(drop=True)

    return Split(name, rows(train), rows(validation), rows(test))


def cross_validation_splits(table: pd.DataFrame) -> Iterator[Split]:
    """ESC-50's 5-fold CV: test on fold k, validate on the next fold, train on the other three."""
    for k in FOLDS:
        val = k % len(FOLDS) + 1
        train = tuple(f for f in FOLDS if f not in (k, val))
        yield fold_split(table, train, (val,), (k,), name=f"test fold {k}")
