"""Shared fixtures: the real clips and YAMNet in ../shared, and a tiny HuBERT (random_hubert.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ANIMAL_AUDIO_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's ~/.cache/animal-audio."""
    monkeypatch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "esc50" / "meta" / "esc50.csv").is_file():
        pytest.fail(f"../shared with ESC-50 and YAMNet is required next to the repo (looked in {SHARED})")
    return SHARED


@pytest.fixture(scope="session")
def esc50_dir(shared_dir: Path) -> Path:
    return shared_dir / "esc50"


@pytest.fixture(scope="session")
def yamnet_tflite(shared_dir: Path) -> Path:
    return shared_dir / "models" / "yamnet" / "yamnet.tflite"


@pytest.fixture(scope="session")
def clip_of(esc50_dir: Path):
    """clip_of("dog", fold=5, index=0) -> path of a real ESC-50 clip of that class."""
    import pandas as pd

    from animal_audio.labels import CLASSES

    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")

    def pick(label: str, fold: int = 5, index: int = 0) -> Path:
        rows = meta[(meta.target == CLASSES.index(label)) & (meta.fold == fold)].sort_values("filename")
        return esc50_dir / "audio" / rows.iloc[index].filename

    return pick


@pytest.fixture(scope="session")
def prepared_subset(esc50_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared data dir with 2 clips per class per fold (100 clips), shared by slow tests."""
    import pandas as pd

    from animal_audio import esc50

    src = tmp_path_factory.mktemp("esc50-subset")
    (src / "meta").mkdir()
    (src / "audio").symlink_to(esc50_dir / "audio")
    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    animals = meta[meta.target < 10].sort_values("filename")
    subset = animals.groupby(["target", "fold"]).head(2)
    subset.to_csv(src / "meta" / "esc50.csv", index=False)
    out = tmp_path_factory.mktemp("prepared-subset")
    esc50.prepare(src, out)
    return out


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from random_hubert import build_random_hubert

    return build_random_hubert(tmp_path_factory.mktemp("tiny-hubert"))


# --------------------------------------------------------------------------- a browser for the app


def _missing(message: str) -> None:
    """A system tool the tests need is not installed: .ci/run installs it, so on CI that is a failure;
    elsewhere (a laptop without it) those tests skip."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def ffmpeg() -> None:
    """ffmpeg and ffprobe, for the tests of the formats only they decode (M4A, WebM, AAC)."""
    from animal_audio import decoding

    if not decoding.ffmpeg_available():
        _missing("ffmpeg and ffprobe are not installed (apt-get install ffmpeg)")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by Playwright (its own browser download does not work here)."""
    from chromium import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).is_file():
        _missing(f"{CHROMIUM} is missing: install Debian's chromium (make chromium)")
    import playwright.sync_api as playwright_api

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --------------------------------------------------------------------------- the app as a server
# (test_app_api.py, test_app_browser.py)


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ANIMAL_AUDIO_HOME of the module's app server (its runs/ is where the Train tab looks)."""
    return tmp_path_factory.mktemp("app-home")


@pytest.fixture(scope="module")
def app_url(tiny_hubert_dir: Path, yamnet_tflite: Path, app_home: Path):
    """app.py served like a deployment (real YAMNet, tiny HuBERT), one server per test module."""
    from app_server import serve_app

    home = app_home
    env = {
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
        "ANIMAL_AUDIO_HUBERT": str(tiny_hubert_dir),
        "ANIMAL_AUDIO_HOME": str(home),
    }
    with serve_app(env, home / "app.log") as url:
        yield url
