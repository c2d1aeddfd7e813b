"""ESC-50: download the release, keep the 10 animal classes, convert, split by fold.

ESC-50's folds keep clips cut from the same source recording together, so every
split here is by fold, never at random.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pandas as pd
import soundfile as sf

from animal_audio.audio import SAMPLE_RATE, resample, write_wav
from animal_audio.errors import DatasetError
from animal_audio.fileio import atomic_dir, atomic_path
from animal_audio.labels import CLASSES
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report
from animal_audio.settings import ESC50_URL

log = logging.getLogger(__name__)

FOLDS = (1, 2, 3, 4, 5)
MANIFEST = "animals.csv"
META = Path("meta") / "esc50.csv"
ARCHIVE_ROOT = "ESC-50-master"
DEFAULT_TRAIN_FOLDS = (1, 2, 3)
DEFAULT_VALIDATION_FOLDS = (4,)
DEFAULT_TEST_FOLDS = (5,)
#: The release's zip (~600 MB) and the 2000 WAVs it extracts to (44.1 kHz PCM16, ~880 MB): both on disk
#: while it extracts.
ARCHIVE_BYTES = 650_000_000
EXTRACTED_BYTES = 900_000_000
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- download


def download(
    dest: str | os.PathLike[str],
    *,
    url: str = ESC50_URL,
    sha256: Optional[str] = None,
    progress: Optional[ProgressCallback] = None,
    timeout: float = 60.0,
    cancel: Optional[CancelCheck] = None,
) -> Path:
    """Fetch and extract the ESC-50 release into `dest`; returns the folder with meta/ and audio/.

    An interrupted (or cancelled) download resumes from the `.part` file (HTTP Range); the archive
    is verified (zip CRCs, expected layout, optional sha256) before anything is
    extracted, and extraction happens in a temp folder moved into place at the end.
    """
    dest = Path(dest)
    target = dest / ARCHIVE_ROOT
    if (target / META).is_file():
        return target
    archive = dest / "ESC-50.zip"
    _require_space(dest, archive)
    dest.mkdir(parents=True, exist_ok=True)
    if not archive.is_file():
        _fetch(url, archive, progress=progress, timeout=timeout, cancel=cancel)
    try:
        root = verify_archive(archive, sha256=sha256)
    except DatasetError:
        archive.unlink(missing_ok=True)  # a bad archive must not be reused on the next try
        raise
    check_cancel(cancel, "the ESC-50 download")
    report(progress, "extract", 0.0, "extracting ESC-50")
    with atomic_dir(target) as tmp, zipfile.ZipFile(archive) as zf:
        _extract_folder(zf, root, tmp)
    archive.unlink(missing_ok=True)
    report(progress, "extract", 1.0, f"ESC-50 ready in {target}")
    return target


def _require_space(dest: Path, archive: Path) -> None:
    """DiskSpaceError before any byte is fetched when the zip (less what a stopped download left) and its
    extraction would not fit."""
    from animal_audio.housekeeping import require_free_space

    part = archive.with_name(archive.name + ".part")
    fetched = ARCHIVE_BYTES if archive.is_file() else part.stat().st_size if part.is_file() else 0
    need = max(0, ARCHIVE_BYTES - fetched) + EXTRACTED_BYTES
    advice = "Free some space, or set ANIMAL_AUDIO_ESC50 to a copy of ESC-50 already on this machine."
    require_free_space({dest: need}, "the ESC-50 download", advice)


def _extract_folder(zf: zipfile.ZipFile, root: str, into: Path) -> None:
    """The contents of the archive's top-level folder `root`, written straight into `into`."""
    prefix = f"{root}/"
    for member in zf.infolist():
        if member.filename.startswith(prefix) and member.filename != prefix:
            member.filename = member.filename[len(prefix) :]  # the data is found by its header offset
            zf.extract(member, into)


def _fetch(
    url: str,
    archive: Path,
    *,
    progress: Optional[ProgressCallback],
    timeout: float,
    cancel: Optional[CancelCheck],
) -> None:
    """Download to `archive.part`, resuming what a previous try left; a cancel keeps the chunks written."""
    check_cancel(cancel, "the ESC-50 download")
    part = archive.with_name(archive.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            if not resumed:
                have = 0  # the server ignored Range: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length else None
            with open(part, "ab" if resumed else "wb") as out:
                done = have
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    message = f"{done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else "")
                    report(progress, "download", done / total if total else 0.0, message)
                    check_cancel(cancel, "the ESC-50 download")
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # range past the end: the .part is complete
            os.replace(part, archive)
            return
        raise DatasetError(
            f"Downloading ESC-50 failed ({error}). Try again later, or pass --esc50-dir to a local copy."
        ) from error
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetError(
            f"Downloading ESC-50 failed ({error}). Check the internet connection and run "
            "again: the download resumes where it stopped. Or pass --esc50-dir to a local copy."
        ) from error
    os.replace(part, archive)


def verify_archive(archive: str | os.PathLike[str], *, sha256: Optional[str] = None) -> str:
    """Check the zip is complete and is ESC-50; returns its top-level folder name."""
    archive = Path(archive)
    if sha256:
        digest = hashlib.sha256()
        with open(archive, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256.lower():
            raise DatasetError(f"{archive.name} does not match its checksum: delete it and download again.")
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise DatasetError(
            f"{archive.name} is not a complete zip archive ({error}); download it again."
        ) from error
    if bad is not None:
        raise DatasetError(f"{archive.name} is corrupt (first bad member: {bad}); download it again.")
    metas = [n for n in names if n.endswith("meta/esc50.csv")]
    if len(metas) != 1 or not any("/audio/" in n and n.endswith(".wav") for n in names):
        raise DatasetError(
            f"{archive.name} does not look like the ESC-50 release (no meta/esc50.csv or audio/)."
        )
    return metas[0].split("/")[0]


# --------------------------------------------------------------------------- prepare


@dataclass
class PrepareResult:
    """What `prepare` did, for the CLI summary and the app log."""

    manifest: Path
    table: pd.DataFrame
    converted: int = 0
    reused: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = self.table.groupby(["label", "split"]).size().unstack(fill_value=0)
        per_class = ", ".join(
            f"{label} {int(counts.loc[label].sum())}" for label in CLASSES if label in counts.index
        )
        per_split = ", ".join(f"{s} {int(n)}" for s, n in self.table["split"].value_counts().items())
        return (
            f"{len(self.table)} clips ({self.converted} converted, {self.reused} reused) | "
            f"per class: {per_class} | per split: {per_split}"
            + (f" | {len(self.problems)} problem(s)" if self.problems else "")
        )


def read_metadata(esc50_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The animal rows of meta/esc50.csv, with a `label` column in our class names."""
    esc50_dir = Path(esc50_dir)
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
    animals = table[table["target"].isin(range(len(CLASSES)))].copy()
    animals["label"] = [CLASSES[t] for t in animals["target"]]
    return animals.sort_values(["fold", "target", "filename"]).reset_index(drop=True)


def prepare(
    esc50_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    allow_missing: bool = False,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> PrepareResult:
    """Convert the animal clips to 16 kHz mono WAV in `out_dir/audio` and write `animals.csv`.

    Idempotent: clips already converted are reused. Missing or unreadable clips are
    named in a `DatasetError` (or, with `allow_missing`, left out and listed in the result).
    """
    animals = read_metadata(esc50_dir)
    out_dir = Path(out_dir)
    audio_out = out_dir / "audio"
    audio_out.mkdir(parents=True, exist_ok=True)
    result = PrepareResult(out_dir / MANIFEST, animals)
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
            f"{len(result.problems)} of {len(animals)} animal clips could not be prepared:\n  {listed}{more}\n"
            "Download ESC-50 again (--download), or pass --allow-missing to continue without them."
        )
    for problem in result.problems:
        log.warning("left out %s", problem)
    table = animals[keep].copy()
    table["path"] = [f"audio/{f}" for f in table["filename"]]
    table["split"] = [split_name(fold) for fold in table["fold"]]
    columns = ["filename", "path", "fold", "target", "label", "split", "src_file", "take", "esc10"]
    result.table = table[[c for c in columns if c in table.columns]].reset_index(drop=True)
    _write_manifest(result.manifest, result.table)
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


def _write_manifest(path: Path, table: pd.DataFrame) -> None:
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
