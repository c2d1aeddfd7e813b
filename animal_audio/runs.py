"""The files of a run directory: finished parts, results, the latest-run pointer, reading runs back.

A run directory without `metrics.json` is unfinished, never half-finished: results
are written atomically and `metrics.json` last; `runs_dir/latest.json` moves to a
run only after it is complete. Finished parts (`parts/<model>--<split>.json`) let a
stopped run resume where it stopped. While a process works in a run, `.in-progress.json`
holds its pid; a folder the program named itself (no --out) holds `.auto-run.json`, which
lets housekeeping.py delete it once it is old.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import pandas as pd

from animal_audio import esc50, settings
from animal_audio.compare_config import CompareConfig
from animal_audio.errors import AnimalAudioError, CheckpointError
from animal_audio.fileio import atomic_path, process_alive, read_json, write_json, write_text
from animal_audio.labels import ANIMALS, CLASSES, LabelSet

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
REPORT_FILE = "report.md"
RUN_CONFIG_FILE = "run_config.json"
LATEST_FILE = "latest.json"
PARTS_DIR = "parts"
MODELS_DIR = "models"
#: In a run folder the program named and made itself under the runs folder: housekeeping may delete it.
AUTO_RUN_FILE = ".auto-run.json"
#: In a run folder while a process works in it: that process's pid.
LOCK_FILE = ".in-progress.json"
#: Files computed from a run's results, wrong once the results are written again.
STALE_WITH_NEW_RESULTS = ("robustness.json", "robustness.html")

#: Run folders this process works in now: its pid alone does not tell (a restarted container often
#: gets the pid its killed predecessor had).
_working: set[Path] = set()
_working_lock = threading.Lock()


@dataclass
class RunResult:
    """A finished run: where it is, its metrics.json and its predictions.csv."""

    run_dir: Path
    metrics: dict[str, Any]
    predictions: pd.DataFrame


@dataclass
class Part:
    """One model tested on one split: what parts/<model>--<split>.json holds."""

    probs: np.ndarray
    train_seconds: float
    inference_seconds_per_clip: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: Its probabilities on the split's validation clips (what the ensemble is fitted on); None: not made.
    validation_probs: Optional[np.ndarray] = None


def start_run(run_dir: Path, config: CompareConfig) -> None:
    """Create the run dir, or resume it; a finished run is never overwritten, unless it left out models
    (metrics.json "unavailable") and has these settings: then the re-run adds them."""
    if (run_dir / METRICS_FILE).is_file() and not resumable(run_dir, config):
        raise AnimalAudioError(
            f"{run_dir} already holds a finished run. Choose another output folder "
            "(or leave --out away for a new one)."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = read_json(run_dir / RUN_CONFIG_FILE)
    if previous and previous.get("fingerprint") != config.fingerprint():
        log.info("%s was started with other settings: its finished parts are redone", run_dir)
    write_json(run_dir / RUN_CONFIG_FILE, {"fingerprint": config.fingerprint(), "config": config.to_dict()})


@contextmanager
def running(run_dir: Path, *, created: bool = False) -> Iterator[Path]:
    """Mark `run_dir` in progress by this process while the block runs: no cleanup removes it, no second
    process resumes it. `created`: the program named it (no --out), so housekeeping may delete it later."""
    run_dir = Path(run_dir)
    owner = in_progress(run_dir)
    if owner is not None:
        raise AnimalAudioError(
            f"The run in {run_dir} is in progress (process {owner}). Wait for it to end, or choose another "
            "output folder."
        )
    key = run_dir.resolve()
    with _working_lock:
        _working.add(key)
    try:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(run_dir / LOCK_FILE, {"pid": os.getpid(), "started": now})
        if created:  # after the lock: another process's cleanup never sees it unlocked
            write_json(run_dir / AUTO_RUN_FILE, {"created": now})
        yield run_dir
    finally:
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
        with _working_lock:
            _working.discard(key)


def in_progress(run_dir: str | os.PathLike[str]) -> Optional[int]:
    """The pid of the process working in `run_dir` now; None when none is (no lock, or its process is gone).
    A pid reused by an unrelated process keeps the run a while longer: the safe side."""
    run_dir = Path(run_dir)
    pid = (read_json(run_dir / LOCK_FILE) or {}).get("pid")
    if not isinstance(pid, int):
        return None
    if pid == os.getpid():
        with _working_lock:
            return pid if run_dir.resolve() in _working else None
    return pid if process_alive(pid) else None


def is_auto_run(run_dir: str | os.PathLike[str]) -> bool:
    """Whether the program named and made `run_dir` itself (never one given with --out)."""
    return (Path(run_dir) / AUTO_RUN_FILE).is_file()


def resumable(run_dir: Path, config: CompareConfig) -> bool:
    """Whether a run of `config` may continue in `run_dir`: one started with the same settings that is
    unfinished, or finished without some of the same chosen models (its finished parts are reused)."""
    if (read_json(run_dir / RUN_CONFIG_FILE) or {}).get("fingerprint") != config.fingerprint():
        return False
    if not (run_dir / METRICS_FILE).is_file():
        return True
    metrics = read_json(run_dir / METRICS_FILE) or {}
    chosen = (metrics.get("config") or {}).get("models")
    return bool(metrics.get("unavailable")) and chosen == list(config.models)


def load_part(
    run_dir: Path, fingerprint: str, name: str, split: esc50.Split, classes: int = len(CLASSES)
) -> Optional[Part]:
    """A finished part made with the same settings, test clips and number of classes, else None (redo it)."""
    data = read_json(_part_path(run_dir, name, split))
    if not data or data.get("fingerprint") != fingerprint:
        return None
    if data.get("filenames") != list(split.test["filename"]):
        return None
    try:
        probs = np.asarray(data["probs"], dtype=np.float64)
        if probs.shape != (len(split.test), classes):
            return None
        validation = data.get("validation_probs")
        validation = None if validation is None else np.asarray(validation, dtype=np.float64)
        if validation is not None and validation.shape != (len(split.validation), classes):
            validation = None
        log.info("%s on %s: reusing finished results", name, split.name)
        return Part(
            probs,
            float(data["train_seconds"]),
            float(data["inference_seconds_per_clip"]),
            data["extra"],
            validation,
        )
    except (KeyError, TypeError, ValueError):
        return None


def save_part(run_dir: Path, fingerprint: str, name: str, split: esc50.Split, part: Part) -> Part:
    write_json(
        _part_path(run_dir, name, split),
        {
            "fingerprint": fingerprint,
            "model": name,
            "split": split.name,
            "filenames": list(split.test["filename"]),
            "probs": np.round(part.probs, 8).tolist(),
            "train_seconds": part.train_seconds,
            "inference_seconds_per_clip": part.inference_seconds_per_clip,
            "extra": part.extra,
            "validation_probs": None
            if part.validation_probs is None
            else np.round(part.validation_probs, 8).tolist(),
        },
    )
    return part


def _part_path(run_dir: Path, name: str, split: esc50.Split) -> Path:
    return run_dir / PARTS_DIR / f"{name}--{split_key(split)}.json"


def split_key(split: esc50.Split) -> str:
    return f"test-fold-{'-'.join(str(f) for f in sorted(split.test['fold'].unique()))}"


def model_subdir(protocol: str, name: str, split: esc50.Split) -> Path:
    """models/<name>/ for the default split (what the app loads); one subfolder per CV fold."""
    base = Path(MODELS_DIR) / name
    return base if protocol == "folds" else base / split_key(split)


def write_results(run_dir: Path, metrics: dict[str, Any], predictions: pd.DataFrame) -> None:
    """Everything atomically, metrics.json last: its presence marks the run finished."""
    from animal_audio.plots.results import write_figures
    from animal_audio.report import render_report

    for stale in STALE_WITH_NEW_RESULTS:  # scores of the results being replaced (robustness_run.py)
        (run_dir / stale).unlink(missing_ok=True)
    with atomic_path(run_dir / PREDICTIONS_FILE) as tmp:
        predictions.to_csv(tmp, index=False)
    write_figures(metrics, run_dir, shared_dir=run_dir.parent if is_auto_run(run_dir) else None)
    write_text(run_dir / REPORT_FILE, render_report(metrics))
    write_json(run_dir / METRICS_FILE, metrics)


def write_latest(runs_dir: Path, run_dir: Path, metrics: dict[str, Any]) -> None:
    write_json(
        Path(runs_dir) / LATEST_FILE,
        {
            "run_dir": str(Path(run_dir).resolve()),
            "created": metrics["created"],
            "protocol": metrics["protocol"]["name"],
            "models": list(metrics["models"]),
        },
    )


def load_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """A finished run's metrics and predictions; an unfinished one says how to finish it."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / METRICS_FILE
    if not metrics_path.is_file():
        hint = (
            "It was stopped before it finished: run the same comparison again to resume it."
            if (run_dir / RUN_CONFIG_FILE).is_file()
            else "Run `python -m train compare` to make one."
        )
        raise CheckpointError(f"No finished run in {run_dir} ({METRICS_FILE} missing). {hint}")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        predictions = pd.read_csv(run_dir / PREDICTIONS_FILE)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"The run in {run_dir} is damaged ({error}). Run the comparison again."
        ) from error
    if not isinstance(metrics, dict) or "models" not in metrics:
        raise CheckpointError(f"{metrics_path} is not a run's metrics file. Run the comparison again.")
    return RunResult(run_dir, metrics, predictions)


@dataclass(frozen=True)
class TrainedModel:
    """A model a finished run trained: the run, the model's folder, and the weights it was trained from
    (a probe's head needs its embedder's)."""

    run_dir: Path
    directory: Path
    base: Optional[str]
    name: str = ""


def trained_model(run_dir: str | os.PathLike[str], name: str) -> Optional[TrainedModel]:
    """Where model `name` of a finished run is, as its metrics.json records it; None if it has none.

    In cross-validation metrics.json names the model of the last test fold (the one the app loads).
    """
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / METRICS_FILE) or {}
    entry = (metrics.get("models") or {}).get(name)
    recorded = entry.get("model_dir") if isinstance(entry, dict) else None
    if not isinstance(recorded, str) or not (run_dir / recorded).is_dir():
        return None
    base = entry.get("base")
    if not isinstance(base, str):  # a run from before `base` was recorded: its family's setting
        config = metrics.get("config") if isinstance(metrics.get("config"), dict) else {}
        base = config.get(name.split("-", 1)[0])
    return TrainedModel(run_dir, run_dir / recorded, str(base) if base else None, name)


def run_labels(run_dir: str | os.PathLike[str]) -> LabelSet:
    """The classes a finished run's models answer over (runs from before label sets: the animals)."""
    try:
        return LabelSet.from_dict((read_json(Path(run_dir) / METRICS_FILE) or {}).get("labels"))
    except (TypeError, ValueError, AttributeError):
        return ANIMALS


def unavailable_reason(run_dir: str | os.PathLike[str], name: str) -> Optional[str]:
    """Why a finished run could not run model `name`, as its metrics.json records it; None if it says nothing."""
    unavailable = (read_json(Path(run_dir) / METRICS_FILE) or {}).get("unavailable")
    reason = unavailable.get(name) if isinstance(unavailable, dict) else None
    return reason if isinstance(reason, str) else None


def newest_trained_model(
    runs: Iterable[Path], *names: str, base: Optional[str] = None
) -> Optional[TrainedModel]:
    """The first of `names` trained (on `base` when given) by the first of `runs` that has one. Given the run
    in use, then `finished_runs()`: a run that could not train it (offline, say) hides no earlier one."""
    for run_dir in runs:
        if not run_labels(run_dir).is_animals:
            continue  # the app classifies the ten animals: a head trained for other classes is not one of its
        for name in names:
            found = trained_model(run_dir, name)
            if found is not None and (base is None or same_source(found.base, base)):
                return found
    return None


def finished_runs(runs_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The finished runs in `runs_dir` (default: settings.runs_dir()), newest first; [] when it is unreadable."""
    runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
    try:
        found = {p.parent: p.stat().st_mtime for p in runs_dir.glob(f"*/{METRICS_FILE}")}
    except OSError as error:  # a run deleted meanwhile, a folder without permission
        log.warning("could not look through the runs in %s: %s", runs_dir, error)
        return []
    return sorted(found, key=found.__getitem__, reverse=True)


def same_source(recorded: Optional[str], source: str) -> bool:
    """Whether a run's recorded base is these weights: the same hub id, or the same folder however written."""
    if recorded is None or recorded == source:
        return recorded is not None
    a, b = Path(recorded).expanduser(), Path(source).expanduser()
    return a.exists() and b.exists() and a.samefile(b)


def latest_run(runs_dir: str | os.PathLike[str] | None = None) -> Optional[Path]:
    """The newest finished run: the one latest.json names, else the newest finished folder."""
    runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
    pointer = read_json(runs_dir / LATEST_FILE)
    if pointer and isinstance(pointer.get("run_dir"), str):
        target = Path(pointer["run_dir"])
        if (target / METRICS_FILE).is_file():
            return target
    finished = [p.parent for p in runs_dir.glob(f"*/{METRICS_FILE}")] if runs_dir.is_dir() else []
    return max(finished, key=lambda p: (p / METRICS_FILE).stat().st_mtime, default=None)


def default_run_dir(config: CompareConfig, runs_dir: Optional[Path] = None) -> Path:
    """A run to continue (unfinished, or finished without some models, with the same settings: `resumable`;
    not one in progress), else runs_dir/<timestamp>."""
    runs_dir = Path(runs_dir or config.runs_dir or settings.runs_dir())
    if runs_dir.is_dir():
        unfinished = [
            p.parent
            for p in runs_dir.glob(f"*/{RUN_CONFIG_FILE}")
            if resumable(p.parent, config) and in_progress(p.parent) is None
        ]
        if unfinished:
            newest = max(unfinished, key=lambda p: (p / RUN_CONFIG_FILE).stat().st_mtime)
            log.info("resuming the run in %s", newest)
            return newest
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = runs_dir / stamp
    n = 1
    while candidate.exists():
        n += 1
        candidate = runs_dir / f"{stamp}-{n}"
    return candidate
