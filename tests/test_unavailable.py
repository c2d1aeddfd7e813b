"""A comparison runs every model it can: one that cannot load (HuBERT offline) or fails is left out,
said before the run, recorded in metrics.json, the report, the CLI summary and the Results view."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from animal_audio import pipeline
from animal_audio.availability import hubert_problem, unavailable_models
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.training import estimate_text
from animal_audio.errors import UNEXPECTED_FAILURE, AnimalAudioError, CancelledError, ModelUnavailableError
from animal_audio.estimate import estimate_seconds
from animal_audio.pipeline import run_comparison
from animal_audio.run_view import load_run_view
from animal_audio.runs import PARTS_DIR, RUN_CONFIG_FILE

REPO = Path(__file__).resolve().parents[1]


def test_compare_with_default_hubert_offline_writes_yamnet_and_exits_3(
    tmp_path: Path, prepared_subset: Path
) -> None:
    """The issue's case: no network, no settings; an empty HF cache so the base model surely is not there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMAL_AUDIO_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "ANIMAL_AUDIO_HOME": str(tmp_path)}
    out = tmp_path / "run"
    argv = ["compare", "--data", str(prepared_subset), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "train", "-q", *argv, "--models", "hubert-probe,yamnet-zeroshot"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["yamnet-zeroshot"]
    assert 0.5 < metrics["models"]["yamnet-zeroshot"]["accuracy"] <= 1.0
    reason = metrics["unavailable"]["hubert-probe"]
    assert "facebook/hubert-base-ls960" in reason and "cannot be downloaded here" in reason
    assert "Traceback" not in reason and "Traceback" not in result.stderr
    report = (out / "report.md").read_text()
    assert f"HuBERT + linear probe (`hubert-probe`): not run: {reason}" in report
    assert "hubert-probe     HuBERT + linear probe: not run: The HuBERT base weights" in result.stdout
    # Said before the run started, i.e. before YAMNet loaded.
    warned = result.stderr.index("HuBERT + linear probe: not run")
    assert warned < result.stderr.index("YAMNet (tflite) loaded")
    assert not list((out / PARTS_DIR).glob("hubert-probe*")), "nothing of it is kept as finished"


def test_the_estimate_says_beforehand_which_models_cannot_load(tmp_path: Path, prepared_subset: Path) -> None:
    missing = tmp_path / "no-such-hubert"
    both = CompareConfig(prepared_subset, models=("hubert-probe", "yamnet-zeroshot"), hubert=str(missing))
    assert list(unavailable_models(both)) == ["hubert-probe"]
    assert str(missing) in unavailable_models(both)["hubert-probe"]
    yamnet_only = CompareConfig(prepared_subset, models=("yamnet-zeroshot",))
    assert estimate_seconds(both) == estimate_seconds(yamnet_only), "a model left out takes no time"
    text = estimate_text(both)
    # The app's line names the folder without the server's layout (the library's message above has it all).
    assert (
        "⚠️ HuBERT + linear probe: not run: The HuBERT weights folder …/no-such-hubert does not exist." in text
    )
    assert "To fix" not in text, "the short form: the first sentence"
    assert "not run" not in estimate_text(yamnet_only)


def test_what_can_be_told_without_loading_weights(tmp_path: Path, monkeypatch, tiny_hubert_dir: Path) -> None:
    assert hubert_problem(str(tiny_hubert_dir)) is None
    assert "has no config.json" in hubert_problem(str(tmp_path))
    assert "does not exist" in hubert_problem(str(tmp_path / "gone"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "cannot be downloaded here" in hubert_problem("nobody/no-such-hubert")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert hubert_problem("nobody/no-such-hubert") is None, "online, only the download can tell"


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, yamnet_tflite: Path):
    """hubert-probe's folder looks right but is damaged (fails at load); yamnet-probe crashes (a bug)."""
    damaged = tmp_path_factory.mktemp("damaged-hubert")
    (damaged / "config.json").write_text("{not json")
    home = tmp_path_factory.mktemp("home")
    config = CompareConfig(
        prepared_subset,
        out_dir=home / "runs" / "partial",
        runs_dir=home / "runs",
        models=("hubert-probe", "yamnet-zeroshot", "yamnet-probe"),
        hubert=str(damaged),
        yamnet=str(yamnet_tflite),
    )

    def crash(ctx, name):
        raise RuntimeError("boom")

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(pipeline._RUNNERS, "yamnet-probe", crash)
        patch.setenv("ANIMAL_AUDIO_HOME", str(home))
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("animal_audio.pipeline").addHandler(handler)
        try:
            result = run_comparison(config)
        finally:
            logging.getLogger("animal_audio.pipeline").removeHandler(handler)
    return result, records


def test_models_failing_during_the_run_are_recorded_and_the_rest_written(failing_run) -> None:
    result, records = failing_run
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert list(metrics["models"]) == ["yamnet-zeroshot"]
    assert list(metrics["unavailable"]) == ["hubert-probe", "yamnet-probe"], "in the order chosen"
    assert "damaged" in metrics["unavailable"]["hubert-probe"]
    recorded = metrics["unavailable"]["yamnet-probe"]  # the CLI's record keeps the cause, and an error id
    error_id = re.search(r"error id ([0-9a-f]{8})", recorded)
    assert error_id and recorded == UNEXPECTED_FAILURE.format(
        kind="RuntimeError", cause="boom", error_id=error_id.group(1)
    )
    assert any(
        r.exc_info and f"yamnet-probe failed [error id {error_id.group(1)}]" in r.getMessage()
        for r in records
    )
    assert "yamnet-zeroshot:label" in (result.run_dir / "predictions.csv").read_text()


def test_the_results_view_shows_what_did_not_run(failing_run) -> None:
    result, _ = failing_run
    view = load_run_view(result.run_dir)
    assert view is not None and view.models == ["yamnet-zeroshot"]
    rows = {row["model"]: row for row in view.table.to_dict("records")}
    assert rows["HuBERT + linear probe"]["accuracy"] == "not run"
    shown = rows["YAMNet + linear probe"]["trained on"]  # a visitor sees the id, not the raw error
    assert re.match(r"It failed unexpectedly \(error id [0-9a-f]{8}\)", shown) and "boom" not in shown
    assert rows["YAMNet zero-shot"]["accuracy"].endswith("%")
    assert "⚠️ HuBERT + linear probe: not run:" in view.summary


def test_nothing_to_compare_is_an_error_and_a_stop_is_not_a_failure(
    tmp_path: Path, prepared_subset: Path, yamnet_tflite: Path, monkeypatch
) -> None:
    config = CompareConfig(
        prepared_subset, out_dir=tmp_path / "none", models=("hubert-probe",), hubert=str(tmp_path / "gone")
    )
    with pytest.raises(ModelUnavailableError, match="nothing to compare") as caught:
        run_comparison(config)
    assert "HuBERT + linear probe: not run:" in str(caught.value)
    assert not (tmp_path / "none").exists(), "known before the run: nothing written"

    def stopped(ctx, name):
        raise CancelledError("stopped by the user")

    monkeypatch.setitem(pipeline._RUNNERS, "yamnet-zeroshot", stopped)
    config = CompareConfig(
        prepared_subset, out_dir=tmp_path / "stopped", models=("yamnet-zeroshot",), yamnet=str(yamnet_tflite)
    )
    with pytest.raises(CancelledError):
        run_comparison(config)
    assert (tmp_path / "stopped" / RUN_CONFIG_FILE).is_file()
    assert not (tmp_path / "stopped" / "metrics.json").exists(), "a stopped run stays resumable"


def test_a_run_that_left_a_model_out_is_completed_by_the_same_command(
    tmp_path: Path,
    prepared_subset: Path,
    tiny_hubert_dir: Path,
    yamnet_tflite: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-running after fixing the missing model continues the same run: only that model runs (it made a
    new run and redid everything, and --out OLD was refused). A model whose parts are finished is reused
    even when its weights cannot load any more (the pre-run check dropped it)."""
    import shutil

    from train.__main__ import main

    hubert = tmp_path / "hubert"
    shutil.copytree(tiny_hubert_dir, hubert)
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANIMAL_AUDIO_YAMNET", str(tmp_path / "missing" / "yamnet.tflite"))
    argv = ["-q", "compare", "--data", str(prepared_subset), "--models", "hubert-probe,yamnet-zeroshot"]
    argv += ["--hubert", str(hubert)]
    assert main(argv) == 3
    (run_dir,) = (tmp_path / "home" / "runs").glob("*/metrics.json")
    run_dir = run_dir.parent
    assert list(json.loads((run_dir / "metrics.json").read_text())["unavailable"]) == ["yamnet-zeroshot"]
    hubert_part = run_dir / PARTS_DIR / "hubert-probe--test-fold-5.json"
    before = hubert_part.stat().st_mtime_ns

    monkeypatch.setenv("ANIMAL_AUDIO_YAMNET", str(yamnet_tflite))  # fixed
    shutil.rmtree(hubert)  # and HuBERT's weights gone: its finished part needs none
    assert main(argv) == 0
    assert [p.parent for p in (tmp_path / "home" / "runs").glob("*/metrics.json")] == [run_dir]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["models"]) == ["hubert-probe", "yamnet-zeroshot"] and metrics["unavailable"] == {}
    assert hubert_part.stat().st_mtime_ns == before, "the finished model was not run again"
    # Complete now: the same folder is a finished run that is not run over.
    same = CompareConfig(
        prepared_subset, out_dir=run_dir, models=metrics["config"]["models"], hubert=str(hubert)
    )
    with pytest.raises(AnimalAudioError, match="already holds a finished run"):
        run_comparison(same)
