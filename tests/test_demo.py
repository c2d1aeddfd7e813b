"""The app's logic without a browser: both models on real clips, the registry, the Train tab's job and plan."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animal_audio.compare_config import CompareConfig
from animal_audio.demo.classify import TOP_AUDIOSET, classify
from animal_audio.demo.models import ZEROSHOT, Registry
from animal_audio.demo.text import (
    HUBERT,
    LOADING,
    NOT_LOADED,
    NOT_TRAINED,
    UNAVAILABLE,
    YAMNET,
    status_markdown,
)
from animal_audio.demo.training import (
    JobBusyError,
    TrainingJob,
    check_start,
    estimate_text,
    make_config,
    require_data,
)
from animal_audio.errors import (
    AnimalAudioError,
    AudioError,
    DatasetError,
    ModelUnavailableError,
    NotTrainedError,
)
from animal_audio.examples import clip_path
from animal_audio.labels import CLASSES, COLORS
from animal_audio.models.hubert import HubertClassifier
from animal_audio.models.yamnet import YamnetModel
from animal_audio.run_view import load_run_view
from animal_audio.runs import finished_runs, newest_trained_model, trained_model


@pytest.fixture(scope="module")
def registry(tiny_hubert_dir: Path, yamnet_tflite: Path) -> Registry:
    """Real YAMNet TFLite and a tiny HuBERT classifier, shared by the tests of this module."""
    return Registry(hubert=str(tiny_hubert_dir), yamnet=str(yamnet_tflite), use_latest_run=False)


class FakeHubert:
    """Stands in for a loaded HuBERT: the registry only needs a name, a description and predictions."""

    name = "hubert"

    def __init__(self, source: str) -> None:
        self.source = source

    def describe(self) -> str:
        return f"fake HuBERT from {self.source}"

    def predict(self, waveform: np.ndarray):
        raise AssertionError("not used")


def _bars(figure) -> tuple[list[str], list[str], list[float]]:
    bar = figure.data[0]
    return list(bar.y), list(bar.marker.color), list(bar.x)


def test_classify_real_clips_with_both_models(registry: Registry, clip_of) -> None:
    for label, index in (("dog", 0), ("cow", 1), ("crow", 0)):
        result = classify(str(clip_of(label, 5, index)), registry)
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
        assert len(yamnet["top_audioset"]) == TOP_AUDIOSET and 0 <= yamnet["other_mass"] <= 1
        assert payload["agree"] == (hubert["label"] == yamnet["label"])
        assert payload["clip"]["seconds"] == pytest.approx(5.0, abs=0.01)

    # Both charts: same class order and colours, the top class drawn differently from the rest.
    names_h, colors_h, _ = _bars(result.figures[HUBERT])
    names_y, colors_y, values_y = _bars(result.figures[YAMNET])
    assert names_h == names_y and colors_h == colors_y == [COLORS[c] for c in CLASSES]
    opacity = list(result.figures[YAMNET].data[0].marker.opacity)
    assert opacity[CLASSES.index("crow")] == 1.0 and sorted(opacity)[-2] < 1.0
    assert values_y[CLASSES.index("crow")] == max(values_y)
    assert "crow" in result.summary.lower() and "ms" in result.summary
    assert "What YAMNet hears" in result.audioset
    assert result.figures["waveform"].data and result.figures["spectrogram"].data


def test_long_clip_is_trimmed_with_a_notice(registry: Registry, clip_of, tmp_path: Path) -> None:
    wave, rate = sf.read(clip_of("dog", 5, 0), dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(wave, 8), rate)  # 40 s
    result = classify(str(long), registry, figures=False)
    assert result.payload["clip"]["trimmed"] is True
    assert result.payload["clip"]["seconds"] == pytest.approx(30.0, abs=0.01)
    assert any("first 30 s" in note for note in result.notes)
    assert result.payload["models"]["yamnet"]["available"]


def test_app_works_and_explains_when_hubert_is_unavailable(
    yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ANIMAL_AUDIO_HUBERT", raising=False)
    registry = Registry(yamnet=str(yamnet_tflite), runs_dir=tmp_path / "no-runs")
    result = classify(str(clip_of("dog", 5, 0)), registry)
    hubert = result.payload["models"]["hubert"]
    assert hubert["available"] is False and "probabilities" not in hubert
    assert hubert["state"] == NOT_TRAINED  # the default base model has no animal head
    assert "ANIMAL_AUDIO_HUBERT" in hubert["fix"] and "Train & compare" in hubert["fix"]
    assert result.payload["models"]["yamnet"]["label"] == "dog"
    assert result.payload["agree"] is None
    assert not result.figures[HUBERT].data  # a message, not bars
    panel = status_markdown(registry.status())
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
    registry = Registry(hubert=str(bare), yamnet=str(yamnet_tflite), use_latest_run=False)
    result = classify(str(clip_of("cat", 5, 0)), registry, figures=False)
    hubert = result.payload["models"]["hubert"]
    assert hubert["state"] == NOT_TRAINED and "probabilities" not in hubert
    panel = status_markdown(registry.status())
    assert "not trained yet" in panel and "would be random" in panel


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (NotTrainedError("The head is missing."), NOT_TRAINED),
        # The words do not decide: only the error's type means "not trained".
        (ModelUnavailableError("Offline: not trained, never trained, no trained model here."), UNAVAILABLE),
    ],
)
def test_not_trained_is_told_by_the_error_type(
    error: ModelUnavailableError, state: str, yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch
) -> None:
    def load(*args, **kwargs):
        raise error

    monkeypatch.setattr(HubertClassifier, "load", load)
    registry = Registry(hubert="some/hubert", yamnet=str(yamnet_tflite), use_latest_run=False)
    hubert = classify(str(clip_of("dog", 5, 0)), registry, figures=False).payload["models"][HUBERT]
    assert hubert["state"] == state and hubert["error"] == str(error)
    assert registry.side_status(HUBERT).state == state


def test_bad_input_is_refused_before_any_model_loads(tmp_path: Path) -> None:
    """The audio messages themselves are tested in test_audio.py (library) and test_app_api.py (API)."""
    registry = Registry(hubert="unused", yamnet="unused", use_latest_run=False)
    with pytest.raises(AudioError, match="No audio yet"):
        classify(None, registry)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16_000, dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="silent"):
        classify(str(silent), registry)
    assert not any(registry.loaded(key) for key in (HUBERT, YAMNET, ZEROSHOT))


def test_registry_loads_each_model_once_and_keeps_it(
    yamnet_tflite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library caches nothing: the registry alone keeps models alive, loading each once."""
    calls = []
    load = YamnetModel.load

    def slow_counting_load(source=None):
        calls.append(source)
        time.sleep(0.2)  # a slow load: every thread arrives while it runs
        return load(source)

    monkeypatch.setattr(YamnetModel, "load", slow_counting_load)
    registry = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(registry.get(ZEROSHOT))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    assert registry.get(ZEROSHOT) is got[0]
    assert registry.get(YAMNET) is got[0], "without a trained probe, YAMNet is the zero-shot model itself"
    registry.use_run(Path("no-such-run"))  # a new run replaces the sides' models, not zero-shot
    assert registry.get(ZEROSHOT) is got[0] and len(calls) == 1
    registry.reset()
    assert registry.get(ZEROSHOT) is not got[0] and len(calls) == 2


def test_a_load_failure_is_remembered_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(args)
        raise ModelUnavailableError("The hub cannot be reached.")

    monkeypatch.setattr(HubertClassifier, "load", unreachable)
    registry = Registry(hubert="some/hubert", use_latest_run=False)
    for _ in range(2):
        with pytest.raises(ModelUnavailableError, match="cannot be reached"):
            registry.get(HUBERT)
    assert len(calls) == 1
    registry.reset()
    with pytest.raises(ModelUnavailableError):
        registry.get(HUBERT)
    assert len(calls) == 2


def test_a_model_still_loading_does_not_hold_up_the_other(
    yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, loading = threading.Event(), threading.Event()

    def slow_hubert(*args, **kwargs):
        loading.set()
        release.wait(10)
        raise ModelUnavailableError("gave up")

    monkeypatch.setattr(HubertClassifier, "load", slow_hubert)
    monkeypatch.setattr("animal_audio.demo.classify.LOAD_WAIT_SECONDS", 0.2)
    monkeypatch.setattr("animal_audio.demo.models.LOAD_WAIT_SECONDS", 0.2)
    registry = Registry(hubert="slow", yamnet=str(yamnet_tflite), use_latest_run=False)
    warm_up_errors: list[BaseException] = []

    def warm_up() -> None:
        try:
            registry.get(HUBERT)
        except ModelUnavailableError as error:
            warm_up_errors.append(error)

    thread = threading.Thread(target=warm_up)
    thread.start()
    assert loading.wait(5)  # the warm-up thread holds HuBERT's load lock
    try:
        result = classify(str(clip_of("dog", 5, 0)), registry, figures=False)
        started = time.perf_counter()
        statuses = registry.status(load=True)  # what every page load asks: it must not wait for HuBERT
        waited = time.perf_counter() - started
    finally:
        release.set()
        thread.join()
    assert waited < 5 and [s.state for s in statuses] == [NOT_LOADED, "ready"]
    assert result.payload["models"]["hubert"]["state"] == LOADING
    assert result.payload["models"]["yamnet"]["label"] == "dog"
    assert "still loading" in result.summary
    assert [str(e) for e in warm_up_errors] == ["gave up"]


@pytest.mark.parametrize("switch", ["use_run", "reset"])
def test_a_load_still_running_when_a_run_finishes_is_not_kept(
    switch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training finishes (or a reset comes) while a request loads HuBERT: the old model is not kept."""
    run = tmp_path / "run"
    (run / "models" / "hubert-finetune").mkdir(parents=True)
    metrics = {"config": {}, "models": {"hubert-finetune": {"model_dir": "models/hubert-finetune"}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    loading, release = threading.Event(), threading.Event()
    loads: list[FakeHubert] = []

    def load(source, **kwargs):
        if not loads:  # the first load is slow
            loading.set()
            assert release.wait(10)
        loads.append(FakeHubert(source))
        return loads[-1]

    monkeypatch.setattr(HubertClassifier, "load", load)
    registry = Registry(hubert="old/hubert", use_latest_run=False)
    got: list = []
    thread = threading.Thread(target=lambda: got.append(registry.get(HUBERT)))
    thread.start()
    assert loading.wait(5)
    registry.use_run(run) if switch == "use_run" else registry.reset()  # while the first load runs
    release.set()
    thread.join(10)
    assert len(loads) == 2 and got[0].classifier is loads[1], "the request gets the model loaded again"
    assert registry.get(HUBERT) is got[0]
    if switch == "use_run":
        assert loads[1].source == str(run / "models" / "hubert-finetune")


def test_an_unexpected_load_error_is_remembered_and_told_without_details(
    yamnet_tflite: Path, clip_of, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise OSError("[Errno 5] Input/output error: '/srv/secret/probe.json'")

    monkeypatch.setattr(HubertClassifier, "load", broken)
    registry = Registry(hubert="some/hubert", yamnet=str(yamnet_tflite), use_latest_run=False)
    with caplog.at_level(logging.ERROR, logger="animal_audio.demo.models"):
        for _ in range(2):
            result = classify(str(clip_of("dog", 5, 0)), registry, figures=False)
            hubert = result.payload["models"][HUBERT]
            assert hubert["state"] == UNAVAILABLE and "OSError" not in hubert["error"]
            error_id = re.search(r"\bid ([0-9a-f]{8})\b", hubert["error"])
            assert error_id and error_id.group(1) in caplog.text, "the same id names its trace in the log"
            assert result.payload["models"][YAMNET]["label"] == "dog", "the other side still answers"
    assert len(calls) == 1, "remembered: the next request does not load again"
    panel = status_markdown(registry.status(load=True))
    assert "Retry loading" in panel and "HuBERT: unavailable" in panel
    assert "/srv/secret" not in json.dumps(result.payload) + panel + result.summary
    assert any(record.exc_info for record in caplog.records), "the details are in the server log"


def test_an_unreadable_yamnet_probe_falls_back_to_zero_shot(
    yamnet_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from animal_audio.models.probe import ProbeClassifier

    run = tmp_path / "run"
    (run / "models" / "yamnet-probe").mkdir(parents=True)
    metrics = {"config": {}, "models": {"yamnet-probe": {"model_dir": "models/yamnet-probe"}}}
    (run / "metrics.json").write_text(json.dumps(metrics))

    def unreadable(*args, **kwargs):
        raise PermissionError("[Errno 13] Permission denied: 'probe.json'")

    monkeypatch.setattr(ProbeClassifier, "from_dir", unreadable)
    registry = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    registry.use_run(run)
    assert registry.get(YAMNET) is registry.get(ZEROSHOT)


def test_retry_loads_again_only_what_failed(yamnet_tflite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yamnet_calls, hubert_calls = [], []
    load = YamnetModel.load

    def counting_load(source=None):
        yamnet_calls.append(source)
        return load(source)

    def unreachable(*args, **kwargs):
        hubert_calls.append(args)
        raise ModelUnavailableError("The hub cannot be reached.")

    monkeypatch.setattr(YamnetModel, "load", counting_load)
    monkeypatch.setattr(HubertClassifier, "load", unreachable)
    registry = Registry(hubert="some/hubert", yamnet=str(yamnet_tflite), use_latest_run=False)
    registry.status(load=True)
    yamnet = registry.get(YAMNET)
    registry.retry_failed()
    assert registry.get(YAMNET) is yamnet and registry.get(ZEROSHOT) is yamnet and len(yamnet_calls) == 1
    with pytest.raises(ModelUnavailableError):
        registry.get(HUBERT)
    assert len(hubert_calls) == 2


def test_training_without_data_says_what_to_press(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_ESC50", str(tmp_path / "no-esc50"))
    config = make_config(["yamnet-zeroshot"], "folds", 1, data_dir=tmp_path / "no-data")
    with pytest.raises(DatasetError, match="Get the ESC-50 clips"):
        require_data(config)
    with pytest.raises(DatasetError, match="Get the ESC-50 clips"):
        check_start(config, "", busy=False)
    assert "about" in estimate_text(config)  # the estimate works before the data is there
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", "my/hubert")  # a run started in the app trains the chosen one
    assert make_config(["hubert-probe"], "folds", 1).hubert == "my/hubert"


def test_a_long_run_starts_only_on_a_second_click_with_the_same_settings(
    prepared_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from random_hubert import TINY
    from transformers import HubertConfig

    HubertConfig(**TINY).save_pretrained(tmp_path / "base")  # a base that loads here: its time counts
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(tmp_path / "base"))
    long = make_config(["hubert-finetune"], "cv", 10, data_dir=prepared_subset)  # hours on a CPU
    first = check_start(long, "", busy=False)
    assert not first.start and "Press Start again" in first.warning and first.confirm_key
    assert check_start(long, first.confirm_key, busy=False).start
    other = make_config(["hubert-finetune"], "cv", 11, data_dir=prepared_subset)
    assert not check_start(other, first.confirm_key, busy=False).start, "other settings: ask again"
    assert check_start(long, "", busy=True).start, "while a job runs a click only follows it"
    quick = make_config(["yamnet-zeroshot"], "folds", 10, data_dir=prepared_subset)
    assert check_start(quick, "", busy=False) == check_start(quick, "", busy=False)
    assert check_start(quick, "", busy=False).start


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

    config = make_config(["yamnet-probe"], "folds", 1)
    job = TrainingJob(runner)
    job.start(config)
    assert started.wait(5)
    with pytest.raises(JobBusyError, match="already running"):
        job.start(config)
    assert job.cancel() is True
    assert job.wait(10)
    snap = job.snapshot()
    assert snap.cancelled and not snap.running and snap.run_dir is None
    assert "Stopped during the test run" in snap.error  # the CancelledError's message, not a crash
    assert not any("unexpectedly" in line for line in snap.log)
    assert any("embeddings" in line for line in snap.log) and len(snap.log) < 40  # throttled
    assert job.cancel() is False


def test_the_job_log_keeps_messages_and_thins_out_ticks() -> None:
    def runner(config, progress, cancel):
        from animal_audio.progress import report

        report(progress, "hubert-finetune", 0.0, "loading 240 clips")
        report(progress, "hubert-finetune", 0.0, "resuming from checkpoint-20")
        for step in range(1, 101):
            report(progress, "hubert-finetune", step / 100, f"epoch {step / 50:.2f}/2, step {step}/100")
            if step in (50, 100):
                report(progress, "hubert-finetune", step / 100, f"validation after step {step}: accuracy 0.5")
        raise AnimalAudioError("end of the test run")

    job = TrainingJob(runner)
    job.start(make_config(["hubert-finetune"], "folds", 2))
    assert job.wait(10)
    log = job.snapshot().log
    for kept in ("loading 240", "resuming", "validation after step 50", "validation after step 100"):
        assert any(kept in line for line in log), kept
    assert any("step 100/100 (100%)" in line for line in log) and len(log) < 20


def test_trained_model_is_found_where_metrics_json_says(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "models" / "hubert-probe" / "test-fold-5").mkdir(parents=True)
    (run / "models" / "hubert-finetune" / "checkpoint").mkdir(parents=True)
    (run / "models" / "yamnet-probe").mkdir(parents=True)  # on disk, but not recorded: not used
    metrics = {
        "config": {"hubert": "my/hubert", "yamnet": None},
        "models": {
            "hubert-probe": {"model_dir": "models/hubert-probe/test-fold-5"},
            "hubert-finetune": {"model_dir": "models/hubert-finetune/checkpoint"},
            "yamnet-zeroshot": {"model_dir": None},
            "yamnet-probe": {"model_dir": "models/yamnet-probe/gone"},
        },
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    probe = trained_model(run, "hubert-probe")
    assert probe is not None and probe.directory == run / "models/hubert-probe/test-fold-5"
    assert probe.base == "my/hubert" and probe.run_dir == run
    finetuned = trained_model(run, "hubert-finetune")
    assert finetuned is not None and finetuned.directory.name == "checkpoint"
    assert trained_model(run, "yamnet-zeroshot") is None
    assert trained_model(run, "yamnet-probe") is None, "a recorded folder that is gone"
    assert trained_model(tmp_path / "unfinished", "hubert-probe") is None


def test_the_newest_run_that_trained_a_model_is_found(tmp_path: Path) -> None:
    """A run in which a model could not run does not hide the one an earlier run trained (the YAMNet
    probe too: a later run without it left the app on zero-shot)."""
    runs = tmp_path / "runs"
    for i, name in enumerate(("old", "mid", "new")):
        models = {"yamnet-zeroshot": {"model_dir": None}}
        if name != "new":
            (runs / name / "models" / "yamnet-probe").mkdir(parents=True)
            models["yamnet-probe"] = {"model_dir": "models/yamnet-probe", "base": f"yamnet-{name}"}
        (runs / name).mkdir(parents=True, exist_ok=True)
        (runs / name / "metrics.json").write_text(json.dumps({"models": models}))
        os.utime(runs / name / "metrics.json", (1000 + i, 1000 + i))
    assert finished_runs(runs) == [runs / "new", runs / "mid", runs / "old"]
    assert finished_runs(tmp_path / "nowhere") == []
    found = newest_trained_model(finished_runs(runs), "yamnet-probe")
    assert found is not None and found.run_dir == runs / "mid" and found.name == "yamnet-probe"
    found = newest_trained_model(finished_runs(runs), "yamnet-probe", base="yamnet-old")
    assert found is not None and found.run_dir == runs / "old"
    assert newest_trained_model([runs / "new"], "yamnet-probe") is None

    registry = Registry(yamnet="unused", runs_dir=runs)
    assert registry.run_dir() == runs / "new"
    assert "linear head trained in run mid" in registry.side_status(YAMNET).origin
    registry = Registry(yamnet="unused", runs_dir=runs, use_latest_run=False)
    registry.use_run(runs / "new")  # told not to look at the runs folder: only the run in use counts
    assert "zero-shot" in registry.side_status(YAMNET).origin


def test_trained_run_is_shown_and_its_models_are_used(
    prepared_subset: Path, tiny_hubert_dir: Path, yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    """A quick comparison (probes) through the job runner; its heads then answer in the Classify tab."""
    runs = tmp_path / "runs"
    config = CompareConfig(
        data_dir=prepared_subset,
        models=("hubert-probe", "yamnet-probe"),
        hubert=str(tiny_hubert_dir),
        yamnet=str(yamnet_tflite),
        runs_dir=runs,
        out_dir=runs / "quick",
    )
    registry = Registry(yamnet=str(yamnet_tflite), runs_dir=runs)
    job = TrainingJob()
    job.start(config, on_done=registry.use_run)
    assert job.wait(300)
    snap = job.snapshot()
    assert snap.error is None and snap.run_dir == runs / "quick"

    view = load_run_view(snap.run_dir)
    assert view is not None and view.models == ["hubert-probe", "yamnet-probe"]
    assert list(view.table["model"]) == ["HuBERT + linear probe", "YAMNet + linear probe"]
    assert view.table["accuracy"].str.endswith("%").all()
    assert set(view.figures["confusion"]) == {"hubert-probe", "yamnet-probe"}
    assert set(view.misclassified.columns) >= {"model", "clip", "true", "predicted"}
    # A probe on a tiny random HuBERT gets clips wrong; each one can be played from the data folder.
    assert "HuBERT + linear probe" in set(view.misclassified["model"])
    assert clip_path(view.misclassified.iloc[0]["clip"], prepared_subset) is not None

    result = classify(str(clip_of("sheep", 5, 1)), registry, figures=False)
    models = result.payload["models"]
    assert models["hubert"]["model"] == "hubert-probe" and "quick" in models["hubert"]["source"]
    assert models["yamnet"]["model"] == "yamnet-probe"
    assert models["yamnet"]["zeroshot"]["label"] in CLASSES  # YAMNet's own view is still reported
    status = registry.side_status(YAMNET)
    assert "quick" in status.origin and registry.get(YAMNET).lock is registry.get(ZEROSHOT).lock
