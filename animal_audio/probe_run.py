"""The comparison's linear probes (yamnet-probe, hubert-probe): embed every clip once, choose the head on
the validation fold, refit it on train + validation folds, test it on the test fold.

The choice (C, and the pooling when several are offered) is made in head_choice.py from the train and
validation folds only; the test fold's labels are read by nothing here but the scoring afterwards.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import numpy as np

from animal_audio import settings
from animal_audio.availability import hubert_source
from animal_audio.evaluation import TIMING_CLIPS, time_per_clip
from animal_audio.head_choice import choose_head
from animal_audio.pooling import POOLINGS, pooled
from animal_audio.progress import check_cancel, report, restaged
from animal_audio.run_context import RunContext, rows_of, targets
from animal_audio.runs import Part, model_subdir

log = logging.getLogger(__name__)

TRAINED_ON = (
    "train + validation folds ({what} chosen on the validation fold, candidates fitted on the train folds)"
)


def run_yamnet_probe(ctx: RunContext, name: str) -> list[Part]:
    source = settings.yamnet_source(ctx.config.yamnet)

    def embedder() -> Any:
        from animal_audio.models.yamnet import YamnetModel

        return YamnetModel.load(source)

    return run_probe(ctx, name, embedder, source)


def run_hubert_probe(ctx: RunContext, name: str) -> list[Part]:
    """All hidden layers from one pass (each cached as its own embedder's), the layer chosen on validation."""
    source = hubert_source(ctx.config)

    def embedder() -> Any:
        from animal_audio.models.hubert_layers import HubertLayers

        return HubertLayers.load(source, device=ctx.config.device, fast=ctx.config.fast)

    return run_probe(ctx, name, embedder, source)


def run_probe(ctx: RunContext, name: str, load_embedder: Callable[[], Any], base: str) -> list[Part]:
    """Embed every clip once (cached across runs), then per split: candidates fitted on the train folds,
    the best on the validation fold refitted on train + validation folds (more data, same choice).

    `base` names the embedder's weights: the head is useless without them, so the part records it."""
    from animal_audio.embeddings import part_statistics

    parts: list[Optional[Part]] = [ctx.load_part(name, split) for split in ctx.splits]
    todo = [i for i, part in enumerate(parts) if part is None]
    if not todo:
        return [p for p in parts if p is not None]
    report(ctx.progress, f"{name} load", 0.0, "loading the embedding model")
    embedder = load_embedder()
    started = time.perf_counter()
    paths = list(ctx.table["path"])
    needed = tuple(dict.fromkeys(s for p in ctx.config.probe_poolings for s in POOLINGS[p]))
    stats = part_statistics(
        embedder, paths, needed, progress=restaged(ctx.progress, f"{name} embeddings"), cancel=ctx.cancel
    )
    views = _views(embedder)  # {feature label: the embedder of that part}: HuBERT's layers, or the one
    features, view_of = {}, {}
    for (label, view), part_stats in zip(views.items(), stats):
        for pooling in ctx.config.probe_poolings:
            key = f"{label} {pooling}" if len(ctx.config.probe_poolings) > 1 and label else label or pooling
            features[key], view_of[key] = (pooling, pooled(part_stats, pooling)), view
    embed_seconds = time.perf_counter() - started
    for i in todo:
        split = ctx.splits[i]
        check_cancel(ctx.cancel, f"{name} training ({split.name})")
        stage = ctx.stage(name, split, "train")
        report(ctx.progress, stage, 0.0, "choosing the head on the validation fold")
        fit_started = time.perf_counter()
        probe, choice = fit_chosen_head(ctx, split, paths, features, view_of)
        train = split.train_and_validation
        probe.save(ctx.model_dir(name, split))
        train_seconds = embed_seconds * len(train) / len(paths) + time.perf_counter() - fit_started
        report(
            ctx.progress,
            stage,
            1.0,
            f"C={choice['C']:g} ({choice['features']}), trained on {len(train)} clips",
        )
        X = features[choice["features"]][1]
        probs = np.asarray(probe.predict_proba(X[rows_of(paths, split.test)]))
        seconds = _seconds_per_clip(name, view_of[choice["features"]], probe, split)
        extra = {
            "trained_on": TRAINED_ON.format(
                what="C, pooling and layer" if len(views) > 1 else "C and pooling"
            ),
            "train_clips": len(train),
            "head": choice,
            **_layers(choice, view_of),
            "model_dir": model_subdir(ctx.config.protocol, name, split).as_posix(),
            "base": base,
        }
        validation = np.asarray(choice.pop("validation_probs"))
        parts[i] = ctx.save_part(name, split, Part(probs, train_seconds, seconds, extra, validation))
    return [p for p in parts if p is not None]


def fit_chosen_head(
    ctx: RunContext,
    split: Any,
    paths: list[str],
    features: dict[str, tuple[str, np.ndarray]],
    view_of: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """(probe refitted on train + validation folds, the choice's record with its validation probabilities).

    Reads the labels of the train and validation folds only."""
    from animal_audio.models.probe import LinearProbe

    classes = ctx.labels.names
    choice = choose_head(
        features,
        (np.asarray(rows_of(paths, split.train)), targets(split.train, classes)),
        (np.asarray(rows_of(paths, split.validation)), targets(split.validation, classes)),
        seed=ctx.config.seed,
        labels=ctx.labels,
    )
    pooling, X = features[choice.features]
    train = split.train_and_validation
    embedder = view_of[choice.features]  # the chosen layer's embedder: the head records its fingerprint
    probe = LinearProbe(pooling, ctx.labels).fit(
        X[rows_of(paths, train)], targets(train, classes), seed=ctx.config.seed, embedder=embedder, C=choice.C
    )
    record = choice.record()
    probe.info["choice"] = record
    return probe, {**record, "validation_probs": choice.validation_probs}


def _views(embedder: Any) -> dict[str, Any]:
    """{label: embedder} per part of one pass: "layer k" / "layer mean" for HubertLayers, else {"": it}."""
    parts = getattr(embedder, "parts", None)
    if parts is None:
        return {"": embedder}
    return {f"layer {part}": embedder.view(part) for part in parts}


def _layers(choice: dict[str, Any], view_of: dict[str, Any]) -> dict[str, Any]:
    """For a layer choice: the chosen layer and each layer's best validation accuracy (the report's chart)."""
    layer_of = {key: getattr(view, "layer", None) for key, view in view_of.items()}
    if len(set(layer_of.values())) < 2:
        return {}
    best: dict[str, float] = {}
    for row in choice["candidates"]:
        layer = str(layer_of[row["features"]])
        best[layer] = max(best.get(layer, 0.0), float(row["accuracy"]))
    return {"layer": layer_of[choice["features"]], "layers": best}


def _seconds_per_clip(name: str, embedder: Any, probe: Any, split: Any) -> float:
    from animal_audio.models.probe import ProbeClassifier

    return time_per_clip(ProbeClassifier(name, embedder, probe), list(split.test["path"])[:TIMING_CLIPS])
