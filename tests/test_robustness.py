"""The robustness lab: transforms keep the one waveform format, noise hurts, a run is scored model x transform
x level, and the CLI says clearly when RUN_DIR is not a finished run. Real YAMNet, real clips."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.compare_config import CompareConfig
from animal_audio.errors import AnimalAudioError
from animal_audio.robustness import TRANSFORMS, sweep, transform
from train.__main__ import main

#: A dog clip YAMNet zero-shot calls dog with a high probability (fold 5 of ESC-50).
CLEAR_DOG = ("dog", 5, 0)


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path):
    from animal_audio.models.yamnet import YamnetZeroShot

    return YamnetZeroShot.load(str(yamnet_tflite))


@pytest.fixture(scope="module")
def dog(clip_of) -> np.ndarray:
    return load_audio(clip_of(*CLEAR_DOG))


def test_noise_at_minus_10_db_lowers_yamnets_confidence_in_a_clear_dog(yamnet, dog: np.ndarray) -> None:
    result = sweep([yamnet], dog, "white-noise", [30, -10])
    (entry,) = result["models"]
    assert entry["class"] == "dog" and entry["original"] > 0.5, entry
    at_30, at_minus_10 = entry["probabilities"]
    assert at_minus_10 < at_30, entry
    pink = sweep(yamnet, dog, "pink-noise", [30, -10])["models"][0]["probabilities"]
    assert pink[1] < pink[0]
    # The app's whole-clip answer can stand in for the unchanged clip's prediction: the same sweep.
    again = sweep([yamnet], dog, "white-noise", [30, -10], original={yamnet.name: yamnet.predict(dog)})
    assert again["models"][0]["probabilities"] == pytest.approx(entry["probabilities"], abs=1e-5)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transform_returns_the_internal_waveform(name: str, dog: np.ndarray) -> None:
    spec = TRANSFORMS[name]
    for level in (spec.low, spec.high, *spec.run_levels):
        out = transform(dog, name, level)
        assert out.dtype == np.float32 and out.ndim == 1, (name, level)
        assert np.all(np.isfinite(out)) and float(np.max(np.abs(out))) <= 1.0, (name, level)
        expected = round(len(dog) / level) if name == "speed" else len(dog)
        assert abs(len(out) - expected) <= 2, (name, level, len(out), expected)
    assert len(transform(dog, "speed", 0.8)) / SAMPLE_RATE == pytest.approx(
        len(dog) / SAMPLE_RATE / 0.8, rel=1e-3
    )


def test_same_seed_same_clip_and_the_global_generators_are_left_alone(dog: np.ndarray) -> None:
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    a = transform(dog, "white-noise", 0, seed=3)
    assert (random.random(), np.random.random()) == expected
    assert np.array_equal(a, transform(dog, "white-noise", 0, seed=3))
    assert not np.array_equal(a, transform(dog, "white-noise", 0, seed=4))


def test_a_running_sweep_neither_fixes_nor_shifts_another_threads_global_draws(dog: np.ndarray) -> None:
    """Another thread seeding and drawing from the global generators meanwhile gets its own sequence, and
    the transforms give what they give alone (they once seeded and restored the global generators)."""
    alone = {name: transform(dog, name, TRANSFORMS[name].run_levels[1], seed=5) for name in TRANSFORMS}
    done = threading.Event()
    seen: dict[str, np.ndarray] = {}

    def transform_all() -> None:
        try:
            for _ in range(3):
                for name in TRANSFORMS:
                    seen[name] = transform(dog, name, TRANSFORMS[name].run_levels[1], seed=5)
        finally:
            done.set()

    worker = threading.Thread(target=transform_all)
    rounds = 0
    worker.start()
    while not done.is_set() or rounds < 3:
        random.seed(rounds)
        np.random.seed(rounds)
        draws = [(random.random(), float(np.random.random())) for _ in range(200)]
        random.seed(rounds)
        np.random.seed(rounds)
        assert draws == [(random.random(), float(np.random.random())) for _ in range(200)]
        rounds += 1
    worker.join()
    for name in TRANSFORMS:
        assert np.array_equal(seen[name], alone[name]), name


def test_levels_out_of_range_and_unknown_transforms_say_what_to_use(dog: np.ndarray) -> None:
    with pytest.raises(AnimalAudioError, match="-10 to 30 dB SNR"):
        transform(dog, "white-noise", -40)
    with pytest.raises(AnimalAudioError, match="choose one of white-noise"):
        transform(dog, "reverb", 1)


def test_sweep_of_both_models_gives_one_probability_per_level(
    yamnet, dog: np.ndarray, tiny_hubert_dir: Path
) -> None:
    from animal_audio.models.published import load_hubert

    hubert = load_hubert(str(tiny_hubert_dir))
    result = sweep([yamnet, hubert], dog, "pitch")
    assert result["levels"] == list(TRANSFORMS["pitch"].sweep_levels)
    assert [m["model"] for m in result["models"]] == [yamnet.name, hubert.name]
    for entry in result["models"]:
        assert len(entry["probabilities"]) == len(result["levels"])
        assert all(0.0 <= p <= 1.0 for p in entry["probabilities"])
    from animal_audio.plots.robustness import sweep_figure

    figure = sweep_figure(result)
    assert [len(trace.y) for trace in figure.data] == [len(result["levels"])] * 2


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, yamnet_tflite: Path) -> Path:
    """A finished run of both YAMNet models on the 100-clip subset (test fold 5: 20 clips)."""
    from animal_audio.pipeline import run_comparison

    out = tmp_path_factory.mktemp("robust") / "run"
    config = CompareConfig(
        data_dir=prepared_subset,
        out_dir=out,
        models=("yamnet-zeroshot", "yamnet-probe"),
        yamnet=str(yamnet_tflite),
        seed=0,
        update_latest=False,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        run_comparison(config)
    return out


def test_cli_scores_every_model_under_every_transform_and_level(small_run: Path) -> None:
    assert main(["-q", "robustness", str(small_run)]) == 0
    document = json.loads((small_run / "robustness.json").read_text())
    keys = [(r["model"], r["transform"], r["level"]) for r in document["rows"]]
    expected = {
        (m, t, float(level))
        for m in ("yamnet-zeroshot", "yamnet-probe")
        for t, s in TRANSFORMS.items()
        for level in s.run_levels
    }
    assert len(keys) == len(set(keys)) == len(expected) == 30 and set(keys) == expected
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in document["rows"])
    assert document["clips"] == 20 and document["test_fold"] == 5
    assert set(document["baseline"]) == {"yamnet-zeroshot", "yamnet-probe"}
    # Unchanged clips score what the comparison measured.
    metrics = json.loads((small_run / "metrics.json").read_text())
    for model, accuracy in document["baseline"].items():
        assert accuracy == pytest.approx(metrics["models"][model]["accuracy"], abs=1e-6)
    report = (small_run / "report.md").read_text()
    section = report.split("## Robustness", 1)[1].split("\n## ", 1)[0]
    assert section.count("| Pink noise |") == 3 and "| unchanged |" in section
    html = (small_run / "robustness.html").read_text()
    assert 'src="plotly.min.js"' in html, "the chart works offline, with the run's own plotly.js"


def test_a_folder_that_is_not_a_finished_run_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "robustness", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert "No finished run in" in error and "python -m train compare" in error and "Traceback" not in error


def test_the_runs_yamnet_models_share_one_pass_per_clip(small_run: Path, clip_of) -> None:
    from animal_audio.robustness_run import load_run_models

    outputs: dict = {}
    shared = load_run_models(small_run, remember=outputs)
    alone = load_run_models(small_run)
    dog = load_audio(clip_of(*CLEAR_DOG))
    for name in ("yamnet-zeroshot", "yamnet-probe"):
        assert np.allclose(shared[name].predict(dog).probs, alone[name].predict(dog).probs, atol=1e-6)
    assert len(outputs) == 1, "the zero-shot and the probe asked YAMNet about the one clip once"
