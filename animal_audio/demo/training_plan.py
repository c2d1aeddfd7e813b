"""The comparison the Train tab asks for, before it starts: its config, expected time, and data check."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from animal_audio import esc50, settings
from animal_audio.errors import DatasetError
from animal_audio.formatting import duration

#: Runs expected to take longer than this need a second click on Start.
LONG_RUN_SECONDS = 3600.0


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
    text = f"Expected time on this machine ({where}): **about {duration(seconds)}**."
    if is_long(seconds):
        text += " That is long: the quick mode (linear heads only) finishes in minutes."
    return text


def _gpu_name() -> Optional[str]:
    """The GPU torch sees, without importing torch just to ask (the app starts faster without it)."""
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
