"""Issue 13's views without a browser: the timeline figure, the robustness lab on real clips (real YAMNet, tiny
HuBERT) with a visitor's request checked on the server, and a run scored on the app's one job."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animal_audio.access import Access, AccessError
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.demo.models import Registry
from animal_audio.demo.training import TrainingJob
from animal_audio.errors import AnimalAudioError, AudioError, CheckpointError
from animal_audio.labels import CLASSES, display
from animal_audio.plots.timeline import heatmaps, timeline_figure
from animal_audio.robustness import TRANSFORMS
from animal_audio.robustness_lab import (
    MAX_LEVELS,
    checked_levels,
    checked_transform,
    lab_answer,
    lab_sweep,
    lab_try,
    slider_level,
    start_scoring,
)

#: As tests/test_timeline.py: 2.5 s of a dog, then 2.5 s of a rooster (both from ESC-50's test fold).
HALF = int(2.5 * SAMPLE_RATE)
ADMIN = Access(True, who="admin", admin=True)


@pytest.fixture(scope="module")
def registry(tiny_hubert_dir: Path, yamnet_tflite: Path) -> Registry:
    return Registry(hubert=str(tiny_hubert_dir), yamnet=str(yamnet_tflite), use_latest_run=False)


@pytest.fixture(scope="module")
def dog_then_rooster(clip_of, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wave = np.concatenate(
        [load_audio(clip_of("dog", 5, 0))[:HALF], load_audio(clip_of("rooster", 5, 3))[:HALF]]
    )
    path = tmp_path_factory.mktemp("lab") / "dog-then-rooster.wav"
    sf.write(path, wave, SAMPLE_RATE)
    return path


def test_timeline_figure_has_a_heatmap_per_model_on_the_clips_time_axis(
    registry: Registry, dog_then_rooster: Path
) -> None:
    from animal_audio.demo.classify import classify

    result = classify(str(dog_then_rooster), registry)
    figure = result.figures["timeline"]
    maps = heatmaps(figure)
    assert len(maps) == 2  # both models answered
    for heatmap in maps:
        assert list(heatmap.y) == [display(c) for c in CLASSES]
        x = np.asarray(heatmap.x)
        assert x[0] == 0 and x[-1] == pytest.approx(5.0) and (np.diff(x) > 0).all()
        assert np.asarray(heatmap.z).shape == (len(CLASSES), len(x) - 1)
        # The last window runs past the clip's end (0.96 s every 0.48 s; 1 s every 0.5 s): clamped.
        assert heatmap.customdata[0][-1].endswith("–5.00 s")
    yamnet = result.payload["models"]["yamnet"]["timeline"]
    assert yamnet["start_seconds"][-1] + yamnet["window_seconds"] > 5.0
    z = np.asarray(maps[1].z)  # YAMNet's row: the dog first, the rooster last
    assert CLASSES[int(np.argmax(z[:, 0]))] == "dog" and CLASSES[int(np.argmax(z[:, -1]))] == "rooster"
    assert figure.layout.xaxis.range == (0, 5.0) or list(figure.layout.xaxis.range) == [0, 5.0]


def test_a_model_without_a_timeline_gets_a_line_instead_of_a_heatmap() -> None:
    timeline = {
        "start_seconds": [0, 0.5],
        "window_seconds": 1.0,
        "probabilities": np.full((2, 10), 0.1).tolist(),
    }
    figure = timeline_figure(
        np.zeros(SAMPLE_RATE, np.float32), {"YAMNet": timeline, "HuBERT": "HuBERT: not trained yet"}
    )
    assert len(heatmaps(figure)) == 1
    assert "HuBERT: not trained yet" in [a.text for a in figure.layout.annotations]
    heatmap = heatmaps(figure)[0]  # cells tile the 1 s clip around the windows' centres (0.5, 0.75: clamped)
    assert list(heatmap.x) == [0.0, 0.625, 1.0] and list(heatmap.customdata[0]) == [
        "0.00–1.00 s",
        "0.50–1.00 s",
    ]


def test_a_visitors_request_is_checked_with_messages_that_say_what_to_send() -> None:
    noise = TRANSFORMS["white-noise"]
    for name in ("reverb", "x" * 10_000, None, 3, ["speed"]):
        with pytest.raises(AnimalAudioError, match="Unknown transform: choose one of white-noise") as error:
            checked_transform(name)
        assert "xxxx" not in str(error.value)  # what was sent is not echoed back
    assert checked_transform("pitch").name == "pitch"
    assert checked_levels(noise, [30, -10]) == [30.0, -10.0]
    assert checked_levels(noise, "30, 10; -10") == [30.0, 10.0, -10.0]
    assert checked_levels(noise, 5) == [5.0]
    assert checked_levels(noise, None) == checked_levels(noise, []) == list(noise.sweep_levels)
    with pytest.raises(AnimalAudioError, match=f"At most {MAX_LEVELS} levels"):
        checked_levels(noise, list(range(100)))
    with pytest.raises(AnimalAudioError, match=f"At most {MAX_LEVELS} levels"):
        checked_levels(noise, "1," * 1000)
    with pytest.raises(AnimalAudioError, match="-10 to 30 dB SNR"):
        checked_levels(noise, [30, -40])
    for bad in ([True], [{"a": 1}], ["loud"], [float("nan")], [[1, 2]]):
        with pytest.raises(AnimalAudioError, match="-10 to 30"):
            checked_levels(noise, bad)
    assert slider_level("phone", {}) == 8000.0 and slider_level("pitch", {"pitch": -2.5}) == -2.5


def test_the_lab_answers_for_both_models_and_noise_lowers_yamnets_dog(registry: Registry, clip_of) -> None:
    answer = lab_answer(str(clip_of("dog", 5, 0)), registry, "white-noise", [30, -10])
    payload = answer.payload
    assert payload["transform"] == "white-noise" and payload["levels"] == [30.0, -10.0]
    first = payload["original"]
    assert first["yamnet"]["label"] == "dog" and first["hubert"]["available"]
    assert [len(w) for w in answer.changed] == [5 * SAMPLE_RATE] * 2
    for result in payload["results"]:
        for side in ("hubert", "yamnet"):
            entry = result["models"][side]
            assert list(entry["probabilities"]) == list(CLASSES) and entry["label"] in CLASSES
            assert entry["original_class_probability"] == entry["probabilities"][first[side]["label"]]
    at_30, at_minus_10 = (r["models"]["yamnet"]["original_class_probability"] for r in payload["results"])
    assert at_minus_10 < at_30


def test_try_shows_both_answers_and_what_the_models_heard(registry: Registry, clip_of) -> None:
    shown = lab_try(str(clip_of("crow", 5, 0)), registry, "pitch", 2)
    assert shown.summary.startswith("**Pitch at +2 semitones**") and "YAMNet" in shown.summary
    assert set(shown.figures) == {"hubert", "yamnet"}
    assert all(f.data and f.data[0].type == "bar" for f in shown.figures.values())
    rate, samples = shown.audio
    assert rate == SAMPLE_RATE and samples.dtype == np.int16 and len(samples) == 5 * SAMPLE_RATE


def test_sweep_draws_one_line_per_model_over_the_transforms_levels(registry: Registry, clip_of) -> None:
    result, figure = lab_sweep(str(clip_of("dog", 5, 0)), registry, "speed")
    levels = list(TRANSFORMS["speed"].sweep_levels)
    assert result["levels"] == levels and len(figure.data) == 2
    assert all(len(trace.y) == len(levels) and all(0 <= p <= 1 for p in trace.y) for trace in figure.data)


def test_no_clip_is_a_message(registry: Registry) -> None:
    with pytest.raises(AudioError, match="No audio yet"):
        lab_answer(None, registry, "speed", [1.1])


@pytest.fixture(scope="module")
def zero_shot_run(
    tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, yamnet_tflite: Path
) -> Path:
    """A finished run of YAMNet zero-shot (no training) on the 100-clip subset."""
    from animal_audio.compare_config import CompareConfig
    from animal_audio.pipeline import run_comparison

    runs = tmp_path_factory.mktemp("lab-runs")
    config = CompareConfig(
        prepared_subset, models=("yamnet-zeroshot",), yamnet=str(yamnet_tflite), runs_dir=runs
    )
    run_comparison(replace(config, out_dir=runs / "zs", update_latest=False))
    return runs / "zs"


def test_scoring_runs_on_the_one_job_for_admins_and_results_show_it(
    zero_shot_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """score_run itself is tested in test_robustness.py; here a stand-in writes its outputs."""
    from animal_audio import robustness_run
    from animal_audio.run_view import try_run_view

    release = threading.Event()

    def score(run_dir, *, progress=None, cancel=None):
        release.wait(10)
        rows = [
            {"model": "yamnet-zeroshot", "transform": n, "level": float(level), "accuracy": 0.5}
            for n, spec in TRANSFORMS.items()
            for level in spec.run_levels
        ]
        document = {
            "rows": rows,
            "baseline": {"yamnet-zeroshot": 0.75},
            "test_fold": 5,
            "clips": 20,
            "seed": 0,
        }
        metrics = robustness_run.load_run(run_dir).metrics
        robustness_run.write_outputs(Path(run_dir), metrics, document)

    monkeypatch.setattr(robustness_run, "score_run", score)
    job = TrainingJob()
    with pytest.raises(AccessError, match="not allowed"):
        start_scoring(job, zero_shot_run, Access(False, reason="Training is not allowed here."))
    with pytest.raises(CheckpointError, match="No finished run"):
        start_scoring(job, zero_shot_run.parent / "nowhere", ADMIN)
    before, _ = try_run_view(zero_shot_run)
    assert before is not None and before.robustness is None
    started, message = start_scoring(job, zero_shot_run, ADMIN)
    assert started and "Results" in message
    again, busy = start_scoring(job, zero_shot_run, ADMIN)  # never two at once, nor beside a training run
    assert not again and "already running" in busy
    release.set()
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.error is None and snap.run_dir == zero_shot_run, snap.log
    after, problem = try_run_view(zero_shot_run)  # a new robustness.json: a new view, not the cached one
    assert problem is None and after is not None and "robustness" in after.figures
    table = after.robustness
    assert list(table.columns) == ["change", "level", "YAMNet zero-shot"]
    assert table.iloc[0].tolist()[:1] == ["unchanged"] and len(table) == 1 + 15
