"""One comparison run at a time, in a background thread, with a throttled log and a stop switch.

The thread outlives the browser tab that started it: closing the page does not stop
training, the Cancel button does; every open page can follow the same job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from animal_audio.errors import AnimalAudioError, CancelledError
from animal_audio.progress import ProgressEvent

log = logging.getLogger(__name__)

#: How many log lines the training panel keeps.
LOG_LINES = 300


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


class TrainingJob:
    """At most one `run_comparison` at a time; `runner` replaces it in tests."""

    def __init__(self, runner: Optional[Callable[..., Any]] = None) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._stage = ""
        self._fraction = 0.0
        self._started: Optional[float] = None
        self._finished: Optional[float] = None
        self._run_dir: Optional[Path] = None
        self._error: Optional[str] = None
        self._cancelled = False
        self._last_line = ""

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, config: Any, on_done: Optional[Callable[[Path], None]] = None) -> None:
        """Start `run_comparison(config)`; JobBusyError when one is already running."""
        with self._lock:
            if self.running:
                raise JobBusyError(
                    f"A comparison is already running (started {self._started_text()}, now at "
                    f"{self._stage or 'start'}). Only one runs at a time: wait for it to finish, "
                    "or stop it with Cancel."
                )
            self._cancel.clear()
            self._log.clear()
            self._stage, self._fraction, self._last_line = "starting", 0.0, ""
            self._started, self._finished = time.time(), None
            self._run_dir, self._error, self._cancelled = None, None, False
            self._thread = threading.Thread(
                target=self._work, args=(config, on_done), name="training", daemon=True
            )
            self._thread.start()

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
        self._stage, self._fraction = event.stage, event.fraction
        line = f"{event.stage}: {event.message}" if event.message else event.stage
        # Per-clip events would flood the log: keep stage changes, messages and every 10 %.
        step = int(event.fraction * 10)
        key = f"{event.stage}|{step}" if event.message.endswith("clips") or "/" in event.message else line
        if key != self._last_line:
            self._last_line = key
            self._append(f"{line} ({event.fraction * 100:.0f}%)")

    def _append(self, line: str) -> None:
        self._log.append(f"[{datetime.now().strftime('%H:%M:%S')}] {line}")

    def _work(self, config: Any, on_done: Optional[Callable[[Path], None]]) -> None:
        runner = self._runner
        if runner is None:
            from animal_audio.pipeline import run_comparison as runner
        self._append(
            f"Comparing {', '.join(config.models)} ({config.protocol}); results go to a new run folder."
        )
        try:
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
            self._error = (
                f"The run failed unexpectedly ({type(error).__name__}: {error}). See the server log."
            )
            self._append(self._error)
        finally:
            self._finished = time.time()

    def _started_text(self) -> str:
        if self._started is None:
            return "just now"
        return datetime.fromtimestamp(self._started).strftime("at %H:%M")
