"""Train a linear head per model on a teach session's clips, say how well it does, and classify with it.

Each clip is embedded once per model (kept in the session), with the embedders the caller already loaded
(the app's: `demo/teach.py`); the head is the comparison's LinearProbe over the session's own LabelSet.
Leave-one-out accuracy and confusion come from scikit-learn (`cross_val_predict` with `LeaveOneOut`) on the
same StandardScaler + LogisticRegression the probe fits. Heads export as probe.json + safetensors per model.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Mapping, Optional, Union

import numpy as np

from animal_audio.audio import read_clip
from animal_audio.fileio import write_json
from animal_audio.labels import LabelSet
from animal_audio.models.probe import Embedder, LinearProbe, ProbeClassifier, head_pipeline
from animal_audio.pooling import DEFAULT_POOLING, LEGACY_POOLING, pool_frames
from animal_audio.progress import ProgressCallback, report
from animal_audio.teach import Clip, TeachError, TeachMessage, TeachSession

log = logging.getLogger(__name__)

#: The order models are trained and shown in (the Classify tab's: HuBERT left, YAMNet right).
ORDER = ("hubert", "yamnet")
TITLES = {"hubert": "HuBERT", "yamnet": "YAMNet"}
HEADS_FOLDER = "teach-heads"


@dataclass(frozen=True)
class TeachModel:
    """An embedder someone else loaded and owns, and the lock that serialises its network."""

    side: str
    embedder: Embedder
    lock: ContextManager[Any] = field(default_factory=contextlib.nullcontext)

    @property
    def title(self) -> str:
        return TITLES.get(self.side, self.side)

    @property
    def pooling(self) -> str:
        """mean+max of the frames where the embedder gives frames (a short sound keeps its peak), else the mean."""
        return DEFAULT_POOLING if hasattr(self.embedder, "embed_frames") else LEGACY_POOLING

    @property
    def key(self) -> str:
        return f"{self.embedder.fingerprint}:{self.pooling}"


#: A side's model, or why it has none (a message for the visitor).
Available = Union[TeachModel, TeachMessage]


@dataclass
class HeadResult:
    """One model's head on the session's clips, and how it did on each clip when that clip was left out."""

    side: str
    probe: LinearProbe
    targets: np.ndarray  # class index per clip
    predicted: np.ndarray  # leave-one-out prediction per clip
    embed_seconds: float
    fit_seconds: float

    @property
    def title(self) -> str:
        return TITLES.get(self.side, self.side)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.targets == self.predicted))

    def confusion(self) -> np.ndarray:
        from sklearn.metrics import confusion_matrix

        return confusion_matrix(self.targets, self.predicted, labels=range(len(self.probe.labels)))


@dataclass
class TeachResult:
    """The heads one training made, over the session's classes as they were, and why a model is missing."""

    labels: LabelSet
    heads: dict[str, HeadResult]
    notes: list[TeachMessage] = field(default_factory=list)


def train_heads(
    session: TeachSession, models: Mapping[str, Available], *, progress: Optional[ProgressCallback] = None
) -> TeachResult:
    """A head per available model on every clip of `session` (each embedded once per model); TeachError
    while a class lacks clips or no model can embed. Kept as `session.heads`."""
    missing = session.missing()
    if missing:
        raise TeachError(missing[0].key, **missing[0].fields)
    labels = session.labels()
    clips = session.clips()
    targets = np.array([labels.index(name) for name, _ in clips])
    heads, notes = {}, []
    usable = [(side, models[side]) for side in ORDER if side in models]
    for step, (side, model) in enumerate(usable):
        if not isinstance(model, TeachModel):
            notes.append(model)
            continue
        started = time.perf_counter()

        def embedded(done: int, side: str = side, step: int = step) -> None:
            report(
                progress,
                "embed",
                (step + done / len(clips)) / len(usable),
                f"{TITLES[side]}: {done}/{len(clips)}",
            )

        X = _features(session, model, [clip for _, clip in clips], embedded)
        embed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        probe = LinearProbe(model.pooling, labels).fit(X, targets, embedder=model.embedder)
        predicted = leave_one_out(X, targets)
        heads[side] = HeadResult(
            side, probe, targets, predicted, embed_seconds, time.perf_counter() - started
        )
        log.info(
            "teach: %s head on %d clips, leave-one-out accuracy %.2f", side, len(clips), heads[side].accuracy
        )
    if not heads:
        raise TeachError("teach_err_no_model")
    session.heads = TeachResult(labels, heads, notes)
    return session.heads


def leave_one_out(X: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each clip's class as predicted by the probe's pipeline trained on all the other clips."""
    from sklearn.model_selection import LeaveOneOut, cross_val_predict
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small problem, busy CPU: see LinearProbe.fit
        return cross_val_predict(head_pipeline(), X, targets, cv=LeaveOneOut())


def classify_heads(result: TeachResult, models: Mapping[str, Available], source: Any) -> dict[str, Any]:
    """Both heads on one new clip: side -> Prediction, or a TeachMessage saying why that side has none."""
    wave = read_clip(source).waveform
    out: dict[str, Any] = {}
    for side in ORDER:
        head, model = result.heads.get(side), models.get(side)
        if head is None:
            out[side] = next((n for n in result.notes if n.fields.get("model") == TITLES[side]), None)
            continue
        if not isinstance(model, TeachModel) or model.embedder.fingerprint != head.probe.embedder_fingerprint:
            out[side] = TeachMessage("teach_err_model_changed", {"model": head.title})
            continue
        with model.lock:
            out[side] = ProbeClassifier(f"{side}-probe", model.embedder, head.probe).predict(wave)
    return out


def export_heads(session: TeachSession) -> Path:
    """The trained heads as a zip: `<model>/probe.json` + its safetensors, and labels.json (LinearProbe.load
    reads each folder)."""
    result = session.heads
    if result is None:
        raise TeachError("teach_err_train_first")
    folder = session.out_dir() / HEADS_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    for side, head in result.heads.items():
        head.probe.save(folder / side)
    write_json(folder / "labels.json", result.labels.as_dict())
    path = session.out_dir() / f"{HEADS_FOLDER}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, f"{HEADS_FOLDER}/{file.relative_to(folder).as_posix()}")
    return path


def _features(session: TeachSession, model: TeachModel, clips: list[Clip], done: Any) -> np.ndarray:
    """One row per clip: kept from an earlier training, else embedded now (read back from its WAV)."""
    rows = []
    for count, clip in enumerate(clips, start=1):
        values = session.features(clip, model.key)
        if values is None:
            wave = read_clip(clip.path).waveform
            with model.lock:
                if model.pooling == LEGACY_POOLING:
                    values = np.asarray(model.embedder.embed(wave), dtype=np.float32)
                else:
                    values = pool_frames(model.embedder.embed_frames(wave).values, model.pooling)
            session.keep_features(clip, model.key, values)
        rows.append(values)
        done(count)
    return np.stack(rows)
