"""Example clips for the Classify tab: one per animal from ESC-50's test fold, fetched on demand.

The app ships no third-party audio: the clips are downloaded and prepared into the data
cache the first time someone asks for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from animal_audio import esc50, settings
from animal_audio.errors import AnimalAudioError
from animal_audio.labels import CLASSES, display
from animal_audio.progress import ProgressEvent

log = logging.getLogger(__name__)

#: ESC-50's fold 5 is the test fold of the comparison: examples the trained models never saw.
EXAMPLE_FOLD = 5


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


def fetch_examples(progress: Optional[Callable[[ProgressEvent], None]] = None) -> list[Example]:
    """Download ESC-50 (unless a local copy is configured) and prepare the animal clips into the data cache."""
    source = settings.esc50_dir()
    if not (source / esc50.META).is_file():
        source = esc50.download(source.parent, progress=progress)
    esc50.prepare(source, settings.data_dir(), progress=progress)
    return example_clips()


def data_status_markdown(data_dir: Optional[Path] = None) -> str:
    """The Train tab's line about the data: how many clips, or what to press to get them."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return (
            f"The ESC-50 animal clips are not on this machine yet (looked in `{data_dir}`). "
            "Press **Get the ESC-50 clips** to download (~600 MB, once) and prepare them."
        )
    return f"{len(table)} prepared ESC-50 animal clips in `{data_dir}`."
