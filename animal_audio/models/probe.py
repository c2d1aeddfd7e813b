"""A linear head (StandardScaler + LogisticRegression) on frozen YAMNet or HuBERT embeddings.

Only its arrays are saved (safetensors + probe.json, no pickle) and predictions are computed from them
with numpy: a loaded head predicts exactly what the fitted one did, and loading runs no code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from animal_audio.errors import CheckpointError, NotTrainedError
from animal_audio.fileio import atomic_path, write_json
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.models.base import Prediction, softmax
from animal_audio.pooling import LEGACY_POOLING, POOLINGS, check_pooling, pool_frames, pooled_timeline

log = logging.getLogger(__name__)

FORMAT = "animal-audio/linear-probe"
#: 2: probe.json names the pooling of its features (pooling.py); a version-1 head is a "mean" head.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
META_FILE = "probe.json"
WEIGHTS_GLOB = "probe-*.safetensors"
#: Inverse L2 strength; sklearn's default, standardised features make it a sensible scale.
REGULARISATION_C = 1.0
MAX_ITER = 2000
_ARRAYS = ("mean", "scale", "coef", "intercept")


@runtime_checkable
class Embedder(Protocol):
    """Turns a waveform into one fixed-size vector; `fingerprint` changes whenever its outputs would.
    Embedders that also have `embed_frames(waveform) -> timeline.Frames` give the probe a timeline."""

    name: str
    fingerprint: str

    def embed(self, waveform: np.ndarray) -> np.ndarray: ...

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray: ...

    def describe(self) -> str: ...


class LinearProbe:
    """Standardise, then multinomial logistic regression; probabilities always over all of `labels` (the ten
    animals by default). `pooling` says how its features were made from the clip's frames (pooling.py)."""

    def __init__(self, pooling: str = LEGACY_POOLING, labels: LabelSet = ANIMALS) -> None:
        self._arrays: dict[str, np.ndarray] | None = None
        self.pooling = check_pooling(pooling)
        self.labels = labels
        self.embedder_name = ""
        self.embedder_fingerprint = ""
        self.embedder_layer: int | str | None = None  # HuBERT's hidden layer it reads; None: the default
        self.info: dict[str, Any] = {}

    @property
    def fitted(self) -> bool:
        return self._arrays is not None

    @property
    def dim(self) -> int:
        return int(self._require()["mean"].shape[0])

    def fit(
        self,
        X: np.ndarray,
        y: Sequence[int] | Sequence[str] | np.ndarray,
        *,
        seed: int = 0,
        embedder: Any = None,
        C: float = REGULARISATION_C,
    ) -> LinearProbe:
        """Fit on embeddings X [n, d] (pooled as self.pooling) and labels y (indices or names); returns self.
        `C`: inverse L2 strength (head_choice.py picks it on the validation fold)."""
        from threadpoolctl import threadpool_limits

        X = _as_matrix(X)
        targets = _as_targets(y, self.labels)
        if len(targets) != len(X):
            raise ValueError(f"{len(X)} embeddings but {len(targets)} labels")
        if len(np.unique(targets)) < 2:
            raise ValueError("A probe needs clips of at least two classes to learn from.")
        started = time.perf_counter()
        pipeline = head_pipeline(C, seed)
        # Single-threaded BLAS: the problem is small, and on a busy CPU (torch and TF threads
        # beside it) multi-threaded OpenBLAS made this fit ~30x slower here.
        with threadpool_limits(limits=1, user_api="blas"):
            pipeline.fit(X, targets)
        scaler, rotation, logistic = pipeline
        # Back from the rotated space: logits = (x - m) R^T b^T + c = x (b R)^T + (c - (b R) m).
        head_coef = logistic.coef_ @ rotation.components_
        head_intercept = logistic.intercept_ - head_coef @ rotation.mean_
        # Expand to all classes: a class absent from training gets -inf logit, i.e. probability 0.
        coef = np.zeros((len(self.labels), X.shape[1]))
        intercept = np.full(len(self.labels), -np.inf)
        present = logistic.classes_.astype(int)
        if len(present) == 2:  # sklearn keeps one row for two classes: logit(b) - logit(a)
            coef[present[1]], intercept[present[1]] = head_coef[0], head_intercept[0]
            intercept[present[0]] = 0.0
        else:
            coef[present], intercept[present] = head_coef, head_intercept
        self._arrays = {
            "mean": scaler.mean_.astype(np.float64),
            "scale": scaler.scale_.astype(np.float64),
            "coef": coef,
            "intercept": intercept,
        }
        if embedder is not None:
            self.embedder_name = str(getattr(embedder, "name", ""))
            self.embedder_fingerprint = str(getattr(embedder, "fingerprint", ""))
            self.embedder_layer = getattr(embedder, "layer", None)
        self.info = {
            "seed": seed,
            "train_clips": len(X),
            "classes_seen": [self.labels.names[i] for i in present],
            "regularisation_C": C,
            "pooling": self.pooling,
            "iterations": int(np.max(logistic.n_iter_)),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """[n, classes] probabilities in label order."""
        arrays = self._require()
        X = _as_matrix(X)
        if X.shape[1] != arrays["mean"].shape[0]:
            raise CheckpointError(
                f"This probe expects {arrays['mean'].shape[0]}-dimensional embeddings "
                f"(from {self.embedder_name or 'its embedder'}), got {X.shape[1]}. "
                "Use the embedder it was trained with, or train the probe again."
            )
        logits = ((X - arrays["mean"]) / arrays["scale"]) @ arrays["coef"].T + arrays["intercept"]
        return softmax(logits, axis=1)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write weights (named by content hash) first and probe.json last, then drop stale weights:
        an interruption leaves the old head or the new one, never a mix."""
        from safetensors.numpy import save

        arrays = self._require()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
        digest = hashlib.sha256(data).hexdigest()
        weights = directory / f"probe-{digest[:16]}.safetensors"
        with atomic_path(weights) as tmp:
            tmp.write_bytes(data)
        write_json(
            directory / META_FILE,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "labels": list(self.labels.names),
                **({"display_names": dict(self.labels.display_names)} if not self.labels.is_animals else {}),
                "dim": int(arrays["mean"].shape[0]),
                "pooling": self.pooling,
                "embedder": {
                    "name": self.embedder_name,
                    "fingerprint": self.embedder_fingerprint,
                    **({"layer": self.embedder_layer} if self.embedder_layer is not None else {}),
                },
                "weights": {"file": weights.name, "sha256": digest, "bytes": len(data)},
                "model": "StandardScaler + LogisticRegression (multinomial, L2), scikit-learn",
                "training": self.info,
            },
        )
        for stale in directory.glob(WEIGHTS_GLOB):
            if stale.name != weights.name:
                stale.unlink(missing_ok=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> LinearProbe:
        """Read a saved probe: NotTrainedError if none was saved here, CheckpointError if it is damaged."""
        from safetensors.numpy import load

        directory = Path(directory)
        meta = _read_meta(directory)
        weights = directory / str(meta["weights"].get("file", ""))
        if weights.parent != directory or not weights.is_file():
            raise CheckpointError(
                f"The probe weights {weights.name} named in {directory / META_FILE} are missing. "
                "Train the probe again (the comparison pipeline saves it)."
            )
        data = weights.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["weights"].get("sha256"):
            raise CheckpointError(
                f"{weights} does not match the sha256 recorded in {META_FILE} "
                f"({len(data)} bytes, expected {meta['weights'].get('bytes')}): the file is truncated "
                "or was modified. Train the probe again."
            )
        try:
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in load(data).items()}
        except Exception as error:  # safetensors raises its own error types for bad headers
            raise CheckpointError(
                f"{weights} is not a valid safetensors file ({error}). Train the probe again."
            ) from error
        labels = LabelSet.from_dict({"names": meta["labels"], "display_names": meta.get("display_names")})
        _check_arrays(arrays, int(meta["dim"]), len(labels), weights)
        probe = cls(str(meta.get("pooling", LEGACY_POOLING)), labels)
        probe._arrays = {k: arrays[k] for k in _ARRAYS}
        probe.embedder_name = str(meta["embedder"].get("name", ""))
        probe.embedder_fingerprint = str(meta["embedder"].get("fingerprint", ""))
        probe.embedder_layer = meta["embedder"].get("layer")
        probe.info = dict(meta.get("training") or {})
        return probe

    def describe(self) -> str:
        if not self.fitted:
            return "linear probe (not trained)"
        seen = self.info.get("train_clips")
        return f"linear probe on {self.dim}-d {self.pooling} {self.embedder_name or 'embeddings'}" + (
            f", trained on {seen} clips" if seen else ""
        )

    def _require(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            raise NotTrainedError("This probe has not been trained yet. Fit it, or load a saved one.")
        return self._arrays


class ProbeClassifier:
    """Any Embedder followed by a LinearProbe: the yamnet-probe and hubert-probe classifiers."""

    def __init__(self, name: str, embedder: Embedder, probe: LinearProbe) -> None:
        if probe.embedder_name and probe.embedder_name != embedder.name:
            raise CheckpointError(
                f"The {name} head was trained on {probe.embedder_name} embeddings, not {embedder.name}. "
                "Load the head that belongs to this model, or train it again."
            )
        if probe.embedder_fingerprint and probe.embedder_fingerprint != embedder.fingerprint:
            log.warning(
                "%s: head trained on embeddings from %s, now used with %s; predictions may drift",
                name,
                probe.embedder_fingerprint,
                embedder.fingerprint,
            )
        self.name = name
        self.embedder = embedder
        self.probe = probe

    @classmethod
    def from_dir(cls, name: str, embedder: Embedder, directory: str | os.PathLike[str]) -> ProbeClassifier:
        return cls(name, embedder, LinearProbe.load(directory))

    def predict(self, waveform: np.ndarray) -> Prediction:
        """The head on the clip's pooled frames and, for an embedder that gives its frames (`embed_frames`),
        on each timeline window's: both from one forward pass. `embedding`: the mean (the clip map's space)."""
        started = time.perf_counter()
        embed_frames = getattr(self.embedder, "embed_frames", None)
        if embed_frames is None:
            vector = np.asarray(self.embedder.embed(waveform))
            probs = self.probe.predict_proba(vector[None, :])[0]
            seconds = time.perf_counter() - started
            return Prediction(self.name, probs, seconds, embedding=vector, labels=self.probe.labels)
        frames = embed_frames(waveform)
        vector = np.asarray(frames.clip())
        features = pool_frames(frames.values, self.probe.pooling)
        probs = self.probe.predict_proba(features[None, :])[0]
        timeline = pooled_timeline(frames, self.probe.pooling, self.probe.predict_proba)
        return Prediction(
            self.name,
            probs,
            time.perf_counter() - started,
            timeline=timeline,
            embedding=vector,
            labels=self.probe.labels,
        )

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        if not len(waveforms):
            return []
        if self.probe.pooling != LEGACY_POOLING:
            return [self.predict(w) for w in waveforms]
        started = time.perf_counter()
        vectors = np.asarray(self.embedder.embed_batch(waveforms))
        probs = self.probe.predict_proba(vectors)
        each = (time.perf_counter() - started) / len(waveforms)
        labels = self.probe.labels
        return [Prediction(self.name, p, each, embedding=v, labels=labels) for p, v in zip(probs, vectors)]

    def describe(self) -> str:
        return f"{self.name}: {self.probe.describe()}; embeddings from {self.embedder.describe()}"


def head_pipeline(C: float = REGULARISATION_C, seed: int = 0) -> Any:
    """The head's scikit-learn form (standardise, rotate onto the training clips' span, multinomial logistic
    regression): what LinearProbe fits, and what leave-one-out estimates refit per clip.

    With fewer clips than dimensions the L2 optimum lies in the span of the training clips, so the full-rank
    PCA (a rotation, nothing dropped) gives the same head in far fewer variables (benchmarks/README.md)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        PCA(svd_solver="full"),
        LogisticRegression(C=C, max_iter=MAX_ITER, random_state=seed),
    )


def head_layer(directory: str | os.PathLike[str]) -> int | str | None:
    """The HuBERT layer a saved head reads (load its embedder with it); None: the embedder's default."""
    try:
        return LinearProbe.load(directory).embedder_layer
    except (NotTrainedError, CheckpointError):
        return None


def _as_matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"expected embeddings of shape [clips, dim], got {X.shape}")
    return X


def _as_targets(y: Sequence[int] | Sequence[str] | np.ndarray, labels: LabelSet) -> np.ndarray:
    values = list(np.asarray(y).reshape(-1))
    last = len(labels) - 1
    try:
        targets = np.array(
            [labels.index(v) if isinstance(v, str) else int(v) for v in values], dtype=np.int64
        )
    except ValueError as error:
        raise ValueError(
            f"labels must be class indices 0-{last} or names of the label set: {error}"
        ) from None
    if len(targets) and (targets.min() < 0 or targets.max() > last):
        raise ValueError(f"class indices must be in 0-{last}")
    return targets


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file():
        raise NotTrainedError(
            f"No trained probe in {directory} ({META_FILE} is missing). "
            "Train it first, e.g. run the comparison with this model selected."
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is truncated or corrupt ({error}). Train the probe again.") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a linear-probe file of this program. Train the probe again.")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has format version {meta.get('format_version')}, this program reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}. Train the probe again with this version."
        )
    if meta.get("pooling", LEGACY_POOLING) not in POOLINGS:
        raise CheckpointError(
            f"{path} names an unknown pooling {meta.get('pooling')!r}. Train the probe again."
        )
    names = meta.get("labels")
    valid = isinstance(names, list) and all(isinstance(n, str) and n.strip() for n in names)
    if not valid or len(names) < 2 or len(set(names)) != len(names):
        raise CheckpointError(f"{path} names no valid labels ({names!r}). Train the probe again.")
    if not isinstance(meta.get("weights"), dict) or not isinstance(meta.get("embedder"), dict):
        raise CheckpointError(f"{path} lacks its weights or embedder entry. Train the probe again.")
    if not isinstance(meta.get("dim"), int) or meta["dim"] <= 0:
        raise CheckpointError(f"{path} has no valid embedding size. Train the probe again.")
    return meta


def _check_arrays(arrays: dict[str, np.ndarray], dim: int, classes: int, path: Path) -> None:
    expected = {"mean": (dim,), "scale": (dim,), "coef": (classes, dim), "intercept": (classes,)}
    for key, shape in expected.items():
        if key not in arrays or arrays[key].shape != shape:
            found = arrays[key].shape if key in arrays else "missing"
            raise CheckpointError(
                f"{path}: '{key}' should have shape {shape}, found {found}. Train the probe again."
            )
    if np.any(arrays["scale"] <= 0) or np.isnan(arrays["coef"]).any():
        raise CheckpointError(f"{path} holds invalid numbers. Train the probe again.")
