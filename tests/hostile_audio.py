"""A corpus of hostile and odd audio files, made on the spot: header lies, absurd rates and
channel counts, hours of audio in a small FLAC, damaged MP3/OGG/FLAC, things that are not audio.

Shared by tests/test_hostile_audio.py (the library) and its test through the running app.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

RATE = 16_000
#: The long FLAC: 3 hours at 16 kHz would be 691 MB as float32 if decoded whole.
LONG_HOURS = 3
LONG_RATE = 16_000
SIZE_CAP = 20 * 1024 * 1024
#: What a message must not contain: a path, a traceback, a Python exception's class name.
LEAKS = re.compile(r"(^|[\s'\"(=:])/[\w.-]+/|Traceback|\b[A-Z]\w*(Error|Exception)\b")


@dataclass(frozen=True)
class Hostile:
    """One corpus file and what must come of it.

    `error`: a fragment of the AudioError message it must get; `seconds`: the length of the
    correct answer; neither: damaged on purpose, either a clear message or a valid answer.
    """

    name: str
    make: Callable[[], bytes]
    error: str | None = None
    seconds: float | None = None
    trimmed: bool = False


def tone(seconds: float, rate: int = RATE, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * 440 * t)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def encoded(samples: np.ndarray, rate: int = RATE, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def riff(
    pcm: bytes, rate: int, channels: int = 1, *, data_size: int | None = None, riff_size: int | None = None
) -> bytes:
    """A 16-bit PCM WAV written by hand, so that its header can say whatever we like."""
    data_size = len(pcm) if data_size is None else data_size
    riff_size = 36 + data_size if riff_size is None else riff_size
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (
        b"RIFF" + struct.pack("<I", riff_size & 0xFFFFFFFF) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF) + pcm
    )  # fmt: skip


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def long_flac() -> bytes:
    """Five seconds of tone then three hours of silence: about 0.6 MB, far under the cap."""
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", LONG_RATE, 1, format="FLAC", subtype="PCM_16") as f:
        f.write(tone(5.0, LONG_RATE).astype(np.float32))
        silence = np.zeros(LONG_RATE * 600, np.int16)
        for _ in range(LONG_HOURS * 6):
            f.write(silence)
    return buffer.getvalue()


def mp3_header_longer() -> bytes:
    """An MP3 whose Xing header claims a few ms more than decodes (a real recording did this)."""
    whole = encoded(tone(1.0, 44_100), 44_100, "MP3", "MPEG_LAYER_III")
    return whole[:-100]


def mp3_claims_hours() -> bytes:
    """A 2 s MP3 whose Xing/Info header claims some 7 hours of frames."""
    data = bytearray(_mp3())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    flags = struct.unpack(">I", data[tag + 4 : tag + 8])[0]
    assert tag > 0 and flags & 1, "libsndfile wrote no Xing/Info frame count"
    data[tag + 8 : tag + 12] = struct.pack(">I", 1_000_000)
    return bytes(data)


def damaged(data: bytes, start: int, length: int) -> bytes:
    """`length` bytes from `start` replaced by noise: a header or first frames no decoder expects."""
    noise = np.random.default_rng(start).integers(0, 256, length, dtype=np.uint8).tobytes()
    return data[:start] + noise + data[start + length :]


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dog.wav", encoded(tone(1.0)))
    return buffer.getvalue()


def random_bytes(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _mp3() -> bytes:
    return encoded(tone(2.0, 44_100), 44_100, "MP3", "MPEG_LAYER_III")


def _ogg() -> bytes:
    return encoded(tone(2.0), RATE, "OGG", "VORBIS")


def _flac() -> bytes:
    return encoded(tone(2.0), RATE, "FLAC", "PCM_16")


def _float_wav(values: np.ndarray) -> bytes:
    return encoded(values.astype(np.float32), RATE, "WAV", "FLOAT")


NOT_AUDIO = "corrupt or in an unsupported format"

CORPUS: tuple[Hostile, ...] = (
    # not audio at all
    Hostile("empty.wav", lambda: b"", error="empty"),
    Hostile("notes.wav", lambda: b"This is a text file, not a recording.\n" * 40, error=NOT_AUDIO),
    Hostile("notes.mp3", lambda: b"<html><body>not a song</body></html>\n" * 40, error=NOT_AUDIO),
    Hostile("archive.wav", zip_bytes, error=NOT_AUDIO),
    Hostile("random.wav", lambda: random_bytes(64_000, 1), error=NOT_AUDIO),
    Hostile("random.flac", lambda: random_bytes(64_000, 2), error=NOT_AUDIO),
    Hostile("random.mp3", lambda: random_bytes(64_000, 3)),
    Hostile("playlist.m4a", lambda: b"#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/a.aac\n", error=NOT_AUDIO),
    Hostile("concat.m4a", lambda: b"ffconcat version 1.0\nfile '/etc/passwd'\n", error=NOT_AUDIO),
    Hostile("header_only.wav", lambda: encoded(tone(1.0))[:30], error=NOT_AUDIO),
    # header lies and absurd formats, refused before a sample is read
    Hostile("channels_64.wav", lambda: riff(pcm16(np.zeros(64 * 1600)), RATE, 64), error="64 channels"),
    Hostile("channels_9.wav", lambda: encoded(tone(1.0, channels=9)), error="9 channels"),
    Hostile(
        "rate_384k.wav", lambda: encoded(tone(1.0, 384_000), 384_000), error="384000 Hz is not supported"
    ),
    Hostile("rate_4k.wav", lambda: encoded(tone(1.0, 4_000), 4_000), error="4000 Hz is not supported"),
    Hostile("rate_0.wav", lambda: riff(pcm16(tone(1.0)), 0)),
    Hostile(
        "claims_10_minutes.wav", lambda: riff(pcm16(tone(1.0)), RATE, data_size=600 * RATE * 2), seconds=1.0
    ),
    Hostile("claims_4_gb.wav", lambda: riff(pcm16(tone(2.0)), RATE, data_size=-1, riff_size=-1), seconds=2.0),
    Hostile("claims_8k_of_16k_data.wav", lambda: riff(pcm16(tone(1.0)), 8_000), seconds=2.0),
    # samples no model should see
    Hostile("nan.wav", lambda: _float_wav(np.full(RATE, np.nan)), error="NaN"),
    Hostile("inf.wav", lambda: _float_wav(np.where(tone(1.0) > 0, np.inf, -np.inf)), error="infinity"),
    Hostile("one_sample.wav", lambda: encoded(np.array([0.5])), error="too short"),
    Hostile("silence.wav", lambda: encoded(np.zeros(2 * RATE)), error="silent"),
    Hostile("float_beyond_range.wav", lambda: _float_wav(tone(1.0, amplitude=8.0)), seconds=1.0),
    Hostile(
        "float_near_max.wav", lambda: _float_wav(np.stack([tone(1.0, amplitude=3e38)] * 2, 1)), seconds=1.0
    ),
    Hostile("clipped_loud.wav", lambda: encoded(np.clip(tone(1.0, amplitude=20.0), -1, 1)), seconds=1.0),
    # odd but fine
    Hostile("rate_8k.wav", lambda: encoded(tone(1.0, 8_000), 8_000), seconds=1.0),
    Hostile("rate_96k.wav", lambda: encoded(tone(1.0, 96_000), 96_000), seconds=1.0),
    Hostile("pcm_24.wav", lambda: encoded(tone(1.0), RATE, "WAV", "PCM_24"), seconds=1.0),
    Hostile("float_32.wav", lambda: encoded(tone(1.0), RATE, "WAV", "FLOAT"), seconds=1.0),
    Hostile("unsigned_8.wav", lambda: encoded(tone(1.0), RATE, "WAV", "PCM_U8"), seconds=1.0),
    Hostile("channels_8.wav", lambda: encoded(tone(1.0, channels=8)), seconds=1.0),
    Hostile("dead_right_channel.wav", lambda: encoded(np.stack([tone(1.0), np.zeros(RATE)], 1)), seconds=1.0),
    Hostile("sound.aiff", lambda: encoded(tone(1.0), RATE, "AIFF", "PCM_16"), seconds=1.0),
    Hostile("sound.opus", lambda: encoded(tone(1.0, 48_000), 48_000, "OGG", "OPUS"), seconds=1.0),
    Hostile("mp3_header_longer.mp3", mp3_header_longer, seconds=0.994),
    Hostile("mp3_claims_7_hours.mp3", mp3_claims_hours, seconds=2.0),
    Hostile("three_hours.flac", long_flac, seconds=30.0, trimmed=True),
    # damaged on purpose: a clear message or a valid answer
    Hostile("truncated.mp3", lambda: _mp3()[: len(_mp3()) // 2]),
    Hostile("header_damaged.mp3", lambda: damaged(_mp3(), 0, 600)),
    Hostile("truncated.ogg", lambda: _ogg()[: len(_ogg()) // 2]),
    Hostile("header_damaged.ogg", lambda: damaged(_ogg(), 20, 200)),
    Hostile("truncated.flac", lambda: _flac()[: len(_flac()) // 2]),
    Hostile("header_damaged.flac", lambda: damaged(_flac(), 8, 200)),
)


def write_corpus(directory: Path) -> list[tuple[Hostile, Path]]:
    """Every corpus file written under `directory`, with what must come of it."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CORPUS:
        path = directory / case.name
        path.write_bytes(case.make())
        written.append((case, path))
    return written


def leaks(message: str) -> list[str]:
    """What in `message` a visitor should not see (paths, tracebacks, exception class names)."""
    return [match.group(0) for match in LEAKS.finditer(message)]
