"""Which chosen models of a comparison cannot load here, told before the run from local files alone.

Nothing is downloaded and no weights are read, so the time estimate can say it at once. Only sure
failures count (a missing folder, weights neither cached nor downloadable): anything else is tried
by the run, which records a model that then fails as unavailable (pipeline.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from animal_audio import settings
from animal_audio.compare_config import CompareConfig
from animal_audio.ensemble_run import TOO_FEW
from animal_audio.models.published import training_base
from animal_audio.settings import OFFLINE_VARIABLES, offline

HUBERT_FIX = (
    "To fix: run once with the internet (HF_HUB_OFFLINE unset) so the weights are downloaded and "
    f"cached, or pass a local copy saved with save_pretrained with --hubert (or {settings.ENV_HUBERT})."
)


def unavailable_models(config: CompareConfig) -> dict[str, str]:
    """{model: why it cannot run here} for the chosen models known to fail; the rest may run."""
    found = {}
    for name in config.models:
        problem = model_problem(config, name)
        if problem is not None:
            found[name] = problem
    return found


def model_problem(config: CompareConfig, name: str) -> Optional[str]:
    """Why model `name` of `config` cannot load here, or None when nothing local rules it out."""
    if name == "ensemble":  # loads nothing itself: it needs two other models (which may fail in turn)
        others = [m for m in config.models if m != name]
        return None if len(others) >= 2 else TOO_FEW.format(found=", ".join(others) or "none")
    if name.startswith("yamnet"):
        from animal_audio.models.yamnet import source_problem

        return source_problem(settings.yamnet_source(config.yamnet))
    return hubert_problem(hubert_source(config))


def hubert_source(config: CompareConfig) -> str:
    """The HuBERT weights both HuBERT models train from: --hubert as given, else ANIMAL_AUDIO_HUBERT through
    `training_base` (the app's classifier there is never trained on again), else the base model."""
    return config.hubert or training_base(settings.hubert_source(None)) or settings.DEFAULT_HUBERT


def hubert_problem(source: str) -> Optional[str]:
    """A local folder must hold config.json; a hub id must be cached when downloads are off. Local files
    only: a caller that may download (warm start) tries that itself once this says None."""
    folder = Path(source).expanduser()
    if not settings.is_hub_id(source):
        if (folder / "config.json").is_file():
            return None
        what = "does not exist" if not folder.exists() else "has no config.json"
        return f"The HuBERT weights folder {folder} {what}. {HUBERT_FIX}"
    if not offline() or _in_hf_cache(source):
        return None
    return (
        f"The HuBERT base weights ({source}) cannot be downloaded here: downloads are off "
        f"({' / '.join(OFFLINE_VARIABLES)}) and they are not in the local Hugging Face cache. {HUBERT_FIX}"
    )


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library refuses: the load will say why
        return True
