"""Clip embeddings with an on-disk cache, so probes and re-runs never embed a clip twice.

One npz per (embedder fingerprint, clip path, size, mtime), written atomically: a changed model or file
misses by itself, an unreadable entry is recomputed, and a cancelled run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from animal_audio import settings
from animal_audio.audio import load_audio
from animal_audio.fileio import atomic_path
from animal_audio.models.probe import Embedder
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

STAGE = "embed"
#: Clips embedded per embed_batch call: small enough for prompt progress and cancel.
CHUNK = 8
_KEY_VERSION = "1"


def embed_clips(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    *,
    cache_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> np.ndarray:
    """Embeddings [n, d] of the audio files `paths`, in order, computing only what the cache lacks."""
    folder = _folder(embedder.name, cache_dir)
    files = [Path(p) for p in paths]
    entries = [folder / f"{cache_key(embedder.fingerprint, p)}.npz" for p in files]
    result: list[Optional[np.ndarray]] = [_read(entry, embedder.fingerprint) for entry in entries]
    todo = [i for i, value in enumerate(result) if value is None]
    total, done = len(files), len(files) - len(todo)
    if todo:
        log.info("%s: embedding %d clips (%d cached)", embedder.name, len(todo), done)
    report(progress, STAGE, done / total if total else 1.0, f"{embedder.name}: {done}/{total} clips")
    for start in range(0, len(todo), CHUNK):
        check_cancel(cancel, f"{embedder.name} embedding ({done}/{total} clips done)")
        chunk = todo[start : start + CHUNK]
        vectors = np.asarray(embedder.embed_batch([load_audio(files[i]) for i in chunk]), dtype=np.float32)
        for i, vector in zip(chunk, vectors):
            _write(entries[i], vector, embedder.fingerprint)
            result[i] = vector
        done += len(chunk)
        report(progress, STAGE, done / total, f"{embedder.name}: {done}/{total} clips")
    if not files:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.asarray(v, dtype=np.float32) for v in result])


def cached_share(
    name: str,
    fingerprint: str,
    paths: Sequence[str | os.PathLike[str]],
    *,
    cache_dir: Optional[str | os.PathLike[str]] = None,
) -> float:
    """Share of `paths` whose embedding by this embedder is cached (entries present; for estimates)."""
    if not paths:
        return 0.0
    folder = _folder(name, cache_dir)
    found = 0
    for path in paths:
        try:
            found += (folder / f"{cache_key(fingerprint, Path(path))}.npz").is_file()
        except OSError:  # the clip itself is gone: it will be named when the run reads it
            continue
    return found / len(paths)


def cache_key(fingerprint: str, path: Path) -> str:
    """Changes when the embedder or the file changes (path, size, mtime); stable otherwise."""
    resolved = path.expanduser().resolve()
    stat = resolved.stat()
    text = "|".join((_KEY_VERSION, fingerprint, str(resolved), str(stat.st_size), str(stat.st_mtime_ns)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _folder(name: str, cache_dir: Optional[str | os.PathLike[str]]) -> Path:
    """One folder per embedder name, under `cache_dir` or the settings' cache."""
    root = Path(cache_dir) if cache_dir is not None else settings.cache_dir() / "embeddings"
    return root / _safe(name)


def _read(entry: Path, fingerprint: str) -> Optional[np.ndarray]:
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as data:
            vector = np.asarray(data["embedding"], dtype=np.float32)
            stored = str(data["fingerprint"])
        if vector.ndim != 1 or vector.size == 0 or not np.all(np.isfinite(vector)) or stored != fingerprint:
            raise ValueError("unexpected content")
        return vector
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        log.warning("embedding cache entry %s is unreadable (%s); recomputing it", entry.name, error)
        return None


def _write(entry: Path, vector: np.ndarray, fingerprint: str) -> None:
    with (
        atomic_path(entry) as tmp,
        open(tmp, "wb") as f,
    ):  # a file object: np.savez would add ".npz" to a name
        np.savez(f, embedding=np.asarray(vector, dtype=np.float32), fingerprint=np.array(fingerprint))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "embedder"
