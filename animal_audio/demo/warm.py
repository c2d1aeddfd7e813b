"""Warm start: an app with no trained HuBERT trains the quick head (hubert-probe) by itself at start-up.

It is one ordinary run of the Train tab's job (same run folder, results, busy state), started
in the background, so the page is up at once, YAMNet answers meanwhile, and HuBERT takes over
when the run ends. On by default where nobody is at hand to train it: Hugging Face Spaces.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from animal_audio import esc50, settings
from animal_audio.access import max_run_seconds
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.models import ZEROSHOT, Registry
from animal_audio.demo.text import HUBERT
from animal_audio.demo.training import QUICK_MODELS, JobBusyError, TrainingJob, make_config
from animal_audio.errors import ModelUnavailableError, NotTrainedError
from animal_audio.estimate import estimate_seconds
from animal_audio.examples import fetch_examples
from animal_audio.formatting import percent
from animal_audio.housekeeping import prune_runs
from animal_audio.progress import CancelCheck, ProgressCallback, report
from animal_audio.public_text import log_unexpected, unexpected
from animal_audio.runs import trained_model, unavailable_reason

log = logging.getLogger(__name__)

OFF, PENDING, RUNNING, DONE, FAILED = "off", "pending", "running", "done", "failed"
#: The run's stages that get the data before any training (their own percentage is shown).
DATA_STAGES = ("download", "extract", "prepare")
#: The stage that takes most of the time; once this share of it is done, its pace beats the estimate.
EMBEDDING_STAGE = "hubert-probe embeddings"
MEASURED_FROM = 0.1
#: Why warm start failed when nobody foresaw it (the Models tab shows it; the trace is logged by its id).
UNEXPECTED_REASON = "an unexpected error (id {error_id}): the server log has the details under that id."


class WarmStart:
    """Owns warm start's state (the registry asks it through `learning` / `failure`); the job trains."""

    def __init__(
        self, job: TrainingJob, *, enabled: Optional[bool] = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._job = job
        self._enabled = enabled
        self._clock = clock
        self._state = OFF
        self._reason = ""
        self._expected: Optional[float] = None
        #: Its own run: the job's start time (a visitor's later run is not it), when the data was there
        #: (the estimate counts from then), and (time, fraction) when the embedding stage was first seen.
        self._started: Optional[float] = None
        self._run_began: Optional[float] = None
        self._pace_from: Optional[tuple[float, float]] = None

    @property
    def state(self) -> str:
        return self._state

    def launch(self, registry: Registry, on_done: Callable[[Path], None]) -> threading.Thread:
        """At start-up: warm the models up, then (when on and needed) train HuBERT's head, in one thread.

        `on_done` switches the app to the finished run's models, as after any run of the job."""
        if settings.warm_start(self._enabled):
            self._state = PENDING  # said at once: the first page or request must not say "not trained"
        thread = threading.Thread(target=self._run, args=(registry, on_done), name="warm-up", daemon=True)
        thread.start()
        return thread

    def learning(self) -> Optional[str]:
        """'about 3 min left' while HuBERT's head is being trained (or about to be); None otherwise."""
        if self._state not in (PENDING, RUNNING):
            return None
        snap = self._job.snapshot() if self._state == RUNNING else None
        if snap is not None and snap.started != self._started:
            snap = None  # a later run: warm start's own has just ended
        if snap is not None and snap.stage in DATA_STAGES:
            return f"getting the ESC-50 clips first ({percent(snap.fraction, digits=0)})"
        if self._expected is None:
            return "a few minutes left"
        now = self._clock()
        left = self._expected - (now - self._run_began if self._run_began is not None else 0.0)
        if snap is not None and snap.stage == EMBEDDING_STAGE:
            since, first = self._pace_from = self._pace_from or (now, snap.fraction)
            if snap.fraction - first >= MEASURED_FROM:  # its own pace, model loading left out
                left = max(1.0, (now - since) * (1.0 - snap.fraction) / (snap.fraction - first))
        return f"about {math.ceil(left / 60)} min left" if left > 0 else "a few minutes left"

    def failure(self) -> Optional[str]:
        """Why warm start could not train HuBERT's head; None unless it failed."""
        return self._reason if self._state == FAILED else None

    def _run(self, registry: Registry, on_done: Callable[[Path], None]) -> None:
        registry.warm_up()
        prune_runs(in_use=[registry.run_dir()])  # runs left from earlier starts
        if self._state != PENDING:
            return
        try:
            self._train(registry, on_done)
        except Exception as error:  # warm start must never take the app down
            self._fail(unexpected(error, UNEXPECTED_REASON, logger=log))

    def _train(self, registry: Registry, on_done: Callable[[Path], None]) -> None:
        if not self._needed(registry):
            return
        base = registry.hubert_source() or settings.DEFAULT_HUBERT
        problem = base_problem(base)
        if problem is not None:
            return self._fail(problem)
        # YAMNet's parts take seconds; only when YAMNet loads, so that it cannot fail HuBERT's run.
        models = QUICK_MODELS if registry.loaded(ZEROSHOT) else ("hubert-probe",)
        config = replace(make_config(models, "folds", 1), hubert=registry.hubert_source())
        self._expected = _estimate(config)
        finished: list[Path] = []

        def done(run_dir: Path) -> None:
            on_done(run_dir)  # first: HuBERT is ready (or loading) before "learning" stops being said
            finished.append(run_dir)

        while self._started is None:
            try:
                self._started = self._job.start(
                    config, on_done=done, before=self._before, time_limit=max_run_seconds()
                )
            except JobBusyError:  # a visitor's run came first: it may give HuBERT a head itself
                log.info("warm start: waiting for the run a visitor started")
                self._job.wait()
                if not self._needed(registry):
                    return
        self._state = RUNNING
        log.info("warm start: training %s on %s in the background", ", ".join(models), base)
        while self._job.snapshot().started == self._started and not self._job.wait(1.0):
            pass  # its own run only: a visitor may start another the moment it ends
        if finished and trained_model(finished[0], "hubert-probe") is not None:
            self._state = DONE
            return
        if finished:  # a finished run in which HuBERT could not run: its results say why
            why = unavailable_reason(finished[0], "hubert-probe")
            return self._fail(why or "the run finished without a HuBERT head (see *Train & compare*).")
        snap = self._job.snapshot()
        error = snap.error if snap.started == self._started else None
        self._fail(error or "the run stopped before it finished (see *Train & compare*).")

    def _needed(self, registry: Registry) -> bool:
        """Whether HuBERT still has no head (else warm start turns off, saying why in the log)."""
        try:
            registry.get(HUBERT)
        except NotTrainedError:
            return True  # the one case warm start is for
        except ModelUnavailableError as error:  # the Models tab already says why
            log.info("warm start: HuBERT cannot be loaded, so no head is trained for it: %s", error)
        else:
            log.info("warm start not needed: a trained HuBERT is in use")
        self._state = OFF
        return False

    def _before(self, progress: ProgressCallback, cancel: CancelCheck) -> None:
        """The job's first step: the data; the run proper (what the estimate covers) begins after it."""
        # Said here, in the job's thread: it may get this far before `start` has returned.
        self._started, self._state = self._job.snapshot().started, RUNNING
        _get_data(progress, cancel)
        self._run_began = self._clock()

    def _fail(self, reason: str) -> None:
        self._reason = reason  # first: a page that sees FAILED reads the reason
        self._state = FAILED
        log.warning("warm start failed: %s", reason)


def base_problem(source: str) -> Optional[str]:
    """Why the HuBERT base cannot be loaded, told from its config alone (a folder, the local Hugging Face
    cache, or one small download); None when it can."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(source)
    except (
        Exception
    ) as error:  # offline and not cached, a missing folder, a bad id: the cause goes to the log
        error_id = log_unexpected(error, f"the HuBERT base {source} cannot be loaded", log)
        return (
            f"the HuBERT base model '{source}' cannot be loaded (error id {error_id}). Connect to the "
            f"internet once (it is downloaded from the Hugging Face Hub), or set {settings.ENV_HUBERT} "
            "to a local copy, then restart."
        )
    return None


def _get_data(progress: ProgressCallback, cancel: CancelCheck) -> None:
    """In the job's thread, before the run: ESC-50's animal clips, downloaded (resumably) and prepared
    when they are not here yet."""
    report(progress, "warm start", 0.0, "no trained HuBERT yet: training its quick head (hubert-probe)")
    if not (settings.data_dir() / esc50.MANIFEST).is_file():
        fetch_examples(progress, cancel)


def _estimate(config: CompareConfig) -> Optional[float]:
    try:
        return estimate_seconds(config)
    except Exception:  # an estimate is a nicety: "a few minutes" will do
        log.exception("warm start: no time estimate")
        return None
