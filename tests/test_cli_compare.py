"""`python -m train compare / evaluate / finetune`: what a person typing the commands sees."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from train.__main__ import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, prepared_subset: Path, yamnet_tflite: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["-q", "compare", "--data", str(prepared_subset), "--out", str(out)]
    argv += ["--models", "yamnet-zeroshot,yamnet-probe", "--yamnet", str(yamnet_tflite)]
    with pytest.MonkeyPatch.context() as patch:  # conftest's isolated home, at module scope
        patch.setenv("ANIMAL_AUDIO_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        assert main(argv) == 0
    return out


def test_compare_writes_the_run_directory(cli_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert list(metrics["models"]) == ["yamnet-zeroshot", "yamnet-probe"]
    for name in ("predictions.csv", "report.md", "confusion.html", "models/yamnet-probe/probe.json"):
        assert (cli_run / name).is_file(), name


def test_bad_model_name_is_a_message_not_a_traceback(prepared_subset: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "compare",
            "--data",
            str(prepared_subset),
            "--models",
            "yamnet-zeroshot,horse",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown model name(s): horse" in result.stderr and "hubert-finetune" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_prints_metrics_of_a_saved_probe(
    cli_run: Path, prepared_subset: Path, yamnet_tflite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "-q",
        "evaluate",
        "--model",
        str(cli_run / "models" / "yamnet-probe"),
        "--data",
        str(prepared_subset),
    ]
    assert main([*argv, "--yamnet", str(yamnet_tflite), "--json", str(cli_run.parent / "eval.json")]) == 0
    out = capsys.readouterr().out
    saved = json.loads((cli_run / "metrics.json").read_text())["models"]["yamnet-probe"]
    assert f"accuracy {100 * saved['accuracy']:.2f}%" in out, "same head, same fold 5: same numbers"
    assert "Insects (flying)" in out
    assert json.loads((cli_run.parent / "eval.json").read_text())["accuracy"] == saved["accuracy"]

    assert main(["-q", "evaluate", "--model", str(cli_run), "--data", str(prepared_subset)]) == 2
    assert "no fine-tuned checkpoint" in capsys.readouterr().err


def test_finetune_command_saves_a_loadable_checkpoint(
    tmp_path: Path, prepared_subset: Path, tiny_hubert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-q", "finetune", "--data", str(prepared_subset), "--out", str(tmp_path / "ft")]
    assert main([*argv, "--hubert", str(tiny_hubert_dir), "--epochs", "1", "--max-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "Best on the validation fold" in out
    assert (tmp_path / "ft" / "checkpoint" / "config.json").is_file()


def test_accuracy_benchmark_marks_models_without_weights(
    tmp_path: Path, prepared_subset: Path, yamnet_tflite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import accuracy

    out = tmp_path / "results"
    out.mkdir()
    earlier = {
        "created": "2026-01-01",
        "protocols": {
            "folds": {
                "models": {
                    "hubert-finetune": {
                        "accuracy": 0.8611,
                        "macro_f1": 0.86,
                        "train_seconds": 3600.0,
                        "inference_seconds_per_clip": 0.9,
                    }
                }
            }
        },
    }
    (out / "accuracy.json").write_text(json.dumps(earlier))
    argv = ["--data", str(prepared_subset), "--models", "hubert-finetune,hubert-probe,yamnet-zeroshot"]
    argv += [
        "--protocols",
        "folds",
        "--yamnet",
        str(yamnet_tflite),
        "--hubert",
        str(tmp_path / "no-such-hubert"),
    ]
    assert accuracy.main([*argv, "--out", str(out), "--runs-dir", str(tmp_path / "runs")]) == 0
    table = (out / "accuracy.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| `")}
    assert "needs the real weights" in rows["`hubert-probe`"]
    assert "86.11%" in rows["`hubert-finetune`"], "numbers measured where the weights existed are kept"
    assert re.search(r"\d+\.\d\d%", rows["`yamnet-zeroshot`"])
    saved = json.loads((out / "accuracy.json").read_text())
    assert set(saved["unavailable"]) == {"hubert-finetune", "hubert-probe"}
    assert saved["protocols"]["folds"]["models"]["hubert-finetune"]["from"] == "2026-01-01"


def test_accuracy_benchmark_in_fast_mode_keeps_the_exact_table(
    tmp_path: Path, prepared_subset: Path, yamnet_tflite: Path
) -> None:
    from benchmarks import accuracy

    out = tmp_path / "results"
    out.mkdir()
    (out / "accuracy.md").write_text("exact table")
    argv = ["--data", str(prepared_subset), "--models", "yamnet-zeroshot", "--protocols", "folds"]
    argv += [
        "--yamnet",
        str(yamnet_tflite),
        "--fast",
        "--out",
        str(out),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    assert accuracy.main(argv) == 0
    assert (out / "accuracy.md").read_text() == "exact table"
    assert "fast mode" in (out / "accuracy_fast.md").read_text()
    assert json.loads((out / "accuracy_fast.json").read_text())["settings"]["fast"] is True
