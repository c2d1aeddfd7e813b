"""`python app.py` started as a user deploys it, on a free localhost port: the app tests and
benchmarks/app_cold_start.py both start it here."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180.0
POLL_SECONDS = 0.1
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    env_extra: dict[str, str], log_path: Path, *, offline: bool = True, timeout: float = START_TIMEOUT
) -> tuple[subprocess.Popen, str]:
    """Start app.py on a free localhost port; returns the process and its URL once it answers.

    `offline`: tests never reach the Hub; a benchmark may leave that to the environment.
    """
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **({"HF_HUB_OFFLINE": "1"} if offline else {}),
        **env_extra,
    }
    with open(log_path, "wb") as log:  # the app writes through its own copy of the handle
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        return process, _wait_until_it_answers(process, f"http://127.0.0.1:{port}/", log_path, timeout)
    except BaseException:
        stop_app(process)
        raise


def _wait_until_it_answers(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"app.py exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as response:
                if response.status == 200:
                    return url
        except OSError:
            time.sleep(POLL_SECONDS)
    raise RuntimeError(
        f"app.py did not answer within {timeout:.0f} s:\n{log_path.read_text(errors='replace')}"
    )


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serve_app(env_extra: dict[str, str], log_path: Path) -> Iterator[str]:
    """The URL of a running app.py, stopped when the block ends (whatever happens in it)."""
    process, url = start_app(env_extra, log_path)
    try:
        yield url
    finally:
        stop_app(process)
