"""Teach it your sounds: one visitor's clips by class, each class a folder in the session's own temp folder.

Everything is bounded (classes, clips, seconds, live sessions) and every clip goes through the safe decoder
(`audio.read_clip`) before it is kept as a 16 kHz WAV. Closing a session deletes its folder; `TeachSessions`
closes a visitor's session when their page goes (the app's unload) or after a long idle time.
Messages are `TeachMessage`s: English in the log, the app shows them from the catalogue in the visitor's language.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio.audio import AudioSource, read_clip, write_wav
from animal_audio.errors import AnimalAudioError
from animal_audio.labels import LabelSet

log = logging.getLogger(__name__)

MIN_CLASSES, MAX_CLASSES = 2, 10
#: Clips a class needs before training (leave-one-out then still trains on two of it), and at most.
MIN_CLIPS, MAX_CLIPS_PER_CLASS = 3, 30
MAX_TOTAL_CLIPS = 150
#: Longer clips keep their first seconds (the models hear a few seconds; ESC-50's are 5 s).
MAX_CLIP_SECONDS = 10.0
MAX_NAME_CHARS = 32
#: A class name is a safe folder name in any language: letters or digits first, then letters, digits, " _-".
NAME_PATTERN = re.compile(r"[^\W_][\w \-]*")
#: Live sessions in one app, and how long an untouched one lives (a page that never said goodbye).
MAX_SESSIONS = 64
IDLE_SECONDS = 30 * 60
#: With every session taken, the least recently used one is ended once it has been idle this long.
EVICT_AFTER = 5 * 60
PREFIX = "animal-audio-teach-"


@dataclass(frozen=True)
class TeachMessage:
    """A message by catalogue key (animal_audio/i18n en.py / ru.py, section "Teach") and its fields."""

    key: str
    fields: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        """In `lang`; a field named `why` holds a library message (English) and is translated as one."""
        from animal_audio.i18n import tr, translate_error

        shown = {k: translate_error(str(v), lang) if k == "why" else v for k, v in self.fields.items()}
        return tr(self.key, lang, **shown)


class TeachError(AnimalAudioError, ValueError):
    """Input the Teach tab cannot use (a bad class name, a limit, a hostile zip): its message says what to do."""

    def __init__(self, key: str, **fields: Any) -> None:
        self.message = TeachMessage(key, fields)
        super().__init__(self.message.text())


@dataclass(frozen=True)
class Clip:
    """One kept clip: its WAV in the session folder, its length, and the name it came with (for the list)."""

    id: int
    path: Path
    seconds: float
    source_name: str


def check_name(name: Any) -> str:
    """A class name as typed, trimmed, if it is a safe folder name; TeachError saying why otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise TeachError("teach_err_name_empty")
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        raise TeachError("teach_err_name_long", limit=MAX_NAME_CHARS)
    if not NAME_PATTERN.fullmatch(name):
        raise TeachError("teach_err_name_chars", name=name[:MAX_NAME_CHARS])
    return name


def short_name(name: str, limit: int = 40) -> str:
    """A file's own name for a list (never its folder), shortened."""
    name = Path(str(name).replace("\\", "/")).name
    return name if len(name) <= limit else name[: limit - 3] + "..."


class TeachSession:
    """One visitor's classes and clips in a temp folder of its own (clips/<class>/NNN.wav), deleted by `close`.
    Thread-safe: a visitor may upload while an earlier upload is still decoding."""

    def __init__(self, base: Optional[Path] = None) -> None:
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        self.classes: dict[str, list[Clip]] = {}
        self.used = time.monotonic()
        self._next_id = 1
        self._lock = threading.RLock()
        self._features: dict[tuple[int, str], np.ndarray] = {}  # (clip id, embedder fingerprint) -> features
        self.heads: Any = None  # the last TeachResult (teach_train.py): stale once the clips change
        self.closed = False

    # ---- classes

    def add_class(self, name: Any) -> str:
        with self._lock:
            self._check_open()
            name = check_name(name)
            if any(name.casefold() == known.casefold() for known in self.classes):
                raise TeachError("teach_err_name_taken", name=name)
            if len(self.classes) >= MAX_CLASSES:
                raise TeachError("teach_err_too_many_classes", limit=MAX_CLASSES)
            self.classes[name] = []
            return name

    def remove_class(self, name: str) -> None:
        with self._lock:
            clips = self.classes.pop(self._known(name))
            for clip in clips:
                self._forget(clip)
            shutil.rmtree(self.root / "clips" / name, ignore_errors=True)
            self.heads = None

    # ---- clips

    def add_clip(self, name: str, source: AudioSource, source_name: str = "") -> tuple[Clip, tuple[str, ...]]:
        """Decode `source` safely (at most MAX_CLIP_SECONDS kept) into class `name`: (the clip, decoder notes)."""
        with self._lock:
            name = self._known(name)
            self._check_room(name)
        decoded = read_clip(source, max_seconds=MAX_CLIP_SECONDS)  # outside the lock: decoding takes time
        with self._lock:
            self._check_room(name)  # another upload may have filled it meanwhile
            clip_id, self._next_id = self._next_id, self._next_id + 1
            path = write_wav(self.root / "clips" / name / f"{clip_id:03d}.wav", decoded.waveform)
            clip = Clip(clip_id, path, decoded.seconds, short_name(source_name) or path.name)
            self.classes[name].append(clip)
            self.heads = None
            return clip, decoded.notes

    def remove_clip(self, name: str, clip_id: int) -> None:
        with self._lock:
            clips = self.classes[self._known(name)]
            for clip in [c for c in clips if c.id == clip_id]:
                clips.remove(clip)
                self._forget(clip)
                clip.path.unlink(missing_ok=True)
                self.heads = None

    def clips(self) -> list[tuple[str, Clip]]:
        with self._lock:
            return [(name, clip) for name, clips in self.classes.items() for clip in clips]

    def total(self) -> int:
        return sum(len(clips) for clips in self.classes.values())

    def counts(self) -> dict[str, int]:
        return {name: len(clips) for name, clips in self.classes.items()}

    def labels(self) -> LabelSet:
        """The classes as a label set (display names as typed); TeachError until there are two."""
        if len(self.classes) < MIN_CLASSES:
            raise TeachError("teach_err_few_classes", least=MIN_CLASSES)
        return LabelSet(tuple(self.classes), {n: n for n in self.classes})

    def missing(self) -> list[TeachMessage]:
        """What is still missing before training: nothing once every one of 2+ classes has MIN_CLIPS."""
        out = []
        if len(self.classes) < MIN_CLASSES:
            out.append(TeachMessage("teach_err_few_classes", {"least": MIN_CLASSES}))
        for name, clips in self.classes.items():
            if len(clips) < MIN_CLIPS:
                out.append(
                    TeachMessage(
                        "teach_err_few_clips", {"name": name, "count": len(clips), "least": MIN_CLIPS}
                    )
                )
        return out

    # ---- embeddings, once per clip and model

    def features(self, clip: Clip, key: str) -> Optional[np.ndarray]:
        return self._features.get((clip.id, key))

    def keep_features(self, clip: Clip, key: str, values: np.ndarray) -> None:
        self._features[(clip.id, key)] = values

    # ---- life

    def close(self) -> None:
        """Delete the folder and everything in it (clips, exported zips)."""
        with self._lock:
            self.closed = True
            self.classes.clear()
            self._features.clear()
            self.heads = None
            shutil.rmtree(self.root, ignore_errors=True)

    def touch(self) -> None:
        self.used = time.monotonic()

    def out_dir(self) -> Path:
        """Where exports are written (inside the session folder: deleted with it)."""
        path = self.root / "out"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _known(self, name: str) -> str:
        self._check_open()
        if name not in self.classes:
            raise TeachError("teach_err_no_class", name=short_name(str(name), MAX_NAME_CHARS))
        return name

    def check_room(self, name: str) -> None:
        """TeachError when class `name` or the session is full (before a clip is decompressed or decoded)."""
        with self._lock:
            self._check_room(self._known(name))

    def _check_room(self, name: str) -> None:
        if len(self.classes[name]) >= MAX_CLIPS_PER_CLASS:
            raise TeachError("teach_err_class_full", name=name, limit=MAX_CLIPS_PER_CLASS)
        if self.total() >= MAX_TOTAL_CLIPS:
            raise TeachError("teach_err_session_full", limit=MAX_TOTAL_CLIPS)

    def _check_open(self) -> None:
        if self.closed:
            raise TeachError("teach_err_session_ended")

    def _forget(self, clip: Clip) -> None:
        for key in [k for k in self._features if k[0] == clip.id]:
            del self._features[key]


class TeachSessions:
    """The app's live teach sessions by visitor session id: one each, capped, closed on unload or when idle."""

    def __init__(
        self, base: Optional[Path] = None, limit: int = MAX_SESSIONS, idle: float = IDLE_SECONDS
    ) -> None:
        self.base = base or Path(tempfile.gettempdir()) / "animal-audio-teach"
        self.limit, self.idle = limit, idle
        self._sessions: dict[str, TeachSession] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> TeachSession:
        """The visitor's session, made on first use; TeachError when the app already holds `limit` of them."""
        if not session_id:
            raise TeachError("teach_err_no_session")
        self.end_idle()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                if len(self._sessions) >= self.limit and not self._evict_oldest():
                    raise TeachError("teach_err_busy")
                session = self._sessions[session_id] = TeachSession(self.base)
            session.touch()
            return session

    def _evict_oldest(self) -> bool:
        """Full: close the least recently used session idle for EVICT_AFTER, so pages left open (or a script
        opening sessions) cannot keep the tab from new visitors for long. Called holding the lock."""
        oldest_id = min(self._sessions, key=lambda sid: self._sessions[sid].used, default=None)
        if oldest_id is None or time.monotonic() - self._sessions[oldest_id].used < EVICT_AFTER:
            return False
        self._sessions.pop(oldest_id).close()
        log.info("teach sessions full: the least recently used one was ended")
        return True

    def peek(self, session_id: str) -> Optional[TeachSession]:
        return self._sessions.get(session_id)

    def end(self, session_id: str) -> None:
        """The visitor left: delete their clips now."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()
            log.info("teach session ended: its clips are deleted")

    def end_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [sid for sid, s in self._sessions.items() if now - s.used > self.idle]
        for session_id in stale:
            self.end(session_id)

    def end_all(self) -> None:
        for session_id in list(self._sessions):
            self.end(session_id)

    def sweep_leftovers(self, older_than: float = IDLE_SECONDS) -> None:
        """Folders an earlier process left behind (it was killed before its visitors left)."""
        if not self.base.is_dir():
            return
        live = {s.root for s in self._sessions.values()}
        cutoff = time.time() - older_than
        for folder in self.base.glob(PREFIX + "*"):
            try:
                if folder not in live and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue

    def __len__(self) -> int:
        return len(self._sessions)
