"""Fetch the ESC-50 release: resumable, verified before anything is extracted, extracted atomically."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from animal_audio.errors import DatasetError
from animal_audio.fileio import atomic_dir
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report
from animal_audio.settings import ESC50_URL

META = Path("meta") / "esc50.csv"
ARCHIVE_ROOT = "ESC-50-master"
#: The release's zip (~600 MB) and the 2000 WAVs it extracts to (44.1 kHz PCM16, ~880 MB): both on disk
#: while it extracts.
ARCHIVE_BYTES = 650_000_000
EXTRACTED_BYTES = 900_000_000
_CHUNK = 1 << 20


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
