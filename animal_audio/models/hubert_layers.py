"""Every HuBERT hidden layer from one forward pass, so the hubert-probe can choose its layer on validation.

HubertLayers runs HuBERT once per clip with all hidden states side by side; each layer (and their plain
average) is a LayerView with the name and fingerprint HubertEmbedder.load(layer=k) has, so the embedding
cache holds the same entries either way and a head trained on layer k runs on either.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from animal_audio.models.backends import Layer
from animal_audio.models.hubert import NAME, HubertEmbedder, _embedder_identity
from animal_audio.timeline import Frames

ALL = "all"
#: The plain average of all hidden states, offered beside each single layer.
AVERAGE = "mean"


class HubertLayers:
    """HuBERT's frames of every hidden state in one pass; `parts`: 0..L, then their average."""

    name = NAME

    def __init__(self, embedder: HubertEmbedder) -> None:
        if embedder.layer != ALL:
            raise ValueError("HubertLayers needs an embedder loaded with layer='all'")
        self.embedder = embedder
        self.num_layers = int(embedder.config.num_hidden_layers)
        self.hidden_size = int(embedder.config.hidden_size)
        self.parts: list[Layer] = [*range(self.num_layers + 1), AVERAGE]
        self.part_fingerprints = [
            _embedder_identity(embedder.source, part, embedder.fast)[3] for part in self.parts
        ]
        self.fingerprint = embedder.fingerprint

    @classmethod
    def load(cls, source: str, **kwargs: Any) -> HubertLayers:
        return cls(HubertEmbedder.load(source, layer=ALL, **kwargs))

    def frames_batch(self, waveforms: Sequence[np.ndarray]) -> list[Frames]:
        """Each clip's frames [frames, (L + 1) * hidden]: the hidden states side by side."""
        return self.embedder.frames_batch(waveforms)

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """One clip's all-layer frames as each part's frames [frames, hidden], in `parts` order."""
        layers = np.split(np.asarray(values), self.num_layers + 1, axis=-1)
        return [*layers, np.mean(layers, axis=0)]

    def view(self, part: Layer) -> LayerView:
        return LayerView(self, part)

    def describe(self) -> str:
        return self.embedder.describe()


class LayerView:
    """One part of HubertLayers as an Embedder (what a head trained on that layer runs on)."""

    name = NAME

    def __init__(self, layers: HubertLayers, part: Layer) -> None:
        self._layers = layers
        self._index = layers.parts.index(part)
        self.layer = part
        self.fingerprint = layers.part_fingerprints[self._index]

    def embed_frames(self, waveform: np.ndarray) -> Frames:
        return self.frames_batch([waveform])[0]

    def frames_batch(self, waveforms: Sequence[np.ndarray]) -> list[Frames]:
        frames = self._layers.frames_batch(waveforms)
        return [replace(f, values=self._layers.split(f.values)[self._index]) for f in frames]

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        return self.embed_frames(waveform).clip()

    def embed_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([f.clip() for f in self.frames_batch(waveforms)]).astype(np.float32)

    def describe(self) -> str:
        return f"{self._layers.describe()}; layer {self.layer}"
