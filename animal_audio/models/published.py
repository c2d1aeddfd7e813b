"""One entry point for "a HuBERT source": a fine-tuned checkpoint, or a probe head published with its base.

A folder (or Hub repository) written by `python -m train publish` holds either a transformers
checkpoint (config.json + safetensors) or a linear probe (probe.json + safetensors) plus
`animal_audio.json`, which names the base HuBERT the probe's embeddings come from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Union

from animal_audio import settings
from animal_audio.errors import CheckpointError, ModelUnavailableError, NotTrainedError, short_error
from animal_audio.fileio import read_json
from animal_audio.labels import ANIMALS, CLASSES, LabelSet
from animal_audio.models.hubert import HubertClassifier, HubertEmbedder
from animal_audio.models.probe import META_FILE as PROBE_FILE
from animal_audio.models.probe import WEIGHTS_GLOB as PROBE_WEIGHTS
from animal_audio.models.probe import LinearProbe, ProbeClassifier, head_layer

log = logging.getLogger(__name__)

#: Beside the weights of a published model: what it is and, for a probe, its base model.
MARKER_FILE = "animal_audio.json"
MARKER_FORMAT = "animal-audio/published-hubert"
FINETUNED, PROBE = "hubert-finetune", "hubert-probe"

HubertModel = Union[HubertClassifier, ProbeClassifier]


def load_hubert(
    source: Optional[str] = None,
    *,
    base: Optional[str] = None,
    device: Optional[str] = None,
    fast: Optional[bool] = None,
    backend: str = "auto",
    labels: Optional[LabelSet] = ANIMALS,
) -> HubertModel:
    """The classifier a HuBERT source holds (hub id or folder; default ANIMAL_AUDIO_HUBERT): a fine-tuned
    checkpoint as HubertClassifier, a probe head as ProbeClassifier on its base (`base` overrides it).

    NotTrainedError for a base model without a head, or a head for other classes than `labels` (None: any)."""
    source = settings.hubert_source(source)
    folder = _probe_folder(source)
    if folder is None:
        return HubertClassifier.load(source, device=device, fast=fast, backend=backend, labels=labels)
    head = LinearProbe.load(folder)
    if labels is not None and head.labels != labels:
        raise NotTrainedError(
            f"The HuBERT head in {source} answers over {', '.join(head.labels.names)}, not "
            f"{', '.join(labels.names)}: train one for these classes."
        )
    base = base or probe_base(folder)
    layer = head_layer(folder)  # chosen on the validation fold by the run (None: an older head's default)
    embedder = HubertEmbedder.load(base, layer=layer, device=device, fast=fast, backend=backend)
    return ProbeClassifier.from_dir(PROBE, embedder, folder)


def probe_base(folder: Path) -> str:
    """The base HuBERT a probe folder's marker names; a bare probe (from a run's models/) gets the default."""
    marker = read_json(folder / MARKER_FILE)
    if marker is None:
        log.warning("%s names no base model (%s): using %s", folder, MARKER_FILE, settings.DEFAULT_HUBERT)
        return settings.DEFAULT_HUBERT
    base = marker.get("base")
    if marker.get("format") != MARKER_FORMAT or not isinstance(base, str) or not base:
        raise CheckpointError(
            f"{folder / MARKER_FILE} is not a published HuBERT's description (no base model in it). "
            "Publish the probe again with `python -m train publish`."
        )
    return base


def training_base(source: Optional[str]) -> Optional[str]:
    """The weights a run trains from when `source` (ANIMAL_AUDIO_HUBERT) names them: a published
    probe gives its recorded base, a trained animal classifier the default base (training on it would reuse
    what it learnt, test folds included), a base model itself. Local files only (a folder or the Hub cache);
    None (nothing chosen) stays None."""
    if not source:
        return source
    files = _local_files(source)
    if files is None:
        return source  # a Hub id not in the cache: only a download could tell, so it counts as a base
    kind = (read_json(files / MARKER_FILE) or {}).get("kind")
    if kind == PROBE or (files / PROBE_FILE).is_file():
        try:
            return probe_base(files)
        except CheckpointError:
            return source  # loading it says what is wrong
    config = read_json(files / "config.json") or {}
    id2label = config.get("id2label") or {}
    labels = tuple(str(id2label.get(str(i), "")) for i in range(len(id2label)))
    if kind == FINETUNED or labels == CLASSES:
        log.info("%s is a trained classifier: training starts from %s", source, settings.DEFAULT_HUBERT)
        return settings.DEFAULT_HUBERT
    return source


def has_head(source: Optional[str]) -> bool:
    """Whether `source` is a trained animal classifier (a probe or a fine-tuned checkpoint), not a base model:
    an operator who names one pins it, and the app's runs never replace it. Local files only."""
    return bool(source) and training_base(source) != source


def _local_files(source: str) -> Optional[Path]:
    """The folder `source` is, or its snapshot in the local Hugging Face cache; None if neither is here."""
    if not settings.is_hub_id(source):
        return Path(source).expanduser()
    from huggingface_hub import try_to_load_from_cache

    for name in (MARKER_FILE, PROBE_FILE, "config.json"):
        try:
            cached = try_to_load_from_cache(source, name)
        except ValueError:  # an id the hub library refuses
            return None
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def marker(kind: str, base: Optional[str], **extra: Any) -> dict[str, Any]:
    """What `animal_audio.json` holds; `publish` writes it, `probe_base` reads it."""
    return {"format": MARKER_FORMAT, "kind": kind, "base": base, **extra}


def _probe_folder(source: str) -> Optional[Path]:
    """The folder holding the probe head that `source` names, or None (a checkpoint, or not found)."""
    if not settings.is_hub_id(source):
        local = Path(source).expanduser()
        return local if (local / PROBE_FILE).is_file() else None
    if source == settings.DEFAULT_HUBERT or "/" not in source:
        return None  # the base model (known to have no probe) or a legacy id: HubertClassifier says why
    return _hub_probe(source)


def _hub_probe(repo_id: str) -> Optional[Path]:
    """A hub repository's probe files (downloaded, or from the cache offline); None if it holds no probe.

    Online, one request without retries asks first: with no network it fails in a fraction of a second
    instead of huggingface_hub's retry cycles (twice: here and in the checkpoint's loader)."""
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, PROBE_FILE)
    if settings.offline():
        local_only = True
        if not isinstance(cached, str):
            return None  # not a probe, or not cached: loading it as a checkpoint gives the right message
    else:
        local_only = not _probe_on_hub(repo_id, cached)
        if local_only and not isinstance(cached, str):
            return None
    try:
        files = snapshot_download(
            repo_id, allow_patterns=[PROBE_FILE, PROBE_WEIGHTS, MARKER_FILE], local_files_only=local_only
        )
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"Cannot download the probe head '{repo_id}' from the Hugging Face Hub ({short_error(error)}). "
            f"Connect to the internet once (it is cached then), or set {settings.ENV_HUBERT} to a "
            "folder written by `python -m train publish --dry-run`."
        ) from error
    return Path(files)


def _probe_on_hub(repo_id: str, cached: Any) -> bool:
    """Whether the Hub repository holds a probe head. With no connection: the cache decides when it knows
    the repository, else ModelUnavailableError at once (the checkpoint path would only retry)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, PROBE_FILE))  # one request, no retries
    except EntryNotFoundError:
        return False  # a fine-tuned checkpoint
    except HfHubHTTPError as error:  # no such repository, no access: the checkpoint loader says why
        log.debug("%s: no probe head (%s)", repo_id, error)
        return False
    except Exception as error:  # no network: an OSError, or the HTTP client's own error (httpx or httpx2)
        if isinstance(cached, str) or isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            log.info(
                "the Hugging Face Hub is unreachable (%s): using the cached %s", short_error(error), repo_id
            )
            return False
        raise ModelUnavailableError(
            f"Cannot reach the Hugging Face Hub to load '{repo_id}' ({short_error(error)}), and it is not in "
            f"the local cache. Check the network, or set {settings.ENV_HUBERT} to a local folder "
            "(e.g. one written by `python -m train publish --dry-run`)."
        ) from error
    return True
