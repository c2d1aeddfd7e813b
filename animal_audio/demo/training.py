"""The Train & compare tab without the UI: the run it asks for, its expected time and the long-run
confirmation, one comparison job at a time, and a finished run's table, figures and mistakes.

The job's thread outlives the browser tab that started it: closing the page does not stop
training, the Cancel button does; every open page can follow the same job.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pandas as pd

from animal_audio import esc50, settings
from animal_audio.availability import unavailable_models
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.models import chosen_source
from animal_audio.demo.text import HUBERT, YAMNET, first_sentence, not_run_markdown
from animal_audio.errors import AnimalAudioError, CancelledError, DatasetError
from animal_audio.estimate import estimate_seconds
from animal_audio.formatting import duration, model_title, percent
from animal_audio.labels import display
from animal_audio.models.published import training_base
from animal_audio.progress import CancelCheck, ProgressCallback, ProgressEvent
from animal_audio.runs import latest_run, load_run

log = logging.getLogger(__name__)

#: How many log lines the training panel keeps.
LOG_LINES = 300
#: Runs expected to take longer than this need a second click on Start.
LONG_RUN_SECONDS = 3600.0
#: The quick mode: linear heads only (minutes on a CPU); warm start's run too.
QUICK_MODELS = ("hubert-probe", "yamnet-zeroshot", "yamnet-probe")
RESULT_COLUMNS = ["model", "accuracy", "macro-F1", "trained on", "training time", "ms per clip"]
MISCLASSIFIED_COLUMNS = ["model", "clip", "true", "predicted", "confidence", "fold"]
OnDone = Optional[Callable[[Path], None]]
#: Work done in the job's thread before the comparison (warm start gets the data there: pages see it busy).
Before = Optional[Callable[[ProgressCallback, CancelCheck], None]]


def make_config(
    models: list[str] | tuple[str, ...],
    protocol: str,
    epochs: int,
    *,
    fast: Optional[bool] = None,
    data_dir: Optional[Path] = None,
) -> CompareConfig:
    """The comparison the Train tab asks for, with this app's model sources."""
    esc = settings.esc50_dir()
    return CompareConfig(
        data_dir=settings.data_dir(data_dir),
        models=tuple(models),
        protocol=protocol,
        hubert=training_base(chosen_source(HUBERT)),
        yamnet=chosen_source(YAMNET),
        epochs=int(epochs),
        fast=fast,
        esc50_dir=esc if (esc / esc50.META).is_file() else None,
    )


def estimate_markdown(models: list[str], protocol: str, epochs: int) -> str:
    """The Train tab's line under the settings: the expected time, or what is wrong with them."""
    if not models:
        return "Choose at least one model."
    try:
        return estimate_text(make_config(models, protocol, int(epochs)))
    except AnimalAudioError as error:
        return f"⚠️ {error}"


def require_data(config: CompareConfig) -> None:
    """Fail before starting a run that would stop at once for lack of data, saying what to press."""
    if (Path(config.data_dir) / esc50.MANIFEST).is_file() or config.esc50_dir is not None:
        return
    raise DatasetError(
        f"The ESC-50 animal clips are not on this machine yet ({config.data_dir}). Press "
        "**Get the ESC-50 clips** above (downloads ~600 MB once), or set ANIMAL_AUDIO_ESC50 "
        "to a local copy of ESC-50 and restart."
    )


def estimate_text(config: CompareConfig) -> str:
    """'Expected time on this machine (2 CPU cores, no GPU): **about 12 min**.'"""
    seconds = estimate_seconds(config)
    cores = settings.cpu_threads()
    where = f"{cores} CPU core{'s' if cores != 1 else ''}"
    gpu = _gpu_name()
    where += f", GPU {gpu}" if gpu else ", no GPU"
    text = f"Expected time on this machine ({where}): **about {duration(seconds)}**."
    if seconds > LONG_RUN_SECONDS:
        text += " That is long: the quick mode (linear heads only) finishes in minutes."
    unavailable = unavailable_models(config)  # left out by the run, which compares the others
    return f"{text}  \n{not_run_markdown(unavailable, short=True)}" if unavailable else text


@dataclass(frozen=True)
class StartCheck:
    """What a click on Start does: start now, or warn and wait for a second click with the same settings."""

    start: bool
    warning: str = ""
    #: The settings the page remembers; a second click with them starts the long run.
    confirm_key: str = ""


def check_start(config: CompareConfig, confirmed_key: str, *, busy: bool) -> StartCheck:
    """A run expected to take hours starts only on a second click with the same settings.

    While a job runs a click only follows it, so there is no data to check and nothing to confirm.
    """
    if busy:
        return StartCheck(True)
    require_data(config)
    seconds = estimate_seconds(config)
    key = f"{sorted(config.models)}|{config.protocol}|{config.epochs}"
    if seconds <= LONG_RUN_SECONDS or confirmed_key == key:
        return StartCheck(True)
    warning = (
        f"This comparison takes about {duration(seconds)} on this machine. "
        "Press Start again to begin anyway, or choose the quick mode (minutes)."
    )
    return StartCheck(False, warning, key)


def _gpu_name() -> Optional[str]:
    """The GPU torch sees, without importing torch just to ask (the app starts faster without it)."""
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


class JobBusyError(AnimalAudioError):
    """Another comparison is already running in this app."""


@dataclass
class JobSnapshot:
    """The job as a page shows it at one moment (read without locks: every field is replaced whole)."""

    running: bool
    stage: str
    fraction: float
    log: list[str]
    started: Optional[float]
    finished: Optional[float]
    run_dir: Optional[Path]
    error: Optional[str]
    cancelled: bool

    def recent(self, seconds: float) -> bool:
        """Running, or finished less than `seconds` ago: pages that follow the job still show its end."""
        return self.running or (self.finished is not None and time.time() - self.finished < seconds)


class TrainingJob:
    """At most one `run_comparison` at a time; `runner` replaces it in tests."""

    def __init__(self, runner: Optional[Callable[..., Any]] = None) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._stage, self._fraction, self._last_line, self._cancelled = "", 0.0, "", False
        self._started: Optional[float] = None
        self._finished: Optional[float] = None
        self._run_dir: Optional[Path] = None
        self._error: Optional[str] = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, config: CompareConfig, on_done: OnDone = None, *, before: Before = None) -> float:
        """Start `before`, then `run_comparison(config)`, in a thread; JobBusyError when one already runs.
        Returns its start time (its snapshots' `started`): who follows this run tells it from a later one."""
        with self._lock:
            if self.running:  # so it has a start time
                since = datetime.fromtimestamp(self._started or time.time()).strftime("%H:%M")
                raise JobBusyError(
                    f"A comparison is already running (started at {since}, now at "
                    f"{self._stage or 'start'}). Only one runs at a time: wait for it, or stop it with Cancel."
                )
            self._cancel.clear()
            self._log.clear()
            self._stage, self._fraction, self._last_line = "starting", 0.0, ""
            started = time.time()
            self._started, self._finished = started, None
            self._run_dir, self._error, self._cancelled = None, None, False
            self._thread = threading.Thread(
                target=self._work, args=(config, on_done, before), name="training", daemon=True
            )
            self._thread.start()
        return started

    def cancel(self) -> bool:
        """Ask the running job to stop at its next check; False when nothing runs."""
        if not self.running:
            return False
        self._cancel.set()
        self._append("Stopping at the next safe point (finished steps are kept)...")
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the job to end; True when nothing runs any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def follow(self, every: float) -> Iterator[JobSnapshot]:
        """A snapshot every `every` seconds while the job runs, ending with the one after it stopped."""
        while True:
            snap = self.snapshot()
            yield snap
            if not snap.running:
                return
            time.sleep(every)

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            self.running,
            self._stage,
            self._fraction,
            list(self._log),
            self._started,
            self._finished,
            self._run_dir,
            self._error,
            self._cancelled,
        )

    def _progress(self, event: ProgressEvent) -> None:
        # Per-clip (per-step) events would flood the log: keep one per stage and 10 %, and every
        # message that comes without progress (a validation score after its step, a resume).
        same_point = event.stage == self._stage and event.fraction == self._fraction
        self._stage, self._fraction = event.stage, event.fraction
        line = f"{event.stage}: {event.message}" if event.message else event.stage
        key = line if same_point else f"{event.stage}|{int(event.fraction * 10)}"
        if key != self._last_line:
            self._last_line = key
            self._append(f"{line} ({percent(event.fraction, digits=0)})")

    def _append(self, line: str) -> None:
        self._log.append(f"[{datetime.now().strftime('%H:%M:%S')}] {line}")

    def _work(self, config: CompareConfig, on_done: OnDone, before: Before) -> None:
        runner = self._runner
        if runner is None:
            from animal_audio.pipeline import run_comparison as runner
        self._append(
            f"Comparing {', '.join(config.models)} ({config.protocol}); results go to a new run folder."
        )
        try:
            if before is not None:
                before(self._progress, self._cancel.is_set)
            result = runner(config, progress=self._progress, cancel=self._cancel.is_set)
            self._run_dir = Path(result.run_dir)
            self._append(f"Finished: results in {self._run_dir}")
            if on_done is not None:
                on_done(self._run_dir)
        except CancelledError as error:
            self._cancelled = True
            self._error = str(error)
            self._append(str(error))
        except AnimalAudioError as error:
            self._error = str(error)
            self._append(f"Stopped: {error}")
        except Exception as error:  # shown in the log, never as a trace in the page
            log.exception("comparison run failed")
            kind = type(error).__name__
            self._error = f"The run failed unexpectedly ({kind}: {error}). See the server log."
            self._append(self._error)
        finally:
            self._finished = time.time()


@dataclass
class RunView:
    """A finished run, ready for the Train & compare tab."""

    run_dir: Path
    summary: str
    table: pd.DataFrame
    figures: dict[str, Any]
    models: list[str]
    misclassified: pd.DataFrame


def load_run_view(run_dir: Optional[Path] = None) -> Optional[RunView]:
    """The given run, or the latest finished one; None when there is none yet."""
    from animal_audio.plots import results as result_plots

    run_dir = run_dir or latest_run()
    if run_dir is None:
        return None
    run = load_run(run_dir)
    metrics, run_dir = run.metrics, Path(run.run_dir)
    models = list(metrics.get("models", {}))
    figures = {
        "accuracy": _fit_width(result_plots.accuracy_figure(metrics)),
        "per_class_f1": _fit_width(result_plots.per_class_f1_figure(metrics)),
        "confusion": {m: _fit_width(result_plots.confusion_figure(metrics, m)) for m in models},
    }
    summary, table = run_summary(metrics, run_dir), results_table(metrics)
    return RunView(run_dir, summary, table, figures, models, misclassified_table(run.predictions, models))


def _fit_width(figure: Any) -> Any:
    """Report figures have a fixed width for HTML files; in the app they follow the column's width."""
    figure.update_layout(width=None, autosize=True)
    return figure


def results_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per model: accuracy, macro-F1 (mean ± std in CV), training and inference time."""
    rows = []
    for name, entry in metrics.get("models", {}).items():
        rows.append(
            {
                "model": model_title(name),
                "accuracy": _percent(entry, "accuracy"),
                "macro-F1": _percent(entry, "macro_f1"),
                "trained on": entry.get("trained_on", ""),
                "training time": duration(entry.get("train_seconds", 0.0))
                if entry.get("train_seconds")
                else "none",
                "ms per clip": f"{entry.get('inference_seconds_per_clip', 0.0) * 1000:.0f}",
            }
        )
    for name, why in (metrics.get("unavailable") or {}).items():  # chosen, but could not run
        rows.append({"model": model_title(name), "accuracy": "not run", "trained on": first_sentence(why)})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).fillna("-")


def _percent(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    return percent(value, entry.get(f"{key}_std"), digits=1)


def run_summary(metrics: dict[str, Any], run_dir: Path) -> str:
    """One line naming the run: when, which protocol, on which device, which seed."""
    protocol = metrics.get("protocol", {})
    description = (
        protocol.get("description", protocol.get("name", "")) if isinstance(protocol, dict) else str(protocol)
    )
    created = str(metrics.get("created", ""))[:16].replace("T", " ")
    machine = metrics.get("machine", {})
    device = machine.get("device", "cpu") if isinstance(machine, dict) else "cpu"
    line = (
        f"**Run** `{run_dir.name}` · {created} UTC · {description} · device: {device} · "
        f"seed {metrics.get('seed', '-')}"
    )
    unavailable = metrics.get("unavailable") or {}
    return f"{line}  \n{not_run_markdown(unavailable)}" if unavailable else line


def misclassified_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every (model, clip) the model got wrong, with what it said and how sure it was."""
    # Here, not at the top: run_results imports scikit-learn, ~0.8 s more before the page is up.
    from animal_audio.run_results import prediction_column, probability_column

    rows = []
    for name in models:
        column = prediction_column(name)
        if column not in predictions.columns:
            continue
        wrong = predictions[predictions[column] != predictions["true_label"]]
        for row in wrong.itertuples(index=False):
            record = dict(zip(predictions.columns, row))
            predicted = record[column]
            confidence = record.get(probability_column(name, predicted))
            rows.append(
                {
                    "model": model_title(name),
                    "clip": record["filename"],
                    "true": display(record["true_label"]),
                    "predicted": display(predicted),
                    "confidence": percent(float(confidence), digits=0) if confidence is not None else "",
                    "fold": int(record.get("fold", 0)),
                }
            )
    return pd.DataFrame(rows, columns=MISCLASSIFIED_COLUMNS)
