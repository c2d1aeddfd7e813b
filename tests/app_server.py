"""`python app.py` started as a user deploys it, on a free localhost port: the app tests and
benchmarks/app_cold_start.py both start it here."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
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


def call_event(url: str, elem_id: str, data: list, *, cookie: str = "", timeout: float = 60.0) -> dict:
    """Send the click event of the button `elem_id` the way a script would (the page's own protocol, even for
    events hidden from the API); returns the server's last message: {"success": ..., "output": ...}."""
    import httpx

    config = httpx.get(url + "config", timeout=timeout).json()
    button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    event = next(d for d in config["dependencies"] if [button, "click"] in d["targets"])
    session = uuid.uuid4().hex[:12]
    headers = {"cookie": cookie} if cookie else {}
    body = {"data": data, "fn_index": event["id"], "session_hash": session, "trigger_id": button}
    httpx.post(url + "gradio_api/queue/join", json=body, headers=headers, timeout=timeout).raise_for_status()
    stream = f"{url}gradio_api/queue/data?session_hash={session}"
    with httpx.stream("GET", stream, headers=headers, timeout=timeout) as answer:
        for line in answer.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise RuntimeError(f"no answer to the {elem_id} event")
