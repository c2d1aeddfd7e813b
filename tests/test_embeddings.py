"""The embedding cache: a second run embeds nothing, damaged entries are recomputed, cancel keeps work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animal_audio import embeddings, settings
from animal_audio.embeddings import embed_clips
from animal_audio.errors import CancelledError
from animal_audio.models.yamnet import EMBEDDING_SIZE, YamnetModel
from animal_audio.progress import ProgressEvent

CLIPS = [("dog", 5, 0), ("cat", 5, 0), ("frog", 5, 0), ("pig", 5, 0)]


class CountingEmbedder:
    """The real YAMNet embedder, counting the clips it is asked to embed."""

    def __init__(self, model: YamnetModel, fingerprint: str | None = None) -> None:
        self.model = model
        self.name = model.name
        self.fingerprint = fingerprint or model.fingerprint
        self.clips = 0

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_batch([waveform])[0]

    def embed_batch(self, waveforms) -> np.ndarray:
        self.clips += len(waveforms)
        return self.model.embed_batch(waveforms)

    def describe(self) -> str:
        return f"counting {self.model.describe()}"


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path) -> YamnetModel:
    return YamnetModel.load(str(yamnet_tflite))


@pytest.fixture()
def embedder(yamnet: YamnetModel) -> CountingEmbedder:
    return CountingEmbedder(yamnet)


@pytest.fixture()
def paths(clip_of) -> list[Path]:
    return [clip_of(*c) for c in CLIPS]


def test_second_run_is_served_from_the_cache(embedder, paths, tmp_path):
    events: list[ProgressEvent] = []
    first = embed_clips(embedder, paths, cache_dir=tmp_path, progress=events.append)
    assert first.shape == (len(paths), EMBEDDING_SIZE) and embedder.clips == len(paths)
    assert events[-1].fraction == 1.0 and events[-1].stage == "embed"
    second = embed_clips(embedder, paths, cache_dir=tmp_path)
    assert embedder.clips == len(paths)  # not called again
    assert np.array_equal(first, second)
    assert np.allclose(first[0], embedder.model.embed(_load(paths[0])))


def test_default_cache_lives_under_the_home_setting(embedder, paths):
    embed_clips(embedder, paths[:1])
    assert list((settings.cache_dir() / "embeddings" / "yamnet").glob("*.npz"))


def test_a_corrupt_cache_entry_is_recomputed(embedder, paths, tmp_path):
    first = embed_clips(embedder, paths, cache_dir=tmp_path)
    entries = sorted((tmp_path / "yamnet").glob("*.npz"))
    assert len(entries) == len(paths)
    entries[0].write_bytes(entries[0].read_bytes()[:50])  # truncated, as after a crash mid-copy
    entries[1].write_bytes(b"garbage")
    again = embed_clips(embedder, paths, cache_dir=tmp_path)
    assert embedder.clips == len(paths) + 2
    assert np.allclose(again, first)
    assert embed_clips(embedder, paths, cache_dir=tmp_path).shape == first.shape
    assert embedder.clips == len(paths) + 2  # repaired entries are used next time


def test_another_model_or_a_changed_file_misses_the_cache(embedder, paths, tmp_path):
    embed_clips(embedder, paths[:2], cache_dir=tmp_path)
    other = CountingEmbedder(embedder.model, fingerprint="yamnet-other-weights")
    embed_clips(other, paths[:2], cache_dir=tmp_path)
    assert other.clips == 2
    copy = tmp_path / "copy.wav"
    copy.write_bytes(paths[0].read_bytes())
    embed_clips(embedder, [copy], cache_dir=tmp_path)
    with open(copy, "ab") as f:
        f.write(b"\0\0")  # a changed file (size and mtime)
    embed_clips(embedder, [copy], cache_dir=tmp_path)
    assert embedder.clips == 2 + 2


def test_cancel_stops_and_keeps_finished_clips(embedder, paths, tmp_path, monkeypatch):
    monkeypatch.setattr(embeddings, "CHUNK", 2)
    checks = iter([False, True])
    with pytest.raises(CancelledError, match="run again to resume"):
        embed_clips(embedder, paths, cache_dir=tmp_path, cancel=lambda: next(checks))
    assert embedder.clips == 2
    embed_clips(embedder, paths, cache_dir=tmp_path)
    assert embedder.clips == len(paths)  # only the two not yet done


def _load(path: Path) -> np.ndarray:
    from animal_audio.audio import load_audio

    return load_audio(path)
