"""Scoring a finished run under the robustness lab's transforms: robustness.json, a chart, the report; each
model loaded as the app would, on the fold its saved models were tested on, at each transform's run levels."""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio import esc50, settings
from animal_audio.audio import load_audio
from animal_audio.errors import CheckpointError, DatasetError
from animal_audio.evaluation import EVAL_BATCH
from animal_audio.fileio import read_json, write_json, write_text
from animal_audio.labels import LabelSet
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report
from animal_audio.robustness import DEFAULT_SEED, TRANSFORMS, transform
from animal_audio.runs import METRICS_FILE, REPORT_FILE, is_auto_run, load_run, trained_model

log = logging.getLogger(__name__)

ROBUSTNESS_FILE = "robustness.json"
FIGURE_FILE = "robustness.html"
STAGE = "robustness"


def score_run(
    run_dir: str | os.PathLike[str],
    *,
    data_dir: Optional[str | os.PathLike[str]] = None,
    yamnet: Optional[str] = None,
    hubert: Optional[str] = None,
    seed: int = DEFAULT_SEED,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> dict[str, Any]:
    """Accuracy of every model of the run on its test fold under each transform at its run levels, written to
    robustness.json, robustness.html and the report; `yamnet` / `hubert`: weights moved since the run."""
    # robustness.json: {"rows": [{"model", "transform", "level", "accuracy"}, ...], ...}
    run = load_run(run_dir)  # CheckpointError for a folder that is not a finished run
    run_dir = run.run_dir
    paths, truth, fold = _test_clips(run.metrics, data_dir)
    report(progress, STAGE, 0.0, f"loading {len(run.metrics['models'])} model(s)")
    outputs: dict[bytes, Any] = {}  # YAMNet's answers for the clips at hand: one pass for all its models
    models = load_run_models(run_dir, yamnet=yamnet, hubert=hubert, remember=outputs)
    clips = [load_audio(p) for p in paths]
    jobs = [(name, level) for name, spec in TRANSFORMS.items() for level in spec.run_levels]
    baseline = {name: _accuracy(model, clips, truth) for name, model in models.items()}
    rows = []
    for done, (name, level) in enumerate(jobs):
        check_cancel(cancel, f"the robustness test ({name} {level:g})")
        outputs.clear()  # bounded memory: only this job's clips
        changed = [transform(clip, name, level, seed=seed + i) for i, clip in enumerate(clips)]
        for model_name, model in models.items():
            accuracy = _accuracy(model, changed, truth)
            rows.append({"model": model_name, "transform": name, "level": level, "accuracy": accuracy})
        report(progress, STAGE, (done + 1) / len(jobs), f"{name} at {level:g} {TRANSFORMS[name].unit}")
    document = {
        "rows": rows,
        "baseline": baseline,
        "test_fold": fold,
        "clips": len(clips),
        "seed": seed,
        "transforms": {n: {"title": t.title, "unit": t.unit} for n, t in TRANSFORMS.items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_outputs(run_dir, run.metrics, document)
    return document


def write_outputs(run_dir: Path, metrics: dict[str, Any], document: dict[str, Any]) -> None:
    """robustness.json, its chart and report.md with its section, each written atomically."""
    from animal_audio.plots.results import plotly_include
    from animal_audio.plots.robustness import robustness_figure
    from animal_audio.report import render_report

    write_json(run_dir / ROBUSTNESS_FILE, document)
    include = plotly_include(run_dir, run_dir.parent if is_auto_run(run_dir) else None)
    html = robustness_figure(document).to_html(include_plotlyjs=include, full_html=True)
    write_text(run_dir / FIGURE_FILE, html)
    write_text(run_dir / REPORT_FILE, render_report(metrics, robustness=document))


def read_robustness(run_dir: str | os.PathLike[str]) -> Optional[dict[str, Any]]:
    """A run's robustness.json, or None when it has not been scored (or the file is not one)."""
    document = read_json(Path(run_dir) / ROBUSTNESS_FILE)
    return document if document and isinstance(document.get("rows"), list) else None


def load_run_models(
    run_dir: str | os.PathLike[str],
    *,
    yamnet: Optional[str] = None,
    hubert: Optional[str] = None,
    remember: Optional[dict[bytes, Any]] = None,
) -> dict[str, Any]:
    """Every model of a finished run, as the app loads them: yamnet-zeroshot and yamnet-probe share one
    YAMNet; a probe's head goes on the weights it was trained from. CheckpointError names a missing one.
    `remember`: where that YAMNet keeps its answers by clip content, so each clip runs once (caller clears it)."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / METRICS_FILE) or {}
    models: dict[str, Any] = {}
    network = None
    labels = LabelSet.from_dict(metrics.get("labels"))  # the run's classes: its models answer over them

    def yamnet_network(base: Optional[str]) -> Any:
        nonlocal network
        if network is None:
            from animal_audio.models.yamnet import YamnetModel

            network = YamnetModel.load(settings.yamnet_source(yamnet or base))
            if remember is not None:
                network = _remembering(network, remember)
        return network

    for name, entry in (metrics.get("models") or {}).items():
        if name == "yamnet-zeroshot":
            from animal_audio.models.yamnet import YamnetZeroShot

            models[name] = YamnetZeroShot(yamnet_network(entry.get("base")), labels)
            continue
        trained = trained_model(run_dir, name)
        if trained is None:
            raise CheckpointError(
                f"{run_dir} lists {name} but its trained files are gone (models/{name}). Run the comparison again."
            )
        if name == "ensemble":  # its members come before it in metrics.json (the run makes it last)
            from animal_audio.ensemble import EnsembleClassifier, EnsembleWeights

            models[name] = EnsembleClassifier(models, EnsembleWeights.load(trained.directory))
            continue
        if name == "hubert-finetune":
            from animal_audio.models.hubert import HubertClassifier

            models[name] = HubertClassifier.load(str(trained.directory), labels=labels)
            continue
        from animal_audio.models.probe import ProbeClassifier, head_layer

        if name == "yamnet-probe":
            embedder = yamnet_network(trained.base)
        else:
            from animal_audio.models.hubert import HubertEmbedder

            base = hubert or trained.base or settings.DEFAULT_HUBERT
            embedder = HubertEmbedder.load(base, layer=head_layer(trained.directory))
        models[name] = ProbeClassifier.from_dir(name, embedder, trained.directory)
    return models


def _test_clips(
    metrics: dict[str, Any], data_dir: Optional[str | os.PathLike[str]]
) -> tuple[list[str], list[str], int]:
    """Paths and labels of the test fold the run's saved models were tested on."""
    splits = (metrics.get("protocol") or {}).get("splits") or [{}]
    # The last split: in cross-validation, the fold the run's saved models were tested on.
    folds = splits[-1].get("test_folds") or list(esc50.DEFAULT_TEST_FOLDS)
    source = data_dir or (metrics.get("config") or {}).get("data_dir")
    try:
        table = esc50.load_manifest(settings.data_dir(source))
    except DatasetError as error:
        raise DatasetError(
            f"The run's test clips are not readable: {error} (give the prepared data with --data)."
        ) from error
    test = table[table["fold"].isin(folds)]
    if test.empty:
        raise DatasetError(
            f"The prepared data has no clips of test fold {folds[0]}: give the run's data with --data."
        )
    return list(test["path"]), list(test["label"]), int(folds[0])


def _accuracy(model: Any, waveforms: list[np.ndarray], truth: list[str]) -> float:
    """Share of clips whose top class is the true one, predicted in batches (bounded memory)."""
    labels: list[str] = []
    for start in range(0, len(waveforms), EVAL_BATCH):
        labels += [p.label for p in model.predict_batch(waveforms[start : start + EVAL_BATCH])]
    correct = sum(a == b for a, b in zip(labels, truth))
    return round(correct / max(len(truth), 1), 6)


def _remembering(network: Any, outputs: dict[bytes, Any]) -> Any:
    """The same YAMNet, answering a clip it has in `outputs` (keyed by the samples' digest) without running."""
    from animal_audio.models.yamnet import YamnetModel

    def run(waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = hashlib.blake2b(waveform.tobytes(), digest_size=16).digest()
        if key not in outputs:
            answer = network.run(waveform)
            outputs[key] = (answer.scores, answer.embeddings, answer.spectrogram)
        return outputs[key]

    return YamnetModel(
        run,
        network.class_names,
        source=network.source,
        backend=network.backend,
        fingerprint=network.fingerprint,
    )
