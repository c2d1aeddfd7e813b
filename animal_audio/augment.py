"""Training-time augmentation of 16 kHz waveforms: random crop/shift, gain, noise, speed.

400 clips are few for a 95M-parameter model; showing it a slightly different
version of each clip every epoch (as transformers' run_audio_classification does
with random sub-clips) makes it learn the animal, not the recording. Applied on
the fly to training clips only; validation and test clips are never touched.
Every function takes a `numpy.random.Generator`, so a run is repeatable from its seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from animal_audio.audio import SAMPLE_RATE, resample

#: Quieter than this (RMS) counts as silence: no noise level can be set relative to it.
SILENT_RMS = 1e-6

SeedLike = Union[int, np.random.Generator, None]


@dataclass(frozen=True)
class AugmentConfig:
    """What `augment` may do to a training clip; every part can be switched off.

    crop_seconds: length of the random sub-clip the model trains on (None = whole clip;
        shorter crops train faster but may cut the animal out of a mostly silent clip).
    max_shift_seconds: the clip moves up to this far left or right (zeros fill the gap).
    gain_db: random loudness change range (undone when the feature extractor
        normalises each clip, do_normalize=True; it matters for bases that do not).
    noise_prob / noise_snr_db: how often white background noise is added, and at
        which signal-to-noise ratio (dB).
    speed_range: speed perturbation factors (e.g. (0.9, 1.1)): resampling that changes
        tempo and pitch together, as in speech recognition; off by default.
    """

    crop_seconds: Optional[float] = None
    max_shift_seconds: float = 0.5
    gain_db: Optional[tuple[float, float]] = (-6.0, 6.0)
    noise_prob: float = 0.5
    noise_snr_db: tuple[float, float] = (15.0, 40.0)
    speed_range: Optional[tuple[float, float]] = None

    def __post_init__(self) -> None:
        if self.crop_seconds is not None and self.crop_seconds <= 0:
            raise ValueError("crop_seconds must be positive (or None for the whole clip)")
        if self.max_shift_seconds < 0:
            raise ValueError("max_shift_seconds must be >= 0")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError("noise_prob must be between 0 and 1")
        for name in ("gain_db", "noise_snr_db", "speed_range"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be a (low, high) pair with low <= high")
        if self.speed_range is not None and self.speed_range[0] <= 0:
            raise ValueError("speed_range factors must be positive")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for run fingerprints and reports."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def augment(
    waveform: np.ndarray, config: AugmentConfig, rng: SeedLike = None, *, length: Optional[int] = None
) -> np.ndarray:
    """A randomly changed copy of `waveform`, `length` samples long.

    `length` defaults to the crop length, or the input length when not cropping.
    The result is float32 in [-1, 1]; the input is never modified.
    """
    rng = np.random.default_rng(rng)
    out = np.asarray(waveform, dtype=np.float32)
    if length is None:
        length = int(round(config.crop_seconds * SAMPLE_RATE)) if config.crop_seconds else len(out)
    if config.speed_range is not None:
        out = speed_perturb(out, float(rng.uniform(*config.speed_range)))
    out = random_crop(out, length, rng)
    if config.max_shift_seconds > 0:
        out = time_shift(out, _shift_samples(config, rng))
    if config.gain_db is not None:
        out = apply_gain(out, float(rng.uniform(*config.gain_db)))
    if config.noise_prob > 0 and rng.random() < config.noise_prob:
        out = add_noise(out, float(rng.uniform(*config.noise_snr_db)), rng)
    return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)


def _shift_samples(config: AugmentConfig, rng: np.random.Generator) -> int:
    limit = int(config.max_shift_seconds * SAMPLE_RATE)
    return int(rng.integers(-limit, limit + 1))


def random_crop(waveform: np.ndarray, length: int, rng: SeedLike = None) -> np.ndarray:
    """A random `length`-sample window; shorter clips are zero-padded at a random offset."""
    rng = np.random.default_rng(rng)
    if len(waveform) == length:
        return waveform.copy()
    if len(waveform) > length:
        start = int(rng.integers(0, len(waveform) - length + 1))
        return waveform[start : start + length].copy()
    out = np.zeros(length, dtype=np.float32)
    start = int(rng.integers(0, length - len(waveform) + 1))
    out[start : start + len(waveform)] = waveform
    return out


def time_shift(waveform: np.ndarray, samples: int) -> np.ndarray:
    """Move the signal by `samples` (positive = later); zeros fill the gap, the length stays."""
    if samples == 0:
        return waveform.copy()
    out = np.zeros_like(waveform)
    if abs(samples) >= len(waveform):
        return out
    if samples > 0:
        out[samples:] = waveform[:-samples]
    else:
        out[:samples] = waveform[-samples:]
    return out


def apply_gain(waveform: np.ndarray, gain_db: float) -> np.ndarray:
    """Louder or quieter by `gain_db` decibels (clipped to [-1, 1] by `augment`)."""
    return (waveform * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def add_noise(waveform: np.ndarray, snr_db: float, rng: SeedLike = None) -> np.ndarray:
    """Add white noise `snr_db` below the clip's RMS (a silent clip stays as it is)."""
    rng = np.random.default_rng(rng)
    rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64)))) if waveform.size else 0.0
    if rms < SILENT_RMS:
        return waveform.copy()
    noise_rms = rms / (10.0 ** (snr_db / 20.0))
    noise = rng.standard_normal(len(waveform)).astype(np.float32) * np.float32(noise_rms)
    return waveform + noise


def speed_perturb(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (tempo and pitch): the result is len/factor samples long."""
    if abs(factor - 1.0) < 1e-6:
        return waveform.copy()
    # Treating the clip as if it were recorded at factor * 16 kHz and resampling it to
    # 16 kHz is exactly "speed up by factor" (Kaldi-style speed perturbation).
    return resample(waveform, int(round(SAMPLE_RATE * factor)))
