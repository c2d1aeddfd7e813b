"""What a clip's nearest ESC-50 clips and map point cost once a run's map is loaded: `clip_map.place`, and
the app's whole path (the stored index found by `run_maps.RunMaps.get`, then `place`), per model.

yamnet-probe: the real YAMNet's embeddings of the 400 ESC-50 animal clips. hubert-probe (768-d, HuBERT-Base's
hidden size) and hubert-finetune (256-d, its projector): random vectors of those sizes for the 400 clips:
`place` is a matrix-vector product, a partial sort and a projection, whose time depends on the sizes only
(embedding 400 clips with a full-size HuBERT takes minutes on a CPU). See benchmarks/README.md.

    python -m benchmarks.clip_map --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite
    python -m benchmarks.clip_map --esc50-dir ../shared/esc50 --runs 20   # smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/clip_map.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import machine_facts, scratch_home, start_logging, summary  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "clip_map.json"
DEFAULT_RUNS = 500
#: The issue's bound per model, once the run's embeddings are loaded.
GOAL_MS = 20.0
#: Embedding sizes of HuBERT-Base's hidden states (hubert-probe) and its classifier projector (hubert-finetune).
HUBERT_SIZES = {"hubert-probe": 768, "hubert-finetune": 256}

log = logging.getLogger("benchmarks.clip_map")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start_logging(log.name)
    with scratch_home("animal-audio-clip-map-") as work:
        result = _run(args, work)
    print(json.dumps(result["p50_ms"], indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    return common.parser("clip_map", __doc__, DEFAULT_OUT, runs=(DEFAULT_RUNS, "timed calls per model"))


def _run(args: argparse.Namespace, work: Path) -> dict:
    from animal_audio import esc50, settings
    from animal_audio.clip_map import index_from_embeddings, save_index
    from animal_audio.embeddings import embed_clips
    from animal_audio.fileio import write_json
    from animal_audio.models.yamnet import YamnetModel

    esc50_dir = settings.esc50_dir(args.esc50_dir)
    table = esc50.read_metadata(esc50_dir)
    table["path"] = [str(esc50_dir / "audio" / name) for name in table["filename"]]
    yamnet = YamnetModel.load(settings.yamnet_source(args.yamnet))
    started = time.perf_counter()
    vectors = {"yamnet-probe": embed_clips(yamnet, list(table["path"]), cache_dir=work / "embeddings")}
    embed_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    vectors.update(
        {name: rng.standard_normal((len(table), d)).astype(np.float32) for name, d in HUBERT_SIZES.items()}
    )
    run_dir = work / "run"
    indexes, build_ms = {}, {}
    for name, embedded in vectors.items():
        started = time.perf_counter()
        indexes[name] = index_from_embeddings(name, f"bench-{name}", table, embedded)
        build_ms[name] = round((time.perf_counter() - started) * 1000, 2)
        save_index(indexes[name], run_dir)
    queries = {"yamnet-probe": yamnet.embed(_query(esc50_dir, table))}
    queries.update({name: rng.standard_normal(d).astype(np.float32) for name, d in HUBERT_SIZES.items()})
    place_ms = {name: _time_place(indexes[name], queries[name], args.runs) for name in indexes}
    app_ms = {name: _time_app_path(run_dir, name, queries[name], args.runs) for name in indexes}
    p50 = {name: {"place": place_ms[name]["p50"], "app_path": app_ms[name]["p50"]} for name in indexes}
    result: dict[str, Any] = {
        "machine": machine_facts() | {"load_average_end": list(os.getloadavg())},
        "settings": vars(args) | {"out": str(args.out)},
        "clips": len(table),
        "goal_ms": GOAL_MS,
        "p50_ms": p50,
        "within_goal": all(v["app_path"] < GOAL_MS for v in p50.values()),
        "place_ms": place_ms,
        "app_path_ms": app_ms,
        "index_build_ms_from_embeddings": build_ms,
        "yamnet_embed_400_clips_seconds": round(embed_seconds, 2),
        "yamnet_test_fold_flagged": round(indexes["yamnet-probe"].test_flagged, 4),
        "yamnet_threshold": round(indexes["yamnet-probe"].threshold, 4),
    }
    write_json(args.out, result)
    log.info("wrote %s", args.out)
    return result


def _query(esc50_dir: Path, table: Any) -> np.ndarray:
    from animal_audio.audio import load_audio

    return load_audio(esc50_dir / "audio" / table[table["fold"] == 5].iloc[0]["filename"])


def _time_place(index: Any, query: np.ndarray, runs: int) -> dict:
    """`place` alone: the index in memory, as the app keeps it."""
    from animal_audio.clip_map import place

    for _ in range(5):
        place(index, query)
    return _ms(lambda: place(index, query), runs)


def _time_app_path(run_dir: Path, name: str, query: np.ndarray, runs: int) -> dict:
    """What a request pays in run_maps.py: the kept index found (its file's stamp checked) and placed."""
    from animal_audio.clip_map import place
    from animal_audio.run_maps import RunMaps

    class Known:  # the fingerprint the stored index was built with
        fingerprint = f"bench-{name}"

    maps = RunMaps()
    maps.get(run_dir, name, Known())  # the first request reads the file

    def once() -> None:
        index, _ = maps.get(run_dir, name, Known())
        place(index, query)

    return _ms(once, runs)


def _ms(call: Any, runs: int) -> dict:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return summary(times)


if __name__ == "__main__":
    sys.exit(main())
