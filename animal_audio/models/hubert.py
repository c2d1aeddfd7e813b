"""HuBERT as a 10-class animal classifier (a fine-tuned checkpoint) and as a frozen embedder.

Loading goes through `AutoModelForAudioClassification` / `AutoModel` and
`AutoFeatureExtractor`, from a hub id or a `save_pretrained` directory, so a checkpoint
written by fine-tuning loads here and in `transformers.pipeline` alike.

Speed on CPU (details in quantize.py and benchmarks/README.md): the default path runs the
exported ONNX graph in ONNX Runtime fp32 (same predictions as torch, 1.2-1.3x faster than a
plain `transformers.pipeline`); `fast` (ANIMAL_AUDIO_FAST=1) runs int8 MatMuls, plus a
bf16 CNN encoder on CPUs with bf16 instructions (~2.3x faster than the pipeline; may move
probabilities slightly). On cuda/mps the model runs in torch (fast: float16). Without
onnxruntime, or if the export fails, it runs in torch (fast: int8 Linear, bf16 CNN where native).

Batching: HuBERT-Base's feature extractor has no attention mask, and zero padding
changes its group-norm statistics and attention, so `predict_batch` batches clips of
equal length only (all ESC-50 clips are 5 s) and runs other lengths in their own
batches: batch results equal one-by-one results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE
from animal_audio.errors import AnimalAudioError, AudioError, CheckpointError, ModelUnavailableError
from animal_audio.labels import CLASSES, NUM_CLASSES
from animal_audio.models.base import Prediction, softmax

log = logging.getLogger(__name__)

NAME = "hubert"
#: Clips per forward pass: enough to amortise overhead, small enough for a laptop's memory.
MAX_BATCH = 8
#: The shortest input HuBERT's convolutional front end accepts (one 25 ms frame).
MIN_SAMPLES = 400
BACKENDS = ("auto", "onnx", "torch")
#: HuBERT-Base's fairseq pre-training used un-normalised waveforms (task.normalize: false);
#: used only when a checkpoint ships without preprocessor_config.json.
FALLBACK_EXTRACTOR = {
    "feature_size": 1,
    "sampling_rate": SAMPLE_RATE,
    "padding_value": 0.0,
    "do_normalize": False,
}
#: Prefixes of the weights only a trained audio-classification head has.
HEAD_PREFIXES = ("classifier.", "projector.")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TRAIN_HINT = (
    "Train a head first: the fast way is a linear probe on frozen HuBERT "
    "(`python -m train compare --models hubert-probe ...`, minutes on a CPU); or fine-tune "
    "(`python -m train compare --models hubert-finetune ...` or `python -m train finetune`) and "
    f"point {settings.ENV_HUBERT} (or --hubert) at the checkpoint directory it writes."
)

Layer = Union[int, str]
Runner = Callable[[np.ndarray], np.ndarray]

_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()
_key_locks: defaultdict[tuple, threading.Lock] = defaultdict(threading.Lock)


# --------------------------------------------------------------------------- public API


class HubertClassifier:
    """A HuBERT checkpoint with a trained 10-class head (Classifier protocol, name "hubert")."""

    name = NAME

    def __init__(
        self, config: Any, feature_extractor: Any, *, source: str, device: str, fast: bool, runner: Runner
    ) -> None:
        self.config = config  # the torch weights live in the runner only (ORT: not at all)
        self.feature_extractor = feature_extractor
        self.source = source
        self.device = device
        self.fast = fast
        self._runner = runner

    @classmethod
    def load(
        cls,
        source: str | None = None,
        *,
        device: str | None = None,
        fast: bool | None = None,
        backend: str = "auto",
    ) -> HubertClassifier:
        """One shared instance per (source, device, fast, backend); raises ModelUnavailableError."""
        source = settings.hubert_source(source)
        device = settings.torch_device(device)
        fast = settings.fast_mode(fast)
        _check_backend(backend)
        key = ("classifier", _canonical(source), device, fast, backend, _weights_signature(source))
        return _cached(key, lambda: cls._load(source, device=device, fast=fast, backend=backend))

    @classmethod
    def _load(cls, source: str, *, device: str, fast: bool, backend: str) -> HubertClassifier:
        config = _load_config(source)
        key_parts = {"output": "logits", **_identity(source, config)}
        # A graph exported earlier passed the checks below for these very weights.
        runner = _exported_runner(device=device, fast=fast, backend=backend, key_parts=key_parts)
        if runner is None:
            from transformers import AutoModelForAudioClassification

            model, info = _from_pretrained(AutoModelForAudioClassification, source)
            _require_trained_head(model, info, source)
            runner = _make_runner(
                _logits_module(model), device=device, fast=fast, backend=backend, key_parts=key_parts
            )
        extractor = _feature_extractor(source)
        log.info("HuBERT classifier %s on %s (%s)", source, device, _runner_name(runner))
        return cls(config, extractor, source=source, device=device, fast=fast, runner=runner)

    @property
    def backend(self) -> str:
        return _runner_name(self._runner)

    def predict(self, waveform: np.ndarray) -> Prediction:
        return self.predict_batch([waveform])[0]

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Batched by equal length (see module docstring); `seconds` is each clip's share of its batch."""
        if not waveforms:
            return []
        logits, seconds = _run_batched(self._runner, self.feature_extractor, waveforms)
        probs = softmax(logits)
        extras = {"backend": self.backend}
        return [Prediction(NAME, p, seconds=s, extras=dict(extras)) for p, s in zip(probs, seconds)]

    def logits_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits [n, 10] in CLASSES order (for drift measurements and calibration)."""
        return _run_batched(self._runner, self.feature_extractor, waveforms)[0]

    def describe(self) -> str:
        mode = "fast int8" if self.fast else "exact fp32"
        return f"HuBERT classifier {self.source} on {self.device} ({self.backend}, {mode})"


class HubertEmbedder:
    """Frozen HuBERT: the mean over time of one hidden layer (Embedder protocol, name "hubert").

    Default layer: the middle one (6 of HuBERT-Base's 12). HuBERT's top layers are
    trained towards phone-like units of speech; analyses of its layers (the HuBERT
    paper's layer-6 targets, SUPERB's learned layer weights for non-phonetic tasks) put
    acoustic and speaker information in the middle. This is reasoning, not a measurement:
    with no real weights reachable here, accuracy per layer could not be checked. Pass
    `layer=` (0..L, 0 = the CNN features after the positional convolution) or "mean"
    (average of all layers) to try others. Layers above the chosen one are not computed.
    """

    name = NAME

    def __init__(
        self,
        config: Any,
        feature_extractor: Any,
        *,
        source: str,
        layer: Layer,
        device: str,
        fast: bool,
        runner: Runner,
        fingerprint: str,
    ) -> None:
        self.config = config
        self.feature_extractor = feature_extractor
        self.source = source
        self.layer = layer
        self.device = device
        self.fast = fast
        self.fingerprint = fingerprint
        self.dim = int(config.hidden_size)
        self._runner = runner

    @classmethod
    def load(
        cls,
        source: str | None = None,
        *,
        layer: Layer | None = None,
        device: str | None = None,
        fast: bool | None = None,
        backend: str = "auto",
    ) -> HubertEmbedder:
        """One shared instance per (source, layer, device, fast, backend). Default source: the base model."""
        source = str(source) if source else settings.DEFAULT_HUBERT
        device = settings.torch_device(device)
        fast = settings.fast_mode(fast)
        _check_backend(backend)
        key = ("embedder", _canonical(source), layer, device, fast, backend, _weights_signature(source))
        return _cached(key, lambda: cls._load(source, layer=layer, device=device, fast=fast, backend=backend))

    @classmethod
    def _load(
        cls, source: str, *, layer: Layer | None, device: str, fast: bool, backend: str
    ) -> HubertEmbedder:
        config, layer, identity, fingerprint = _embedder_identity(source, layer, fast)
        key_parts = {"output": f"mean-pooled layer {layer}", **identity}
        runner = _exported_runner(device=device, fast=fast, backend=backend, key_parts=key_parts)
        if runner is None:
            from transformers import AutoModel

            model, info = _from_pretrained(AutoModel, source)
            if info.get("missing_keys"):
                log.warning(
                    "%s: encoder weights missing, left random: %s", source, sorted(info["missing_keys"])[:5]
                )
            runner = _make_runner(
                _pooled_module(model, layer), device=device, fast=fast, backend=backend, key_parts=key_parts
            )
        log.info("HuBERT embedder %s layer %s on %s (%s)", source, layer, device, _runner_name(runner))
        return cls(
            config,
            _feature_extractor(source),
            source=source,
            layer=layer,
            device=device,
            fast=fast,
            runner=runner,
            fingerprint=fingerprint,
        )

    @classmethod
    def known_fingerprint(
        cls, source: str | None = None, *, layer: Layer | None = None, fast: bool | None = None
    ) -> str | None:
        """The fingerprint `load` would give, from files already on this machine; None if unknown.

        No weights, no download: cheap enough for time estimates (which embeddings are cached).
        """
        source = str(source) if source else settings.DEFAULT_HUBERT
        try:
            return _embedder_identity(source, layer, settings.fast_mode(fast), local_only=True)[3]
        except (AnimalAudioError, ValueError):
            return None

    @property
    def backend(self) -> str:
        return _runner_name(self._runner)

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """[n, hidden_size] float32, one row per clip, in input order."""
        return _run_batched(self._runner, self.feature_extractor, waveforms)[0].astype(np.float32)

    def describe(self) -> str:
        return f"HuBERT embedder {self.source}, layer {self.layer}, on {self.device} ({self.backend})"


def release(model: Any) -> None:
    """Forget one loaded model, so its memory is freed once nobody else holds it.

    For models used once: a cross-validation run tests one fine-tuned HuBERT per fold,
    ~1 GB each in ONNX Runtime, and keeping all five would need 5 GB.
    """
    with _cache_lock:
        for key in [key for key, value in _cache.items() if value is model]:
            del _cache[key]
            _key_locks.pop(key, None)


def clear_cache() -> None:
    """Forget loaded models (tests; freeing memory in a long-lived process)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()


# --------------------------------------------------------------------------- loading


def _cached(key: tuple, load: Callable[[], Any]) -> Any:
    """Load once per key; concurrent callers of the same key wait for the first one."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        key_lock = _key_locks[key]
    with key_lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        value = load()
        with _cache_lock:
            _cache[key] = value
        return value


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")


def _looks_like_path(source: str) -> bool:
    """Hub ids are "name" or "owner/name"; anything else that does not exist is a missing folder."""
    return (
        Path(source).expanduser().exists()
        or source.startswith(("/", ".", "~"))
        or "\\" in source
        or source.count("/") > 1
    )


def _canonical(source: str) -> str:
    return str(Path(source).expanduser().resolve()) if Path(source).expanduser().exists() else source


def _load_config(source: str, *, local_only: bool = False) -> Any:
    """The checkpoint's config alone (milliseconds, no torch); friendly errors.

    `local_only`: never download (a hub model must be in the local cache).
    """
    from transformers import AutoConfig

    source = _checked_source(source)
    with _load_errors(source):
        return AutoConfig.from_pretrained(source, local_files_only=local_only)


def _from_pretrained(auto_class: Any, source: str) -> tuple[Any, dict]:
    """The model in float32 and eval mode, plus transformers' loading info; friendly errors."""
    import torch  # imported first: configure_threads only configures imported frameworks

    from animal_audio.runtime import configure_threads

    configure_threads()
    source = _checked_source(source)
    # transformers warns with a "LOAD REPORT" table about head weights that are missing
    # (a base model) or unused (the embedder on a classifier); both are expected here and
    # handled from `info` below, so the table would only alarm the user.
    report_logger = logging.getLogger("transformers")
    level = report_logger.level
    report_logger.setLevel(logging.ERROR)
    try:
        with _load_errors(source):
            model, info = auto_class.from_pretrained(source, dtype=torch.float32, output_loading_info=True)
    finally:
        report_logger.setLevel(level)
    return model.eval(), dict(info)


def _checked_source(source: str) -> str:
    """A local folder must exist and hold a config.json; hub ids pass through."""
    if not _looks_like_path(source):
        return source
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        what = "does not exist" if not folder.exists() else "has no config.json"
        raise ModelUnavailableError(_unavailable(source, f"the folder {folder} {what}"))
    return str(folder)


@contextmanager
def _load_errors(source: str) -> Iterator[None]:
    """transformers' loading errors as ModelUnavailableError (cannot get it) or CheckpointError (damaged)."""
    try:
        yield
    except (OSError, ValueError) as error:
        if _looks_like_path(source):  # a local folder with a config: incomplete or damaged
            raise CheckpointError(_damaged(source, error)) from error
        raise ModelUnavailableError(_unavailable(source, _first_line(error))) from error
    except Exception as error:  # safetensors / torch errors: truncated or tampered weights
        raise CheckpointError(_damaged(source, error)) from error


def _unavailable(source: str, reason: str) -> str:
    return (
        f"Cannot load the HuBERT model '{source}': {reason}. To fix: connect to the internet so it "
        "can be downloaded from the Hugging Face Hub (then it is cached), or use a local copy saved "
        f"with save_pretrained (a folder with config.json and the weights): pass it with --hubert, "
        f"or set {settings.ENV_HUBERT}=/path/to/folder."
    )


def _damaged(source: str, error: BaseException) -> str:
    return (
        f"The HuBERT checkpoint in {source} is incomplete or damaged ({_first_line(error).rstrip('.')}). "
        "Train it again (python -m train finetune / the app's Train & compare tab), or copy it again "
        "from where it came from."
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _require_trained_head(model: Any, info: dict, source: str) -> None:
    """A base checkpoint gets a randomly initialised head: refuse it instead of predicting noise."""
    untrained = sorted(k for k in info.get("missing_keys", ()) if k.startswith(HEAD_PREFIXES))
    if untrained:
        raise ModelUnavailableError(
            f"HuBERT '{source}' is not trained yet for the {NUM_CLASSES} animal classes: it has no "
            f"classification head (missing {', '.join(untrained)}). {TRAIN_HINT}"
        )
    id2label = model.config.id2label or {}
    labels = tuple(str(id2label.get(i, id2label.get(str(i), ""))) for i in range(len(id2label)))
    if labels != CLASSES:
        shown = ", ".join(labels[:12]) + (" ..." if len(labels) > 12 else "")
        raise ModelUnavailableError(
            f"HuBERT '{source}' was trained for other labels ({shown}), not the {NUM_CLASSES} "
            f"ESC-50 animal classes in order ({', '.join(CLASSES)}), so it is not trained yet for "
            f"this task. {TRAIN_HINT}"
        )


def _feature_extractor(source: str) -> Any:
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(source)
    except (OSError, ValueError):
        log.warning("%s has no preprocessor_config.json; using HuBERT-Base's settings", source)
        extractor = Wav2Vec2FeatureExtractor(**FALLBACK_EXTRACTOR)
    if int(extractor.sampling_rate) != SAMPLE_RATE:
        raise ModelUnavailableError(
            f"HuBERT '{source}' expects {extractor.sampling_rate} Hz audio; this project feeds "
            f"{SAMPLE_RATE} Hz. Use a 16 kHz checkpoint."
        )
    return extractor


def _weights_signature(source: str) -> str:
    """Changes when a local checkpoint is rewritten (re-training into the same folder)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return _hub_snapshot(source)
    stats = [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(folder.iterdir())
        if p.name == "config.json" or p.name.endswith(WEIGHT_SUFFIXES)
    ]
    return "|".join(stats)


def _hub_snapshot(repo_id: str) -> str:
    """The cached snapshot (commit) of a hub model, so an upstream update re-exports its graph."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # not a valid repo id, no cache yet: nothing to tell apart
        return ""
    return Path(found).parent.name if isinstance(found, str) else ""


def _identity(source: str, config: Any) -> dict[str, str]:
    """What determines a model's outputs: where it came from, its config, its weight files."""
    config_json = json.dumps(config.to_diff_dict(), sort_keys=True, default=str)
    return {
        "source": _canonical(source),
        "config": hashlib.sha256(config_json.encode()).hexdigest()[:16],
        "weights": _weights_signature(source),
    }


def _embedder_identity(
    source: str, layer: Layer | None, fast: bool, *, local_only: bool = False
) -> tuple[Any, Layer, dict[str, str], str]:
    """(config, resolved layer, identity, embedding fingerprint) from the config alone."""
    config = _load_config(source, local_only=local_only)
    layer = _resolve_layer(layer, int(config.num_hidden_layers))
    identity = _identity(source, config)
    return config, layer, identity, "hubert-" + _digest({**identity, "layer": layer, "fast": fast})[:16]


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _resolve_layer(layer: Layer | None, num_layers: int) -> Layer:
    if layer is None:
        return num_layers // 2
    if layer == "mean":
        return layer
    if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer <= num_layers:
        return layer
    raise ValueError(f"layer must be 0..{num_layers} or 'mean', not {layer!r}")


# --------------------------------------------------------------------------- running


def _torch_modules() -> tuple[type, type]:
    """The export/inference wrappers, built lazily so importing this module stays cheap."""
    import torch

    class LogitsOutput(torch.nn.Module):
        """input_values [batch, samples] -> logits [batch, labels]: one tensor in, one out."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            return self.model(input_values).logits

    class PooledHidden(torch.nn.Module):
        """input_values -> one hidden layer (or the mean of all), averaged over time."""

        def __init__(self, model: Any, layer: Layer) -> None:
            super().__init__()
            if isinstance(layer, int) and not model.config.do_stable_layer_norm:
                # Layers above `layer` would be computed and thrown away; drop them.
                # (Pre-LN models apply a final norm after the last layer, so they keep all.)
                model.encoder.layers = model.encoder.layers[:layer]
            self.model = model
            self.layer = layer

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_values, output_hidden_states=True).hidden_states
            chosen = torch.stack(hidden).mean(0) if self.layer == "mean" else hidden[self.layer]
            return chosen.mean(1)

    return LogitsOutput, PooledHidden


def _logits_module(model: Any) -> Any:
    return _torch_modules()[0](model).eval()


def _pooled_module(model: Any, layer: Layer) -> Any:
    return _torch_modules()[1](model, layer).eval()


class _TorchRunner:
    """torch inference on any device. Fast: int8 Linear (+ bf16 CNN) on CPU, float16 on accelerators."""

    def __init__(self, module: Any, *, device: str, fast: bool) -> None:
        import torch

        from animal_audio.models.quantize import bf16_feature_encoder, native_bf16, torch_int8

        self.dtype = torch.float32
        if fast and device == "cpu":
            module = torch_int8(module)
            self.name = "torch-int8"
            if native_bf16() and bf16_feature_encoder(module):
                self.name = "torch-bf16-cnn+int8"
        elif fast:
            self.dtype = torch.float16
            module = module.to(device=device, dtype=self.dtype)
            self.name = "torch-fp16"
        else:
            module = module.to(device)
            self.name = "torch-fp32"
        self.module = module.eval()
        self.device = device

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(input_values, dtype=np.float32))
            out = self.module(batch.to(device=self.device, dtype=self.dtype))
            return out.float().cpu().numpy()


def _make_runner(module: Any, *, device: str, fast: bool, backend: str, key_parts: dict) -> Runner:
    """ONNX Runtime on CPU when available (see quantize.py), else torch."""
    if _uses_onnx(device, backend):
        try:
            return _onnx_runner(module, fast=fast, key_parts=key_parts)
        except Exception as error:  # export is best effort: torch gives the same answers, slower
            if backend == "onnx":
                raise ModelUnavailableError(
                    f"Cannot run HuBERT with ONNX Runtime ({_first_line(error)}). Install onnxruntime "
                    "and onnx (pip install -r requirements.txt) or use backend='torch'."
                ) from error
            log.warning("ONNX export failed (%s); running HuBERT in torch", _first_line(error))
    return _TorchRunner(module, device=device, fast=fast)


def _exported_runner(*, device: str, fast: bool, backend: str, key_parts: dict) -> Runner | None:
    """The ORT runner of a graph exported earlier from these exact weights, or None.

    Loading HuBERT-Base's torch weights only to find its graph already on disk took ~2 s
    of every start. Not for the fast path's bf16 CNN encoder, which runs in torch.
    """
    from animal_audio.models import quantize

    if not _uses_onnx(device, backend) or (fast and quantize.native_bf16()):
        return None
    key = quantize.graph_key(**_graph_key_parts(key_parts, fast))
    return quantize.exported_runner(key, int8=fast)


def _uses_onnx(device: str, backend: str) -> bool:
    from animal_audio.models import quantize

    return backend == "onnx" or (backend == "auto" and device == "cpu" and quantize.onnxruntime_available())


def _graph_key_parts(key_parts: dict, fast: bool) -> dict:
    from animal_audio.models import quantize

    return dict(key_parts, int8_layout=quantize.INT8_LAYOUT if fast else None)


def _onnx_runner(module: Any, *, fast: bool, key_parts: dict) -> Runner:
    """fp32 graph; fast: int8 graph, with the CNN encoder split off to torch bf16 where that is fast."""
    from animal_audio.models import quantize

    key_parts = _graph_key_parts(key_parts, fast)
    encoder = quantize.detach_feature_encoder(module) if fast and quantize.native_bf16() else None
    if encoder is None:
        return quantize.cached_runner(module, key=quantize.graph_key(**key_parts), int8=fast)
    try:
        channels = int(encoder.conv_layers[-1].conv.out_channels)
        rest = quantize.cached_runner(
            module,
            key=quantize.graph_key(**key_parts, split="bf16 cnn features"),
            int8=True,
            example_shape=(1, channels, 49),
        )
    except Exception:
        quantize.restore_feature_encoder(module, encoder)  # the torch fallback needs it whole
        raise
    return quantize.SplitRunner(encoder, rest)


def _runner_name(runner: Runner) -> str:
    return str(getattr(runner, "name", type(runner).__name__))


def _equal_length_batches(lengths: Sequence[int], max_batch: int) -> Iterator[list[int]]:
    """Indices grouped by clip length, at most `max_batch` per group, longest groups first."""
    groups: dict[int, list[int]] = defaultdict(list)
    for index, length in enumerate(lengths):
        groups[length].append(index)
    for _, indices in sorted(groups.items(), key=lambda item: -len(item[1])):
        for start in range(0, len(indices), max_batch):
            yield indices[start : start + max_batch]


def _as_waveform(waveform: np.ndarray) -> np.ndarray:
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise AudioError(f"expected a mono waveform (1-D), got shape {array.shape}; use audio.load_audio")
    if array.size < MIN_SAMPLES:
        raise AudioError(
            f"clip too short for HuBERT ({array.size} samples; at least {MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} ms)"
        )
    return array


def _run_batched(
    runner: Runner, extractor: Any, waveforms: Sequence[np.ndarray], max_batch: int = MAX_BATCH
) -> tuple[np.ndarray, list[float]]:
    """Outputs in input order and each clip's share of the wall time of its batch."""
    clips = [_as_waveform(w) for w in waveforms]
    if not clips:
        return np.zeros((0, 0), dtype=np.float32), []
    outputs: list[np.ndarray | None] = [None] * len(clips)
    seconds = [0.0] * len(clips)
    for indices in _equal_length_batches([len(c) for c in clips], max_batch):
        started = time.perf_counter()
        features = extractor([clips[i] for i in indices], sampling_rate=SAMPLE_RATE, return_tensors="np")
        result = runner(features["input_values"])
        share = (time.perf_counter() - started) / len(indices)
        for row, index in zip(result, indices):
            outputs[index] = row
            seconds[index] = share
    return np.stack(outputs), seconds  # type: ignore[arg-type]
