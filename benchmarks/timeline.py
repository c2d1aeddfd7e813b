"""What the timeline costs: a 30 s clip's answer with its timeline (one forward pass per model, frames
pooled in numpy) against the whole-clip answer alone as it was computed before (a graph that pools).

Full-size HuBERT with random weights (same compute as HuBERT-Base) and the real YAMNet, timed
round-robin on one 30 s clip made of six real ESC-50 clips. See benchmarks/README.md.

    python -m benchmarks.timeline --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite
    python -m benchmarks.timeline --esc50-dir ../shared/esc50 --runs 2 --warmup 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/timeline.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import SETTLE_SECONDS, esc50_clips, machine_facts, scratch_home, start_logging, summary  # noqa: E402
from tests.random_hubert import build_random_hubert  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "timeline.json"
DEFAULT_RUNS = 20
DEFAULT_WARMUP = 2
CLIP_SECONDS = 30
#: The issue's bound: the answer with its timeline at most this many times the whole-clip answer's time.
GOAL_RATIO = 1.5

log = logging.getLogger("benchmarks.timeline")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start_logging(log.name)
    with scratch_home("animal-audio-timeline-") as work:
        result = _run(args, work)
    print(json.dumps(result["ratios"], indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = common.parser("timeline", __doc__, DEFAULT_OUT, runs=(DEFAULT_RUNS, "timed runs per variant"))
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed runs first")
    parser.add_argument(
        "--fast", action="store_true", help="HuBERT's fast path (int8) instead of the exact one"
    )
    return parser


def _run(args: argparse.Namespace, work: Path) -> dict:
    from animal_audio import settings
    from animal_audio.fileio import write_json

    clip = np.concatenate(esc50_clips(settings.esc50_dir(args.esc50_dir), CLIP_SECONDS // 5))
    checkpoint = build_random_hubert(work / "hubert-full", full_size=True)
    variants = _variants(checkpoint, args)
    # The whole-clip answer must not move: ours (mean of frame logits) against the pooling graph.
    same = np.abs(variants["hubert+timeline"](clip).probs - variants["hubert-before"](clip)).max()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for run in range(args.warmup + args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            variants[name](clip)
            if run >= args.warmup:
                times[name].append(time.perf_counter() - started)
    latency = {name: summary(values) for name, values in times.items()}
    ratios = {"goal": GOAL_RATIO, **_ratios(times, statistics.median, "p50"), **_ratios(times, min, "best")}
    result: dict[str, Any] = {
        "machine": machine_facts(),
        "settings": vars(args) | {"out": str(args.out)},
        "clip_seconds": round(len(clip) / 16_000, 3),
        "latency": latency,
        "ratios": ratios,
        "timeline_only_ms": _timeline_only_ms(len(clip)),
        "hubert_prob_max_abs_diff_vs_before": float(f"{same:.3g}"),
        "timeline_rows": {
            name: len(variants[f"{name}+timeline"](clip).timeline.start_seconds)
            for name in ("hubert", "yamnet")
        },
    }
    result["machine"]["load_average_end"] = list(os.getloadavg())
    write_json(args.out, result)
    log.info("wrote %s", args.out)
    return result


def _ratios(times: dict[str, list[float]], pick: Callable[[list[float]], float], what: str) -> dict:
    """Time with the timeline / time before, per model and for both (their sum), on `pick` of the runs."""
    at = {name: pick(values) for name, values in times.items()}
    after, before = (sum(at[f"{m}{s}"] for m in ("hubert", "yamnet")) for s in ("+timeline", "-before"))
    return {
        f"hubert_{what}": round(at["hubert+timeline"] / at["hubert-before"], 3),
        f"yamnet_{what}": round(at["yamnet+timeline"] / at["yamnet-before"], 3),
        f"both_{what}": round(after / before, 3),
    }


def _timeline_only_ms(samples: int, repeats: int = 50) -> dict:
    """What the timeline adds to one pass, alone (median ms): pooling frames of a clip this long and the
    head on each window, for HuBERT's classifier (10 frame logits), a HuBERT-Base probe (768-d hidden
    states) and YAMNet zero-shot (521 scores per frame)."""
    from animal_audio.labels import animal_probabilities
    from animal_audio.models.base import softmax
    from animal_audio.timeline import Frames

    rng = np.random.default_rng(0)
    hubert_frames, yamnet_frames = samples // 320, 1 + samples // 7680
    index = rng.integers(-1, 10, 521)  # each AudioSet class an animal's or none
    head = rng.standard_normal((768, 10))
    cases = {
        "hubert_classifier": (Frames(rng.standard_normal((hubert_frames, 10)), 0.02, 50, 25), softmax),
        "hubert_probe": (
            Frames(rng.standard_normal((hubert_frames, 768)).astype(np.float32), 0.02, 50, 25),
            lambda x: softmax(x @ head),
        ),
        "yamnet_zeroshot": (
            Frames(rng.random((yamnet_frames, 521)).astype(np.float32), 0.48, window_seconds=0.96),
            lambda x: animal_probabilities(x, index)[0],
        ),
    }
    out = {}
    for name, (frames, timeline_head) in cases.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            frames.timeline(timeline_head)
            times.append(time.perf_counter() - started)
        out[name] = round(statistics.median(times) * 1000, 3)
    return out


def _variants(checkpoint: Path, args: argparse.Namespace) -> dict[str, Callable[[np.ndarray], Any]]:
    """Each model with its timeline (what predict does now) and its whole-clip answer computed as before."""
    from animal_audio.models.hubert import HubertClassifier
    from animal_audio.models.yamnet import YamnetZeroShot

    hubert = HubertClassifier.load(str(checkpoint), fast=args.fast)
    yamnet = YamnetZeroShot.load(args.yamnet)
    log.info("HuBERT runs as %s", hubert.backend)
    return {
        "hubert+timeline": hubert.predict,
        "hubert-before": _pooled_hubert(checkpoint, hubert, fast=args.fast),
        "yamnet+timeline": yamnet.predict,
        "yamnet-before": _yamnet_before(yamnet),
    }


def _pooled_hubert(checkpoint: Path, ours: Any, *, fast: bool) -> Callable[[np.ndarray], Any]:
    """The whole-clip answer as computed before the timeline: a graph whose output is the pooled logits
    (`model(x).logits`), exported and run the same way (ORT, same int8 settings), softmax in numpy."""
    import torch
    from transformers import AutoModelForAudioClassification

    from animal_audio.models import backends
    from animal_audio.models.base import softmax

    model = AutoModelForAudioClassification.from_pretrained(str(checkpoint), dtype=torch.float32).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            return self.model(input_values).logits

    key = {"output": "pooled logits (benchmark baseline)", "checkpoint": str(checkpoint)}
    runner = backends.make_runner(Pooled().eval(), device="cpu", fast=fast, backend="auto", key_parts=key)
    if backends.runner_name(runner) != ours.backend:
        log.warning("baseline runs as %s, ours as %s", backends.runner_name(runner), ours.backend)
    extractor = ours.feature_extractor
    return lambda wave: softmax(backends.run_batched(runner, extractor, [wave])[0][0])


def _yamnet_before(model: Any) -> Callable[[np.ndarray], Any]:
    """YAMNet zero-shot as before: the mapped mean of the frame scores, no per-frame mapping."""
    from animal_audio.labels import animal_index, animal_probabilities

    index = animal_index(model.model.class_names)
    return lambda wave: animal_probabilities(model.model.run(wave).scores.mean(axis=0), index)


if __name__ == "__main__":
    sys.exit(main())
