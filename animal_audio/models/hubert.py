"""HuBERT as a 10-class animal classifier (a fine-tuned checkpoint) and as a frozen embedder.

Loaded through transformers' Auto classes from a hub id or a `save_pretrained` folder, so a
checkpoint written by fine-tuning loads here and in `transformers.pipeline` alike.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE
from animal_audio.errors import (
    AnimalAudioError,
    CheckpointError,
    ModelUnavailableError,
    short_error,
)
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.models import backends
from animal_audio.models.backends import Layer, Runner
from animal_audio.models.base import Prediction, softmax
from animal_audio.models.hubert_files import ConfigFacts, config_facts, digest, identity_parts, normalizer
from animal_audio.models.hubert_heads import require_labels, require_trained_head
from animal_audio.timeline import HOP_SECONDS, WINDOW_SECONDS, Frames, frames_per

log = logging.getLogger(__name__)

NAME = "hubert"
#: For a checkpoint without preprocessor_config.json: HuBERT-Base's fairseq pre-training used
#: un-normalised waveforms (task.normalize: false).
FALLBACK_EXTRACTOR = {
    "feature_size": 1,
    "sampling_rate": SAMPLE_RATE,
    "padding_value": 0.0,
    "do_normalize": False,
}


class _Hubert:
    """What one loaded HuBERT holds; the torch weights live in the runner only (ORT: not at all)."""

    name = NAME

    def __init__(
        self, config: ConfigFacts, extractor: Any, *, source: str, device: str, fast: bool, runner: Runner
    ):
        self.config = config
        self.feature_extractor = extractor
        self.source = source
        self.device = device
        self.fast = fast
        self._runner = runner

    @property
    def backend(self) -> str:
        return backends.runner_name(self._runner)

    def _run(self, waveforms: Sequence[np.ndarray]) -> tuple[list[Frames], list[float]]:
        """Each clip's frame outputs, pooled for the timeline into ~1 s windows every 0.5 s."""
        outputs, seconds = backends.run_batched(self._runner, self.feature_extractor, waveforms)
        frame_seconds = self.config.frame_samples / SAMPLE_RATE
        window, stride = (frames_per(s, frame_seconds) for s in (WINDOW_SECONDS, HOP_SECONDS))
        return [Frames(out, frame_seconds, window, stride) for out in outputs], seconds


class HubertClassifier(_Hubert):
    """A HuBERT checkpoint with a trained head (Classifier protocol, name "hubert"): the 10 animals, or the
    label set it was fine-tuned for."""

    labels: LabelSet = ANIMALS

    @classmethod
    def load(
        cls,
        source: str | None = None,
        *,
        device: str | None = None,
        fast: bool | None = None,
        backend: str = "auto",
        labels: LabelSet | None = ANIMALS,
    ) -> HubertClassifier:
        """A new classifier, owned by the caller. `fast`: int8, faster, may move probabilities slightly.

        ModelUnavailableError if it cannot be loaded; NotTrainedError if it has no head for `labels` (None:
        whichever label set it was trained for)."""
        backends.check_backend(backend)
        source = settings.hubert_source(source)
        config = _config_facts(source)
        require_labels(config.labels, labels, source)

        def checked(model: Any, info: dict) -> Any:
            require_trained_head(model, info, source)
            return backends.exportable(model)

        key_parts = {"output": "frame projector outputs + logits", **identity_parts(source, config)}
        device, fast, runner = _load_runner(
            source, key_parts, "AutoModelForAudioClassification", checked, device, fast, backend
        )
        classifier = cls(
            config, _feature_extractor(source), source=source, device=device, fast=fast, runner=runner
        )
        classifier.labels = LabelSet.from_dict({"names": list(config.labels)})
        return classifier

    def predict(self, waveform: np.ndarray) -> Prediction:
        return self.predict_batch([waveform])[0]

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Batched by equal length (see `backends.run_batched`); `seconds`: each clip's share of its batch.
        The clip's logits are its frame logits' mean, the timeline's their means per window; its embedding
        (Prediction.embedding) is its frame projector outputs' mean, from the same pass."""
        frames, seconds = self._run(waveforms)
        return [self._prediction(f, s) for f, s in zip(frames, seconds)]

    def _prediction(self, frames: Frames, seconds: float) -> Prediction:
        pooled, classes = frames.clip(), len(self.labels)
        probs, embedding = softmax(pooled[-classes:]), pooled[:-classes]
        extras = {"backend": self.backend}
        timeline = frames.timeline(lambda rows: softmax(rows[:, -classes:]))
        return Prediction(NAME, probs, seconds, extras, timeline, embedding=embedding, labels=self.labels)

    def logits_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits [n, classes] in label order (for drift measurements and calibration)."""
        frames = self._run(waveforms)[0]
        if not frames:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.stack([f.clip()[-len(self.labels) :] for f in frames])

    def describe(self) -> str:
        mode = "fast int8" if self.fast else "exact fp32"
        return f"HuBERT classifier {self.source} on {self.device} ({self.backend}, {mode})"


class HubertEmbedder(_Hubert):
    """Frozen HuBERT: the mean over time of one hidden layer (Embedder protocol, name "hubert")."""

    def __init__(
        self, config: ConfigFacts, extractor: Any, *, layer: Layer, fingerprint: str, **common: Any
    ) -> None:
        super().__init__(config, extractor, **common)
        self.layer = layer
        self.fingerprint = fingerprint
        self.dim = int(config.hidden_size)

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
        """A new embedder, owned by the caller. Default source: the base model (no head needed).

        `layer`: 0..L (0: the CNN features after the positional convolution) or "mean" of all; default L/2."""
        backends.check_backend(backend)
        source = str(source) if source else settings.DEFAULT_HUBERT
        config, layer, identity, fingerprint = _embedder_identity(source, layer, settings.fast_mode(fast))

        def pooled(model: Any, info: dict) -> Any:
            if info.get("missing_keys"):
                log.warning(
                    "%s: encoder weights missing, left random: %s", source, sorted(info["missing_keys"])[:5]
                )
            return backends.exportable(model, layer=layer)

        key_parts = {"output": f"frames of layer {layer}", **identity}
        device, fast, runner = _load_runner(source, key_parts, "AutoModel", pooled, device, fast, backend)
        extractor = _feature_extractor(source)
        common = {"source": source, "device": device, "fast": fast, "runner": runner}
        return cls(config, extractor, layer=layer, fingerprint=fingerprint, **common)

    @classmethod
    def known_fingerprint(
        cls, source: str | None = None, *, layer: Layer | None = None, fast: bool | None = None
    ) -> str | None:
        """The fingerprint `load` would give, from local files only (no weights, no download): cheap enough
        for time estimates (which embeddings are cached). None if it cannot be told."""
        source = str(source) if source else settings.DEFAULT_HUBERT
        try:
            return _embedder_identity(source, layer, settings.fast_mode(fast), local_only=True)[3]
        except (AnimalAudioError, ValueError):
            return None

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """[n, hidden_size] float32, one row per clip (the mean of its frames), in input order."""
        frames = self._run(waveforms)[0]
        return (
            np.stack([f.clip() for f in frames]).astype(np.float32)
            if frames
            else np.zeros((0, self.dim), np.float32)
        )

    def frames_batch(self, waveforms: Sequence[np.ndarray]) -> list[Frames]:
        """Each clip's frames of the layer, batched by length (the cache keeps their mean, max and std)."""
        return self._run(waveforms)[0]

    def embed_frames(self, waveform: np.ndarray) -> Frames:
        """The clip's frames of the layer [frames, hidden_size]: their mean is `embed`."""
        return self._run([waveform])[0][0]

    def describe(self) -> str:
        return f"HuBERT embedder {self.source}, layer {self.layer}, on {self.device} ({self.backend})"


# --------------------------------------------------------------------------- loading


def _load_runner(
    source: str,
    key_parts: dict,
    auto_class: str,
    prepare: Callable[[Any, dict], Any],
    device: str | None,
    fast: bool | None,
    backend: str,
) -> tuple[str, bool, Runner]:
    """(device, fast, runner): the graph exported earlier from these weights, which passed `prepare`'s
    checks then, else `transformers.<auto_class>`'s model, checked and wrapped by `prepare(model, info)`."""
    device, fast = settings.torch_device(device), settings.fast_mode(fast)
    runner = backends.exported_runner(device=device, fast=fast, backend=backend, key_parts=key_parts)
    if runner is None:
        import transformers

        model, info = _from_pretrained(getattr(transformers, auto_class), source)
        module = prepare(model, info)
        runner = backends.make_runner(module, device=device, fast=fast, backend=backend, key_parts=key_parts)
    log.info(
        "HuBERT %s from %s on %s (%s)", key_parts["output"], source, device, backends.runner_name(runner)
    )
    return device, fast, runner


def _looks_like_path(source: str) -> bool:
    """Hub ids are "name" or "owner/name"; anything else that does not exist is a missing folder."""
    return (
        Path(source).expanduser().exists()
        or source.startswith(("/", ".", "~"))
        or "\\" in source
        or source.count("/") > 1
    )


def _config_facts(source: str, *, local_only: bool = False) -> ConfigFacts:
    """What the loaders need from the config; without transformers (nor torch) when read before."""
    _checked_source(source)
    return config_facts(source, lambda s: _load_config(s, local_only=local_only))


def _load_config(source: str, *, local_only: bool = False) -> Any:
    """The checkpoint's config (transformers imports torch for it: seconds); `local_only`: never download."""
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
    # transformers' "LOAD REPORT" table lists head weights that are missing (a base model) or
    # unused (the embedder on a classifier): both expected and handled from `info`.
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
        raise ModelUnavailableError(_unavailable(source, short_error(error))) from error
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
        f"The HuBERT checkpoint in {source} is incomplete or damaged ({short_error(error).rstrip('.')}). "
        "Train it again (python -m train finetune / the app's Train & compare tab), or copy it again "
        "from where it came from."
    )


def _feature_extractor(source: str) -> Any:
    """HuBERT's own (Wav2Vec2FeatureExtractor) in numpy, without importing transformers; others from it."""
    extractor = normalizer(source, FALLBACK_EXTRACTOR)
    if extractor is None:
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


def _embedder_identity(
    source: str, layer: Layer | None, fast: bool, *, local_only: bool = False
) -> tuple[ConfigFacts, Layer, dict[str, str], str]:
    """(config, resolved layer, identity, embedding fingerprint) from the config alone."""
    config = _config_facts(source, local_only=local_only)
    layer = _resolve_layer(layer, int(config.num_hidden_layers))
    identity = identity_parts(source, config)
    return config, layer, identity, "hubert-" + digest({**identity, "layer": layer, "fast": fast})[:16]


def _resolve_layer(layer: Layer | None, num_layers: int) -> Layer:
    """Default: the middle layer. HuBERT's top layers lean towards phone-like speech units; the HuBERT
    paper and SUPERB put acoustic information mid-stack (reasoned: no real weights here to measure)."""
    if layer is None:
        return num_layers // 2
    if layer in ("mean", "all"):
        return layer
    if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer <= num_layers:
        return layer
    raise ValueError(f"layer must be 0..{num_layers}, 'mean' or 'all', not {layer!r}")
