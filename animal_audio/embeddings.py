"""Clip embeddings with an on-disk cache, so probes and re-runs never embed a clip twice.

One npz per (embedder fingerprint, clip path, size, mtime), written atomically: a changed model or file
misses by itself, an unreadable entry is recomputed, and a cancelled run resumes where it stopped. An entry
holds the mean of the clip's frame embeddings and, where the embedder gives frames, their max and std.
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
from animal_audio.pooling import POOLINGS, STATISTICS, check_pooling, frame_statistics, pooled
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

STAGE = "embed"
#: Clips embedded per embed_batch call: small enough for prompt progress and cancel.
CHUNK = 8
_KEY_VERSION = "1"
#: The npz array of each statistic: "embedding" (the mean) is what entries held before max and std were kept.
_KEYS = {"mean": "embedding", "max": "max", "std": "std"}


def embed_clips(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    *,
    pooling: str = "mean",
    cache_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> np.ndarray:
    """Embeddings [n, d] of the audio files `paths`, in order, pooled as `pooling` (pooling.py: "mean" is
    the embedder's embed(), "mean+max" twice as wide), computing only what the cache lacks."""
    needed = POOLINGS[check_pooling(pooling)]
    statistics = clip_statistics(
        embedder, paths, needed, cache_dir=cache_dir, progress=progress, cancel=cancel
    )
    return pooled(statistics, pooling)


def clip_statistics(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    needed: Sequence[str] = ("mean",),
    *,
    cache_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> dict[str, np.ndarray]:
    """{statistic: [n, d]} of the frame embeddings of `paths` (pooling.STATISTICS), cached per clip.

    An entry written before the max and std were kept holds the mean only: it serves the mean as before
    and is recomputed (once, same key) when another statistic is needed."""
    return part_statistics(embedder, paths, needed, cache_dir=cache_dir, progress=progress, cancel=cancel)[0]


def part_statistics(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    needed: Sequence[str] = ("mean",),
    *,
    cache_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> list[dict[str, np.ndarray]]:
    """clip_statistics per part of an embedder whose one pass gives several (`part_fingerprints` and
    `split(frame values)`: HuBERT's layers); a plain embedder is one part. Each part is cached under its
    own fingerprint, so a part's entries are the ones its own embedder would write."""
    fingerprints = list(getattr(embedder, "part_fingerprints", None) or [embedder.fingerprint])
    folder = _folder(embedder.name, cache_dir)
    files = [Path(p) for p in paths]
    entries = [[folder / f"{cache_key(fp, p)}.npz" for fp in fingerprints] for p in files]
    result = [[_read(e, fp, needed) for e, fp in zip(row, fingerprints)] for row in entries]
    todo = [i for i, row in enumerate(result) if any(value is None for value in row)]
    total, done = len(files), len(files) - len(todo)
    if todo:
        log.info("%s: embedding %d clips (%d cached)", embedder.name, len(todo), done)
    report(progress, STAGE, done / total if total else 1.0, f"{embedder.name}: {done}/{total} clips")
    for start in range(0, len(todo), CHUNK):
        check_cancel(cancel, f"{embedder.name} embedding ({done}/{total} clips done)")
        chunk = todo[start : start + CHUNK]
        waveforms = [load_audio(files[i]) for i in chunk]
        if len(fingerprints) == 1:
            computed = [[stats] for stats in compute_statistics(embedder, waveforms, needed)]
        else:
            computed = [
                [frame_statistics(part) for part in embedder.split(f.values)]  # type: ignore[attr-defined]
                for f in embedder.frames_batch(waveforms)  # type: ignore[attr-defined]
            ]
        for i, row in zip(chunk, computed):
            for k, stats in enumerate(row):
                _write(entries[i][k], stats, fingerprints[k])
            result[i] = row
        done += len(chunk)
        report(progress, STAGE, done / total, f"{embedder.name}: {done}/{total} clips")
    return [
        {
            s: np.stack([np.asarray(row[k][s], dtype=np.float32) for row in result])
            if files
            else np.zeros((0, 0), dtype=np.float32)
            for s in needed
        }
        for k in range(len(fingerprints))
    ]


def compute_statistics(
    embedder: Embedder, waveforms: Sequence[np.ndarray], needed: Sequence[str] = ("mean",)
) -> list[dict[str, np.ndarray]]:
    """Per clip, the statistics of its frames: all of them from an embedder that gives its frames
    (`frames_batch` or `embed_frames`), else only the mean (its embed_batch)."""
    frames_batch = getattr(embedder, "frames_batch", None)
    embed_frames = getattr(embedder, "embed_frames", None)
    if frames_batch is not None or embed_frames is not None:
        frames = frames_batch(waveforms) if frames_batch is not None else [embed_frames(w) for w in waveforms]
        return [frame_statistics(f.values) for f in frames]
    if set(needed) - {"mean"}:
        raise ValueError(f"{embedder.name} gives no frames, so only mean pooling is possible")
    vectors = np.asarray(embedder.embed_batch(waveforms), dtype=np.float32)
    return [{"mean": v} for v in vectors]


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


def _read(entry: Path, fingerprint: str, needed: Sequence[str]) -> Optional[dict[str, np.ndarray]]:
    """The entry's statistics if it holds all of `needed`; None: compute them (again)."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as data:
            if any(_KEYS[s] not in data.files for s in needed):
                return None  # an entry of the mean only (written before max and std were kept)
            stats = {
                s: np.asarray(data[_KEYS[s]], dtype=np.float32) for s in STATISTICS if _KEYS[s] in data.files
            }
            stored = str(data["fingerprint"])
        for vector in stats.values():
            if vector.ndim != 1 or vector.size == 0 or not np.all(np.isfinite(vector)):
                raise ValueError("unexpected content")
        if stored != fingerprint:
            raise ValueError("unexpected content")
        return stats
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        log.warning("embedding cache entry %s is unreadable (%s); recomputing it", entry.name, error)
        return None


def _write(entry: Path, stats: dict[str, np.ndarray], fingerprint: str) -> None:
    arrays = {_KEYS[s]: np.asarray(v, dtype=np.float32) for s, v in stats.items()}
    with (
        atomic_path(entry) as tmp,
        open(tmp, "wb") as f,
    ):  # a file object: np.savez would add ".npz" to a name
        np.savez(f, fingerprint=np.array(fingerprint), **arrays)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "embedder"
