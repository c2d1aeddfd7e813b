"""Where a finished comparison run keeps the models it trained (see animal_audio.pipeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


def run_config(run_dir: Path) -> dict[str, Any]:
    """The comparison config stored in the run's metrics.json; {} when it cannot be read."""
    try:
        data = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    config = data.get("config") if isinstance(data, dict) else None
    return config if isinstance(config, dict) else {}


def run_model_dir(run_dir: Optional[Path], name: str) -> Optional[Path]:
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


def finetuned_checkpoint(run_dir: Path) -> Optional[Path]:
    """The best checkpoint hubert-finetune left in a run (named in its finetune.json)."""
    model_dir = run_model_dir(run_dir, "hubert-finetune")
    if model_dir is None:
        return None
    try:
        marker = json.loads((model_dir / "finetune.json").read_text(encoding="utf-8"))
        checkpoint = model_dir / str(marker["checkpoint_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        checkpoint = model_dir
    return checkpoint if (checkpoint / "config.json").is_file() else None


def has_trained_hubert(run_dir: Path) -> bool:
    """Whether the run trained a HuBERT the Classify tab can use (fine-tuned or probe)."""
    return finetuned_checkpoint(run_dir) is not None or run_model_dir(run_dir, "hubert-probe") is not None
