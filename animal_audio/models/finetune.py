"""Fine-tune HuBERT on the animal clips with transformers' `Trainer`.

One readable path, like transformers' run_audio_classification example: tables of
prepared clips -> in-memory waveforms -> (augmented) features -> `Trainer` with
early stopping on the validation fold -> the best model saved with
`save_pretrained`, so `transformers.pipeline("audio-classification", model=dir)`
and `HubertClassifier.load(dir)` load it as is.

Files in `out_dir`:
    .work/        Trainer checkpoints of the run in progress; a re-run with the same
                  settings resumes from the newest one. Removed after success.
    checkpoint/   the latest good fine-tuned model. Replaced only once a new one is
                  completely written, so an interrupted run never leaves half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import torch
import transformers
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from animal_audio import settings
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.augment import AugmentConfig
from animal_audio.augment import augment as augment_clip
from animal_audio.errors import CancelledError, DatasetError, ModelUnavailableError
from animal_audio.fileio import write_json
from animal_audio.labels import CLASSES, ID2LABEL, LABEL2ID, NUM_CLASSES
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

STAGE = "finetune"
WORK_DIR = ".work"
CHECKPOINT_DIR = "checkpoint"
#: Where the previous good checkpoint waits while the new one is moved into place.
PREVIOUS_DIR = ".checkpoint.previous"
TEMP_PREFIX = ".checkpoint-new-"
#: Settings of the run in `.work`: resume only a run with exactly these.
RUN_FILE = "run.json"
#: Written into the checkpoint: what was trained on, how, and how well it did.
SUMMARY_FILE = "finetune.json"
TRAINER_STATE = "trainer_state.json"
#: Kept in each Trainer checkpoint: training seconds up to it, so a resumed run reports the total.
ELAPSED_FILE = "elapsed.json"
METRIC_FOR_BEST = "macro_f1"
WARMUP_FRACTION = 0.1
RUN_FORMAT = 1
#: Frozen, so one shared default is safe; `augment=None` trains on the clips as they are.
DEFAULT_AUGMENT = AugmentConfig()


@dataclass(frozen=True)
class FinetuneResult:
    """Where the best model is and how it did on the validation fold.

    `train_seconds` is the wall time of `Trainer.train`, validation passes included;
    for a resumed run, the time before the stop (up to its last checkpoint) is added.
    """

    checkpoint_dir: Path
    best_validation: dict
    history: list[dict]
    train_seconds: float


def finetune(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    base: Optional[str] = None,
    epochs: int = 10,
    seed: int = 42,
    batch_size: int = 8,
    learning_rate: float = 3e-5,
    freeze_feature_encoder: bool = True,
    augment: Optional[AugmentConfig] = DEFAULT_AUGMENT,
    early_stopping_patience: Optional[int] = 3,
    device: Optional[str] = None,
    max_steps: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> FinetuneResult:
    """Fine-tune `base` (hub id or directory) on `train`, pick the best epoch on `validation`.

    Tables are rows of `esc50.load_manifest` (`path` to a prepared clip, `target`
    in `CLASSES` order). Raises `CancelledError` when `cancel()` turns true: the
    Trainer state is saved first, so calling again with the same arguments resumes.
    """
    _configure_threads()
    check_cancel(cancel, "fine-tuning")
    _check_table(train, "training")
    _check_table(validation, "validation")
    device = settings.torch_device(device)
    source = resolve_base(base)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recover_checkpoint(out_dir)

    run = {
        "format": RUN_FORMAT,
        "base": source,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "freeze_feature_encoder": freeze_feature_encoder,
        "augment": augment.as_dict() if augment is not None else None,
        "early_stopping_patience": early_stopping_patience,
        "max_steps": max_steps,
        "train": _table_digest(train),
        "validation": _table_digest(validation),
    }
    work = out_dir / WORK_DIR
    resume = _prepare_work_dir(work, run)

    transformers.set_seed(seed)
    model, extractor = load_base(source, freeze_feature_encoder=freeze_feature_encoder)
    waveforms = _load_waveforms(pd.concat([train, validation])["path"], progress, cancel)
    train_set = ClipDataset(
        [waveforms[p] for p in train["path"]], train["target"], extractor, augment=augment, seed=seed
    )
    validation_set = ClipDataset([waveforms[p] for p in validation["path"]], validation["target"], extractor)

    steps_per_epoch = max(1, math.ceil(len(train_set) / batch_size))
    eval_every = min(steps_per_epoch, max_steps) if max_steps else steps_per_epoch
    on_gpu = device.startswith("cuda")
    args = TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=WARMUP_FRACTION,
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps else -1,
        # "steps" every epoch rather than "epoch": a short max_steps run still gets
        # evaluated and saved (Trainer also evaluates at the very last step).
        eval_strategy="steps",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        # The newest (to resume) and the best (to publish). Not 1: at the end of train() that
        # deletes all but the best, and a stopped run could not resume.
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=METRIC_FOR_BEST,
        greater_is_better=True,
        restore_callback_states_from_checkpoint=True,
        logging_strategy="steps",
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        fp16=on_gpu,
        dataloader_pin_memory=on_gpu,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
    )
    stopper = _CancelCallback(cancel)
    clock = _ClockCallback(_elapsed_before(resume))
    planned_epochs = min(epochs, math.ceil(max_steps / steps_per_epoch)) if max_steps else epochs
    callbacks: list[TrainerCallback] = [
        _ProgressCallback(progress, planned_epochs),
        _EpochCallback(train_set, steps_per_epoch),
        stopper,
        clock,
    ]
    if early_stopping_patience:
        callbacks.insert(0, EarlyStoppingCallback(early_stopping_patience=early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=_Collator(extractor),
        train_dataset=train_set,
        eval_dataset=validation_set,
        processing_class=extractor,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # prints every log dict to stdout; we report progress instead
    if resume:
        report(progress, STAGE, 0.0, f"resuming from {Path(resume).name}")
    trainer.train(resume_from_checkpoint=resume)
    train_seconds = clock.seconds()
    if stopper.cancelled:
        raise CancelledError(
            f"Fine-tuning stopped at step {trainer.state.global_step}. Its state is saved in "
            f"{work}; run again with the same settings to resume."
        )

    history = [_jsonable_log(entry) for entry in trainer.state.log_history]
    best = best_validation(history, trainer.state.best_global_step)
    summary = {
        "base": source,
        "classes": list(CLASSES),
        "best_validation": best,
        "train_seconds": train_seconds,
        "device": device,
        "settings": {k: v for k, v in run.items() if k not in ("train", "validation")},
        "clips": {"train": len(train_set), "validation": len(validation_set)},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    checkpoint = publish_checkpoint(trainer.model, extractor, out_dir, summary)
    shutil.rmtree(work, ignore_errors=True)
    report(
        progress,
        STAGE,
        1.0,
        f"done: validation accuracy {best.get('accuracy', float('nan')):.3f}, "
        f"macro-F1 {best.get('macro_f1', float('nan')):.3f}",
    )
    return FinetuneResult(checkpoint, best, history, train_seconds)


# --------------------------------------------------------------------------- model


def resolve_base(base: Optional[str] = None) -> str:
    """The model to start from: `base`, else ANIMAL_AUDIO_HUBERT, else facebook/hubert-base-ls960.

    ANIMAL_AUDIO_HUBERT usually names the app's fine-tuned classifier; fine-tuning
    that again would start from a model that has already seen the data, so a
    trained animal classifier there is skipped in favour of the pretrained base.
    """
    if base:
        return str(base)
    source = settings.hubert_source(None)
    if source != settings.DEFAULT_HUBERT and _is_animal_classifier(source):
        log.info(
            "%s is already a trained classifier; fine-tuning starts from %s", source, settings.DEFAULT_HUBERT
        )
        return settings.DEFAULT_HUBERT
    return source


def _is_animal_classifier(source: str) -> bool:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError):
        return False
    return _config_labels(config) == list(CLASSES)


def _config_labels(config: Any) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(len(id2label))]


def load_base(source: str, *, freeze_feature_encoder: bool = True) -> tuple[Any, Any]:
    """The model with a 10-class head (new unless `source` already has ours) and its feature extractor."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    try:
        config = AutoConfig.from_pretrained(source)
        extractor = AutoFeatureExtractor.from_pretrained(source)
        model = AutoModelForAudioClassification.from_pretrained(
            source,
            num_labels=NUM_CLASSES,
            id2label=dict(ID2LABEL),
            label2id=dict(LABEL2ID),
            ignore_mismatched_sizes=True,  # a bare base or another task's head: start a new head
        )
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"Cannot load the HuBERT model to fine-tune from '{source}' ({error}). Connect to the "
            "internet so it can be downloaded from the Hugging Face Hub, or pass a local folder "
            f"(--hubert, or the {settings.ENV_HUBERT} variable) holding a save_pretrained copy "
            "with its preprocessor_config.json."
        ) from error
    if getattr(config, "num_labels", 0) == NUM_CLASSES and _config_labels(config) != list(CLASSES):
        _reset_head(model)  # same size, other classes: its weights would mean the wrong animals
    if freeze_feature_encoder:
        # The CNN waveform encoder learned general acoustics from 960 h of audio; a few
        # hundred clips cannot improve it, and without its gradients each step is cheaper.
        model.freeze_feature_encoder()
    return model, extractor


def _reset_head(model: Any) -> None:
    for name in ("projector", "classifier"):
        layer = getattr(model, name, None)
        if layer is not None and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


# --------------------------------------------------------------------------- data


def _check_table(table: pd.DataFrame, role: str) -> None:
    missing = {"path", "target"} - set(table.columns)
    if missing:
        raise DatasetError(
            f"The {role} table lacks columns {sorted(missing)}: use rows of esc50.load_manifest(data_dir)."
        )
    if table.empty:
        raise DatasetError(
            f"No {role} clips: fine-tuning needs training clips and a validation fold for early "
            "stopping. Check the data folder and the fold choice."
        )
    bad = sorted({int(t) for t in table["target"] if not 0 <= int(t) < NUM_CLASSES})
    if bad:
        raise DatasetError(f"The {role} table has targets {bad} outside the 10 animal classes (0-9).")


def _table_digest(table: pd.DataFrame) -> str:
    rows = sorted(f"{p}\t{int(t)}" for p, t in zip(table["path"], table["target"]))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _load_waveforms(
    paths: Sequence[str], progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]
) -> dict[str, np.ndarray]:
    """Decode every clip once: each is read ~10x per run (epochs), decoding costs more than a crop."""
    unique = list(dict.fromkeys(str(p) for p in paths))
    waveforms: dict[str, np.ndarray] = {}
    for i, path in enumerate(unique):
        check_cancel(cancel, "loading the clips for fine-tuning")
        waveforms[path] = load_audio(path)
        if (i + 1) % 50 == 0 or i + 1 == len(unique):
            report(progress, STAGE, 0.0, f"loaded {i + 1}/{len(unique)} clips")
    return waveforms


class ClipDataset(torch.utils.data.Dataset):
    """Clips as model inputs; training clips get a new random augmentation every epoch.

    Clip i in epoch e is augmented with a generator seeded by (seed, e, i): the same
    run gives the same clips whatever the batch order, and a run resumed from a
    checkpoint sees exactly what the uninterrupted run would have seen.
    `_EpochCallback` keeps `epoch` in step with the Trainer.
    """

    def __init__(
        self,
        waveforms: Sequence[np.ndarray],
        targets: Sequence[int],
        extractor: Any,
        *,
        augment: Optional[AugmentConfig] = None,
        seed: int = 0,
    ) -> None:
        self.waveforms = list(waveforms)
        self.targets = [int(t) for t in targets]
        self.extractor = extractor
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, index: int) -> dict[str, Any]:
        waveform = self.waveforms[index]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            waveform = augment_clip(waveform, self.augment, rng)
        features = self.extractor(waveform, sampling_rate=SAMPLE_RATE, return_tensors="np")
        item = {key: np.asarray(value[0]) for key, value in features.items()}
        item["labels"] = self.targets[index]
        return item


class _Collator:
    """Pads a batch with the feature extractor's own rule (clips may differ in length)."""

    def __init__(self, extractor: Any) -> None:
        self.extractor = extractor

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        labels = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        inputs = [{k: v for k, v in f.items() if k != "labels"} for f in features]
        batch = self.extractor.pad(inputs, padding=True, return_tensors="pt")
        batch = dict(batch)
        batch["labels"] = labels
        return batch


# --------------------------------------------------------------------------- metrics

_metric_modules: Optional[tuple[Any, Any]] = None
_metrics_tried = False


def _evaluate_modules() -> Optional[tuple[Any, Any]]:
    """`evaluate`'s accuracy and f1, or None when they cannot be loaded.

    evaluate 0.4.6 ships no metric code: `evaluate.load("accuracy")` fetches the
    metric script from the Hugging Face Hub, and offline (no network, or
    HF_HUB_OFFLINE=1, with nothing cached) it raises FileNotFoundError, as checked
    here. Those scripts are thin wrappers over
    sklearn.metrics.accuracy_score / f1_score, so `animal_audio.metrics` (sklearn)
    gives the same numbers; we try `evaluate` once per process and fall back to it.
    """
    global _metric_modules, _metrics_tried
    if not _metrics_tried:
        _metrics_tried = True
        try:
            import evaluate

            _metric_modules = (evaluate.load("accuracy"), evaluate.load("f1"))
        except Exception as error:  # offline: FileNotFoundError; proxies: ConnectionError, ...
            log.info("evaluate's metric scripts are unavailable (%s); using sklearn.metrics", error)
            _metric_modules = None
    return _metric_modules


def compute_metrics(eval_prediction: Any) -> dict[str, float]:
    """Accuracy and macro-F1 over the 10 classes (the Trainer's `compute_metrics`)."""
    logits, references = eval_prediction.predictions, eval_prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    predictions = np.argmax(logits, axis=-1)
    labels = list(range(NUM_CLASSES))
    modules = _evaluate_modules()
    if modules is not None:
        accuracy, f1 = modules
        return {
            "accuracy": float(accuracy.compute(predictions=predictions, references=references)["accuracy"]),
            METRIC_FOR_BEST: float(
                f1.compute(predictions=predictions, references=references, average="macro", labels=labels)[
                    "f1"
                ]
            ),
        }
    from animal_audio.metrics import classification_metrics  # sklearn.metrics, over all 10 classes

    scores = classification_metrics([CLASSES[i] for i in references], [CLASSES[i] for i in predictions])
    return {"accuracy": scores["accuracy"], METRIC_FOR_BEST: scores["macro_f1"]}


def best_validation(history: list[dict], best_step: Optional[int]) -> dict[str, float]:
    """The validation metrics of the checkpoint kept as best (without the `eval_` prefixes)."""
    evaluations = [entry for entry in history if "eval_loss" in entry]
    if not evaluations:
        return {}
    chosen = next((e for e in evaluations if e.get("step") == best_step), None)
    if chosen is None:  # no best recorded: the highest macro-F1 seen
        chosen = max(evaluations, key=lambda e: e.get(f"eval_{METRIC_FOR_BEST}", float("-inf")))
    result = {
        key.removeprefix("eval_"): value
        for key, value in chosen.items()
        if key in ("eval_loss", "eval_accuracy", f"eval_{METRIC_FOR_BEST}")
    }
    result.update(epoch=chosen.get("epoch"), step=chosen.get("step"))
    return result


def _jsonable_log(entry: dict) -> dict:
    out = {}
    for key, value in entry.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out


# --------------------------------------------------------------------------- callbacks


class _ProgressCallback(TrainerCallback):
    """Trainer events -> our one progress callback type (stage "finetune")."""

    def __init__(self, progress: Optional[ProgressCallback], epochs: int) -> None:
        self.progress = progress
        self.epochs = epochs
        self.loss: Optional[float] = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is None or not state.max_steps:
            return
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        report(
            self.progress,
            STAGE,
            state.global_step / state.max_steps,
            f"epoch {state.epoch or 0:.2f}/{self.epochs}, step {state.global_step}/{state.max_steps}{loss}",
        )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.progress is None or not metrics or not state.max_steps:
            return
        report(
            self.progress,
            STAGE,
            state.global_step / state.max_steps,
            f"validation after step {state.global_step}: accuracy {metrics.get('eval_accuracy', 0):.3f}, "
            f"macro-F1 {metrics.get(f'eval_{METRIC_FOR_BEST}', 0):.3f}",
        )


class _CancelCallback(TrainerCallback):
    """Stops training when the user asks: at the end of the current step, with a checkpoint.

    `finetune` raises `CancelledError` afterwards. Stopping only at step ends (not in
    the middle of a validation pass) means no finished step is ever thrown away: if
    the step closes an epoch its validation still runs, so the resumed run keeps every
    epoch's score for early stopping and choosing the best checkpoint.
    """

    def __init__(self, cancel: Optional[CancelCheck]) -> None:
        self.cancel = cancel
        self.cancelled = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.cancel is not None and not self.cancelled and self.cancel():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True
        return control


class _EpochCallback(TrainerCallback):
    """Tells the training set which epoch starts (from the step count: exact, also after resuming)."""

    def __init__(self, dataset: ClipDataset, steps_per_epoch: int) -> None:
        self.dataset, self.steps_per_epoch = dataset, steps_per_epoch

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.epoch = state.global_step // self.steps_per_epoch


class _ClockCallback(TrainerCallback):
    """Training wall time, carried across stops: each checkpoint records the seconds up to it."""

    def __init__(self, before: float) -> None:
        self.before = before
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if folder.is_dir():
            write_json(folder / ELAPSED_FILE, {"seconds": self.seconds(), "step": state.global_step})


def _elapsed_before(checkpoint: Optional[str]) -> float:
    if checkpoint is None:
        return 0.0
    try:
        return float(json.loads((Path(checkpoint) / ELAPSED_FILE).read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


# --------------------------------------------------------------------------- files


def _prepare_work_dir(work: Path, run: dict) -> Optional[str]:
    """The checkpoint to resume from, if `work` holds a run with the same settings; else a fresh `work`."""
    run_file = work / RUN_FILE
    if work.is_dir():
        try:
            same = json.loads(run_file.read_text(encoding="utf-8")) == run
        except (OSError, ValueError):
            same = False
        if same:
            checkpoint = _last_complete_checkpoint(work)
            if checkpoint is not None:
                log.info("resuming fine-tuning from %s", checkpoint)
                return str(checkpoint)
        else:
            log.info("discarding %s: it belongs to a run with other settings", work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    write_json(run_file, run)
    return None


def _last_complete_checkpoint(work: Path) -> Optional[Path]:
    """Trainer writes trainer_state.json last: a checkpoint without a readable one was cut short."""
    candidates = []
    for path in work.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if path.is_dir() and suffix.isdigit():
            candidates.append((int(suffix), path))
    for _, path in sorted(candidates, reverse=True):
        try:
            json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
            return path
        except (OSError, ValueError):
            log.warning("ignoring incomplete checkpoint %s", path)
            shutil.rmtree(path, ignore_errors=True)
    return None


def publish_checkpoint(model: Any, extractor: Any, out_dir: Path, summary: dict) -> Path:
    """Write the model into a temp folder, then swap it in for `out_dir/checkpoint`."""
    final = out_dir / CHECKPOINT_DIR
    tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=out_dir))
    try:
        model.save_pretrained(tmp)
        extractor.save_pretrained(tmp)
        write_json(tmp / SUMMARY_FILE, summary)
        previous = out_dir / PREVIOUS_DIR
        if final.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(final, previous)
        os.replace(tmp, final)  # a directory cannot replace a non-empty one: hence the two steps
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def recover_checkpoint(out_dir: Path) -> None:
    """Undo what a crash in the middle of `publish_checkpoint` left: restore, clean temp folders."""
    final, previous = out_dir / CHECKPOINT_DIR, out_dir / PREVIOUS_DIR
    if previous.exists():
        if final.exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(previous, final)
    for stale in out_dir.glob(f"{TEMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _configure_threads() -> None:
    """Share the CPU with TensorFlow when runtime.configure_threads exists (YAMNet helper's module)."""
    try:
        from animal_audio import runtime
    except ImportError:
        return
    configure = getattr(runtime, "configure_threads", None)
    if configure is not None:
        configure()
