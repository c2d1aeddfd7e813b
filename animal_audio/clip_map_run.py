"""A run's clip maps: which clips and folds the run used, which vector each trained model gives, and
building every map of a finished run (`python -m train map RUN_DIR`; the app builds one lazily, run_maps.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from animal_audio import esc50, settings
from animal_audio.clip_map import MODELS, ClipIndex, build_index, save_index
from animal_audio.errors import DatasetError
from animal_audio.fileio import read_json
from animal_audio.models.probe import Embedder
from animal_audio.progress import CancelCheck, ProgressCallback
from animal_audio.runs import METRICS_FILE

if TYPE_CHECKING:  # pandas loads only where a table is read: not at the app's start
    import pandas as pd

log = logging.getLogger(__name__)


def run_clips(
    run_dir: str | os.PathLike[str], data_dir: Optional[str | os.PathLike[str]] = None
) -> tuple[pd.DataFrame, tuple[int, ...]]:
    """The prepared ESC-50 clips a finished run used (filename, path, label, fold) and its (last) test folds."""
    metrics = read_json(Path(run_dir) / METRICS_FILE) or {}
    splits = (metrics.get("protocol") or {}).get("splits") or [{}]
    test_folds = tuple(splits[-1].get("test_folds") or esc50.DEFAULT_TEST_FOLDS)
    source = data_dir or (metrics.get("config") or {}).get("data_dir")
    try:
        table = esc50.load_manifest(settings.data_dir(source))
    except DatasetError as error:
        raise DatasetError(f"The run's ESC-50 clips are not readable for its map: {error}") from error
    return table, test_folds


def build_for_run(
    run_dir: str | os.PathLike[str],
    model: str,
    embedder: Embedder,
    *,
    data_dir: Optional[str | os.PathLike[str]] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> ClipIndex:
    """Build the index of `model` from the run's clips with `embedder` (`embedder_of` its classifier), store it."""
    table, test_folds = run_clips(run_dir, data_dir)
    index = build_index(model, embedder, table, test_folds, progress=progress, cancel=cancel)
    save_index(index, run_dir)
    log.info(
        "%s map of %d clips in %s: open-set threshold %.3f, %.1f%% of test-fold clips flagged",
        model,
        len(index.clips),
        run_dir,
        index.threshold,
        100 * index.test_flagged,
    )
    return index


# --------------------------------------------------------------------------- which vector a model gives


class FinetunedEmbedder:
    """Fine-tuned HuBERT as an Embedder: its projector outputs' mean, the vector its head reads (from
    `Prediction.embedding`), so embed_clips caches it like a probe's embeddings."""

    name = "hubert-finetune"

    def __init__(self, classifier: Any) -> None:
        from animal_audio.models.hubert_files import digest, identity_parts

        self.classifier = classifier
        parts = identity_parts(classifier.source, classifier.config)
        self.fingerprint = (
            "hubert-finetune-" + digest({**parts, "fast": classifier.fast, "output": "projector mean"})[:16]
        )

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([p.embedding for p in self.classifier.predict_batch(waveforms)]).astype(np.float32)

    def describe(self) -> str:
        return f"projector outputs of {self.classifier.describe()}"


def model_name(classifier: Any) -> Optional[str]:
    """Which of MODELS a loaded classifier is (fine-tuned HuBERT answers as "hubert"), None for the others."""
    name = str(getattr(classifier, "name", ""))
    name = "hubert-finetune" if name == "hubert" else name
    return name if name in MODELS else None


def embedder_of(classifier: Any) -> Optional[Embedder]:
    """The Embedder whose vectors are the ones `classifier.predict` puts in Prediction.embedding."""
    name = model_name(classifier)
    if name == "hubert-finetune":
        return FinetunedEmbedder(classifier)
    return getattr(classifier, "embedder", None) if name else None


def build_run_maps(
    run_dir: str | os.PathLike[str],
    *,
    data_dir: Optional[str | os.PathLike[str]] = None,
    yamnet: Optional[str] = None,
    hubert: Optional[str] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> dict[str, ClipIndex]:
    """Every map of a finished run (`python -m train map`): its models loaded as the app loads them."""
    from animal_audio.robustness_run import load_run_models

    models = load_run_models(run_dir, yamnet=yamnet, hubert=hubert)
    built = {}
    for name, classifier in models.items():
        embedder = embedder_of(classifier)
        if embedder is not None:
            built[name] = build_for_run(
                run_dir, name, embedder, data_dir=data_dir, progress=progress, cancel=cancel
            )
    return built
