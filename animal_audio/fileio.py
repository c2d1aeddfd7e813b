"""Atomic writes: a crash or Ctrl-C leaves the previous good file, never half a new one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: Suffix of the temp folders `atomic_dir` writes into (what `recover_dir` may remove).
_NEW_DIR = ".newdir"


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
    first; `recover_dir` undoes a crash between the two renames.
    """
    path = Path(path)
    recover_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=_NEW_DIR, dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700 folders
        old = _old_dir(path)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_dir(path: str | os.PathLike[str]) -> None:
    """Put back what a crash inside `atomic_dir` left: the old folder in place, no temp folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = _old_dir(path)
    if old.exists():
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, path)
    for stale in path.parent.glob(f".{path.name}.*{_NEW_DIR}"):
        shutil.rmtree(stale, ignore_errors=True)


def _old_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_plain) + "\n")


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
