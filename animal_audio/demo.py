"""What the app does, without the UI: models, classify, status, examples, one training job.

`app.py` only lays out Gradio components and calls these functions, so everything a
person sees can be tested without a browser. Models load lazily (the first request,
or the warm-up thread) and once per process; every app session shares them.

The two sides of the comparison:
- HuBERT: a fine-tuned checkpoint or a linear probe on HuBERT embeddings. Which one:
  a model trained in this app session, else ANIMAL_AUDIO_HUBERT, else the latest
  comparison run, else the base model (which has no trained head: "not trained yet").
- YAMNet: the linear probe from the latest run when there is one, else zero-shot.
  The zero-shot model also gives YAMNet's own top AudioSet labels for every clip.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from animal_audio import esc50, settings
from animal_audio.audio import SAMPLE_RATE, AudioSource, read_clip
from animal_audio.errors import AnimalAudioError, CancelledError, ModelUnavailableError
from animal_audio.labels import CLASSES, display
from animal_audio.plots import clip as clip_plots
from animal_audio.progress import ProgressEvent

log = logging.getLogger(__name__)

HUBERT = "hubert"
YAMNET = "yamnet"
SIDES = (HUBERT, YAMNET)
SIDE_TITLES = {HUBERT: "HuBERT", YAMNET: "YAMNet"}
MODEL_TITLES = {
    "hubert": "HuBERT fine-tuned",
    "hubert-finetune": "HuBERT fine-tuned",
    "hubert-probe": "HuBERT + linear probe",
    "yamnet-zeroshot": "YAMNet zero-shot",
    "yamnet-probe": "YAMNet + linear probe",
}
READY, NOT_LOADED, UNAVAILABLE, NOT_TRAINED, FAILED = (
    "ready",
    "not loaded yet",
    "unavailable",
    "not trained yet",
    "failed on this clip",
)
EXAMPLE_FOLD = 5
#: Below this top probability a model is close to guessing among 10 classes; the verdict says so.
UNSURE_BELOW = 0.3
UNSURE_NOTE = ", unsure"
#: Hub ids of HuBERT base models without a classification head (pretrained on speech only).
BASE_HUBERTS = frozenset({"facebook/hubert-base-ls960", "facebook/hubert-large-ll60k"})
#: How long a request waits for a model another thread is loading before answering without it.
LOAD_WAIT_SECONDS = 20.0
LOADING = "still loading"
#: Longest reason shown in the verdict line.
SHORT_REASON = 160
TOP_AUDIOSET = 5
#: Runs expected to take longer than this need a second click on Start.
LONG_RUN_SECONDS = 3600.0
#: How many log lines the training panel keeps.
LOG_LINES = 300
#: Seconds of a synthetic clip used to warm the models up (first inference is slower).
WARMUP_SECONDS = 1.0
ESC50_CREDIT = (
    "Example clips: [ESC-50](https://github.com/karolpiczak/ESC-50) by K. J. Piczak "
    "(clips from freesound.org), licensed [CC BY-NC 3.0](https://creativecommons.org/licenses/by-nc/3.0/). "
    "They are downloaded on demand; this app ships no third-party audio."
)

HUBERT_FIX = (
    "Train one in the **Train & compare** tab: the quick mode (*hubert-probe*, a linear head on "
    "frozen HuBERT features) takes minutes on a CPU; full fine-tuning (*hubert-finetune*) takes hours "
    "on a CPU, minutes on a GPU. Both need the HuBERT base weights (`{default}`, downloaded once). "
    "Or set `ANIMAL_AUDIO_HUBERT` to a fine-tuned checkpoint directory (one written by "
    "`python -m train finetune`) and restart."
)
YAMNET_FIX = (
    "Connect to the internet once (YAMNet comes from TF Hub: `{default}`), or set "
    "`ANIMAL_AUDIO_YAMNET` to a local YAMNet SavedModel directory or a `yamnet.tflite` file "
    "with `yamnet_class_map.csv` beside it, then press *Retry loading* or restart."
)


# --------------------------------------------------------------------------- model registry


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


@dataclass(frozen=True)
class ModelStatus:
    """One side of the comparison as the status panel shows it."""

    side: str
    state: str
    model: Optional[str]
    origin: str
    description: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.state in (READY, NOT_LOADED)


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
        self._load_locks = {key: threading.Lock() for key in (HUBERT, YAMNET, "zeroshot")}

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
        for key in (YAMNET, "zeroshot", HUBERT):
            try:
                self.get(key).predict(wave)
            except ModelUnavailableError as error:
                log.info("warm-up: %s unavailable: %s", key, error)
            except Exception:  # a warm-up must never take the app down
                log.exception("warm-up of %s failed", key)

    def _load(self, key: str) -> _Slot:
        started = time.perf_counter()
        loader = {HUBERT: self._load_hubert, YAMNET: self._load_yamnet, "zeroshot": self._load_zeroshot}[key]
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
        probe_dir = _run_model_dir(run_dir, "yamnet-probe") if run_dir else None
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
        zeroshot = self.get("zeroshot")
        return LoadedModel(zeroshot.classifier, zeroshot.origin, zeroshot.lock)

    def _load_hubert(self) -> LoadedModel:
        from animal_audio.models.hubert import HubertClassifier

        explicit = self.hubert_source()
        run_dir = self.run_dir()
        if self._trained_run is None and explicit:
            return LoadedModel(
                HubertClassifier.load(explicit), _origin_of(explicit, settings.ENV_HUBERT, self._hubert_arg)
            )
        if run_dir is not None:
            found = self._hubert_from_run(run_dir)
            if found is not None:
                return found
        if explicit:
            return LoadedModel(
                HubertClassifier.load(explicit), _origin_of(explicit, settings.ENV_HUBERT, self._hubert_arg)
            )
        if settings.DEFAULT_HUBERT in BASE_HUBERTS:
            # Known to have no animal head: say so at once instead of downloading ~360 MB to find out.
            raise ModelUnavailableError(
                f"No trained HuBERT yet: the default {settings.DEFAULT_HUBERT} is the self-supervised base "
                "model, which has never been trained on the 10 animals."
            )
        try:
            classifier = HubertClassifier.load(settings.DEFAULT_HUBERT)
        except ModelUnavailableError as error:
            if _is_not_trained(str(error)):
                raise
            # The default is the self-supervised base model: even once downloaded it has no animal head.
            raise ModelUnavailableError(
                f"No trained HuBERT yet: the default {settings.DEFAULT_HUBERT} is the self-supervised base "
                "model, not trained yet for the 10 animals (it also could not be loaded here: "
                f"{_first_sentence(str(error)).rstrip('.')})."
            ) from error
        return LoadedModel(classifier, "default (base model, no animal head)")

    def _hubert_from_run(self, run_dir: Path) -> Optional[LoadedModel]:
        """hubert-finetune's checkpoint, else the hubert-probe head, of a finished run."""
        from animal_audio.models.hubert import HubertClassifier

        checkpoint = _finetuned_checkpoint(run_dir)
        if checkpoint is not None:
            return LoadedModel(
                HubertClassifier.load(str(checkpoint)), f"fine-tuned in run {run_dir.name} ({checkpoint})"
            )
        probe_dir = _run_model_dir(run_dir, "hubert-probe")
        if probe_dir is None:
            return None
        from animal_audio.models.hubert import HubertEmbedder
        from animal_audio.models.probe import ProbeClassifier

        base = _run_config(run_dir).get("hubert") or settings.DEFAULT_HUBERT
        embedder = HubertEmbedder.load(base)
        return LoadedModel(
            ProbeClassifier.from_dir("hubert-probe", embedder, probe_dir),
            f"linear head trained in run {run_dir.name} ({probe_dir}) on {base}",
        )

    # ---- status

    def _planned_origin(self, side: str) -> str:
        """Where the weights of a side will come from once it loads (mirrors the loaders' order)."""
        run_dir = self.run_dir()
        if side == YAMNET:
            if _run_model_dir(run_dir, "yamnet-probe") is not None:
                return f"linear head trained in run {run_dir.name} on {self.yamnet_source()}"  # type: ignore[union-attr]
            return f"{self.yamnet_source()} (zero-shot)"
        explicit = self.hubert_source()
        trained = run_dir is not None and (
            _finetuned_checkpoint(run_dir) is not None or _run_model_dir(run_dir, "hubert-probe") is not None
        )
        if explicit and self._trained_run is None:
            return explicit
        if trained:
            return f"trained in run {run_dir.name}"  # type: ignore[union-attr]
        return explicit or f"{settings.DEFAULT_HUBERT} (base model: no animal head yet)"

    def status(self, *, load: bool = False) -> list[ModelStatus]:
        """Each side's state; with `load`, loads what is not loaded yet (slow the first time)."""
        result = []
        for side in SIDES:
            if load:
                try:
                    self.get(side)
                except ModelUnavailableError:
                    pass
            result.append(self._side_status(side))
        return result

    def _side_status(self, side: str) -> ModelStatus:
        slot = self._slots.get(side)
        default = settings.DEFAULT_HUBERT if side == HUBERT else settings.DEFAULT_YAMNET
        fix = (HUBERT_FIX if side == HUBERT else YAMNET_FIX).format(default=default)
        if slot is None:
            return ModelStatus(
                side, NOT_LOADED, None, self._planned_origin(side), "Loads on the first classification."
            )
        if slot.loaded is not None:
            return ModelStatus(side, READY, slot.loaded.name, slot.loaded.origin, slot.loaded.describe())
        message = str(slot.error)
        state = NOT_TRAINED if _is_not_trained(message) else UNAVAILABLE
        return ModelStatus(side, state, None, "", message, fix)


def _is_not_trained(message: str) -> bool:
    text = message.lower()
    return "not trained" in text or "never trained" in text or "no trained" in text


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


def _run_config(run_dir: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    config = data.get("config") if isinstance(data, dict) else None
    return config if isinstance(config, dict) else {}


def _run_model_dir(run_dir: Optional[Path], name: str) -> Optional[Path]:
    """run_dir/models/<name>, or for a cross-validation run the folder of its last test fold."""
    if run_dir is None:
        return None
    base = Path(run_dir) / "models" / name
    if not base.is_dir():
        return None
    if any(p.is_file() for p in base.iterdir()):
        return base
    folds = sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("test-fold-"))
    return folds[-1] if folds else None


def _finetuned_checkpoint(run_dir: Path) -> Optional[Path]:
    """The best checkpoint hubert-finetune left in a run (named in its finetune.json)."""
    import json

    model_dir = _run_model_dir(run_dir, "hubert-finetune")
    if model_dir is None:
        return None
    try:
        marker = json.loads((model_dir / "finetune.json").read_text(encoding="utf-8"))
        checkpoint = model_dir / str(marker["checkpoint_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        checkpoint = model_dir
    return checkpoint if (checkpoint / "config.json").is_file() else None


_default_registry: Optional[Registry] = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry the app uses (created on first use; loads nothing by itself)."""
    global _default_registry
    with _default_lock:
        if _default_registry is None:
            _default_registry = Registry()
        return _default_registry


# --------------------------------------------------------------------------- classify


@dataclass
class ClassifyResult:
    """Everything the Classify tab shows for one clip; `payload` is also the API answer."""

    payload: dict[str, Any]
    figures: dict[str, Any]
    summary: str
    audioset: str
    notes: tuple[str, ...]


def classify(
    audio: AudioSource | None, registry: Optional[Registry] = None, *, figures: bool = True
) -> ClassifyResult:
    """Run both models on one clip. Raises AudioError (with a message for the user) for bad audio.

    A model that cannot be loaded does not stop the other: its entry says why and how to fix it.
    `figures=False` (the API) skips drawing the charts.
    """
    from animal_audio.errors import AudioError

    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise AudioError(
            "No audio yet: record a sound with the microphone or upload a file, then press Classify."
        )
    registry = registry or default_registry()
    clip = read_clip(audio)
    wave = clip.waveform
    runs = {side: _run_side(registry, side, wave) for side in SIDES}
    entries = {side: entry for side, (entry, _) in runs.items()}
    entries[YAMNET].update(_audioset_entry(registry, wave, entries[YAMNET], runs[YAMNET][1]))
    labels = [e["label"] for e in entries.values() if e.get("available")]
    agree = (labels[0] == labels[1]) if len(labels) == 2 else None
    payload = {
        "labels": list(CLASSES),
        "models": entries,
        "agree": agree,
        "clip": {
            "seconds": round(clip.seconds, 3),
            "source_seconds": round(clip.source_seconds, 3),
            "source_sample_rate": clip.source_rate,
            "source_channels": clip.source_channels,
            "trimmed": clip.trimmed,
            "notes": list(clip.notes),
        },
    }
    drawn = (
        {
            HUBERT: side_figure(entries[HUBERT], HUBERT),
            YAMNET: side_figure(entries[YAMNET], YAMNET),
            "waveform": clip_plots.waveform_figure(wave),
            "spectrogram": clip_plots.spectrogram_figure(wave),
        }
        if figures
        else {}
    )
    return ClassifyResult(
        payload, drawn, summary_markdown(payload), audioset_markdown(entries[YAMNET]), clip.notes
    )


def _run_side(registry: Registry, side: str, wave: np.ndarray) -> tuple[dict[str, Any], Any]:
    """(JSON entry, Prediction or None) for one side of the comparison."""
    try:
        model = registry.get(side, wait=LOAD_WAIT_SECONDS)
    except ModelLoadingError as error:
        return {"available": False, "state": LOADING, "error": str(error), "fix": "Wait a moment."}, None
    except ModelUnavailableError:
        status = registry._side_status(side)
        return {
            "available": False,
            "state": status.state,
            "error": status.description,
            "fix": status.fix,
        }, None
    started = time.perf_counter()
    try:
        prediction = model.predict(wave)
    except AnimalAudioError as error:
        return {"available": False, "state": FAILED, "error": str(error), "model": model.name}, None
    except Exception as error:  # a model bug must not hide the other model's answer
        log.exception("%s failed", model.name)
        return {
            "available": False,
            "state": FAILED,
            "error": f"{SIDE_TITLES[side]} failed on this clip ({type(error).__name__}). The other model's answer is still shown.",
            "model": model.name,
        }, None
    wall = time.perf_counter() - started
    entry = prediction.as_dict()
    entry.pop("extras", None)
    entry.update(
        {
            "available": True,
            "state": READY,
            "title": MODEL_TITLES.get(prediction.model, prediction.model),
            "display": display(prediction.label),
            "seconds": round(wall, 4),
            "model_seconds": round(float(prediction.seconds), 4),
            "source": model.origin,
        }
    )
    return entry, prediction


def _audioset_entry(
    registry: Registry, wave: np.ndarray, yamnet_entry: dict[str, Any], yamnet_prediction: Any
) -> dict[str, Any]:
    """YAMNet's own view: its top AudioSet classes and the share of score on non-animal classes."""
    try:
        prediction = yamnet_prediction
        if prediction is None or "top_audioset" not in prediction.extras:
            prediction = registry.get("zeroshot", wait=LOAD_WAIT_SECONDS).predict(wave)
    except ModelUnavailableError:
        return {}
    except Exception:
        log.exception("YAMNet zero-shot failed")
        return {}
    extras = dict(prediction.extras)
    out: dict[str, Any] = {
        "top_audioset": [
            [str(n), round(float(s), 4)] for n, s in extras.get("top_audioset", [])[:TOP_AUDIOSET]
        ],
        "other_mass": round(float(extras.get("other_mass", 0.0)), 4),
    }
    if yamnet_entry.get("model") != prediction.model:
        out["zeroshot"] = {"label": prediction.label, "probabilities": prediction.as_dict()["probabilities"]}
    return out


def side_figure(entry: dict[str, Any], side: str) -> Any:
    """The bar chart of one side, or a chart that says why there is none."""
    if entry.get("available"):
        probs = [entry["probabilities"][c] for c in CLASSES]
        seconds = entry.get("seconds", 0.0)
        return clip_plots.probability_figure(
            probs, f"{entry.get('title', SIDE_TITLES[side])} · {seconds * 1000:.0f} ms"
        )
    state = entry.get("state", UNAVAILABLE)
    hint = {FAILED: "try another clip", LOADING: "try again in a moment"}.get(state, "see the Models tab")
    return clip_plots.message_figure(SIDE_TITLES[side], f"{SIDE_TITLES[side]}: {state}<br>({hint})")


def summary_markdown(payload: dict[str, Any]) -> str:
    """The verdict line(s) above the charts."""
    lines = []
    for side in SIDES:
        entry = payload["models"][side]
        name = SIDE_TITLES[side]
        if entry.get("available"):
            lines.append(
                f"**{entry['title']}**: **{entry['display']}** "
                f"({entry['confidence'] * 100:.0f}%{UNSURE_NOTE if entry['confidence'] < UNSURE_BELOW else ''}) "
                f"in {entry['seconds'] * 1000:.0f} ms"
            )
        else:
            lines.append(f"**{name}**: {_unavailable_hint(entry)}")
    agree = payload.get("agree")
    if agree is True:
        head = "### ✅ Both models agree"
    elif agree is False:
        head = "### ⚖️ The models disagree"
    else:
        head = (
            "### Only one model could answer"
            if any(payload["models"][s].get("available") for s in SIDES)
            else "### No model could answer"
        )
    clip = payload["clip"]
    tail = f"Clip: {clip['seconds']:.1f} s" + (
        f" (cut from {clip['source_seconds']:.1f} s)" if clip["trimmed"] else ""
    )
    return "\n\n".join([head, *[f"- {line}" for line in lines], tail]).replace("\n\n- ", "\n- ")


def audioset_markdown(yamnet_entry: dict[str, Any]) -> str:
    """What YAMNet itself hears, in AudioSet's 521 classes (before mapping to the 10 animals)."""
    top = yamnet_entry.get("top_audioset")
    if not top:
        return ""
    rows = "\n".join(f"| {name} | {score:.2f} |" for name, score in top)
    other = yamnet_entry.get("other_mass", 0.0)
    text = (
        "**What YAMNet hears** (its own top AudioSet classes, scores 0-1):\n\n"
        f"| AudioSet class | score |\n|---|---|\n{rows}\n\n"
        f"Share of YAMNet's score on classes that are none of the 10 animals: **{other * 100:.0f}%**"
    )
    zeroshot = yamnet_entry.get("zeroshot")
    if zeroshot:
        text += f" · zero-shot mapping says **{display(zeroshot['label'])}**"
    return text


def _unavailable_hint(entry: dict[str, Any]) -> str:
    """One short line for the verdict; the Models tab has the full story."""
    state = entry.get("state", UNAVAILABLE)
    if state == NOT_TRAINED:
        return "not trained yet. Train it in *Train & compare* (quick mode: minutes); details in *Models*."
    if state in (FAILED, LOADING):
        return str(entry.get("error", state))
    reason = _first_sentence(entry.get("error", ""))
    if len(reason) > SHORT_REASON:
        reason = reason[: SHORT_REASON - 1].rstrip() + "…"
    return f"unavailable. {reason} How to fix it: see *Models*."


def _first_sentence(text: str) -> str:
    text = str(text).strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def empty_figures() -> dict[str, Any]:
    """What the charts show before the first clip."""
    return {
        HUBERT: clip_plots.message_figure("HuBERT", "Record or upload a clip, then press Classify"),
        YAMNET: clip_plots.message_figure("YAMNet", "Record or upload a clip, then press Classify"),
    }


# --------------------------------------------------------------------------- status panel


def status_markdown(statuses: list[ModelStatus]) -> str:
    """The model-status panel: what each side uses, from where, and how to fix what is missing."""
    icons = {READY: "🟢", NOT_LOADED: "⚪", NOT_TRAINED: "🟡", UNAVAILABLE: "🔴"}
    parts = []
    for status in statuses:
        title = SIDE_TITLES[status.side]
        head = f"#### {icons.get(status.state, '🔴')} {title}: {status.state}"
        body = []
        if status.model:
            body.append(f"- **Model:** {MODEL_TITLES.get(status.model, status.model)} (`{status.model}`)")
        if status.origin:
            body.append(f"- **Weights:** {status.origin}")
        if status.state in (READY, NOT_LOADED):
            body.append(f"- {status.description}")
        else:
            body.append(f"- **Why:** {status.description}")
            if status.state == NOT_TRAINED:
                body.append(
                    "- Its classification head has never been trained on the 10 animals, so its "
                    "outputs would be random: the app does not show them."
                )
            body.append(f"- **How to fix:** {status.fix}")
        parts.append("\n".join([head, *body]))
    return "\n\n".join(parts)


def status_line(statuses: list[ModelStatus]) -> str:
    """One short line for the top of the Classify tab."""
    bits = []
    for status in statuses:
        icon = {READY: "🟢", NOT_LOADED: "⚪", NOT_TRAINED: "🟡"}.get(status.state, "🔴")
        bits.append(f"{icon} {SIDE_TITLES[status.side]}: {status.state}")
    return " · ".join(bits)


# --------------------------------------------------------------------------- example clips


@dataclass(frozen=True)
class Example:
    label: str
    path: Path
    filename: str

    @property
    def title(self) -> str:
        return display(self.label)


def example_clips(data_dir: Optional[Path] = None, fold: int = EXAMPLE_FOLD) -> list[Example]:
    """One clip per class from the test fold of the prepared ESC-50 data; [] when it is not there."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return []
    except (OSError, ValueError) as error:
        log.warning("cannot read the prepared data in %s: %s", data_dir, error)
        return []
    found = []
    rows = table[table["fold"] == fold].sort_values("filename")
    for label in CLASSES:
        match = rows[rows["label"] == label]
        for row in match.itertuples(index=False):
            if Path(row.path).is_file():
                found.append(Example(label, Path(row.path), str(row.filename)))
                break
    return found


def fetch_examples(progress: Optional[Callable[[ProgressEvent], None]] = None) -> list[Example]:
    """Download ESC-50 (unless a local copy is configured) and prepare the animal clips into the data cache."""
    source = settings.esc50_dir()
    if not (source / esc50.META).is_file():
        source = esc50.download(source.parent, progress=progress)
    esc50.prepare(source, settings.data_dir(), progress=progress)
    return example_clips()


def data_status_markdown(data_dir: Optional[Path] = None) -> str:
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return (
            f"The ESC-50 animal clips are not on this machine yet (looked in `{data_dir}`). "
            "Press **Get the ESC-50 clips** to download (~600 MB, once) and prepare them."
        )
    return f"{len(table)} prepared ESC-50 animal clips in `{data_dir}`."


# --------------------------------------------------------------------------- training job


class JobBusyError(AnimalAudioError):
    """Another comparison is already running in this app."""


@dataclass
class JobSnapshot:
    running: bool
    stage: str
    fraction: float
    log: list[str]
    started: Optional[float]
    finished: Optional[float]
    run_dir: Optional[Path]
    error: Optional[str]
    cancelled: bool


class TrainingJob:
    """At most one comparison run at a time, in a background thread, with a log and a stop switch.

    The thread outlives the browser tab that started it: closing the page does not
    stop training, the Cancel button does.
    """

    def __init__(self, runner: Optional[Callable[..., Any]] = None) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._stage = ""
        self._fraction = 0.0
        self._started: Optional[float] = None
        self._finished: Optional[float] = None
        self._run_dir: Optional[Path] = None
        self._error: Optional[str] = None
        self._cancelled = False
        self._last_line = ""

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, config: Any, on_done: Optional[Callable[[Path], None]] = None) -> None:
        """Start `run_comparison(config)`; JobBusyError when one is already running."""
        with self._lock:
            if self.running:
                raise JobBusyError(
                    f"A comparison is already running (started {self._started_text()}, now at "
                    f"{self._stage or 'start'}). Only one runs at a time: wait for it to finish, "
                    "or stop it with Cancel."
                )
            self._cancel.clear()
            self._log.clear()
            self._stage, self._fraction, self._last_line = "starting", 0.0, ""
            self._started, self._finished = time.time(), None
            self._run_dir, self._error, self._cancelled = None, None, False
            self._thread = threading.Thread(
                target=self._work, args=(config, on_done), name="training", daemon=True
            )
            self._thread.start()

    def cancel(self) -> bool:
        """Ask the running job to stop at its next check; False when nothing runs."""
        if not self.running:
            return False
        self._cancel.set()
        self._append("Stopping at the next safe point (finished steps are kept)...")
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            self.running,
            self._stage,
            self._fraction,
            list(self._log),
            self._started,
            self._finished,
            self._run_dir,
            self._error,
            self._cancelled,
        )

    def _progress(self, event: ProgressEvent) -> None:
        self._stage, self._fraction = event.stage, event.fraction
        line = f"{event.stage}: {event.message}" if event.message else event.stage
        # Per-clip events would flood the log: keep stage changes, messages and every 10 %.
        step = int(event.fraction * 10)
        key = f"{event.stage}|{step}" if event.message.endswith("clips") or "/" in event.message else line
        if key != self._last_line:
            self._last_line = key
            self._append(f"{line} ({event.fraction * 100:.0f}%)")

    def _append(self, line: str) -> None:
        self._log.append(f"[{datetime.now().strftime('%H:%M:%S')}] {line}")

    def _work(self, config: Any, on_done: Optional[Callable[[Path], None]]) -> None:
        runner = self._runner
        if runner is None:
            from animal_audio.pipeline import run_comparison as runner
        self._append(
            f"Comparing {', '.join(config.models)} ({config.protocol}); results go to a new run folder."
        )
        try:
            result = runner(config, progress=self._progress, cancel=self._cancel.is_set)
            self._run_dir = Path(result.run_dir)
            self._append(f"Finished: results in {self._run_dir}")
            if on_done is not None:
                on_done(self._run_dir)
        except CancelledError as error:
            self._cancelled = True
            self._error = str(error)
            self._append(str(error))
        except AnimalAudioError as error:
            self._error = str(error)
            self._append(f"Stopped: {error}")
        except Exception as error:  # shown in the log, never as a trace in the page
            log.exception("comparison run failed")
            self._error = (
                f"The run failed unexpectedly ({type(error).__name__}: {error}). See the server log."
            )
            self._append(self._error)
        finally:
            self._finished = time.time()

    def _started_text(self) -> str:
        if self._started is None:
            return "just now"
        return datetime.fromtimestamp(self._started).strftime("at %H:%M")


def make_config(
    models: list[str] | tuple[str, ...],
    protocol: str,
    epochs: int,
    *,
    fast: Optional[bool] = None,
    data_dir: Optional[Path] = None,
) -> Any:
    """The comparison the Train tab asks for, with this app's model sources."""
    from animal_audio.pipeline import CompareConfig

    esc = settings.esc50_dir()
    return CompareConfig(
        data_dir=settings.data_dir(data_dir),
        models=tuple(models),
        protocol=protocol,
        hubert=os.environ.get(settings.ENV_HUBERT) or None,
        yamnet=os.environ.get(settings.ENV_YAMNET) or None,
        epochs=int(epochs),
        fast=fast,
        esc50_dir=esc if (esc / esc50.META).is_file() else None,
    )


def expected_seconds(config: Any) -> float:
    """The pipeline's estimate of the run's wall time on this hardware."""
    from animal_audio.pipeline import estimate_seconds

    return float(estimate_seconds(config))


def is_long(seconds: float) -> bool:
    """Long enough that the app asks for a second click before starting."""
    return seconds > LONG_RUN_SECONDS


def require_data(config: Any) -> None:
    """Fail before starting a run that would stop at once for lack of data, saying what to press."""
    from animal_audio.errors import DatasetError

    if (Path(config.data_dir) / esc50.MANIFEST).is_file() or config.esc50_dir is not None:
        return
    raise DatasetError(
        f"The ESC-50 animal clips are not on this machine yet ({config.data_dir}). Press "
        "**Get the ESC-50 clips** above (downloads ~600 MB once), or set ANIMAL_AUDIO_ESC50 "
        "to a local copy of ESC-50 and restart."
    )


def estimate_text(config: Any) -> str:
    """'Expected: about 12 minutes on this machine (2 CPU cores, no GPU)'."""
    seconds = expected_seconds(config)
    cores = settings.cpu_threads()
    where = f"{cores} CPU core{'s' if cores != 1 else ''}"
    gpu = _gpu_name()
    where += f", GPU {gpu}" if gpu else ", no GPU"
    text = f"Expected time on this machine ({where}): **about {format_duration(seconds)}**."
    if is_long(seconds):
        text += " That is long: the quick mode (linear heads only) finishes in minutes."
    return text


def _gpu_name() -> Optional[str]:
    import sys

    if "torch" not in sys.modules:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def format_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


# --------------------------------------------------------------------------- results of a run


@dataclass
class RunView:
    """A finished run, ready for the Train & compare tab."""

    run_dir: Path
    summary: str
    table: pd.DataFrame
    figures: dict[str, Any]
    models: list[str]
    misclassified: pd.DataFrame


def load_run_view(run_dir: Optional[Path] = None) -> Optional[RunView]:
    """The given run, or the latest finished one; None when there is none yet."""
    from animal_audio.pipeline import latest_run, load_run
    from animal_audio.plots import results as result_plots

    run_dir = run_dir or latest_run()
    if run_dir is None:
        return None
    run = load_run(run_dir)
    metrics = run.metrics
    models = list(metrics.get("models", {}))
    figures = {
        "accuracy": _fit_width(result_plots.accuracy_figure(metrics)),
        "per_class_f1": _fit_width(result_plots.per_class_f1_figure(metrics)),
        "confusion": {m: _fit_width(result_plots.confusion_figure(metrics, m)) for m in models},
    }
    return RunView(
        Path(run.run_dir),
        run_summary(metrics, Path(run.run_dir)),
        results_table(metrics),
        figures,
        models,
        misclassified_table(run.predictions, models),
    )


def _fit_width(figure: Any) -> Any:
    """Report figures have a fixed width for HTML files; in the app they follow the column's width."""
    figure.update_layout(width=None, autosize=True)
    return figure


def results_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per model: accuracy, macro-F1 (mean ± std in CV), training and inference time."""
    rows = []
    for name, entry in metrics.get("models", {}).items():
        rows.append(
            {
                "model": MODEL_TITLES.get(name, name),
                "accuracy": _percent(entry, "accuracy"),
                "macro-F1": _percent(entry, "macro_f1"),
                "trained on": entry.get("trained_on", ""),
                "training time": format_duration(entry.get("train_seconds", 0.0))
                if entry.get("train_seconds")
                else "none",
                "ms per clip": f"{entry.get('inference_seconds_per_clip', 0.0) * 1000:.0f}",
            }
        )
    return pd.DataFrame(
        rows, columns=["model", "accuracy", "macro-F1", "trained on", "training time", "ms per clip"]
    )


def _percent(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    std = entry.get(f"{key}_std")
    return f"{value * 100:.1f}%" + (f" ± {std * 100:.1f}" if std is not None else "")


def run_summary(metrics: dict[str, Any], run_dir: Path) -> str:
    protocol = metrics.get("protocol", {})
    description = (
        protocol.get("description", protocol.get("name", "")) if isinstance(protocol, dict) else str(protocol)
    )
    created = str(metrics.get("created", ""))[:16].replace("T", " ")
    machine = metrics.get("machine", {})
    device = machine.get("device", "cpu") if isinstance(machine, dict) else "cpu"
    return (
        f"**Run** `{run_dir.name}` · {created} UTC · {description} · device: {device} · "
        f"seed {metrics.get('seed', '-')}"
    )


def misclassified_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every (model, clip) the model got wrong, with what it said and how sure it was."""
    rows = []
    for name in models:
        column = f"{name}:label"
        if column not in predictions.columns:
            continue
        wrong = predictions[predictions[column] != predictions["true_label"]]
        for row in wrong.itertuples(index=False):
            record = dict(zip(predictions.columns, row))
            predicted = record[column]
            confidence = record.get(f"{name}:p_{predicted}")
            rows.append(
                {
                    "model": MODEL_TITLES.get(name, name),
                    "clip": record["filename"],
                    "true": display(record["true_label"]),
                    "predicted": display(predicted),
                    "confidence": f"{float(confidence) * 100:.0f}%" if confidence is not None else "",
                    "fold": int(record.get("fold", 0)),
                }
            )
    return pd.DataFrame(rows, columns=["model", "clip", "true", "predicted", "confidence", "fold"])


def clip_path(filename: str, data_dir: Optional[Path] = None) -> Optional[Path]:
    """Where a prepared clip is, for playing a misclassified one; None if it is not on this machine."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        return None
    path = settings.data_dir(data_dir) / "audio" / filename
    return path if path.is_file() else None


__all__ = [
    "ClassifyResult",
    "Example",
    "JobBusyError",
    "ModelStatus",
    "Registry",
    "RunView",
    "TrainingJob",
    "classify",
    "default_registry",
    "estimate_text",
    "example_clips",
    "fetch_examples",
    "load_run_view",
    "make_config",
    "status_markdown",
]
