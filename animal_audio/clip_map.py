"""The run's map of the ESC-50 clips per model: what a clip is close to in that model's embedding space.

One index per model with a trained head, stored in the run directory (`clip_map/<model>.npz`, no pickle):
the clips' L2-normalised embeddings (through `embeddings.embed_clips`, so cached), a 2-D PCA of them fitted
once, and the distance beyond which a clip is "probably none of the ten". `place` answers one clip from
the vector its model's answer was computed from (`Prediction.embedding`). Building a run's: clip_map_run.py.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence

import numpy as np

from animal_audio import esc50
from animal_audio.embeddings import embed_clips
from animal_audio.errors import CheckpointError
from animal_audio.fileio import atomic_path
from animal_audio.labels import CLASSES
from animal_audio.models.probe import Embedder
from animal_audio.open_set import OpenSetVerdict
from animal_audio.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:  # pandas loads only where a table is read: not at the app's start
    import pandas as pd

log = logging.getLogger(__name__)

MAP_DIR = "clip_map"
FORMAT_VERSION = 1
#: Models whose run has a trained head on an embedding: the probes' embedders, fine-tuned HuBERT's projector.
MODELS = ("yamnet-probe", "hubert-probe", "hubert-finetune")
NEIGHBOURS = 5
#: A clip farther from every ESC-50 clip than this share of training clips are from their nearest clip of
#: their own animal (in another fold) is "none of the ten": 97.5 leaves ~2.5% of real animal clips flagged,
#: half the 5% allowed, as margin for the test fold's new recordings (YAMNet: 1.2% of fold 5 measured).
OPEN_SET_PERCENTILE = 97.5
DIGITS = 4
_ARRAYS = ("clips", "labels", "folds", "vectors", "pca_mean", "pca_components", "xy")


class Neighbour(NamedTuple):
    clip: str
    label: str
    distance: float


class Placement(NamedTuple):
    """Where one clip lands: its nearest ESC-50 clips, its point on the map, and the open-set verdict."""

    neighbours: list[dict[str, Any]]
    map_xy: list[float]
    verdict: OpenSetVerdict


@dataclass(frozen=True)
class ClipIndex:
    """One model's ESC-50 clips: names, labels, folds, unit-length embeddings, their PCA and map points."""

    model: str
    fingerprint: str
    clips: np.ndarray  # [n] str
    labels: np.ndarray  # [n] str, CLASSES names
    folds: np.ndarray  # [n] int
    vectors: np.ndarray  # [n, d] float32, L2-normalised
    pca_mean: np.ndarray  # [d]
    pca_components: np.ndarray  # [2, d]
    xy: np.ndarray  # [n, 2]
    threshold: float  # cosine distance; see open_set_threshold
    test_folds: tuple[int, ...]
    test_flagged: float  # share of test-fold clips flagged against the training folds only

    def only(self, folds: Sequence[int]) -> ClipIndex:
        """The same index holding only the clips of `folds` (same map and threshold)."""
        keep = np.isin(self.folds, list(folds))
        arrays = {k: getattr(self, k)[keep] for k in ("clips", "labels", "folds", "vectors", "xy")}
        return replace(self, **arrays)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """[n, d] unit vectors -> [n, 2] map points: the PCA fitted on the clips (sklearn's transform)."""
        return (np.asarray(vectors, np.float64) - self.pca_mean) @ self.pca_components.T


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine distance is then 1 - dot product); zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def index_from_embeddings(
    model: str,
    fingerprint: str,
    table: pd.DataFrame,
    embeddings: np.ndarray,
    test_folds: Sequence[int] = esc50.DEFAULT_TEST_FOLDS,
) -> ClipIndex:
    """The index of `table`'s clips (columns filename, label, fold) from their embeddings, in table order."""
    from sklearn.decomposition import PCA

    vectors = normalise(embeddings)
    if len(vectors) != len(table) or len(vectors) < 3:
        raise ValueError(f"{len(vectors)} embeddings for {len(table)} clips (need at least 3)")
    pca = PCA(n_components=2, random_state=0).fit(vectors.astype(np.float64))
    labels = np.array([str(v) for v in table["label"]])
    folds = np.asarray(table["fold"], dtype=np.int64)
    index = ClipIndex(
        model=model,
        fingerprint=fingerprint,
        clips=np.array([str(v) for v in table["filename"]]),
        labels=labels,
        folds=folds,
        vectors=vectors,
        pca_mean=pca.mean_.astype(np.float64),
        pca_components=pca.components_.astype(np.float64),
        xy=pca.transform(vectors.astype(np.float64)),
        threshold=open_set_threshold(vectors, labels, folds, test_folds),
        test_folds=tuple(int(f) for f in test_folds),
        test_flagged=float("nan"),
    )
    return replace(index, test_flagged=test_flagged_share(index))


def open_set_threshold(
    vectors: np.ndarray, labels: np.ndarray, folds: np.ndarray, test_folds: Sequence[int]
) -> float:
    """The OPEN_SET_PERCENTILE of the training clips' (every fold but the test folds) distances to their
    nearest clip of the same animal in another training fold. Another fold, because ESC-50 keeps takes of
    one recording in one fold: a new clip is a new recording, and a same-recording take is unfairly close."""
    train = ~np.isin(folds, list(test_folds))
    vectors, labels, folds = vectors[train], labels[train], folds[train]
    distances = 1.0 - vectors @ vectors.T
    eligible = (labels[:, None] == labels[None, :]) & (folds[:, None] != folds[None, :])
    nearest = np.where(eligible, distances, np.inf).min(axis=1)
    nearest = nearest[np.isfinite(nearest)]
    if not len(nearest):
        raise ValueError("no training clip has a clip of its own animal in another training fold")
    return float(np.percentile(nearest, OPEN_SET_PERCENTILE))


def test_flagged_share(index: ClipIndex) -> float:
    """Share of test-fold clips called "none of the ten" against the training-fold clips alone."""
    test = np.isin(index.folds, list(index.test_folds))
    if not test.any() or test.all():
        return float("nan")
    nearest = (1.0 - index.vectors[test] @ index.vectors[~test].T).min(axis=1)
    return float(np.mean(nearest > index.threshold))


def place(
    index: ClipIndex, embedding: np.ndarray, k: int = NEIGHBOURS, exclude: Optional[str] = None
) -> Placement:
    """The `k` nearest clips (cosine distance, nearest first), the map point, and whether the clip is farther
    from every clip than the index's threshold. `exclude`: a clip name left out (the clip itself)."""
    query = normalise(np.asarray(embedding, dtype=np.float32).reshape(-1))
    if query.shape[0] != index.vectors.shape[1]:
        raise CheckpointError(
            f"The {index.model} map holds {index.vectors.shape[1]}-d embeddings, this clip's has {query.shape[0]}: "
            f"it was built from another model. Build it again (python -m train map RUN_DIR)."
        )
    distances = 1.0 - index.vectors @ query
    if exclude is not None:
        distances = np.where(index.clips == exclude, np.inf, distances)
    k = min(k, int(np.isfinite(distances).sum()))
    nearest = np.argpartition(distances, k - 1)[:k] if k else np.zeros(0, dtype=int)
    nearest = nearest[np.argsort(distances[nearest], kind="stable")]
    neighbours = [
        Neighbour(
            str(index.clips[i]), str(index.labels[i]), round(max(float(distances[i]), 0.0), DIGITS)
        )._asdict()
        for i in nearest
    ]
    closest = float(distances[nearest[0]]) if k else float("inf")
    far = bool(closest > index.threshold)
    xy = index.project(query[None, :])[0]
    return Placement(neighbours, [round(float(v), DIGITS) for v in xy], verdict(index.model, far))


def verdict(model: str, far: bool) -> OpenSetVerdict:
    """The embedding rule's answer, in words a visitor reads."""
    who = "HuBERT" if model.startswith("hubert") else "YAMNet"
    if far:
        reason = (
            f"{who}: this is farther from every ESC-50 clip than nearly all of them are from their own animal: "
            "probably not one of the ten"
        )
    else:
        reason = f"{who}: this is as close to an ESC-50 clip as clips of one animal are to each other"
    return OpenSetVerdict(far, reason)


# --------------------------------------------------------------------------- the run directory


def index_path(run_dir: str | os.PathLike[str], model: str) -> Path:
    return Path(run_dir) / MAP_DIR / f"{model}.npz"


def save_index(index: ClipIndex, run_dir: str | os.PathLike[str]) -> Path:
    """Write RUN_DIR/clip_map/<model>.npz atomically (plain arrays and strings: loads without pickle)."""
    path = index_path(run_dir, index.model)
    arrays = {k: getattr(index, k) for k in _ARRAYS}
    meta = {
        "format_version": np.array(FORMAT_VERSION),
        "model": np.array(index.model),
        "fingerprint": np.array(index.fingerprint),
        "threshold": np.array(index.threshold),
        "test_folds": np.array(index.test_folds, dtype=np.int64),
        "test_flagged": np.array(index.test_flagged),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would add ".npz"
        np.savez(f, **arrays, **meta)
    return path


def load_index(run_dir: str | os.PathLike[str], model: str) -> Optional[ClipIndex]:
    """The stored index, None when there is none; CheckpointError when it is damaged (then build it again)."""
    path = index_path(run_dir, model)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format_version"]) != FORMAT_VERSION or str(data["model"]) != model:
                raise ValueError("another format or model")
            arrays = {k: np.asarray(data[k]) for k in _ARRAYS}
            index = ClipIndex(
                model=model,
                fingerprint=str(data["fingerprint"]),
                threshold=float(data["threshold"]),
                test_folds=tuple(int(f) for f in data["test_folds"]),
                test_flagged=float(data["test_flagged"]),
                **arrays,
            )
        _check(index)
        return index
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"The clip map {path} is damaged ({error}). Build it again: python -m train map {run_dir}"
        ) from error


def _check(index: ClipIndex) -> None:
    n, d = index.vectors.shape
    shapes = {
        "clips": (n,),
        "labels": (n,),
        "folds": (n,),
        "xy": (n, 2),
        "pca_mean": (d,),
        "pca_components": (2, d),
    }
    for key, shape in shapes.items():
        if getattr(index, key).shape != shape:
            raise ValueError(f"'{key}' has shape {getattr(index, key).shape}, expected {shape}")
    if (
        not set(index.labels) <= set(CLASSES)
        or not np.all(np.isfinite(index.vectors))
        or not index.threshold >= 0
    ):
        raise ValueError("unexpected labels or numbers")


def build_index(
    model: str,
    embedder: Embedder,
    table: pd.DataFrame,
    test_folds: Sequence[int] = esc50.DEFAULT_TEST_FOLDS,
    *,
    cache_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> ClipIndex:
    """Embed `table`'s clips (column path; cached per embedder fingerprint) and index them."""
    vectors = embed_clips(
        embedder, list(table["path"]), cache_dir=cache_dir, progress=progress, cancel=cancel
    )
    return index_from_embeddings(model, embedder.fingerprint, table, vectors, test_folds)
