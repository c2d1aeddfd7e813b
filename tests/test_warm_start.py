"""Warm start: with no trained HuBERT the app trains the quick head by itself at start-up, and HuBERT
takes over without a restart; a HuBERT base named by ANIMAL_AUDIO_HUBERT uses the head trained on it."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from app_server import serve_app

from animal_audio import settings
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.classify import classify
from animal_audio.demo.models import Registry
from animal_audio.demo.text import HUBERT, LEARNING, NOT_TRAINED, status_line, status_markdown
from animal_audio.demo.training import TrainingJob, make_config
from animal_audio.demo.warm import DONE, FAILED, OFF, WarmStart
from animal_audio.errors import DatasetError, NotTrainedError
from animal_audio.labels import CLASSES
from animal_audio.pipeline import run_comparison

#: The background run on 100 clips with a tiny HuBERT takes seconds; this bounds a hang.
RUN_SECONDS = 120.0


def build_base(out: Path, seed: int = 0) -> Path:
    """A tiny HuBERT *base* (no classification head), saved like facebook/hubert-base-ls960."""
    from random_hubert import build_random_hubert

    return build_random_hubert(out, seed=seed, head=False)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("tiny-base") / "hubert-base")


@pytest.fixture(scope="module")
def probe_runs(tiny_base: Path, prepared_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder whose latest run trained a hubert-probe on `tiny_base`."""
    runs = tmp_path_factory.mktemp("probe-runs")
    models = ("hubert-probe",)
    run_comparison(
        CompareConfig(prepared_subset, runs / "probe", models, hubert=str(tiny_base), runs_dir=runs)
    )
    return runs


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("space_id", "value", "expected"),
    [
        (None, None, False),
        ("me/app", None, True),
        ("me/app", "0", False),
        (None, "1", True),
        (None, "no", False),
    ],
)
def test_warm_start_is_on_by_default_only_on_spaces(
    space_id: str | None, value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, set_to in ((settings.ENV_SPACE_ID, space_id), (settings.ENV_WARM_START, value)):
        if set_to is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, set_to)
    assert settings.warm_start() is expected
    assert settings.warm_start(not expected) is (not expected)  # an argument wins


# --------------------------------------------------------------------------- a base named by ANIMAL_AUDIO_HUBERT


def test_a_base_named_by_the_setting_uses_the_head_trained_on_it(
    tiny_base: Path, probe_runs: Path, tmp_path: Path, clip_of
) -> None:
    """Was 'not trained yet' although the run in use had a hubert-probe on that very base."""
    for written in (str(tiny_base), f"{tiny_base.parent}/./{tiny_base.name}"):  # one folder, two spellings
        registry = Registry(hubert=written, yamnet="unused", runs_dir=probe_runs)
        model = registry.get(HUBERT)
        assert model.name == "hubert-probe" and "probe" in model.origin
        prediction = model.predict(_wave(clip_of("dog", 5, 0)))
        assert prediction.probs.shape == (len(CLASSES),)

    other = build_base(tmp_path / "other-base", seed=1)  # a head is useless on other weights
    registry = Registry(hubert=str(other), yamnet="unused", runs_dir=probe_runs)
    with pytest.raises(NotTrainedError):
        registry.get(HUBERT)


def _finished_run(run_dir: Path, models: dict, unavailable: dict | None = None) -> Path:
    """A finished run's metrics.json (what warm start and the registry read of it), no heads."""
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps({"models": models, "unavailable": unavailable or {}}))
    return run_dir


def test_a_later_run_that_could_not_run_hubert_keeps_the_earlier_head(
    tiny_base: Path, probe_runs: Path, tmp_path: Path
) -> None:
    """Such a run became the latest and the app lost its HuBERT: the newest head trained on the base is used."""
    runs = tmp_path / "runs"
    shutil.copytree(probe_runs / "probe", runs / "probe")
    why = {"hubert-probe": "HuBERT could not be loaded here (no internet)."}
    later = _finished_run(runs / "later", {"yamnet-zeroshot": {"model_dir": None}}, why)
    os.utime(later / "metrics.json", (time.time() + 60, time.time() + 60))
    (runs / "latest.json").write_text(json.dumps({"run_dir": str(later)}))
    for explicit in (str(tiny_base), None):
        registry = Registry(hubert=explicit, yamnet="unused", runs_dir=runs)
        assert registry.run_dir() == later
        for switch in (False, True):  # the latest run at start-up, then one this app just finished
            if switch:
                registry.use_run(later)
            model = registry.get(HUBERT)
            assert model.name == "hubert-probe" and str(runs / "probe") in model.origin
    other = build_base(tmp_path / "other-base", seed=1)  # the fallback is only to a head on the same base
    with pytest.raises(NotTrainedError):
        Registry(hubert=str(other), yamnet="unused", runs_dir=runs).get(HUBERT)


def _wave(path: Path):
    from animal_audio.audio import load_audio

    return load_audio(str(path))


# --------------------------------------------------------------------------- when it starts, and failures


class GatedRunner:
    """Stands in for run_comparison: waits until released, then each call fails or returns a run folder,
    as `outcomes` say in turn (an error, or the folder of a finished run)."""

    def __init__(self, *outcomes: Exception | Path) -> None:
        self.release = threading.Event()
        self.configs: list[CompareConfig] = []
        self.outcomes = list(outcomes)
        self.progress = None

    def __call__(self, config: CompareConfig, progress=None, cancel=None):
        self.configs.append(config)
        self.progress = progress
        progress_event(progress, "hubert-probe embeddings", 0.5)
        assert self.release.wait(30)
        assert self.outcomes, "not used"
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return SimpleNamespace(run_dir=outcome)


def progress_event(progress, stage: str, fraction: float) -> None:
    from animal_audio.progress import report

    report(progress, stage, fraction, "")


def test_not_started_when_a_trained_hubert_is_in_use(tiny_hubert_dir: Path) -> None:
    runner = GatedRunner()
    job = TrainingJob(runner=runner)
    warm = WarmStart(job, enabled=True)
    registry = Registry(
        hubert=str(tiny_hubert_dir), yamnet="missing.tflite", use_latest_run=False, trainer=warm
    )
    warm.launch(registry, on_done=registry.use_run).join(60)
    assert warm.state == OFF and not runner.configs and job.snapshot().started is None
    assert registry.get(HUBERT).name == "hubert"


def test_off_unless_enabled(tiny_base: Path) -> None:
    job = TrainingJob(runner=GatedRunner())
    warm = WarmStart(job, enabled=False)
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    warm.launch(registry, on_done=registry.use_run).join(60)
    assert warm.state == OFF and job.snapshot().started is None
    assert registry.side_status(HUBERT).state == NOT_TRAINED


def test_a_base_that_cannot_load_says_why_and_the_app_keeps_serving(
    yamnet_tflite: Path, clip_of, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline and the default base is not cached: nothing is trained, YAMNet answers, the Models tab says why."""
    monkeypatch.delenv(settings.ENV_HUBERT, raising=False)
    monkeypatch.setattr(settings, "DEFAULT_HUBERT", "nobody/no-such-hubert")  # surely in no cache
    job = TrainingJob(runner=GatedRunner())
    warm = WarmStart(job, enabled=True)
    registry = Registry(yamnet=str(yamnet_tflite), runs_dir=tmp_path / "runs", trainer=warm)
    warm.launch(registry, on_done=registry.use_run).join(60)
    assert warm.state == FAILED and job.snapshot().started is None
    status = registry.side_status(HUBERT)
    assert status.state == NOT_TRAINED and "Warm start could not train it" in status.description
    assert settings.DEFAULT_HUBERT in status.description
    assert "Warm start could not train it" in status_markdown(registry.status())
    payload = classify(str(clip_of("dog", 5, 0)), registry, figures=False).payload
    assert payload["models"]["yamnet"]["label"] == "dog"
    assert payload["models"][HUBERT]["state"] == NOT_TRAINED


def test_while_it_trains_hubert_says_learning_and_a_failed_run_says_why(
    tiny_base: Path, prepared_subset: Path, clip_of, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    monkeypatch.setenv(settings.ENV_HUBERT, str(tiny_base))
    runner = GatedRunner(DatasetError("The clips went missing."))
    job = TrainingJob(runner=runner)
    warm = WarmStart(job, enabled=True)
    registry = Registry(yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    thread = warm.launch(registry, on_done=registry.use_run)
    deadline = time.monotonic() + 60
    while not runner.configs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.configs and runner.configs[0].models == ("hubert-probe",)  # YAMNet did not load
    assert runner.configs[0].hubert == str(tiny_base) and job.running
    status = registry.side_status(HUBERT)
    assert status.state == LEARNING and status.description.endswith("min left")
    assert "HuBERT: learning the ten animals, about" in status_line(registry.status())
    hubert = classify(str(clip_of("dog", 5, 0)), registry, figures=False).payload["models"][HUBERT]
    assert hubert["state"] == LEARNING and not hubert["available"]

    runner.release.set()
    thread.join(60)
    assert warm.state == FAILED and "The clips went missing." in (warm.failure() or "")
    status = registry.side_status(HUBERT)
    assert status.state == NOT_TRAINED and "The clips went missing." in status.description


def test_missing_clips_are_prepared_first_in_the_jobs_thread(
    esc50_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No prepared clips: they are made from ANIMAL_AUDIO_ESC50 (downloaded first when that is missing too)."""
    import pandas as pd

    from animal_audio import esc50
    from animal_audio.demo.warm import _get_data

    source = tmp_path / "esc50"
    (source / "meta").mkdir(parents=True)
    (source / "audio").symlink_to(esc50_dir / "audio")
    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    meta[meta.target < 10].sort_values("filename").groupby(["target", "fold"]).head(1).to_csv(
        source / "meta" / "esc50.csv", index=False
    )
    monkeypatch.setenv(settings.ENV_ESC50, str(source))
    monkeypatch.setenv(settings.ENV_DATA, str(tmp_path / "data"))
    events = []
    _get_data(events.append, lambda: False)
    assert len(esc50.load_manifest(tmp_path / "data")) == 50
    assert {e.stage for e in events} == {"warm start", "prepare"}
    events.clear()
    _get_data(events.append, lambda: False)  # prepared now: nothing more to do
    assert {e.stage for e in events} == {"warm start"}


def test_cancel_stops_the_data_step(esc50_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel during warm start's data step stopped nothing: the clips were prepared to the end."""
    from animal_audio.demo.warm import _get_data
    from animal_audio.errors import CancelledError

    monkeypatch.setenv(settings.ENV_ESC50, str(esc50_dir))
    monkeypatch.setenv(settings.ENV_DATA, str(tmp_path / "data"))
    events = []
    with pytest.raises(CancelledError, match="data preparation"):
        _get_data(events.append, lambda: len(events) > 3)  # a few clips in
    assert not (tmp_path / "data" / "animals.csv").exists()
    assert len(list((tmp_path / "data" / "audio").glob("*.wav"))) < 10


def test_a_run_that_could_not_run_hubert_fails_warm_start_with_the_reason(
    tiny_base: Path, prepared_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was DONE with no reason: the Models tab said "No trained HuBERT yet" and nothing more."""
    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    why = "HuBERT could not be loaded here (no internet)."
    run = _finished_run(tmp_path / "run", {"yamnet-zeroshot": {"model_dir": None}}, {"hubert-probe": why})
    runner = GatedRunner(run)
    runner.release.set()
    warm = WarmStart(TrainingJob(runner=runner), enabled=True)
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    warm.launch(registry, on_done=registry.use_run).join(60)
    assert warm.state == FAILED and warm.failure() == why
    with pytest.raises(NotTrainedError):
        registry.get(HUBERT)
    status = registry.side_status(HUBERT)
    assert status.state == NOT_TRAINED and f"Warm start could not train it: {why}" in status.description


@pytest.mark.parametrize("visitor_trains_hubert", [True, False])
def test_a_visitors_run_started_first_is_waited_for(
    visitor_trains_hubert: bool,
    tiny_base: Path,
    probe_runs: Path,
    prepared_subset: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Was "an unexpected JobBusyError" (and a traceback): a visitor's run had started during the warm-up.
    Now warm start waits for it, then trains only if HuBERT still has no head."""
    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    visitors = GatedRunner(probe_runs / "probe" if visitor_trains_hubert else DatasetError("no clips"))
    job = TrainingJob(runner=visitors)
    warm = WarmStart(job, enabled=True)
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    job.start(make_config(["hubert-probe"], "folds", 1), on_done=registry.use_run)  # the visitor's
    with caplog.at_level("INFO", logger="animal_audio.demo.warm"):
        thread = warm.launch(registry, on_done=registry.use_run)
        deadline = time.monotonic() + 60
        while "waiting for the run a visitor started" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "waiting for the run a visitor started" in caplog.text
        assert registry.side_status(HUBERT).state in (LEARNING, "not loaded")
        visitors.outcomes.append(probe_runs / "probe")  # warm start's own run, if it comes to one
        visitors.release.set()
        thread.join(60)
    assert not thread.is_alive() and warm.failure() is None
    assert "JobBusyError" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert len(visitors.configs) == (1 if visitor_trains_hubert else 2)
    assert warm.state == (OFF if visitor_trains_hubert else DONE)
    assert registry.get(HUBERT).name == "hubert-probe"


def test_warm_start_follows_its_own_run_not_a_visitors_that_came_right_after(
    prepared_subset: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its run ended at once and a visitor started another before warm start looked: it followed the
    visitor's run (waiting for it, then telling its outcome as its own)."""
    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    gate = threading.Event()

    def runner(config: CompareConfig, progress=None, cancel=None):
        if config.models == ("hubert-probe",):  # warm start's
            raise DatasetError("The clips went missing.")
        assert gate.wait(30)
        raise DatasetError("The visitor's run failed.")

    class RacedJob(TrainingJob):
        """Between warm start's start() and its next look, its run ends and a visitor starts one."""

        def start(self, config, on_done=None, **options):
            started = super().start(config, on_done, **options)
            if config.models == ("hubert-probe",):
                self.wait(30)
                self.visitors = super().start(make_config(["yamnet-zeroshot"], "folds", 1))
            return started

    job = RacedJob(runner=runner)
    warm = WarmStart(job, enabled=True)
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    thread = warm.launch(registry, on_done=registry.use_run)
    thread.join(30)
    try:
        assert not thread.is_alive() and job.running, "it waited for the visitor's run"
        assert warm.state == FAILED and "visitor" not in (warm.failure() or "")
        assert job.snapshot().started == job.visitors, "start() returns the start time its snapshots show"
    finally:
        gate.set()
        job.wait(30)


def test_the_reason_is_there_before_failed_is_said() -> None:
    """`_fail` set the state first: a page reading it in between saw FAILED with no reason."""
    seen: list = []

    class Watched(WarmStart):
        def __setattr__(self, name: str, value) -> None:
            super().__setattr__(name, value)
            if name == "_state" and value == FAILED:
                seen.append(self.failure())

    Watched(TrainingJob(runner=GatedRunner()))._fail("the base is gone")
    assert seen == ["the base is gone"]


def test_time_left_counts_from_the_run_and_measures_the_embedding_pace(
    tiny_base: Path, prepared_subset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was measured from the job's start (download and model loading included): inflated after a
    download, and "about 1 min left" once the estimate ran out."""
    from animal_audio.demo import warm as warm_module

    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    monkeypatch.setattr(warm_module, "_estimate", lambda config: 300.0)
    clock = [1000.0]
    downloading, downloaded = threading.Event(), threading.Event()

    def get_data(progress, cancel) -> None:  # a 10-minute download
        progress_event(progress, "download", 0.5)
        downloading.set()
        assert downloaded.wait(30)

    monkeypatch.setattr(warm_module, "_get_data", get_data)
    runner = GatedRunner(DatasetError("end of the test"))
    job = TrainingJob(runner=runner)
    warm = WarmStart(job, enabled=True, clock=lambda: clock[0])
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", use_latest_run=False, trainer=warm)
    thread = warm.launch(registry, on_done=registry.use_run)
    try:
        assert downloading.wait(60)
        assert warm.learning() == "getting the ESC-50 clips first (50%)"
        clock[0] += 600.0
        downloaded.set()
        deadline = time.monotonic() + 30
        while runner.progress is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert warm.learning() == "about 5 min left", "the download does not count"  # embeddings at 50%
        clock[0] += 300.0
        assert warm.learning() == "a few minutes left", "the estimate ran out; no pace measured yet"
        clock[0] += 60.0
        progress_event(runner.progress, "hubert-probe embeddings", 0.65)  # 15 % in 360 s: 840 s left
        assert warm.learning() == "about 14 min left"
    finally:
        runner.release.set()
        thread.join(60)
    assert warm.state == FAILED


# --------------------------------------------------------------------------- the app, end to end


def test_the_app_trains_hubert_at_start_up_and_it_takes_over_without_a_restart(
    tiny_base: Path, prepared_subset: Path, yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    from gradio_client import Client, handle_file

    home = tmp_path / "home"
    env = {
        "ANIMAL_AUDIO_HUBERT": str(tiny_base),
        "ANIMAL_AUDIO_WARM_START": "1",
        "ANIMAL_AUDIO_DATA": str(prepared_subset),
        "ANIMAL_AUDIO_HOME": str(home),
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
    }
    clip = handle_file(str(clip_of("cow", 5, 0)))
    with serve_app(env, tmp_path / "app.log") as url:
        client = Client(url, verbose=False)
        first = client.predict(clip, api_name="/classify")
        assert first["models"]["yamnet"]["available"]
        hubert = first["models"][HUBERT]
        assert not hubert["available"] and hubert["state"] == LEARNING, hubert
        deadline = time.monotonic() + RUN_SECONDS
        while not hubert["available"] and time.monotonic() < deadline:
            time.sleep(1.0)
            hubert = client.predict(clip, api_name="/classify")["models"][HUBERT]
        assert hubert["available"], (tmp_path / "app.log").read_text(errors="replace")[-3000:]
        assert hubert["model"] == "hubert-probe" and "trained in run" in hubert["source"]
        assert str(home) not in hubert["source"], "the API answer names no server folder"
        assert sum(hubert["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    metrics = json.loads(next((home / "runs").glob("*/metrics.json")).read_text())
    assert set(metrics["models"]) == {"hubert-probe", "yamnet-zeroshot", "yamnet-probe"}  # one ordinary run
    assert metrics["models"]["hubert-probe"]["base"] == str(tiny_base)


def test_done_after_a_real_run(
    tiny_base: Path, prepared_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_DATA, str(prepared_subset))
    monkeypatch.setenv(settings.ENV_HOME, str(tmp_path / "home"))  # its run must not be other tests' latest
    job = TrainingJob()
    warm = WarmStart(job, enabled=True)
    registry = Registry(hubert=str(tiny_base), yamnet="missing.tflite", trainer=warm)
    warm.launch(registry, on_done=registry.use_run).join(RUN_SECONDS)
    assert warm.state == DONE and warm.learning() is None
    assert registry.get(HUBERT).name == "hubert-probe"
