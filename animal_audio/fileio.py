"""Atomic writes: a crash or Ctrl-C leaves the previous good file, never half a new one."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

#: Suffix of the temp folders `atomic_dir` writes into (what `recover_dir` may remove).
_NEW_DIR = ".newdir"
#: A temp folder's name ends ".<writer's pid>-<random>.newdir" (mkdtemp's random part has no "." or "-").
_WRITER_PID = re.compile(r"\.(\d+)-[^.-]+" + re.escape(_NEW_DIR) + "$")
#: Temp folders this process is writing now: our pid alone does not tell (a restarted
#: container often gets the pid its killed predecessor had).
_writing: set[Path] = set()
_writing_lock = threading.Lock()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new temp folder beside `path`; it replaces `path` only if the block succeeds.

    A folder cannot replace a non-empty one in one rename, so the old one steps aside
    first; `recover_dir` undoes a crash between the two renames. Concurrent writers each
    fill their own temp folder; the last to finish wins.
    """
    path = Path(path)
    recover_dir(path)
    with _writing_lock:  # registered before any sweep in this process can judge it stale
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", suffix=_NEW_DIR, dir=path.parent))
        _writing.add(tmp.absolute())
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700 folders
        _publish(tmp, path)
    finally:
        _writing.discard(tmp.absolute())
        shutil.rmtree(tmp, ignore_errors=True)


def recover_dir(path: str | os.PathLike[str]) -> None:
    """Put back what a crash inside `atomic_dir` left: the old folder in place, no stale temp folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = _old_dir(path)
    if old.exists():
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, path)
    _sweep(path.parent.glob(f".{path.name}.*{_NEW_DIR}"))


def sweep_temp_dirs(folder: str | os.PathLike[str]) -> None:
    """Remove the temp folders that killed writers left in `folder`, whatever they were writing."""
    _sweep(Path(folder).glob(f".*{_NEW_DIR}"))


def _publish(tmp: Path, path: Path) -> None:
    old = _old_dir(path)
    if path.exists():
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old.exists() and not path.exists():
            os.replace(old, path)  # the previous folder stays in place, not aside
        raise
    shutil.rmtree(old, ignore_errors=True)


def _sweep(temp_dirs: Iterable[Path]) -> None:
    with _writing_lock:
        stale = [tmp for tmp in temp_dirs if tmp.is_dir() and not _in_use(tmp)]
    for tmp in stale:  # nobody writes into a stale one again: new writers get new names
        shutil.rmtree(tmp, ignore_errors=True)


def _in_use(tmp: Path) -> bool:
    """True while a writer may still fill `tmp`: ours now, or another process that still runs."""
    if tmp.absolute() in _writing:
        return True
    found = _WRITER_PID.search(tmp.name)
    pid = int(found.group(1)) if found else None
    if pid is None or pid == os.getpid():
        return False  # no writer recorded, or ours from an earlier life of this pid
    return process_alive(pid)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (True where that cannot be told: keep what may be in use)."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would interrupt it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # runs, as another user
    return True


def _old_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_plain) + "\n")


def read_json(path: str | os.PathLike[str]) -> Optional[dict[str, Any]]:
    """The JSON object in `path`, or None when it is missing, damaged or not an object: for callers,
    all of these mean "not written (completely) yet"."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars and arrays, Paths (and anything else, as text) made plain JSON values."""
    return json.loads(json.dumps(value, default=lambda v: _plain(v) if _is_plain(v) else str(v)))


def _is_plain(value: Any) -> bool:
    return hasattr(value, "tolist") or isinstance(value, os.PathLike)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, Paths: what results dictionaries tend to hold."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _read_umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import, before any thread could create files in between.
_UMASK = _read_umask()
