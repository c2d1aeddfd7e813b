"""One small error hierarchy whose messages tell a person what to do next.

The app shows these as Gradio messages and the CLI prints them and exits non-zero,
so every message is written for the user, not for a developer.
"""

from __future__ import annotations

#: Longest cause quoted inside one of our messages: a TensorFlow or ONNX error can run to pages.
CAUSE_LIMIT = 300
#: How a failure nobody foresaw is recorded (a run's models that could not run); its trace is logged under
#: the same id. The app shows it without the cause (`public_text.redact`).
UNEXPECTED_FAILURE = "It failed unexpectedly ({kind}: {cause}; error id {error_id}); the log has the details."


class AnimalAudioError(Exception):
    """Base class for every error the library raises on purpose."""


class AudioError(AnimalAudioError, ValueError):
    """The audio given cannot be used (empty, silent, corrupt, too short, ...)."""


class ModelUnavailableError(AnimalAudioError):
    """Weights cannot be loaded (offline, wrong path, not trained yet)."""


class NotTrainedError(ModelUnavailableError):
    """The model exists but has no trained head for these classes yet: train one first."""


class CheckpointError(AnimalAudioError):
    """A saved head or checkpoint is truncated, tampered with or of another format."""


class DatasetError(AnimalAudioError):
    """The ESC-50 data is missing, incomplete or cannot be downloaded."""


class DiskSpaceError(AnimalAudioError):
    """Too little free disk space to start a run or a download: refused before any work, with the numbers."""

    def __init__(self, message: str, *, needed: int, free: int) -> None:
        super().__init__(message)
        self.needed, self.free = needed, free


class DeviceError(AnimalAudioError, ValueError):
    """The device cannot do what was asked (e.g. mixed precision on a CPU)."""


class CancelledError(AnimalAudioError):
    """Long work was stopped on request; finished steps are kept on disk."""


def short_error(error: BaseException) -> str:
    """The first line of a third-party error (its type if it has no text), to quote as the cause."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= CAUSE_LIMIT else line[: CAUSE_LIMIT - 3] + "..."
