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
PREPROCESSOR_FILE = "preprocessor_config.json"
#: The feature extractor of every HuBERT / wav2vec2 checkpoint: the one `Normalizer` stands in for.
WAV2VEC2_EXTRACTOR = "Wav2Vec2FeatureExtractor"
#: wav2vec2's zero-mean unit-variance normalisation adds this to the variance.
NORM_EPSILON = 1e-7
#: Bump when what `ConfigFacts` holds, or how its digest is computed, changes.
FACTS_VERSION = "1"


@dataclass(frozen=True)
class ConfigFacts:
    """What the loaders need from a checkpoint's config; `digest`: of transformers' `to_diff_dict()`."""

    digest: str
    hidden_size: int
    num_hidden_layers: int


def config_facts(source: str, load_config: Any) -> ConfigFacts:
    """The facts of `source`'s config: remembered from an earlier `load_config(source)` of the same
    config.json, else computed from it (which imports transformers and torch) and remembered."""
    entry = _facts_entry(source)
    found = read_json(entry) if entry is not None else None
    if isinstance(found, dict):
        try:
            return ConfigFacts(**found)
        except TypeError:
            log.debug("ignoring an unreadable %s", entry)
    config = load_config(source)
    facts = ConfigFacts(
        digest=hashlib.sha256(
            json.dumps(config.to_diff_dict(), sort_keys=True, default=str).encode()
        ).hexdigest(),
        hidden_size=int(config.hidden_size),
        num_hidden_layers=int(config.num_hidden_layers),
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
