"""The ESC-50 clips the app offers: one example per class from the test fold, the download that fetches them,
and the prepared clips the Results and nearest-clips tables play."""

# The example clips come from ESC-50's test fold, downloaded on demand: the app ships no third-party audio.

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from animal_audio import esc50, settings
from animal_audio.demo.text import FETCH_CLOSED
from animal_audio.errors import AnimalAudioError
from animal_audio.i18n import DEFAULT, tr
from animal_audio.labels import CLASSES, display
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel
from animal_audio.public_text import path_name, redact

log = logging.getLogger(__name__)

#: ESC-50's fold 5 is the test fold of the comparison: examples the trained models never saw.
EXAMPLE_FOLD = 5
_FETCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Example:
    label: str
    path: Path

    @property
    def title(self) -> str:
        return display(self.label)


def example_clips(data_dir: Optional[Path] = None, fold: int = EXAMPLE_FOLD) -> list[Example]:
    """One clip per class from the test fold of the prepared ESC-50 data; [] when it is not there."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return []
    except (OSError, ValueError) as error:
        log.warning("cannot read the prepared data in %s: %s", data_dir, error)
        return []
    found = []
    rows = table[table["fold"] == fold].sort_values("filename")
    for label in CLASSES:
        match = rows[rows["label"] == label]
        for row in match.itertuples(index=False):
            if Path(row.path).is_file():
                found.append(Example(label, Path(row.path)))
                break
    return found


def fetch_examples(
    progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None
) -> list[Example]:
    """Download ESC-50 (unless a local copy is configured) and prepare the animal clips into the data cache,
    one call at a time: the buttons and warm start would otherwise write the same download and folder."""
    # `cancel` (warm start's job) stops it between chunks or clips, and while it waits for its turn.
    if progress is not None:
        progress = _redacted(progress)
    while not _FETCH_LOCK.acquire(timeout=1.0):
        check_cancel(cancel, "the wait for the ESC-50 download")
    try:
        source = settings.esc50_dir()
        if not (source / esc50.META).is_file():
            source = esc50.download(source.parent, progress=progress, cancel=cancel)
        esc50.prepare(source, settings.data_dir(), progress=progress, cancel=cancel)
    finally:
        _FETCH_LOCK.release()
    return example_clips()


def _redacted(progress: ProgressCallback) -> ProgressCallback:
    """`progress` without server folders in its messages: they reach the page ("ESC-50 ready in FOLDER")."""
    return lambda event: progress(replace(event, message=redact(event.message)))


def fetch_for_visitor(progress: Optional[ProgressCallback] = None) -> list[Example]:
    """The app's Get-the-clips buttons: in public mode a visitor may not fill the disk (AccessError)."""
    from animal_audio.access import AccessError

    if settings.public_mode():
        raise AccessError(FETCH_CLOSED)
    return fetch_examples(progress)


def data_status_markdown(data_dir: Optional[Path] = None, lang: str = DEFAULT) -> str:
    """The Train tab's line about the data: how many clips, or what to press to get them."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return tr("data_missing", lang, folder=path_name(data_dir))
    return tr("data_ready", lang, count=len(table), folder=path_name(data_dir))


def clip_path(filename: str, data_dir: Optional[Path] = None) -> Optional[Path]:
    """Where a prepared clip is, for playing a misclassified one; None if it is not on this machine."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        return None
    path = settings.data_dir(data_dir) / "audio" / filename
    return path if path.is_file() else None
