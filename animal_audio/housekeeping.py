"""The disk: old runs pruned, stopped runs' checkpoints removed, and no run or download started without room.

Only run folders the program named itself under the runs folder (runs.AUTO_RUN_FILE) are ever
deleted; folders given with --out, and anything else kept there (latest.json, `finetune/`,
`benchmarks/`), never are. A run in progress (runs.in_progress) is never touched. Estimates are
rough and on the safe side: refusing at the start beats a disk that fills up hours into a run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

from animal_audio import esc50, settings
from animal_audio.availability import hubert_source, unavailable_models
from animal_audio.compare_config import CompareConfig
from animal_audio.errors import DiskSpaceError
from animal_audio.formatting import data_size
from animal_audio.runs import (
    METRICS_FILE,
    MODELS_DIR,
    RUN_CONFIG_FILE,
    default_run_dir,
    finished_runs,
    in_progress,
    is_auto_run,
    latest_run,
    newest_trained_model,
)

log = logging.getLogger(__name__)

MB = 1_000_000
#: HuBERT-Base's fp32 weights (facebook/hubert-base-ls960): one saved checkpoint, or one exported ONNX graph.
HUBERT_BASE_BYTES = 380 * MB
#: A Trainer checkpoint holds the weights and AdamW's two moments; `.work` keeps two (save_total_limit in
#: models/finetune.py) and writes a third before it deletes the oldest.
TRAINER_CHECKPOINT_WEIGHTS = 3
TRAINER_CHECKPOINTS = 3
#: HuBERT graphs the ONNX cache keeps (models/onnx_graphs.MAX_CACHED_GRAPHS).
CACHED_GRAPHS = 4
#: A run's small files: metrics, predictions, parts, figures, linear heads, a plotly.js copy.
RUN_FILES_BYTES = 20 * MB
#: The prepared animal clips (400 x 5 s of 16 kHz PCM16), when a run prepares them first.
PREPARED_BYTES = 70 * MB
#: Left free on top of any estimate: logs, the system, the estimate's error.
HEADROOM_BYTES = 200 * MB
#: Fine-tuning's checkpoints of a stopped run (models/finetune.WORK_DIR; not imported: that imports torch).
WORK_DIR = ".work"
#: Where a run folder moves while it is deleted: never half a run under its name, nor at a depth where
#: runs are looked for (runs.finished_runs).
TRASH_DIR = ".deleting"
HUBERT_MODELS = ("hubert-finetune", "hubert-probe")
#: The shared plotly.js a run's figure loads (plots/results.SHARED_BUNDLE, "../plotly-4.1.1.min.js").
_BUNDLE_SRC = re.compile(r'src="\.\./(plotly-[^"/]+\.min\.js)"')
#: Enough of a figure's HTML to hold its plotly.js script tag (it comes before the figure's data).
_HTML_HEAD = 4096
RUN_ADVICE = (
    "Free some space (older runs in the runs folder can go; ANIMAL_AUDIO_KEEP_RUNS keeps fewer), "
    "or choose fewer models: fine-tuning HuBERT needs the most, for its checkpoints."
)


# --------------------------------------------------------------------------- pruning


def prune_runs(
    runs_dir: str | os.PathLike[str] | None = None,
    *,
    in_use: Iterable[Optional[str | os.PathLike[str]]] = (),
    keep: Optional[int] = None,
    public: Optional[bool] = None,
) -> list[Path]:
    """Delete the run folders the program made that nobody needs any more (returns them; never raises):
    all but runs in progress, the newest `keep` finished ones, those in use and, locally, the newest stopped."""
    # Locally the same comparison resumes a stopped run, whose fine-tuning checkpoints can be hours of work.
    # In public mode nobody resumes by hand and each holds gigabytes: every stopped run goes, and so do the
    # `.work` checkpoints a failed fine-tune left in a finished run.
    runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
    try:
        return _prune(runs_dir, in_use, settings.keep_runs(keep), settings.public_mode(public))
    except OSError as error:  # a cleanup must never fail the run or the app that calls it
        log.warning("could not clean up the runs in %s: %s", runs_dir, error)
        return []


def runs_in_use(
    runs_dir: str | os.PathLike[str] | None = None, given: Iterable[Optional[str | os.PathLike[str]]] = ()
) -> set[Path]:
    """The runs an app loads models from: `given` (the app's Registry.run_dir()), the latest, and for each
    side the newest run that trained it, which the app's registry falls back on (demo/models.py)."""
    runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
    first = [Path(p) for p in (*given, latest_run(runs_dir)) if p is not None]
    order = [*first, *finished_runs(runs_dir)]
    found = set(first)
    base = settings.chosen(None, settings.ENV_HUBERT)  # the registry's base for a head (None: any)
    for names, on in ((HUBERT_MODELS, base), (HUBERT_MODELS, None), (("yamnet-probe",), None)):
        trained = newest_trained_model(order, *names, base=on)
        if trained is not None:
            found.add(trained.run_dir)
    return {p.resolve() for p in found}


def _prune(
    runs_dir: Path, in_use: Iterable[Optional[str | os.PathLike[str]]], keep: int, public: bool
) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    shutil.rmtree(runs_dir / TRASH_DIR, ignore_errors=True)  # what a killed cleanup left
    idle = [
        p
        for p in runs_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and is_auto_run(p) and in_progress(p) is None
    ]
    finished = sorted(
        (p for p in idle if (p / METRICS_FILE).is_file()), key=_mtime(METRICS_FILE), reverse=True
    )
    stopped = sorted((p for p in idle if p not in finished), key=_mtime(RUN_CONFIG_FILE), reverse=True)
    resumable = [p for p in stopped if (p / RUN_CONFIG_FILE).is_file()]
    wanted = runs_in_use(runs_dir, in_use)
    keep_stopped = set() if public else set(resumable[:1])
    doomed = [p for p in finished[keep:] + stopped if p not in keep_stopped and p.resolve() not in wanted]
    removed = [p for p in doomed if _remove(p)]
    if public:
        for run in finished:
            if run not in removed and in_progress(run) is None:
                for work in list(run.glob(f"{MODELS_DIR}/**/{WORK_DIR}")):
                    log.info("removing the fine-tuning checkpoints left in %s", work)
                    shutil.rmtree(work, ignore_errors=True)
    _remove_unused_bundles(runs_dir)
    return removed


def _mtime(name: str) -> Callable[[Path], float]:
    """Sort key: when a run's `name` file (else the folder) last changed."""

    def key(run: Path) -> float:
        marker = run / name
        return (marker if marker.exists() else run).stat().st_mtime

    return key


def _remove(run: Path) -> bool:
    """Out of the way in one rename (never half a run under its name), then deleted."""
    if in_progress(run) is not None:  # resumed since it was listed
        return False
    trash = run.parent / TRASH_DIR / run.name
    try:
        trash.parent.mkdir(exist_ok=True)
        os.replace(run, trash)
    except OSError as error:
        log.warning("could not remove the old run %s: %s", run, error)
        return False
    shutil.rmtree(trash, ignore_errors=True)
    try:
        trash.parent.rmdir()
    except OSError:  # another cleanup's run is still being deleted in it
        pass
    log.info("removed the old run %s", run.name)
    return True


def _remove_unused_bundles(runs_dir: Path) -> None:
    """Shared plotly.js files no report in the runs folder loads (an older plotly's); the next report
    writes its own. Not while a run is in progress: it writes its plotly.js before its figures."""
    from animal_audio.plots.results import SHARED_BUNDLE_GLOB

    bundles = list(runs_dir.glob(SHARED_BUNDLE_GLOB))
    if not bundles or any(in_progress(p) is not None for p in runs_dir.iterdir() if p.is_dir()):
        return
    used: set[str] = set()
    for html in runs_dir.glob("*/*.html"):
        with open(html, encoding="utf-8", errors="replace") as file:
            used.update(_BUNDLE_SRC.findall(file.read(_HTML_HEAD)))
    for bundle in bundles:
        if bundle.name not in used:
            bundle.unlink(missing_ok=True)


# --------------------------------------------------------------------------- free space


def run_needs(config: CompareConfig) -> dict[Path, int]:
    """Rough peak disk use of `run_comparison(config)`, by folder: the run folder (checkpoints; less what a
    stopped run already left there), the cache (HuBERT's ONNX graphs) and the data it prepares."""
    run_dir = Path(config.out_dir) if config.out_dir is not None else default_run_dir(config)
    unavailable = unavailable_models(config)
    models = [m for m in config.models if m not in unavailable]
    weights = _hubert_weights(hubert_source(config)) if set(models) & set(HUBERT_MODELS) else 0
    splits = len(esc50.FOLDS) if config.protocol == "cv" else 1
    run, graphs = RUN_FILES_BYTES, 0
    if "hubert-finetune" in models:  # a checkpoint per split; one split's .work at a time
        run += splits * weights + TRAINER_CHECKPOINTS * TRAINER_CHECKPOINT_WEIGHTS * weights
        graphs += min(splits, CACHED_GRAPHS) * weights
    if "hubert-probe" in models:
        graphs += weights
    data = 0 if (config.data_dir / esc50.MANIFEST).is_file() else PREPARED_BYTES
    return {run_dir: max(0, run - _tree_bytes(run_dir)), settings.cache_dir(): graphs, config.data_dir: data}


def require_run_space(config: CompareConfig) -> None:
    """DiskSpaceError, saying how much it needs and how much is free, when `config`'s run would not fit."""
    require_free_space(run_needs(config), "this comparison", RUN_ADVICE)


def require_free_space(needs: Mapping[Path, int], what: str, advice: str) -> None:
    """DiskSpaceError when a disk has less free space than `needs` puts on it, plus HEADROOM_BYTES."""
    disks: dict[int, tuple[Path, int]] = {}
    for folder, size in needs.items():
        existing = _existing(Path(folder))
        try:
            device = existing.stat().st_dev
        except OSError as error:  # cannot be told: the run finds out itself
            log.warning("cannot check the free space in %s: %s", existing, error)
            continue
        where, total = disks.get(device, (existing, 0))
        disks[device] = (where, total + size)
    for where, size in disks.values():
        needed, free = size + HEADROOM_BYTES, shutil.disk_usage(where).free
        if free < needed:
            log.warning("%s needs %d bytes on the disk of %s: %d free", what, needed, where, free)
            raise DiskSpaceError(
                f"Not enough free disk space for {what}: it needs about {data_size(needed)} and "
                f"{data_size(free)} is free. {advice}",
                needed=needed,
                free=free,
            )


def _hubert_weights(source: str) -> int:
    """The size of HuBERT's weights: a local folder's weight files, else HuBERT-Base's."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        found = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
        if found:
            return found
    return HUBERT_BASE_BYTES


def _tree_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest parent that exists: where it will be made."""
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
