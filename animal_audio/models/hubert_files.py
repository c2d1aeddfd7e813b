"""A HuBERT checkpoint's config and feature extractor, read without importing transformers where possible.

Importing transformers' config classes imports torch (~3.5 s and ~200 MB together on 2 cores): a waste
when the exported ONNX graph is cached and no torch weights are needed. So what HubertClassifier and
HubertEmbedder need from the config is remembered per config.json (and transformers version), and
HuBERT's feature extractor (Wav2Vec2FeatureExtractor) is applied in numpy, with the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from animal_audio import settings
from animal_audio.fileio import read_json, write_json

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
PREPROCESSOR_FILE = "preprocessor_config.json"
#: The feature extractor of every HuBERT / wav2vec2 checkpoint: the one `Normalizer` stands in for.
WAV2VEC2_EXTRACTOR = "Wav2Vec2FeatureExtractor"
#: wav2vec2's zero-mean unit-variance normalisation adds this to the variance.
NORM_EPSILON = 1e-7
#: Bump when what `ConfigFacts` holds, or how its digest is computed, changes.
FACTS_VERSION = "3"


@dataclass(frozen=True)
class ConfigFacts:
    """What the loaders need from a checkpoint's config; `digest`: of transformers' `to_diff_dict()`."""

    digest: str
    hidden_size: int
    num_hidden_layers: int
    frame_samples: int  # samples between output frames: the product of the CNN's strides (320)
    labels: tuple[str, ...] = ()  # a classifier's id2label in order (a base model's are placeholders)


def config_facts(source: str, load_config: Any) -> ConfigFacts:
    """The facts of `source`'s config: remembered from an earlier `load_config(source)` of the same
    config.json, else computed from it (which imports transformers and torch) and remembered."""
    entry = _facts_entry(source)
    found = read_json(entry) if entry is not None else None
    if isinstance(found, dict):
        try:
            return ConfigFacts(**{**found, "labels": tuple(found.get("labels") or ())})
        except TypeError:
            log.debug("ignoring an unreadable %s", entry)
    config = load_config(source)
    facts = ConfigFacts(
        digest=hashlib.sha256(
            json.dumps(config.to_diff_dict(), sort_keys=True, default=str).encode()
        ).hexdigest(),
        hidden_size=int(config.hidden_size),
        num_hidden_layers=int(config.num_hidden_layers),
        frame_samples=int(np.prod(config.conv_stride)),
        labels=tuple(str(config.id2label[i]) for i in sorted(config.id2label or {})),
    )
    if entry is not None:
        try:
            write_json(entry, asdict(facts))
        except OSError as error:  # a read-only cache only costs the next start its seconds
            log.debug("could not remember %s: %s", entry, error)
    return facts


def _facts_entry(source: str) -> Optional[Path]:
    """Where the facts of this exact config.json are remembered; None when it is not on disk."""
    path = local_file(source, CONFIG_FILE)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    key = hashlib.sha256(data + f"|{version('transformers')}|{FACTS_VERSION}".encode()).hexdigest()[:24]
    return settings.cache_dir() / "hubert-configs" / f"{key}.json"


def local_file(source: str, name: str) -> Optional[Path]:
    """`name` inside a local folder, or inside the Hugging Face cache for a hub id; None if not on disk."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() else None
    if not settings.is_hub_id(source):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, name)
    except Exception:  # not a valid repo id: transformers' loaders say why
        return None
    return Path(found) if isinstance(found, str) else None


class Normalizer:
    """Wav2Vec2FeatureExtractor's call on equal-length clips (all `run_batched` passes), in numpy:
    zero-mean unit-variance per clip when `do_normalize`, float32 [n, samples] out."""

    def __init__(self, *, sampling_rate: int, do_normalize: bool) -> None:
        self.sampling_rate = sampling_rate
        self.do_normalize = do_normalize

    def __call__(self, clips: Sequence[np.ndarray], *, sampling_rate: int, **_: Any) -> dict[str, np.ndarray]:
        values = [np.asarray(clip, dtype=np.float32) for clip in clips]
        if self.do_normalize:
            values = [(x - x.mean()) / np.sqrt(x.var() + NORM_EPSILON) for x in values]
        return {"input_values": np.array(values)}


def normalizer(source: str, fallback: dict[str, Any]) -> Optional[Normalizer]:
    """The numpy stand-in for `source`'s feature extractor, or None when it is another kind (or
    unreadable): then transformers' own extractor is used. `fallback`: settings when the file is absent."""
    settings_file = local_file(source, PREPROCESSOR_FILE)
    if settings_file is None:
        if not Path(source).expanduser().is_dir():
            return None  # a hub id not cached yet: transformers downloads it
        log.warning("%s has no %s; using HuBERT-Base's settings", source, PREPROCESSOR_FILE)
        values = dict(fallback, feature_extractor_type=WAV2VEC2_EXTRACTOR)
    else:
        values = read_json(settings_file)
    if not isinstance(values, dict) or values.get("feature_extractor_type") != WAV2VEC2_EXTRACTOR:
        return None
    if int(values.get("feature_size", 1)) != 1:
        return None
    return Normalizer(
        sampling_rate=int(values.get("sampling_rate", 16_000)),
        do_normalize=bool(values.get("do_normalize", True)),
    )


# --------------------------------------------------------------------------- identity


def canonical(source: str) -> str:
    """A local folder by its resolved path (one graph per folder, however named); hub ids as they are."""
    return str(Path(source).expanduser().resolve()) if Path(source).expanduser().exists() else source


def weights_signature(source: str) -> str:
    """Changes when a local checkpoint is rewritten (re-training into the same folder)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return hub_snapshot(source)
    stats = [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(folder.iterdir())
        if p.name == "config.json" or p.name.endswith(WEIGHT_SUFFIXES)
    ]
    return "|".join(stats)


def hub_snapshot(repo_id: str) -> str:
    """The cached snapshot (commit) of a hub model, so an upstream update re-exports its graph."""
    found = local_file(repo_id, CONFIG_FILE)  # None: not a valid repo id, or no cache yet
    return found.parent.name if found is not None else ""


def identity_parts(source: str, config: ConfigFacts) -> dict[str, str]:
    """What determines a model's outputs: where it came from, its config, its weight files."""
    return {
        "source": canonical(source),
        "config": config.digest[:16],
        "weights": weights_signature(source),
    }


def digest(parts: dict) -> str:
    """sha256 of JSON parts, in a stable key order."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
