"""The robustness lab's sweep: one transform at 5 levels, both models, on a 5 s clip (target: under 3 s).

Full-size HuBERT with random weights (HuBERT-Base's compute, built as latency.py builds it) and the
real YAMNet; every transform is swept `--runs` times after one warm-up, and the time is split into
transforming the clip and each model's predictions. Also timed: the sweep given the models' answers on
the unchanged clip (`original=`, as the app has them), one HuBERT pass fewer. See benchmarks/README.md.

    python -m benchmarks.robustness --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/robustness.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import esc50_clips, machine_facts, scratch_home, start_logging  # noqa: E402
from tests.random_hubert import build_random_hubert  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "robustness.json"
DEFAULT_RUNS = 5
TARGET_SECONDS = 3.0

log = logging.getLogger("benchmarks.robustness")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start_logging(log.name)
    with scratch_home("animal-audio-robustness-") as work:
        result = _run(args, work)
    print(json.dumps(result["summary"], indent=2))
    return 0


def _run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from animal_audio import settings
    from animal_audio.fileio import write_json
    from animal_audio.models.hubert import HubertClassifier
    from animal_audio.models.yamnet import YamnetZeroShot
    from animal_audio.robustness import TRANSFORMS, sweep, transform

    clip = esc50_clips(settings.esc50_dir(args.esc50_dir), 1)[0]
    checkpoint = build_random_hubert(work / "hubert-full", full_size=True)
    hubert = HubertClassifier.load(str(checkpoint), fast=args.fast)
    yamnet = YamnetZeroShot.load(args.yamnet)
    models = {"hubert": hubert, "yamnet": yamnet}
    per_transform: dict[str, Any] = {}
    for name, spec in TRANSFORMS.items():
        sweep(list(models.values()), clip, name)  # warm-up (graph, filter design, allocations)
        totals, reused, parts = [], [], {"transform": [], **{m: [] for m in models}}
        answers = {model.name: model.predict(clip) for model in models.values()}  # the app has these already
        for _ in range(args.runs):
            began = time.perf_counter()
            sweep(list(models.values()), clip, name)
            totals.append(time.perf_counter() - began)
            began = time.perf_counter()
            sweep(list(models.values()), clip, name, original=answers)
            reused.append(time.perf_counter() - began)
            # The same work in pieces: where the time goes.
            began = time.perf_counter()
            changed = [transform(clip, name, level) for level in spec.sweep_levels]
            parts["transform"].append(time.perf_counter() - began)
            for key, model in models.items():
                began = time.perf_counter()
                model.predict_batch([clip, *changed])
                parts[key].append(time.perf_counter() - began)
        per_transform[name] = {
            "levels": list(spec.sweep_levels),
            "seconds_median": round(statistics.median(totals), 3),
            "seconds_max": round(max(totals), 3),
            "seconds_median_given_the_answer": round(statistics.median(reused), 3),
            "parts_median": {k: round(statistics.median(v), 3) for k, v in parts.items()},
        }
        log.info("%s: %.2f s (median of %d)", name, statistics.median(totals), args.runs)
    worst = max(v["seconds_median"] for v in per_transform.values())
    result = {
        "machine": machine_facts(),
        "settings": {"runs": args.runs, "fast": args.fast, "clip_seconds": round(len(clip) / 16_000, 3)},
        "hubert": hubert.describe(),
        "transforms": per_transform,
        "summary": {
            "worst_median_seconds": worst,
            "target_seconds": TARGET_SECONDS,
            "under_target": worst < TARGET_SECONDS,
            "median_seconds": {k: v["seconds_median"] for k, v in per_transform.items()},
            "worst_median_seconds_given_the_answer": max(
                v["seconds_median_given_the_answer"] for v in per_transform.values()
            ),
        },
    }
    write_json(args.out, result)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = common.parser(
        "robustness", __doc__, DEFAULT_OUT, runs=(DEFAULT_RUNS, "timed sweeps per transform")
    )
    parser.add_argument("--fast", action="store_true", help="HuBERT's int8 fast path")
    return parser


if __name__ == "__main__":
    sys.exit(main())
