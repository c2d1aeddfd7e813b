"""load_audio: every kind of input a person can give, and every bad one, with the real message."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import soundfile as sf

from animal_audio import SAMPLE_RATE, AudioError, AudioTrimmedWarning, load_audio, read_clip


def tone(seconds: float, rate: int, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * 440 * t)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def test_real_esc50_clip_is_converted_to_16k_mono(clip_of):
    waveform = load_audio(clip_of("dog"))
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) == 5 * SAMPLE_RATE
    assert 0.01 < np.abs(waveform).max() <= 1.0


@pytest.mark.parametrize(
    "fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]
)
def test_reads_common_formats_from_path_and_bytes(tmp_path, fmt, subtype):
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, tone(1.0, 44_100), 44_100, format=fmt, subtype=subtype)
    from_path = load_audio(path)
    from_bytes = load_audio(path.read_bytes())
    assert abs(len(from_path) - SAMPLE_RATE) < 0.05 * SAMPLE_RATE  # mp3 adds encoder padding
    np.testing.assert_allclose(from_path, from_bytes)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32])
def test_microphone_tuples_any_rate_and_dtype(rate, dtype):
    samples = tone(1.0, rate, channels=2)
    if dtype != np.float32:
        samples = (samples * np.iinfo(dtype).max).astype(dtype)
    waveform = load_audio((rate, samples.astype(dtype)))
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) == SAMPLE_RATE
    assert 0.45 < np.abs(waveform).max() <= 0.51  # stereo averaged, scale preserved


def test_channels_first_stereo_is_mixed_down():
    stereo = tone(1.0, 16_000, channels=2).T.astype(np.float32)  # (2, frames)
    clip = read_clip((16_000, stereo))
    assert clip.source_channels == 2 and len(clip.waveform) == SAMPLE_RATE
    assert "mono" in clip.notes[0]


def test_float_samples_beyond_range_are_scaled_into_range():
    waveform = load_audio((16_000, tone(1.0, 16_000, amplitude=4.0).astype(np.float32)))
    assert np.abs(waveform).max() <= 1.0


@pytest.mark.parametrize(
    "source,message",
    [
        (b"", "empty"),
        ((16_000, np.zeros(0, np.int16)), "empty"),
        ((16_000, None), "No audio was recorded"),
        ((16_000, np.zeros(16_000, np.int16)), "silent"),
        ((16_000, np.full(16_000, 1e-5, np.float32)), "silent"),
        ((16_000, tone(0.1, 16_000).astype(np.float32)), "too short"),
        ((16_000, np.array([0.1, np.nan] * 8000, np.float32)), "NaN"),
        ((16_000, np.array([0.1, np.inf] * 8000, np.float32)), "NaN"),
        ((4_000, tone(1.0, 4_000).astype(np.float32)), "not supported"),
        ((192_000, tone(1.0, 192_000).astype(np.float32)), "not supported"),
        (b"this is not audio at all" * 100, "corrupt or in an unsupported format"),
        (12345, "Cannot read audio"),
    ],
)
def test_bad_input_gets_a_message_that_says_what_to_do(source, message):
    with pytest.raises(AudioError, match=message):
        load_audio(source)


def test_corrupt_and_wrong_format_files(tmp_path):
    truncated = tmp_path / "truncated.wav"
    buf = io.BytesIO()
    sf.write(buf, tone(1.0, 16_000), 16_000, format="WAV")
    truncated.write_bytes(buf.getvalue()[:30])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path, message in [
        (truncated, "corrupt"),
        (text, "unsupported format"),
        (empty, "empty"),
        (tmp_path / "nope.wav", "No audio file"),
    ]:
        with pytest.raises(AudioError, match=message):
            load_audio(path)


def test_long_clips_are_cut_with_a_warning_or_rejected_in_strict_mode(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(40.0, 22_050), 22_050)
    with pytest.warns(AudioTrimmedWarning, match="only the first 30 s"):
        waveform = load_audio(path)
    assert len(waveform) == 30 * SAMPLE_RATE
    with pytest.raises(AudioError, match="limit is 10 s"):
        load_audio(path, max_seconds=10, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_audio(path, max_seconds=None)) == 40 * SAMPLE_RATE


def test_long_microphone_recording_is_trimmed_and_noted():
    clip = read_clip((48_000, tone(35.0, 48_000).astype(np.float32)))
    assert clip.trimmed and clip.seconds == pytest.approx(30.0)
    assert "first 30 s" in clip.notes[-1]


def test_trimmed_means_we_cut_it():
    exact = read_clip((16_000, tone(30.0, 16_000).astype(np.float32)))
    assert not exact.trimmed and not exact.notes and exact.seconds == 30.0
    longer = read_clip((16_000, tone(30.4, 16_000).astype(np.float32)))
    assert longer.trimmed and longer.notes == ("The clip is 30.4 s long; only the first 30 s were used.",)
