"""Is a difference real, and how sure vs how right: metrics.json's `paired` and `ece` against predictions.csv.

A real 5-fold CV run of the two YAMNet models on the 100-clip subset; every number is recomputed here from
predictions.csv by other means (scipy's binomial test, a loop over bins) and must agree.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from animal_audio.compare_config import CompareConfig
from animal_audio.labels import CLASSES
from animal_audio.paired import BOOTSTRAP_RESAMPLES, describe, paired_test, paired_tests
from animal_audio.pipeline import run_comparison
from animal_audio.run_results import prediction_column, probability_column
from animal_audio.run_view import load_run_view

YAMNET_MODELS = ("yamnet-zeroshot", "yamnet-probe")


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, yamnet_tflite: Path) -> Path:
    """Both YAMNet models, 5-fold CV on the 100-clip subset (every clip tested once)."""
    with pytest.MonkeyPatch.context() as patch:  # conftest's isolated home, at module scope
        patch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        config = CompareConfig(
            prepared_subset,
            out_dir=tmp_path_factory.mktemp("paired") / "cv",
            models=YAMNET_MODELS,
            protocol="cv",
            yamnet=str(yamnet_tflite),
            seed=3,
        )
        return run_comparison(config).run_dir


def _correct(predictions: pd.DataFrame, model: str) -> np.ndarray:
    return (predictions[prediction_column(model)] == predictions["true_label"]).to_numpy()


def test_paired_entries_match_a_recomputation_from_predictions_csv(cv_run: Path) -> None:
    metrics = json.loads((cv_run / "metrics.json").read_text())
    predictions = pd.read_csv(cv_run / "predictions.csv")
    assert [(e["a"], e["b"]) for e in metrics["paired"]] == list(combinations(YAMNET_MODELS, 2))
    for entry in metrics["paired"]:
        right_a, right_b = _correct(predictions, entry["a"]), _correct(predictions, entry["b"])
        a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
        assert (entry["n"], entry["a_only"], entry["b_only"]) == (len(predictions), a_only, b_only)
        exact = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
        assert entry["p_value"] == pytest.approx(exact, abs=1e-6)
        assert entry["diff"] == pytest.approx(right_a.mean() - right_b.mean(), abs=1e-6)
        low, high = entry["ci95"]
        assert low <= entry["diff"] <= high
        folds = predictions["fold"].to_numpy()
        assert [f["test_fold"] for f in entry["folds"]] == [1, 2, 3, 4, 5]
        for fold in entry["folds"]:
            rows = folds == fold["test_fold"]
            assert fold["diff"] == pytest.approx(right_a[rows].mean() - right_b[rows].mean(), abs=1e-6)
    assert metrics["statistics"]["bootstrap"]["resamples"] == BOOTSTRAP_RESAMPLES
    # The same run's predictions give the same entries again: the bootstrap is seeded with the run's seed.
    assert paired_tests(predictions, YAMNET_MODELS, seed=3, per_fold=True) == metrics["paired"]


def test_ece_matches_a_direct_ten_bin_computation(cv_run: Path) -> None:
    metrics = json.loads((cv_run / "metrics.json").read_text())
    predictions = pd.read_csv(cv_run / "predictions.csv")
    for model in YAMNET_MODELS:
        probs = predictions[[probability_column(model, c) for c in CLASSES]].to_numpy()
        confidence, right = probs.max(axis=1), _correct(predictions, model)
        ece = 0.0
        for k in range(10):
            low, high = k / 10, (k + 1) / 10
            inside = (confidence >= low) & ((confidence < high) if k < 9 else (confidence <= high))
            if inside.any():
                ece += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
        entry = metrics["models"][model]
        assert entry["ece"] == pytest.approx(ece, abs=1e-6)
        assert sum(entry["reliability"]["count"]) == len(predictions)


def _ece(probs: np.ndarray, right: np.ndarray) -> float:
    confidence, ece = probs.max(axis=1), 0.0
    for k in range(10):
        inside = (confidence >= k / 10) & ((confidence < (k + 1) / 10) if k < 9 else (confidence <= 1))
        if inside.any():
            ece += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return ece


def test_temperature_per_fold_and_the_ece_after_it_match_predictions_csv(cv_run: Path) -> None:
    metrics = json.loads((cv_run / "metrics.json").read_text())
    predictions = pd.read_csv(cv_run / "predictions.csv")
    for model in YAMNET_MODELS:
        entry = metrics["models"][model]
        temperatures = entry["temperatures"]
        assert len(temperatures) == 5 and entry["temperature"] == temperatures[-1]
        probs = predictions[[probability_column(model, c) for c in CLASSES]].to_numpy()
        logits = np.log(np.clip(probs, 1e-7, 1.0))
        for split, t in zip(sorted(predictions["split"].unique()), temperatures):
            rows = (predictions["split"] == split).to_numpy()
            scaled = np.exp(logits[rows] / t)
            probs[rows] = scaled / scaled.sum(axis=1, keepdims=True)
        assert entry["ece_calibrated"] == pytest.approx(_ece(probs, _correct(predictions, model)), abs=1e-5)
    report = (cv_run / "report.md").read_text()
    assert (
        "ECE after it" in report and f"{metrics['models']['yamnet-probe']['temperatures'][0]:.2f}" in report
    )


def test_report_and_results_view_say_it_in_plain_words(cv_run: Path) -> None:
    metrics = json.loads((cv_run / "metrics.json").read_text())
    (entry,) = metrics["paired"]
    sentence = describe(entry)
    assert f"with {len(pd.read_csv(cv_run / 'predictions.csv'))} clips this is" in sentence
    report = (cv_run / "report.md").read_text()
    assert "## Is the difference real?" in report and sentence in report
    assert "## How sure vs how right" in report
    assert f"{metrics['models']['yamnet-probe']['ece']:.3f}" in report
    assert (cv_run / "reliability.html").is_file()
    view = load_run_view(cv_run)
    assert view is not None and sentence in view.summary
    assert len(view.figures["reliability"].data) >= len(YAMNET_MODELS)


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(80) < 0.7, rng.random(80) < 0.6
    first, again = paired_test("x", "y", a, b, seed=7), paired_test("x", "y", a, b, seed=7)
    assert first["ci95"] == again["ci95"]
    assert first["ci95"][0] < first["diff"] < first["ci95"][1]


def test_a_clearly_better_model_is_unlikely_chance_and_identical_ones_are_equal() -> None:
    truth = np.ones(100, dtype=bool)
    better = paired_test("yamnet-probe", "yamnet-zeroshot", truth, np.arange(100) % 2 == 0)
    assert (better["a_only"], better["b_only"]) == (50, 0)
    assert better["p_value"] < 0.05 and better["diff"] == 0.5 and better["ci95"][0] > 0
    assert "YAMNet + linear probe is 50.0 points better than YAMNet zero-shot" in describe(better)
    assert "unlikely to be chance (p < 0.001" in describe(better)

    same = paired_test("a", "b", np.arange(60) % 3 == 0, np.arange(60) % 3 == 0)
    assert same["p_value"] == 1.0 and same["diff"] == 0.0 and same["ci95"] == [0.0, 0.0]
    assert "a and b are equally accurate; with 60 clips this is within chance (p = 1.00" in describe(same)


def test_plain_words_name_the_better_model_first() -> None:
    entry = {
        "a": "yamnet-zeroshot",
        "b": "yamnet-probe",
        "n": 80,
        "a_only": 3,
        "b_only": 5,
        "p_value": 0.45,
        "diff": -0.025,
        "ci95": [-0.09, 0.04],
    }
    assert describe(entry) == (
        "YAMNet + linear probe is 2.5 points better than YAMNet zero-shot; with 80 clips this is within "
        "chance (p = 0.45; 95% interval -4.0 to +9.0 points)."
    )
    assert "unlikely to be chance (p = 0.003;" in describe({**entry, "p_value": 0.003})


def test_a_resumed_cv_run_scores_each_missing_clip_once_and_answers_the_same(
    cv_run: Path, prepared_subset: Path, yamnet_tflite: Path, tmp_path: Path
) -> None:
    """Zero-shot parts of two splits lost: the resumed run scores only their clips, a clip both need once."""
    import shutil

    from animal_audio import esc50
    from animal_audio.compare_config import protocol_splits
    from animal_audio.runs import PARTS_DIR, split_key

    run = shutil.copytree(cv_run, tmp_path / "cv")
    splits = protocol_splits(esc50.load_manifest(prepared_subset), "cv")
    lost = splits[1:3]
    (run / "metrics.json").unlink()  # as a run stopped before its end leaves it
    for split in lost:
        (run / PARTS_DIR / f"yamnet-zeroshot--{split_key(split)}.json").unlink()
    scored: set[str] = set()
    expected = {}
    for split in lost:
        paths = set(split.test["path"]) | set(split.validation["path"])
        expected[f"yamnet-zeroshot ({split.name})"] = f"{len(paths - scored)}/{len(paths - scored)} clips"
        scored |= paths
    assert len(set(expected.values())) == 2, "the second split shares clips with the first"
    events = []
    config = CompareConfig(
        prepared_subset, out_dir=run, models=YAMNET_MODELS, protocol="cv", yamnet=str(yamnet_tflite), seed=3
    )
    run_comparison(config, progress=events.append)
    last = {e.stage: e.message for e in events if e.stage.startswith("yamnet-zeroshot (")}
    assert last == expected
    before, after = (pd.read_csv(d / "predictions.csv") for d in (cv_run, run))
    column = probability_column("yamnet-zeroshot", "dog")
    assert np.allclose(before[column], after[column], atol=1e-6)
