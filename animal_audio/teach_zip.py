"""Zips of a teach session in the folder layout (`DIR/<label>/*.wav`, flac, ogg, mp3), both ways.

Import trusts nothing in the zip: the whole listing is checked before one byte is unpacked (no absolute
or `..` paths, no links, no encrypted members, member count, declared sizes and compression ratio), each
member is read with a cap on its actual size (a header may lie), in memory (nothing is extracted to disk),
and each clip is decoded by the safe decoder. Members that are not audio are skipped, with a note.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Optional

from animal_audio.errors import AudioError
from animal_audio.folder_data import AUDIO_SUFFIXES
from animal_audio.teach import MAX_CLASSES, TeachError, TeachMessage, TeachSession, check_name, short_name

#: Bytes of the zip itself; members at most; bytes one member may unpack to; all members together.
MAX_ZIP_BYTES = 20 * 2**20  # the page's upload limit (ui/page.py MAX_FILE_SIZE) too
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 20 * 2**20
MAX_UNPACKED_BYTES = 300 * 2**20
#: Deflate reaches ~1000:1 only on crafted data; audio compresses a few times at most.
MAX_RATIO = 100
CHUNK = 2**16
#: Folders some systems add to a zip: skipped without a note.
JUNK_PARTS = ("__MACOSX",)
EXPORT_FOLDER = "my-sounds"
#: Notes listed one by one at most; the rest as a count.
MAX_NOTES = 12


@dataclass
class ImportReport:
    """What an import added (clips per class) and what it skipped, and why."""

    added: dict[str, int] = field(default_factory=dict)
    notes: list[TeachMessage] = field(default_factory=list)
    skipped: int = 0

    def note(self, key: str, **fields: object) -> None:
        self.skipped += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(TeachMessage(key, dict(fields)))


def import_zip(session: TeachSession, source: str | Path | IO[bytes]) -> ImportReport:
    """Add the clips of a folder-layout zip to `session`: TeachError (nothing added) for a zip that is not
    one or is hostile; skipped members and clips that cannot be used become notes."""
    archive = _open(source)
    report, new_classes, new_clips = ImportReport(), [], []
    with archive:
        members = _layout(_checked_members(archive))
        try:
            for info, label, name in members:
                if label is None:
                    report.note("teach_note_not_audio", name=short_name(name))
                    continue
                try:
                    known = set(session.classes)
                    label = _class_for(session, label)
                    new_classes += [label] if label not in known else []
                    session.check_room(label)  # a full class or session decompresses nothing more
                    clip, _ = session.add_clip(label, _read_member(archive, info), name)
                except AudioError as error:
                    report.note("teach_note_clip_skipped", name=short_name(name), why=str(error))
                    continue
                except TeachError as error:
                    if error.message.key.startswith("teach_err_zip"):
                        raise  # the zip lied about a member: refuse all of it
                    report.note("teach_note_class_skipped", name=short_name(name), why=str(error))
                    continue
                new_clips.append((label, clip.id))
                report.added[label] = report.added.get(label, 0) + 1
        except TeachError:
            _undo(session, new_classes, new_clips)
            raise
    _undo(
        session, [c for c in new_classes if c not in report.added], []
    )  # classes none of whose clips worked
    if not report.added:
        raise TeachError("teach_err_zip_no_clips", formats=_formats())
    return report


def _undo(session: TeachSession, classes: list[str], clips: list[tuple[str, int]]) -> None:
    """Take back what a refused import added."""
    for label, clip_id in clips:
        if label in session.classes:
            session.remove_clip(label, clip_id)
    for label in classes:
        if label in session.classes:
            session.remove_class(label)


def export_zip(session: TeachSession) -> Path:
    """The session's clips as `my-sounds/<class>/NNN.wav` (what `python -m train prepare --folder` reads)."""
    clips = session.clips()
    if not clips:
        raise TeachError("teach_err_nothing_to_export")
    path = session.out_dir() / f"{EXPORT_FOLDER}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, clip in clips:
            archive.write(clip.path, f"{EXPORT_FOLDER}/{name}/{clip.path.name}")
    return path


def _open(source: str | Path | IO[bytes]) -> zipfile.ZipFile:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise TeachError("teach_err_zip_missing")
        if path.stat().st_size > MAX_ZIP_BYTES:
            raise TeachError("teach_err_zip_big", limit=MAX_ZIP_BYTES // 2**20)
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise TeachError("teach_err_not_zip") from None


def _checked_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's files, after refusing the whole zip for anything an honest folder-layout zip never has."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise TeachError("teach_err_zip_members", count=len(infos), limit=MAX_MEMBERS)
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or "\x00" in name:
            raise TeachError("teach_err_zip_unsafe_path", name=short_name(name))
        if stat.S_ISLNK(info.external_attr >> 16):
            raise TeachError("teach_err_zip_link", name=short_name(name))
        if info.flag_bits & 0x1:
            raise TeachError("teach_err_zip_encrypted")
        if info.file_size > MAX_MEMBER_BYTES:
            raise TeachError(
                "teach_err_zip_member_big", name=short_name(name), limit=MAX_MEMBER_BYTES // 2**20
            )
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise TeachError("teach_err_zip_bomb", name=short_name(name))
        total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise TeachError("teach_err_zip_unpacked_big", limit=MAX_UNPACKED_BYTES // 2**20)
    return [info for info in infos if not info.is_dir()]


def _layout(members: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, Optional[str], str]]:
    """(member, its class or None when it is not a clip in a class folder, its name) for each member:
    `<class>/<file>` or, when every path starts with the same one folder, `<folder>/<class>/<file>`."""
    wanted = [
        (info, PurePosixPath(info.filename.replace("\\", "/")))
        for info in members
        if not any(p in JUNK_PARTS or p.startswith(".") for p in PurePosixPath(info.filename).parts)
    ]
    tops = {path.parts[0] for _, path in wanted if len(path.parts) > 1}
    strip = 1 if len(tops) == 1 and all(len(path.parts) >= 3 for _, path in wanted if _is_audio(path)) else 0
    out = []
    for info, path in wanted:
        parts = path.parts[strip:]
        label = parts[0] if len(parts) >= 2 and _is_audio(path) else None
        out.append((info, label, path.name))
    return out


def _is_audio(path: PurePosixPath) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def _class_for(session: TeachSession, folder: str) -> str:
    """The session's class for a folder name (a new class when there is room), matched regardless of case."""
    name = check_name(folder)
    for known in session.classes:
        if known.casefold() == name.casefold():
            return known
    if len(session.classes) >= MAX_CLASSES:
        raise TeachError("teach_err_too_many_classes", limit=MAX_CLASSES)
    return session.add_class(name)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, stopping as soon as they pass what its header declared (a lying header)."""
    buffer = io.BytesIO()
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                buffer.write(chunk)
                if buffer.tell() > min(info.file_size, MAX_MEMBER_BYTES):
                    raise TeachError("teach_err_zip_bomb", name=short_name(info.filename))
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        raise TeachError("teach_err_zip_damaged", name=short_name(info.filename)) from None
    return buffer.getvalue()


def _formats() -> str:
    return ", ".join(s.lstrip(".").upper() for s in AUDIO_SUFFIXES)
