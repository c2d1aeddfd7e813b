"""What the timing scripts share: their logging, a scratch ANIMAL_AUDIO_HOME, the clips they time,
how a list of timings is summarised, and the machine facts that move timings."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

#: Pause before each timed call, so threads left spinning by the previous call go idle.
SETTLE_SECONDS = 0.05


def start_logging(name: str) -> None:
    """Root at WARNING (onnxruntime's quantiser logs every tensor at INFO there); ours at INFO; no downloads."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for ours in (name, "animal_audio"):
        logging.getLogger(ours).setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def scratch_home(prefix: str) -> Iterator[Path]:
    """A temporary folder that is also ANIMAL_AUDIO_HOME: exported graphs go there, not to the user's cache."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        os.environ["ANIMAL_AUDIO_HOME"] = str(Path(work) / "home")
        yield Path(work)


def parser(
    module: str, doc: str, out: Path, runs: Optional[tuple[int, str]] = None
) -> argparse.ArgumentParser:
    """The options every timing script takes (where the clips and YAMNet are, the result file), its own to add."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{module}", description=doc.splitlines()[0])
    parser.add_argument("--esc50-dir", help="ESC-50 release (meta/, audio/); default env ANIMAL_AUDIO_ESC50")
    parser.add_argument("--yamnet", help="YAMNet .tflite / SavedModel / TF Hub handle; default from settings")
    parser.add_argument("--out", type=Path, default=out, help="JSON result file")
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs[0], help=f"{runs[1]} ({runs[0]})")
    return parser


def esc50_clips(esc50_dir: Path, count: int) -> list[np.ndarray]:
    """The first `count` animal clips (by file name, cycling over classes) as 16 kHz waveforms."""
    import pandas as pd

    from animal_audio.audio import load_audio

    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    animals = meta[meta.target < 10].sort_values(["fold", "filename"])
    picked = animals.groupby("target").head(max(1, -(-count // 10))).sort_values(["filename"]).head(count)
    return [load_audio(esc50_dir / "audio" / name) for name in picked.filename]


def summary(values: list[float]) -> dict:
    ordered = np.asarray(values)
    return {
        "runs": len(values),
        "p50": round(float(np.percentile(ordered, 50)), 4),
        "p95": round(float(np.percentile(ordered, 95)), 4),
        "mean": round(float(ordered.mean()), 4),
        "min": round(float(ordered.min()), 4),
    }


def machine_facts() -> dict:
    """run_results.machine, plus what moves these timings: load, GPU, framework versions."""
    import torch

    from animal_audio.run_results import machine, versions

    return {
        **machine(),
        "load_average_start": list(os.getloadavg()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **versions(),
    }
