"""Issue 14's heads: the probe's C chosen on the validation fold only, mean+max features, the ensemble.

What a user relies on: the choice cannot have seen the test fold (perturbing its labels changes nothing
chosen), old heads and old cache entries still load, and the ensemble is scored like any other model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from animal_audio import esc50
from animal_audio.compare_config import CompareConfig
from animal_audio.embeddings import clip_statistics, embed_clips
from animal_audio.ensemble import (
    EnsembleWeights,
    combine,
    ensemble_prediction,
    fit_weights,
    run_ensemble_weights,
    together,
    weight_grid,
)
from animal_audio.labels import CLASSES
from animal_audio.models.base import Prediction
from animal_audio.models.probe import META_FILE, LinearProbe
from animal_audio.models.yamnet import EMBEDDING_SIZE, YamnetModel
from animal_audio.pipeline import run_comparison

MODELS = ("yamnet-zeroshot", "yamnet-probe", "hubert-probe", "ensemble")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.getbasetemp() / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANIMAL_AUDIO_HOME", str(path))
        yield path


def _run(data_dir: Path, out: Path, yamnet: Path, hubert: Path) -> dict:
    config = CompareConfig(
        data_dir=data_dir, out_dir=out, models=MODELS, yamnet=str(yamnet), hubert=str(hubert), seed=0
    )
    return run_comparison(config).metrics


@pytest.fixture(scope="module")
def runs(
    home: Path,
    prepared_subset: Path,
    yamnet_tflite: Path,
    tiny_hubert_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """The same run twice: on the 100-clip subset, and on a copy whose test-fold (5) labels are rotated."""
    perturbed = tmp_path_factory.mktemp("perturbed")
    (perturbed / "audio").symlink_to((prepared_subset / "audio").resolve())  # same files: cached embeddings
    table = pd.read_csv(prepared_subset / esc50.MANIFEST)
    test = table["fold"] == 5
    table.loc[test, "target"] = (table.loc[test, "target"] + 1) % len(CLASSES)
    table.loc[test, "label"] = [CLASSES[t] for t in table.loc[test, "target"]]
    table.to_csv(perturbed / esc50.MANIFEST, index=False)
    for other in prepared_subset.iterdir():
        if other.name not in ("audio", esc50.MANIFEST):
            (shutil.copytree if other.is_dir() else shutil.copy)(other, perturbed / other.name)
    original = _run(prepared_subset, home / "runs" / "heads", yamnet_tflite, tiny_hubert_dir)
    changed = _run(perturbed, home / "runs" / "heads-perturbed", yamnet_tflite, tiny_hubert_dir)
    return original, changed, home / "runs" / "heads"


def test_choices_do_not_change_when_test_fold_labels_do(runs) -> None:
    original, changed, _ = runs
    head, head_changed = (m["models"]["yamnet-probe"]["details"][0]["head"] for m in (original, changed))
    assert head["chosen_on"].startswith("validation fold")
    assert head == head_changed  # C, pooling and every candidate's validation score
    hubert, hubert_changed = (m["models"]["hubert-probe"]["details"][0] for m in (original, changed))
    assert (hubert["layer"], hubert["layers"], hubert["head"]) == (
        hubert_changed["layer"],
        hubert_changed["layers"],
        hubert_changed["head"],
    )
    weights, weights_changed = (m["models"]["ensemble"]["details"][0]["weights"] for m in (original, changed))
    assert weights == weights_changed
    for model in ("yamnet-zeroshot", "yamnet-probe", "hubert-probe", "ensemble"):  # fitted on validation too
        assert original["models"][model]["temperatures"] == changed["models"][model]["temperatures"], model
    # ...while the test scores did see the rotated labels.
    assert original["models"]["yamnet-probe"]["accuracy"] != changed["models"]["yamnet-probe"]["accuracy"]


def test_ensemble_is_scored_like_any_model_and_its_weights_reload(runs) -> None:
    original, _, run_dir = runs
    entry = original["models"]["ensemble"]
    for key in ("accuracy", "macro_f1", "per_class", "ece", "inference_seconds_per_clip", "model_dir"):
        assert key in entry, key
    assert any("ensemble" in pair for pair in json.dumps(original["paired"]).split(",")), "paired tests"
    weights = EnsembleWeights.load(run_dir / entry["model_dir"])
    assert set(weights.members) == set(MODELS) - {"ensemble"}
    assert weights.weights == entry["details"][0]["weights"]

    # The app's third line with the stored weights gives the run's probabilities for a clip (parts/ keep
    # them to 8 decimals; predictions.csv's 6 would move the clipped log of a tiny probability).
    def probs(model: str) -> np.ndarray:
        return np.array(
            json.loads((run_dir / "parts" / f"{model}--test-fold-5.json").read_text())["probs"][0]
        )

    answer = ensemble_prediction({m: Prediction(m, probs(m)) for m in weights.members}, weights)
    np.testing.assert_allclose(answer.probs, probs("ensemble"), atol=1e-6)
    assert answer.model == "ensemble"
    # What the Classify tab calls: the run's weights, and no third line without all of its members.
    stored = run_ensemble_weights(run_dir)
    assert stored is not None and stored.weights == weights.weights
    members = {m: Prediction(m, probs(m)) for m in weights.members}
    assert together(members, stored).label == answer.label
    assert together({"yamnet-zeroshot": members["yamnet-zeroshot"]}, stored) is None


def test_the_classify_tab_says_what_the_runs_models_say_together(runs, yamnet_tflite: Path, clip_of) -> None:
    from animal_audio.demo.classify import classify, summary_markdown
    from animal_audio.demo.models import Registry

    run_dir = runs[2]
    registry = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    registry.use_run(run_dir)
    payload = classify(str(clip_of("dog", index=1)), registry, figures=False).payload
    weights = run_ensemble_weights(run_dir)
    together_now = payload["together"]
    assert together_now["members"] == weights.members == ["yamnet-zeroshot", "yamnet-probe", "hubert-probe"]
    # The third line is the run's ensemble applied to the very answers shown beside it (rounded to 6 digits
    # in the JSON: a tiny probability's log moves a little).
    sides = {e["model"]: e["probabilities"] for e in payload["models"].values()}
    sides["yamnet-zeroshot"] = payload["models"]["yamnet"]["zeroshot"]["probabilities"]
    expected = combine(
        {m: np.array([sides[m][c] for c in CLASSES]) for m in weights.members}, weights.weights
    )
    np.testing.assert_allclose([together_now["probabilities"][c] for c in CLASSES], expected, atol=2e-3)
    assert together_now["label"] == CLASSES[int(np.argmax(expected))]
    assert "**Together** (YAMNet zero-shot + " in summary_markdown(payload)
    assert "**Вместе** (" in summary_markdown(payload, "ru")
    # Each side's bars use its run's temperature: the same label, the confidence the scaled probabilities give.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for entry in payload["models"].values():
        calibrated = entry["calibrated"]
        assert calibrated["temperature"] == metrics["models"][entry["model"]]["temperature"]
        raw = np.array([entry["probabilities"][c] for c in CLASSES])
        scaled = np.exp(np.log(np.clip(raw, 1e-7, 1)) / calibrated["temperature"])
        scaled /= scaled.sum()
        shown = [calibrated["probabilities"][c] for c in CLASSES]
        np.testing.assert_allclose(shown, scaled, atol=1e-4)
        assert CLASSES[int(np.argmax(shown))] == entry["label"]
        assert f"{calibrated['confidence'] * 100:.0f}%" in summary_markdown(payload)
    # The third line too: the ensemble's own temperature, its confidence as the line says it.
    calibrated = together_now["calibrated"]
    assert calibrated["temperature"] == metrics["models"]["ensemble"]["temperature"]
    raw = np.array([together_now["probabilities"][c] for c in CLASSES])
    scaled = np.exp(np.log(np.clip(raw, 1e-7, 1)) / calibrated["temperature"])
    np.testing.assert_allclose(calibrated["confidence"], (scaled / scaled.sum()).max(), atol=1e-4)
    together_line = next(line for line in summary_markdown(payload).splitlines() if "**Together**" in line)
    assert together_line.rstrip().endswith(f"({calibrated['confidence'] * 100:.0f}%)")
    # A run without an ensemble, or no run: no third line.
    bare = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    alone = classify(str(clip_of("dog", index=1)), bare, figures=False).payload
    assert alone["together"] is None and "Together" not in summary_markdown(alone)


def test_probe_head_records_its_features_and_c(runs) -> None:
    original, _, run_dir = runs
    entry = original["models"]["yamnet-probe"]
    meta = json.loads((run_dir / entry["model_dir"] / META_FILE).read_text())
    assert meta["pooling"] == "mean+max" and meta["dim"] == 2 * EMBEDDING_SIZE
    assert meta["training"]["regularisation_C"] == entry["details"][0]["head"]["C"]
    assert "validation fold" in (run_dir / "report.md").read_text()


def test_weight_grid_and_ties_prefer_equal_weights() -> None:
    grid = weight_grid(["a", "b", "c"])
    assert all(abs(sum(w.values()) - 1) < 1e-9 for w in grid)
    assert any(all(abs(v - 1 / 3) < 1e-9 for v in w.values()) for w in grid)  # equal weights are on it
    same = np.eye(len(CLASSES))[[0, 1, 2, 3]]
    chosen = fit_weights({"a": same, "b": same}, np.array([0, 1, 2, 3]))
    assert chosen.weights == {"a": 0.5, "b": 0.5}
    mixed = combine({"a": same, "b": same[::-1]}, {"a": 1.0, "b": 0.0})
    np.testing.assert_allclose(mixed.argmax(axis=1), [0, 1, 2, 3])


def test_mean_max_features_and_old_heads_and_cache_entries(
    yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    yamnet = YamnetModel.load(str(yamnet_tflite))
    clips = [clip_of(label, fold, 0) for label in CLASSES for fold in (1, 5)]
    means = embed_clips(yamnet, clips, cache_dir=tmp_path)
    both = embed_clips(yamnet, clips, pooling="mean+max", cache_dir=tmp_path)
    assert both.shape == (len(clips), 2 * EMBEDDING_SIZE)
    np.testing.assert_allclose(both[:, :EMBEDDING_SIZE], means, rtol=1e-6)
    # An entry written before max was kept (the mean only) is read for the mean, recomputed for mean+max.
    entry = sorted((tmp_path / "yamnet").glob("*.npz"))[0]
    with np.load(entry) as data:
        np.savez(entry.with_suffix(".tmp.npz"), embedding=data["embedding"], fingerprint=data["fingerprint"])
    entry.with_suffix(".tmp.npz").replace(entry)
    written = entry.stat().st_mtime_ns
    stats = clip_statistics(yamnet, clips, ("mean",), cache_dir=tmp_path)
    np.testing.assert_allclose(stats["mean"], means)
    assert entry.stat().st_mtime_ns == written, "the old entry serves the mean as it is"
    np.testing.assert_allclose(
        embed_clips(yamnet, clips, pooling="mean+max", cache_dir=tmp_path), both, rtol=1e-6
    )
    assert entry.stat().st_mtime_ns != written, "and is rewritten with the max"
    # A head saved before pooling was recorded (format 1) loads as a mean head and predicts as before.
    y = [CLASSES.index(label) for label in CLASSES for _ in (1, 5)]
    old = LinearProbe().fit(means, y, embedder=yamnet)
    folder = old.save(tmp_path / "old-head")
    meta = json.loads((folder / META_FILE).read_text())
    meta["format_version"] = 1
    meta.pop("pooling")
    (folder / META_FILE).write_text(json.dumps(meta))
    loaded = LinearProbe.load(folder)
    assert loaded.pooling == "mean"
    np.testing.assert_allclose(loaded.predict_proba(means), old.predict_proba(means))


def test_hubert_probe_chooses_its_layer_and_the_report_charts_them(runs, tiny_hubert_dir: Path) -> None:
    """Tiny HuBERT (2 layers): hidden states 0-2 and their average, each scored on validation."""
    original, _, run_dir = runs
    detail = original["models"]["hubert-probe"]["details"][0]
    assert set(detail["layers"]) == {"0", "1", "2", "mean"} and str(detail["layer"]) in detail["layers"]
    assert detail["layers"][str(detail["layer"])] == detail["head"]["validation_accuracy"]
    assert "Which layer knows animals" in (run_dir / "report.md").read_text()
    from animal_audio.models.probe import head_layer

    assert head_layer(run_dir / original["models"]["hubert-probe"]["model_dir"]) == detail["layer"]


def test_one_pass_of_all_layers_equals_each_layer_embedder(tiny_hubert_dir: Path, clip_of) -> None:
    from animal_audio.audio import load_audio
    from animal_audio.models.hubert import HubertEmbedder
    from animal_audio.models.hubert_layers import HubertLayers

    waveform = load_audio(clip_of("dog"))
    layers = HubertLayers.load(str(tiny_hubert_dir), backend="torch")
    for part in (1, "mean"):
        single = HubertEmbedder.load(str(tiny_hubert_dir), layer=part, backend="torch")
        view = layers.view(part)
        assert view.fingerprint == single.fingerprint
        np.testing.assert_allclose(view.embed(waveform), single.embed(waveform), rtol=1e-4, atol=1e-5)
