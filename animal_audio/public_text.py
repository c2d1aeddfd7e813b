"""What a visitor of the app may see: text without the server's folders, and unexpected errors as a
short message with an error id, the full trace logged under the same id for the operator.

The library's own messages name folders because the CLI user needs them; the app passes every text
it shows through here. Hub ids, URLs, environment variable names and paths relative to the app's
home or the repository stay: they say what to fix without telling a visitor how the server is laid out.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Optional

from animal_audio import settings
from animal_audio.errors import AnimalAudioError

log = logging.getLogger(__name__)

#: Bytes of randomness in an error id (8 hex characters: easy to read out, unique enough in one log).
ERROR_ID_BYTES = 4
#: Stands for the part of a path a visitor does not see.
HIDDEN = "…"
#: What a visitor sees when something nobody foresaw went wrong ({error_id}: the id in the log).
UNEXPECTED = "Something went wrong (error id {error_id}). The server log has the details under that id."
REPO = Path(__file__).resolve().parent.parent
#: Characters that end a path inside a message (quotes, brackets, Markdown, separators of a list).
_STOP = r"""\s'"`()\[\]{}<>,;|*"""
#: Before an absolute path: not part of a word, a URL ("https://x/y") or a path already shortened.
_NOT_AFTER = r"(?<![\w.~:/\\" + HIDDEN + r"-])"
_ABSOLUTE = re.compile(
    _NOT_AFTER + rf"(?:/[^{_STOP}/]+(?:/[^{_STOP}/]*)+|~/[^{_STOP}]+|[A-Za-z]:\\[^{_STOP}]+)"
)
#: Paths in texts that only show the form of one ("set ANIMAL_AUDIO_HUBERT=/path/to/folder").
_PLACEHOLDERS = ("/path/to/",)
_TRAILING = ".:!?"
#: A failure recorded with its cause (errors.UNEXPECTED_FAILURE, also older records without an id).
_RECORDED_FAILURE = re.compile(
    r"It failed unexpectedly \((?:(?:.*?; )?error id (?P<id>[0-9a-f]+)|.*?)\); the log has the details"
)


def new_error_id() -> str:
    return secrets.token_hex(ERROR_ID_BYTES)


def log_unexpected(error: BaseException, what: str, logger: logging.Logger = log) -> str:
    """Log `error` with its trace under a new error id, and return the id (what the visitor is told)."""
    error_id = new_error_id()
    logger.error("%s [error id %s]", what, error_id, exc_info=_exc_info(error))
    return error_id


def unexpected(
    error: BaseException, template: str = UNEXPECTED, *, logger: logging.Logger = log, **fields: Any
) -> str:
    """`template` (with `{error_id}` and `fields`) for the visitor; the same text, `error` and its trace
    go to the log."""
    message = template.format(error_id=new_error_id(), **fields)
    logger.error("%s", message, exc_info=_exc_info(error))
    return message


def visible(
    error: BaseException, template: str = UNEXPECTED, *, logger: logging.Logger = log, **fields: Any
) -> str:
    """What a visitor sees of `error`: our own message (written for users) without server paths;
    anything else `template` with an error id, the trace in the log."""
    if isinstance(error, AnimalAudioError):
        return redact(str(error))
    return unexpected(error, template, logger=logger, **fields)


def redact(text: str) -> str:
    """`text` without absolute paths (each one shown as `path_name`) or the raw cause of a recorded failure."""
    text = _RECORDED_FAILURE.sub(_recorded_failure, str(text))
    for root in _roots():  # first the known folders, whose names may hold spaces
        text = re.sub(_NOT_AFTER + re.escape(root) + rf"(?![^\\/{_STOP}])[^{_STOP}]*", _shortened, text)
    return _ABSOLUTE.sub(_shortened, text)


def path_name(path: str | os.PathLike[str]) -> str:
    """One path as a visitor sees it: relative to the app's home ("…/runs/RUN") or to the repository
    ("assets/yamnet/yamnet.tflite"), else only its last part ("…/my-hubert")."""
    raw = str(path)
    pure: PurePath = PureWindowsPath(raw) if re.match(r"[A-Za-z]:\\", raw) else PurePosixPath(raw)
    if raw.startswith("~"):
        pure = PurePosixPath(os.path.expanduser(raw))
    if not pure.is_absolute():
        return raw
    for root, shown in ((settings.home(), HIDDEN), (REPO, "")):
        inside = _relative(pure, root)
        if inside is not None and inside.parts:
            return f"{shown}/{inside.as_posix()}" if shown else inside.as_posix()
    return f"{HIDDEN}/{pure.name}" if pure.name else HIDDEN


def source_name(source: str) -> str:
    """A model source as a visitor sees it: a hub id or URL as is, a local folder or file as `path_name`."""
    return source if settings.is_hub_id(source) or "://" in source else path_name(source)


def _exc_info(error: BaseException) -> tuple[Any, ...]:
    return (type(error), error, error.__traceback__)


def _shortened(match: re.Match[str]) -> str:
    found = match.group(0)
    if found.startswith(_PLACEHOLDERS):
        return found
    path = found.rstrip(_TRAILING)
    return path_name(path) + found[len(path) :]


def _recorded_failure(match: re.Match[str]) -> str:
    error_id = match.group("id")
    return (
        "It failed unexpectedly"
        + (f" (error id {error_id})" if error_id else "")
        + "; the log has the details"
    )


def _roots() -> list[str]:
    """Folders known to be on this server, longest first (a folder inside another is matched whole)."""
    roots = {
        settings.home(),
        settings.data_dir(),
        settings.esc50_dir(),
        REPO,
        Path.home(),
        Path(tempfile.gettempdir()),
    }
    found = {
        str(r) for root in roots for r in (root, _resolved(root)) if r.is_absolute() and len(r.parts) > 1
    }
    return sorted(found, key=len, reverse=True)


def _relative(path: PurePath, root: Path) -> Optional[PurePosixPath]:
    for form in {root, _resolved(root)}:
        try:
            return PurePosixPath(*PurePath(os.path.normpath(path)).relative_to(form).parts)
        except ValueError:
            continue
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):
        return path
