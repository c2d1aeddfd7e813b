"""How long a visitor waits after `python app.py`: process start -> server up -> first classify answer.

Starts the real app in a subprocess (as on a Space), polls until it answers, then calls
the `classify` API with gradio_client on a clip: the first answer includes loading both
models (unless the warm-up thread finished first), the next answers show the warm latency.

    python -m benchmarks.app_cold_start --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite
    python -m benchmarks.app_cold_start --clip my.wav --hubert <fine-tuned checkpoint dir>

Model sources: --yamnet / --hubert, else the usual settings (ANIMAL_AUDIO_YAMNET,
ANIMAL_AUDIO_HUBERT). Writes benchmarks/results/app_cold_start.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from animal_audio import settings  # noqa: E402
from animal_audio.fileio import write_json  # noqa: E402
from tests.app_server import start_app, stop_app  # noqa: E402  (the app tests start it the same way)

log = logging.getLogger("app_cold_start")

RESULT = REPO / "benchmarks" / "results" / "app_cold_start.json"
START_TIMEOUT = 300.0
#: A framework counts as loaded in the app when its shared library is mapped into the process.
FRAMEWORK_LIBRARIES = {
    "torch": "libtorch_cpu",
    "tensorflow": "libtensorflow_framework",
    "onnxruntime": "onnxruntime_pybind11_state",
    "litert": "ai_edge_litert",
}
#: What one cold start measures; over several starts, each is reported as their median.
STARTUP_KEYS = ("seconds_to_server_up", "seconds_to_first_answer", "peak_memory_mb", "resident_memory_mb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clip", type=Path, help="audio file to classify (default: an ESC-50 dog clip, else a synthetic one)"
    )
    parser.add_argument("--esc50-dir", type=Path, help="ESC-50 release to take the default clip from")
    parser.add_argument(
        "--yamnet", help="YAMNet source for the app (TF Hub handle, SavedModel dir or .tflite)"
    )
    parser.add_argument("--hubert", help="HuBERT source for the app (hub id or fine-tuned checkpoint dir)")
    parser.add_argument(
        "--repeats", type=int, default=10, help="warm classify calls after the first (default 10)"
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=1,
        help="cold starts to measure (default 1); with more, the start-up figures are their medians",
    )
    parser.add_argument(
        "--empty-cache",
        action="store_true",
        help="start the app with an empty ANIMAL_AUDIO_HOME (as a fresh Space): the first answer "
        "then includes exporting HuBERT's ONNX graph",
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if args.yamnet:
        os.environ[settings.ENV_YAMNET] = args.yamnet
    if args.hubert:
        os.environ[settings.ENV_HUBERT] = args.hubert
    with tempfile.TemporaryDirectory(prefix="app-cold-start-") as tmp:
        clip = args.clip or _default_clip(Path(tmp), args.esc50_dir)
        starts = []
        for index in range(max(args.starts, 1)):
            if args.empty_cache:
                os.environ[settings.ENV_HOME] = str(Path(tmp) / f"home-{index}")
            starts.append(measure(clip, repeats=args.repeats, log_path=Path(tmp) / "app.log"))
            log.info("start %d: %s", index + 1, {k: starts[-1][k] for k in STARTUP_KEYS})
    result = {**starts[-1], **_medians(starts), "cache": "empty" if args.empty_cache else "as found"}
    write_json(args.out, result)
    log.info(
        "server up %.1f s, first answer %.1f s, peak memory %s MB, warm classify %.3f s -> %s",
        result["seconds_to_server_up"],
        result["seconds_to_first_answer"],
        result["peak_memory_mb"],
        result["warm_classify_seconds_median"],
        args.out,
    )
    return 0


def _medians(starts: list[dict[str, Any]]) -> dict[str, Any]:
    """Each start-up figure as the median over the cold starts, with every start's value beside it."""
    out: dict[str, Any] = {"starts": len(starts)}
    for key in STARTUP_KEYS:
        values = [s[key] for s in starts]
        out[key] = _median(values)
        if len(starts) > 1:
            out[f"{key}_each"] = values
    return out


def measure(clip: Path, *, repeats: int, log_path: Path) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    started = time.perf_counter()
    try:
        process, url = start_app({}, log_path, offline=False, timeout=START_TIMEOUT)
    except RuntimeError as error:
        raise SystemExit(str(error)) from error
    try:
        up = time.perf_counter() - started
        client = Client(url, verbose=False)
        answer = client.predict(handle_file(str(clip)), api_name="/classify")
        first = time.perf_counter() - started
        warm, warm_models = [], []
        client_cpu = _cpu_seconds()
        for _ in range(repeats):
            began = time.perf_counter()
            warm_models.append(client.predict(handle_file(str(clip)), api_name="/classify")["models"])
            warm.append(time.perf_counter() - began)
        client_cpu = (_cpu_seconds() - client_cpu) / max(repeats, 1)
        memory, frameworks = _memory_mb(process.pid), _frameworks(process.pid)
    finally:
        stop_app(process)
    from animal_audio.run_results import machine, versions

    models = answer["models"]
    return {
        "seconds_to_server_up": round(up, 2),
        "seconds_to_first_answer": round(first, 2),
        "warm_classify_seconds": [round(s, 4) for s in warm],
        "warm_classify_seconds_median": _median(warm),
        # The app process, read from /proc after the warm answers: its peak and its current resident set.
        "peak_memory_mb": memory.get("VmHWM"),
        "resident_memory_mb": memory.get("VmRSS"),
        "frameworks_loaded": frameworks,
        # Inside the app, per model, warm answers (the first includes loading).
        "model_seconds": {side: _median([m[side].get("seconds") for m in warm_models]) for side in models},
        # This client runs on the same cores as the app: what it takes from them per call.
        "client_cpu_seconds_per_call": round(client_cpu, 4),
        "available": {side: bool(models[side].get("available")) for side in models},
        "states": {side: models[side].get("state") for side in models},
        "clip": clip.name,
        "clip_seconds": answer["clip"]["seconds"],
        "sources": {"yamnet": settings.yamnet_source(), "hubert": os.environ.get(settings.ENV_HUBERT)},
        "fast_mode": settings.fast_mode(),
        "versions": versions(),
        "machine": machine(None, uses_torch=False),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _median(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return round(statistics.median(numbers), 4) if numbers else None


def _memory_mb(pid: int) -> dict[str, float]:
    """VmHWM (peak resident) and VmRSS of a process in MB, from /proc (Linux); {} elsewhere."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmHWM", "VmRSS") if key in fields}


def _frameworks(pid: int) -> list[str]:
    """Which heavy frameworks the app process has loaded (their shared libraries in /proc/<pid>/maps)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    return [name for name, library in FRAMEWORK_LIBRARIES.items() if library in maps]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _default_clip(tmp: Path, esc50_dir: Path | None) -> Path:
    """A real dog clip from the ESC-50 copy (argument or settings), else two seconds of synthetic 'barks'."""
    audio = settings.esc50_dir(esc50_dir) / "audio"
    clips = sorted(audio.glob("*-0.wav")) if audio.is_dir() else []
    if clips:
        return clips[0]
    import numpy as np
    import soundfile as sf

    rate = 16_000
    t = np.arange(2 * rate) / rate
    bursts = (np.sin(2 * np.pi * 3 * t) > 0.6).astype(np.float32)
    wave = 0.4 * bursts * np.sin(2 * np.pi * 520 * t) * np.exp(-((t % (1 / 3)) * 12))
    path = tmp / "synthetic.wav"
    sf.write(path, wave.astype(np.float32), rate)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
