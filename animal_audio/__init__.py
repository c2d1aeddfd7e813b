"""animal-audio: compare fine-tuned HuBERT and YAMNet on ESC-50's ten animal classes.

    import animal_audio as aa
    model = aa.YamnetZeroShot.load()  # the built-in YAMNet; or aa.load_hubert("USER/NAME" or a folder)
    prediction = model.predict(aa.load_audio("dog.wav"))
    print(prediction.label, prediction.confidence)

`load()` returns a fresh model that the caller owns; nothing is cached behind it.
Importing the package is cheap: torch, TensorFlow and transformers load with a model.
"""

from animal_audio.audio import SAMPLE_RATE, AudioTrimmedWarning, load_audio, read_clip
from animal_audio.errors import (
    AnimalAudioError,
    AudioError,
    CancelledError,
    CheckpointError,
    DatasetError,
    DiskSpaceError,
    ModelUnavailableError,
    NotTrainedError,
)
from animal_audio.labels import CLASSES
from animal_audio.models.base import Classifier, Prediction
from animal_audio.models.hubert import HubertClassifier, HubertEmbedder
from animal_audio.models.probe import LinearProbe, ProbeClassifier
from animal_audio.models.published import load_hubert
from animal_audio.models.yamnet import YamnetModel, YamnetZeroShot

__all__ = [
    "CLASSES",
    "SAMPLE_RATE",
    "AnimalAudioError",
    "AudioError",
    "AudioTrimmedWarning",
    "CancelledError",
    "CheckpointError",
    "Classifier",
    "DatasetError",
    "DiskSpaceError",
    "HubertClassifier",
    "HubertEmbedder",
    "LinearProbe",
    "ModelUnavailableError",
    "NotTrainedError",
    "Prediction",
    "ProbeClassifier",
    "YamnetModel",
    "YamnetZeroShot",
    "load_audio",
    "load_hubert",
    "read_clip",
]
