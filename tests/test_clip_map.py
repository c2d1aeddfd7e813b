"""What a clip is close to: real YAMNet embeddings of the 400 ESC-50 clips, their map and the open-set rule,
the index stored in a run, and the /classify answer's fields with tiny HuBERTs (fine-tuned and probe)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from animal_audio import clip_map, esc50
from animal_audio import run_maps as maps_module
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.clip_map import ClipIndex, index_from_embeddings, load_index, place, save_index
from animal_audio.clip_map_run import FinetunedEmbedder, build_for_run
from animal_audio.embeddings import embed_clips
from animal_audio.errors import CheckpointError
from animal_audio.labels import CLASSES
from animal_audio.models.probe import LinearProbe
from animal_audio.models.yamnet import YamnetModel
from animal_audio.plots.clip_map import neighbour_rows

BUILD_WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path) -> YamnetModel:
    return YamnetModel.load(str(yamnet_tflite))


@pytest.fixture(scope="module")
def clips(esc50_dir: Path):
    table = esc50.read_metadata(esc50_dir)
    table["path"] = [str(esc50_dir / "audio" / name) for name in table["filename"]]
    return table


@pytest.fixture(scope="module")
def embedded(yamnet, clips, tmp_path_factory) -> np.ndarray:
    """Real YAMNet embeddings of the 400 ESC-50 animal clips (a few seconds)."""
    return embed_clips(yamnet, list(clips["path"]), cache_dir=tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="module")
def index(yamnet, clips, embedded) -> ClipIndex:
    return index_from_embeddings("yamnet-probe", yamnet.fingerprint, clips, embedded)


def test_a_dog_clips_five_yamnet_neighbours_are_mostly_dogs_with_it_held_out(
    yamnet, clips, embedded, clip_of
) -> None:
    dog = clip_of("dog", 5, 0)
    rest = clips["filename"] != dog.name
    held_out = index_from_embeddings(
        "yamnet-probe", yamnet.fingerprint, clips[rest], embedded[rest.to_numpy()]
    )
    assert dog.name not in set(held_out.clips) and len(held_out.clips) == 399
    found = place(held_out, yamnet.embed(load_audio(dog)))  # the clip as the app embeds it
    labels = [n["label"] for n in found.neighbours]
    assert len(labels) == 5 and labels.count("dog") >= 3, found.neighbours
    distances = [n["distance"] for n in found.neighbours]
    assert distances == sorted(distances) and all(0 <= d <= 2 for d in distances)
    assert not found.verdict.none_of_the_ten


def test_most_dogs_have_mostly_dog_neighbours(index: ClipIndex) -> None:
    """Each of the 40 dog clips, itself left out of its neighbours: 38 of 40 measured."""
    dogs = np.flatnonzero(index.labels == "dog")
    mostly = [
        sum(n["label"] == "dog" for n in place(index, index.vectors[i], exclude=index.clips[i]).neighbours)
        >= 3
        for i in dogs
    ]
    assert np.mean(mostly) >= 0.8
    assert all(
        index.clips[i]
        not in [n["clip"] for n in place(index, index.vectors[i], exclude=index.clips[i]).neighbours]
        for i in dogs
    )


def test_at_most_5_percent_of_test_fold_clips_are_flagged_against_the_training_folds(
    index: ClipIndex,
) -> None:
    training = index.only([1, 2, 3, 4])
    test = np.flatnonzero(index.folds == 5)
    flagged = [place(training, index.vectors[i]).verdict.none_of_the_ten for i in test]
    assert len(test) == 80 and np.mean(flagged) <= 0.05
    assert np.mean(flagged) == pytest.approx(index.test_flagged)  # what the index records of itself


def test_the_threshold_never_reads_the_test_fold(yamnet, clips, embedded, index: ClipIndex) -> None:
    scrambled = embedded.copy()
    test = (clips["fold"] == 5).to_numpy()
    scrambled[test] = np.random.default_rng(0).standard_normal(scrambled[test].shape)
    other = index_from_embeddings("yamnet-probe", yamnet.fingerprint, clips, scrambled)
    assert other.threshold == index.threshold
    assert (
        index_from_embeddings("yamnet-probe", "x", clips, embedded, test_folds=(1,)).threshold
        != index.threshold
    )


def test_white_noise_and_a_pure_tone_are_none_of_the_ten(yamnet, index: ClipIndex, clip_of) -> None:
    seconds = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    noise = 0.3 * np.random.default_rng(0).standard_normal(len(seconds))
    tone = 0.5 * np.sin(2 * np.pi * 440 * seconds)
    for wave in (noise, tone):
        verdict = place(index, yamnet.embed(wave.astype(np.float32))).verdict
        assert verdict.none_of_the_ten is True and "probably not one of the ten" in verdict.reason
    for label in ("cow", "frog"):
        assert not place(index, yamnet.embed(load_audio(clip_of(label, 5, 1)))).verdict.none_of_the_ten


def test_the_map_is_scikit_learns_pca_of_the_clips(index: ClipIndex, embedded) -> None:
    from sklearn.decomposition import PCA

    vectors = clip_map.normalise(embedded).astype(np.float64)
    reference = PCA(n_components=2, random_state=0).fit(vectors)
    assert np.allclose(np.abs(index.xy), np.abs(reference.transform(vectors)), atol=1e-5)
    assert np.allclose(index.project(index.vectors[:3]), index.xy[:3], atol=1e-5)
    assert place(index, index.vectors[7]).map_xy == pytest.approx(list(index.xy[7]), abs=1e-3)


# --------------------------------------------------------------------------- a run's maps


class Counting:
    """An embedder that counts what it embeds (the stored index must spare it)."""

    def __init__(self, embedder) -> None:
        self.inner, self.calls = embedder, 0
        self.name, self.fingerprint = embedder.name, embedder.fingerprint

    def embed(self, waveform):
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms):
        self.calls += len(waveforms)
        return self.inner.embed_batch(waveforms)

    def describe(self) -> str:
        return self.inner.describe()


def _run(run_dir: Path, data_dir: Path, models: dict) -> Path:
    """A finished run's metrics.json as the pipeline writes its parts the registry and maps read."""
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = {
        "config": {"data_dir": str(data_dir)},
        "protocol": {"name": "folds", "splits": [{"test_folds": [5]}]},
        "models": models,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def _probe(run_dir: Path, name: str, embedder, data_dir: Path) -> dict:
    """A real linear head trained on the run's training folds, saved where metrics.json says."""
    table = esc50.load_manifest(data_dir)
    train = table[table["fold"] != 5]
    X = embed_clips(embedder, list(train["path"]))
    LinearProbe().fit(X, list(train["label"]), embedder=embedder).save(run_dir / "models" / name)
    return {"model_dir": f"models/{name}"}


def _wait(maps: maps_module.RunMaps) -> None:
    deadline = time.monotonic() + BUILD_WAIT_SECONDS
    while maps.building() is not None:
        assert time.monotonic() < deadline, "the background build did not finish"
        time.sleep(0.05)


def test_the_index_is_stored_in_the_run_reloaded_and_rebuilt_when_damaged(
    yamnet, prepared_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))  # an embedding cache of its own to count
    run = _run(tmp_path / "run", prepared_subset, {})
    embedder, maps = Counting(yamnet), maps_module.RunMaps()
    index, why = maps.get(run, "yamnet-probe", embedder)
    assert index is None and why == maps_module.PREPARING
    assert maps.get(run, "yamnet-probe", embedder) == (None, maps_module.PREPARING), "one build, not two"
    _wait(maps)
    embedded = embedder.calls
    assert embedded == 100  # the subset's clips, once
    path = clip_map.index_path(run, "yamnet-probe")
    assert path == run / "clip_map" / "yamnet-probe.npz" and path.is_file()
    index, why = maps.get(run, "yamnet-probe", embedder)
    assert why is None and len(index.clips) == 100 and set(index.labels) == set(CLASSES)
    assert maps.get(run, "yamnet-probe", embedder)[0] is index, "kept, not read again"
    again = maps_module.RunMaps().get(run, "yamnet-probe", embedder)[0]  # a restarted app reads the file
    assert again is not None and np.array_equal(again.vectors, index.vectors) and embedder.calls == embedded

    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(CheckpointError, match="damaged.*python -m train map"):
        load_index(run, "yamnet-probe")
    fresh = maps_module.RunMaps()
    assert fresh.get(run, "yamnet-probe", embedder) == (None, maps_module.PREPARING)
    _wait(fresh)
    rebuilt = fresh.get(run, "yamnet-probe", embedder)[0]
    assert rebuilt is not None and np.array_equal(rebuilt.xy, index.xy)
    assert embedder.calls == embedded, "rebuilt from the cached embeddings"
    save_index(rebuilt, run)
    with np.load(path, allow_pickle=False) as data:  # plain arrays: no pickle needed to read it
        assert str(data["model"]) == "yamnet-probe"


def test_a_failed_build_is_reported_and_not_retried_per_request(yamnet, tmp_path: Path) -> None:
    run = _run(tmp_path / "run", tmp_path / "no-data", {})
    maps = maps_module.RunMaps()
    assert maps.get(run, "yamnet-probe", yamnet)[1] == maps_module.PREPARING
    _wait(maps)
    index, why = maps.get(run, "yamnet-probe", yamnet)
    assert index is None and "could not be built" in why and "not readable" in why
    assert maps.building() is None, "remembered: no new build per request"


@pytest.mark.parametrize("hubert_model", ["hubert-finetune", "hubert-probe"])
def test_classify_answers_neighbours_map_and_none_of_the_ten(
    hubert_model: str,
    yamnet,
    tiny_hubert_dir: Path,
    yamnet_tflite: Path,
    prepared_subset: Path,
    clip_of,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from animal_audio.demo.classify import classify
    from animal_audio.demo.models import Registry
    from animal_audio.models.hubert import HubertEmbedder

    monkeypatch.delenv("ANIMAL_AUDIO_HUBERT", raising=False)
    run = tmp_path / "runs" / "run"
    models = {"yamnet-probe": _probe(run, "yamnet-probe", yamnet, prepared_subset)}
    if hubert_model == "hubert-finetune":
        shutil.copytree(tiny_hubert_dir, run / "models" / hubert_model)
        models[hubert_model] = {"model_dir": f"models/{hubert_model}", "base": str(tiny_hubert_dir)}
    else:
        embedder = HubertEmbedder.load(str(tiny_hubert_dir))
        models[hubert_model] = {
            **_probe(run, hubert_model, embedder, prepared_subset),
            "base": str(tiny_hubert_dir),
        }
    _run(run, prepared_subset, models)
    registry = Registry(yamnet=str(yamnet_tflite), runs_dir=tmp_path / "runs")
    dog = str(clip_of("dog", 5, 0))

    first = classify(dog, registry, figures=False).payload["models"]
    assert first["hubert"]["neighbours"] is None and first["hubert"]["none_of_the_ten"] is None
    assert first["hubert"]["map_note"] == maps_module.PREPARING  # answered at once, the map meanwhile
    assert first["yamnet"]["map_note"] == maps_module.QUEUED and first["yamnet"]["probabilities"]
    for _ in range(3):  # one build at a time: HuBERT's, then YAMNet's
        _wait(registry.maps)
        answer = json.loads(json.dumps(classify(dog, registry, figures=False).payload))["models"]
    hubert, yamnet_side = answer["hubert"], answer["yamnet"]
    assert hubert["model"] == ("hubert" if hubert_model == "hubert-finetune" else "hubert-probe")
    for entry in (hubert, yamnet_side):
        assert len(entry["neighbours"]) == 5 and "map_note" not in entry
        assert all(
            set(n) == {"clip", "label", "distance"} and n["label"] in CLASSES for n in entry["neighbours"]
        )
        distances = [n["distance"] for n in entry["neighbours"]]
        assert distances == sorted(distances)
        assert len(entry["map_xy"]) == 2 and all(np.isfinite(entry["map_xy"]))
    assert isinstance(hubert["none_of_the_ten"], bool) and "HuBERT" in hubert["open_set"]["reason"]
    assert yamnet_side["none_of_the_ten"] is False, "a clear dog; YAMNet's rule reads its AudioSet scores"
    # The dog clip is in the run's data: YAMNet finds it first, from the same forward pass as its answer.
    assert (
        yamnet_side["neighbours"][0]["clip"] == Path(dog).name
        and yamnet_side["neighbours"][0]["distance"] < 0.01
    )
    assert (run / "clip_map" / f"{hubert_model}.npz").is_file()

    figure = maps_module.side_map_figure(
        registry.get("yamnet"), yamnet_side, "YAMNet + linear probe", registry.maps
    )
    assert [trace.name for trace in figure.data][-1] == "Your clip" and len(figure.data) == len(CLASSES) + 1
    assert list(figure.data[-1].x) == [yamnet_side["map_xy"][0]] and figure.data[-1].marker.symbol == "star"
    assert sum(len(trace.x) for trace in figure.data[:-1]) == 100  # the run's clips, coloured by animal
    drawn = classify(dog, registry).figures  # what the Classify tab shows: both maps, the clip as a star
    assert all(drawn[f"map:{side}"].data[-1].name == "Your clip" for side in ("hubert", "yamnet"))
    rows = neighbour_rows(hubert["neighbours"])
    assert len(rows) == 5 and rows[0][0] == hubert["neighbours"][0]["clip"] and neighbour_rows(None) == []


def test_the_cli_builds_every_map_of_a_run(
    yamnet, tiny_hubert_dir: Path, prepared_subset: Path, tmp_path: Path, capsys
) -> None:
    from random_hubert import TINY

    from animal_audio.models.hubert import HubertClassifier
    from train.__main__ import main

    run = tmp_path / "run"
    shutil.copytree(tiny_hubert_dir, run / "models" / "hubert-finetune")
    models = {
        "yamnet-zeroshot": {"model_dir": None},
        "yamnet-probe": _probe(run, "yamnet-probe", yamnet, prepared_subset),
        "hubert-finetune": {"model_dir": "models/hubert-finetune"},
    }
    _run(run, prepared_subset, models)
    assert main(["-q", "map", str(run)]) == 0
    out = capsys.readouterr().out
    assert "yamnet-probe" in out and "hubert-finetune" in out and "yamnet-zeroshot" not in out
    stored = load_index(run, "hubert-finetune")
    classifier = HubertClassifier.load(str(run / "models" / "hubert-finetune"))
    assert stored is not None and stored.fingerprint == FinetunedEmbedder(classifier).fingerprint
    assert stored.vectors.shape[1] == TINY["classifier_proj_size"]  # the projector's outputs, not the logits
    assert build_for_run(run, "yamnet-probe", yamnet).threshold == load_index(run, "yamnet-probe").threshold


def test_fine_tuned_huberts_embedding_is_its_projector_outputs_mean(tiny_hubert_dir: Path, clip_of) -> None:
    """Prediction.embedding of the fine-tuned classifier: the vector its head reads, from the same pass."""
    import torch
    from transformers import AutoModelForAudioClassification

    from animal_audio.models.hubert import HubertClassifier

    wave = load_audio(clip_of("hen", 5, 0))
    classifier = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False)
    prediction = classifier.predict(wave)
    model = AutoModelForAudioClassification.from_pretrained(tiny_hubert_dir).eval()
    inputs = classifier.feature_extractor([wave], sampling_rate=SAMPLE_RATE, return_tensors="np")
    with torch.inference_mode():
        values = torch.from_numpy(inputs["input_values"])
        pooled = model.projector(model.hubert(values).last_hidden_state).mean(dim=1)[0]
        logits = model(values).logits[0]
    assert np.allclose(prediction.embedding, pooled.numpy(), atol=1e-4)
    assert np.allclose(prediction.probs, torch.softmax(logits, -1).numpy(), atol=1e-5)
