"""The comparison pipeline end to end, offline: real clips, real YAMNet (TFLite), a tiny HuBERT.

What a user relies on: every model is tested on the same clips; the report says the
same as metrics.json and predictions.csv; a stopped run never breaks the last good
one and resumes where it stopped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from animal_audio.compare_config import MODEL_NAMES, CompareConfig
from animal_audio.errors import AnimalAudioError, CancelledError, CheckpointError
from animal_audio.estimate import estimate_seconds
from animal_audio.labels import CLASSES, DISPLAY_NAMES
from animal_audio.pipeline import FINETUNE_MARKER, run_comparison
from animal_audio.run_results import prediction_column, probability_column
from animal_audio.runs import default_run_dir, latest_run, load_run, trained_model

YAMNET_MODELS = ("yamnet-zeroshot", "yamnet-probe")
RESULT_ROW = re.compile(
    r"^\| `(?P<model>[a-z-]+)` \| [^|]+ \| (?P<acc>[\d.]+)%(?: ± [\d.]+)? \| (?P<f1>[\d.]+)%"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    """The same isolated ANIMAL_AUDIO_HOME as conftest's autouse fixture, for module-scoped runs."""
    path = tmp_path_factory.getbasetemp() / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANIMAL_AUDIO_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def full_run(home: Path, prepared_subset: Path, tiny_hubert_dir: Path, yamnet_tflite: Path):
    """All four models, default fold split, on the 100-clip subset (tiny HuBERT, 2 fine-tuning steps)."""
    events = []
    config = CompareConfig(
        data_dir=prepared_subset,
        out_dir=home / "runs" / "full",
        models=MODEL_NAMES,
        hubert=str(tiny_hubert_dir),
        yamnet=str(yamnet_tflite),
        epochs=1,
        max_steps=2,
        seed=0,
    )
    return run_comparison(config, progress=events.append), events


def results_table(report: str) -> dict[str, tuple[float, float]]:
    rows = {}
    for line in report.splitlines():
        match = RESULT_ROW.match(line)
        if match:
            rows[match["model"]] = (float(match["acc"]), float(match["f1"]))
    return rows


def per_class_table(report: str, models: list[str]) -> dict[str, list[float]]:
    section = report.split("## F1 per class", 1)[1].split("##", 1)[0]
    rows = {}
    for label in CLASSES:
        line = next(line for line in section.splitlines() if line.startswith(f"| {DISPLAY_NAMES[label]} |"))
        rows[label] = [float(cell) for cell in line.strip("| ").split(" | ")[1:]]
        assert len(rows[label]) == len(models)
    return rows


@pytest.mark.slow
def test_full_run_writes_a_complete_run_directory(
    full_run, home: Path, tiny_hubert_dir: Path, yamnet_tflite: Path
) -> None:
    result, events = full_run
    run_dir = result.run_dir
    for name in (
        "metrics.json",
        "predictions.csv",
        "report.md",
        "accuracy.html",
        "confusion.html",
        "per_class_f1.html",
        "reliability.html",
    ):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["models"]) == list(MODEL_NAMES) and metrics["unavailable"] == {}
    assert metrics["models"]["yamnet-zeroshot"]["base"] == str(yamnet_tflite), "the YAMNet it ran on"
    for name, entry in metrics["models"].items():
        assert 0.0 <= entry["accuracy"] <= 1.0 and 0.0 <= entry["macro_f1"] <= 1.0, name
        assert set(entry["per_class"]) == set(CLASSES)
        assert set(entry["per_class"]["dog"]) == {"precision", "recall", "f1", "support"}
        assert np.array(entry["confusion"]).sum() == 20, "test fold 5 of the subset: 20 clips"
        assert entry["train_seconds"] >= 0 and entry["inference_seconds_per_clip"] > 0
    assert {"torch", "transformers", "tensorflow", "python"} <= set(metrics["versions"])
    assert {"platform", "cpu_count", "device"} <= set(metrics["machine"])
    assert metrics["protocol"]["name"] == "folds" and metrics["seed"] == 0 and metrics["created"]
    # Every pair of the five models (the ensemble too) on the same 20 clips; per-fold differences only in CV.
    pairs = len(MODEL_NAMES) * (len(MODEL_NAMES) - 1) // 2
    assert len(metrics["paired"]) == pairs and all(
        p["n"] == 20 and "folds" not in p for p in metrics["paired"]
    )
    assert all(0.0 <= entry["ece"] <= 1.0 for entry in metrics["models"].values())
    # The app reloads the trained models from here.
    from animal_audio.models.probe import LinearProbe

    for probe in ("yamnet-probe", "hubert-probe"):
        assert LinearProbe.load(run_dir / metrics["models"][probe]["model_dir"]).fitted
    assert (run_dir / metrics["models"]["hubert-finetune"]["model_dir"] / "config.json").is_file()
    finetuned = trained_model(run_dir, "hubert-finetune")
    assert finetuned is not None and (finetuned.directory / "config.json").is_file()
    # Each trained model names the weights it was trained from, whatever the settings say later.
    assert finetuned.base == trained_model(run_dir, "hubert-probe").base == str(tiny_hubert_dir)
    assert trained_model(run_dir, "yamnet-probe").base == str(yamnet_tflite)
    assert metrics["models"]["yamnet-zeroshot"]["model_dir"] is None
    # Published only after completion; loadable.
    pointer = json.loads((home / "runs" / "latest.json").read_text())
    assert Path(pointer["run_dir"]) == run_dir.resolve()
    assert load_run(run_dir).metrics == metrics
    stages = {e.stage for e in events}
    assert all(any(s.startswith(m) for s in stages) for m in MODEL_NAMES), stages
    assert all(0.0 <= e.fraction <= 1.0 for e in events)


@pytest.mark.slow
def test_fine_tuned_hubert_is_not_kept_in_memory_after_its_test(full_run) -> None:
    """In cross-validation each fold's fine-tuned HuBERT (~1 GB in ONNX Runtime) would pile up."""
    import gc

    from animal_audio.models.hubert import HubertClassifier

    result, _ = full_run
    run_dir = str(result.run_dir.resolve())
    assert any("hubert-finetune" in str(p) for p in result.run_dir.rglob("config.json"))
    gc.collect()
    alive = [o for o in gc.get_objects() if type(o) is HubertClassifier]  # not isinstance: no mocks
    assert not [o.source for o in alive if str(Path(o.source).resolve()).startswith(run_dir)]


@pytest.mark.slow
def test_estimate_leaves_out_cached_hubert_embeddings(
    full_run, prepared_subset: Path, tiny_hubert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After one hubert-probe run, the app and CLI must not warn of minutes for a seconds-long re-run."""
    from animal_audio.estimate import SECONDS_HUBERT_EMBED

    config = CompareConfig(prepared_subset, models=("hubert-probe",), hubert=str(tiny_hubert_dir))
    cached = estimate_seconds(config)
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "empty-home"))
    fresh = estimate_seconds(config)

    assert fresh - cached == pytest.approx(100 * SECONDS_HUBERT_EMBED, rel=0.01)


@pytest.mark.slow
def test_report_equals_metrics_and_predictions(full_run) -> None:
    result, _ = full_run
    run_dir = result.run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_csv(run_dir / "predictions.csv")
    report = (run_dir / "report.md").read_text()
    assert len(predictions) == 20 and set(predictions["fold"]) == {5}
    table = results_table(report)
    assert list(table) == list(MODEL_NAMES)
    for name, (accuracy, macro_f1) in table.items():
        truth, predicted = predictions["true_label"], predictions[prediction_column(name)]
        # Recomputed independently from the CSV, compared with the JSON and the Markdown.
        assert accuracy == pytest.approx(100 * accuracy_score(truth, predicted), abs=0.005)
        assert accuracy == pytest.approx(100 * metrics["models"][name]["accuracy"], abs=0.005)
        expected_f1 = f1_score(truth, predicted, labels=list(CLASSES), average="macro", zero_division=0)
        assert macro_f1 == pytest.approx(100 * expected_f1, abs=0.005)
        probs = predictions[[probability_column(name, c) for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        assert list(predicted) == [CLASSES[i] for i in probs.argmax(axis=1)]
    f1_rows = per_class_table(report, list(MODEL_NAMES))
    for label, values in f1_rows.items():
        expected = [metrics["models"][m]["per_class"][label]["f1"] for m in MODEL_NAMES]
        np.testing.assert_allclose(values, expected, atol=5e-4)
    assert "capped at 2 optimisation steps" in report, "a capped fine-tuning run is flagged as a smoke test"


def test_cancelled_run_keeps_the_last_good_run_and_resumes(
    home: Path, prepared_subset: Path, yamnet_tflite: Path
):
    runs = home / "runs"

    def config(out: str) -> CompareConfig:
        return CompareConfig(
            prepared_subset, out_dir=runs / out, models=YAMNET_MODELS, yamnet=str(yamnet_tflite)
        )

    good = run_comparison(config("good")).run_dir
    pointer, good_metrics = (runs / "latest.json").read_bytes(), (good / "metrics.json").read_bytes()

    stop = {"now": False}

    def watch(event) -> None:
        stop["now"] = stop["now"] or event.stage.startswith("yamnet-probe")

    with pytest.raises(CancelledError):
        run_comparison(config("stopped"), progress=watch, cancel=lambda: stop["now"])
    stopped = runs / "stopped"
    assert (runs / "latest.json").read_bytes() == pointer
    assert (good / "metrics.json").read_bytes() == good_metrics
    assert not (stopped / "metrics.json").exists() and not (stopped / "report.md").exists()
    assert latest_run(runs) == good.resolve()
    assert default_run_dir(config("anywhere")) == stopped, "a re-run without --out resumes it"
    with pytest.raises(CheckpointError, match="run the same comparison again"):
        load_run(stopped)

    finished_part = stopped / "parts" / "yamnet-zeroshot--test-fold-5.json"
    before = finished_part.stat().st_mtime_ns
    resumed = run_comparison(config("stopped"))
    assert finished_part.stat().st_mtime_ns == before, "the finished model was not run again"
    assert latest_run(runs) == stopped.resolve()
    for key in ("accuracy", "macro_f1", "confusion"):
        assert (
            resumed.metrics["models"]["yamnet-zeroshot"][key]
            == load_run(good).metrics["models"]["yamnet-zeroshot"][key]
        )
    with pytest.raises(AnimalAudioError, match="already holds a finished run"):
        run_comparison(config("stopped"))


def test_cross_validation_tests_every_clip_once(
    home: Path, prepared_subset: Path, yamnet_tflite: Path
) -> None:
    config = CompareConfig(
        prepared_subset,
        out_dir=home / "runs" / "cv",
        models=YAMNET_MODELS,
        protocol="cv",
        yamnet=str(yamnet_tflite),
    )
    result = run_comparison(config)
    predictions = result.predictions
    assert len(predictions) == 100 and predictions["filename"].is_unique
    report = (result.run_dir / "report.md").read_text()
    for name in YAMNET_MODELS:
        entry = result.metrics["models"][name]
        assert [f["test_fold"] for f in entry["folds"]] == [1, 2, 3, 4, 5]
        per_fold = [
            accuracy_score(rows["true_label"], rows[prediction_column(name)])
            for _, rows in predictions.groupby("fold")
        ]
        assert entry["accuracy"] == pytest.approx(np.mean(per_fold), abs=1e-6)
        assert entry["accuracy_std"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-6)
        assert f"{100 * entry['accuracy']:.2f}% ± {100 * entry['accuracy_std']:.2f}" in report
    assert results_table(report).keys() == set(YAMNET_MODELS)
    # One probe per test fold is kept; the app loads the last fold's, the one metrics.json names.
    assert all((result.run_dir / "models" / "yamnet-probe" / f"test-fold-{k}").is_dir() for k in range(1, 6))
    probe = trained_model(result.run_dir, "yamnet-probe")
    assert probe is not None and probe.directory == result.run_dir / "models" / "yamnet-probe" / "test-fold-5"
    assert trained_model(result.run_dir, "yamnet-zeroshot") is None


def test_trained_model_base_is_what_the_run_recorded_else_its_setting(tmp_path: Path) -> None:
    (tmp_path / "models" / "probe").mkdir(parents=True)
    entry = {"model_dir": "models/probe"}
    metrics = {
        "config": {"hubert": "setting/hubert"},
        "models": {"hubert-probe": {**entry, "base": "used/hubert"}},
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert trained_model(tmp_path, "hubert-probe").base == "used/hubert"

    metrics["models"]["hubert-probe"] = entry  # a run written before `base` was recorded
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert trained_model(tmp_path, "hubert-probe").base == "setting/hubert"


def test_estimates_and_config_errors(prepared_subset: Path, tiny_hubert_dir: Path) -> None:
    # A HuBERT that can load here (offline, the default base cannot: the estimate would leave it out).
    hubert = str(tiny_hubert_dir)
    slow = estimate_seconds(
        CompareConfig(prepared_subset, models=("hubert-finetune",), hubert=hubert, epochs=10, device="cpu")
    )
    quick = estimate_seconds(CompareConfig(prepared_subset, models=YAMNET_MODELS))
    cv = estimate_seconds(
        CompareConfig(
            prepared_subset, models=("hubert-finetune",), hubert=hubert, protocol="cv", device="cpu"
        )
    )
    assert slow > 10 * 60 and quick < 60 and cv > 4 * slow
    with pytest.raises(AnimalAudioError, match="Choose from: hubert-finetune"):
        CompareConfig(prepared_subset, models=("yamnet", "horse"))
    with pytest.raises(AnimalAudioError, match="protocol"):
        CompareConfig(prepared_subset, protocol="random")


def test_stopped_after_fine_tuning_resumes_without_training_again(
    home: Path, prepared_subset: Path, tiny_hubert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CompareConfig(
        prepared_subset,
        out_dir=home / "runs" / "finetune-stopped",
        models=("hubert-finetune",),
        hubert=str(tiny_hubert_dir),
        epochs=1,
        max_steps=1,
        update_latest=False,
    )
    stop = {"now": False}

    def watch(event) -> None:
        stop["now"] = stop["now"] or event.stage == "hubert-finetune test"

    with pytest.raises(CancelledError):
        run_comparison(config, progress=watch, cancel=lambda: stop["now"])

    from animal_audio.models import finetune

    # A marker that lacks what it should record (e.g. from an older version) counts as none.
    (marker,) = config.out_dir.rglob(FINETUNE_MARKER)
    marker.write_text(json.dumps({k: v for k, v in json.loads(marker.read_text()).items() if k != "extra"}))
    trained, real_finetune = [], finetune.finetune
    monkeypatch.setattr(finetune, "finetune", lambda *a, **kw: trained.append(1) or real_finetune(*a, **kw))
    stop["now"] = False
    with pytest.raises(CancelledError):
        run_comparison(config, progress=watch, cancel=lambda: stop["now"])
    assert trained == [1] and "extra" in json.loads(marker.read_text())

    def must_not_train(*args, **kwargs):
        raise AssertionError("the finished checkpoint should have been reused")

    monkeypatch.setattr(finetune, "finetune", must_not_train)
    result = run_comparison(config)
    assert result.metrics["models"]["hubert-finetune"]["model_dir"] == "models/hubert-finetune/checkpoint"
    assert len(result.predictions) == 20
