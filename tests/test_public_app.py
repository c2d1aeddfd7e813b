"""The app in public mode: training belongs to the operator. Visitors see disabled buttons that say why, a
scripted Start or Cancel is refused on the server, /classify is rate-limited per visitor, and the operator,
signed in through Gradio's local sign-in mock, trains."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from app_server import REPO, call_event, free_port, serve_app
from chromium import TIMEOUT_MS

QUICK_RUN = [["yamnet-zeroshot"], "folds", 1, ""]  # Start's inputs: models, protocol, epochs, confirmation
RATE_LIMIT = 3


@pytest.fixture(scope="module")
def public_app(tmp_path_factory: pytest.TempPathFactory, yamnet_tflite: Path, prepared_subset: Path):
    """app.py as on a Space nobody has signed in to (and no Hugging Face login on this machine)."""
    home = tmp_path_factory.mktemp("public-home")
    env = {
        "ANIMAL_AUDIO_PUBLIC": "1",
        "ANIMAL_AUDIO_RATE_LIMIT": str(RATE_LIMIT),
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
        "ANIMAL_AUDIO_DATA": str(prepared_subset),
        "ANIMAL_AUDIO_HOME": str(home),
    }
    with serve_app(env, home / "app.log") as url:
        yield url, home


@pytest.mark.browser
def test_visitors_see_the_training_buttons_disabled_and_why(browser, public_app: tuple[str, Path]) -> None:
    url, _ = public_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(url)
        page.get_by_role("tab", name="Train & compare").click()
        page.wait_for_function(
            "() => document.querySelector('#train-access')?.innerText.includes('belongs to the operator')",
            timeout=TIMEOUT_MS,
        )
        assert page.locator("#start-btn").is_disabled() and page.locator("#cancel-btn").is_disabled()
        if os.environ.get("SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(os.environ["SCREENSHOT_DIR"]) / "train-public.png"), full_page=True)
    finally:
        page.close()


def test_a_scripted_start_cancel_or_reload_is_refused_on_the_server(public_app: tuple[str, Path]) -> None:
    url, home = public_app
    started = call_event(url, "start-btn", QUICK_RUN)
    assert started["success"] is False and "belongs to the operator" in started["output"]["error"]
    cancelled = call_event(url, "cancel-btn", [])
    assert cancelled["success"] is False and "belongs to the operator" in cancelled["output"]["error"]
    retried = call_event(url, "retry-btn", [])  # reloading models can take long: the operator's call too
    assert retried["success"] is False and "belongs to the operator" in retried["output"]["error"]
    scored = call_event(url, "score-btn", [None])  # scoring a run's robustness: minutes of CPU, also theirs
    assert scored["success"] is False and "belongs to the operator" in scored["output"]["error"]
    assert not list((home / "runs").glob("*/metrics.json")), "no run was started"


def test_classify_is_rate_limited_per_visitor(public_app: tuple[str, Path], clip_of) -> None:
    from gradio_client import Client, handle_file

    url, _ = public_app
    client = Client(url, verbose=False)
    for _ in range(RATE_LIMIT):
        assert client.predict(handle_file(str(clip_of("cat"))), api_name="/classify")["models"]
    with pytest.raises(Exception, match=r"Too many requests.*Wait \d+ s"):
        client.predict(handle_file(str(clip_of("cat"))), api_name="/classify")


@pytest.fixture
def operator_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, yamnet_tflite: Path, prepared_subset: Path
) -> Iterator[tuple[str, Any]]:
    """app.py in this process, public, with `operator` as admin, this machine "logged in" to the Hub and
    Gradio's local sign-in mock turned on (ANIMAL_AUDIO_SIGN_IN_MOCK: it signs anybody in as that user).

    Gradio mocks the sign-in off Spaces with the machine's Hugging Face login, which it asks the Hub's whoami
    endpoint for: unreachable here, so that one call is answered by the test (the only test double)."""
    import gradio.oauth
    import huggingface_hub

    def whoami(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {"type": "user", "name": "operator", "fullname": "The Operator", "avatarUrl": ""}

    monkeypatch.setattr(huggingface_hub, "whoami", whoami)
    monkeypatch.setattr(gradio.oauth, "whoami", whoami)
    for name, value in {
        "HF_TOKEN": "hf_local_test_token",
        "ANIMAL_AUDIO_SIGN_IN_MOCK": "1",
        "ANIMAL_AUDIO_PUBLIC": "1",
        "ANIMAL_AUDIO_ADMINS": "operator",
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
        "ANIMAL_AUDIO_DATA": str(prepared_subset),
        "ANIMAL_AUDIO_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("public_app_under_test", REPO / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    blocks = module.build()
    assert any(isinstance(b, gradio.LoginButton) for b in blocks.blocks.values()), (
        "the sign-in button is offered"
    )
    blocks.queue()
    port = free_port()
    blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", module
    finally:
        module.JOB.cancel()
        module.JOB.wait(60)
        blocks.close()


def _sign_in(url: str) -> str:
    """The session cookie Gradio's sign-in sets (marked Secure, so it is sent back by hand over http)."""
    import httpx

    answer = httpx.get(url + "login/huggingface", follow_redirects=True, timeout=30)
    for step in [*answer.history, answer]:
        for cookie in step.headers.get_list("set-cookie"):
            if cookie.startswith("session="):
                return cookie.split(";", 1)[0]
    raise AssertionError("the sign-in set no session cookie")


def test_the_operator_signed_in_trains(operator_app: tuple[str, Any]) -> None:
    url, app = operator_app
    assert call_event(url, "start-btn", QUICK_RUN)["success"] is False, "not signed in yet"
    cookie = _sign_in(url)
    started = call_event(url, "start-btn", QUICK_RUN, cookie=cookie)
    assert started["success"] is True, started
    assert app.JOB.wait(180), "the quick run ended"
    snap = app.JOB.snapshot()
    assert snap.error is None and snap.run_dir is not None and (snap.run_dir / "metrics.json").is_file()
