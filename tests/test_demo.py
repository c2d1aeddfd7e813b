"""The app's logic without a browser: both models on real clips, status, bad input, one load, training job."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animal_audio import demo
from animal_audio.errors import AudioError, CancelledError, ModelUnavailableError
from animal_audio.labels import CLASSES, COLORS


@pytest.fixture(scope="module")
def registry(tiny_hubert_dir: Path, yamnet_tflite: Path) -> demo.Registry:
    """Real YAMNet TFLite and a tiny HuBERT classifier, shared by the tests of this module."""
    return demo.Registry(hubert=str(tiny_hubert_dir), yamnet=str(yamnet_tflite), use_latest_run=False)


def _bars(figure) -> tuple[list[str], list[str], list[float]]:
    bar = figure.data[0]
    return list(bar.y), list(bar.marker.color), list(bar.x)


def test_classify_real_clips_with_both_models(registry: demo.Registry, clip_of) -> None:
    for label, index in (("dog", 0), ("cow", 1), ("crow", 0)):
        result = demo.classify(str(clip_of(label, 5, index)), registry)
        payload = json.loads(json.dumps(result.payload))  # the API answer is plain JSON
        assert payload["labels"] == list(CLASSES)
        hubert, yamnet = payload["models"]["hubert"], payload["models"]["yamnet"]
        for entry in (hubert, yamnet):
            assert entry["available"] is True
            assert list(entry["probabilities"]) == list(CLASSES)
            assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
            assert entry["label"] in CLASSES and entry["seconds"] > 0
        assert hubert["model"] == "hubert"
        # YAMNet zero-shot knows these animals from AudioSet; it names them right on these clips.
        assert yamnet["model"] == "yamnet-zeroshot" and yamnet["label"] == label
        assert len(yamnet["top_audioset"]) == demo.TOP_AUDIOSET and 0 <= yamnet["other_mass"] <= 1
        assert payload["agree"] == (hubert["label"] == yamnet["label"])
        assert payload["clip"]["seconds"] == pytest.approx(5.0, abs=0.01)

    # Both charts: same class order and colours, the top class drawn differently from the rest.
    names_h, colors_h, _ = _bars(result.figures[demo.HUBERT])
    names_y, colors_y, values_y = _bars(result.figures[demo.YAMNET])
    assert names_h == names_y and colors_h == colors_y == [COLORS[c] for c in CLASSES]
    opacity = list(result.figures[demo.YAMNET].data[0].marker.opacity)
    assert opacity[CLASSES.index("crow")] == 1.0 and sorted(opacity)[-2] < 1.0
    assert values_y[CLASSES.index("crow")] == max(values_y)
    assert "crow" in result.summary.lower() and "ms" in result.summary
    assert "What YAMNet hears" in result.audioset
    assert result.figures["waveform"].data and result.figures["spectrogram"].data


def test_long_clip_is_trimmed_with_a_notice(registry: demo.Registry, clip_of, tmp_path: Path) -> None:
    wave, rate = sf.read(clip_of("dog", 5, 0), dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(wave, 8), rate)  # 40 s
    result = demo.classify(str(long), registry, figures=False)
    assert result.payload["clip"]["trimmed"] is True
    assert result.payload["clip"]["seconds"] == pytest.approx(30.0, abs=0.01)
    assert any("first 30 s" in note for note in result.notes)
    assert result.payload["models"]["yamnet"]["available"]


def test_app_works_and_explains_when_hubert_is_unavailable(
    yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ANIMAL_AUDIO_HUBERT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the default hub id cannot be fetched here
    registry = demo.Registry(yamnet=str(yamnet_tflite), runs_dir=tmp_path / "no-runs")
    result = demo.classify(str(clip_of("dog", 5, 0)), registry)
    hubert = result.payload["models"]["hubert"]
    assert hubert["available"] is False and "probabilities" not in hubert
    assert hubert["state"] == demo.NOT_TRAINED  # the default base model has no animal head
    assert "ANIMAL_AUDIO_HUBERT" in hubert["fix"] and "Train & compare" in hubert["fix"]
    assert result.payload["models"]["yamnet"]["label"] == "dog"
    assert result.payload["agree"] is None
    assert not result.figures[demo.HUBERT].data  # a message, not bars
    panel = demo.status_markdown(registry.status())
    assert "How to fix" in panel and "YAMNet: ready" in panel


def test_untrained_hubert_head_is_not_trained_yet(yamnet_tflite: Path, clip_of, tmp_path: Path) -> None:
    """A bare HuBERT (no classification head) is reported as 'not trained yet', its outputs never shown."""
    from transformers import HubertConfig, HubertModel

    bare = tmp_path / "bare-hubert"
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    HubertModel(config).save_pretrained(bare)
    registry = demo.Registry(hubert=str(bare), yamnet=str(yamnet_tflite), use_latest_run=False)
    result = demo.classify(str(clip_of("cat", 5, 0)), registry, figures=False)
    hubert = result.payload["models"]["hubert"]
    assert hubert["state"] == demo.NOT_TRAINED and "probabilities" not in hubert
    panel = demo.status_markdown(registry.status())
    assert "not trained yet" in panel and "would be random" in panel


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _wav(d, np.zeros(16_000, dtype=np.float32)), "silent"),
        (lambda d: _write(d / "broken.wav", b"RIFF\x24\x00\x00\x00WAVEfmt garbage"), "corrupt"),
        (
            lambda d: _write(d / "notes.txt", b"this is not audio\n" * 20),
            "corrupt or in an unsupported format",
        ),
        (lambda d: _write(d / "empty.wav", b""), "empty"),
        (lambda d: _wav(d, 0.5 * np.ones(800, dtype=np.float32)), "too short"),
        (lambda d: None, "No audio yet"),
    ],
)
def test_bad_inputs_give_clear_messages_and_load_no_model(make, message: str, tmp_path: Path) -> None:
    registry = demo.Registry(hubert="unused", yamnet="unused", use_latest_run=False)
    source = make(tmp_path)
    with pytest.raises(AudioError, match=message):
        demo.classify(None if source is None else str(source), registry)
    assert not registry.loaded("yamnet") and not registry.loaded("hubert")


def _wav(directory: Path, samples: np.ndarray) -> Path:
    path = directory / "clip.wav"
    sf.write(path, samples, 16_000)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_registry_loads_each_model_once_for_concurrent_requests(yamnet_tflite: Path) -> None:
    registry = demo.Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    calls = []
    original = registry._load_zeroshot

    def counting() -> demo.LoadedModel:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # a slow load: every thread arrives while it runs
        return original()

    registry._load_zeroshot = counting  # type: ignore[method-assign]
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(registry.get("zeroshot"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    assert registry.get(demo.YAMNET).classifier is got[0].classifier  # type: ignore[attr-defined]


def test_a_model_still_loading_does_not_hold_up_the_other(
    yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = demo.Registry(hubert="slow", yamnet=str(yamnet_tflite), use_latest_run=False)
    release, loading = threading.Event(), threading.Event()

    def slow_hubert() -> demo.LoadedModel:
        loading.set()
        release.wait(10)
        raise ModelUnavailableError("gave up")

    registry._load_hubert = slow_hubert  # type: ignore[method-assign]
    warm_up = threading.Thread(target=lambda: pytest.raises(ModelUnavailableError, registry.get, "hubert"))
    warm_up.start()
    assert loading.wait(5)  # the warm-up thread holds HuBERT's load lock
    monkeypatch.setattr("animal_audio.demo.answer.LOAD_WAIT_SECONDS", 0.2)
    try:
        result = demo.classify(str(clip_of("dog", 5, 0)), registry, figures=False)
    finally:
        release.set()
        warm_up.join()
    assert result.payload["models"]["hubert"]["state"] == demo.LOADING
    assert result.payload["models"]["yamnet"]["label"] == "dog"
    assert "still loading" in result.summary


def test_training_without_data_says_what_to_press(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from animal_audio.errors import DatasetError

    monkeypatch.setenv("ANIMAL_AUDIO_ESC50", str(tmp_path / "no-esc50"))
    config = demo.make_config(["yamnet-zeroshot"], "folds", 1, data_dir=tmp_path / "no-data")
    with pytest.raises(DatasetError, match="Get the ESC-50 clips"):
        demo.require_data(config)
    assert "about" in demo.estimate_text(config)  # the estimate works before the data is there


def test_only_one_training_job_at_a_time_and_cancel_stops_it() -> None:
    started = threading.Event()

    def runner(config, progress, cancel):
        from animal_audio.progress import check_cancel, report

        started.set()
        for i in range(200):
            report(progress, "yamnet-probe embeddings", i / 200, f"{i}/200 clips")
            check_cancel(cancel, "the test run")
            time.sleep(0.02)
        raise AssertionError("cancel was not seen")

    class Config:
        models = ("yamnet-probe",)
        protocol = "folds"

    job = demo.TrainingJob(runner)
    job.start(Config())
    assert started.wait(5)
    with pytest.raises(demo.JobBusyError, match="already running"):
        job.start(Config())
    assert job.cancel() is True
    assert job.wait(10)
    snap = job.snapshot()
    assert snap.cancelled and not snap.running and snap.run_dir is None
    assert "Stopped during the test run" in snap.error
    assert any("embeddings" in line for line in snap.log) and len(snap.log) < 40  # throttled
    assert job.cancel() is False
    assert issubclass(CancelledError, Exception)


def test_trained_run_is_shown_and_its_hubert_is_used(
    prepared_subset: Path, tiny_hubert_dir: Path, yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    """A quick comparison (probes) through the job runner; its heads then answer in the Classify tab."""
    from animal_audio.pipeline import CompareConfig

    runs = tmp_path / "runs"
    config = CompareConfig(
        data_dir=prepared_subset,
        models=("hubert-probe", "yamnet-probe"),
        hubert=str(tiny_hubert_dir),
        yamnet=str(yamnet_tflite),
        runs_dir=runs,
        out_dir=runs / "quick",
    )
    assert "about" in demo.estimate_text(config)
    registry = demo.Registry(yamnet=str(yamnet_tflite), runs_dir=runs)
    job = demo.TrainingJob()
    job.start(config, on_done=registry.use_run)
    assert job.wait(300)
    snap = job.snapshot()
    assert snap.error is None and snap.run_dir == runs / "quick"

    view = demo.load_run_view(snap.run_dir)
    assert view is not None and view.models == ["hubert-probe", "yamnet-probe"]
    assert list(view.table["model"]) == ["HuBERT + linear probe", "YAMNet + linear probe"]
    assert view.table["accuracy"].str.endswith("%").all()
    assert set(view.figures["confusion"]) == {"hubert-probe", "yamnet-probe"}
    assert set(view.misclassified.columns) >= {"model", "clip", "true", "predicted"}
    if not view.misclassified.empty:
        assert demo.clip_path(view.misclassified.iloc[0]["clip"], prepared_subset) is not None

    result = demo.classify(str(clip_of("sheep", 5, 1)), registry, figures=False)
    models = result.payload["models"]
    assert models["hubert"]["model"] == "hubert-probe" and "quick" in models["hubert"]["source"]
    assert models["yamnet"]["model"] == "yamnet-probe"
    assert models["yamnet"]["zeroshot"]["label"] in CLASSES  # YAMNet's own view is still reported
