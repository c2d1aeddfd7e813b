"""Expected wall time of a comparison run on this hardware (the app's and CLI's warning).

Which chosen models cannot load here is availability.py's; the time counts only the others."""

from __future__ import annotations

from typing import Optional

from animal_audio import esc50, settings
from animal_audio.availability import unavailable_models
from animal_audio.compare_config import CompareConfig, protocol_splits
from animal_audio.errors import DatasetError
from animal_audio.evaluation import TIMING_CLIPS

# Rough costs on the reference machine (2 CPU cores), in seconds; measured with
# benchmarks/latency.py and a hubert-probe run on the 400 clips (README, "Speed").
SECONDS_HUBERT_EMBED = 0.35  # layer-6 embedding of a 5 s clip, ONNX Runtime fp32, incl. decoding
SECONDS_HUBERT_TRAIN_STEP = 2.6  # per 5 s clip, feature encoder frozen: ~14 min per epoch of 320 clips
SECONDS_YAMNET_CLIP = 0.03  # TFLite ~0.015 s + decoding
SECONDS_MODEL_LOAD = {"hubert": 8.0, "yamnet": 1.0}  # hubert: first ONNX export of a checkpoint
#: A probe's head per split: its candidates (C; HuBERT: x 14 layers) on the train folds, then the refit.
SECONDS_PROBE_FIT = 2.0
SECONDS_LAYER_CHOICE = 15.0
#: How much faster a GPU is than the 2-core CPU for HuBERT (conservative).
GPU_SPEEDUP = 20.0
#: HuBERT inference speed-up of fast mode (bf16 CNN + int8 ONNX), measured 2.3-2.6x.
FAST_SPEEDUP = 2.0
DEFAULT_CLIPS = 400


def estimate_seconds(config: CompareConfig) -> float:
    """Rough wall time of `run_comparison(config)` on this hardware, for the app's warning: the costs
    above, scaled for a GPU; cached HuBERT embeddings not counted (a hubert-probe re-run takes seconds),
    nor models that cannot load here (availability.unavailable_models: the run leaves them out)."""
    paths: list[str] = []
    try:
        table = esc50.load_manifest(config.data_dir)
        clips = len(table)
        paths = [str(p) for p in table["path"]]
        counts = [
            (len(s.train), len(s.validation), len(s.test)) for s in protocol_splits(table, config.protocol)
        ]
    except DatasetError:
        clips = DEFAULT_CLIPS
        per_fold = DEFAULT_CLIPS // len(esc50.FOLDS)
        n_splits = len(esc50.FOLDS) if config.protocol == "cv" else 1
        counts = [(3 * per_fold, per_fold, per_fold)] * n_splits
    unavailable = unavailable_models(config)
    models = [m for m in config.models if m not in unavailable]
    uses_hubert = any(m.startswith("hubert") for m in models)
    speedup = GPU_SPEEDUP if uses_hubert and _has_gpu(config.device) else 1.0
    hubert_clip = SECONDS_HUBERT_EMBED / speedup / (FAST_SPEEDUP if settings.fast_mode(config.fast) else 1.0)
    total = 0.0
    for name in models:
        if name == "yamnet-zeroshot":
            tested = min(
                clips, sum(t + v for _, v, t in counts)
            )  # validation too (its temperature); each clip once
            total += SECONDS_MODEL_LOAD["yamnet"] + tested * SECONDS_YAMNET_CLIP
        elif name == "yamnet-probe":
            total += SECONDS_MODEL_LOAD["yamnet"] + clips * SECONDS_YAMNET_CLIP
            total += len(counts) * (SECONDS_PROBE_FIT + TIMING_CLIPS * SECONDS_YAMNET_CLIP)
        elif name == "hubert-probe":
            to_embed = clips * (1.0 - _cached_hubert_share(config, paths))
            total += SECONDS_MODEL_LOAD["hubert"] + to_embed * hubert_clip
            total += len(counts) * (SECONDS_LAYER_CHOICE + TIMING_CLIPS * hubert_clip)
        elif name == "hubert-finetune":
            for train, validation, test in counts:
                steps_clips = train * config.epochs
                if config.max_steps is not None:
                    steps_clips = min(steps_clips, config.max_steps * 8)
                epochs = max(1, min(config.epochs, -(-steps_clips // max(train, 1))))
                total += SECONDS_MODEL_LOAD["hubert"] + steps_clips * SECONDS_HUBERT_TRAIN_STEP / speedup
                tested = validation * (epochs + 1) + test  # once more for its temperature
                total += tested * SECONDS_HUBERT_EMBED / speedup
    return float(total)


def _cached_hubert_share(config: CompareConfig, paths: list[str]) -> float:
    """Share of the clips whose HuBERT embedding is cached (0 when that cannot be told cheaply)."""
    from animal_audio.embeddings import cached_share
    from animal_audio.models.hubert import HubertEmbedder

    fingerprint = HubertEmbedder.known_fingerprint(config.hubert, fast=config.fast) if paths else None
    return cached_share(HubertEmbedder.name, fingerprint, paths) if fingerprint else 0.0


def _has_gpu(device: Optional[str]) -> bool:
    return settings.torch_device(device) != "cpu"
