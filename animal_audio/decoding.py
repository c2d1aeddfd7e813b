"""Bounded decoding of audio files: read the header first, never decode more than asked.

Accepted formats: whatever libsndfile reads (WAV, FLAC, OGG Vorbis and Opus, MP3, AIFF,
AU, CAF, W64, RF64) and, where `ffmpeg` and `ffprobe` are installed (as on Hugging Face
Spaces), M4A, MP4, 3GP, AAC, AMR and WebM through a locked-down ffmpeg: local files only,
a few demuxers and decoders, a duration cap, a time limit, and a bounded read of its output.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from animal_audio.errors import AudioError

log = logging.getLogger(__name__)

MIN_INPUT_RATE = 8_000
MAX_INPUT_RATE = 96_000
MAX_CHANNELS = 8
#: Decoded past `max_seconds`, so that a clip that was cut can be told from one that just fits.
EXTRA_SECONDS = 1.0
#: Only these demuxers and decoders may touch an upload: no playlists (hls), no concat scripts.
FFMPEG_FORMATS = ("mov", "matroska", "aac", "amr")
FFMPEG_DECODERS = ("aac", "alac", "opus", "vorbis", "mp3float", "mp3", "amrnb", "amrwb", "flac")
FFPROBE_TIMEOUT = 10.0
#: A crafted container index must not make ffmpeg allocate gigabytes: one block, and all its memory
#: (address space, via util-linux's prlimit where it is installed, as on Debian and Spaces).
FFMPEG_MAX_ALLOC = 64 * 2**20
FFMPEG_ADDRESS_SPACE = 2**30
FFMPEG_TIMEOUT = 20.0
#: Bytes of ffmpeg's diagnostics kept for the log.
STDERR_LIMIT = 2_000
#: Longest file name quoted in a message.
NAME_LIMIT = 60
NATIVE_FORMATS = ("WAV", "FLAC", "OGG", "MP3")
FFMPEG_EXTRA_FORMATS = ("M4A", "AAC", "WebM")


@dataclass(frozen=True)
class Decoded:
    """Samples as read (at most the cap) plus what the file said about itself."""

    samples: np.ndarray  # float32, (frames,) or (frames, channels)
    rate: int  # of `samples`
    source_rate: int
    source_channels: int
    header_seconds: float  # what the header claims: may be wrong, even on purpose


def check_format(rate: int, channels: int) -> None:
    """Refuse, before any sample is read, rates and channel counts no recording needs."""
    if not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
        raise AudioError(
            f"Sample rate {rate} Hz is not supported: use {MIN_INPUT_RATE // 1000}-"
            f"{MAX_INPUT_RATE // 1000} kHz (for example 16, 44.1 or 48 kHz)."
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(
            f"The audio has {channels} channels; at most {MAX_CHANNELS} are supported. "
            "Export it as mono or stereo and try again."
        )


def frame_limit(max_seconds: float | None, rate: int) -> int:
    """Frames to decode at most: `max_seconds` + 1 s, or all (-1) when there is no limit."""
    return -1 if max_seconds is None else int((max_seconds + EXTRA_SECONDS) * rate)


def decode_file(file: Path | io.BytesIO, max_seconds: float | None, rate: int) -> Decoded:
    """libsndfile first; for a path it cannot open, ffmpeg (if installed) at `rate` Hz mono."""
    name = display_name(file)
    try:
        with sf.SoundFile(file) as f:
            check_format(f.samplerate, f.channels)
            header_seconds = f.frames / f.samplerate
            # One read: libsndfile 1.2's MP3 decoder drops samples between reads of a file.
            data = f.read(frames=frame_limit(max_seconds, f.samplerate), dtype="float32", always_2d=True)
            source_rate, channels = f.samplerate, f.channels
    except AudioError:
        raise
    except sf.LibsndfileError as error:
        if isinstance(file, io.BytesIO) or not ffmpeg_available():
            raise unreadable(name, error) from None
        return _decode_with_ffmpeg(file, name, max_seconds, rate)
    except Exception as error:  # hostile input reaches odd corners of soundfile/cffi
        raise unreadable(name, error) from None
    samples = data[:, 0] if channels == 1 else data
    return Decoded(samples, source_rate, source_rate, channels, header_seconds)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def accepted_formats() -> str:
    """The formats this machine decodes, for messages."""
    names = NATIVE_FORMATS + (FFMPEG_EXTRA_FORMATS if ffmpeg_available() else ())
    return ", ".join(names[:-1]) + " or " + names[-1]


def display_name(file: Path | io.BytesIO) -> str:
    """A file's name for a message: never its directory (a server path is nobody's business)."""
    if isinstance(file, io.BytesIO):
        return "the uploaded data"
    name = Path(file).name
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 3] + "..."


def unreadable(name: str, error: object) -> AudioError:
    log.info("could not decode %s: %s", name, error)
    return AudioError(
        f"Could not read {name} as audio: the file is corrupt or in an unsupported format. "
        f"Use {accepted_formats()}."
    )


def _locked_down(tool: str) -> list[str]:
    """ffmpeg/ffprobe options that keep a hostile file to local reads and a few parsers."""
    prlimit = shutil.which("prlimit")
    return [
        *([prlimit, f"--as={FFMPEG_ADDRESS_SPACE}", "--"] if prlimit else []),
        tool, *(["-nostdin"] if tool == "ffmpeg" else []), "-hide_banner", "-v", "error", "-threads", "1",
        "-max_alloc", str(FFMPEG_MAX_ALLOC),
        "-protocol_whitelist", "file",
        "-format_whitelist", ",".join(FFMPEG_FORMATS),
        "-codec_whitelist", ",".join(FFMPEG_DECODERS),
    ]  # fmt: skip


def _tool_env() -> dict[str, str]:
    """No inherited variables: FFREPORT and proxies would change what ffmpeg does."""
    return {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}


def _probe(path: Path, name: str) -> tuple[int, int, float]:
    """(rate, channels, claimed seconds) of the first audio stream, from ffprobe."""
    command = [
        *_locked_down("ffprobe"), "-select_streams", "a:0",
        "-show_entries", "stream=sample_rate,channels:format=duration", "-of", "json",
        f"file:{path.resolve()}",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=FFPROBE_TIMEOUT, env=_tool_env()
        )
    except subprocess.TimeoutExpired as error:
        raise _too_slow(name, FFPROBE_TIMEOUT) from error
    except OSError as error:
        raise unreadable(name, error) from None
    try:
        info = json.loads(result.stdout or b"{}")
        stream = info["streams"][0]
        rate, channels = int(stream["sample_rate"]), int(stream["channels"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise unreadable(name, result.stderr[:STDERR_LIMIT].decode(errors="replace")) from None
    try:
        seconds = float(info.get("format", {}).get("duration", 0.0))
    except (TypeError, ValueError):
        seconds = 0.0
    return rate, channels, seconds


def _decode_with_ffmpeg(path: Path, name: str, max_seconds: float | None, rate: int) -> Decoded:
    """At most `max_seconds` + 1 s as float32 at `rate` Hz, within FFMPEG_TIMEOUT. Channels are kept and mixed
    by the caller, as for libsndfile: ffmpeg's own downmix is 3 dB louder."""
    source_rate, channels, seconds = _probe(path, name)
    check_format(source_rate, channels)
    limit = frame_limit(max_seconds, rate)
    duration = [] if max_seconds is None else ["-t", f"{max_seconds + EXTRA_SECONDS:g}"]
    command = [
        *_locked_down("ffmpeg"), "-i", f"file:{path.resolve()}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", *duration,
        "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    frame_bytes = 4 * channels
    raw, code, timed_out, stderr = _run_bounded(command, -1 if limit < 0 else limit * frame_bytes)
    if timed_out:
        raise _too_slow(name, FFMPEG_TIMEOUT)
    if code not in (0, None) or not raw:
        raise unreadable(name, stderr or f"ffmpeg exited with {code}")
    samples = np.frombuffer(raw[: len(raw) // frame_bytes * frame_bytes], dtype="<f4").astype(np.float32)
    samples = samples if channels == 1 else samples.reshape(-1, channels)
    return Decoded(samples, rate, source_rate, channels, seconds)


def _run_bounded(command: list[str], max_bytes: int) -> tuple[bytes, int | None, bool, str]:
    """Run `command`, read at most `max_bytes` of its output, kill it after FFMPEG_TIMEOUT: (output, exit code
    or None when stopped at the limit, whether it timed out, stderr)."""
    expired = threading.Event()
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=_tool_env()
        ) as process:
            timer = threading.Timer(FFMPEG_TIMEOUT, lambda: (expired.set(), process.kill()))
            timer.start()
            try:
                raw = process.stdout.read(max_bytes) if process.stdout else b""
                try:
                    code: int | None = process.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    code = None  # still writing past the limit: we have all we want
            finally:
                timer.cancel()
                if process.poll() is None:
                    process.kill()
                process.wait()
        errors.seek(0)
        stderr = errors.read(STDERR_LIMIT).decode(errors="replace")
    return raw, code, expired.is_set(), stderr


def _too_slow(name: str, seconds: float) -> AudioError:
    log.warning("decoding %s took over %g s: stopped", name, seconds)
    return AudioError(
        f"Decoding {name} took too long (over {seconds:g} s): the file is damaged or unusual. "
        "Convert it to WAV or MP3 and try again."
    )
