"""The comparison pipeline: prepare data -> split by fold -> train -> test every model -> report.

One run writes one run directory. Finished steps are kept (per model and split, in
`parts/`; embeddings in the shared cache; fine-tuned checkpoints in `models/`), so a
run stopped by Ctrl-C, the app's stop button or a crash resumes where it stopped.
The results (`predictions.csv`, figures, `report.md`) are written atomically and
`metrics.json` last: a run directory without `metrics.json` is unfinished, never
half-finished. `runs_dir/latest.json` moves to a run only after it is complete.

Protocol choices (also written into every report):
- Every model is tested on the same clips: the test fold(s) of ESC-50, never a
  random split (folds keep clips of one source recording together).
- Linear probes train on train + validation folds with the probe's fixed
  regularisation: they have no early stopping or hyper-parameter to choose, so the
  validation fold is better used as training data. Fine-tuning uses the validation
  fold for early stopping / choosing the best epoch.
- YAMNet zero-shot trains on nothing: its AudioSet -> animal map is fixed in labels.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd

from animal_audio import esc50, settings
from animal_audio.audio import load_audio
from animal_audio.errors import AnimalAudioError, CheckpointError, DatasetError
from animal_audio.fileio import atomic_path, write_json, write_text
from animal_audio.labels import CLASSES
from animal_audio.metrics import classification_metrics, cross_validation_metrics, labels_from_probs
from animal_audio.progress import CancelCheck, ProgressCallback, ProgressEvent, check_cancel, report

log = logging.getLogger(__name__)

MODEL_NAMES = ("hubert-finetune", "hubert-probe", "yamnet-zeroshot", "yamnet-probe")
PROTOCOLS = ("folds", "cv")
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
REPORT_FILE = "report.md"
RUN_CONFIG_FILE = "run_config.json"
LATEST_FILE = "latest.json"
PARTS_DIR = "parts"
MODELS_DIR = "models"
#: In models/hubert-finetune[/fold]/: which finished checkpoint this run made ("checkpoint_dir",
#: relative to that folder; the app reads it). Not the checkpoint's own finetune.json inside it.
FINETUNE_MARKER = "finetune.json"
#: Clips per predict_batch call while testing: bounds memory, gives progress and cancel points.
EVAL_BATCH = 8
#: Test clips timed one by one for a probe's per-clip inference time (its test
#: probabilities come from cached embeddings, which would say nothing about speed).
TIMING_CLIPS = 5
#: Columns of predictions.csv before the per-model ones.
PREDICTION_COLUMNS = ("filename", "fold", "split", "true_label")

# Rough costs on the reference machine (2 CPU cores), in seconds; measured with
# benchmarks/latency.py and a hubert-probe run on the 400 clips (README, "Speed").
SECONDS_HUBERT_EMBED = 0.35  # layer-6 embedding of a 5 s clip, ONNX Runtime fp32, incl. decoding
SECONDS_HUBERT_TRAIN_STEP = 2.6  # per clip, feature encoder frozen (DESIGN.md): ~14 min per epoch
SECONDS_YAMNET_CLIP = 0.03  # TFLite ~0.015 s + decoding
SECONDS_MODEL_LOAD = {"hubert": 8.0, "yamnet": 1.0}  # hubert: first ONNX export of a checkpoint
SECONDS_PROBE_FIT = 2.0
#: How much faster a GPU is than the 2-core CPU for HuBERT (conservative).
GPU_SPEEDUP = 20.0
#: HuBERT inference speed-up of fast mode (bf16 CNN + int8 ONNX), measured 2.3-2.6x.
FAST_SPEEDUP = 2.0
DEFAULT_CLIPS = 400


@dataclass(frozen=True)
class CompareConfig:
    """What to compare and how; everything a run needs to be repeated.

    `esc50_dir`: an ESC-50 release to prepare into `data_dir` when that holds no
    prepared data yet. `runs_dir`: where `latest.json` lives (default
    `settings.runs_dir()`); `update_latest=False` leaves it alone (benchmarks).
    `max_steps` caps fine-tuning steps (tests, smoke runs).
    """

    data_dir: Path
    out_dir: Optional[Path] = None
    models: tuple[str, ...] = MODEL_NAMES
    protocol: str = "folds"
    hubert: Optional[str] = None
    yamnet: Optional[str] = None
    epochs: int = 10
    device: Optional[str] = None
    seed: int = 42
    fast: Optional[bool] = None
    max_steps: Optional[int] = None
    esc50_dir: Optional[Path] = None
    runs_dir: Optional[Path] = None
    update_latest: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        for name in ("out_dir", "esc50_dir", "runs_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser())
        models = parse_models(self.models)
        object.__setattr__(self, "models", models)
        if self.protocol not in PROTOCOLS:
            raise AnimalAudioError(f"Unknown protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}.")
        if self.epochs < 1:
            raise AnimalAudioError(f"epochs must be at least 1 (got {self.epochs}).")
        if self.max_steps is not None and self.max_steps < 1:
            raise AnimalAudioError(f"max_steps must be at least 1 (got {self.max_steps}).")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["models"] = list(self.models)
        return data

    def fingerprint(self) -> str:
        """Identifies the settings that change results, so finished parts are only reused for them.

        Leaves out where results go, which models (parts are per model) and the device.
        """
        data = self.to_dict()
        for key in ("out_dir", "models", "device", "runs_dir", "update_latest", "esc50_dir"):
            data.pop(key, None)
        data["data_dir"] = str(Path(data["data_dir"]).resolve())
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunResult:
    """A finished run: where it is, its metrics.json and its predictions.csv."""

    run_dir: Path
    metrics: dict[str, Any]
    predictions: pd.DataFrame


@dataclass
class _Part:
    """One model tested on one split: what parts/<model>--<split>.json holds."""

    probs: np.ndarray
    train_seconds: float
    inference_seconds_per_clip: float
    extra: dict[str, Any] = field(default_factory=dict)


def parse_models(models: str | Sequence[str]) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> validated, de-duplicated names in the order given."""
    names = models.split(",") if isinstance(models, str) else list(models)
    names = [n.strip().lower() for n in names if n and n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise AnimalAudioError(
            f"Unknown model name(s): {', '.join(unknown)}. Choose from: {', '.join(MODEL_NAMES)}."
        )
    if not names:
        raise AnimalAudioError(f"No models chosen. Choose from: {', '.join(MODEL_NAMES)}.")
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------- the run


def run_comparison(
    config: CompareConfig,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> RunResult:
    """Prepare (or reuse) data, split by fold, train and test every chosen model, write the run dir."""
    started = time.perf_counter()
    run_dir = Path(config.out_dir) if config.out_dir is not None else default_run_dir(config)
    config = replace(config, out_dir=run_dir)
    table = _prepared_table(config, progress, cancel)
    splits = _splits(table, config.protocol)
    report(progress, "split", 1.0, f"{len(splits)} split(s): {', '.join(s.name for s in splits)}")
    _start_run(run_dir, config)

    parts: dict[str, list[_Part]] = {}
    for name in config.models:
        check_cancel(cancel, f"{name}")
        parts[name] = _RUNNERS[name](_Context(config, run_dir, table, splits, progress, cancel), name)

    report(progress, "report", 0.0, "writing results")
    predictions = _predictions_table(splits, parts)
    metrics = _metrics_document(config, splits, parts, predictions, time.perf_counter() - started)
    check_cancel(cancel, "writing the report")
    _write_results(run_dir, metrics, predictions)
    if config.update_latest:
        _write_latest(config.runs_dir or settings.runs_dir(), run_dir, metrics)
    report(progress, "report", 1.0, f"results in {run_dir}")
    return RunResult(run_dir, metrics, predictions)


def _prepared_table(
    config: CompareConfig, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]
) -> pd.DataFrame:
    manifest = config.data_dir / esc50.MANIFEST
    if not manifest.is_file() and config.esc50_dir is not None:
        esc50.prepare(config.esc50_dir, config.data_dir, progress=progress, cancel=cancel)
    else:
        report(progress, "prepare", 1.0, f"reusing prepared data in {config.data_dir}")
    table = esc50.load_manifest(config.data_dir)
    if table.empty:
        raise DatasetError(f"{manifest} lists no clips. Prepare the data again.")
    return table


def _splits(table: pd.DataFrame, protocol: str) -> list[esc50.Split]:
    splits = list(esc50.cross_validation_splits(table)) if protocol == "cv" else [esc50.fold_split(table)]
    for split in splits:
        if split.test.empty or split.train.empty:
            raise DatasetError(
                f"Split {split.name!r} has no training or no test clips: the prepared data "
                "lacks folds. Prepare all five ESC-50 folds."
            )
    return splits


def _start_run(run_dir: Path, config: CompareConfig) -> None:
    """Create the run dir, or resume it; a finished run is never overwritten."""
    if (run_dir / METRICS_FILE).is_file():
        raise AnimalAudioError(
            f"{run_dir} already holds a finished run. Choose another output folder "
            "(or leave --out away for a new one)."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_json(run_dir / RUN_CONFIG_FILE)
    if previous and previous.get("fingerprint") != config.fingerprint():
        log.info("%s was started with other settings: its finished parts are redone", run_dir)
    write_json(run_dir / RUN_CONFIG_FILE, {"fingerprint": config.fingerprint(), "config": config.to_dict()})


# --------------------------------------------------------------------------- models


@dataclass
class _Context:
    config: CompareConfig
    run_dir: Path
    table: pd.DataFrame
    splits: list[esc50.Split]
    progress: Optional[ProgressCallback]
    cancel: Optional[CancelCheck]

    def split_key(self, split: esc50.Split) -> str:
        return split_key(split)

    def model_dir(self, name: str, split: esc50.Split) -> Path:
        return self.run_dir / model_subdir(self.config.protocol, name, split)

    def stage(self, name: str, split: esc50.Split, what: str) -> str:
        return f"{name} {what}" if len(self.splits) == 1 else f"{name} {what} ({split.name})"

    def load_part(self, name: str, split: esc50.Split) -> Optional[_Part]:
        data = _read_json(self._part_path(name, split))
        if not data or data.get("fingerprint") != self.config.fingerprint():
            return None
        if data.get("filenames") != list(split.test["filename"]):
            return None
        try:
            probs = np.asarray(data["probs"], dtype=np.float64)
            if probs.shape != (len(split.test), len(CLASSES)):
                return None
            log.info("%s on %s: reusing finished results", name, split.name)
            return _Part(
                probs, float(data["train_seconds"]), float(data["inference_seconds_per_clip"]), data["extra"]
            )
        except (KeyError, TypeError, ValueError):
            return None

    def save_part(self, name: str, split: esc50.Split, part: _Part) -> _Part:
        write_json(
            self._part_path(name, split),
            {
                "fingerprint": self.config.fingerprint(),
                "model": name,
                "split": split.name,
                "filenames": list(split.test["filename"]),
                "probs": np.round(part.probs, 8).tolist(),
                "train_seconds": part.train_seconds,
                "inference_seconds_per_clip": part.inference_seconds_per_clip,
                "extra": part.extra,
            },
        )
        return part

    def _part_path(self, name: str, split: esc50.Split) -> Path:
        return self.run_dir / PARTS_DIR / f"{name}--{self.split_key(split)}.json"


def _run_yamnet_zeroshot(ctx: _Context, name: str) -> list[_Part]:
    parts: list[_Part] = []
    classifier = None
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            if classifier is None:
                from animal_audio.models.yamnet import YamnetZeroShot

                report(ctx.progress, f"{name} load", 0.0, "loading YAMNet")
                classifier = YamnetZeroShot.load(ctx.config.yamnet)
            probs, seconds = evaluate_classifier(
                classifier,
                list(split.test["path"]),
                progress=ctx.progress,
                cancel=ctx.cancel,
                stage=ctx.stage(name, split, "test"),
            )
            part = ctx.save_part(name, split, _Part(probs, 0.0, seconds, {"trained_on": "nothing"}))
        parts.append(part)
    return parts


def _run_yamnet_probe(ctx: _Context, name: str) -> list[_Part]:
    def embedder() -> Any:
        from animal_audio.models.yamnet import YamnetModel

        return YamnetModel.load(ctx.config.yamnet)

    return _run_probe(ctx, name, embedder)


def _run_hubert_probe(ctx: _Context, name: str) -> list[_Part]:
    def embedder() -> Any:
        from animal_audio.models.hubert import HubertEmbedder

        return HubertEmbedder.load(
            ctx.config.hubert or settings.DEFAULT_HUBERT, device=ctx.config.device, fast=ctx.config.fast
        )

    return _run_probe(ctx, name, embedder)


def _run_probe(ctx: _Context, name: str, load_embedder: Callable[[], Any]) -> list[_Part]:
    """Embed every clip once (cached across runs), then fit one linear head per split."""
    from animal_audio.embeddings import embed_clips
    from animal_audio.models.probe import LinearProbe, ProbeClassifier

    parts: list[Optional[_Part]] = [ctx.load_part(name, split) for split in ctx.splits]
    todo = [i for i, part in enumerate(parts) if part is None]
    if not todo:
        return [p for p in parts if p is not None]
    report(ctx.progress, f"{name} load", 0.0, "loading the embedding model")
    embedder = load_embedder()
    started = time.perf_counter()
    paths = list(ctx.table["path"])
    features = embed_clips(
        embedder, paths, progress=_restaged(ctx.progress, f"{name} embeddings"), cancel=ctx.cancel
    )
    embed_seconds = time.perf_counter() - started
    row_of = {path: i for i, path in enumerate(paths)}
    for i in todo:
        split = ctx.splits[i]
        check_cancel(ctx.cancel, f"{name} training ({split.name})")
        stage = ctx.stage(name, split, "train")
        report(ctx.progress, stage, 0.0, "fitting the linear head")
        fit_started = time.perf_counter()
        train = split.train_and_validation
        probe = LinearProbe()
        probe.fit(
            features[[row_of[p] for p in train["path"]]],
            _targets(train),
            seed=ctx.config.seed,
            embedder=embedder,
        )
        probe.save(ctx.model_dir(name, split))
        train_seconds = embed_seconds * len(train) / len(paths) + time.perf_counter() - fit_started
        report(ctx.progress, stage, 1.0, f"trained on {len(train)} clips")
        probs = np.asarray(probe.predict_proba(features[[row_of[p] for p in split.test["path"]]]))
        classifier = ProbeClassifier(name, embedder, probe)
        seconds = _time_per_clip(classifier, list(split.test["path"])[:TIMING_CLIPS])
        extra = {
            "trained_on": "train + validation folds",
            "train_clips": len(train),
            "model_dir": model_subdir(ctx.config.protocol, name, split).as_posix(),
        }
        parts[i] = ctx.save_part(name, split, _Part(probs, train_seconds, seconds, extra))
    return [p for p in parts if p is not None]


def _run_hubert_finetune(ctx: _Context, name: str) -> list[_Part]:
    """Fine-tune per split (validation fold for early stopping), then test the best checkpoint."""
    from animal_audio.models.hubert import HubertClassifier

    parts: list[_Part] = []
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            checkpoint, train_seconds, extra = _finetuned_checkpoint(ctx, name, split)
            classifier = HubertClassifier.load(
                str(checkpoint), device=ctx.config.device, fast=ctx.config.fast
            )
            probs, seconds = evaluate_classifier(
                classifier,
                list(split.test["path"]),
                progress=ctx.progress,
                cancel=ctx.cancel,
                stage=ctx.stage(name, split, "test"),
            )
            part = ctx.save_part(name, split, _Part(probs, train_seconds, seconds, extra))
        parts.append(part)
    return parts


def _finetuned_checkpoint(ctx: _Context, name: str, split: esc50.Split) -> tuple[Path, float, dict[str, Any]]:
    """Reuse a checkpoint this run already finished, else fine-tune (which resumes its own checkpoints)."""
    from animal_audio.models.finetune import finetune

    out_dir = ctx.model_dir(name, split)
    marker = _read_json(out_dir / FINETUNE_MARKER)
    if marker and marker.get("fingerprint") == ctx.config.fingerprint():
        checkpoint = out_dir / marker["checkpoint_dir"]
        if (checkpoint / "config.json").is_file():
            log.info("%s on %s: reusing the fine-tuned checkpoint %s", name, split.name, checkpoint)
            return checkpoint, float(marker["train_seconds"]), marker["extra"]
    result = finetune(
        split.train,
        split.validation,
        out_dir,
        base=ctx.config.hubert,
        epochs=ctx.config.epochs,
        seed=ctx.config.seed,
        device=ctx.config.device,
        max_steps=ctx.config.max_steps,
        progress=_restaged(ctx.progress, ctx.stage(name, split, "")),
        cancel=ctx.cancel,
    )
    checkpoint = Path(result.checkpoint_dir)
    extra = {
        "trained_on": "train folds; validation fold for early stopping",
        "train_clips": len(split.train),
        "best_validation": _jsonable(result.best_validation),
        "epochs_trained": max((float(e["epoch"]) for e in result.history if "epoch" in e), default=0.0),
        "model_dir": Path(os.path.relpath(checkpoint, ctx.run_dir)).as_posix(),
    }
    write_json(
        out_dir / FINETUNE_MARKER,
        {
            "fingerprint": ctx.config.fingerprint(),
            "checkpoint_dir": os.path.relpath(checkpoint, out_dir),
            "train_seconds": float(result.train_seconds),
            "extra": extra,
            "history": _jsonable(result.history),
        },
    )
    return checkpoint, float(result.train_seconds), extra


def split_key(split: esc50.Split) -> str:
    return f"test-fold-{'-'.join(str(f) for f in sorted(split.test['fold'].unique()))}"


def model_subdir(protocol: str, name: str, split: esc50.Split) -> Path:
    """models/<name>/ for the default split (what the app loads); one subfolder per CV fold."""
    base = Path(MODELS_DIR) / name
    return base if protocol == "folds" else base / split_key(split)


_RUNNERS: dict[str, Callable[[_Context, str], list[_Part]]] = {
    "hubert-finetune": _run_hubert_finetune,
    "hubert-probe": _run_hubert_probe,
    "yamnet-zeroshot": _run_yamnet_zeroshot,
    "yamnet-probe": _run_yamnet_probe,
}


# --------------------------------------------------------------------------- testing a classifier


def evaluate_classifier(
    classifier: Any,
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
    stage: str = "test",
) -> tuple[np.ndarray, float]:
    """Probabilities [n, 10] of `classifier` on the clips, and its mean seconds per clip.

    The time covers the model only (not reading the files), as a person using the app
    would experience it after the upload.
    """
    probs: list[np.ndarray] = []
    model_seconds = 0.0
    for start in range(0, len(paths), EVAL_BATCH):
        check_cancel(cancel, stage)
        batch = [load_audio(p) for p in paths[start : start + EVAL_BATCH]]
        began = time.perf_counter()
        predictions = classifier.predict_batch(batch)
        model_seconds += time.perf_counter() - began
        probs.extend(np.asarray(p.probs, dtype=np.float64) for p in predictions)
        done = start + len(batch)
        report(progress, stage, done / len(paths), f"{done}/{len(paths)} clips")
    return np.stack(probs) if probs else np.zeros((0, len(CLASSES))), model_seconds / max(len(paths), 1)


def _time_per_clip(classifier: Any, paths: Sequence[str]) -> float:
    """Seconds per clip for single-clip predictions, after one untimed warm-up."""
    waveforms = [load_audio(p) for p in paths]
    if not waveforms:
        return 0.0
    classifier.predict(waveforms[0])
    began = time.perf_counter()
    for waveform in waveforms:
        classifier.predict(waveform)
    return (time.perf_counter() - began) / len(waveforms)


def _targets(table: pd.DataFrame) -> np.ndarray:
    return np.array([CLASSES.index(label) for label in table["label"]], dtype=np.int64)


def _restaged(progress: Optional[ProgressCallback], prefix: str) -> Optional[ProgressCallback]:
    """Forward a sub-task's events with the model (and fold) in front of its stage name."""
    if progress is None:
        return None

    def forward(event: ProgressEvent) -> None:
        head = prefix.strip()
        stage = head if event.stage.lower() in head.lower() else f"{head} {event.stage}".strip()
        progress(ProgressEvent(stage, event.fraction, event.message))

    return forward


# --------------------------------------------------------------------------- results


def _predictions_table(splits: list[esc50.Split], parts: dict[str, list[_Part]]) -> pd.DataFrame:
    """One row per test clip: fold, true label, and each model's label and probabilities."""
    frames = []
    for i, split in enumerate(splits):
        frame = pd.DataFrame(
            {
                "filename": split.test["filename"].to_numpy(),
                "fold": split.test["fold"].to_numpy(),
                "split": split.name,
                "true_label": split.test["label"].to_numpy(),
            }
        )
        for name, model_parts in parts.items():
            probs = model_parts[i].probs
            frame[prediction_column(name)] = labels_from_probs(probs)
            for j, label in enumerate(CLASSES):
                frame[probability_column(name, label)] = np.round(probs[:, j], 6)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def prediction_column(model: str) -> str:
    return f"{model}:label"


def probability_column(model: str, label: str) -> str:
    return f"{model}:p_{label}"


def _metrics_document(
    config: CompareConfig,
    splits: list[esc50.Split],
    parts: dict[str, list[_Part]],
    predictions: pd.DataFrame,
    run_seconds: float,
) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for name, model_parts in parts.items():
        pooled = classification_metrics(predictions["true_label"], predictions[prediction_column(name)])
        if config.protocol == "cv":
            folds = []
            for split in splits:
                rows = predictions["split"] == split.name
                fold_metrics = classification_metrics(
                    predictions.loc[rows, "true_label"], predictions.loc[rows, prediction_column(name)]
                )
                fold_metrics["test_fold"] = int(split.test["fold"].iloc[0])
                folds.append(fold_metrics)
            entry = cross_validation_metrics(folds, pooled)
            for fold, part in zip(entry["folds"], model_parts):
                fold["train_seconds"] = round(part.train_seconds, 3)
        else:
            entry = pooled
        n_test = [len(s.test) for s in splits]
        # Time to train one model (the mean over CV folds); embeddings shared by the folds count in each.
        entry["train_seconds"] = round(float(np.mean([p.train_seconds for p in model_parts])), 3)
        entry["inference_seconds_per_clip"] = round(
            float(np.average([p.inference_seconds_per_clip for p in model_parts], weights=n_test)), 5
        )
        entry["inference_seconds"] = entry["inference_seconds_per_clip"]  # the name contracts.md uses
        entry["trained_on"] = model_parts[0].extra.get("trained_on", "")
        # What the app loads (relative to the run dir); in CV, the model of the last split.
        entry["model_dir"] = model_parts[-1].extra.get("model_dir")
        entry["details"] = [p.extra for p in model_parts]
        models[name] = entry
    return {
        "models": models,
        "config": config.to_dict(),
        "protocol": _protocol_description(config.protocol, splits),
        "seed": config.seed,
        "versions": versions(),
        "machine": machine(config.device, any(m.startswith("hubert") for m in config.models)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_seconds": round(run_seconds, 1),
    }


def _protocol_description(protocol: str, splits: list[esc50.Split]) -> dict[str, Any]:
    def folds(frame: pd.DataFrame) -> list[int]:
        return sorted(int(f) for f in frame["fold"].unique())

    return {
        "name": protocol,
        "description": (
            "5-fold cross-validation over ESC-50's folds: each fold is the test set once; "
            "mean and sample std over folds"
            if protocol == "cv"
            else "fixed ESC-50 fold split: train folds 1-3, validation fold 4, test fold 5"
        ),
        "splits": [
            {
                "name": s.name,
                "train_folds": folds(s.train),
                "validation_folds": folds(s.validation),
                "test_folds": folds(s.test),
                "train_clips": len(s.train),
                "validation_clips": len(s.validation),
                "test_clips": len(s.test),
            }
            for s in splits
        ],
        "probes": "linear probes train on train + validation folds (no early stopping to use it for)",
        "finetune": "fine-tuning trains on the train folds and keeps the best epoch on the validation fold",
        "zeroshot": "YAMNet zero-shot trains on nothing; its AudioSet -> animal map is fixed in labels.py",
    }


def versions() -> dict[str, Optional[str]]:
    """Library versions that change numbers, read without importing the (slow) frameworks."""
    found: dict[str, Optional[str]] = {"python": platform.python_version()}
    for package in (
        "torch",
        "transformers",
        "tensorflow",
        "scikit-learn",
        "numpy",
        "pandas",
        "ai-edge-litert",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine(device: Optional[str] = None, uses_torch: bool = True) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": settings.cpu_threads(),
        "device": settings.torch_device(device) if uses_torch else "cpu",
    }


def _write_results(run_dir: Path, metrics: dict[str, Any], predictions: pd.DataFrame) -> None:
    """Everything atomically, metrics.json last: its presence marks the run finished."""
    from animal_audio.plots.results import write_figures
    from animal_audio.report import render_report

    with atomic_path(run_dir / PREDICTIONS_FILE) as tmp:
        predictions.to_csv(tmp, index=False)
    write_figures(metrics, run_dir)
    write_text(run_dir / REPORT_FILE, render_report(metrics))
    write_json(run_dir / METRICS_FILE, metrics)


def _write_latest(runs_dir: Path, run_dir: Path, metrics: dict[str, Any]) -> None:
    write_json(
        Path(runs_dir) / LATEST_FILE,
        {
            "run_dir": str(Path(run_dir).resolve()),
            "created": metrics["created"],
            "protocol": metrics["protocol"]["name"],
            "models": list(metrics["models"]),
        },
    )


# --------------------------------------------------------------------------- reading runs


def load_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """A finished run's metrics and predictions; an unfinished one says how to finish it."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / METRICS_FILE
    if not metrics_path.is_file():
        hint = (
            "It was stopped before it finished: run the same comparison again to resume it."
            if (run_dir / RUN_CONFIG_FILE).is_file()
            else "Run `python -m train compare` to make one."
        )
        raise CheckpointError(f"No finished run in {run_dir} ({METRICS_FILE} missing). {hint}")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        predictions = pd.read_csv(run_dir / PREDICTIONS_FILE)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"The run in {run_dir} is damaged ({error}). Run the comparison again."
        ) from error
    if not isinstance(metrics, dict) or "models" not in metrics:
        raise CheckpointError(f"{metrics_path} is not a run's metrics file. Run the comparison again.")
    return RunResult(run_dir, metrics, predictions)


def latest_run(runs_dir: str | os.PathLike[str] | None = None) -> Optional[Path]:
    """The newest finished run: the one latest.json names, else the newest finished folder."""
    runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
    pointer = _read_json(runs_dir / LATEST_FILE)
    if pointer and isinstance(pointer.get("run_dir"), str):
        target = Path(pointer["run_dir"])
        if (target / METRICS_FILE).is_file():
            return target
    finished = [p.parent for p in runs_dir.glob(f"*/{METRICS_FILE}")] if runs_dir.is_dir() else []
    return max(finished, key=lambda p: (p / METRICS_FILE).stat().st_mtime, default=None)


def default_run_dir(config: CompareConfig, runs_dir: Optional[Path] = None) -> Path:
    """An unfinished run with the same settings (to resume it), else runs_dir/<timestamp>."""
    runs_dir = Path(runs_dir or config.runs_dir or settings.runs_dir())
    if runs_dir.is_dir():
        unfinished = [
            p.parent
            for p in runs_dir.glob(f"*/{RUN_CONFIG_FILE}")
            if not (p.parent / METRICS_FILE).is_file()
            and (_read_json(p) or {}).get("fingerprint") == config.fingerprint()
        ]
        if unfinished:
            newest = max(unfinished, key=lambda p: (p / RUN_CONFIG_FILE).stat().st_mtime)
            log.info("resuming the unfinished run in %s", newest)
            return newest
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = runs_dir / stamp
    n = 1
    while candidate.exists():
        n += 1
        candidate = runs_dir / f"{stamp}-{n}"
    return candidate


def estimate_seconds(config: CompareConfig) -> float:
    """Rough wall time of `run_comparison(config)` on this hardware, for the app's warning.

    From measured costs on a 2-core CPU (DESIGN.md), scaled for a GPU. Assumes no
    cached embeddings (an upper bound for the probes: a cached re-run takes seconds).
    """
    try:
        table = esc50.load_manifest(config.data_dir)
        clips = len(table)
        counts = [(len(s.train), len(s.validation), len(s.test)) for s in _splits(table, config.protocol)]
    except DatasetError:
        clips = DEFAULT_CLIPS
        per_fold = DEFAULT_CLIPS // len(esc50.FOLDS)
        n_splits = len(esc50.FOLDS) if config.protocol == "cv" else 1
        counts = [(3 * per_fold, per_fold, per_fold)] * n_splits
    uses_hubert = any(m.startswith("hubert") for m in config.models)
    speedup = GPU_SPEEDUP if uses_hubert and _has_gpu(config.device) else 1.0
    hubert_clip = SECONDS_HUBERT_EMBED / speedup / (FAST_SPEEDUP if settings.fast_mode(config.fast) else 1.0)
    total = 0.0
    for name in config.models:
        if name == "yamnet-zeroshot":
            total += SECONDS_MODEL_LOAD["yamnet"] + sum(t for _, _, t in counts) * SECONDS_YAMNET_CLIP
        elif name == "yamnet-probe":
            total += SECONDS_MODEL_LOAD["yamnet"] + clips * SECONDS_YAMNET_CLIP
            total += len(counts) * (SECONDS_PROBE_FIT + TIMING_CLIPS * SECONDS_YAMNET_CLIP)
        elif name == "hubert-probe":
            total += SECONDS_MODEL_LOAD["hubert"] + clips * hubert_clip
            total += len(counts) * (SECONDS_PROBE_FIT + TIMING_CLIPS * hubert_clip)
        elif name == "hubert-finetune":
            for train, validation, test in counts:
                steps_clips = train * config.epochs
                if config.max_steps is not None:
                    steps_clips = min(steps_clips, config.max_steps * 8)
                epochs = max(1, min(config.epochs, -(-steps_clips // max(train, 1))))
                total += SECONDS_MODEL_LOAD["hubert"] + steps_clips * SECONDS_HUBERT_TRAIN_STEP / speedup
                total += (validation * epochs + test) * SECONDS_HUBERT_EMBED / speedup
    return float(total)


def _has_gpu(device: Optional[str]) -> bool:
    return settings.torch_device(device) != "cpu"


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so numpy scalars and Paths in training logs become plain values."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
