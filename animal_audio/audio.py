"""Any audio input -> the one internal waveform: float32, mono, 16 kHz, in [-1, 1].

Conversion happens here, at the edge, and nowhere else. Every way a clip can be
unusable raises `AudioError` with a message that says what to do about it. Files are
decoded by `decoding` (header first, never more than `max_seconds` + 1 s).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf

from animal_audio.decoding import Decoded, check_format, decode_file, frame_limit
from animal_audio.errors import AudioError
from animal_audio.fileio import atomic_path
from animal_audio.formatting import duration

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.25
MAX_SECONDS = 30.0
#: Peak below -60 dBFS: nothing a microphone would call a sound.
SILENCE_PEAK = 1e-3

AudioSource = Union[str, os.PathLike, bytes, bytearray, tuple]


class AudioTrimmedWarning(UserWarning):
    """A clip was longer than the maximum and only its start was kept."""


@dataclass(frozen=True)
class AudioClip:
    """A decoded clip plus what a person may want to know about the conversion. `trimmed` is set where the
    cut happens: a header that claims a few ms more than decodes (common in MP3) is not a cut."""

    waveform: np.ndarray
    source_rate: int
    source_channels: int
    source_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    trimmed: bool = False

    @property
    def seconds(self) -> float:
        return len(self.waveform) / SAMPLE_RATE


def load_audio(
    source: AudioSource, *, max_seconds: float | None = MAX_SECONDS, strict: bool = False
) -> np.ndarray:
    """Decode, check and convert `source` to the internal waveform.

    Long clips are cut to `max_seconds` with an `AudioTrimmedWarning`, or rejected
    when `strict` is true. `max_seconds=None` keeps everything.
    """
    clip = read_clip(source, max_seconds=max_seconds, strict=strict)
    if clip.trimmed:
        warnings.warn(clip.notes[-1], AudioTrimmedWarning, stacklevel=2)
    return clip.waveform


def read_clip(
    source: AudioSource, *, max_seconds: float | None = MAX_SECONDS, strict: bool = False
) -> AudioClip:
    """Like `load_audio`, but returns the conversion details instead of warning."""
    decoded = _decode(source, max_seconds=max_seconds)
    samples, rate, channels = decoded.samples, decoded.rate, decoded.source_channels
    notes: list[str] = []
    if samples.size == 0:
        raise AudioError("The audio is empty (0 samples). Record again or upload a clip with sound in it.")
    if not np.all(np.isfinite(samples)):
        raise AudioError(
            "The audio contains invalid samples (NaN or infinity). "
            "Re-export it from your audio editor as 16-bit WAV and try again."
        )
    # float64 for the mix: float32 samples near their maximum would overflow to infinity.
    mono = samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float64)
    if channels > 1:
        notes.append(f"Mixed {channels} channels down to mono.")
    peak = float(np.max(np.abs(mono)))
    if peak > 1.0:
        mono = mono / peak
        notes.append("Scaled the audio down: its samples went beyond [-1, 1].")
    waveform = resample(mono.astype(np.float32), rate)
    seconds = len(waveform) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise AudioError(
            f"The clip is too short ({seconds:.2f} s). Record or upload at least "
            f"{MIN_SECONDS} s of sound; 1-5 s works best."
        )
    if peak < SILENCE_PEAK:
        raise AudioError(
            "The clip is silent (no sound above -60 dBFS). Check that the microphone "
            "is allowed and not muted, then record again closer to the sound."
        )
    # Up to max_seconds + 1 s was decoded: more than max_seconds means there is more to cut.
    trimmed = max_seconds is not None and len(waveform) > int(max_seconds * SAMPLE_RATE)
    source_seconds = max(seconds, decoded.header_seconds) if trimmed else seconds
    if trimmed:
        # '30.4 s', not formatting's '30 s', next to 'only the first 30 s'; a header may claim hours.
        length = f"{source_seconds:.1f} s" if source_seconds < 90 else duration(source_seconds)
        if strict:
            raise AudioError(
                f"The clip is {length} long; the limit is {max_seconds:g} s. "
                "Trim it to the part with the animal and try again."
            )
        waveform = waveform[: int(max_seconds * SAMPLE_RATE)]
        notes.append(f"The clip is {length} long; only the first {max_seconds:g} s were used.")
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32, copy=False)
    return AudioClip(waveform, decoded.source_rate, channels, source_seconds, tuple(notes), trimmed)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality (soxr) resampling of a mono float signal to `target` Hz."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32, copy=False)


def _decode(source: AudioSource, *, max_seconds: float | None) -> Decoded:
    """Samples (at most `max_seconds` + 1 s of them) and what the source says about itself."""
    if isinstance(source, tuple):
        return _from_array_tuple(source, max_seconds=max_seconds)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioError("The uploaded file is empty (0 bytes). Upload a real audio file.")
        return decode_file(io.BytesIO(bytes(source)), max_seconds, SAMPLE_RATE)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"No audio file named {path.name}. Check the path and try again.")
        if path.stat().st_size == 0:
            raise AudioError(f"{path.name} is empty (0 bytes). Upload a real audio file.")
        return decode_file(path, max_seconds, SAMPLE_RATE)
    raise AudioError(
        f"Cannot read audio from a {type(source).__name__}: give a file path, bytes, "
        "or a (sample_rate, samples) pair."
    )


def _from_array_tuple(pair: tuple, *, max_seconds: float | None) -> Decoded:
    """A Gradio microphone/numpy value: (sample_rate, samples) of int16/int32/float."""
    if len(pair) != 2:
        raise AudioError("Expected audio as a (sample_rate, samples) pair.")
    rate, samples = pair
    if samples is None:
        raise AudioError("No audio was recorded. Press record, make the sound, then stop.")
    try:
        rate = int(rate)
        samples = np.asarray(samples)
    except (TypeError, ValueError) as error:
        raise AudioError("Expected audio as a (sample_rate, samples) pair of numbers.") from error
    if samples.ndim == 2 and samples.shape[0] < samples.shape[1] and samples.shape[0] <= 8:
        samples = samples.T  # (channels, frames) -> (frames, channels)
    if samples.ndim not in (1, 2) or (samples.ndim == 2 and samples.shape[1] > 8):
        raise AudioError(f"Audio samples have an unexpected shape {samples.shape}; expected mono or stereo.")
    if rate <= 0:
        raise AudioError(f"Sample rate {rate} Hz is not valid. Record again or upload a file.")
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    check_format(rate, channels)
    seconds = samples.shape[0] / rate
    if max_seconds is not None:
        samples = samples[: frame_limit(max_seconds, rate)]
    if samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        scale = max(abs(int(info.min)), int(info.max))
        offset = 0.0 if samples.dtype.kind == "i" else (int(info.max) + 1) / 2
        samples = ((samples.astype(np.float64) - offset) / scale).astype(np.float32)
    elif samples.dtype.kind == "f":
        samples = samples.astype(np.float32, copy=False)
    else:
        raise AudioError(f"Audio samples of type {samples.dtype} are not supported; use int16 or float.")
    return Decoded(samples, rate, rate, channels, seconds)


def write_wav(path: str | os.PathLike, waveform: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write a 16-bit WAV atomically: a reader never sees a half-written file."""
    with atomic_path(path) as tmp:
        sf.write(tmp, waveform, rate, subtype="PCM_16", format="WAV")
    return Path(path)
