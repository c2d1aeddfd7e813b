"""YAMNet (AudioSet, 521 classes), zero-shot and as an embedder; float (TF Hub, SavedModel) or TFLite, with
the same three outputs, so nothing above this module knows which one runs."""

# TensorFlow is imported by the loaders only: tensorflow_hub imports pkg_resources, not wanted at import.

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from animal_audio import settings
from animal_audio.errors import AudioError, ModelUnavailableError, short_error
from animal_audio.labels import ANIMALS, LabelSet, animal_index, animal_probabilities
from animal_audio.models.base import Prediction
from animal_audio.open_set import audioset_evidence
from animal_audio.runtime import configure_threads
from animal_audio.timeline import Frames

log = logging.getLogger(__name__)

NAME = "yamnet"
ZERO_SHOT_NAME = "yamnet-zeroshot"
NUM_AUDIOSET_CLASSES = 521
EMBEDDING_SIZE = 1024
MEL_BANDS = 64
#: YAMNet's frames: 0.96 s windows every 0.48 s (its params.py: patch_window_seconds, patch_hop_seconds).
FRAME_WINDOW_SECONDS = 0.96
FRAME_HOP_SECONDS = 0.48
CLASS_MAP_FILE = "yamnet_class_map.csv"
CLASS_MAP_URL = (
    "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv"
)
TOP_K = 5
#: Where a handle is a URL (or a GCS path) rather than a local path.
REMOTE_PREFIXES = ("http://", "https://", "gs://")

HOW_TO_FIX = (
    "To use the built-in YAMNet, leave ANIMAL_AUDIO_YAMNET (and --yamnet) unset; or point them at a "
    f"local YAMNet SavedModel directory or a yamnet.tflite file with {CLASS_MAP_FILE} beside it. "
    "A TF Hub handle needs the internet."
)
#: How a Git LFS pointer file begins (git-lfs docs/spec.md): what a clone without LFS holds.
LFS_POINTER = b"version https://git-lfs"
INSTALL = "Install the requirements: `pip install -r requirements.txt`."
#: How the Models tab and reports name the built-in model.
BUILT_IN_TITLE = "built-in YAMNet (TFLite, int8 weights)"


@dataclass(frozen=True)
class YamnetOutput:
    """What YAMNet computes for one waveform (frames: one per 0.48 s hop)."""

    scores: np.ndarray  # [frames, 521], independent per-class sigmoid scores
    embeddings: np.ndarray  # [frames, 1024]
    spectrogram: np.ndarray  # [M, 64] log-mel, one row per 10 ms


class YamnetModel:
    """A loaded YAMNet; also the `Embedder` for the yamnet-probe (mean of frame embeddings)."""

    name = NAME

    def __init__(
        self,
        run_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
        class_names: Sequence[str],
        *,
        source: str,
        backend: str,
        fingerprint: str,
    ) -> None:
        if len(class_names) != NUM_AUDIOSET_CLASSES:
            raise ModelUnavailableError(
                f"The YAMNet class map for {source} has {len(class_names)} classes, expected "
                f"{NUM_AUDIOSET_CLASSES}. Use the original {CLASS_MAP_FILE} ({CLASS_MAP_URL})."
            )
        self._run_fn = run_fn
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.source = source
        self.backend = backend
        self.fingerprint = fingerprint

    @classmethod
    def load(cls, source: str | None = None) -> YamnetModel:
        """A new model, owned by the caller: a TF Hub handle, SavedModel directory or .tflite file."""
        source = settings.yamnet_source(source)
        started = time.perf_counter()
        model = _load(source)
        log.info("YAMNet (%s) loaded from %s in %.1f s", model.backend, source, time.perf_counter() - started)
        return model

    def run(self, waveform: np.ndarray) -> YamnetOutput:
        """All three outputs for one 16 kHz mono float waveform."""
        waveform = _check_waveform(waveform)
        scores, embeddings, spectrogram = self._run_fn(waveform)
        return YamnetOutput(
            scores=np.asarray(scores, dtype=np.float32).reshape(-1, NUM_AUDIOSET_CLASSES),
            embeddings=np.asarray(embeddings, dtype=np.float32).reshape(-1, EMBEDDING_SIZE),
            spectrogram=np.asarray(spectrogram, dtype=np.float32).reshape(-1, MEL_BANDS),
        )

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        """One clip-level vector [1024]: the mean of the frame embeddings."""
        return self.embed_frames(waveform).clip()

    def embed_frames(self, waveform: np.ndarray) -> Frames:
        """The frame embeddings [frames, 1024]: their mean is `embed`, each frame a timeline row."""
        return _frames(self.run(waveform).embeddings)

    def frames_batch(self, waveforms: Sequence[np.ndarray]) -> list[Frames]:
        """Each clip's frame embeddings (the embedding cache keeps their mean, max and std)."""
        return [self.embed_frames(w) for w in waveforms]

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        if not len(waveforms):
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        return np.stack([self.embed(w) for w in waveforms])

    def describe(self) -> str:
        return describe_source(self.source)


class YamnetZeroShot:
    """YAMNet's AudioSet scores mapped onto the 10 animals (or another label set labels.py maps), no
    training. Frame scores are averaged over the clip, as YAMNet's example does: a max lets one frame decide."""

    name = ZERO_SHOT_NAME

    def __init__(self, model: YamnetModel, labels: LabelSet = ANIMALS) -> None:
        self.model = model
        self.labels = labels
        self._animal_of_class = animal_index(model.class_names, labels)

    @classmethod
    def load(cls, source: str | None = None, labels: LabelSet = ANIMALS) -> YamnetZeroShot:
        """A new zero-shot classifier on a new YAMNet, owned by the caller."""
        return cls(YamnetModel.load(source), labels)

    def predict(self, waveform: np.ndarray) -> Prediction:
        """The whole-clip answer and its timeline (each frame's scores mapped alike), from one run."""
        started = time.perf_counter()
        frames = _frames(self.model.run(waveform).scores)
        clip_scores = frames.clip()
        classes = len(self.labels)
        probs, other_mass = animal_probabilities(clip_scores, self._animal_of_class, classes)
        timeline = frames.timeline(lambda s: animal_probabilities(s, self._animal_of_class, classes)[0])
        top = np.argsort(clip_scores)[::-1][:TOP_K]
        extras: dict[str, Any] = {
            "top_audioset": [[self.model.class_names[i], round(float(clip_scores[i]), 6)] for i in top],
            "other_mass": round(other_mass, 6),
            # What the "none of the ten?" rule reads (open_set.yamnet_verdict), from this same run.
            **audioset_evidence(clip_scores, self.model.class_names, self._animal_of_class),
        }
        return Prediction(
            self.name, probs, time.perf_counter() - started, extras, timeline, labels=self.labels
        )

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        return [self.predict(w) for w in waveforms]

    def describe(self) -> str:
        onto = "the 10 animals" if self.labels.is_animals else f"{len(self.labels)} classes"
        return f"YAMNet zero-shot: AudioSet classes mapped onto {onto}; {self.model.describe()}"


def _frames(per_frame: np.ndarray) -> Frames:
    return Frames(per_frame, FRAME_HOP_SECONDS, window_seconds=FRAME_WINDOW_SECONDS)


def _check_waveform(waveform: np.ndarray) -> np.ndarray:
    waveform = np.ascontiguousarray(np.asarray(waveform, dtype=np.float32).reshape(-1))
    if waveform.size == 0:
        raise AudioError("The audio is empty (0 samples). Record again or upload a clip with sound in it.")
    return waveform


# --------------------------------------------------------------------------- loading


def describe_source(source: str) -> str:
    """Which YAMNet a source is, in words for the Models tab and reports (reads nothing)."""
    if source.startswith(REMOTE_PREFIXES):
        return f"YAMNet from TF Hub (float): {source}"
    path = Path(source).expanduser()
    if path.suffix == ".tflite":
        built_in = path.resolve() == settings.BUNDLED_YAMNET
        return BUILT_IN_TITLE if built_in else f"YAMNet TFLite file {path}"
    return f"YAMNet SavedModel (float) in {path}"


def source_problem(source: str) -> str | None:
    """Why `source` cannot load, told from local files alone (no weights read, no network); None: it may
    (a TF Hub handle passes when TensorFlow is installed: only a download can tell more)."""
    if source.startswith(REMOTE_PREFIXES):
        return _missing("tensorflow", "tensorflow_hub")
    path = Path(source).expanduser()
    if path.suffix == ".tflite":
        if not path.is_file():
            if path.resolve() == settings.BUNDLED_YAMNET:
                return (
                    f"The built-in YAMNet is missing ({path}): the repository ships it. Restore it with "
                    "`git checkout -- assets/yamnet`, or point ANIMAL_AUDIO_YAMNET at another YAMNet."
                )
            return f"No YAMNet TFLite file at {path}. {HOW_TO_FIX}"
        if _is_lfs_pointer(path):
            return f"{path} is a Git LFS pointer, not the model: run `git lfs install && git lfs pull` in the repository."
        if not path.with_name(CLASS_MAP_FILE).is_file():
            return (
                f"No {CLASS_MAP_FILE} next to {path}: YAMNet's class names are needed. "
                f"Download it from {CLASS_MAP_URL} into {path.parent}."
            )
        if _importable("ai_edge_litert") or _importable("tensorflow"):
            return None
        return "Neither ai-edge-litert nor tensorflow is installed, so YAMNet cannot run. " + INSTALL
    if not (path / "saved_model.pb").is_file():
        return f"{path} is neither a .tflite file nor a SavedModel directory (no saved_model.pb there). {HOW_TO_FIX}"
    return _missing("tensorflow", "tensorflow_hub")


def _missing(*modules: str) -> str | None:
    """The float model's frameworks that are not installed, as a message; None when all are."""
    absent = [m for m in modules if not _importable(m)]
    if not absent:
        return None
    verb = "is" if len(absent) == 1 else "are"
    return (
        f"{' and '.join(absent)} {verb} not installed, so this YAMNet cannot run. {INSTALL} "
        "Or leave ANIMAL_AUDIO_YAMNET unset: the built-in YAMNet needs neither."
    )


def _is_lfs_pointer(path: Path) -> bool:
    """A clone made without Git LFS holds a small text file in place of the .tflite (marked for LFS)."""
    with path.open("rb") as file:
        return file.read(len(LFS_POINTER)) == LFS_POINTER


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load(source: str) -> YamnetModel:
    problem = source_problem(source)
    if problem is not None:
        raise ModelUnavailableError(problem)
    if source.startswith(REMOTE_PREFIXES):
        return _load_savedmodel(source, fingerprint=f"yamnet-hub-{_sha256(source.encode())[:16]}")
    path = Path(source).expanduser()
    if path.suffix == ".tflite":
        return _load_tflite(path)
    return _load_savedmodel(str(path), fingerprint=f"yamnet-savedmodel-{_savedmodel_digest(path)}")


def _import_tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ModelUnavailableError(
            "TensorFlow is not installed, so YAMNet cannot run. Install it with "
            "`pip install -r requirements.txt` (tensorflow, tensorflow-hub)."
        ) from error
    configure_threads()
    return tf


def _load_savedmodel(handle: str, *, fingerprint: str) -> YamnetModel:
    """TF Hub handle or SavedModel directory: the float model with YAMNet's signature."""
    tf = _import_tensorflow()
    # Downloads go where the program keeps its data (kept across restarts), unless the user chose.
    os.environ.setdefault("TFHUB_CACHE_DIR", str(settings.home() / "tfhub"))
    try:
        import tensorflow_hub as hub
    except ImportError as error:
        raise ModelUnavailableError(
            "tensorflow_hub is missing (or fails to import: it needs setuptools<81). "
            "Install it with `pip install -r requirements.txt`."
        ) from error
    remote = handle.startswith(REMOTE_PREFIXES)
    try:
        model = hub.load(handle)
    except Exception as error:  # network, HTTP, TF and file errors all mean "cannot load"
        raise ModelUnavailableError(
            f"Could not load YAMNet from {handle} ({short_error(error)}). "
            + ("Connect to the internet so TF Hub can download it. " if remote else "")
            + HOW_TO_FIX
        ) from error
    try:
        class_map = model.class_map_path().numpy().decode("utf-8")
        with tf.io.gfile.GFile(class_map) as f:
            class_names = _read_class_map(f.read())
    except Exception as error:
        raise ModelUnavailableError(
            f"{handle} does not look like YAMNet: its class map could not be read ({short_error(error)}). {HOW_TO_FIX}"
        ) from error

    def run(waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores, embeddings, spectrogram = model(tf.constant(waveform))
        return scores.numpy(), embeddings.numpy(), spectrogram.numpy()

    return YamnetModel(run, class_names, source=handle, backend="savedmodel", fingerprint=fingerprint)


def _load_tflite(path: Path) -> YamnetModel:
    class_names = _read_class_map(path.with_name(CLASS_MAP_FILE).read_text(encoding="utf-8"))
    interpreter_class = _tflite_interpreter_class()
    try:
        # tf.lite's notice that ai_edge_litert replaces it: not the user's concern.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            interpreter = interpreter_class(model_path=str(path), num_threads=settings.cpu_threads())
    except (ValueError, RuntimeError) as error:
        raise ModelUnavailableError(
            f"{path} is not a valid TFLite model ({short_error(error)}). Download YAMNet again. {HOW_TO_FIX}"
        ) from error
    runner = _TfliteRunner(interpreter, path)
    digest = _sha256(path.read_bytes())[:16]
    return YamnetModel(
        runner, class_names, source=str(path), backend="tflite", fingerprint=f"yamnet-tflite-{digest}"
    )


def _tflite_interpreter_class() -> Any:
    """ai_edge_litert (TF's successor runtime) when installed, else tf.lite."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return _import_tensorflow().lite.Interpreter
    configure_threads()
    return Interpreter


class _TfliteRunner:
    """Runs the interpreter on any clip length; interpreters are not thread-safe, hence the lock."""

    def __init__(self, interpreter: Any, path: Path) -> None:
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self._input = interpreter.get_input_details()[0]["index"]
        self._length = -1
        by_width = {int(d["shape_signature"][-1]): d["index"] for d in interpreter.get_output_details()}
        try:
            self._outputs = (by_width[NUM_AUDIOSET_CLASSES], by_width[EMBEDDING_SIZE], by_width[MEL_BANDS])
        except KeyError as error:
            raise ModelUnavailableError(
                f"{path} does not have YAMNet's outputs (scores x{NUM_AUDIOSET_CLASSES}, embeddings "
                f"x{EMBEDDING_SIZE}, log-mel x{MEL_BANDS}); found widths {sorted(by_width)}. {HOW_TO_FIX}"
            ) from error

    def __call__(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            if len(waveform) != self._length:
                self._interpreter.resize_tensor_input(self._input, [len(waveform)], strict=False)
                self._interpreter.allocate_tensors()
                self._length = len(waveform)
            self._interpreter.set_tensor(self._input, waveform)
            self._interpreter.invoke()
            scores, embeddings, spectrogram = (self._interpreter.get_tensor(i) for i in self._outputs)
        return scores, embeddings, spectrogram


def _read_class_map(text: str) -> list[str]:
    """YAMNet's csv: index,mid,display_name."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "display_name" not in rows[0]:
        raise ModelUnavailableError(
            f"The YAMNet class map has no display_name column. Use the original {CLASS_MAP_FILE} ({CLASS_MAP_URL})."
        )
    return [row["display_name"] for row in rows]


def _savedmodel_digest(path: Path) -> str:
    """Stable id of a SavedModel directory: its graph and variable index, without reading all weights."""
    digest = hashlib.sha256((path / "saved_model.pb").read_bytes())
    index = path / "variables" / "variables.index"
    if index.is_file():
        digest.update(index.read_bytes())
    return digest.hexdigest()[:16]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
