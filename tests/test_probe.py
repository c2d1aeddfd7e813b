"""Linear probe on real YAMNet embeddings: learns, saves without pickle, refuses damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from animal_audio.audio import load_audio
from animal_audio.embeddings import embed_clips
from animal_audio.errors import CheckpointError, NotTrainedError
from animal_audio.labels import CLASSES
from animal_audio.models.base import Classifier
from animal_audio.models.probe import META_FILE, Embedder, LinearProbe, ProbeClassifier, head_pipeline
from animal_audio.models.yamnet import EMBEDDING_SIZE, YamnetModel

TRAIN = [(label, fold, index) for label in CLASSES for fold in (1, 2) for index in (0, 1)]
TEST = [(label, 5, index) for label in CLASSES for index in (0, 1)]


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path) -> YamnetModel:
    return YamnetModel.load(str(yamnet_tflite))


@pytest.fixture(scope="module")
def features(yamnet, clip_of, tmp_path_factory):
    """Real YAMNet embeddings: 4 clips per class from folds 1-2 to train, 2 per class from fold 5 to test."""
    cache = tmp_path_factory.mktemp("embeddings")
    train = embed_clips(yamnet, [clip_of(*c) for c in TRAIN], cache_dir=cache)
    test = embed_clips(yamnet, [clip_of(*c) for c in TEST], cache_dir=cache)
    return train, [c[0] for c in TRAIN], test, np.array([CLASSES.index(c[0]) for c in TEST])


@pytest.fixture(scope="module")
def probe(features, yamnet) -> LinearProbe:
    X, y, _, _ = features
    return LinearProbe().fit(X, y, seed=0, embedder=yamnet)


def test_probe_on_real_embeddings_beats_chance_on_held_out_clips(probe, features):
    _, _, X_test, y_test = features
    probs = probe.predict_proba(X_test)
    assert probs.shape == (len(X_test), len(CLASSES))
    assert np.allclose(probs.sum(axis=1), 1.0)
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    assert accuracy >= 0.4, f"held-out accuracy {accuracy:.2f}; chance is 0.10"  # 0.65 measured


def test_probabilities_match_the_sklearn_pipeline_it_was_fitted_with(features):
    from threadpoolctl import threadpool_limits

    X, y, X_test, _ = features
    X, X_test = X.astype(np.float64), X_test.astype(np.float64)
    reference = head_pipeline(seed=0)
    with threadpool_limits(limits=1, user_api="blas"):
        reference.fit(X, [CLASSES.index(label) for label in y])
    assert np.allclose(
        LinearProbe().fit(X, y).predict_proba(X_test), reference.predict_proba(X_test), atol=1e-6
    )
    assert reference[-1].coef_.shape[1] == min(X.shape), "fitted in the span of the training clips"


def test_the_head_reaches_the_l2_optimum_at_least_as_closely_as_a_direct_fit(features):
    """Fitted in the span of the training clips (fewer variables), the head's penalised loss on the
    standardised embeddings is no higher than that of logistic regression fitted on them directly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    X, y, _, _ = features
    X = X.astype(np.float64)
    targets = np.array([CLASSES.index(label) for label in y])
    scaled = StandardScaler().fit_transform(X)

    def penalised_loss(coef: np.ndarray, intercept: np.ndarray) -> float:  # sklearn's objective, C = 1
        logits = scaled @ coef.T + intercept
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return float(-log_probs[np.arange(len(targets)), targets].sum() + 0.5 * np.sum(coef**2))

    with threadpool_limits(limits=1, user_api="blas"):
        direct = LogisticRegression(C=1.0, max_iter=2000).fit(scaled, targets)
    head = LinearProbe().fit(X, y, C=1.0)._arrays  # its weights act on standardised embeddings
    assert penalised_loss(head["coef"], head["intercept"]) <= penalised_loss(direct.coef_, direct.intercept_)


def test_save_load_round_trip_gives_identical_probabilities(probe, features, tmp_path):
    _, _, X_test, _ = features
    probe.save(tmp_path / "head")
    probe.save(tmp_path / "head")  # saving again replaces, leaving one weights file
    assert sorted(p.suffix for p in (tmp_path / "head").iterdir()) == [".json", ".safetensors"]
    loaded = LinearProbe.load(tmp_path / "head")
    assert np.array_equal(loaded.predict_proba(X_test), probe.predict_proba(X_test))
    meta = json.loads((tmp_path / "head" / META_FILE).read_text())
    assert meta["labels"] == list(CLASSES) and meta["dim"] == EMBEDDING_SIZE
    assert meta["embedder"]["name"] == "yamnet" and len(meta["weights"]["sha256"]) == 64


def test_classes_missing_from_training_get_zero_probability(features):
    X, y, X_test, _ = features
    keep = [i for i, label in enumerate(y) if label in ("dog", "cat")]
    probs = LinearProbe().fit(X[keep], [y[i] for i in keep]).predict_proba(X_test)
    assert probs.shape == (len(X_test), len(CLASSES)) and np.allclose(probs.sum(axis=1), 1.0)
    others = [i for i, c in enumerate(CLASSES) if c not in ("dog", "cat")]
    assert np.all(probs[:, others] == 0.0)


def _weights_file(directory: Path) -> Path:
    return next(directory.glob("*.safetensors"))


def test_truncated_weights_raise_checkpoint_error(probe, tmp_path):
    weights = _weights_file(probe.save(tmp_path / "head"))
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or was modified"):
        LinearProbe.load(tmp_path / "head")


def test_tampered_weights_raise_checkpoint_error(probe, tmp_path):
    weights = _weights_file(probe.save(tmp_path / "head"))
    data = bytearray(weights.read_bytes())
    data[-8] ^= 0xFF  # one flipped byte inside the coefficients
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        LinearProbe.load(tmp_path / "head")


def test_truncated_or_edited_metadata_raises_checkpoint_error(probe, tmp_path):
    meta = probe.save(tmp_path / "head") / META_FILE
    good = meta.read_text()
    meta.write_text(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        LinearProbe.load(tmp_path / "head")
    meta.write_text(good.replace('"dog"', '"cat"'))  # two classes of one name
    with pytest.raises(CheckpointError, match="labels"):
        LinearProbe.load(tmp_path / "head")
    meta.write_text(good.replace('"dog"', '"wolf"'))  # another label set: the head says which
    assert LinearProbe.load(tmp_path / "head").labels.names[0] == "wolf"
    meta.unlink()
    with pytest.raises(NotTrainedError, match="No trained probe"):
        LinearProbe.load(tmp_path / "head")


def test_a_probe_never_fitted_or_saved_is_not_trained_yet(tmp_path):
    with pytest.raises(NotTrainedError, match="not been trained"):
        LinearProbe().predict_proba(np.zeros((1, EMBEDDING_SIZE)))
    with pytest.raises(NotTrainedError, match="No trained probe"):
        LinearProbe.load(tmp_path / "never-trained")


def test_probe_classifier_composes_an_embedder_with_a_saved_head(probe, yamnet, clip_of, tmp_path):
    assert isinstance(yamnet, Embedder)
    classifier = ProbeClassifier.from_dir("yamnet-probe", yamnet, probe.save(tmp_path / "head"))
    assert isinstance(classifier, Classifier)
    waveforms = [load_audio(clip_of("rooster", 5, 0)), load_audio(clip_of("crow", 5, 0))]
    single = classifier.predict(waveforms[0])
    batch = classifier.predict_batch(waveforms)
    assert single.model == "yamnet-probe" and single.probs.sum() == pytest.approx(1.0)
    assert np.allclose(batch[0].probs, single.probs) and len(batch) == 2
    assert "yamnet-probe" in classifier.describe()


def test_a_head_for_another_embedder_is_refused(probe, tmp_path):
    class OtherEmbedder:
        name, fingerprint = "hubert", "hubert-test"

        def embed(self, waveform):
            return np.zeros(768)

        def embed_batch(self, waveforms):
            return np.zeros((len(waveforms), 768))

        def describe(self):
            return "another embedder"

    with pytest.raises(CheckpointError, match="trained on yamnet embeddings"):
        ProbeClassifier("hubert-probe", OtherEmbedder(), probe)
    unnamed = LinearProbe.load(probe.save(tmp_path / "head"))
    unnamed.embedder_name = ""
    with pytest.raises(CheckpointError, match="768"):
        ProbeClassifier("hubert-probe", OtherEmbedder(), unnamed).predict(np.zeros(16000, np.float32))
