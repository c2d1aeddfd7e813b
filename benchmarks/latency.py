"""Per-clip latency, batch throughput, memory and int8 drift of HuBERT and YAMNet on CPU (and GPU).

What is compared and how (full-size HuBERT with random weights, interleaved runs): benchmarks/README.md.

    python -m benchmarks.latency --esc50-dir ../shared/esc50            # the real run (~5 min)
    python -m benchmarks.latency --esc50-dir ../shared/esc50 --runs 3 --warmup 1 --skip-drift  # smoke
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/latency.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import SETTLE_SECONDS, esc50_clips, machine_facts, scratch_home, start_logging, summary  # noqa: E402
from tests.random_hubert import build_random_hubert  # noqa: E402  (the tests' tiny HuBERT, and full-size)

DEFAULT_OUT = REPO / "benchmarks" / "results" / "latency.json"
DEFAULT_RUNS = 30
DEFAULT_WARMUP = 3
DEFAULT_CLIPS = 10
DEFAULT_BATCH = 8
#: Name suffix of the variants that run on the GPU (measured when CUDA is available).
GPU_SUFFIX = "-cuda"
#: Clips used for the drift measurement (fp32 vs int8).
DRIFT_CLIPS = 20

log = logging.getLogger("benchmarks.latency")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start_logging(log.name)
    if args.threads:
        os.environ["ANIMAL_AUDIO_THREADS"] = str(args.threads)
    with scratch_home("animal-audio-latency-") as work:
        result = _run(args, work)
    print(json.dumps({"speedup_vs_pipeline": result["speedup_vs_pipeline"]}, indent=2))
    return 0


def _run(args: argparse.Namespace, work: Path) -> dict:
    from animal_audio import settings
    from animal_audio.fileio import write_json

    clips = esc50_clips(settings.esc50_dir(args.esc50_dir), max(args.clips, DRIFT_CLIPS))
    result: dict[str, Any] = {"machine": machine_facts(), "settings": vars(args) | {"out": str(args.out)}}
    result["clip_seconds"] = round(float(np.mean([len(c) for c in clips])) / 16_000, 3)
    checkpoint = build_random_hubert(work / "hubert-full", full_size=True)

    variants, memory, loads = _load_variants(checkpoint, args)
    result["load_seconds"] = loads
    result["memory"] = memory
    log.info("latency: %d runs after %d warm-up, %d clips", args.runs, args.warmup, args.clips)
    result["latency"] = _latency(variants, clips[: args.clips], runs=args.runs, warmup=args.warmup)
    result["throughput"] = _throughput(variants, clips[: args.batch], repeats=max(2, args.runs // 10))
    result["speedup_vs_pipeline"] = _speedups(result["latency"], result["throughput"])
    if not args.skip_drift:
        result["drift"] = {
            "full_size_random": _drift(checkpoint, clips[:DRIFT_CLIPS]),
            "tiny_random": _drift(build_random_hubert(work / "hubert-tiny"), clips[:DRIFT_CLIPS]),
        }
    result["memory"]["peak_rss_mb"] = _peak_rss_mb()
    result["machine"]["load_average_end"] = list(os.getloadavg())
    write_json(args.out, result)
    log.info("wrote %s", args.out)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = common.parser("latency", __doc__, DEFAULT_OUT, runs=(DEFAULT_RUNS, "timed runs per variant"))
    parser.add_argument("--skip-yamnet", action="store_true", help="HuBERT only")
    parser.add_argument("--skip-drift", action="store_true", help="no fp32-vs-int8 drift measurement")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed runs first")
    parser.add_argument("--clips", type=int, default=DEFAULT_CLIPS, help="distinct clips cycled through")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="clips per batch for throughput")
    parser.add_argument("--threads", type=int, help="CPU threads per framework (default: all cores)")
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU variants even if CUDA is there")
    return parser


# --------------------------------------------------------------------------- inputs


# --------------------------------------------------------------------------- variants


Variant = tuple[Callable[[np.ndarray], Any], Callable[[list[np.ndarray]], Any]]


def _load_variants(checkpoint: Path, args: argparse.Namespace) -> tuple[dict[str, Variant], dict, dict]:
    """Each variant as (one clip, a batch), loaded one by one with the memory it added."""
    from animal_audio.errors import AnimalAudioError

    loaders: dict[str, Callable[[], Variant]] = {
        "pipeline": _plain_pipeline(checkpoint, "cpu"),
        "hubert": _ours(checkpoint, "cpu", fast=False),
        "hubert-fast": _ours(checkpoint, "cpu", fast=True),
        "hubert-torch": _ours(checkpoint, "cpu", fast=False, backend="torch"),
    }
    if _gpu_available() and not args.cpu_only:
        # Timings include copying the answer back to the CPU, which waits for the GPU to finish.
        loaders[f"pipeline{GPU_SUFFIX}"] = _plain_pipeline(checkpoint, "cuda")
        loaders[f"hubert{GPU_SUFFIX}"] = _ours(checkpoint, "cuda", fast=False)
        loaders[f"hubert-fast{GPU_SUFFIX}"] = _ours(checkpoint, "cuda", fast=True)  # float16
    if not args.skip_yamnet:

        def yamnet() -> Variant:
            from animal_audio.models.yamnet import YamnetZeroShot

            model = YamnetZeroShot.load(args.yamnet)
            return (model.predict, model.predict_batch)

        loaders["yamnet"] = yamnet

    variants: dict[str, Variant] = {}
    memory: dict[str, Any] = {"rss_added_mb": {}}
    loads: dict[str, float] = {}
    for name, load in loaders.items():
        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        try:
            variants[name] = load()
        except AnimalAudioError as error:  # e.g. YAMNet from TF Hub while offline: report, go on
            log.warning("%s skipped: %s", name, error)
            memory.setdefault("skipped", {})[name] = str(error)
            continue
        loads[name] = round(time.perf_counter() - started, 2)
        memory["rss_added_mb"][name] = round(_rss_mb() - before, 1)
        log.info("loaded %s in %.1f s (+%.0f MB)", name, loads[name], memory["rss_added_mb"][name])
    memory["rss_after_loads_mb"] = round(_rss_mb(), 1)
    return variants, memory, loads


def _plain_pipeline(checkpoint: Path, device: str) -> Callable[[], Variant]:
    """The baseline: `transformers.pipeline("audio-classification")` on the same checkpoint."""

    def load() -> Variant:
        from transformers import pipeline

        pipe = pipeline("audio-classification", model=str(checkpoint), device=device)
        return (lambda w: pipe(w, top_k=10), lambda ws: pipe(ws, top_k=10, batch_size=len(ws)))

    return load


def _ours(checkpoint: Path, device: str, *, fast: bool, backend: str = "auto") -> Callable[[], Variant]:
    def load() -> Variant:
        from animal_audio.models.hubert import HubertClassifier

        model = HubertClassifier.load(str(checkpoint), device=device, fast=fast, backend=backend)
        return (model.predict, model.predict_batch)

    return load


def _gpu_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# --------------------------------------------------------------------------- measurements


def _latency(variants: dict[str, Variant], clips: list[np.ndarray], *, runs: int, warmup: int) -> dict:
    """Round-robin over variants for every run, so load on the machine hits all of them alike.

    The order rotates each run and a short pause separates calls: a framework's idle
    threads spin briefly after a call, which would otherwise always slow the same neighbour.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for run in range(warmup + runs):
        clip = clips[run % len(clips)]
        for name in names[run % len(names) :] + names[: run % len(names)]:
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            variants[name][0](clip)
            if run >= warmup:
                times[name].append(time.perf_counter() - started)
    return {name: summary(values) for name, values in times.items()}


def _throughput(variants: dict[str, Variant], batch: list[np.ndarray], *, repeats: int) -> dict:
    """Clips per second when a batch of 5 s clips is given at once (after one warm-up batch)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(repeats + 1):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            many = variants[name][1]
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            many(batch)
            if repeat:
                times[name].append(time.perf_counter() - started)
    return {
        name: {"batch": len(batch), "clips_per_second": round(len(batch) / statistics.median(v), 3)}
        for name, v in times.items()
    }


def _speedups(latency: dict, throughput: dict) -> dict:
    """Each HuBERT variant against the plain pipeline on the same device."""
    out = {}
    for name in latency:
        if name.startswith("hubert"):
            base = f"pipeline{GPU_SUFFIX}" if name.endswith(GPU_SUFFIX) else "pipeline"
            out[name] = {
                "p50": round(latency[base]["p50"] / latency[name]["p50"], 2),
                "best": round(latency[base]["min"] / latency[name]["min"], 2),
                "throughput": round(
                    throughput[name]["clips_per_second"] / throughput[base]["clips_per_second"], 2
                ),
            }
    return out


def _drift(checkpoint: Path, clips: list[np.ndarray]) -> dict:
    """fp32 (torch) vs our exact path vs int8 paths: logits, probabilities, embeddings."""
    from animal_audio.models.hubert import HubertClassifier, HubertEmbedder

    reference = HubertClassifier.load(str(checkpoint), fast=False, backend="torch").logits_batch(clips)
    out: dict[str, Any] = {"clips": len(clips), "logit_scale": round(float(np.abs(reference).max()), 6)}
    for name, fast, backend in (
        ("exact", False, "auto"),
        ("int8", True, "auto"),
        ("torch-int8", True, "torch"),
    ):
        logits = HubertClassifier.load(str(checkpoint), fast=fast, backend=backend).logits_batch(clips)
        out[name] = _compare_logits(reference, logits)
    base = HubertEmbedder.load(str(checkpoint), fast=False, backend="torch").embed_batch(clips)
    for name, fast, backend in (("exact", False, "auto"), ("int8", True, "auto")):
        embeddings = HubertEmbedder.load(str(checkpoint), fast=fast, backend=backend).embed_batch(clips)
        out[name]["embedding_cosine_min"] = round(float(_cosine(base, embeddings).min()), 6)
        out[name]["embedding_rel_error_max"] = round(
            float((np.linalg.norm(base - embeddings, axis=1) / np.linalg.norm(base, axis=1)).max()), 6
        )
    return out


def _compare_logits(reference: np.ndarray, other: np.ndarray) -> dict:
    from animal_audio.models.base import softmax

    p, q = softmax(reference), softmax(other)
    return {
        "logit_max_abs_diff": float(f"{np.abs(reference - other).max():.3g}"),
        "logit_rel_diff": float(
            f"{np.abs(reference - other).max() / max(np.abs(reference).max(), 1e-12):.3g}"
        ),
        "prob_max_abs_diff": float(f"{np.abs(p - q).max():.3g}"),
        "top1_agreement": float(np.mean(p.argmax(1) == q.argmax(1))),
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --------------------------------------------------------------------------- machine


def _rss_mb() -> float:
    """Current resident memory (Linux /proc), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss_mb()


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


if __name__ == "__main__":
    sys.exit(main())
