"""animal-audio: compare fine-tuned HuBERT and YAMNet on ESC-50's ten animal classes."""

from animal_audio.audio import SAMPLE_RATE, AudioTrimmedWarning, load_audio, read_clip
from animal_audio.errors import (
    AnimalAudioError,
    AudioError,
    CancelledError,
    CheckpointError,
    DatasetError,
    ModelUnavailableError,
)
from animal_audio.labels import CLASSES
from animal_audio.models.base import Classifier, Prediction

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
    "ModelUnavailableError",
    "Prediction",
    "load_audio",
    "read_clip",
]
