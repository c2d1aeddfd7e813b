"""Which weights each side uses, loaded lazily, once per process, and shared by every request.

HuBERT: a model trained in this app session, else ANIMAL_AUDIO_HUBERT, else the latest
comparison run, else the base model (which has no trained head: "not trained yet").
YAMNet: the linear probe from the latest run when there is one, else zero-shot.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE
from animal_audio.demo.formatting import first_sentence
from animal_audio.demo.run_models import (
    finetuned_checkpoint,
    has_trained_hubert,
    run_config,
    run_model_dir,
)
from animal_audio.demo.sides import (
    HUBERT,
    NOT_LOADED,
    NOT_TRAINED,
    READY,
    SIDE_TITLES,
    SIDES,
    UNAVAILABLE,
    YAMNET,
)
from animal_audio.demo.status import ModelStatus, fix_text, is_not_trained
from animal_audio.errors import AnimalAudioError, ModelUnavailableError

log = logging.getLogger(__name__)

#: The keys `Registry.get` knows: both sides, and YAMNet zero-shot (also YAMNet's own AudioSet view).
ZEROSHOT = "zeroshot"
#: Hub ids of HuBERT base models without a classification head (pretrained on speech only).
BASE_HUBERTS = frozenset({"facebook/hubert-base-ls960", "facebook/hubert-large-ll60k"})
#: Seconds of a synthetic clip used to warm the models up (first inference is slower).
WARMUP_SECONDS = 1.0


@dataclass
class LoadedModel:
    """A classifier and where its weights came from; `lock` serialises its predictions."""

    classifier: Any
    origin: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return str(getattr(self.classifier, "name", "model"))

    def describe(self) -> str:
        describe = getattr(self.classifier, "describe", None)
        return str(describe()) if callable(describe) else self.name

    def predict(self, waveform: np.ndarray) -> Any:
        with self.lock:
            return self.classifier.predict(waveform)


class ModelLoadingError(ModelUnavailableError):
    """The model is being loaded by another thread right now; it will be ready soon."""


@dataclass
class _Slot:
    loaded: Optional[LoadedModel] = None
    error: Optional[ModelUnavailableError] = None
    origin: str = ""


class Registry:
    """Loads each model on first use, once, and shares it between requests (thread-safe).

    A load failure is remembered (so a request does not retry a 30 s timeout every
    time) until `reset()`; `use_run()` switches to the models of a new comparison run.
    """

    def __init__(
        self,
        *,
        hubert: Optional[str] = None,
        yamnet: Optional[str] = None,
        runs_dir: Optional[Path] = None,
        use_latest_run: bool = True,
    ) -> None:
        self._hubert_arg = hubert
        self._yamnet_arg = yamnet
        self._runs_dir = runs_dir
        self._use_latest_run = use_latest_run
        self._trained_run: Optional[Path] = None
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.RLock()
        self._load_locks = {key: threading.Lock() for key in (HUBERT, YAMNET, ZEROSHOT)}

    # ---- which weights

    def hubert_source(self) -> Optional[str]:
        """The explicit HuBERT source (argument or ANIMAL_AUDIO_HUBERT), None when only defaults are left."""
        return self._hubert_arg or os.environ.get(settings.ENV_HUBERT) or None

    def yamnet_source(self) -> str:
        return settings.yamnet_source(self._yamnet_arg)

    def run_dir(self) -> Optional[Path]:
        """The comparison run whose trained models the app uses, if any."""
        if self._trained_run is not None:
            return self._trained_run
        if not self._use_latest_run:
            return None
        from animal_audio.pipeline import latest_run

        try:
            return latest_run(self._runs_dir)
        except (OSError, ValueError) as error:
            log.warning("could not look for the latest run: %s", error)
            return None

    # ---- loading

    def get(self, key: str, *, wait: Optional[float] = None) -> LoadedModel:
        """The model for `key` ("hubert", "yamnet" or "zeroshot"); ModelUnavailableError if it cannot load.

        With `wait`, gives up after that many seconds when another thread (the warm-up) is
        still loading it, raising ModelLoadingError, so one slow model does not hold up the other.
        """
        slot = self._slots.get(key)
        if slot is not None:
            if slot.loaded is not None:
                return slot.loaded
            if slot.error is not None:
                raise slot.error
        lock = self._load_locks[key]
        if not lock.acquire(timeout=-1 if wait is None else wait):
            raise ModelLoadingError(
                f"{SIDE_TITLES.get(key, 'YAMNet')} is still loading (first start after launch). "
                "Try again in a moment."
            )
        try:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._load(key)
                with self._lock:
                    self._slots[key] = slot
        finally:
            lock.release()
        if slot.loaded is None:
            assert slot.error is not None
            raise slot.error
        return slot.loaded

    def loaded(self, key: str) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.loaded is not None

    def reset(self) -> None:
        """Forget load results (failures included): the next request loads again."""
        with self._lock:
            self._slots.clear()

    def use_run(self, run_dir: str | os.PathLike[str]) -> None:
        """Use the models a newly finished comparison run trained (HuBERT and the YAMNet probe)."""
        with self._lock:
            self._trained_run = Path(run_dir)
            self._slots.pop(HUBERT, None)
            self._slots.pop(YAMNET, None)

    def warm_up(self) -> None:
        """Load every model and run it once on a short synthetic sound, so the first visitor waits less."""
        rng = np.random.default_rng(0)
        wave = (0.1 * rng.standard_normal(int(WARMUP_SECONDS * SAMPLE_RATE))).astype(np.float32)
        for key in (YAMNET, ZEROSHOT, HUBERT):
            try:
                self.get(key).predict(wave)
            except ModelUnavailableError as error:
                log.info("warm-up: %s unavailable: %s", key, error)
            except Exception:  # a warm-up must never take the app down
                log.exception("warm-up of %s failed", key)

    def _load(self, key: str) -> _Slot:
        started = time.perf_counter()
        loader = {HUBERT: self._load_hubert, YAMNET: self._load_yamnet, ZEROSHOT: self._load_zeroshot}[key]
        try:
            loaded = loader()
        except ModelUnavailableError as error:
            log.warning("%s unavailable: %s", key, error)
            return _Slot(error=error)
        except AnimalAudioError as error:  # e.g. a damaged checkpoint or head
            log.warning("%s unavailable: %s", key, error)
            return _Slot(error=_unavailable(error))
        except ImportError as error:  # a framework missing from this install
            log.warning("%s unavailable: %s", key, error)
            return _Slot(
                error=ModelUnavailableError(
                    f"The code for this model could not be imported ({error}). "
                    "Install the requirements: `pip install -r requirements.txt`."
                )
            )
        log.info("%s ready in %.1f s: %s", key, time.perf_counter() - started, loaded.describe())
        return _Slot(loaded=loaded, origin=loaded.origin)

    def _load_zeroshot(self) -> LoadedModel:
        from animal_audio.models.yamnet import YamnetZeroShot

        source = self.yamnet_source()
        return LoadedModel(
            YamnetZeroShot.load(source), _origin_of(source, settings.ENV_YAMNET, self._yamnet_arg)
        )

    def _load_yamnet(self) -> LoadedModel:
        run_dir = self.run_dir()
        probe_dir = run_model_dir(run_dir, "yamnet-probe") if run_dir else None
        if probe_dir is not None:
            from animal_audio.models.probe import ProbeClassifier
            from animal_audio.models.yamnet import YamnetModel

            try:
                model = YamnetModel.load(self.yamnet_source())
                return LoadedModel(
                    ProbeClassifier.from_dir("yamnet-probe", model, probe_dir),
                    f"linear head trained in run {run_dir.name} ({probe_dir})",
                )
            except AnimalAudioError as error:
                log.warning("the yamnet-probe of %s cannot be used (%s); using zero-shot", run_dir, error)
        zeroshot = self.get(ZEROSHOT)
        return LoadedModel(zeroshot.classifier, zeroshot.origin, zeroshot.lock)

    def _load_hubert(self) -> LoadedModel:
        explicit = self.hubert_source()
        if explicit and self._trained_run is None:
            return self._explicit_hubert(explicit)
        run_dir = self.run_dir()
        if run_dir is not None:
            found = self._hubert_from_run(run_dir)
            if found is not None:
                return found
        if explicit:
            return self._explicit_hubert(explicit)
        return self._default_hubert()

    def _explicit_hubert(self, source: str) -> LoadedModel:
        from animal_audio.models.hubert import HubertClassifier

        return LoadedModel(
            HubertClassifier.load(source), _origin_of(source, settings.ENV_HUBERT, self._hubert_arg)
        )

    def _default_hubert(self) -> LoadedModel:
        """The default hub id; for a base model, 'not trained yet' without downloading it."""
        from animal_audio.models.hubert import HubertClassifier

        if settings.DEFAULT_HUBERT in BASE_HUBERTS:
            # Known to have no animal head: say so at once instead of downloading ~360 MB to find out.
            raise ModelUnavailableError(
                f"No trained HuBERT yet: the default {settings.DEFAULT_HUBERT} is the self-supervised base "
                "model, which has never been trained on the 10 animals."
            )
        try:
            classifier = HubertClassifier.load(settings.DEFAULT_HUBERT)
        except ModelUnavailableError as error:
            if is_not_trained(str(error)):
                raise
            # The default is the self-supervised base model: even once downloaded it has no animal head.
            raise ModelUnavailableError(
                f"No trained HuBERT yet: the default {settings.DEFAULT_HUBERT} is the self-supervised base "
                "model, not trained yet for the 10 animals (it also could not be loaded here: "
                f"{first_sentence(str(error)).rstrip('.')})."
            ) from error
        return LoadedModel(classifier, "default (base model, no animal head)")

    def _hubert_from_run(self, run_dir: Path) -> Optional[LoadedModel]:
        """hubert-finetune's checkpoint, else the hubert-probe head, of a finished run."""
        from animal_audio.models.hubert import HubertClassifier

        checkpoint = finetuned_checkpoint(run_dir)
        if checkpoint is not None:
            return LoadedModel(
                HubertClassifier.load(str(checkpoint)), f"fine-tuned in run {run_dir.name} ({checkpoint})"
            )
        probe_dir = run_model_dir(run_dir, "hubert-probe")
        if probe_dir is None:
            return None
        from animal_audio.models.hubert import HubertEmbedder
        from animal_audio.models.probe import ProbeClassifier

        base = run_config(run_dir).get("hubert") or settings.DEFAULT_HUBERT
        embedder = HubertEmbedder.load(base)
        return LoadedModel(
            ProbeClassifier.from_dir("hubert-probe", embedder, probe_dir),
            f"linear head trained in run {run_dir.name} ({probe_dir}) on {base}",
        )

    # ---- status

    def status(self, *, load: bool = False) -> list[ModelStatus]:
        """Each side's state; with `load`, loads what is not loaded yet (slow the first time)."""
        result = []
        for side in SIDES:
            if load:
                try:
                    self.get(side)
                except ModelUnavailableError:
                    pass
            result.append(self.side_status(side))
        return result

    def side_status(self, side: str) -> ModelStatus:
        """One side's state, without loading anything."""
        slot = self._slots.get(side)
        if slot is None:
            return ModelStatus(
                side, NOT_LOADED, None, self._planned_origin(side), "Loads on the first classification."
            )
        if slot.loaded is not None:
            return ModelStatus(side, READY, slot.loaded.name, slot.loaded.origin, slot.loaded.describe())
        message = str(slot.error)
        state = NOT_TRAINED if is_not_trained(message) else UNAVAILABLE
        return ModelStatus(side, state, None, "", message, fix_text(side))

    def _planned_origin(self, side: str) -> str:
        """Where the weights of a side will come from once it loads (mirrors the loaders' order)."""
        run_dir = self.run_dir()
        if side == YAMNET:
            if run_model_dir(run_dir, "yamnet-probe") is not None:
                return f"linear head trained in run {run_dir.name} on {self.yamnet_source()}"  # type: ignore[union-attr]
            return f"{self.yamnet_source()} (zero-shot)"
        explicit = self.hubert_source()
        if explicit and self._trained_run is None:
            return explicit
        if run_dir is not None and has_trained_hubert(run_dir):
            return f"trained in run {run_dir.name}"
        return explicit or f"{settings.DEFAULT_HUBERT} (base model: no animal head yet)"


def _unavailable(error: Exception) -> ModelUnavailableError:
    wrapped = ModelUnavailableError(str(error))
    wrapped.__cause__ = error
    return wrapped


def _origin_of(source: str, env: str, explicit: Optional[str]) -> str:
    if explicit:
        return f"{source} (set by the app)"
    if os.environ.get(env):
        return f"{source} (from {env})"
    return f"{source} (default)"


_default_registry: Optional[Registry] = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry the app uses (created on first use; loads nothing by itself)."""
    global _default_registry
    with _default_lock:
        if _default_registry is None:
            _default_registry = Registry()
        return _default_registry
