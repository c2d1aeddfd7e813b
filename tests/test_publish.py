"""`python -m train publish`: a run's HuBERT as a Hub repository folder that the app, the library and
transformers load. The upload itself meets a fake HfApi only (no network here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import animal_audio as aa
from animal_audio import publish as publish_module
from animal_audio.compare_config import CompareConfig
from animal_audio.demo.models import Registry
from animal_audio.demo.text import HUBERT
from animal_audio.formatting import percent
from animal_audio.labels import CLASSES, DISPLAY_NAMES
from animal_audio.model_card import confusion_table, render_card, training_command
from animal_audio.models.published import MARKER_FILE, load_hubert
from animal_audio.pipeline import run_comparison
from animal_audio.publish import PublishError, publish, write_folder
from train.__main__ import main

MODELS = ("hubert-finetune", "hubert-probe")


@pytest.fixture(scope="module")
def hubert_run(
    tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, tiny_hubert_dir: Path
) -> Path:
    """Both HuBERT models of one run (tiny HuBERT, 2 fine-tuning steps) on the 100-clip subset."""
    home = tmp_path_factory.getbasetemp() / "home"
    with pytest.MonkeyPatch.context() as patch:  # conftest's isolated home, at module scope
        patch.setenv("ANIMAL_AUDIO_HOME", str(home))
        config = CompareConfig(
            data_dir=prepared_subset,
            out_dir=tmp_path_factory.mktemp("publish") / "run",
            models=MODELS,
            hubert=str(tiny_hubert_dir),
            epochs=1,
            max_steps=2,
            seed=0,
            update_latest=False,
        )
        return run_comparison(config).run_dir


@pytest.fixture(scope="module")
def folders(hubert_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`train publish --dry-run` of each model, through the command line."""
    out = tmp_path_factory.mktemp("published")
    for name in MODELS:
        argv = ["-q", "publish", str(hubert_run), "--model", name, "--repo-id", f"me/{name}"]
        assert main([*argv, "--dry-run", "--out", str(out / name)]) == 0
    return {name: out / name for name in MODELS}


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---", 2)[1])


def _http_client():
    """The HTTP library huggingface_hub raises errors of: httpx2 (huggingface_hub 2.x), else httpx."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


@pytest.mark.slow
def test_dry_run_writes_the_repository_files(folders: dict[str, Path], tiny_hubert_dir: Path) -> None:
    finetuned, probe = folders["hubert-finetune"], folders["hubert-probe"]
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", MARKER_FILE} <= {
        p.name for p in finetuned.iterdir()
    }
    assert not list(finetuned.glob("*.bin")) and not list(finetuned.glob("*.pt")), "no pickles"
    config = json.loads((finetuned / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(CLASSES))] == list(CLASSES)
    names = {p.name for p in probe.iterdir()}
    assert {"probe.json", "README.md", MARKER_FILE} <= names and any(
        n.endswith(".safetensors") for n in names
    )
    marker = json.loads((probe / MARKER_FILE).read_text())
    assert marker["kind"] == "hubert-probe" and marker["base"] == str(tiny_hubert_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_published_folder_loads_and_classifies(
    folders: dict[str, Path], name: str, clip_of, yamnet_tflite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave = aa.load_audio(clip_of("dog", 5, 0))
    model = aa.load_hubert(str(folders[name]))
    assert isinstance(model, aa.HubertClassifier if name == "hubert-finetune" else aa.ProbeClassifier)
    prediction = model.predict(wave)
    assert prediction.label in CLASSES and np.isclose(prediction.probs.sum(), 1.0)
    # The app: ANIMAL_AUDIO_HUBERT=that-folder.
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(folders[name]))
    registry = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    loaded = registry.get(HUBERT)
    assert "ANIMAL_AUDIO_HUBERT" in loaded.origin
    np.testing.assert_allclose(loaded.predict(wave).probs, prediction.probs, atol=1e-5)


@pytest.mark.slow
def test_fine_tuned_folder_loads_in_transformers_pipeline(folders: dict[str, Path], clip_of) -> None:
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(folders["hubert-finetune"]))
    wave = aa.load_audio(clip_of("cat", 5, 0))
    results = classifier({"raw": wave, "sampling_rate": aa.SAMPLE_RATE}, top_k=10)
    assert sorted(r["label"] for r in results) == sorted(CLASSES)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_card_holds_the_run_numbers(
    folders: dict[str, Path], hubert_run: Path, name: str, prepared_subset: Path, tiny_hubert_dir: Path
) -> None:
    card = (folders[name] / "README.md").read_text()
    assert str(prepared_subset) not in card and str(tiny_hubert_dir) not in card, "no local paths"
    entry = metrics_of(hubert_run)["models"][name]
    assert percent(entry["accuracy"]) in card and percent(entry["macro_f1"]) in card
    meta = front_matter(card)
    assert meta["pipeline_tag"] == "audio-classification"
    results = meta["model-index"][0]["results"]
    values = {m["type"]: m for r in results for m in r["metrics"]}
    assert values["accuracy"]["value"] == entry["accuracy"]
    assert values["f1"]["value"] == entry["macro_f1"] and values["f1"]["args"] == {"average": "macro"}
    assert all(
        r["dataset"]["type"] == "esc50" and r["task"]["type"] == "audio-classification" for r in results
    )
    assert confusion_table(entry["confusion"]) in card
    assert (
        training_command(metrics_of(hubert_run)) in card and "--models hubert-finetune,hubert-probe" in card
    )
    assert "CC BY-NC 3.0" in card and "Piczak" in card and "10.1145/2733373.2806390" in card
    assert "capped at 2 optimisation steps" in card or name == "hubert-probe"


def test_card_of_a_cross_validation_run_gives_mean_and_std() -> None:
    confusion = np.eye(len(CLASSES), dtype=int).tolist()
    folds = [
        {"test_fold": k, "accuracy": 0.5 + k / 100, "macro_f1": 0.4 + k / 100, "n": 80} for k in range(1, 6)
    ]
    entry = {
        "accuracy": 0.53,
        "accuracy_std": 0.0158,
        "macro_f1": 0.43,
        "macro_f1_std": 0.0158,
        "n": 400,
        "confusion": confusion,
        "folds": folds,
    }
    split = {"train_folds": [2, 3, 4], "validation_folds": [1], "test_folds": [5]}
    metrics = {
        "models": {"hubert-probe": entry},
        "protocol": {"name": "cv", "description": "5-fold cross-validation", "splits": [split]},
        "config": {
            "data_dir": "/home/someone/data/esc50-animals",
            "hubert": "/home/someone/models/hubert-base",
            "models": ["hubert-probe"],
            "protocol": "cv",
            "epochs": 10,
            "seed": 1,
        },
        "seed": 1,
    }
    card = render_card(metrics, "hubert-probe", "me/probe", "facebook/hubert-base-ls960")
    assert "53.00% ± 1.58" in card and "43.00% ± 1.58" in card
    assert "| 3 | 53.00% | 43.00% |" in card and "--cv" in card
    # A probe trains on train + validation folds: the card must not say it was validated on one.
    assert "trained on folds 1, 2, 3, 4, tested on 5" in card and "validated on" not in card
    # No path of the publisher's machine in a public card: placeholders, or the base's Hub id.
    assert "/home/someone" not in card
    assert "--data DATA" in card and "--hubert facebook/hubert-base-ls960" in card
    meta = front_matter(card)
    assert meta["base_model"] == "facebook/hubert-base-ls960"
    # Apache-2.0 weights trained on CC BY-NC 3.0 data: no single licence id says both.
    assert meta["license"] == "other" and meta["license_name"] == "apache-2.0-weights-cc-by-nc-3.0-data"
    assert "ESC-50" in meta["license_link"]
    assert "cross-validation" in meta["model-index"][0]["results"][0]["dataset"]["split"]
    assert f"| {DISPLAY_NAMES['dog']} | 1 | 0 |" in card


@pytest.mark.slow
def in_hub_cache(folder: Path, repo_id: str, hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`folder` as huggingface_hub's offline cache holds a downloaded `repo_id` (its main revision)."""
    from huggingface_hub import constants

    commit = "0" * 40
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))


def test_published_probe_loads_from_the_hub_cache_by_repo_id(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clip_of
) -> None:
    """USER/NAME of a probe resolves through huggingface_hub (here: its offline cache) to the probe + base."""
    in_hub_cache(folders["hubert-probe"], "me/probe", tmp_path / "hub", monkeypatch)
    model = load_hubert("me/probe")
    assert isinstance(model, aa.ProbeClassifier)
    assert model.predict(aa.load_audio(clip_of("hen", 5, 0))).label in CLASSES


@pytest.mark.slow
def test_upload_creates_the_repo_and_uploads_the_folder(
    hubert_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, dict]] = []

    class FakeApi:
        def create_repo(self, repo_id: str, **kwargs) -> str:
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
            return f"https://huggingface.co/{repo_id}"

        def update_repo_settings(self, repo_id: str, **kwargs) -> None:
            calls.append(("update_repo_settings", {"repo_id": repo_id, **kwargs}))

        def upload_folder(self, **kwargs) -> None:
            files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
            calls.append(("upload_folder", {**kwargs, "files": files}))

    monkeypatch.setattr(publish_module, "make_api", FakeApi)
    argv = ["-q", "publish", str(hubert_run), "--model", "hubert-finetune", "--repo-id", "me/ft", "--private"]
    assert main(argv) == 0
    assert "https://huggingface.co/me/ft" in capsys.readouterr().out
    (create, kwargs), (settings_call, visibility), (upload, uploaded) = calls
    assert create == "create_repo" and kwargs["repo_id"] == "me/ft" and kwargs["private"] is True
    assert kwargs["exist_ok"] is True
    # --private for a repository that existed already: create_repo alone would leave it public.
    assert settings_call == "update_repo_settings" and visibility["private"] is True
    assert upload == "upload_folder" and uploaded["repo_id"] == "me/ft"
    # The repository holds exactly the new folder: a probe published there before leaves no probe.json.
    assert uploaded["delete_patterns"] == ["*"]
    assert {"config.json", "model.safetensors", "README.md", MARKER_FILE} <= set(uploaded["files"])


@pytest.mark.slow
def test_upload_failure_and_local_base_are_messages(
    hubert_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub.errors import LocalTokenNotFoundError

    class NoToken:
        def create_repo(self, *args, **kwargs) -> None:
            raise LocalTokenNotFoundError("Token is required")

    monkeypatch.setattr(publish_module, "make_api", NoToken)
    with pytest.raises(PublishError, match="hf auth login"):
        publish(hubert_run, "hubert-finetune", "me/ft")
    # A probe whose base is a folder on this machine cannot work on a Space: --base names the hub copy.
    assert main(["-q", "publish", str(hubert_run), "--model", "hubert-probe", "--repo-id", "me/p"]) == 2
    assert "--base" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["create_repo", "upload_folder"])
def test_no_network_or_a_hub_error_during_upload_is_a_message(
    tmp_path: Path, monkeypatch, where: str
) -> None:
    """huggingface_hub lets its HTTP client's errors through (not OSError): they were a traceback."""
    from huggingface_hub.errors import HfHubHTTPError

    httpx = _http_client()

    class Failing:
        def create_repo(self, *args, **kwargs) -> None:
            if where == "create_repo":
                raise httpx.ConnectError("[Errno -2] Name or service not known")

        def upload_folder(self, **kwargs) -> None:
            request = httpx.Request("POST", "https://huggingface.co/api/models/me/x/commit/main")
            raise HfHubHTTPError(
                "500 Server Error: Internal Server Error", response=httpx.Response(500, request=request)
            )

    monkeypatch.setattr(publish_module, "make_api", Failing)
    (tmp_path / "README.md").write_text("card")
    cause = "Name or service not known" if where == "create_repo" else "500 Server Error"
    with pytest.raises(PublishError, match=cause) as caught:
        publish_module.upload(tmp_path, "me/x")
    assert "check the network" in str(caught.value) and "--dry-run" in str(caught.value)


@pytest.mark.slow
def test_bad_inputs_are_messages_not_tracebacks(
    hubert_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(*argv: str) -> str:
        assert main(["-q", "publish", *argv]) == 2
        return capsys.readouterr().err

    dry = ["--dry-run", "--out", str(tmp_path / "out")]
    assert "hubert-finetune or hubert-probe" in fails(
        str(hubert_run), "--model", "horse", "--repo-id", "me/x", *dry
    )
    assert "metrics.json missing" in fails(
        str(tmp_path / "nope"), "--model", "hubert-probe", "--repo-id", "me/x", *dry
    )
    assert "USER/NAME" in fails(str(hubert_run), "--model", "hubert-probe", "--repo-id", "no-owner", *dry)
    assert "--out" in fails(str(hubert_run), "--model", "hubert-probe", "--repo-id", "me/x", "--dry-run")
    # A run without that model.
    only_probe = tmp_path / "run"
    shutil.copytree(hubert_run, only_probe)
    metrics = metrics_of(only_probe)
    del metrics["models"]["hubert-finetune"]
    (only_probe / "metrics.json").write_text(json.dumps(metrics))
    err = fails(str(only_probe), "--model", "hubert-finetune", "--repo-id", "me/x", *dry)
    assert "no trained hubert-finetune" in err and "hubert-probe" in err
    assert not (tmp_path / "out").exists(), "nothing written when it fails"
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    out = ["--dry-run", "--out", str(tmp_path / "precious")]
    assert "other files" in fails(str(hubert_run), "--model", "hubert-probe", "--repo-id", "me/x", *out)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_base_model_without_head_is_not_trained(tmp_path: Path) -> None:
    from random_hubert import build_random_hubert

    build_random_hubert(tmp_path / "bare", head=False)
    with pytest.raises(aa.NotTrainedError):
        load_hubert(str(tmp_path / "bare"))


@pytest.mark.slow
def test_evaluate_loads_a_published_probe_by_name(
    folders: dict[str, Path],
    prepared_subset: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(folders["hubert-probe"]))
    assert main(["-q", "evaluate", "--model", "hubert", "--data", str(prepared_subset)]) == 0
    assert "hubert-probe" in capsys.readouterr().out


def test_write_folder_refuses_other_models(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="yamnet-probe"):
        write_folder(tmp_path, "yamnet-probe", tmp_path / "out", repo_id="me/x")


@pytest.mark.slow
def test_a_published_or_trained_hubert_in_the_setting_is_never_trained_on(
    folders: dict[str, Path],
    tiny_hubert_dir: Path,
    prepared_subset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ANIMAL_AUDIO_HUBERT naming a published model: a run trains on its base, never on the classifier
    (quick mode dropped hubert-probe for a probe folder; a fine-tuned one had seen the test folds)."""
    from random_hubert import TINY
    from transformers import HubertConfig

    from animal_audio import settings
    from animal_audio.availability import unavailable_models
    from animal_audio.demo.training import QUICK_MODELS, make_config
    from animal_audio.models.published import training_base

    HubertConfig(**TINY).save_pretrained(tmp_path / "base")
    assert training_base(str(folders["hubert-probe"])) == str(tiny_hubert_dir), "the probe's recorded base"
    assert training_base(str(folders["hubert-finetune"])) == settings.DEFAULT_HUBERT
    assert training_base(str(tiny_hubert_dir)) == settings.DEFAULT_HUBERT, "a trained animal classifier"
    assert training_base(str(tmp_path / "base")) == str(tmp_path / "base"), "a base is itself"
    assert training_base("nobody/not-cached") == "nobody/not-cached", "nothing local tells more"
    assert training_base(None) is None

    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(folders["hubert-probe"]))
    config = make_config(QUICK_MODELS, "folds", 1, data_dir=prepared_subset)
    assert config.hubert == str(tiny_hubert_dir)
    assert "hubert-probe" not in unavailable_models(config)
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(folders["hubert-finetune"]))
    assert make_config(["hubert-finetune"], "cv", 1).hubert == settings.DEFAULT_HUBERT

    # The command line follows the same rule (it ignored the variable for hubert-probe).
    from train import compare

    seen: list[CompareConfig] = []

    def stop(config: CompareConfig, **kwargs) -> None:
        seen.append(config)
        raise aa.CancelledError("seen")

    monkeypatch.setattr(compare, "run_comparison", stop)
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(folders["hubert-probe"]))
    argv = ["-q", "compare", "--data", str(prepared_subset), "--models", "hubert-probe"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 130
    assert seen[-1].hubert == str(tiny_hubert_dir)
    assert main([*argv, "--out", str(tmp_path / "run"), "--hubert", str(tmp_path / "base")]) == 130
    assert seen[-1].hubert == str(tmp_path / "base"), "--hubert wins, as given"


@pytest.mark.slow
def test_published_base_of_a_probe_in_the_hub_cache_is_found_by_repo_id(
    folders: dict[str, Path], tiny_hubert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from animal_audio.models.published import training_base

    in_hub_cache(folders["hubert-probe"], "me/probe", tmp_path / "hub", monkeypatch)
    assert training_base("me/probe") == str(tiny_hubert_dir)


def test_an_unreachable_hub_fails_at_once_when_downloads_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network, HF_HUB_OFFLINE unset: load_hubert("me/nothing") took ~53 s of retries (probe, then checkpoint)."""
    import time

    import huggingface_hub
    from huggingface_hub import constants

    from animal_audio.models.hubert import HubertClassifier

    def unreachable(*args, **kwargs):
        raise _http_client().ConnectError("[Errno -2] Name or service not known")

    def never(*args, **kwargs):
        raise AssertionError("the checkpoint path would retry the unreachable Hub")

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", unreachable)
    monkeypatch.setattr(HubertClassifier, "load", never)
    started = time.perf_counter()
    with pytest.raises(aa.ModelUnavailableError, match="Cannot reach the Hugging Face Hub") as caught:
        load_hubert("me/nothing")
    assert time.perf_counter() - started < 5
    assert "Name or service not known" in str(caught.value) and "ANIMAL_AUDIO_HUBERT" in str(caught.value)
