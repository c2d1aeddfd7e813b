"""`python app.py` as a user deploys it, called through its API with gradio_client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from animal_audio.labels import CLASSES

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env_extra: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start app.py on a free localhost port; returns the process and its URL once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        **env_extra,
    }
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"app.py exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(
        f"app.py did not answer within {START_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')}"
    )


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def app_url(
    tiny_hubert_dir: Path, yamnet_tflite: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("app-home")
    process, url = start_app(
        {
            "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
            "ANIMAL_AUDIO_HUBERT": str(tiny_hubert_dir),
            "ANIMAL_AUDIO_HOME": str(home),
        },
        home / "app.log",
    )
    try:
        yield url
    finally:
        stop_app(process)


@pytest.fixture(scope="module")
def client(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def classify(client, path: Path) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/classify")


def test_classify_api_returns_both_models(client, clip_of) -> None:
    for label in ("dog", "crow"):
        answer = classify(client, clip_of(label, 5, 0))
        assert answer["labels"] == list(CLASSES)
        hubert, yamnet = answer["models"]["hubert"], answer["models"]["yamnet"]
        assert hubert["available"] and hubert["model"] == "hubert"
        assert yamnet["available"] and yamnet["label"] == label
        for entry in (hubert, yamnet):
            assert list(entry["probabilities"]) == list(CLASSES)
            assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
            assert entry["seconds"] > 0 and entry["label"] == max(
                entry["probabilities"], key=entry["probabilities"].get
            )
        assert answer["agree"] == (hubert["label"] == yamnet["label"])
        assert yamnet["top_audioset"] and "other_mass" in yamnet


def test_bad_inputs_return_their_message_and_the_app_keeps_serving(client, clip_of, tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32_000, dtype=np.float32), 16_000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    text = tmp_path / "notes.txt"
    text.write_text("definitely not audio\n" * 50)
    cases = [
        (silent, "silent"),
        (corrupt, "corrupt or in an unsupported format"),
        (text, "corrupt or in an unsupported format"),
    ]
    for path, message in cases:
        with pytest.raises(AppError, match=message):
            classify(client, path)
    answer = classify(client, clip_of("cow", 5, 1))
    assert answer["models"]["yamnet"]["label"] == "cow"


def test_uploads_over_the_size_cap_are_refused(client, app_url: str, tmp_path: Path) -> None:
    import httpx

    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))
    with open(big, "rb") as f:
        response = httpx.post(
            app_url + "gradio_api/upload", files={"files": ("big.wav", f, "audio/wav")}, timeout=60
        )
    assert response.status_code == 413
    with urllib.request.urlopen(app_url + "gradio_api/info", timeout=5) as still:
        assert still.status == 200


def test_without_a_trained_hubert_the_api_still_answers_with_yamnet(
    yamnet_tflite: Path, clip_of, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradio_client import Client

    monkeypatch.delenv("ANIMAL_AUDIO_HUBERT", raising=False)
    process, url = start_app(
        {"ANIMAL_AUDIO_YAMNET": str(yamnet_tflite), "ANIMAL_AUDIO_HOME": str(tmp_path / "home")},
        tmp_path / "app.log",
    )
    try:
        answer = classify(Client(url, verbose=False), clip_of("crow", 5, 0))
    finally:
        stop_app(process)
    hubert = answer["models"]["hubert"]
    assert hubert["available"] is False and hubert["state"] == "not trained yet"
    assert "probabilities" not in hubert and "ANIMAL_AUDIO_HUBERT" in hubert["fix"]
    assert answer["models"]["yamnet"]["label"] == "crow" and answer["agree"] is None
