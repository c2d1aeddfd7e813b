"""The disk: old runs go, the ones in use or in progress stay, --out folders are never touched, one
plotly.js serves every report in the runs folder, and no run or download starts without room.

Real runs (YAMNet on the real clips) where the app must still load what is left; run folders written
with runs.py's own functions where only their files matter; low space simulated at shutil.disk_usage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from animal_audio import esc50, settings
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.models import Registry
from animal_audio.demo.text import HUBERT, READY, YAMNET
from animal_audio.demo.training import check_start, make_config
from animal_audio.errors import AnimalAudioError, CancelledError, DiskSpaceError
from animal_audio.fileio import write_json
from animal_audio.housekeeping import MB, WORK_DIR, prune_runs, run_needs
from animal_audio.pipeline import run_comparison
from animal_audio.run_view import load_run_view
from animal_audio.runs import (
    AUTO_RUN_FILE,
    LOCK_FILE,
    METRICS_FILE,
    RUN_CONFIG_FILE,
    default_run_dir,
    in_progress,
    latest_run,
    running,
)
from train.__main__ import main

YAMNET_MODELS = ("yamnet-zeroshot", "yamnet-probe")


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty runs folder of a home of its own, outside public mode."""
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("ANIMAL_AUDIO_KEEP_RUNS", raising=False)
    monkeypatch.setenv("ANIMAL_AUDIO_PUBLIC", "0")
    return settings.runs_dir()


def quick(data: Path, yamnet: Path, **changes) -> CompareConfig:
    return CompareConfig(data, **{"models": YAMNET_MODELS, "yamnet": str(yamnet), **changes})


def run_folders(runs: Path) -> set[Path]:
    return {p for p in runs.iterdir() if p.is_dir()}


def test_keep_runs_2_and_four_runs_leave_two_and_the_latest_loads_in_the_app(
    runs: Path, prepared_subset: Path, yamnet_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_KEEP_RUNS", "2")
    zeroshot = quick(prepared_subset, yamnet_tflite, models=("yamnet-zeroshot",))  # ~1 s a run
    inside = run_comparison(replace(zeroshot, out_dir=runs / "mine")).run_dir
    cli = ["-q", "compare", "--data", str(prepared_subset), "--yamnet", str(yamnet_tflite), "--models"]
    elsewhere = tmp_path / "elsewhere"
    assert main([*cli, "yamnet-zeroshot", "--out", str(elsewhere)]) == 0
    made = [run_comparison(zeroshot).run_dir for _ in range(3)]
    # The CLI without --out names the run folder itself: pruned like the others. A probe, for the app.
    assert main([*cli, ",".join(YAMNET_MODELS)]) == 0
    newest = latest_run(runs)
    assert newest is not None and newest.parent == runs.resolve() and newest not in made

    assert {p.name for p in run_folders(runs)} == {"mine", made[-1].name, newest.name}
    assert (elsewhere / METRICS_FILE).is_file() and (inside / METRICS_FILE).is_file(), "--out: never pruned"

    registry = Registry(yamnet=str(yamnet_tflite))  # the app's registry, on the runs folder
    assert registry.run_dir() == newest
    registry.get(YAMNET)
    status = registry.side_status(YAMNET)
    assert status.state == READY and f"run {newest.name}" in status.origin, "the latest run's probe answers"
    view = load_run_view()
    assert view is not None and view.run_dir == newest and view.models == list(YAMNET_MODELS)

    (bundle,) = runs.glob("plotly-*.min.js")  # one plotly.js for every report in the runs folder
    for run in (made[-1], newest):
        assert not (run / "plotly.min.js").exists()
        for page in ("accuracy.html", "confusion.html", "per_class_f1.html"):
            assert f'src="../{bundle.name}"' in (run / page).read_text(encoding="utf-8")
    for own in (inside, elsewhere):  # a folder given with --out opens anywhere, offline: its own copy
        assert (own / "plotly.min.js").stat().st_size == bundle.stat().st_size
        assert 'src="plotly.min.js"' in (own / "accuracy.html").read_text(encoding="utf-8")


def test_a_stopped_run_is_kept_to_resume_locally_and_removed_in_public_mode(
    runs: Path, prepared_subset: Path, yamnet_tflite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = quick(prepared_subset, yamnet_tflite, models=("yamnet-zeroshot",))
    done = run_comparison(config).run_dir
    (done / "models" / "hubert-finetune" / WORK_DIR).mkdir(parents=True)  # a fine-tune that failed in it
    with pytest.raises(CancelledError):
        run_comparison(config, cancel=lambda: True)
    (stopped,) = run_folders(runs) - {done}
    assert not (stopped / METRICS_FILE).exists() and default_run_dir(config) == stopped, "it resumes"

    with pytest.raises(CancelledError):  # another stopped run: only the newest stays, to resume
        run_comparison(replace(config, seed=1), cancel=lambda: True)
    (newer,) = run_folders(runs) - {done}
    assert newer != stopped and not stopped.exists()
    checkpoint = newer / "models" / "hubert-finetune" / WORK_DIR / "checkpoint-2"
    write_json(checkpoint / "trainer_state.json", {"global_step": 2})  # as Trainer leaves a stopped fine-tune
    assert (
        prune_runs() == []
        and checkpoint.is_dir()
        and (done / "models" / "hubert-finetune" / WORK_DIR).is_dir()
    )

    monkeypatch.setenv("ANIMAL_AUDIO_PUBLIC", "1")
    assert prune_runs() == [newer]
    assert run_folders(runs) == {done} and not list(runs.glob(".*"))
    assert not (done / "models" / "hubert-finetune" / WORK_DIR).exists(), "public: no checkpoints left behind"
    assert (done / METRICS_FILE).is_file()


def test_a_run_in_progress_is_never_removed(
    runs: Path, prepared_subset: Path, yamnet_tflite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_PUBLIC", "1")  # the strictest cleanup: every stopped run goes
    config = quick(prepared_subset, yamnet_tflite, models=("yamnet-zeroshot",))
    seen: dict = {}

    def prune_meanwhile(event) -> None:
        if event.stage.startswith("yamnet-zeroshot") and not seen:
            (seen["run"],) = run_folders(runs)
            seen["owner"], seen["removed"] = in_progress(seen["run"]), prune_runs(keep=1)

    result = run_comparison(config, progress=prune_meanwhile)
    assert seen["owner"] == os.getpid() and seen["removed"] == [] and result.run_dir == seen["run"]
    assert (result.run_dir / METRICS_FILE).is_file() and not (result.run_dir / LOCK_FILE).exists()

    other = runs / "another-process"  # stopped-looking, but another live process works in it
    write_json(other / RUN_CONFIG_FILE, {"fingerprint": config.fingerprint(), "config": config.to_dict()})
    write_json(other / AUTO_RUN_FILE, {})
    write_json(other / LOCK_FILE, {"pid": os.getppid()})
    assert prune_runs() == [] and in_progress(other) == os.getppid()
    assert default_run_dir(config) != other, "a run in progress is not resumed a second time"
    with pytest.raises(AnimalAudioError, match="in progress"), running(other):
        pass
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_json(other / LOCK_FILE, {"pid": gone.pid})  # its process ended without finishing it
    assert in_progress(other) is None and prune_runs() == [other]


def test_the_runs_in_use_stay_even_when_older_than_the_last_n(runs: Path) -> None:
    def finished(name: str, when: int, models: dict | None = None) -> Path:
        with running(runs / name, created=True):  # as the pipeline makes a run it names itself
            for entry in (models or {}).values():
                (runs / name / entry["model_dir"]).mkdir(parents=True)
            write_json(
                runs / name / METRICS_FILE, {"models": models or {"yamnet-zeroshot": {"model_dir": None}}}
            )
        os.utime(runs / name / METRICS_FILE, (when, when))
        return runs / name

    hubert = finished("1-hubert", 1000, {"hubert-probe": {"model_dir": "models/hubert-probe", "base": "b/h"}})
    pinned = finished("2-pinned", 1001)
    quick_runs = [finished(f"{i}-quick", 1000 + i) for i in range(3, 6)]
    assert sorted(prune_runs(in_use=[pinned], keep=1)) == quick_runs[:-1]
    assert run_folders(runs) == {hubert, pinned, quick_runs[-1]}, "the app's HuBERT is the oldest run's"
    registry = Registry(yamnet="unused")
    assert registry.run_dir() == quick_runs[-1] and "1-hubert" in registry.side_status(HUBERT).origin
    assert prune_runs(keep=1) == [pinned], "no longer in use"


def test_no_room_refuses_a_run_and_a_download_before_any_work(
    runs: Path,
    prepared_subset: Path,
    yamnet_tflite: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=50 * MB))
    with pytest.raises(DiskSpaceError, match=r"needs about \d+ MB and 50 MB is free") as refused:
        run_comparison(quick(prepared_subset, yamnet_tflite))
    assert refused.value.free == 50 * MB and refused.value.needed > 50 * MB
    assert not runs.exists(), "nothing started"
    app_config = make_config(["yamnet-zeroshot"], "folds", 1, data_dir=prepared_subset)
    with pytest.raises(DiskSpaceError, match="50 MB is free"):  # the app's Start, before the job starts
        check_start(app_config, "", busy=False)
    assert main(["-q", "compare", "--data", str(prepared_subset), "--models", "yamnet-zeroshot"]) == 2
    assert "50 MB is free" in capsys.readouterr().err and not runs.exists()
    with pytest.raises(DiskSpaceError, match=r"ESC-50 download: it needs about 1\.\d GB"):
        esc50.download(tmp_path / "download", url="http://127.0.0.1:9/unreachable.zip")
    assert not (tmp_path / "download").exists()

    base = tmp_path / "hubert-base"  # HuBERT-Base's size, without the disk space (a sparse file)
    write_json(base / "config.json", {"model_type": "hubert"})
    with open(base / "model.safetensors", "wb") as weights:
        weights.truncate(380 * MB)
    finetune = quick(prepared_subset, yamnet_tflite, models=("hubert-finetune",), hubert=str(base))
    needs = run_needs(finetune)
    assert 3_000 * MB < needs[default_run_dir(finetune)] < 5_000 * MB, "its checkpoints: gigabytes"
    cv = run_needs(replace(finetune, protocol="cv"))
    assert sum(cv.values()) > sum(needs.values()) + 4 * 380 * MB, "a checkpoint per fold"
