"""Fine-tuning a tiny HuBERT on real clips: it learns, its checkpoint loads everywhere, a stop is safe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from transformers.trainer import TRAINER_STATE_NAME

from animal_audio import esc50
from animal_audio.augment import AugmentConfig
from animal_audio.errors import CancelledError, DatasetError, ModelUnavailableError
from animal_audio.labels import CLASSES
from animal_audio.models import finetune as ft

# A random tiny model learns little per step: a high learning rate on 8 clips makes the
# loss drop clearly within 12 steps (1 s crops keep each step ~0.1 s on 2 cores).
SETTINGS = {
    "batch_size": 4,
    "learning_rate": 2e-2,
    "max_steps": 12,
    "seed": 42,
    "device": "cpu",
    "early_stopping_patience": None,
    "augment": AugmentConfig(crop_seconds=1.0, max_shift_seconds=0.0, gain_db=None, noise_prob=0.0),
}


@pytest.fixture(scope="module")
def tables(prepared_subset: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 training clips (one per class 0-7, fold 1), 10 validation clips (one per class, fold 4)."""
    table = esc50.load_manifest(prepared_subset)
    train = table[table.fold == 1].groupby("target").head(1).head(8).reset_index(drop=True)
    validation = table[table.fold == 4].groupby("target").head(1).reset_index(drop=True)
    return train, validation


@pytest.fixture(scope="module")
def finetuned(tables, tiny_hubert_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    train, validation = tables
    out = tmp_path_factory.mktemp("finetune")
    events, epochs = [], []
    set_epoch = ft.ClipDataset.set_epoch

    def record(dataset: ft.ClipDataset, epoch: int) -> None:
        if dataset.augment is not None:  # the training set
            epochs.append(epoch)
        set_epoch(dataset, epoch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ft.ClipDataset, "set_epoch", record)
        result = ft.finetune(
            train, validation, out, base=str(tiny_hubert_dir), progress=events.append, **SETTINGS
        )
    return out, result, events, epochs


class StopAfterStep:
    """progress + cancel pair: asks to stop once training reported step `step`."""

    def __init__(self, step: int) -> None:
        self.step, self.messages = step, []

    def progress(self, event) -> None:
        self.messages.append(event.message)

    def cancel(self) -> bool:
        return any(f"step {self.step}/" in m for m in self.messages)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_loss_goes_down(finetuned):
    _, result, _, _ = finetuned
    losses = [entry["loss"] for entry in result.history if "loss" in entry]
    assert len(losses) == SETTINGS["max_steps"]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    assert result.train_seconds > 0


def test_trainer_tells_the_training_set_each_epoch(finetuned):
    _, _, _, epochs = finetuned
    steps_per_epoch = 8 // SETTINGS["batch_size"]  # 8 training clips
    # New augmentations each epoch (Trainer and accelerate may both pass the same epoch on).
    assert epochs == sorted(epochs) and set(epochs) == set(range(SETTINGS["max_steps"] // steps_per_epoch))


def test_best_validation_and_progress_are_reported(finetuned):
    out, result, events, _ = finetuned
    evaluations = [e for e in result.history if "eval_macro_f1" in e]
    assert evaluations, "the validation fold was never evaluated"
    best = result.best_validation
    assert set(best) >= {"accuracy", "macro_f1", "loss", "step"}
    assert best["macro_f1"] == max(e["eval_macro_f1"] for e in evaluations)
    assert {e.stage for e in events} == {"finetune"}
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("loss" in e.message and "epoch" in e.message for e in events)
    assert not (out / ft.WORK_DIR).exists(), "Trainer checkpoints are removed after success"


def test_checkpoint_loads_in_transformers_pipeline_with_our_labels(finetuned, tables):
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    from animal_audio import HubertClassifier
    from animal_audio.audio import load_audio

    out, result, _, _ = finetuned
    assert result.checkpoint_dir == out / "checkpoint"
    model = AutoModelForAudioClassification.from_pretrained(result.checkpoint_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(result.checkpoint_dir)
    assert [model.config.id2label[i] for i in range(len(CLASSES))] == list(CLASSES)
    assert model.config.label2id == {c: i for i, c in enumerate(CLASSES)}

    classify = pipeline("audio-classification", model=str(result.checkpoint_dir), device="cpu")
    _, validation = tables
    predicted = []
    for path in validation["path"]:
        waveform = load_audio(path)
        scores = {s["label"]: s["score"] for s in classify(waveform, top_k=None)}
        with torch.no_grad():
            inputs = extractor(waveform, sampling_rate=16_000, return_tensors="pt")
            direct = torch.softmax(model(**inputs).logits[0], -1).numpy()
        piped = np.array([scores[c] for c in CLASSES])
        np.testing.assert_allclose(piped, direct, atol=1e-5)
        predicted.append(int(np.argmax(piped)))
    # The saved model is the one whose validation score was reported as best.
    accuracy = float(np.mean(np.array(predicted) == validation["target"].to_numpy()))
    assert accuracy == pytest.approx(result.best_validation["accuracy"], abs=1e-6)

    classifier = HubertClassifier.load(str(result.checkpoint_dir), device="cpu", fast=False)
    waveform = load_audio(validation["path"][0])
    prediction = classifier.predict(waveform)
    scores = {s["label"]: s["score"] for s in classify(waveform, top_k=None)}
    np.testing.assert_allclose(prediction.probs, [scores[c] for c in CLASSES], atol=1e-5)


def test_cancel_keeps_the_previous_checkpoint_and_a_rerun_resumes(
    finetuned, tables, tiny_hubert_dir, tmp_path
):
    import shutil

    train, validation = tables
    source, uninterrupted, _, _ = finetuned
    out = tmp_path / "run"
    shutil.copytree(source / "checkpoint", out / "checkpoint")  # a previous good model
    before = {p.name: sha256(p) for p in (out / "checkpoint").iterdir()}

    stop = StopAfterStep(4)  # an epoch end (8 clips, batch 4): its validation must not be lost
    with pytest.raises(CancelledError, match="step 4"):
        ft.finetune(
            train,
            validation,
            out,
            base=str(tiny_hubert_dir),
            progress=stop.progress,
            cancel=stop.cancel,
            **SETTINGS,
        )
    assert {p.name: sha256(p) for p in (out / "checkpoint").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == [ft.WORK_DIR, "checkpoint"]  # no half-written model
    state = json.loads((out / ft.WORK_DIR / "checkpoint-4" / TRAINER_STATE_NAME).read_text())
    seconds_before_stop = state["stateful_callbacks"][ft.TrainingClock.__name__]["args"]["seconds"]
    cut_short = out / ft.WORK_DIR / "checkpoint-5"  # a save killed before trainer_state.json was written
    cut_short.mkdir()
    (cut_short / "model.safetensors").write_bytes(b"half")

    events = []
    result = ft.finetune(
        train, validation, out, base=str(tiny_hubert_dir), progress=events.append, **SETTINGS
    )
    assert any("resuming from checkpoint-4" in e.message for e in events)
    losses = [e for e in result.history if "loss" in e]
    assert [e["step"] for e in losses] == list(range(1, SETTINGS["max_steps"] + 1))
    assert result.train_seconds > seconds_before_stop > 0  # the time before the stop is counted
    assert [e["step"] for e in result.history if "eval_loss" in e] == [2, 4, 6, 8, 10, 12]
    # Resumed exactly where it stopped (same clips, same RNG state): the same losses and the
    # same best model as the uninterrupted run, published in place of the previous one.
    np.testing.assert_allclose(
        [e["loss"] for e in losses], [e["loss"] for e in uninterrupted.history if "loss" in e], rtol=1e-4
    )
    assert sha256(out / "checkpoint" / "model.safetensors") == sha256(
        source / "checkpoint" / "model.safetensors"
    )
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint"]


def test_a_stop_asked_at_the_last_step_keeps_the_finished_model(tables, tiny_hubert_dir, tmp_path):
    train, validation = tables
    stop = StopAfterStep(2)
    result = ft.finetune(
        train,
        validation,
        tmp_path,
        base=str(tiny_hubert_dir),
        progress=stop.progress,
        cancel=stop.cancel,
        **{**SETTINGS, "max_steps": 2},
    )
    assert stop.cancel() and result.best_validation  # asked to stop, but training had already finished
    assert (result.checkpoint_dir / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.checkpoint_dir.name]  # no .work left


def test_other_settings_discard_the_stopped_run_instead_of_resuming(tables, tiny_hubert_dir, tmp_path):
    train, validation = tables
    settings = {**SETTINGS, "max_steps": 2}
    stop = StopAfterStep(1)
    with pytest.raises(CancelledError):
        ft.finetune(
            train,
            validation,
            tmp_path,
            base=str(tiny_hubert_dir),
            progress=stop.progress,
            cancel=stop.cancel,
            **settings,
        )
    assert (tmp_path / ft.WORK_DIR / "checkpoint-1").is_dir()
    events = []
    ft.finetune(
        train,
        validation,
        tmp_path,
        base=str(tiny_hubert_dir),
        progress=events.append,
        **{**settings, "seed": 1},
    )
    assert not any("resuming" in e.message for e in events)


def test_missing_base_says_how_to_fix(tables, tmp_path):
    train, validation = tables
    with pytest.raises(ModelUnavailableError, match="ANIMAL_AUDIO_HUBERT"):
        ft.finetune(train, validation, tmp_path / "out", base=str(tmp_path / "no-such-model"), device="cpu")


def test_empty_validation_is_a_dataset_error(tables, tiny_hubert_dir, tmp_path):
    train, validation = tables
    with pytest.raises(DatasetError, match="validation"):
        ft.finetune(train, validation.iloc[:0], tmp_path, base=str(tiny_hubert_dir), device="cpu")


def test_default_base_skips_an_already_trained_classifier(tiny_hubert_dir, tmp_path, monkeypatch):
    from animal_audio import settings

    monkeypatch.delenv(settings.ENV_HUBERT, raising=False)
    assert ft.resolve_base(None) == "facebook/hubert-base-ls960"
    assert ft.resolve_base(str(tmp_path)) == str(tmp_path)
    monkeypatch.setenv(settings.ENV_HUBERT, str(tiny_hubert_dir))  # a trained animal classifier
    assert ft.resolve_base(None) == "facebook/hubert-base-ls960"
    monkeypatch.setenv(settings.ENV_HUBERT, str(tmp_path / "local-base-copy"))
    assert ft.resolve_base(None) == str(tmp_path / "local-base-copy")


def test_training_clips_change_every_epoch_validation_clips_never(tables, tiny_hubert_dir):
    from transformers import AutoFeatureExtractor

    from animal_audio.audio import load_audio

    train, _ = tables
    extractor = AutoFeatureExtractor.from_pretrained(tiny_hubert_dir)
    waveforms = [load_audio(p) for p in train["path"][:2]]
    augmented = ft.ClipDataset(waveforms, train["target"][:2], extractor, augment=AugmentConfig(), seed=0)
    first = augmented[0]["input_values"]
    augmented.set_epoch(1)
    second = augmented[0]["input_values"]
    assert first.shape == second.shape == waveforms[0].shape
    assert not np.array_equal(first, second)
    again = ft.ClipDataset(waveforms, train["target"][:2], extractor, augment=AugmentConfig(), seed=0)
    np.testing.assert_array_equal(again[0]["input_values"], first)  # seeded: repeatable

    plain = ft.ClipDataset(waveforms, train["target"][:2], extractor)
    expected = extractor(waveforms[1], sampling_rate=16_000, return_tensors="np")["input_values"][0]
    np.testing.assert_array_equal(plain[1]["input_values"], expected)
    plain.set_epoch(3)
    np.testing.assert_array_equal(plain[1]["input_values"], expected)
    assert plain[1]["labels"] == int(train["target"][1])


def test_metrics_are_accuracy_and_macro_f1_over_all_classes():
    from transformers import EvalPrediction

    logits = np.eye(10)[[0, 1, 2, 2]]
    scores = ft.compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 2, 3])))
    assert scores["accuracy"] == pytest.approx(0.75)
    # classes 0, 1: F1 1; class 2: F1 2/3; class 3: 0; the 6 absent classes count as 0.
    assert scores["macro_f1"] == pytest.approx((1 + 1 + 2 / 3) / 10, abs=1e-6)
