"""YAMNet's "not one of the ten?": real YAMNet (TFLite), ESC-50's test fold, sounds it hears as something else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animal_audio import esc50
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.demo.classify import classify
from animal_audio.demo.models import Registry
from animal_audio.demo.text import YAMNET
from animal_audio.labels import AUDIOSET_TO_ANIMAL
from animal_audio.models.yamnet import YamnetZeroShot
from animal_audio.open_set import (
    GENERIC_AUDIOSET,
    OTHER_ANIMALS,
    YAMNET_ANIMAL_MARGIN,
    YAMNET_MIN_ANIMAL_SHARE,
    YAMNET_SOUND_MARGIN,
    fit_yamnet_thresholds,
    sounds_like,
    verdict_line,
    yamnet_verdict,
)

REPO = Path(__file__).resolve().parents[1]
SECONDS = 5
TEST_FOLD = 5
MAX_TEST_FLAGGED = 0.05


def _seconds() -> np.ndarray:
    return np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE


def sine(hz: float = 2000.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * _seconds())).astype(np.float32)


def white_noise(seed: int = 0) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(SECONDS * SAMPLE_RATE)).astype(np.float32)


def arpeggio() -> np.ndarray:
    """C major broken chord, a note every 0.25 s, each with five harmonics and a decay: a keyboard."""
    step = SAMPLE_RATE // 4
    t = np.arange(step) / SAMPLE_RATE
    notes = (261.63, 329.63, 392.0, 523.25)
    tones = [
        sum(0.6**h * np.sin(2 * np.pi * f * (h + 1) * t) for h in range(5)) * np.exp(-3 * t) for f in notes
    ]
    wave = np.concatenate([tones[k % len(notes)] for k in range(SECONDS * 4)])
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def zeroshot(yamnet_tflite: Path) -> YamnetZeroShot:
    return YamnetZeroShot.load(str(yamnet_tflite))


def test_at_most_five_percent_of_the_test_fold_is_flagged(zeroshot: YamnetZeroShot, esc50_dir: Path) -> None:
    table = esc50.read_metadata(esc50_dir)
    test = table[table["fold"] == TEST_FOLD]
    verdicts = [
        yamnet_verdict(zeroshot.predict(load_audio(esc50_dir / "audio" / name)).extras)
        for name in test["filename"]
    ]
    flagged = [v for v in verdicts if v.none_of_the_ten]
    assert len(test) == 80
    assert len(flagged) / len(test) <= MAX_TEST_FLAGGED, [v.reason for v in flagged]
    assert all(v.reason for v in verdicts)


@pytest.mark.parametrize(
    ("make", "expected"),
    [(sine, "Sine wave"), (white_noise, "White noise"), (arpeggio, "Music")],
    ids=["sine", "white-noise", "arpeggio"],
)
def test_what_yamnet_hears_as_something_else_is_flagged_and_named(
    zeroshot: YamnetZeroShot, make, expected: str
) -> None:
    prediction = zeroshot.predict(make())
    verdict = yamnet_verdict(prediction.extras)
    # The zero-shot mapping still names an animal (its charts stay); the verdict says it is none of them.
    assert prediction.label
    assert prediction.extras["top_audioset"][0][0] == expected
    assert verdict.none_of_the_ten is True and verdict.heard == expected
    assert expected in verdict.reason


def test_silence_is_none_of_the_ten_and_named_silence(zeroshot: YamnetZeroShot) -> None:
    verdict = yamnet_verdict(zeroshot.predict(np.zeros(SECONDS * SAMPLE_RATE, dtype=np.float32)).extras)
    assert verdict.none_of_the_ten and verdict.heard == "Silence" and "ten animals" in verdict.reason


def test_a_clear_animal_is_one_of_the_ten(zeroshot: YamnetZeroShot, clip_of) -> None:
    verdict = yamnet_verdict(zeroshot.predict(load_audio(clip_of("dog", TEST_FOLD, 0))).extras)
    assert verdict.none_of_the_ten is False and verdict.heard is None


def test_another_animal_outscoring_the_ten_is_named_with_its_article() -> None:
    extras = {
        "best_mapped": 0.1,
        "best_other_animal": ["Horse", 0.1 + YAMNET_ANIMAL_MARGIN + 0.01],
        "best_other_sound": ["Speech", 0.1 + YAMNET_SOUND_MARGIN - 0.01],
        "other_mass": 0.8,
        "top_audioset": [["Horse", 0.5]],
    }
    verdict = yamnet_verdict(extras)
    assert verdict.none_of_the_ten and verdict.heard == "Horse"
    assert (
        verdict_line("YAMNet", verdict.as_dict())
        == "YAMNet: this sounds like a horse, which is not one of the ten"
    )
    assert sounds_like("Owl") == "an owl" and sounds_like("Speech") == "speech"
    # Just under both margins and above the share: one of the ten.
    extras["best_other_animal"][1] = 0.1 + YAMNET_ANIMAL_MARGIN - 0.01
    assert not yamnet_verdict(extras).none_of_the_ten
    extras["other_mass"] = 1.0 - YAMNET_MIN_ANIMAL_SHARE / 2
    assert yamnet_verdict(extras).none_of_the_ten


def test_the_class_sets_are_real_yamnet_classes_apart_from_the_ten(yamnet_tflite: Path) -> None:
    names = set(YamnetZeroShot.load(str(yamnet_tflite)).model.class_names)
    assert names >= GENERIC_AUDIOSET | OTHER_ANIMALS
    assert not (GENERIC_AUDIOSET | OTHER_ANIMALS) & set(AUDIOSET_TO_ANIMAL)
    assert not GENERIC_AUDIOSET & OTHER_ANIMALS


def test_thresholds_are_the_training_folds_fit_of_the_benchmark() -> None:
    """The module's constants are what benchmarks/open_set.py fitted on folds 1-4; refitting its clips agrees."""
    result = json.loads((REPO / "benchmarks" / "results" / "open_set.json").read_text())
    assert result["train_folds"] == [1, 2, 3, 4] and result["test_fold"] == TEST_FOLD
    expected = {
        "animal_margin": YAMNET_ANIMAL_MARGIN,
        "sound_margin": YAMNET_SOUND_MARGIN,
        "min_share": YAMNET_MIN_ANIMAL_SHARE,
    }
    assert result["fitted"] == expected
    training = [c for c in result["clips"] if c["fold"] != TEST_FOLD]
    assert {k: round(v, 4) for k, v in fit_yamnet_thresholds(training).items()} == expected
    assert result["flag_rate"]["in_module"]["test"] <= MAX_TEST_FLAGGED


def test_the_answer_carries_none_of_the_ten_and_the_verdict_line(
    yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    registry = Registry(hubert=str(tmp_path / "no-hubert"), yamnet=str(yamnet_tflite), use_latest_run=False)
    dog = classify(str(clip_of("dog", TEST_FOLD, 0)), registry, figures=False)
    entry = json.loads(json.dumps(dog.payload))["models"][YAMNET]
    assert entry["none_of_the_ten"] is False and entry["open_set"]["none_of_the_ten"] is False
    assert "not one of the ten" not in dog.summary

    path = tmp_path / "tone.wav"
    sf.write(path, sine(), SAMPLE_RATE)
    tone = classify(str(path), registry)
    entry = json.loads(json.dumps(tone.payload))["models"][YAMNET]
    assert entry["available"] and entry["none_of_the_ten"] is True
    assert entry["open_set"] == {
        "none_of_the_ten": True,
        "reason": entry["open_set"]["reason"],
        "heard": "Sine wave",
    }
    assert "YAMNet hears “Sine wave” here, which is not one of the ten animals" in tone.summary
    assert tone.summary.index("not one of the ten") < tone.summary.index(entry["display"])  # above the answer
    assert tone.figures[YAMNET].data  # the chart stays


def test_the_yamnet_probe_side_uses_the_zero_shot_scores(yamnet_tflite: Path, tmp_path: Path) -> None:
    """A trained yamnet-probe answers the YAMNet side; the verdict reads the same network's AudioSet scores."""
    from animal_audio.models.probe import LinearProbe

    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    LinearProbe().fit(rng.standard_normal((20, 1024)), np.arange(20) % 10).save(
        run / "models" / "yamnet-probe"
    )
    metrics = {"config": {}, "models": {"yamnet-probe": {"model_dir": "models/yamnet-probe"}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    registry = Registry(hubert=str(tmp_path / "no-hubert"), yamnet=str(yamnet_tflite), use_latest_run=False)
    registry.use_run(run)
    path = tmp_path / "tone.wav"
    sf.write(path, sine(), SAMPLE_RATE)
    entry = classify(str(path), registry, figures=False).payload["models"][YAMNET]
    assert entry["model"] == "yamnet-probe"
    assert entry["none_of_the_ten"] is True and entry["open_set"]["heard"] == "Sine wave"
