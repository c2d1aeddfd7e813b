"""`python app.py` as a user deploys it (the `app_url` fixture), called through its API with gradio_client."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from app_server import serve_app

from animal_audio.labels import CLASSES


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
            assert set(entry["timeline"]) == {"start_seconds", "window_seconds", "probabilities"}
        assert answer["agree"] == (hubert["label"] == yamnet["label"])
        assert yamnet["top_audioset"] and "other_mass" in yamnet


def test_classify_api_gives_each_model_a_timeline(client, clip_of, tmp_path: Path) -> None:
    """2.5 s of a dog then 2.5 s of a rooster: YAMNet's timeline hears the dog first and the rooster last;
    the tiny random HuBERT's is only checked for shape and alignment."""
    from animal_audio.audio import SAMPLE_RATE, load_audio

    half = int(2.5 * SAMPLE_RATE)
    clip = tmp_path / "dog-then-rooster.wav"
    parts = [load_audio(clip_of("dog", 5, 0))[:half], load_audio(clip_of("rooster", 5, 3))[:half]]
    sf.write(clip, np.concatenate(parts), SAMPLE_RATE)
    models = classify(client, clip)["models"]
    for side, hop in (("yamnet", 0.48), ("hubert", 0.5)):
        timeline = models[side]["timeline"]
        starts, rows = timeline["start_seconds"], np.asarray(timeline["probabilities"])
        assert rows.shape == (len(starts), len(CLASSES)) and np.allclose(rows.sum(axis=1), 1, atol=1e-4)
        assert (
            starts[0] == 0
            and np.allclose(np.diff(starts), hop)
            and starts[-1] + timeline["window_seconds"] >= 4.97
        )
    yamnet = models["yamnet"]["timeline"]
    top = [CLASSES[int(np.argmax(row))] for row in yamnet["probabilities"]]
    assert top[0] == "dog" and top[-1] == "rooster", top


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


def test_without_any_setting_the_api_answers_with_the_built_in_yamnet(
    clip_of, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` on a machine with no network and no settings: no trained HuBERT, the built-in YAMNet."""
    from gradio_client import Client

    monkeypatch.delenv("ANIMAL_AUDIO_HUBERT", raising=False)
    monkeypatch.delenv("ANIMAL_AUDIO_YAMNET", raising=False)
    with serve_app({"ANIMAL_AUDIO_HOME": str(tmp_path / "home")}, tmp_path / "app.log") as url:
        answer = classify(Client(url, verbose=False), clip_of("crow", 5, 0))
    hubert = answer["models"]["hubert"]
    assert hubert["available"] is False and hubert["state"] == "not trained yet"
    assert "probabilities" not in hubert and "ANIMAL_AUDIO_HUBERT" in hubert["fix"]
    assert answer["models"]["yamnet"]["label"] == "crow" and answer["agree"] is None


def robustness(client, path: Path, transform, levels) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), transform, levels, api_name="/robustness")


def test_robustness_api_answers_each_level_for_both_models(client, clip_of) -> None:
    answer = robustness(client, clip_of("dog", 5, 0), "white-noise", [30, -10])
    assert answer["transform"] == "white-noise" and answer["levels"] == [30, -10]
    original = answer["original"]
    assert original["yamnet"]["label"] == "dog" and original["hubert"]["available"]
    at = []
    for result in answer["results"]:
        for side in ("hubert", "yamnet"):
            entry = result["models"][side]
            assert entry["label"] in CLASSES and list(entry["probabilities"]) == list(CLASSES)
            assert entry["original_class_probability"] == entry["probabilities"][original[side]["label"]]
        at.append(result["models"]["yamnet"]["original_class_probability"])
    assert at[1] < at[0]  # -10 dB of noise: YAMNet is less sure of its dog


@pytest.mark.parametrize(
    ("transform", "levels", "message"),
    [
        ("reverb", [1], "Unknown transform: choose one of white-noise"),
        ("white-noise", list(range(100)), "At most 7 levels"),
        ("white-noise", [30, -40], "-10 to 30 dB SNR"),
        ("speed", ["fast"], "0.8 to 1.25"),
    ],
)
def test_robustness_api_refuses_a_bad_request_with_its_message(
    client, clip_of, transform, levels, message
) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message) as error:
        robustness(client, clip_of("dog", 5, 0), transform, levels)
    assert "Traceback" not in str(error.value) and "/tmp" not in str(error.value)
