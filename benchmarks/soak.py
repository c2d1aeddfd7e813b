"""Soak: many visitors classify at once while a training run goes on; every call must be answered or
rate-limited with its message, none may fail. Reports latency percentiles and the server's peak memory.

Starts the real app (loopback only), starts a quick comparison through the Train tab's Start event, then
`--clients` threads each send `--calls` /classify calls. The same function backs tests/test_soak.py.

    python -m benchmarks.soak --esc50-dir ../shared/esc50 --data <prepared data> --hubert <probe folder>
    python -m benchmarks.soak ... --rate-limit 0     # no limit: every call answered, latency under load
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from animal_audio.fileio import write_json  # noqa: E402
from animal_audio.runs import LOCK_FILE  # noqa: E402
from tests.app_server import call_event, start_app, stop_app  # noqa: E402

log = logging.getLogger("soak")

RESULT = REPO / "benchmarks" / "results" / "soak.json"
RATE_LIMITED = "Too many requests"
QUICK_RUN = [["hubert-probe", "yamnet-zeroshot", "yamnet-probe"], "folds", 1, ""]


def soak(url: str, clip: Path, *, clients: int = 8, calls: int = 50) -> dict[str, Any]:
    """`clients` threads, each its own gradio_client, send `calls` classifications of `clip` each."""
    from gradio_client import Client, handle_file

    outcomes: list[tuple[str, float, str]] = []  # (answered | rate-limited | failed, seconds, message)
    lock = threading.Lock()

    def visitor() -> None:
        client = Client(url, verbose=False)
        for _ in range(calls):
            began = time.perf_counter()
            try:
                client.predict(handle_file(str(clip)), api_name="/classify")
                outcome, message = "answered", ""
            except Exception as error:  # the server's refusal comes back as an exception with its message
                message = str(error)
                outcome = "rate-limited" if RATE_LIMITED in message else "failed"
            with lock:
                outcomes.append((outcome, time.perf_counter() - began, message))

    began = time.perf_counter()
    threads = [threading.Thread(target=visitor, name=f"visitor-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = sorted(s for o, s, _ in outcomes if o == "answered")
    count = {kind: sum(o == kind for o, _, _ in outcomes) for kind in ("answered", "rate-limited", "failed")}
    return {
        "calls": len(outcomes),
        **count,
        "failures": [m for o, _, m in outcomes if o == "failed"][:5],
        "answered_p50_seconds": _percentile(answered, 50),
        "answered_p95_seconds": _percentile(answered, 95),
        "refused_p50_seconds": _percentile(sorted(s for o, s, _ in outcomes if o == "rate-limited"), 50),
        "wall_seconds": round(time.perf_counter() - began, 2),
    }


def _percentile(values: list[float], q: int) -> Optional[float]:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def memory_mb(pid: int) -> dict[str, float]:
    """The server's peak and current resident memory (VmHWM, VmRSS)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"peak_memory_mb": fields.get("VmHWM", 0.0), "resident_memory_mb": fields.get("VmRSS", 0.0)}


def soak_while_training(
    env: dict[str, str], clip: Path, log_path: Path, *, clients: int = 8, calls: int = 50
) -> dict[str, Any]:
    """Start the app, start a quick comparison through its Start event, soak it, and say how the run went."""
    process, url = start_app(env, log_path)
    try:
        started = call_event(url, "start-btn", QUICK_RUN)
        runs = Path(env["ANIMAL_AUDIO_HOME"]) / "runs"
        training_before = _training(runs)
        result = soak(url, clip, clients=clients, calls=calls)
        result.update(training_started=bool(started.get("success")), training_during_soak=training_before)
        if not training_before:  # say why: the Start event's answer and the app's last log lines
            result["start_answer"] = str(started.get("output"))[:2000]
            result["app_log_tail"] = log_path.read_text(errors="replace")[-3000:]
        result["training_still_running_after"] = _training(runs, wait=0.0)
        result["training_finished_runs"] = len(list(runs.glob("*/metrics.json")))
        result.update(memory_mb(process.pid))
        result["server_alive"] = process.poll() is None
        return result
    finally:
        stop_app(process)


def _training(runs: Path, wait: float = 180.0) -> bool:
    """Whether a run is in progress in `runs` (its folder holds the in-progress lock), waiting up to `wait` s
    for the first one to appear (a busy 2-core machine takes tens of seconds to import the pipeline)."""
    deadline = time.monotonic() + wait
    while True:
        if any(runs.glob(f"*/{LOCK_FILE}")):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="clip to classify (default: an ESC-50 dog clip)")
    parser.add_argument("--esc50-dir", type=Path, default=REPO.parent / "shared" / "esc50")
    parser.add_argument(
        "--data", type=Path, required=True, help="prepared ESC-50 animal clips (ANIMAL_AUDIO_DATA)"
    )
    parser.add_argument(
        "--hubert", help="ANIMAL_AUDIO_HUBERT for the app (a base model: the run trains a probe)"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument(
        "--rate-limit", type=int, default=30, help="classifications per visitor and minute (0: none)"
    )
    parser.add_argument("--home", type=Path, help="ANIMAL_AUDIO_HOME for the app (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import tempfile

    clip = args.clip or sorted((args.esc50_dir / "audio").glob("*-A-0.wav"))[0]
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch)
        env = {
            "ANIMAL_AUDIO_DATA": str(args.data),
            "ANIMAL_AUDIO_HOME": str(home),
            "ANIMAL_AUDIO_RATE_LIMIT": str(args.rate_limit),
            **({"ANIMAL_AUDIO_HUBERT": args.hubert} if args.hubert else {}),
        }
        result = soak_while_training(env, clip, home / "app.log", clients=args.clients, calls=args.calls)
    from animal_audio.run_results import machine

    result.update(
        clients=args.clients, calls_per_client=args.calls, rate_limit=args.rate_limit, machine=machine()
    )
    write_json(args.out, result)
    log.info("%s", {k: v for k, v in result.items() if k != "machine"})
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
