"""Label sets beyond the ten animals: a folder of your own classes and a choice of ESC-50 classes are
prepared, compared and reported over exactly their classes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from animal_audio import esc50
from animal_audio.datasets import esc50_label_set, read_labels
from animal_audio.errors import DatasetError
from animal_audio.folder_data import source_recording
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.models.base import Prediction

REPO = Path(__file__).resolve().parents[1]
THREE = ("cat", "dog", "rooster")  # a folder's classes: its subfolders, sorted


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "train", "-q", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def three_class_folder(esc50_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR/<label>/*.wav: the 40 shared clips each of dog, cat and rooster, under their ESC-50 names."""
    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    folder = tmp_path_factory.mktemp("my-sounds")
    for label in THREE:
        (folder / label).mkdir()
        for name in meta[meta.category == label].filename:
            (folder / label / name).symlink_to(esc50_dir / "audio" / name)
    return folder


def small_folder(folder: Path, dest: Path, per_class: int = 5) -> Path:
    """The first `per_class` clips of each class of `folder`, in the same layout: enough for five folds."""
    for label in THREE:
        (dest / label).mkdir(parents=True)
        for clip in sorted((folder / label).iterdir())[:per_class]:
            (dest / label / clip.name).symlink_to(clip.resolve())
    return dest


def test_source_recording_keeps_takes_of_one_recording_together() -> None:
    assert source_recording("1-100032-A-0") == "100032"  # ESC-50's <fold>-<source>-<take>-<target>
    assert (
        source_recording("bark_2") == source_recording("bark-take3") == source_recording("Bark (4)") == "bark"
    )
    assert source_recording("meow") == "meow"


def test_folder_three_classes_compare_cv_over_three_classes(
    three_class_folder: Path, yamnet_tflite: Path, tmp_path: Path
) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    prepared = run_cli("prepare", "--folder", str(three_class_folder), "--out", str(data))
    assert prepared.returncode == 0, prepared.stderr
    assert "cat 40, dog 40, rooster 40" in prepared.stdout
    assert read_labels(data).names == THREE
    table = esc50.load_manifest(data)
    assert sorted(table["fold"].unique()) == [1, 2, 3, 4, 5]
    assert (table.groupby("src_file")["fold"].nunique() == 1).all()  # one recording, one fold
    assert (table.groupby(["fold", "label"]).size() >= 6).all()  # stratified: every class in every fold

    compared = run_cli(
        "compare", "--data", str(data), "--models", "yamnet-zeroshot,yamnet-probe", "--cv",
        "--yamnet", str(yamnet_tflite), "--out", str(run),
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "3 classes: cat, dog, rooster" in compared.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["labels"]["names"] == list(THREE)
    assert metrics["models"]["yamnet-probe"]["accuracy"] > 0.85
    for entry in metrics["models"].values():
        assert list(entry["per_class"]) == list(THREE)
        assert len(entry["confusion"]) == 3 and all(len(row) == 3 for row in entry["confusion"])
    predictions = pd.read_csv(run / "predictions.csv")
    assert len(predictions) == 120
    for model in ("yamnet-zeroshot", "yamnet-probe"):
        columns = [c for c in predictions.columns if c.startswith(f"{model}:p_")]
        assert columns == [f"{model}:p_{c}" for c in THREE]
        assert set(predictions[f"{model}:label"]) <= set(THREE)
    report = (run / "report.md").read_text()
    assert "| Rooster |" in report and "| Pig |" not in report


def test_esc50_classes_reports_the_clips_it_cannot_find(esc50_dir: Path, tmp_path: Path) -> None:
    """The shared copy holds the animals only: rain's 40 files are named, the dog clips prepared."""
    result = run_cli(
        "prepare", "--esc50-dir", str(esc50_dir), "--esc50-classes", "dog,rain", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "not found: rain: none of its 40 clips" in result.stdout
    assert "1-17367-A-10.wav" in result.stdout  # a rain clip, by name
    table = esc50.load_manifest(tmp_path)
    assert set(table["label"]) == {"dog"} and len(table) == 40
    assert read_labels(tmp_path).names == ("dog", "rain")
    compared = run_cli(
        "compare", "--data", str(tmp_path), "--models", "yamnet-probe", "--out", str(tmp_path / "r")
    )
    assert compared.returncode != 0 and "No clips of rain" in compared.stderr


def test_esc50_class_choices() -> None:
    categories = esc50.categories(REPO.parent / "shared" / "esc50")
    assert len(categories) == 50 and categories[:10] == list(ANIMALS.names)
    assert esc50_label_set("animals", categories) is ANIMALS
    assert esc50_label_set("all", categories).names == tuple(categories)
    assert esc50_label_set("rain, dog", categories).names == ("rain", "dog")
    with pytest.raises(DatasetError, match="Not ESC-50 classes: unicorn"):
        esc50_label_set("dog,unicorn", categories)


def test_a_prediction_carries_its_label_set() -> None:
    labels = LabelSet(THREE)
    prediction = Prediction("m", [0.2, 0.7, 0.1], labels=labels)
    assert prediction.label == "dog"
    assert list(prediction.as_dict()["probabilities"]) == list(THREE)
    with pytest.raises(ValueError, match="expected 3 probabilities"):
        Prediction("m", [0.1] * 10, labels=labels)
    assert Prediction("m", [0.1] * 10).labels is ANIMALS  # the default is unchanged


def test_fine_tuning_learns_the_data_label_set(
    three_class_folder: Path, tiny_hubert_dir: Path, clip_of, tmp_path: Path
) -> None:
    """A tiny HuBERT fine-tuned on three classes: a three-class checkpoint, refused where the animals are wanted."""
    from animal_audio.audio import load_audio
    from animal_audio.errors import NotTrainedError
    from animal_audio.folder_data import prepare_folder
    from animal_audio.models.finetune import finetune
    from animal_audio.models.hubert import HubertClassifier

    small = small_folder(three_class_folder, tmp_path / "small")
    data = tmp_path / "data"
    result = prepare_folder(small, data)
    split = esc50.fold_split(esc50.load_manifest(data))
    trained = finetune(
        split.train, split.validation, tmp_path / "ft", base=str(tiny_hubert_dir), epochs=1,
        max_steps=1, device="cpu", labels=result.labels,
    )  # fmt: skip
    config = json.loads((trained.checkpoint_dir / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == list(THREE)
    classifier = HubertClassifier.load(str(trained.checkpoint_dir), labels=result.labels, device="cpu")
    prediction = classifier.predict(load_audio(clip_of("dog")))
    assert prediction.labels.names == THREE and prediction.probs.shape == (3,)
    assert prediction.timeline is not None and prediction.timeline.probs.shape[1] == 3
    with pytest.raises(NotTrainedError, match="other labels"):
        HubertClassifier.load(str(trained.checkpoint_dir), device="cpu")  # the app wants the animals


def test_zero_shot_covers_mapped_label_sets_and_says_why_not(yamnet_tflite: Path) -> None:
    from animal_audio.labels import animal_index, audioset_map, zero_shot_problem
    from animal_audio.models.yamnet import _read_class_map

    assert zero_shot_problem(ANIMALS) is None
    assert zero_shot_problem(LabelSet(("dog", "rain", "sea_waves"))) is None
    problem = zero_shot_problem(LabelSet(("dog", "my_kazoo")))
    assert problem is not None and "not applicable" in problem and "my_kazoo" in problem
    # The ten animals read exactly their own map; a set with insects but not crickets counts Cricket as insects.
    assert audioset_map(ANIMALS)["Cricket"] == "insects"
    assert audioset_map(LabelSet(("insects", "crickets")))["Cricket"] == "crickets"
    assert audioset_map(LabelSet(("insects", "rain")))["Cricket"] == "insects"
    names = _read_class_map((yamnet_tflite.parent / "yamnet_class_map.csv").read_text())
    rain = animal_index(names, LabelSet(("dog", "rain")))
    assert (
        rain[names.index("Rain")] == 1 and rain[names.index("Bark")] == 0 and rain[names.index("Meow")] == -1
    )


def test_other_classes_never_overwrite_prepared_data(
    three_class_folder: Path, esc50_dir: Path, tmp_path: Path
) -> None:
    """The app's ten animals and your own classes each keep their folder: nothing is silently replaced."""
    from animal_audio.folder_data import prepare_folder

    small = small_folder(three_class_folder, tmp_path / "small")
    prepare_folder(small, tmp_path / "mine")
    with pytest.raises(DatasetError, match="already holds prepared clips of other classes"):
        esc50.prepare(esc50_dir, tmp_path / "mine")
    assert read_labels(tmp_path / "mine").names == THREE
    no_out = run_cli("prepare", "--folder", str(small))
    assert no_out.returncode == 2 and "--out" in no_out.stderr


def test_a_classifier_tested_on_no_clips_answers_over_its_own_classes(yamnet_tflite: Path) -> None:
    from animal_audio.evaluation import evaluate_classifier
    from animal_audio.models.yamnet import YamnetZeroShot

    three = LabelSet(("dog", "rain", "sea_waves"))
    probs, seconds = evaluate_classifier(YamnetZeroShot.load(str(yamnet_tflite), three), [])
    assert probs.shape == (0, 3) and seconds == 0.0
