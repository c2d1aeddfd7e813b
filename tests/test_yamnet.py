"""YAMNet on real ESC-50 clips through the real TFLite model, and the SavedModel path on a tiny SavedModel."""

from __future__ import annotations

import gc
import shutil
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

import animal_audio as aa
from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.errors import ModelUnavailableError
from animal_audio.labels import CLASSES
from animal_audio.models.base import Classifier, Prediction
from animal_audio.models.yamnet import (
    EMBEDDING_SIZE,
    MEL_BANDS,
    NUM_AUDIOSET_CLASSES,
    YamnetModel,
    YamnetZeroShot,
    animal_probabilities,
    source_problem,
)
from animal_audio.runtime import configure_threads

# Classes where the real TFLite YAMNet is right zero-shot on every fold-5 clip and on
# >= 87 % of all 40 clips (checked over all 400 clips before writing this test).
CLEARLY_RIGHT = ("dog", "cat", "sheep", "crow")


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path) -> YamnetModel:
    return YamnetModel.load(str(yamnet_tflite))


@pytest.fixture(scope="module")
def zero_shot(yamnet: YamnetModel) -> YamnetZeroShot:
    return YamnetZeroShot(yamnet)


def test_tflite_gives_scores_embeddings_and_spectrogram_for_a_real_clip(yamnet, clip_of):
    waveform = load_audio(clip_of("dog"))
    out = yamnet.run(waveform)
    frames = out.scores.shape[0]
    assert frames == 10  # 5 s at one frame per 0.48 s
    assert out.scores.shape == (frames, NUM_AUDIOSET_CLASSES)
    assert out.embeddings.shape == (frames, EMBEDDING_SIZE)
    assert out.spectrogram.shape[1] == MEL_BANDS and out.spectrogram.shape[0] >= 480  # 10 ms hops
    assert out.scores.min() >= 0 and out.scores.max() <= 1
    assert np.all(np.isfinite(out.embeddings)) and np.all(np.isfinite(out.spectrogram))
    assert yamnet.embed(waveform).shape == (EMBEDDING_SIZE,)
    assert yamnet.backend == "tflite" and len(yamnet.class_names) == NUM_AUDIOSET_CLASSES
    assert yamnet.class_names[0] == "Speech" and yamnet.fingerprint.startswith("yamnet-tflite-")


def test_a_clip_shorter_than_one_yamnet_window_still_gives_one_frame(yamnet):
    out = yamnet.run(np.sin(np.linspace(0, 2000, int(0.3 * SAMPLE_RATE))).astype(np.float32) * 0.5)
    assert out.scores.shape == (1, NUM_AUDIOSET_CLASSES) and out.embeddings.shape == (1, EMBEDDING_SIZE)


@pytest.mark.parametrize("label", CLEARLY_RIGHT)
def test_zero_shot_recognises_real_clips(zero_shot, clip_of, label):
    for index in (0, 1):
        prediction = zero_shot.predict(load_audio(clip_of(label, fold=5, index=index)))
        assert prediction.label == label, prediction.as_dict()
        assert prediction.model == "yamnet-zeroshot"
        assert prediction.probs.sum() == pytest.approx(1.0)
        assert 0.0 <= prediction.extras["other_mass"] <= 1.0
        top = prediction.extras["top_audioset"]
        assert len(top) == 5 and all(isinstance(name, str) for name, _ in top)
        assert [score for _, score in top] == sorted((score for _, score in top), reverse=True)


def test_zero_shot_reports_non_animal_mass_instead_of_hiding_it(zero_shot):
    """A pure tone is no animal: most of YAMNet's mass goes elsewhere and says so."""
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    prediction = zero_shot.predict(tone)
    assert prediction.extras["other_mass"] > 0.9
    assert prediction.probs.sum() == pytest.approx(1.0)
    assert isinstance(zero_shot, Classifier)
    batch = zero_shot.predict_batch([tone, tone])
    assert len(batch) == 2 and np.allclose(batch[0].probs, prediction.probs)


def test_animal_probabilities_without_animal_evidence_are_uniform():
    index = np.array([-1, 0, 1] + [-1] * 3)
    probs, other = animal_probabilities(np.array([0.9, 0.0, 0.0, 0.1, 0.0, 0.0]), index)
    assert np.allclose(probs, 1 / len(CLASSES)) and other == 1.0
    probs, other = animal_probabilities(np.array([0.5, 0.3, 0.1, 0.1, 0.0, 0.0]), index)
    assert probs[0] == pytest.approx(0.75) and probs[1] == pytest.approx(0.25) and other == pytest.approx(0.6)


def test_each_load_returns_a_new_model_that_the_caller_owns(yamnet, yamnet_tflite, clip_of, monkeypatch):
    loaded: list[YamnetModel] = []
    threads = [
        threading.Thread(target=lambda: loaded.append(YamnetModel.load(str(yamnet_tflite)))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 4 and len({id(model) for model in [yamnet, *loaded]}) == 5
    waveform = load_audio(clip_of("dog"))
    for model in loaded:
        np.testing.assert_array_equal(model.run(waveform).scores, yamnet.run(waveform).scores)
    monkeypatch.setenv(settings.ENV_YAMNET, str(yamnet_tflite))
    from_env = YamnetModel.load()  # the environment variable picks the same source
    assert from_env is not yamnet and from_env.fingerprint == yamnet.fingerprint

    # Nothing in the library keeps a loaded model: once the caller lets go, it is freed.
    released = [weakref.ref(model) for model in [*loaded, from_env]]
    loaded.clear()
    del model, from_env
    gc.collect()
    assert [ref() for ref in released] == [None] * len(released)


def test_top_level_package_loads_the_tflite_model(yamnet_tflite, clip_of):
    model = aa.YamnetZeroShot.load(str(yamnet_tflite))
    assert isinstance(model, aa.YamnetZeroShot) and isinstance(model, aa.Classifier)
    assert model.predict(aa.load_audio(clip_of("dog"))).label == "dog"
    assert aa.YamnetZeroShot.load(str(yamnet_tflite)).model is not model.model


def test_configure_threads_caps_tensorflow_and_torch(yamnet):
    import tensorflow as tf
    import torch

    configure_threads()
    configure_threads()  # idempotent: a second call changes nothing and does not raise
    assert tf.config.threading.get_intra_op_parallelism_threads() == settings.cpu_threads()
    assert torch.get_num_threads() == settings.cpu_threads()


def test_missing_or_wrong_files_say_how_to_fix(tmp_path, yamnet_tflite):
    with pytest.raises(ModelUnavailableError, match="ANIMAL_AUDIO_YAMNET"):
        YamnetModel.load(str(tmp_path / "nowhere" / "yamnet.tflite"))
    with pytest.raises(ModelUnavailableError, match="saved_model.pb"):
        YamnetModel.load(str(tmp_path))
    lonely = tmp_path / "lonely" / "yamnet.tflite"
    lonely.parent.mkdir()
    lonely.symlink_to(yamnet_tflite)
    with pytest.raises(ModelUnavailableError, match="yamnet_class_map.csv"):
        YamnetModel.load(str(lonely))
    broken = tmp_path / "broken" / "yamnet.tflite"
    broken.parent.mkdir()
    broken.write_bytes(b"not a model")
    shutil.copy(yamnet_tflite.with_name("yamnet_class_map.csv"), broken.parent)
    with pytest.raises(ModelUnavailableError, match="not a valid TFLite model"):
        YamnetModel.load(str(broken))


def test_an_lfs_pointer_in_place_of_the_model_says_git_lfs_pull(tmp_path, yamnet_tflite):
    """A clone made without Git LFS holds the pointer file, not the built-in model (.gitattributes)."""
    pointer = tmp_path / "yamnet.tflite"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 3963312\n"
    )
    shutil.copy(yamnet_tflite.with_name("yamnet_class_map.csv"), tmp_path)
    problem = source_problem(str(pointer))
    assert problem is not None and "git lfs pull" in problem and "ANIMAL_AUDIO_YAMNET" not in problem
    with pytest.raises(ModelUnavailableError, match="git lfs pull"):
        YamnetModel.load(str(pointer))


def test_unreachable_hub_handle_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    with pytest.raises(ModelUnavailableError, match="Connect to the internet"):
        YamnetModel.load("http://127.0.0.1:9/google/yamnet/1")  # nothing listens on port 9


# --------------------------------------------------------------------------- SavedModel backend


def build_yamnet_like_savedmodel(out: Path, class_map: Path, loud_class: int) -> Path:
    """A SavedModel with YAMNet's signature: waveform -> (scores, embeddings, log-mel), class_map_path()."""
    import tensorflow as tf

    class TinyYamnet(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self._class_map = tf.saved_model.Asset(str(class_map))
            self._scores = tf.Variable(0.02 + 0.9 * tf.one_hot(loud_class, NUM_AUDIOSET_CLASSES))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, waveform):
            # YAMNet's framing: 0.975 s windows every 0.48 s, the last one padded.
            frames = 1 + tf.maximum(0, (tf.shape(waveform)[0] - 15600 + 7679) // 7680)
            scores = tf.tile(self._scores[tf.newaxis, :], [frames, 1])
            level = tf.reduce_mean(tf.abs(waveform))
            embeddings = tf.fill([frames, EMBEDDING_SIZE], level)
            log_mel = tf.zeros([tf.shape(waveform)[0] // 160, MEL_BANDS])
            return scores, embeddings, log_mel

        @tf.function(input_signature=[])
        def class_map_path(self):
            return self._class_map.asset_path

    tf.saved_model.save(TinyYamnet(), str(out))
    return out


@pytest.fixture(scope="module")
def tiny_savedmodel(tmp_path_factory, yamnet_tflite: Path, yamnet: YamnetModel) -> Path:
    staging = tmp_path_factory.mktemp("classmap")
    class_map = staging / "yamnet_class_map.csv"
    shutil.copy(yamnet_tflite.with_name("yamnet_class_map.csv"), class_map)
    out = build_yamnet_like_savedmodel(
        tmp_path_factory.mktemp("tiny-yamnet") / "savedmodel", class_map, yamnet.class_names.index("Meow")
    )
    shutil.rmtree(staging)  # the SavedModel must carry its own copy of the class map
    return out


def test_savedmodel_directory_loads_through_the_same_api(tiny_savedmodel, clip_of):
    model = YamnetModel.load(str(tiny_savedmodel))
    again = YamnetModel.load(str(tiny_savedmodel))
    assert model.backend == "savedmodel" and again is not model and again.fingerprint == model.fingerprint
    assert model.class_names[:2] == ("Speech", "Child speech, kid speaking")
    assert model.fingerprint.startswith("yamnet-savedmodel-")
    waveform = load_audio(clip_of("cow"))
    out = model.run(waveform)
    assert out.scores.shape == (10, NUM_AUDIOSET_CLASSES)
    assert out.embeddings.shape == (10, EMBEDDING_SIZE)
    assert out.spectrogram.shape == (len(waveform) // 160, MEL_BANDS)
    prediction = YamnetZeroShot.load(str(tiny_savedmodel)).predict(waveform)
    assert isinstance(prediction, Prediction)
    assert prediction.label == "cat"  # the tiny model always says "Meow"
    assert prediction.extras["top_audioset"][0][0] == "Meow"
    assert 0.0 < prediction.extras["other_mass"] < 1.0


# --------------------------------------------------------------------------- the built-in YAMNet

BUILT_IN_SHA256 = "f07e6366167b5e960f828084a79684e02a694ddefdb35307042439c14d010d26"
CLASS_MAP_SHA256 = "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2"


def test_the_repository_ships_yamnet_with_its_licences(yamnet_tflite: Path) -> None:
    import hashlib

    bundled = settings.BUNDLED_YAMNET
    assert str(bundled) == settings.DEFAULT_YAMNET and bundled.is_absolute()
    assert hashlib.sha256(bundled.read_bytes()).hexdigest() == BUILT_IN_SHA256
    assert bundled.read_bytes() == yamnet_tflite.read_bytes(), "the same model the tests read in ../shared"
    class_map = bundled.with_name("yamnet_class_map.csv").read_bytes()
    assert hashlib.sha256(class_map).hexdigest() == CLASS_MAP_SHA256
    notice = bundled.with_name("NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and "CC BY-SA 4.0" in notice and "AudioSet" in notice


# Run from another folder with ANIMAL_AUDIO_YAMNET unset: the default must not depend on the cwd.
_OFFLINE_DEFAULT = """
import json, sys
import animal_audio as aa
from animal_audio.demo.models import Registry
from animal_audio.demo.text import YAMNET, status_markdown
model = aa.YamnetZeroShot.load()
label = model.predict(aa.load_audio(sys.argv[1])).label
registry = Registry(use_latest_run=False)
answer = registry.get(YAMNET).predict(aa.load_audio(sys.argv[1])).label
print(json.dumps({"source": model.model.source, "backend": model.model.backend, "label": label,
                  "registry": answer, "panel": status_markdown([registry.side_status(YAMNET)]),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def test_default_yamnet_is_built_in_offline_and_needs_no_tensorflow(tmp_path: Path, clip_of) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != settings.ENV_YAMNET}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env["ANIMAL_AUDIO_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_DEFAULT, str(clip_of("dog"))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["source"] == settings.DEFAULT_YAMNET and found["backend"] == "tflite"
    assert found["label"] == "dog" and found["registry"] == "dog"
    assert "built-in YAMNet (TFLite, int8 weights) (default)" in found["panel"]
    assert found["tensorflow"] is False, "the TFLite path must not import TensorFlow"


def test_each_kind_of_yamnet_is_named_and_checked_without_loading(tmp_path: Path, monkeypatch) -> None:
    from animal_audio.models.yamnet import BUILT_IN_TITLE, describe_source, source_problem

    assert describe_source(settings.DEFAULT_YAMNET) == BUILT_IN_TITLE
    assert describe_source(settings.TFHUB_YAMNET) == f"YAMNet from TF Hub (float): {settings.TFHUB_YAMNET}"
    assert describe_source(str(tmp_path / "y.tflite")).startswith("YAMNet TFLite file")
    assert describe_source(str(tmp_path)).startswith("YAMNet SavedModel (float)")
    assert source_problem(settings.DEFAULT_YAMNET) is None
    assert source_problem(settings.TFHUB_YAMNET) is None, "only a download can tell; tensorflow is here"
    assert "ANIMAL_AUDIO_YAMNET" in source_problem(str(tmp_path / "y.tflite"))
    monkeypatch.setattr(settings, "BUNDLED_YAMNET", tmp_path / "assets" / "yamnet.tflite")
    with pytest.raises(ModelUnavailableError, match="built-in YAMNet is missing.*git checkout"):
        YamnetModel.load(str(tmp_path / "assets" / "yamnet.tflite"))
