"""HuBERT loading, prediction, batching, fast mode and embeddings, on a tiny HuBERT and real clips."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from random_hubert import build_random_hubert

import animal_audio as aa
from animal_audio.audio import load_audio
from animal_audio.errors import AudioError, ModelUnavailableError, NotTrainedError
from animal_audio.labels import CLASSES
from animal_audio.models import backends, onnx_graphs
from animal_audio.models.base import Classifier, Prediction
from animal_audio.models.hubert import HubertClassifier, HubertEmbedder

#: Measured on the tiny model over 20 real clips (benchmarks/README.md): fast mode moved
#: logits by at most 7.4% of the largest logit, embedding cosine >= 0.996 (bf16 CNN + int8,
#: on a CPU with bf16; int8 alone: 1.3%, 0.99999). ORT fp32 vs torch fp32 logits differ by
#: <= 5e-5. Tolerances leave ~3x headroom over the worst clip.
FAST_LOGIT_REL_TOLERANCE = 0.2
FAST_MIN_COSINE = 0.99
EXACT_LOGIT_TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def waveforms(clip_of) -> list[np.ndarray]:
    """Three real 5 s clips of different animals and one real 1.5 s cut."""
    clips = [load_audio(clip_of(label)) for label in ("dog", "rooster", "cow")]
    return [*clips, load_audio(clip_of("frog"))[8_000:32_000]]


def test_tiny_checkpoint_predicts_probabilities_over_the_ten_classes(tiny_hubert_dir, waveforms):
    model = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False)
    prediction = model.predict(waveforms[0])

    assert isinstance(model, Classifier)
    assert isinstance(prediction, Prediction)
    assert prediction.model == "hubert"
    assert prediction.probs.shape == (len(CLASSES),)
    assert prediction.probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert prediction.label in CLASSES
    assert prediction.seconds > 0
    assert str(tiny_hubert_dir) in model.describe()


def test_batch_predictions_equal_one_by_one_predictions(tiny_hubert_dir, waveforms):
    model = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False)
    batch = model.predict_batch(waveforms)  # mixed lengths: batched per length
    single = [model.predict(w) for w in waveforms]

    assert [p.label for p in batch] == [p.label for p in single]
    np.testing.assert_allclose([p.probs for p in batch], [p.probs for p in single], atol=1e-6)
    assert model.predict_batch([]) == []


def test_default_path_gives_the_same_logits_as_plain_torch(tiny_hubert_dir, waveforms):
    exact = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False)
    torch_fp32 = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False, backend="torch")

    assert exact.backend == "onnxruntime-fp32"
    np.testing.assert_allclose(
        exact.logits_batch(waveforms), torch_fp32.logits_batch(waveforms), atol=EXACT_LOGIT_TOLERANCE
    )


def test_each_load_returns_a_new_model_that_the_caller_owns(tiny_hubert_dir, waveforms):
    results: list[HubertClassifier] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(HubertClassifier.load(str(tiny_hubert_dir), fast=False))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 3 and len({id(model) for model in results}) == 3
    for model in results[1:]:  # concurrent loads of one checkpoint share its exported graph safely
        np.testing.assert_array_equal(
            model.logits_batch(waveforms[:1]), results[0].logits_batch(waveforms[:1])
        )
    embedders = [HubertEmbedder.load(str(tiny_hubert_dir)) for _ in range(2)]
    assert embedders[0] is not embedders[1]

    # Nothing in the library keeps a loaded model: once the caller lets go, it is freed.
    released = [weakref.ref(model) for model in [*results, *embedders]]
    results.clear()
    embedders.clear()
    del model
    gc.collect()
    assert [ref() for ref in released] == [None] * len(released)


def test_top_level_package_loads_a_checkpoint(tiny_hubert_dir, waveforms):
    model = aa.HubertClassifier.load(str(tiny_hubert_dir))
    assert isinstance(model, aa.HubertClassifier) and isinstance(model, aa.Classifier)
    assert model.predict(waveforms[0]).label in aa.CLASSES
    assert aa.HubertEmbedder.load(str(tiny_hubert_dir)).embed(waveforms[0]).shape == (32,)


def test_fast_mode_from_environment_stays_close_to_fp32(tiny_hubert_dir, waveforms, monkeypatch):
    exact = HubertClassifier.load(str(tiny_hubert_dir), device="cpu", fast=False)
    monkeypatch.setenv("ANIMAL_AUDIO_FAST", "1")
    fast = HubertClassifier.load(str(tiny_hubert_dir), device="cpu")

    assert fast.fast and "int8" in fast.backend and "int8" in fast.describe()
    reference = exact.logits_batch(waveforms)
    drift = np.abs(fast.logits_batch(waveforms) - reference).max() / np.abs(reference).max()
    assert drift < FAST_LOGIT_REL_TOLERANCE  # (labels are not compared: a random head is near-uniform)


def test_missing_folder_says_how_to_fix_it(tmp_path):
    with pytest.raises(ModelUnavailableError) as error:
        HubertClassifier.load(str(tmp_path / "no-such-checkpoint"))
    message = str(error.value)
    assert "does not exist" in message
    assert "ANIMAL_AUDIO_HUBERT" in message and "internet" in message


def test_unknown_hub_id_offline_says_how_to_fix_it():
    with pytest.raises(ModelUnavailableError) as error:
        HubertClassifier.load("animal-audio-tests/no-such-hubert")
    assert "ANIMAL_AUDIO_HUBERT" in str(error.value) and "internet" in str(error.value)


def test_checkpoint_without_trained_head_is_not_trained_yet(tmp_path):
    """What the bare facebook/hubert-base-ls960 looks like: encoder weights, no classifier."""
    from transformers import AutoModel

    classifier_dir = build_random_hubert(tmp_path / "classifier")
    AutoModel.from_pretrained(classifier_dir).save_pretrained(tmp_path / "base")
    (tmp_path / "base" / "preprocessor_config.json").write_bytes(
        (classifier_dir / "preprocessor_config.json").read_bytes()
    )

    with pytest.raises(NotTrainedError) as error:
        HubertClassifier.load(str(tmp_path / "base"))
    message = str(error.value)
    assert "not trained yet" in message
    assert "hubert-probe" in message and "ANIMAL_AUDIO_HUBERT" in message


def test_checkpoint_with_other_labels_is_refused(tmp_path):
    five_labels = build_random_hubert(tmp_path / "five", num_labels=5)
    with pytest.raises(NotTrainedError) as error:
        HubertClassifier.load(str(five_labels))
    assert "other labels" in str(error.value) and "not trained yet" in str(error.value)


def test_rewritten_checkpoint_is_reloaded(tmp_path, waveforms):
    folder = build_random_hubert(tmp_path / "ckpt", seed=1)
    first = HubertClassifier.load(str(folder))
    build_random_hubert(folder, seed=2)  # re-training into the same folder
    second = HubertClassifier.load(str(folder))

    assert second is not first
    assert not np.allclose(first.logits_batch(waveforms[:1]), second.logits_batch(waveforms[:1]))


def test_clips_the_model_cannot_take_raise_audio_errors(tiny_hubert_dir):
    model = HubertClassifier.load(str(tiny_hubert_dir))
    with pytest.raises(AudioError, match="too short"):
        model.predict(np.zeros(100, dtype=np.float32))
    with pytest.raises(AudioError, match="mono"):
        model.predict(np.zeros((2, 16_000), dtype=np.float32))


def test_embedder_gives_one_vector_per_clip_with_a_stable_fingerprint(tiny_hubert_dir, waveforms):
    embedder = HubertEmbedder.load(str(tiny_hubert_dir))
    vectors = embedder.embed_batch(waveforms)

    assert vectors.shape == (len(waveforms), 32) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(embedder.embed(waveforms[1]), vectors[1], atol=1e-5)
    assert embedder.layer == 1  # the middle of the tiny model's 2 layers

    fingerprint = embedder.fingerprint
    again = HubertEmbedder.load(str(tiny_hubert_dir))
    assert again is not embedder and again.fingerprint == fingerprint
    np.testing.assert_allclose(again.embed_batch(waveforms), vectors, atol=1e-6)
    assert HubertEmbedder.load(str(tiny_hubert_dir), layer=2).fingerprint != fingerprint
    assert HubertEmbedder.load(str(tiny_hubert_dir), layer="mean").fingerprint != fingerprint


def test_fast_embeddings_stay_close_and_have_their_own_fingerprint(tiny_hubert_dir, waveforms):
    exact = HubertEmbedder.load(str(tiny_hubert_dir), fast=False)
    fast = HubertEmbedder.load(str(tiny_hubert_dir), fast=True)
    a, b = exact.embed_batch(waveforms), fast.embed_batch(waveforms)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    assert fast.fingerprint != exact.fingerprint
    assert cosine.min() > FAST_MIN_COSINE


def test_embedder_layer_out_of_range_is_refused(tiny_hubert_dir):
    with pytest.raises(ValueError, match="layer"):
        HubertEmbedder.load(str(tiny_hubert_dir), layer=3)


def test_exported_graph_is_reused_across_loads(tiny_hubert_dir, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    HubertClassifier.load(str(tiny_hubert_dir))
    calls: list[Path] = []
    monkeypatch.setattr(onnx_graphs, "export", lambda *args, **kwargs: calls.append(args[1]))
    model = HubertClassifier.load(str(tiny_hubert_dir))

    assert calls == [] and model.backend == "onnxruntime-fp32"


def test_damaged_cached_graph_is_exported_again(tiny_hubert_dir, waveforms, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    logits = HubertClassifier.load(str(tiny_hubert_dir)).logits_batch(waveforms)
    (graph,) = (tmp_path / "home").rglob("model.onnx")
    graph.write_bytes(graph.read_bytes()[:1000])  # e.g. a disk that filled up

    model = HubertClassifier.load(str(tiny_hubert_dir))

    assert model.backend == "onnxruntime-fp32", "not stuck on the slower torch fallback"
    np.testing.assert_allclose(model.logits_batch(waveforms), logits, atol=1e-6)


#: A child process that loads the checkpoint in sys.argv[1] and is killed while its graph is exported.
KILLED_DURING_EXPORT = """
import os, sys
from animal_audio.models import onnx_graphs
from animal_audio.models.hubert import HubertClassifier

real_export = onnx_graphs.export

def export_then_die(*args, **kwargs):
    real_export(*args, **kwargs)
    os._exit(9)

onnx_graphs.export = export_then_die
HubertClassifier.load(sys.argv[1], fast=False)
"""


def test_an_export_killed_midway_leaves_nothing_behind(tiny_hubert_dir, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    killed = subprocess.run([sys.executable, "-c", KILLED_DURING_EXPORT, str(tiny_hubert_dir)], cwd=REPO)
    assert killed.returncode == 9
    (leftover,) = (tmp_path / "home").rglob("model.onnx")  # a whole graph, never published

    model = HubertClassifier.load(str(tiny_hubert_dir), fast=True)  # another graph: exported, cache pruned

    assert model.backend.endswith("onnxruntime-int8")
    assert not leftover.exists()
    assert all(not p.name.startswith(".") for p in leftover.parent.parent.iterdir())


def _no_torch_weights(*args, **kwargs):
    raise AssertionError("the torch weights were loaded although the exported graph was on disk")


def test_exported_graph_starts_without_loading_the_torch_weights(
    tiny_hubert_dir, waveforms, monkeypatch, tmp_path: Path
):
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    logits = HubertClassifier.load(str(tiny_hubert_dir)).logits_batch(waveforms)
    vectors = HubertEmbedder.load(str(tiny_hubert_dir)).embed_batch(waveforms)
    import transformers

    monkeypatch.setattr(transformers.AutoModelForAudioClassification, "from_pretrained", _no_torch_weights)
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", _no_torch_weights)

    classifier = HubertClassifier.load(str(tiny_hubert_dir))
    embedder = HubertEmbedder.load(str(tiny_hubert_dir))

    assert classifier.backend == embedder.backend == "onnxruntime-fp32"
    np.testing.assert_array_equal(classifier.logits_batch(waveforms), logits)
    np.testing.assert_array_equal(embedder.embed_batch(waveforms), vectors)


def test_checkpoint_damaged_after_its_export_still_gives_a_clear_error(
    tiny_hubert_dir, monkeypatch, tmp_path: Path
):
    import shutil

    from animal_audio.errors import CheckpointError

    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_hubert_dir, checkpoint)
    HubertClassifier.load(str(checkpoint))
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    with pytest.raises(CheckpointError, match="incomplete or damaged"):
        HubertClassifier.load(str(checkpoint))


def test_fast_mode_without_bf16_quantises_the_whole_graph(
    tiny_hubert_dir, waveforms, monkeypatch, tmp_path: Path
):
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))  # exports here, finds nothing cached
    monkeypatch.setattr(backends, "native_bf16", lambda: False)
    exact = HubertClassifier.load(str(tiny_hubert_dir), fast=False).logits_batch(waveforms)
    fast = HubertClassifier.load(str(tiny_hubert_dir), fast=True)

    assert fast.backend == "onnxruntime-int8"
    assert np.abs(fast.logits_batch(waveforms) - exact).max() / np.abs(exact).max() < FAST_LOGIT_REL_TOLERANCE


def test_failed_export_falls_back_to_torch_with_the_same_answers(
    tiny_hubert_dir, waveforms, monkeypatch, tmp_path: Path
):
    # Its own home: a graph another test exported would be found before any export is tried.
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    reference = HubertClassifier.load(str(tiny_hubert_dir), fast=True, backend="torch").logits_batch(
        waveforms
    )

    def broken(*args, **kwargs):
        raise RuntimeError("exporter unavailable")

    monkeypatch.setattr(onnx_graphs, "cached_runner", broken)
    model = HubertClassifier.load(str(tiny_hubert_dir), fast=True)

    assert model.backend.startswith("torch")
    np.testing.assert_allclose(model.logits_batch(waveforms), reference, atol=1e-6)


@pytest.mark.parametrize("damage", ["truncate-weights", "break-config", "remove-weights"])
def test_damaged_checkpoint_gives_a_clear_error(tiny_hubert_dir, tmp_path, damage):
    import shutil

    from animal_audio.errors import CheckpointError

    broken = tmp_path / "checkpoint"
    shutil.copytree(tiny_hubert_dir, broken)
    weights = broken / "model.safetensors"
    if damage == "truncate-weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "break-config":
        (broken / "config.json").write_text('{"model_type": "hub')
    else:
        weights.unlink()
    with pytest.raises(CheckpointError, match="incomplete or damaged.*Train it again"):
        HubertClassifier.load(str(broken))


@pytest.mark.parametrize("do_normalize", [True, False])
def test_numpy_normalizer_gives_the_feature_extractors_numbers(waveforms, do_normalize):
    """The cached-graph path skips transformers (~1 s to import): its numpy stand-in must be exact."""
    from transformers import Wav2Vec2FeatureExtractor

    from animal_audio.models.hubert_files import Normalizer

    reference = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, do_normalize=do_normalize)
    ours = Normalizer(sampling_rate=16_000, do_normalize=do_normalize)
    for batch in ([waveforms[0]], waveforms[:3], [waveforms[3]]):
        expected = reference(batch, sampling_rate=16_000, return_tensors="np")["input_values"]
        got = ours(batch, sampling_rate=16_000, return_tensors="np")["input_values"]
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_cached_graph_loads_without_importing_torch_or_transformers(
    tiny_hubert_dir, waveforms, monkeypatch, tmp_path: Path
):
    """The app's start: once a graph is exported, neither framework is imported (~3.5 s, ~200 MB)."""
    from animal_audio import settings

    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path / "home"))
    expected = HubertEmbedder.load(str(tiny_hubert_dir)).embed_batch(waveforms[:1])
    np.save(tmp_path / "clip.npy", waveforms[0])
    code = (
        "import sys, numpy as np\n"
        "from animal_audio.models.hubert import HubertEmbedder\n"
        f"e = HubertEmbedder.load({str(tiny_hubert_dir)!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, e.embed_batch([np.load({str(tmp_path / 'clip.npy')!r})]))\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)

    imported = done.stdout.split("\n")[-2]
    assert "transformers" not in imported
    if not settings._may_have_accelerator():  # elsewhere torch is asked which device to use
        assert "torch" not in imported
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
