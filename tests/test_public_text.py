"""What a visitor sees (issue 12, item 5): no server folders and no raw exception text in the API answer,
the status panel, the training log or a run's view; an unexpected error is told by an id found in the log.
The library and the CLI still name the folder: their user needs it."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, SHARED

from animal_audio.demo.classify import classify
from animal_audio.demo.models import Registry
from animal_audio.demo.text import HUBERT, READY, UNAVAILABLE, YAMNET, status_line, status_markdown
from animal_audio.demo.training import TrainingJob, make_config
from animal_audio.errors import UNEXPECTED_FAILURE, DatasetError, ModelUnavailableError
from animal_audio.examples import data_status_markdown
from animal_audio.models.hubert import HubertClassifier
from animal_audio.public_text import HIDDEN, redact, source_name
from animal_audio.run_view import results_table, run_summary

#: An exception's class name, or a trace, quoted in a text.
RAW_ERROR = re.compile(r"\b\w*(Error|Exception)\b|Traceback|File \"")
ERROR_ID = re.compile(r"\bid ([0-9a-f]{8})\b")


@pytest.fixture
def server_folders(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Folders of this machine no visitor may see: the tests' temp root (tmp_path, ANIMAL_AUDIO_HOME, the
    tiny HuBERT), the repository, the shared data and YAMNet, the user's home."""
    roots = {tmp_path_factory.getbasetemp(), REPO, SHARED, Path.home(), Path(os.environ["ANIMAL_AUDIO_HOME"])}
    return sorted({str(form) for root in roots for form in (root, root.resolve())})


def assert_safe(text: str, folders: list[str]) -> None:
    leaked = [folder for folder in folders if folder in text]
    assert not leaked, f"{leaked} in: {text}"
    assert not RAW_ERROR.search(text), text


def logged_with_trace(caplog: pytest.LogCaptureFixture, error_id: str) -> bool:
    return any(error_id in record.getMessage() and record.exc_info for record in caplog.records)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("No file at /srv/app/data/x.wav.", f"No file at {HIDDEN}/x.wav."),
        ("the folder '/home/Jo Doe/hub' (a copy)", f"the folder '{HIDDEN}/hub' (a copy)"),
        ("TF Hub https://tfhub.dev/google/yamnet/1 or facebook/hubert-base-ls960", None),
        ("set ANIMAL_AUDIO_HUBERT=/path/to/folder, and/or 1/2 of km/h", None),
        (r"a Windows folder C:\Users\jo\hubert", f"a Windows folder {HIDDEN}/hubert"),
        (
            UNEXPECTED_FAILURE.format(kind="OSError", cause="no '/srv/x/y'", error_id="0a1b2c3d"),
            "It failed unexpectedly (error id 0a1b2c3d); the log has the details.",
        ),
        (
            "It failed unexpectedly (RuntimeError: boom); the log has the details.",  # recorded before ids
            "It failed unexpectedly; the log has the details.",
        ),
    ],
)
def test_redact_hides_folders_and_recorded_causes(text: str, shown: str | None, monkeypatch) -> None:
    monkeypatch.setenv("HOME", "/home/Jo Doe")  # a known folder with a space in its name
    assert redact(text) == (text if shown is None else shown)
    assert redact(redact(text)) == redact(text), "redacting twice changes nothing"


def test_paths_of_the_app_and_the_repository_stay_meaningful(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    run = tmp_path / "home" / "runs" / "20260101-120000" / "models" / "hubert-probe"
    assert redact(f"trained in {run}") == f"trained in {HIDDEN}/runs/20260101-120000/models/hubert-probe"
    assert redact(f"{REPO}/assets/yamnet/yamnet.tflite") == "assets/yamnet/yamnet.tflite"
    assert source_name("facebook/hubert-base-ls960") == "facebook/hubert-base-ls960"
    assert source_name(str(tmp_path / "my-hubert")) == f"{HIDDEN}/my-hubert"


def test_the_api_answer_and_status_name_no_server_folder(
    tiny_hubert_dir: Path, yamnet_tflite: Path, clip_of, tmp_path: Path, server_folders: list[str]
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    cases = {"local": tiny_hubert_dir, "missing": tmp_path / "gone", "broken": tmp_path / "broken"}
    for case, hubert in cases.items():
        registry = Registry(hubert=str(hubert), yamnet=str(yamnet_tflite), use_latest_run=False)
        result = classify(str(clip_of("dog", 5, 0)), registry, figures=False)
        models = result.payload["models"]
        assert models[YAMNET]["available"] and models[HUBERT]["available"] == (case == "local")
        statuses = registry.status()
        assert statuses[0].state == (READY if case == "local" else UNAVAILABLE)
        shown = json.dumps(result.payload, ensure_ascii=False) + result.summary
        assert_safe(shown + status_markdown(statuses) + status_line(statuses), server_folders)
        assert hubert.name in (models[HUBERT].get("source") or models[HUBERT]["error"]), "which one it is"
    with pytest.raises(ModelUnavailableError) as caught:  # the library (and the CLI) name the folder
        HubertClassifier.load(str(tmp_path / "gone"))
    assert str(tmp_path / "gone") in str(caught.value)


class Crashing:
    """A loaded HuBERT whose predictions fail for a reason nobody foresaw (its text names a folder)."""

    name = "hubert"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"crashing HuBERT in {self.folder}"

    def predict(self, waveform):
        raise RuntimeError(f"buffer overflow in {self.folder}/weights.bin")


def test_an_unexpected_error_is_told_by_an_id_whose_trace_is_logged(
    yamnet_tflite: Path, clip_of, tmp_path: Path, monkeypatch, caplog, server_folders: list[str]
) -> None:
    monkeypatch.setattr(HubertClassifier, "load", lambda *args, **kwargs: Crashing(tmp_path))
    registry = Registry(hubert="some/hubert", yamnet=str(yamnet_tflite), use_latest_run=False)
    with caplog.at_level(logging.ERROR):
        result = classify(str(clip_of("dog", 5, 0)), registry, figures=False)
    error = result.payload["models"][HUBERT]["error"]
    assert_safe(json.dumps(result.payload, ensure_ascii=False) + result.summary, server_folders)
    assert "buffer overflow" not in error and result.payload["models"][YAMNET]["available"]
    found = ERROR_ID.search(error)
    assert found and logged_with_trace(caplog, found.group(1)), error
    assert "buffer overflow" in caplog.text, "the operator reads the cause in the log"


def test_a_failed_training_run_shows_no_folder_and_no_raw_error(
    tmp_path: Path, caplog, server_folders: list[str]
) -> None:
    from animal_audio.progress import report

    def crashing(config, progress, cancel):
        report(progress, "prepare", 1.0, f"reusing prepared data in {tmp_path / 'data'}")
        raise RuntimeError(f"disk full in {tmp_path}")

    def unusable(config, progress, cancel):
        raise DatasetError(f"No prepared data at {tmp_path / 'data'}. Run prepare first.")

    def finishing(config, progress, cancel):
        run_dir = tmp_path / "runs" / "20260101-120000"
        report(progress, "report", 1.0, f"results in {run_dir}")
        return SimpleNamespace(run_dir=run_dir)

    config = make_config(["yamnet-zeroshot"], "folds", 1)
    snaps = {}
    with caplog.at_level(logging.ERROR, logger="animal_audio.demo.training"):
        for runner in (crashing, unusable, finishing):
            job = TrainingJob(runner)
            job.start(config)
            assert job.wait(10)
            snaps[runner.__name__] = snap = job.snapshot()
            assert_safe("\n".join([*snap.log, snap.error or ""]), server_folders)
    found = ERROR_ID.search(snaps["crashing"].error or "")
    assert found and logged_with_trace(caplog, found.group(1)) and "disk full" in caplog.text
    assert f"{HIDDEN}/data" in (snaps["unusable"].error or ""), "our message, its folder shortened"
    assert snaps["finishing"].log[-1].endswith("Finished: results in run 20260101-120000")


def test_a_runs_view_and_the_data_line_name_no_server_folder(
    tmp_path: Path, server_folders: list[str]
) -> None:
    unavailable = {
        "hubert-probe": f"Cannot load the HuBERT model '{tmp_path / 'base'}': no internet. Connect once.",
        "yamnet-probe": UNEXPECTED_FAILURE.format(kind="ValueError", cause="bad shape", error_id="0a1b2c3d"),
    }
    metrics = {"models": {}, "unavailable": unavailable, "protocol": {"description": "folds"}}
    table = results_table(metrics).to_csv()
    summary = run_summary(metrics, tmp_path / "runs" / "20260101-120000")
    assert_safe(table + summary, server_folders)
    assert "error id 0a1b2c3d" in table + summary and "run `20260101-120000`" in summary.replace(
        "**Run** ", "run "
    )
    assert_safe(data_status_markdown(tmp_path / "no-data"), server_folders)
    assert "no-data" in data_status_markdown(tmp_path / "no-data")
