"""Training augmentation on a real clip: lengths kept, repeatable from a seed, changes within bounds."""

from __future__ import annotations

import numpy as np
import pytest

from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.augment import (
    AugmentConfig,
    add_noise,
    apply_gain,
    augment,
    random_crop,
    speed_perturb,
    time_shift,
)

NOTHING = AugmentConfig(max_shift_seconds=0.0, gain_db=None, noise_prob=0.0)


@pytest.fixture(scope="module")
def dog(clip_of) -> np.ndarray:
    return load_audio(clip_of("dog", fold=1))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_default_augmentation_keeps_length_range_and_input(dog):
    before = dog.copy()
    out = augment(dog, AugmentConfig(), rng=0)
    assert out.shape == dog.shape and out.dtype == np.float32
    assert np.all(np.abs(out) <= 1.0)
    assert not np.array_equal(out, dog)
    np.testing.assert_array_equal(dog, before)  # the cached training clip is never modified


def test_crop_gives_a_window_of_the_clip(dog):
    config = AugmentConfig(crop_seconds=1.0, max_shift_seconds=0.0, gain_db=None, noise_prob=0.0)
    out = augment(dog, config, rng=3)
    assert len(out) == SAMPLE_RATE
    assert any(np.array_equal(dog[i : i + SAMPLE_RATE], out) for i in range(len(dog) - SAMPLE_RATE + 1))
    short = random_crop(dog[:8000], SAMPLE_RATE, rng=1)  # shorter than the crop: zero-padded, all kept
    assert len(short) == SAMPLE_RATE and np.isclose(np.abs(short).sum(), np.abs(dog[:8000]).sum())


def test_same_seed_same_result_other_seed_other_result(dog):
    config = AugmentConfig(crop_seconds=2.0, speed_range=(0.9, 1.1), noise_prob=1.0)
    a = augment(dog, config, rng=np.random.default_rng(7))
    b = augment(dog, config, rng=np.random.default_rng(7))
    c = augment(dog, config, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_all_switched_off_returns_the_clip(dog):
    np.testing.assert_array_equal(augment(dog, NOTHING, rng=0), dog)


def test_gain_changes_loudness_within_its_range(dog):
    quiet = dog * 0.1  # room to get louder without clipping
    config = AugmentConfig(max_shift_seconds=0.0, gain_db=(-6.0, 6.0), noise_prob=0.0)
    ratios_db = [20 * np.log10(rms(augment(quiet, config, rng=s)) / rms(quiet)) for s in range(20)]
    assert all(-6.0 - 1e-3 <= r <= 6.0 + 1e-3 for r in ratios_db)
    assert max(ratios_db) - min(ratios_db) > 3.0  # it really varies
    assert np.isclose(rms(apply_gain(quiet, 20 * np.log10(2))), 2 * rms(quiet), rtol=1e-4)


def test_noise_is_added_at_the_requested_snr(dog):
    noisy = add_noise(dog, 20.0, rng=0)
    snr = 20 * np.log10(rms(dog) / rms(noisy - dog))
    assert snr == pytest.approx(20.0, abs=0.5)
    config = AugmentConfig(max_shift_seconds=0.0, gain_db=None, noise_prob=1.0, noise_snr_db=(15.0, 40.0))
    for seed in range(5):
        out = augment(dog, config, rng=seed)
        snr = 20 * np.log10(rms(dog) / rms(out - dog))
        assert 15.0 - 0.5 <= snr <= 40.0 + 0.5
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    np.testing.assert_array_equal(add_noise(silence, 10.0, rng=0), silence)  # no SNR relative to nothing


def test_shift_moves_the_signal_and_keeps_the_length(dog):
    later = time_shift(dog, 800)
    np.testing.assert_array_equal(later[800:], dog[:-800])
    assert not later[:800].any()
    earlier = time_shift(dog, -800)
    np.testing.assert_array_equal(earlier[:-800], dog[800:])


def test_speed_perturbation_changes_length_then_augment_restores_it(dog):
    faster = speed_perturb(dog, 1.1)
    slower = speed_perturb(dog, 0.9)
    assert abs(len(faster) - len(dog) / 1.1) < 2
    assert abs(len(slower) - len(dog) / 0.9) < 2
    config = AugmentConfig(max_shift_seconds=0.0, gain_db=None, noise_prob=0.0, speed_range=(1.1, 1.1))
    out = augment(dog, config, rng=0)
    assert len(out) == len(dog)
    assert not np.array_equal(out[: len(faster)], dog[: len(faster)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"crop_seconds": 0.0},
        {"max_shift_seconds": -1.0},
        {"noise_prob": 1.5},
        {"gain_db": (6.0, -6.0)},
        {"speed_range": (0.0, 1.1)},
    ],
)
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        AugmentConfig(**kwargs)
