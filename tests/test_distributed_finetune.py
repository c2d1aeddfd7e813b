"""`torchrun -m train finetune` on two CPU processes (gloo): DDP through Trainer, one checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animal_audio import esc50
from animal_audio.errors import DeviceError
from animal_audio.labels import CLASSES
from animal_audio.models import distributed

REPO = Path(__file__).resolve().parents[1]


def launch(*argv: str, home: Path) -> subprocess.CompletedProcess:
    """A launcher command from the repo root, offline, one thread per process (2 processes, 2 cores)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANIMAL_AUDIO_HOME": str(home),
        "ANIMAL_AUDIO_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_torchrun_two_processes_train_one_epoch_and_write_one_checkpoint(
    prepared_subset: Path, tiny_hubert_dir: Path, tmp_path: Path
):
    from transformers import pipeline

    from animal_audio.audio import load_audio

    out = tmp_path / "run"
    # 60 training clips (folds 1-3), batches of 8 on each of 2 processes: 4 steps make the epoch.
    done = launch(
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
        *("-m", "train", "-q", "finetune", "--data", str(prepared_subset), "--out", str(out)),
        *("--hubert", str(tiny_hubert_dir), "--epochs", "1", "--batch-size", "8", "--device", "cpu"),
        *("--learning-rate", "1e-3", "--no-augment"),
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Only the main process reports; it says both processes trained.
    assert done.stdout.count("Best on the validation fold") == 1, done.stdout
    assert "on 2 processes" in done.stdout
    assert done.stdout.count("Checkpoint: ") == 1
    # Exactly one checkpoint, and nothing else: no Trainer checkpoints, no temp folders, no run.json.
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint"]

    classify = pipeline("audio-classification", model=str(out / "checkpoint"), device="cpu")
    assert [classify.model.config.id2label[i] for i in range(len(CLASSES))] == list(CLASSES)
    table = esc50.load_manifest(prepared_subset)
    scores = classify(load_audio(table["path"][0]), top_k=None)
    assert sorted(s["label"] for s in scores) == sorted(CLASSES)
    assert np.isclose(sum(s["score"] for s in scores), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("clips", "processes", "accumulation", "max_steps", "steps"),
    [(60, 1, 1, None, 8), (60, 2, 1, None, 4), (60, 2, 2, None, 2), (60, 2, 3, None, 2), (8, 4, 1, None, 1)]
    + [(60, 2, 1, 3, 3)],
)
def test_an_epoch_is_the_steps_of_every_process_and_accumulation(
    clips, processes, accumulation, max_steps, steps
):
    from types import SimpleNamespace

    args = SimpleNamespace(
        per_device_train_batch_size=8, world_size=processes, gradient_accumulation_steps=accumulation
    )
    distributed.evaluate_each_epoch(args, clips, max_steps)
    assert args.eval_steps == args.save_steps == steps


def test_mixed_precision_is_refused_on_a_cpu_and_float32_is_the_default(monkeypatch):
    monkeypatch.delenv(distributed.ACCELERATE_PRECISION, raising=False)
    assert distributed.precision_args(None, "cpu") == {"fp16": False, "bf16": False}
    assert distributed.precision_args("bf16", "cuda") == {"fp16": False, "bf16": True}
    with pytest.raises(DeviceError, match="--precision fp16 .* the CPU"):
        distributed.precision_args("fp16", "cpu")
    monkeypatch.setenv(distributed.ACCELERATE_PRECISION, "bf16")  # accelerate launch --mixed_precision bf16
    assert distributed.precision_args(None, "cuda:0") == {"fp16": False, "bf16": True}
    with pytest.raises(DeviceError, match="disagree"):
        distributed.precision_args("fp16", "cuda")


def test_the_cli_refuses_mixed_precision_on_a_cpu_with_a_message(
    prepared_subset, tiny_hubert_dir, tmp_path, capsys
):
    from train.__main__ import main

    out = tmp_path / "run"
    argv = ["finetune", "--data", str(prepared_subset), "--out", str(out), "--hubert", str(tiny_hubert_dir)]
    assert main([*argv, "--device", "cpu", "--precision", "bf16"]) == 2
    assert "error: --precision bf16 is mixed precision for GPUs" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written
