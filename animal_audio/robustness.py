"""The robustness lab: a clip changed as the world changes sounds (noise, speed, pitch, a phone line), each
by one number, its level, so a chart can sweep it and a run be scored at a few (robustness_run.py)."""

# Levels: an SNR in dB, a speed or pitch factor, a line's sample rate. Noise comes from a generator seeded
# per call (the same clip at the same level is the same clip for every model and call); nothing here draws
# from or reseeds Python's or numpy's global generators, which other threads use. Speed, pitch and the
# phone line are audiomentations' transforms with their parameters set.

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from animal_audio.audio import SAMPLE_RATE, resample
from animal_audio.errors import AnimalAudioError
from animal_audio.labels import CLASSES
from animal_audio.models.base import Prediction

#: A telephone's voice band (ITU-T G.712) and its share of the line's sample rate (3400 / 8000).
PHONE_LOW_HZ = 300.0
PHONE_BAND_SHARE = 3400.0 / 8000.0
#: Steep filters (dB/octave; audiomentations allows multiples of 6): a phone line cuts, it does not tilt.
PHONE_ROLLOFF = 36
DEFAULT_SEED = 0
#: Pink noise is flat below the low end of hearing: its power would otherwise pile up where no one listens.
PINK_FROM_HZ = 20.0


@dataclass(frozen=True)
class Transform:
    """One way to change a clip: its title and unit for charts, the levels a sweep and a run use."""

    name: str
    title: str
    unit: str
    low: float
    high: float
    #: From mild to harsh; the first is (nearly) the clip as it was.
    sweep_levels: tuple[float, ...]
    #: The three levels a run is scored at (robustness_run.py).
    run_levels: tuple[float, float, float]
    #: (waveform, level, the call's own generator) -> changed waveform.
    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

    def check(self, level: float) -> float:
        level = float(level)
        if not (np.isfinite(level) and self.low <= level <= self.high):
            raise AnimalAudioError(
                f"{self.title}: level {level:g} is out of range; use {self.low:g} to {self.high:g} {self.unit}."
            )
        return level


def _white_noise(waveform: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    return _add_noise(waveform, rng.standard_normal(len(waveform)), snr_db)


def _pink_noise(waveform: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Power falling 3 dB per octave (1/f) from 20 Hz up: white noise shaped by 1/sqrt(f)."""
    spectrum = np.fft.rfft(rng.standard_normal(len(waveform)))
    frequencies = np.maximum(np.fft.rfftfreq(len(waveform), 1.0 / SAMPLE_RATE), PINK_FROM_HZ)
    return _add_noise(waveform, np.fft.irfft(spectrum / np.sqrt(frequencies), len(waveform)), snr_db)


def _add_noise(waveform: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`noise` scaled to `snr_db` below the clip's RMS, added (a silent clip stays silent)."""
    noise_rms = float(np.sqrt(np.mean(np.square(noise)))) if noise.size else 0.0
    if noise_rms == 0.0:
        return waveform
    clip_rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
    scale = clip_rms / 10 ** (snr_db / 20) / noise_rms
    return (waveform + scale * noise).astype(np.float32)


def _pinned(augmentation: Any, **parameters: float) -> Any:
    """An audiomentations transform with its parameters set and frozen: calling it draws no random number."""
    augmentation.parameters.update(should_apply=True, **parameters)
    augmentation.freeze_parameters()
    return augmentation


def _speed(waveform: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Faster or slower at the same pitch: the clip becomes len / rate samples long."""
    from audiomentations import TimeStretch

    stretch = TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=False, p=1.0)
    return _pinned(stretch, rate=rate)(waveform, SAMPLE_RATE)


def _pitch(waveform: np.ndarray, semitones: float, rng: np.random.Generator) -> np.ndarray:
    from audiomentations import PitchShift

    shift = PitchShift(min_semitones=semitones, max_semitones=semitones, p=1.0)
    return _pinned(shift, num_semitones=semitones)(waveform, SAMPLE_RATE)


def _phone(waveform: np.ndarray, line_rate: float, rng: np.random.Generator) -> np.ndarray:
    """A voice-band line sampled at `line_rate` Hz: band-pass 300 Hz to 0.425 x the rate (3400 Hz at
    8 kHz), down to the line's rate and back up to 16 kHz."""
    from audiomentations import HighPassFilter, LowPassFilter

    rate = int(round(line_rate))
    top = PHONE_BAND_SHARE * rate
    high_pass = HighPassFilter(PHONE_LOW_HZ, PHONE_LOW_HZ, PHONE_ROLLOFF, PHONE_ROLLOFF, p=1.0)
    low_pass = LowPassFilter(top, top, PHONE_ROLLOFF, PHONE_ROLLOFF, p=1.0)
    high_pass = _pinned(high_pass, cutoff_freq=PHONE_LOW_HZ, rolloff=PHONE_ROLLOFF)
    low_pass = _pinned(low_pass, cutoff_freq=top, rolloff=PHONE_ROLLOFF)
    band = low_pass(high_pass(waveform, SAMPLE_RATE), SAMPLE_RATE)
    return resample(resample(band, SAMPLE_RATE, rate), rate, SAMPLE_RATE)


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("white-noise", "White noise", "dB SNR", -10, 30, (30, 20, 10, 0, -10), (30, 10, -10), _white_noise),
        Transform("pink-noise", "Pink noise", "dB SNR", -10, 30, (30, 20, 10, 0, -10), (30, 10, -10), _pink_noise),
        Transform("speed", "Speed", "x", 0.8, 1.25, (1.0, 0.9, 1.1, 0.8, 1.25), (0.8, 1.1, 1.25), _speed),
        Transform("pitch", "Pitch", "semitones", -4, 4, (0, -2, 2, -4, 4), (-4, 2, 4), _pitch),
        Transform("phone", "Phone line", "Hz line rate", 4000, 16000, (16000, 12000, 8000, 6000, 4000),
                  (16000, 8000, 4000), _phone),
    )
}  # fmt: skip


def transform(waveform: np.ndarray, name: str, level: float, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """`waveform` changed by transform `name` at `level`, still the internal waveform (a louder mix is
    scaled down); the same seed gives the same noise, from a generator of this call's own."""
    spec = transform_spec(name)
    level = spec.check(level)
    samples = np.ascontiguousarray(waveform, dtype=np.float32)
    out = spec.apply(samples, level, np.random.default_rng(seed))
    out = np.nan_to_num(np.asarray(out, dtype=np.float32))
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    # Scaled, not clipped, back into [-1, 1]: clipping would add distortion the level does not name.
    return out / np.float32(peak) if peak > 1.0 else out


def transform_spec(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise AnimalAudioError(f"No transform {name!r}: choose one of {', '.join(TRANSFORMS)}.") from None


def sweep(
    classifiers: Any,
    waveform: np.ndarray,
    name: str,
    levels: Optional[Sequence[float]] = None,
    *,
    seed: int = DEFAULT_SEED,
    original: Optional[Mapping[str, Prediction]] = None,
) -> dict[str, Any]:
    """Each model's probability for its own top class on the unchanged clip, at every level of one transform:
    where a model's line falls first, it breaks first."""
    # `classifiers`: one or several (Classifier protocol), one predict_batch each. `original`: predictions
    # the caller already has for the unchanged clip, by model name (the app's answer), not made again.
    spec = transform_spec(name)
    levels = [spec.check(level) for level in (spec.sweep_levels if levels is None else levels)]
    changed = [transform(waveform, name, level, seed=seed) for level in levels]
    models = [classifiers] if hasattr(classifiers, "predict_batch") else list(classifiers)
    results = []
    for classifier in models:
        known = (original or {}).get(classifier.name)
        batch = changed if known is not None else [np.asarray(waveform, dtype=np.float32), *changed]
        predictions = classifier.predict_batch(batch)
        reference = known if known is not None else predictions.pop(0)
        top = int(np.argmax(reference.probs))
        results.append(
            {
                "model": classifier.name,
                "class": CLASSES[top],
                "original": round(float(reference.probs[top]), 6),
                "probabilities": [round(float(p.probs[top]), 6) for p in predictions],
                "labels": [p.label for p in predictions],
            }
        )
    return {"transform": name, "unit": spec.unit, "levels": levels, "models": results}
