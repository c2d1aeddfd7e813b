"""Soak (loopback only, bounded): 4 visitors send 10 /classify calls each while a quick training run goes on.
Every call is answered or rate-limited with its message; none fails, and the server keeps serving."""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.soak import soak_while_training

CLIENTS, CALLS, RATE_LIMIT = 4, 10, 10


def test_many_visitors_while_training_are_answered_or_told_to_wait(
    tmp_path: Path, yamnet_tflite: Path, prepared_subset: Path, clip_of
) -> None:
    from random_hubert import build_random_hubert

    env = {
        "ANIMAL_AUDIO_HUBERT": str(
            build_random_hubert(tmp_path / "base", head=False)
        ),  # a base model: the quick run trains its probe
        "ANIMAL_AUDIO_YAMNET": str(yamnet_tflite),
        "ANIMAL_AUDIO_DATA": str(prepared_subset),
        "ANIMAL_AUDIO_HOME": str(tmp_path / "home"),
        "ANIMAL_AUDIO_RATE_LIMIT": str(RATE_LIMIT),  # every visitor here is 127.0.0.1: one visitor
    }
    result = soak_while_training(env, clip_of("dog"), tmp_path / "app.log", clients=CLIENTS, calls=CALLS)
    assert result["training_started"] and result["training_during_soak"], str(result)  # a str: shown whole
    assert result["failed"] == 0, result["failures"]
    assert result["calls"] == CLIENTS * CALLS
    # The refusals are told apart by their message ("Too many requests ... Wait N s"). The window slides:
    # a soak longer than a minute gets another RATE_LIMIT answers per minute.
    minutes = math.ceil(result["wall_seconds"] / 60)
    assert RATE_LIMIT <= result["answered"] <= RATE_LIMIT * minutes
    assert result["rate-limited"] == CLIENTS * CALLS - result["answered"]
    assert result["answered_p95_seconds"] is not None and result["server_alive"]
