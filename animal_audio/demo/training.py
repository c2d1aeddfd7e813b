"""The Train & compare tab without the UI: the run it asks for, its expected time and the long-run
confirmation, and one comparison job at a time (a finished run's view: `animal_audio.run_view`).

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
from typing import Any, Callable, Optional

from animal_audio import esc50, settings
from animal_audio.access import ENV_MAX_RUN_MINUTES, Access, AccessError, max_run_seconds
from animal_audio.availability import unavailable_models
from animal_audio.compare_config import MODEL_NAMES, PROTOCOLS, CompareConfig
from animal_audio.demo.text import RUN_FAILED
from animal_audio.errors import AnimalAudioError, CancelledError, DatasetError
from animal_audio.estimate import estimate_seconds
from animal_audio.formatting import duration, not_run_markdown, percent
from animal_audio.housekeeping import require_run_space
from animal_audio.models.published import training_base
from animal_audio.progress import CancelCheck, ProgressCallback, ProgressEvent
from animal_audio.public_text import path_name, redact, unexpected, visible

log = logging.getLogger(__name__)

#: How many log lines the training panel keeps.
LOG_LINES = 300
#: Runs expected to take longer than this need a second click on Start.
LONG_RUN_SECONDS = 3600.0
#: The epochs a page may ask for (the slider's range, checked again on the server).
EPOCH_RANGE = (1, 30)
DEFAULT_EPOCHS = 10
PROTOCOL_CHOICES = [
    ("Folds: train 1-3, validate 4, test 5", "folds"),
    ("5-fold cross-validation (5x longer)", "cv"),
]
MODES = ["Quick (linear heads, minutes)", "Full (also fine-tune HuBERT, hours on CPU)", "Custom"]
#: The quick mode: linear heads only (minutes on a CPU); warm start's run too.
QUICK_MODELS = ("hubert-probe", "yamnet-zeroshot", "yamnet-probe")
MODE_MODELS = {MODES[0]: QUICK_MODELS, MODES[1]: MODEL_NAMES}


def mode_models(mode: str) -> Optional[list[str]]:
    """The models a mode ticks; None for Custom (and any name a script may send): the ticks stay."""
    return list(MODE_MODELS[mode]) if mode in MODE_MODELS else None


TIME_LIMIT_NOTE = (
    f"Stopped: the run reached this app's time limit ({ENV_MAX_RUN_MINUTES}). Finished steps are kept."
)
OnDone = Optional[Callable[[Path], None]]
#: Work done in the job's thread before the comparison (warm start gets the data there: pages see it busy).
Before = Optional[Callable[[ProgressCallback, CancelCheck], None]]
#: Other long work the job runs instead of a comparison (scoring a run's robustness); returns its run folder.
Task = Callable[[ProgressCallback, CancelCheck], Path]


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
        hubert=training_base(settings.chosen(None, settings.ENV_HUBERT)),
        yamnet=settings.chosen(None, settings.ENV_YAMNET),
        epochs=int(epochs),
        fast=fast,
        esc50_dir=esc if (esc / esc50.META).is_file() else None,
    )


def checked_request(models: Any, protocol: Any, epochs: Any) -> tuple[list[str], str, int]:
    """The Train tab's settings checked on the server: a script can send anything, not only the form's values."""
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) for m in models):
        raise AnimalAudioError("Choose at least one model to train and compare.")
    if protocol not in PROTOCOLS:
        raise AnimalAudioError(f"Unknown evaluation protocol: choose one of {', '.join(PROTOCOLS)}.")
    low, high = EPOCH_RANGE
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not low <= epochs <= high:
        raise AnimalAudioError(f"Epochs must be a number from {low} to {high}.")
    return list(models), protocol, int(epochs)


def estimate_markdown(models: list[str], protocol: str, epochs: int) -> str:
    """The Train tab's line under the settings: the expected time, or what is wrong with them."""
    try:
        return estimate_text(make_config(*checked_request(models, protocol, epochs)))
    except AnimalAudioError as error:
        return f"⚠️ {visible(error)}"


def require_data(config: CompareConfig) -> None:
    """Fail before starting a run that would stop at once for lack of data, saying what to press."""
    if (Path(config.data_dir) / esc50.MANIFEST).is_file() or config.esc50_dir is not None:
        return
    raise DatasetError(
        f"The ESC-50 animal clips are not on this machine yet ({path_name(config.data_dir)}). Press "
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
    return redact(f"{text}  \n{not_run_markdown(unavailable, short=True)}") if unavailable else text


@dataclass(frozen=True)
class StartCheck:
    """What a click on Start does: start now, or warn and wait for a second click with the same settings."""

    start: bool
    warning: str = ""
    #: The settings the page remembers; a second click with them starts the long run.
    confirm_key: str = ""


def check_start(config: CompareConfig, confirmed_key: str, *, busy: bool) -> StartCheck:
    """A run expected to take hours starts only on a second click with the same settings; one that would not
    fit on the disk, or take longer than a run may here, does not start. `busy`: JobBusyError comes next."""
    if busy:
        return StartCheck(True)
    require_data(config)
    require_run_space(config)
    seconds, limit = estimate_seconds(config), max_run_seconds()
    if limit is not None and seconds > limit:
        raise AnimalAudioError(
            f"This comparison takes about {duration(seconds)} on this machine, more than the {duration(limit)} "
            f"a run may take here ({ENV_MAX_RUN_MINUTES}). Choose fewer models or the quick mode."
        )
    key = f"{sorted(config.models)}|{config.protocol}|{config.epochs}"
    if seconds <= LONG_RUN_SECONDS or confirmed_key == key:
        return StartCheck(True)
    warning = (
        f"This comparison takes about {duration(seconds)} on this machine. "
        "Press Start again to begin anyway, or choose the quick mode (minutes)."
    )
    return StartCheck(False, warning, key)


@dataclass(frozen=True)
class StartOutcome:
    """What a click on Start did, as the page tells it; `confirm_key` as in StartCheck."""

    started: bool
    title: str
    message: str
    confirm_key: str = ""


def start_run(
    job: TrainingJob, form: tuple[Any, Any, Any], confirmed: str, who: Access, on_done: OnDone
) -> StartOutcome:
    """A click on Start, checked on the server (who clicked, what they sent, how long it takes): start the run
    in `job` and return at once, or say why not. AccessError (AnimalAudioError) when it may not start."""
    who.require()
    config = make_config(*checked_request(*form))
    check = check_start(config, confirmed, busy=job.running)
    if not check.start:
        return StartOutcome(False, "A long run", check.warning, check.confirm_key)
    try:
        job.start(config, on_done, owner=who.who, time_limit=max_run_seconds())
    except JobBusyError as error:
        return StartOutcome(False, "Busy", str(error))
    return StartOutcome(True, "Training started", estimate_text(config).replace("**", ""))


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
        self._owner = ""
        self._deadline: Optional[float] = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(
        self,
        config: Optional[CompareConfig],
        on_done: OnDone = None,
        *,
        before: Before = None,
        owner: str = "",
        time_limit: Optional[float] = None,
        task: Optional[Task] = None,
        intro: str = "",
    ) -> float:
        """Start `before`, then `run_comparison(config)` (or `task`, announced by `intro`), in a thread; returns its
        start time (to tell it from a later run). `owner` may cancel it; past `time_limit` s it stops as if cancelled."""
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
            self._owner = owner
            self._deadline = time.monotonic() + time_limit if time_limit else None
            self._thread = threading.Thread(
                target=self._work, args=(config, on_done, before, task, intro), name="training", daemon=True
            )
            self._thread.start()
        return started

    def cancel(self, *, by: str = "", admin: bool = True) -> bool:
        """Ask the running job to stop at its next check; False when nothing runs. Only an admin or
        whoever started it may (AccessError otherwise)."""
        if not self.running:
            return False
        if not admin and (not by or by != self._owner):
            raise AccessError("Only whoever started this run, or an admin, can cancel it.")
        self._cancel.set()
        self._append("Stopping at the next safe point (finished steps are kept)...")
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the job to end; True when nothing runs any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

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

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() > self._deadline

    def _stop_now(self) -> bool:
        """The run's cancel check: Cancel was pressed, or the run has used up its time."""
        return self._cancel.is_set() or self._past_deadline()

    def _append(self, line: str) -> None:
        """Every page sees the log: no server folders in it (progress says "results in FOLDER")."""
        self._log.append(f"[{datetime.now().strftime('%H:%M:%S')}] {redact(line)}")

    def _work(
        self,
        config: Optional[CompareConfig],
        on_done: OnDone,
        before: Before,
        task: Optional[Task],
        intro: str,
    ) -> None:
        if task is None and config is not None:
            runner = self._runner
            if runner is None:
                from animal_audio.pipeline import run_comparison as runner
            models, protocol = ", ".join(config.models), config.protocol
            intro = f"Comparing {models} ({protocol}); results go to a new run folder."
            task = lambda progress, cancel: runner(config, progress=progress, cancel=cancel).run_dir  # noqa: E731
        self._append(intro)
        try:
            if before is not None:
                before(self._progress, self._stop_now)
            if task is None:
                raise AnimalAudioError("Nothing to run: give the job a comparison or a task.")
            self._run_dir = Path(task(self._progress, self._stop_now))
            log.info("comparison finished: results in %s", self._run_dir)
            self._append(f"Finished: results in run {self._run_dir.name}")
            if on_done is not None:
                on_done(self._run_dir)
        except CancelledError as error:
            self._cancelled = True
            self._error = TIME_LIMIT_NOTE if self._past_deadline() else str(error)
            self._append(self._error)
        except AnimalAudioError as error:
            log.warning("comparison stopped: %s", error)
            self._error = visible(error)
            self._append(f"Stopped: {self._error}")
        except Exception as error:  # the page gets an error id, the server log its trace
            self._error = unexpected(error, RUN_FAILED, logger=log)
            self._append(self._error)
        finally:
            self._finished = time.time()
