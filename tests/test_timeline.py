"""When each model hears what: timelines from the one forward pass of the whole-clip answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.labels import CLASSES, NUM_CLASSES
from animal_audio.models.base import softmax
from animal_audio.timeline import Frames, Timeline, window_bounds

#: The dog-then-rooster clip: 2.5 s of each, from ESC-50's test fold (YAMNet gets both clips right).
HALF = int(2.5 * SAMPLE_RATE)
DOG = ("dog", 5, 0)  # 5-203128-A-0.wav
ROOSTER = ("rooster", 5, 3)  # 5-200334-B-1.wav


@pytest.fixture(scope="module")
def dog_then_rooster(clip_of, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    wave = np.concatenate([load_audio(clip_of(*DOG))[:HALF], load_audio(clip_of(*ROOSTER))[:HALF]])
    path = tmp_path_factory.mktemp("timeline") / "dog-then-rooster.wav"
    sf.write(path, wave, SAMPLE_RATE)
    return path


def check_timeline(timeline: dict | Timeline, seconds: float, hop: float, window: float) -> None:
    """Windows every `hop` seconds from 0, of `window` seconds, covering the clip; rows sum to 1."""
    if isinstance(timeline, Timeline):
        timeline = timeline.as_dict()
    starts, probs = np.asarray(timeline["start_seconds"]), np.asarray(timeline["probabilities"])
    assert probs.shape == (len(starts), NUM_CLASSES)
    assert starts[0] == 0 and np.allclose(np.diff(starts), hop, atol=1e-3)
    assert timeline["window_seconds"] == pytest.approx(window, abs=1e-3)
    assert starts[-1] + window >= seconds - 0.03 and starts[-1] < seconds
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) and (probs >= 0).all()


def test_windows_cover_every_frame_and_the_last_is_at_least_half_long() -> None:
    for frames in (1, 10, 49, 50, 51, 249, 250, 251, 1499):
        starts, stops = window_bounds(frames, 50, 25)
        assert starts[0] == 0 and stops[-1] == frames and (np.diff(starts) == 25).all()
        assert (stops - starts <= 50).all() and stops[-1] - starts[-1] >= min(frames, 26)
    values = np.arange(12, dtype=np.float32)[:, None] * [1.0, -1.0]
    timeline = Frames(values, 0.5, window=4, stride=2).timeline(
        lambda x: softmax(np.pad(x, ((0, 0), (0, 8))))
    )
    assert list(timeline.start_seconds) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert timeline.window_seconds == 2.0 and np.allclose(timeline.probs.sum(1), 1)


def test_dog_then_rooster_yamnet_hears_the_dog_first_and_the_rooster_last(
    dog_then_rooster: Path, tiny_hubert_dir: Path, yamnet_tflite: Path
) -> None:
    """Through the app's answer (`/classify` without the server); HuBERT (tiny, random): alignment only."""
    from animal_audio.demo.classify import classify
    from animal_audio.demo.models import Registry

    registry = Registry(hubert=str(tiny_hubert_dir), yamnet=str(yamnet_tflite), use_latest_run=False)
    models = classify(str(dog_then_rooster), registry, figures=False).payload["models"]
    yamnet = models["yamnet"]["timeline"]
    check_timeline(yamnet, 5.0, hop=0.48, window=0.96)
    top = [CLASSES[int(np.argmax(row))] for row in yamnet["probabilities"]]
    starts = yamnet["start_seconds"]
    first_second = [t for s, t in zip(starts, top) if s + yamnet["window_seconds"] <= 1.0]
    last_second = [t for s, t in zip(starts, top) if s >= 4.0]
    assert first_second == ["dog"] and last_second and set(last_second) == {"rooster"}, top
    check_timeline(models["hubert"]["timeline"], 5.0, hop=0.5, window=1.0)


def test_hubert_timeline_and_whole_clip_come_from_one_pass(tiny_hubert_dir: Path, clip_of) -> None:
    """The whole-clip answer is what transformers' classifier gives (as before the timeline); the
    timeline is the same head on windows of the same frames."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from animal_audio.models.hubert import HubertClassifier

    wave = load_audio(clip_of("cow", 5, 0))[: 3 * SAMPLE_RATE + 1234]
    reference = AutoModelForAudioClassification.from_pretrained(tiny_hubert_dir).eval()
    inputs = AutoFeatureExtractor.from_pretrained(tiny_hubert_dir)(wave, sampling_rate=SAMPLE_RATE)
    with torch.inference_mode():
        logits = reference(torch.tensor(np.asarray(inputs["input_values"]))).logits.numpy()[0]
    for backend in ("auto", "torch"):
        model = HubertClassifier.load(str(tiny_hubert_dir), backend=backend)
        prediction = model.predict(wave)
        assert np.allclose(prediction.probs, softmax(logits), atol=1e-6), backend
        assert model.predict_batch([wave, wave[:SAMPLE_RATE]])[0].timeline.probs == pytest.approx(
            prediction.timeline.probs, abs=1e-6
        )
        check_timeline(prediction.timeline, len(wave) / SAMPLE_RATE, hop=0.5, window=1.0)
        # 153 frames of 20 ms: windows from 0, 0.5, ... 2.5 s; the last one (28 frames) ends the clip.
        assert len(prediction.timeline.start_seconds) == 6


def test_probe_timelines_put_the_head_on_each_window(
    tiny_hubert_dir: Path, yamnet_tflite: Path, clip_of
) -> None:
    """A probe's whole-clip answer is its head on the model's own pooled layer (transformers' HubertModel, YAMNet's
    embeddings output: not our frames pooled again), its timeline the head per window."""
    import torch
    from transformers import AutoFeatureExtractor, HubertModel

    from animal_audio.models.hubert import HubertEmbedder
    from animal_audio.models.probe import LinearProbe, ProbeClassifier
    from animal_audio.models.yamnet import YamnetModel

    waves = [load_audio(clip_of(label, 5, 0)) for label in ("dog", "rooster", "cow")]
    wave = waves[0][: 4 * SAMPLE_RATE]
    hubert = HubertEmbedder.load(str(tiny_hubert_dir))
    extractor = AutoFeatureExtractor.from_pretrained(str(tiny_hubert_dir))
    reference_model = HubertModel.from_pretrained(str(tiny_hubert_dir)).eval()
    inputs = extractor(wave, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_values
    with torch.no_grad():
        hidden = reference_model(inputs, output_hidden_states=True).hidden_states
    layer = torch.stack(hidden).mean(0) if hubert.layer == "mean" else hidden[hubert.layer]
    hubert_frames = layer[0].numpy().astype(np.float64)  # [frames, d], 20 ms each
    yamnet = YamnetModel.load(str(yamnet_tflite))
    yamnet_frames = yamnet.run(wave).embeddings.astype(np.float64)  # [frames, 1024], 0.48 s hops
    for name, embedder, frames, hop, window, first_frames in (
        ("hubert-probe", hubert, hubert_frames, 0.5, 1.0, 50),
        ("yamnet-probe", yamnet, yamnet_frames, 0.48, 0.96, 1),  # frames are windows
    ):
        scale = np.abs(frames).max()
        assert np.allclose(embedder.embed(wave), frames.mean(axis=0), atol=1e-4 * scale), name
        probe = LinearProbe().fit(embedder.embed_batch(waves), [0, 1, 3], embedder=embedder)
        prediction = ProbeClassifier(name, embedder, probe).predict(wave)
        whole = probe.predict_proba(frames.mean(axis=0)[None])[0]
        assert np.allclose(prediction.probs, whole, atol=1e-4), name
        check_timeline(prediction.timeline, 4.0, hop=hop, window=window)
        first = probe.predict_proba(frames[:first_frames].mean(axis=0)[None])[0]
        assert np.allclose(prediction.timeline.probs[0], first, atol=1e-4), name


def test_yamnet_zero_shot_whole_clip_is_the_mean_of_its_frames_as_before(
    yamnet_tflite: Path, clip_of
) -> None:
    """The zero-shot answer is unchanged: the mapped mean of YAMNet's frame scores (the rule written out
    here as it was before the timeline), and each timeline row maps one frame the same way."""
    from animal_audio.labels import AUDIOSET_TO_ANIMAL
    from animal_audio.models.yamnet import YamnetZeroShot

    model = YamnetZeroShot.load(str(yamnet_tflite))
    wave = load_audio(clip_of("hen", 5, 0))
    scores = model.model.run(wave).scores
    animal = np.array([CLASSES.index(AUDIOSET_TO_ANIMAL.get(n, "dog")) for n in model.model.class_names])
    mapped = np.array([n in AUDIOSET_TO_ANIMAL for n in model.model.class_names])

    def before(clip_scores: np.ndarray) -> np.ndarray:
        mass = np.bincount(animal[mapped], weights=np.clip(clip_scores, 0, None)[mapped], minlength=10)
        return mass / mass.sum()

    prediction = model.predict(wave)
    assert np.allclose(prediction.probs, before(scores.mean(axis=0)), atol=1e-12)
    assert len(prediction.timeline.probs) == len(scores)
    silent = np.clip(scores, 0, None)[:, mapped].sum(1) <= 1e-12
    for row, frame, empty in zip(prediction.timeline.probs, scores, silent):
        assert np.allclose(row, 0.1 if empty else before(frame), atol=1e-9)


def test_torch_hubert_answers_each_thread_its_own_clip(tiny_hubert_dir: Path, clip_of) -> None:
    """The app classifies two clips at once: on torch, neither may get the other's frames."""
    from concurrent.futures import ThreadPoolExecutor

    from animal_audio.models.hubert import HubertClassifier

    model = HubertClassifier.load(str(tiny_hubert_dir), backend="torch")
    clips = [load_audio(clip_of("dog", 5, 0)), load_audio(clip_of("crow", 5, 0))[: 2 * SAMPLE_RATE]]
    alone = [model.predict(c).probs for c in clips]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda i: (i % 2, model.predict(clips[i % 2]).probs), range(40)))
    assert all(np.allclose(probs, alone[i], atol=1e-6) for i, probs in together)
