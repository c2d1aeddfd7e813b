"""The comparison pipeline: prepare data -> split by fold -> train -> test every model -> report.

One run writes one run directory (its files: runs.py). Finished steps are kept (per
model and split, in `parts/`; embeddings in the shared cache; fine-tuned checkpoints
in `models/`), so a run stopped by Ctrl-C, the app's stop button or a crash resumes
where it stopped. This module is the orchestration and the per-model runners; the
configuration is in compare_config.py, the report's numbers in run_results.py and the
time estimate in estimate.py.

Protocol choices (also written into every report):
- Every model is tested on the same clips: the test fold(s) of ESC-50, never a
  random split (folds keep clips of one source recording together).
- Linear probes choose their regularisation (and pooling) on the validation fold, with
  candidates fitted on the train folds, then refit the chosen head on train + validation
  folds (probe_run.py). Fine-tuning uses the validation fold for early stopping.
- Every model also predicts the validation fold: the ensemble's weights (ensemble.py) and each
  model's temperature (calibration.py, run_results.py) are fitted there.
- YAMNet zero-shot trains on nothing: its AudioSet -> animal map is fixed in labels.py.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from animal_audio import esc50, settings
from animal_audio.availability import hubert_source, unavailable_models
from animal_audio.compare_config import CompareConfig, protocol_splits
from animal_audio.datasets import read_labels, require_every_class
from animal_audio.ensemble_run import run_ensemble
from animal_audio.errors import (
    UNEXPECTED_FAILURE,
    AnimalAudioError,
    AudioError,
    CancelledError,
    DatasetError,
    ModelUnavailableError,
    short_error,
)
from animal_audio.evaluation import evaluate_classifier
from animal_audio.fileio import jsonable, read_json, write_json
from animal_audio.formatting import not_run_line
from animal_audio.housekeeping import prune_runs, require_run_space
from animal_audio.labels import LabelSet, zero_shot_problem
from animal_audio.probe_run import run_hubert_probe, run_yamnet_probe
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report, restaged
from animal_audio.public_text import log_unexpected
from animal_audio.run_context import ENSEMBLE, RunContext
from animal_audio.run_results import metrics_document, predictions_table
from animal_audio.runs import (
    PARTS_DIR,
    Part,
    RunResult,
    default_run_dir,
    is_auto_run,
    running,
    start_run,
    write_latest,
    write_results,
)

log = logging.getLogger(__name__)

#: In models/hubert-finetune[/fold]/: the checkpoint this run finished and its settings' fingerprint,
#: so a stopped run resumes without training again (the checkpoint folder records no settings).
FINETUNE_MARKER = "finished-finetune.json"


def run_comparison(
    config: CompareConfig,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> RunResult:
    """Prepare (or reuse) data, split by fold, train and test every chosen model, write the run dir.

    A model that cannot load or fails is left out and recorded in metrics.json's "unavailable";
    ModelUnavailableError when none can run (nothing to compare, no results written). DiskSpaceError
    before any work when it would not fit; a run named here (no out_dir) ends by pruning the runs folder."""
    run_dir = Path(config.out_dir) if config.out_dir is not None else default_run_dir(config)
    created = config.out_dir is None and not run_dir.exists()  # named here: housekeeping may delete it later
    config = replace(config, out_dir=run_dir)
    require_run_space(config)
    log.info("run directory: %s", run_dir)
    try:
        return _compare(config, run_dir, created, progress, cancel)
    finally:  # finished, stopped or failed: the runs folder keeps what it should (housekeeping.py)
        if is_auto_run(run_dir):
            prune_runs(run_dir.parent)


def _compare(
    config: CompareConfig,
    run_dir: Path,
    created: bool,
    progress: Optional[ProgressCallback],
    cancel: Optional[CancelCheck],
) -> RunResult:
    started = time.perf_counter()
    unavailable = unavailable_models(config)
    if len(unavailable) == len(config.models) and not (run_dir / PARTS_DIR).is_dir():
        raise ModelUnavailableError(nothing_to_compare(unavailable))
    # Held from the data step on: a cleanup meanwhile must not remove the stopped run this one resumes.
    with running(run_dir, created=created):
        table, labels = _prepared_table(config, progress, cancel)
        splits = protocol_splits(table, config.protocol)
        report(progress, "split", 1.0, f"{len(splits)} split(s): {', '.join(s.name for s in splits)}")
        ctx = RunContext(config, run_dir, table, splits, progress, cancel, labels)
        # A model whose every part this run finished before needs no weights: it is reused, even offline.
        unavailable = {n: why for n, why in unavailable.items() if not ctx.finished(n)}
        if len(unavailable) == len(config.models):
            raise ModelUnavailableError(nothing_to_compare(unavailable))
        start_run(run_dir, config)  # from here on, files go into the run directory
        parts: dict[str, list[Part]] = {}
        # The ensemble combines the others: it runs last, whatever order they were named in.
        for name in sorted(config.models, key=lambda n: n == ENSEMBLE):
            check_cancel(cancel, f"{name}")
            known = unavailable.get(name)
            problem = known or _run_model(ctx, name, parts)
            if problem is not None:
                # Known before the run: the caller's estimate said so already.
                log.log(logging.INFO if known else logging.WARNING, "%s not run: %s", name, problem)
                report(progress, name, 1.0, f"not run: {problem}")
                unavailable[name] = problem
        if not parts:
            raise ModelUnavailableError(nothing_to_compare(unavailable))

        report(progress, "report", 0.0, "writing results")
        predictions = predictions_table(splits, parts, labels)
        unavailable = {name: unavailable[name] for name in config.models if name in unavailable}
        metrics = metrics_document(
            config, splits, parts, predictions, time.perf_counter() - started, unavailable, labels
        )
        check_cancel(cancel, "writing the report")
        write_results(run_dir, metrics, predictions)
        if config.update_latest:
            write_latest(config.runs_dir or settings.runs_dir(), run_dir, metrics)
        report(progress, "report", 1.0, f"results in {run_dir}")
        return RunResult(run_dir, metrics, predictions)


def _run_model(ctx: RunContext, name: str, parts: dict[str, list[Part]]) -> Optional[str]:
    """Run one model into `parts`; why it could not run, or None. A data problem or a stop ends the whole
    run; any other failure leaves this one model out of the results (a re-run tries it again)."""
    try:
        parts[name] = run_ensemble(ctx, name, parts) if name == ENSEMBLE else _RUNNERS[name](ctx, name)
    except (CancelledError, DatasetError, AudioError):
        raise
    except AnimalAudioError as error:  # cannot load (offline, missing weights) or a damaged file
        return str(error)
    except Exception as error:  # a bug or a framework failure: the trace goes to the log, not the results
        error_id = log_unexpected(error, f"{name} failed", log)
        return UNEXPECTED_FAILURE.format(
            kind=type(error).__name__, cause=short_error(error), error_id=error_id
        )
    return None


def nothing_to_compare(unavailable: dict[str, str]) -> str:
    reasons = "\n".join(f"- {not_run_line(name, reason)}" for name, reason in unavailable.items())
    return f"None of the chosen models can run here, so there is nothing to compare:\n{reasons}"


def _prepared_table(
    config: CompareConfig, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]
) -> tuple[pd.DataFrame, LabelSet]:
    """The prepared clips and their label set (every class must have clips)."""
    manifest = config.data_dir / esc50.MANIFEST
    if not manifest.is_file() and config.esc50_dir is not None:
        esc50.prepare(config.esc50_dir, config.data_dir, progress=progress, cancel=cancel)
    else:
        report(progress, "prepare", 1.0, f"reusing prepared data in {config.data_dir}")
    table = esc50.load_manifest(config.data_dir)
    if table.empty:
        raise DatasetError(f"{manifest} lists no clips. Prepare the data again.")
    labels = read_labels(config.data_dir)
    require_every_class(table, labels, config.data_dir)
    return table, labels


def _run_yamnet_zeroshot(ctx: RunContext, name: str) -> list[Part]:
    """Nothing to train. Each clip is scored once per run (in CV it is one split's test clip and another's
    validation clip), and each split's part is kept as soon as it is done."""
    problem = zero_shot_problem(ctx.labels)
    if problem is not None:  # recorded in metrics.json's "unavailable", listed in the report
        raise ModelUnavailableError(problem)
    parts: list[Part] = []
    classifier = None
    scored: dict[str, np.ndarray] = {}
    seconds = 0.0
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            if classifier is None:
                from animal_audio.models.yamnet import YamnetZeroShot

                report(ctx.progress, f"{name} load", 0.0, "loading YAMNet")
                classifier = YamnetZeroShot.load(ctx.config.yamnet, ctx.labels)
            rows = (split.test, split.validation)
            new = list(dict.fromkeys(p for frame in rows for p in frame["path"] if p not in scored))
            if new:  # seconds per clip: of the clips this split scored (all of them on the first split)
                probs, seconds = evaluate_classifier(
                    classifier, new, progress=ctx.progress, cancel=ctx.cancel, stage=ctx.stage(name, split)
                )
                scored.update(zip(new, probs))
            test, validation = (
                np.array([scored[p] for p in frame["path"]], dtype=np.float64).reshape(
                    len(frame), len(ctx.labels)
                )
                for frame in rows
            )
            extra = {"trained_on": "nothing", "base": classifier.model.source}
            part = ctx.save_part(name, split, Part(test, 0.0, seconds, extra, validation))
        parts.append(part)
    return parts


def _run_hubert_finetune(ctx: RunContext, name: str) -> list[Part]:
    """Fine-tune per split (validation fold for early stopping), then test the best checkpoint."""
    from animal_audio.models.hubert import HubertClassifier

    parts: list[Part] = []
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            checkpoint, train_seconds, extra = _finetuned_checkpoint(ctx, name, split)
            classifier = HubertClassifier.load(
                str(checkpoint), device=ctx.config.device, fast=ctx.config.fast, labels=ctx.labels
            )
            probs, seconds = ctx.test(classifier, name, split)
            validation = ctx.validate(classifier, name, split)  # the epoch was chosen there: optimistic
            del classifier  # one per CV fold (~1 GB each in ORT): free it before the next fold
            part = ctx.save_part(name, split, Part(probs, train_seconds, seconds, extra, validation))
        parts.append(part)
    return parts


def _finetuned_checkpoint(
    ctx: RunContext, name: str, split: esc50.Split
) -> tuple[Path, float, dict[str, Any]]:
    """Reuse a checkpoint this run already finished, else fine-tune (which resumes its own checkpoints)."""
    from animal_audio.models.finetune import finetune

    out_dir = ctx.model_dir(name, split)
    finished = _finished_finetune(out_dir, ctx.config.fingerprint())
    if finished is not None:
        log.info("%s on %s: reusing the fine-tuned checkpoint %s", name, split.name, finished[0])
        return finished
    result = finetune(
        split.train,
        split.validation,
        out_dir,
        base=hubert_source(ctx.config),
        epochs=ctx.config.epochs,
        seed=ctx.config.seed,
        device=ctx.config.device,
        max_steps=ctx.config.max_steps,
        labels=ctx.labels,
        progress=restaged(ctx.progress, ctx.stage(name, split)),
        cancel=ctx.cancel,
    )
    checkpoint = Path(result.checkpoint_dir)
    extra = {
        "trained_on": "train folds; validation fold for early stopping",
        "train_clips": len(split.train),
        "best_validation": jsonable(result.best_validation),
        "epochs_trained": max((float(e["epoch"]) for e in result.history if "epoch" in e), default=0.0),
        "model_dir": Path(os.path.relpath(checkpoint, ctx.run_dir)).as_posix(),
        "base": result.base,
    }
    write_json(
        out_dir / FINETUNE_MARKER,
        {
            "fingerprint": ctx.config.fingerprint(),
            "checkpoint_dir": os.path.relpath(checkpoint, out_dir),
            "train_seconds": float(result.train_seconds),
            "extra": extra,
            "history": jsonable(result.history),
        },
    )
    return checkpoint, float(result.train_seconds), extra


def _finished_finetune(out_dir: Path, fingerprint: str) -> Optional[tuple[Path, float, dict[str, Any]]]:
    """The checkpoint, train seconds and part extra of FINETUNE_MARKER, or None: a marker from other
    settings, a damaged one, or one whose checkpoint is gone means fine-tuning again."""
    marker = read_json(out_dir / FINETUNE_MARKER) or {}
    if marker.get("fingerprint") != fingerprint:
        return None
    try:
        checkpoint = out_dir / marker["checkpoint_dir"]
        train_seconds = float(marker["train_seconds"])
        extra = dict(marker["extra"])
    except (KeyError, TypeError, ValueError):
        return None
    return (checkpoint, train_seconds, extra) if (checkpoint / "config.json").is_file() else None


_RUNNERS: dict[str, Callable[[RunContext, str], list[Part]]] = {
    "hubert-finetune": _run_hubert_finetune,
    "hubert-probe": run_hubert_probe,
    "yamnet-zeroshot": _run_yamnet_zeroshot,
    "yamnet-probe": run_yamnet_probe,
}
