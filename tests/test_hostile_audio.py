"""Hostile audio (tests/hostile_audio.py): a clear message or a correct answer, decoding bounded
in time and memory, through the library and through the running app."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hostile_audio import CORPUS, LONG_HOURS, SIZE_CAP, Hostile, leaks, tone, write_corpus

from animal_audio import SAMPLE_RATE, AudioError, AudioTrimmedWarning, decoding, load_audio, read_clip
from animal_audio.audio import MAX_SECONDS, MIN_SECONDS

#: Slack on an answer's length: MP3 encoders pad, resampling rounds.
LENGTH_SLACK = 0.05
MAX_RSS_GROWTH_MB = 300
BY_NAME = {case.name: case for case in CORPUS}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {case.name: path for case, path in write_corpus(tmp_path_factory.mktemp("hostile"))}


def assert_clear(message: str, case: Hostile) -> None:
    assert case.error is None or case.error in message, message
    assert not leaks(message), f"{case.name}: {message!r} shows {leaks(message)}"
    assert len(message) > 30 and message.rstrip().endswith("."), message


def assert_valid(waveform: np.ndarray, case: Hostile) -> None:
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert np.all(np.isfinite(waveform)) and np.abs(waveform).max() <= 1.0
    assert MIN_SECONDS * SAMPLE_RATE <= len(waveform) <= MAX_SECONDS * SAMPLE_RATE
    if case.seconds is not None:
        assert len(waveform) / SAMPLE_RATE == pytest.approx(case.seconds, abs=LENGTH_SLACK)


def test_the_corpus_is_big_and_its_long_flac_fits_under_the_upload_cap(corpus: dict[str, Path]) -> None:
    assert len(corpus) >= 25
    flac = corpus["three_hours.flac"]
    assert flac.stat().st_size < SIZE_CAP
    assert sf.info(flac).duration >= LONG_HOURS * 3600


@pytest.mark.parametrize("name", list(BY_NAME))
def test_each_hostile_file_gets_a_clear_message_or_a_correct_answer(
    corpus: dict[str, Path], name: str
) -> None:
    case, path = BY_NAME[name], corpus[name]
    for source in (path, path.read_bytes()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AudioTrimmedWarning)
                clip = read_clip(source)
        except AudioError as error:
            assert case.seconds is None, f"{name}: expected an answer, got {error}"
            assert_clear(str(error), case)
        else:
            assert case.error is None, f"{name}: expected an error with {case.error!r}"
            assert_valid(clip.waveform, case)
            assert clip.trimmed == case.trimmed and bool(clip.notes) >= clip.trimmed


def test_three_hours_of_flac_are_never_decoded_whole(corpus: dict[str, Path]) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.warns(AudioTrimmedWarning, match="3 h 00 min long; only the first 30 s"):
        waveform = load_audio(corpus["three_hours.flac"])
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(waveform) == MAX_SECONDS * SAMPLE_RATE
    assert elapsed < 2.0
    assert peak < 64 * 2**20  # decoded whole, it would be 691 MB of float32
    with pytest.raises(AudioError, match="3 h 00 min long; the limit is 10 s"):
        load_audio(corpus["three_hours.flac"], max_seconds=10, strict=True)


def test_an_mp3_shorter_than_its_header_is_not_trimmed(corpus: dict[str, Path]) -> None:
    """Regression: `load_audio` raised IndexError and `read_clip` said trimmed for such files."""
    for name in ("mp3_header_longer.mp3", "mp3_claims_7_hours.mp3"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            waveform = load_audio(corpus[name], max_seconds=10, strict=True)
        clip = read_clip(corpus[name])
        assert not clip.trimmed and not clip.notes
        assert clip.source_seconds == pytest.approx(clip.seconds, abs=1e-3) == len(waveform) / SAMPLE_RATE


# --------------------------------------------------------------------------- ffmpeg, for M4A/AAC/WebM


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    """A stand-in for ffmpeg/ffprobe: a Python script that records its arguments next to itself."""
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\nimport sys, pathlib\n"
        f"pathlib.Path({str(bin_dir / (name + '.args'))!r}).write_text('\\n'.join(sys.argv[1:]))\n{body}\n"
    )
    script.chmod(0o755)


FAKE_PROBE = (
    'print(\'{"streams": [{"sample_rate": "%d", "channels": %d}], "format": {"duration": "36000"}}\')'
)
ENDLESS_TONE = (
    "import numpy as np\nt = np.arange(16000) / 16000\n"
    "block = (0.5 * np.sin(2 * np.pi * 440 * t)).astype('<f4').tobytes()\n"
    "while True:\n    sys.stdout.buffer.write(block)"
)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the fake tools; the upload is something libsndfile cannot open."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def not_for_libsndfile(tmp_path: Path) -> Path:
    path = tmp_path / "voice memo.m4a"
    path.write_bytes(b"\0\0\0\x20ftypM4A " + b"\0" * 4000)
    return path


def test_ffmpeg_runs_locked_down_and_its_output_is_read_only_up_to_the_cap(
    fake_bin: Path, tmp_path: Path
) -> None:
    fake_tool(fake_bin, "ffprobe", FAKE_PROBE % (44_100, 2))
    fake_tool(fake_bin, "ffmpeg", ENDLESS_TONE)  # ignores -t: the read must stop by itself
    started = time.perf_counter()
    clip = read_clip(not_for_libsndfile(tmp_path))
    assert time.perf_counter() - started < 5.0
    assert len(clip.waveform) == MAX_SECONDS * SAMPLE_RATE and clip.trimmed
    assert (clip.source_rate, clip.source_channels, clip.source_seconds) == (44_100, 2, 36_000)
    assert 0.3 < np.abs(clip.waveform).max() <= 0.51
    args = (fake_bin / "ffmpeg.args").read_text().splitlines()
    for flag, value in [("-protocol_whitelist", "file"), ("-t", f"{MAX_SECONDS + 1:g}"), ("-ac", "2")]:
        assert args[args.index(flag) + 1] == value
    assert "-nostdin" in args and "-max_alloc" in args and args[args.index("-i") + 1].startswith("file:/")
    assert not {"hls", "concat", "http"} & set(args[args.index("-format_whitelist") + 1].split(","))


def test_a_hanging_ffmpeg_is_stopped_by_the_time_limit(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "FFMPEG_TIMEOUT", 1.0)
    fake_tool(fake_bin, "ffprobe", FAKE_PROBE % (44_100, 2))
    fake_tool(fake_bin, "ffmpeg", "import time\ntime.sleep(60)")
    started = time.perf_counter()
    with pytest.raises(AudioError, match="took too long") as error:
        read_clip(not_for_libsndfile(tmp_path))
    assert time.perf_counter() - started < 5.0
    assert not leaks(str(error.value))


@pytest.mark.parametrize("rate,channels,message", [(384_000, 2, "384000 Hz"), (44_100, 64, "64 channels")])
def test_ffprobe_header_is_checked_before_ffmpeg_decodes(
    fake_bin: Path, tmp_path: Path, rate: int, channels: int, message: str
) -> None:
    fake_tool(fake_bin, "ffprobe", FAKE_PROBE % (rate, channels))
    fake_tool(fake_bin, "ffmpeg", ENDLESS_TONE)
    with pytest.raises(AudioError, match=message):
        read_clip(not_for_libsndfile(tmp_path))
    assert not (fake_bin / "ffmpeg.args").exists()


def test_without_ffmpeg_other_formats_get_the_list_of_accepted_ones(fake_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="Use WAV, FLAC, OGG or MP3.$"):
        read_clip(not_for_libsndfile(tmp_path))


@pytest.mark.parametrize("suffix,codec", [(".m4a", "aac"), (".webm", "libopus"), (".aac", "aac")])
def test_real_ffmpeg_decodes_phone_and_browser_formats_bounded(
    ffmpeg: None, tmp_path: Path, suffix: str, codec: str
) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, tone(7.0, 48_000, channels=2), 48_000)
    encoded = tmp_path / f"clip{suffix}"
    subprocess.run(
        [shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(wav), "-c:a", codec, str(encoded)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    clip = read_clip(encoded, max_seconds=5)
    assert clip.trimmed and len(clip.waveform) == 5 * SAMPLE_RATE
    assert (clip.source_rate, clip.source_channels) == (48_000, 2)
    assert 0.45 < np.abs(clip.waveform).max() <= 0.55  # mixed as libsndfile's files are
    whole = read_clip(encoded, max_seconds=None)
    assert not whole.trimmed and whole.seconds == pytest.approx(7.0, abs=0.1)


# --------------------------------------------------------------------------- through the running app


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (VmRSS) or its peak so far (VmHWM), from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def test_the_running_app_answers_the_whole_corpus_and_keeps_serving(
    corpus: dict[str, Path], tiny_hubert_dir: Path, yamnet_tflite: Path, clip_of, tmp_path: Path
) -> None:
    from app_server import start_app, stop_app
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    env = {
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
        "ANIMAL_AUDIO_HUBERT": str(tiny_hubert_dir),
        "ANIMAL_AUDIO_HOME": str(tmp_path / "home"),
    }
    process, url = start_app(env, tmp_path / "app.log")
    try:
        client = Client(url, verbose=False)

        def classify(path: Path) -> dict:
            return client.predict(handle_file(str(path)), api_name="/classify")

        assert classify(clip_of("cow", 5, 1))["models"]["yamnet"]["label"] == "cow"  # models loaded
        before = memory_mb(process.pid)
        for case in CORPUS:
            try:
                answer = classify(corpus[case.name])
            except AppError as error:
                assert case.seconds is None, f"{case.name}: expected an answer, got {error}"
                assert_clear(str(error), case)
            else:
                assert case.error is None, f"{case.name}: expected an error with {case.error!r}"
                clip = answer["clip"]
                assert MIN_SECONDS <= clip["seconds"] <= MAX_SECONDS and clip["trimmed"] == case.trimmed
                if case.seconds is not None:
                    assert clip["seconds"] == pytest.approx(case.seconds, abs=LENGTH_SLACK)
        growth, peak = memory_mb(process.pid) - before, memory_mb(process.pid, "VmHWM") - before
        print(
            f"resident memory {before:.0f} MB: +{growth:.0f} MB after {len(CORPUS)} hostile files, peak +{peak:.0f}"
        )
        assert growth < MAX_RSS_GROWTH_MB and peak < MAX_RSS_GROWTH_MB
        assert classify(clip_of("cow", 5, 1))["models"]["yamnet"]["label"] == "cow"
        assert process.poll() is None
    finally:
        stop_app(process)
