"""The app's nearest clips and maps: each run's clip maps loaded once and kept, a missing one built by one
background thread (never in a request: HuBERT takes minutes), and the fields of one side's answer."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio.clip_map import ClipIndex, index_path, load_index, place
from animal_audio.clip_map_run import build_for_run, embedder_of
from animal_audio.errors import CheckpointError
from animal_audio.models.base import Prediction
from animal_audio.models.probe import Embedder
from animal_audio.public_text import unexpected, visible

log = logging.getLogger(__name__)

#: A build that failed (no data, say) is tried again after this long, not on every request.
RETRY_SECONDS = 600.0
PREPARING = (
    "The map of the ESC-50 clips for this model is being prepared (once per run, in the background): "
    "ask again in a minute or two."
)
QUEUED = "The map of the ESC-50 clips for this model is next, after the one being prepared now."
NO_HEAD = "No clip map: this model is zero-shot, or no run here trained it (a map lives in its run's folder)."
NO_VECTOR = "This model's answer came without its embedding: no clip map."
MAP_FAILED = "The nearest clips could not be found (error id {error_id}); the server log has the details."

Key = tuple[Path, str]


class RunMaps:
    """The app's clip maps: one index per (run, model), reloaded when its file changes; at most one build
    at a time in the whole app, so no visitor can start more than that one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[Key, tuple[int, ClipIndex]] = {}
        self._building: Optional[Key] = None
        self._failed: dict[Key, tuple[float, str]] = {}

    def get(
        self, run_dir: Path, model: str, embedder: Embedder, lock: Optional[threading.Lock] = None
    ) -> tuple[Optional[ClipIndex], Optional[str]]:
        """(the index, None) when it is stored and made by this embedder; else (None, why), and its build
        starts in the background if none runs. `lock`: held around each clip the build embeds."""
        key = (Path(run_dir).resolve(), model)
        index = self._stored(key)
        if index is not None and index.fingerprint == embedder.fingerprint:
            return index, None
        return None, self._start(key, embedder, lock)

    def building(self) -> Optional[Key]:
        with self._lock:
            return self._building

    def _stored(self, key: Key) -> Optional[ClipIndex]:
        """The index on disk, read again only when its file changed; None if missing or damaged."""
        path = index_path(*key)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            kept = self._loaded.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        try:
            index = load_index(*key)
        except CheckpointError as error:  # rebuilt below, like a missing one
            log.warning("%s", error)
            return None
        if index is not None:
            with self._lock:
                self._loaded[key] = (stamp, index)
        return index

    def _start(self, key: Key, embedder: Embedder, lock: Optional[threading.Lock]) -> str:
        with self._lock:
            if self._building is not None:
                return PREPARING if self._building == key else QUEUED
            failed = self._failed.get(key)
            if failed is not None and time.monotonic() - failed[0] < RETRY_SECONDS:
                return failed[1]
            self._building = key
        thread = threading.Thread(
            target=self._build, args=(key, embedder, lock), name="clip-map", daemon=True
        )
        thread.start()
        return PREPARING

    def _build(self, key: Key, embedder: Embedder, lock: Optional[threading.Lock]) -> None:
        run_dir, model = key
        try:
            build_for_run(run_dir, model, _Locked(embedder, lock) if lock is not None else embedder)
            with self._lock:
                self._failed.pop(key, None)
        except Exception as error:  # remembered and shown; the app goes on without this map
            log.warning("the %s map of %s could not be built: %s", model, run_dir, error, exc_info=True)
            with self._lock:
                self._failed[key] = (time.monotonic(), f"The clip map could not be built: {visible(error)}")
        finally:
            with self._lock:
                self._building = None


class _Locked:
    """An Embedder that holds the app model's lock per clip: a request waits for one clip of a build
    (HuBERT-Base: under a second), not a batch of them."""

    def __init__(self, embedder: Embedder, lock: threading.Lock) -> None:
        self.embedder, self.lock = embedder, lock
        self.name, self.fingerprint = embedder.name, embedder.fingerprint

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms: Any) -> np.ndarray:
        rows = []
        for waveform in waveforms:
            with self.lock:
                rows.append(np.asarray(self.embedder.embed_batch([waveform])[0]))
        return np.stack(rows)

    def describe(self) -> str:
        return self.embedder.describe()


def map_fields(model: Any, prediction: Prediction, maps: RunMaps) -> dict[str, Any]:
    """A side's "neighbours" ([{clip, label, distance}], nearest first), "map_xy" ([x, y]) and, for HuBERT
    (YAMNet's is open_set.py's), "none_of_the_ten" and its reason; those None and "map_note" (why) when
    there is no map. `model`: the registry's LoadedModel that gave `prediction`; `maps`: the registry's."""
    trained = getattr(model, "trained", None)
    hubert = str(getattr(model.classifier, "name", "")).startswith("hubert")
    embedder = embedder_of(model.classifier) if trained is not None else None
    if trained is None or embedder is None:
        return _unanswered(NO_HEAD, hubert)
    if prediction.embedding is None:
        return _unanswered(NO_VECTOR, hubert)
    try:
        index, why = maps.get(trained.run_dir, trained.name, embedder, model.lock)
        placement = place(index, prediction.embedding) if index is not None else None
    except Exception as error:  # the map is an extra: the answer stands without it
        return _unanswered(unexpected(error, MAP_FAILED, logger=log), hubert)
    if placement is None:
        return _unanswered(why or PREPARING, hubert)
    fields: dict[str, Any] = {"neighbours": placement.neighbours, "map_xy": placement.map_xy}
    if hubert:
        fields.update(
            {"none_of_the_ten": placement.verdict.none_of_the_ten, "open_set": placement.verdict.as_dict()}
        )
    return fields


def _unanswered(why: str, hubert: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"neighbours": None, "map_xy": None, "map_note": why}
    return {**fields, "none_of_the_ten": None, "open_set": None} if hubert else fields


def index_for(model: Any, maps: RunMaps) -> Optional[ClipIndex]:
    """The ready map of a registry LoadedModel's run, for drawing it (plots/clip_map.py); None if not ready."""
    trained = getattr(model, "trained", None)
    embedder = embedder_of(model.classifier) if trained is not None else None
    if trained is None or embedder is None:
        return None
    return maps.get(trained.run_dir, trained.name, embedder, model.lock)[0]


def side_map_figure(model: Any, entry: dict[str, Any], title: str, maps: RunMaps, lang: str = "en") -> Any:
    """The map of a side's run with the clip of its /classify `entry` as a star (plots/clip_map.py), or None
    when the side has no ready map. `model`: `registry.get(side)`, the LoadedModel that answered."""
    from animal_audio.plots.clip_map import map_figure

    index = index_for(model, maps)
    if index is None or not entry.get("map_xy"):
        return None
    return map_figure(index, entry["map_xy"], title, lang)
