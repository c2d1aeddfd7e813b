"""The app's models: which weights each side uses, loaded lazily, once, and kept alive here only.

HuBERT: a model trained in this app session, else ANIMAL_AUDIO_HUBERT (a base without a head: the
newest head on it), else the latest run's, else none ("not trained yet"; warm start may train one).
YAMNet: that run's linear probe, else zero-shot. A run lacking one (it could not run) falls back on the
newest earlier run's. The library caches nothing: this registry is the one owner of the app's models.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Protocol

import numpy as np

from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE
from animal_audio.demo import text
from animal_audio.demo.text import HUBERT, YAMNET, ModelStatus
from animal_audio.errors import AnimalAudioError, ModelUnavailableError, NotTrainedError
from animal_audio.models.base import Classifier, Prediction
from animal_audio.models.yamnet import describe_source
from animal_audio.public_text import unexpected
from animal_audio.run_maps import RunMaps
from animal_audio.runs import TrainedModel, finished_runs, latest_run, newest_trained_model

log = logging.getLogger(__name__)

#: The keys `Registry.get` knows: both sides, and YAMNet zero-shot (also YAMNet's own AudioSet view).
ZEROSHOT = "zeroshot"
KEYS = (HUBERT, YAMNET, ZEROSHOT)
#: Seconds of a synthetic clip used to warm the models up (first inference is slower).
WARMUP_SECONDS = 1.0
#: How long a request (a classification, a page's status) waits for a model another thread is loading.
LOAD_WAIT_SECONDS = 20.0
_ENV = {HUBERT: settings.ENV_HUBERT, YAMNET: settings.ENV_YAMNET}


@dataclass
class LoadedModel:
    """A classifier, where its weights came from, the run's model it is (if any), a lock for its network."""

    classifier: Classifier
    origin: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    trained: Optional[TrainedModel] = None

    @property
    def name(self) -> str:
        return self.classifier.name

    def describe(self) -> str:
        return self.classifier.describe()

    def predict(self, waveform: np.ndarray) -> Prediction:
        with self.lock:
            return self.classifier.predict(waveform)


class ModelLoadingError(ModelUnavailableError):
    """The model is being loaded by another thread right now; it will be ready soon."""


class HubertLearningError(NotTrainedError):
    """HuBERT has no head yet, but warm start is training one: it takes over by itself, soon."""


class HeadTrainer(Protocol):
    """Who trains HuBERT's head at start-up (warm start): the registry tells its progress in HuBERT's status."""

    def learning(self) -> Optional[str]: ...  # "about 3 min left" while it trains, else None

    def failure(self) -> Optional[str]: ...  # why it could not train the head, else None


@dataclass
class _Slot:
    """What loading one key gave: the model, or the error remembered until `reset()` or `retry_failed()`."""

    loaded: Optional[LoadedModel] = None
    error: Optional[ModelUnavailableError] = None


class Registry:
    """Loads each model once, on first use, and shares it (thread-safe); a failure is remembered until a retry,
    and a load outdated by `use_run()`/`reset()` (the key's generation moved on) is not kept. Owns their maps."""

    def __init__(
        self,
        *,
        hubert: Optional[str] = None,
        yamnet: Optional[str] = None,
        runs_dir: Optional[Path] = None,
        use_latest_run: bool = True,
        trainer: Optional[HeadTrainer] = None,
    ) -> None:
        self._hubert_arg = hubert
        self._trainer = trainer
        self._yamnet_arg = yamnet
        self._runs_dir = runs_dir
        self._use_latest_run = use_latest_run
        self._trained_run: Optional[Path] = None
        self._slots: dict[str, _Slot] = {}
        self._generations = dict.fromkeys(KEYS, 0)
        self._slots_lock = threading.Lock()
        self._load_locks = {key: threading.Lock() for key in KEYS}
        self.maps = RunMaps()  # the nearest clips and maps of the runs these models come from

    # ---- which weights

    def hubert_source(self) -> Optional[str]:
        """The explicit HuBERT source (argument or ANIMAL_AUDIO_HUBERT), None when only defaults are left."""
        return settings.chosen(self._hubert_arg, settings.ENV_HUBERT)

    def yamnet_source(self) -> str:
        return settings.yamnet_source(self._yamnet_arg)

    def run_dir(self) -> Optional[Path]:
        """The comparison run whose trained models the app uses, if any."""
        if self._trained_run is not None:
            return self._trained_run
        if not self._use_latest_run:
            return None
        try:
            return latest_run(self._runs_dir)
        except (OSError, ValueError) as error:
            log.warning("could not look for the latest run: %s", error)
            return None

    def _run_model(self, *names: str, base: Optional[str] = None) -> Optional[TrainedModel]:
        """The first of `names` the run in use trained, else the newest earlier run's (a run in which it could not
        run must not take it away); on `base` unless this app trained it. Without `use_latest_run`: the former."""
        run_dir = self.run_dir()
        if run_dir is None:
            return None
        found = newest_trained_model([run_dir], *names, base=None if run_dir == self._trained_run else base)
        if found is not None or not self._use_latest_run:
            return found
        return newest_trained_model(finished_runs(self._runs_dir), *names, base=base)

    # ---- loading

    def get(self, key: str, *, wait: Optional[float] = None) -> LoadedModel:
        """The model for `key` ("hubert", "yamnet" or "zeroshot"); ModelUnavailableError if it cannot load.

        With `wait`, gives up after that many seconds when another thread (the warm-up) is
        still loading it, raising ModelLoadingError, so one slow model does not hold up the other.
        """
        slot = self._slots.get(key)
        if slot is None:
            slot = self._load_kept(key, wait)
        if slot.loaded is None:
            assert slot.error is not None
            left, _ = self._warm_start(key, slot.error)
            raise HubertLearningError(text.LEARNING_NOTE.format(left=left)) if left else slot.error
        return slot.loaded

    def _warm_start(self, key: str, error: Optional[Exception]) -> tuple[Optional[str], Optional[str]]:
        """(time left, why it failed) of warm start, for an untrained HuBERT; (None, None) otherwise."""
        if key != HUBERT or self._trainer is None or not isinstance(error, NotTrainedError):
            return None, None
        return self._trainer.learning(), self._trainer.failure()

    def _load_kept(self, key: str, wait: Optional[float]) -> _Slot:
        """Load `key` under its lock and keep the result, unless a drop (new run, reset) came meanwhile:
        then that result is stale (the old run's model) and it loads again."""
        lock = self._load_locks[key]
        if not lock.acquire(timeout=-1 if wait is None else wait):
            raise ModelLoadingError(
                f"{text.SIDE_TITLES.get(key, 'YAMNet')} is still loading (first start after launch). "
                "Try again in a moment."
            )
        try:
            while True:
                with self._slots_lock:
                    slot, generation = self._slots.get(key), self._generations[key]
                if slot is not None:
                    return slot
                slot = self._load(key)
                with self._slots_lock:
                    if self._generations[key] == generation:
                        self._slots[key] = slot
                        return slot
                log.info("%s changed while it loaded (new run or reset): loading it again", key)
        finally:
            lock.release()

    def loaded(self, key: str) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.loaded is not None

    def reset(self) -> None:
        """Forget every load result (failures included): the next request loads again."""
        with self._slots_lock:
            self._drop(KEYS)

    def retry_failed(self) -> None:
        """Forget only the failures, after a fix: healthy models stay (reloading them would double memory)."""
        with self._slots_lock:
            self._drop([key for key, slot in self._slots.items() if slot.loaded is None])

    def use_run(self, run_dir: str | os.PathLike[str]) -> None:
        """Use the models a newly finished comparison run trained (HuBERT and the YAMNet probe)."""
        pinned = self.hubert_pinned()
        with self._slots_lock:
            self._trained_run = Path(run_dir)
            self._drop((YAMNET,) if pinned else (HUBERT, YAMNET))

    def _drop(self, keys: Iterable[str]) -> None:
        """Forget these keys' results and outdate their loads in flight (call with the slots lock held)."""
        for key in keys:
            self._slots.pop(key, None)
            self._generations[key] += 1

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
        loaders: dict[str, Callable[[], LoadedModel]] = {
            HUBERT: self._load_hubert,
            YAMNET: self._load_yamnet,
            ZEROSHOT: self._load_zeroshot,
        }
        try:
            loaded = loaders[key]()
        except ModelUnavailableError as error:
            log.warning("%s unavailable: %s", key, error)
            return _Slot(error=error)
        except AnimalAudioError as error:  # e.g. a damaged checkpoint or head
            log.warning("%s unavailable: %s", key, error)
            return _Slot(error=_unavailable(str(error), error))
        except ImportError as error:  # a framework missing from this install
            log.warning("%s unavailable: %s", key, error)
            message = text.IMPORT_FAILED.format(module=error.name or "a package")
            return _Slot(error=_unavailable(message, error))
        except Exception as error:  # a bug or a broken file: remembered like the others, trace logged by id
            title = text.SIDE_TITLES.get(key, "YAMNet")
            message = unexpected(error, text.LOAD_FAILED, logger=log, model=title)
            return _Slot(error=_unavailable(message, error))
        seconds = time.perf_counter() - started  # the full origin (its folder) is for the operator's log only
        log.info("%s ready in %.1f s: %s; weights: %s", key, seconds, loaded.describe(), loaded.origin)
        return _Slot(loaded=loaded)

    def _load_zeroshot(self) -> LoadedModel:
        from animal_audio.models.yamnet import YamnetModel, YamnetZeroShot

        source = self.yamnet_source()
        network = YamnetModel.load(source)
        return LoadedModel(YamnetZeroShot(network), self._origin_of(YAMNET, describe_source(source)))

    def _load_yamnet(self) -> LoadedModel:
        """The run's YAMNet probe on the zero-shot model's network (one YAMNet, one lock), else zero-shot."""
        zeroshot = self.get(ZEROSHOT)
        probe = self._run_model("yamnet-probe")
        if probe is None:
            return zeroshot
        from animal_audio.models.probe import ProbeClassifier

        try:
            classifier = ProbeClassifier.from_dir("yamnet-probe", zeroshot.classifier.model, probe.directory)
        except (AnimalAudioError, OSError) as error:  # damaged or unreadable: zero-shot still answers
            log.warning("the yamnet-probe in %s cannot be used (%s); using zero-shot", probe.directory, error)
            return zeroshot
        origin = f"linear head trained in run {probe.run_dir.name} ({probe.directory})"
        return LoadedModel(classifier, origin, zeroshot.lock, probe)

    def hubert_pinned(self) -> bool:
        """Whether the operator named a trained HuBERT classifier: then no run of the app replaces it."""
        from animal_audio.models.published import has_head

        return has_head(self.hubert_source())

    def _load_hubert(self) -> LoadedModel:
        explicit = self.hubert_source()
        if explicit and (self._trained_run is None or self.hubert_pinned()):
            try:
                return self._explicit_hubert(explicit)
            except NotTrainedError:  # a base model: the newest head trained on it, if any
                found = self._hubert_from_run(base=explicit)
                if found is None:
                    raise
                return found
        found = self._hubert_from_run(base=explicit)
        if found is not None:
            return found
        if explicit:
            return self._explicit_hubert(explicit)
        # Known to have no animal head: say so at once instead of downloading ~360 MB to find out.
        raise NotTrainedError(
            f"No trained HuBERT yet: the default {settings.DEFAULT_HUBERT} is the self-supervised base "
            "model, which has never been trained on the 10 animals."
        )

    def _explicit_hubert(self, source: str) -> LoadedModel:
        from animal_audio.models.published import load_hubert

        return LoadedModel(load_hubert(source), self._origin_of(HUBERT, source))

    def _hubert_from_run(self, base: Optional[str] = None) -> Optional[LoadedModel]:
        """hubert-finetune's checkpoint, else the hubert-probe head, of the run in use (or the newest that has
        one); with `base`, only one trained from those weights (a head is useless on another base)."""
        from animal_audio.models.hubert import HubertClassifier, HubertEmbedder
        from animal_audio.models.probe import ProbeClassifier, head_layer

        trained = self._run_model("hubert-finetune", "hubert-probe", base=base)
        if trained is None:
            return None
        if trained.name == "hubert-finetune":
            return LoadedModel(
                HubertClassifier.load(str(trained.directory)),
                f"fine-tuned in run {trained.run_dir.name} ({trained.directory})",
                trained=trained,
            )
        base = trained.base or settings.DEFAULT_HUBERT
        embedder = HubertEmbedder.load(base, layer=head_layer(trained.directory))  # the layer it chose
        return LoadedModel(
            ProbeClassifier.from_dir("hubert-probe", embedder, trained.directory),
            f"linear head trained in run {trained.run_dir.name} ({trained.directory}) on {base}",
            trained=trained,
        )

    def _origin_of(self, side: str, source: str) -> str:
        """Who chose these weights: the app's argument, the environment, or nobody (the default)."""
        explicit = self._hubert_arg if side == HUBERT else self._yamnet_arg
        if explicit:
            return f"{source} (set by the app)"
        if settings.chosen(None, _ENV[side]):
            return f"{source} (from {_ENV[side]})"
        return f"{source} (default)"

    # ---- status

    def status(self, *, load: bool = False) -> list[ModelStatus]:
        """Each side's state; with `load`, loads what is not loaded yet (slow the first time).

        A model another thread is loading is waited for at most LOAD_WAIT_SECONDS, as a request would.
        """
        result = []
        for side in text.SIDES:
            if load:
                try:
                    self.get(side, wait=LOAD_WAIT_SECONDS)
                except ModelUnavailableError:
                    pass
            result.append(self.side_status(side))
        return result

    def side_status(self, side: str) -> ModelStatus:
        """One side's state, without loading anything."""
        slot = self._slots.get(side)
        if slot is None:
            return ModelStatus(
                side, text.NOT_LOADED, None, self._planned_origin(side), "Loads on the first classification."
            )
        if slot.loaded is not None:
            return ModelStatus(side, text.READY, slot.loaded.name, slot.loaded.origin, slot.loaded.describe())
        left, failed = self._warm_start(side, slot.error)
        if left:
            return ModelStatus(side, text.LEARNING, None, "", left)
        state = text.NOT_TRAINED if isinstance(slot.error, NotTrainedError) else text.UNAVAILABLE
        why = f"{slot.error} {text.WARM_START_FAILED.format(reason=failed)}" if failed else str(slot.error)
        return ModelStatus(side, state, None, "", why, text.fix_text(side))

    def _planned_origin(self, side: str) -> str:
        """Where the weights of a side will come from once it loads (the loaders' order)."""
        if side == YAMNET:
            probe = self._run_model("yamnet-probe")
            if probe is not None:
                return f"linear head trained in run {probe.run_dir.name} on {describe_source(self.yamnet_source())}"
            return f"{describe_source(self.yamnet_source())} (zero-shot)"
        explicit = self.hubert_source()
        if explicit and (self._trained_run is None or self.hubert_pinned()):
            return explicit
        trained = self._run_model("hubert-finetune", "hubert-probe", base=explicit)
        if trained is not None:
            return f"trained in run {trained.run_dir.name}"
        return explicit or f"{settings.DEFAULT_HUBERT} (base model: no animal head yet)"


def _unavailable(message: str, cause: BaseException) -> ModelUnavailableError:
    wrapped = ModelUnavailableError(message)
    wrapped.__cause__ = cause
    return wrapped
