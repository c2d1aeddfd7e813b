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
- Linear probes train on train + validation folds with the probe's fixed
  regularisation: they have no early stopping or hyper-parameter to choose, so the
  validation fold is better used as training data. Fine-tuning uses the validation
  fold for early stopping / choosing the best epoch.
- YAMNet zero-shot trains on nothing: its AudioSet -> animal map is fixed in labels.py.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from animal_audio import esc50, settings
from animal_audio.availability import hubert_source, unavailable_models
from animal_audio.compare_config import CompareConfig, protocol_splits
from animal_audio.errors import (
    UNEXPECTED_FAILURE,
    AnimalAudioError,
    AudioError,
    CancelledError,
    DatasetError,
    ModelUnavailableError,
    short_error,
)
from animal_audio.evaluation import TIMING_CLIPS, evaluate_classifier, time_per_clip
from animal_audio.fileio import jsonable, read_json, write_json
from animal_audio.formatting import not_run_line
from animal_audio.housekeeping import prune_runs, require_run_space
from animal_audio.labels import CLASSES
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report, restaged
from animal_audio.public_text import log_unexpected
from animal_audio.run_results import metrics_document, predictions_table
from animal_audio.runs import (
    PARTS_DIR,
    Part,
    RunResult,
    default_run_dir,
    is_auto_run,
    load_part,
    model_subdir,
    running,
    save_part,
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
        table = _prepared_table(config, progress, cancel)
        splits = protocol_splits(table, config.protocol)
        report(progress, "split", 1.0, f"{len(splits)} split(s): {', '.join(s.name for s in splits)}")
        ctx = _Context(config, run_dir, table, splits, progress, cancel)
        # A model whose every part this run finished before needs no weights: it is reused, even offline.
        unavailable = {n: why for n, why in unavailable.items() if not ctx.finished(n)}
        if len(unavailable) == len(config.models):
            raise ModelUnavailableError(nothing_to_compare(unavailable))
        start_run(run_dir, config)  # from here on, files go into the run directory
        parts: dict[str, list[Part]] = {}
        for name in config.models:
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
        predictions = predictions_table(splits, parts)
        unavailable = {name: unavailable[name] for name in config.models if name in unavailable}
        metrics = metrics_document(
            config, splits, parts, predictions, time.perf_counter() - started, unavailable
        )
        check_cancel(cancel, "writing the report")
        write_results(run_dir, metrics, predictions)
        if config.update_latest:
            write_latest(config.runs_dir or settings.runs_dir(), run_dir, metrics)
        report(progress, "report", 1.0, f"results in {run_dir}")
        return RunResult(run_dir, metrics, predictions)


def _run_model(ctx: _Context, name: str, parts: dict[str, list[Part]]) -> Optional[str]:
    """Run one model into `parts`; why it could not run, or None. A data problem or a stop ends the whole
    run; any other failure leaves this one model out of the results (a re-run tries it again)."""
    try:
        parts[name] = _RUNNERS[name](ctx, name)
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


@dataclass
class _Context:
    config: CompareConfig
    run_dir: Path
    table: pd.DataFrame
    splits: list[esc50.Split]
    progress: Optional[ProgressCallback]
    cancel: Optional[CancelCheck]

    def model_dir(self, name: str, split: esc50.Split) -> Path:
        return self.run_dir / model_subdir(self.config.protocol, name, split)

    def stage(self, name: str, split: esc50.Split, what: str = "") -> str:
        head = f"{name} {what}".strip()
        return head if len(self.splits) == 1 else f"{head} ({split.name})"

    def load_part(self, name: str, split: esc50.Split) -> Optional[Part]:
        return load_part(self.run_dir, self.config.fingerprint(), name, split)

    def finished(self, name: str) -> bool:
        """Whether every split of `name` has a finished part to reuse."""
        return all(self.load_part(name, split) is not None for split in self.splits)

    def save_part(self, name: str, split: esc50.Split, part: Part) -> Part:
        return save_part(self.run_dir, self.config.fingerprint(), name, split, part)

    def test(self, classifier: Any, name: str, split: esc50.Split) -> tuple[np.ndarray, float]:
        """The classifier's probabilities on the split's test clips and its seconds per clip."""
        return evaluate_classifier(
            classifier,
            list(split.test["path"]),
            progress=self.progress,
            cancel=self.cancel,
            stage=self.stage(name, split, "test"),
        )


def _run_yamnet_zeroshot(ctx: _Context, name: str) -> list[Part]:
    parts: list[Part] = []
    classifier = None
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            if classifier is None:
                from animal_audio.models.yamnet import YamnetZeroShot

                report(ctx.progress, f"{name} load", 0.0, "loading YAMNet")
                classifier = YamnetZeroShot.load(ctx.config.yamnet)
            probs, seconds = ctx.test(classifier, name, split)
            extra = {"trained_on": "nothing", "base": classifier.model.source}
            part = ctx.save_part(name, split, Part(probs, 0.0, seconds, extra))
        parts.append(part)
    return parts


def _run_yamnet_probe(ctx: _Context, name: str) -> list[Part]:
    source = settings.yamnet_source(ctx.config.yamnet)

    def embedder() -> Any:
        from animal_audio.models.yamnet import YamnetModel

        return YamnetModel.load(source)

    return _run_probe(ctx, name, embedder, source)


def _run_hubert_probe(ctx: _Context, name: str) -> list[Part]:
    source = hubert_source(ctx.config)

    def embedder() -> Any:
        from animal_audio.models.hubert import HubertEmbedder

        return HubertEmbedder.load(source, device=ctx.config.device, fast=ctx.config.fast)

    return _run_probe(ctx, name, embedder, source)


def _run_probe(ctx: _Context, name: str, load_embedder: Callable[[], Any], base: str) -> list[Part]:
    """Embed every clip once (cached across runs), then fit one linear head per split.

    `base` names the embedder's weights: the head is useless without them, so the part records it."""
    from animal_audio.embeddings import embed_clips
    from animal_audio.models.probe import LinearProbe, ProbeClassifier

    parts: list[Optional[Part]] = [ctx.load_part(name, split) for split in ctx.splits]
    todo = [i for i, part in enumerate(parts) if part is None]
    if not todo:
        return [p for p in parts if p is not None]
    report(ctx.progress, f"{name} load", 0.0, "loading the embedding model")
    embedder = load_embedder()
    started = time.perf_counter()
    paths = list(ctx.table["path"])
    features = embed_clips(
        embedder, paths, progress=restaged(ctx.progress, f"{name} embeddings"), cancel=ctx.cancel
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
        seconds = time_per_clip(classifier, list(split.test["path"])[:TIMING_CLIPS])
        extra = {
            "trained_on": "train + validation folds",
            "train_clips": len(train),
            "model_dir": model_subdir(ctx.config.protocol, name, split).as_posix(),
            "base": base,
        }
        parts[i] = ctx.save_part(name, split, Part(probs, train_seconds, seconds, extra))
    return [p for p in parts if p is not None]


def _run_hubert_finetune(ctx: _Context, name: str) -> list[Part]:
    """Fine-tune per split (validation fold for early stopping), then test the best checkpoint."""
    from animal_audio.models.hubert import HubertClassifier

    parts: list[Part] = []
    for split in ctx.splits:
        part = ctx.load_part(name, split)
        if part is None:
            checkpoint, train_seconds, extra = _finetuned_checkpoint(ctx, name, split)
            classifier = HubertClassifier.load(
                str(checkpoint), device=ctx.config.device, fast=ctx.config.fast
            )
            probs, seconds = ctx.test(classifier, name, split)
            del classifier  # one per CV fold (~1 GB each in ORT): free it before the next fold
            part = ctx.save_part(name, split, Part(probs, train_seconds, seconds, extra))
        parts.append(part)
    return parts


def _finetuned_checkpoint(ctx: _Context, name: str, split: esc50.Split) -> tuple[Path, float, dict[str, Any]]:
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


_RUNNERS: dict[str, Callable[[_Context, str], list[Part]]] = {
    "hubert-finetune": _run_hubert_finetune,
    "hubert-probe": _run_hubert_probe,
    "yamnet-zeroshot": _run_yamnet_zeroshot,
    "yamnet-probe": _run_yamnet_probe,
}


def _targets(table: pd.DataFrame) -> np.ndarray:
    return np.array([CLASSES.index(label) for label in table["label"]], dtype=np.int64)
