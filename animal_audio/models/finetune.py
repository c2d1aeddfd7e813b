"""Fine-tune HuBERT on the animal clips, the way transformers' run_audio_classification example does.

table -> dataset -> TrainingArguments -> Trainer (best epoch by validation macro-F1)
-> save_pretrained. Files in `out_dir`:
    .work/       Trainer checkpoints of the run in progress; a re-run with the same
                 settings resumes from the newest one. Removed after success.
    checkpoint/  the best model, loadable by transformers.pipeline("audio-classification").
                 Replaced only once a new one is completely written.
Under `torchrun` or `accelerate launch` every process trains (DDP); only the main one writes them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import torch
import transformers
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import get_last_checkpoint

from animal_audio import runtime, settings
from animal_audio.audio import SAMPLE_RATE, load_audio
from animal_audio.augment import AugmentConfig
from animal_audio.augment import augment as augment_clip
from animal_audio.errors import CancelledError, DatasetError
from animal_audio.fileio import atomic_dir, jsonable, read_json, recover_dir, write_json
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.metrics import classification_metrics
from animal_audio.models import distributed
from animal_audio.models.finetune_base import load_base, resolve_base
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

STAGE = "finetune"
WORK_DIR = ".work"
CHECKPOINT_DIR = "checkpoint"
#: The settings of the run in `.work`: only a run with exactly these is resumed.
RUN_FILE = "run.json"
METRIC_FOR_BEST = "macro_f1"
WARMUP_FRACTION = 0.1
#: Frozen, so one shared default is safe; `augment=None` trains on the clips as they are.
DEFAULT_AUGMENT = AugmentConfig()


@dataclass(frozen=True)
class FinetuneResult:
    """The best model and its validation scores; `train_seconds` includes the time before a resume."""

    checkpoint_dir: Path
    best_validation: dict
    history: list[dict]
    train_seconds: float
    #: The weights fine-tuning started from (hub id or directory).
    base: str


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
    precision: Optional[str] = None,
    gradient_accumulation: int = 1,
    labels: LabelSet = ANIMALS,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> FinetuneResult:
    """Fine-tune `base` (hub id or directory) on `train`; keep the best epoch on `validation`.

    Tables are rows of `esc50.load_manifest`. When `cancel()` turns true before the last step,
    the Trainer state is saved and `CancelledError` raised: the same call again resumes.
    `precision` ("no", "bf16", "fp16"; None: accelerate's, else "no") is refused on a CPU.
    """
    runtime.configure_threads()
    check_cancel(cancel, "fine-tuning")
    _check_table(train, "training")
    _check_table(validation, "validation")
    device = settings.torch_device(device)
    source = resolve_base(base)
    out_dir = Path(out_dir)
    work = out_dir / WORK_DIR
    args = TrainingArguments(  # under a launcher, this joins its processes (DDP)
        output_dir=str(work),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation,
        learning_rate=learning_rate,
        warmup_steps=WARMUP_FRACTION,
        num_train_epochs=epochs,
        max_steps=max_steps or -1,
        eval_strategy="steps",  # and save_strategy: the steps of an epoch, set below
        # The newest (to resume) and the best (to publish); 1 would keep only the best at the end.
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=METRIC_FOR_BEST,
        restore_callback_states_from_checkpoint=True,  # early stopping's patience, the clock
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        **distributed.precision_args(precision, device),  # refused on a CPU
        dataloader_pin_memory=device.startswith("cuda"),
        disable_tqdm=True,
    )
    distributed.evaluate_each_epoch(args, len(train), max_steps)
    main = args.should_save  # the other processes train and validate, and write nothing
    progress = progress if main else None
    # One process seeing a stop the others do not would leave them waiting: Ctrl-C stops every process.
    cancel = cancel if args.world_size == 1 else None
    run = {
        "base": source,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "freeze_feature_encoder": freeze_feature_encoder,
        "augment": augment.as_dict() if augment is not None else None,
        "early_stopping_patience": early_stopping_patience,
        "max_steps": max_steps,
        "precision": args.mixed_precision,  # as Trainer will use it
        "gradient_accumulation": gradient_accumulation,
        "processes": args.world_size,  # another count would split the epochs otherwise
        "train": _table_digest(train),
        "validation": _table_digest(validation),
        "labels": list(labels.names),
    }
    if main:
        recover_dir(out_dir / CHECKPOINT_DIR)
    resume = distributed.from_main(_resume_point(work, run) if main else None)

    transformers.set_seed(seed)
    model, extractor = load_base(source, labels, freeze_feature_encoder=freeze_feature_encoder)
    train_set = ClipDataset(
        _load_waveforms(train, progress, cancel), train["target"], extractor, augment=augment, seed=seed
    )
    validation_set = ClipDataset(
        _load_waveforms(validation, progress, cancel), validation["target"], extractor
    )
    reporter = _TrainerProgress(progress, cancel)
    callbacks: list[TrainerCallback] = [reporter, TrainingClock()]
    if early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=validation_set,
        processing_class=extractor,  # its padding collates the batches
        compute_metrics=functools.partial(compute_metrics, classes=labels.names),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # prints every log dict; progress reports instead
    if resume:
        report(progress, STAGE, 0.0, f"resuming from {Path(resume).name}")
    trainer.train(resume_from_checkpoint=resume)
    # Not the clock passed in: on resume, Trainer replaced it with one restored from the checkpoint.
    clock = next(c for c in trainer.callback_handler.callbacks if isinstance(c, TrainingClock))
    train_seconds = clock.seconds()
    if reporter.cancelled and trainer.state.global_step < trainer.state.max_steps:  # else it finished
        raise CancelledError(
            f"Fine-tuning stopped at step {trainer.state.global_step}. Its state is saved in "
            f"{work}; run again with the same settings to resume."
        )

    checkpoint = out_dir / CHECKPOINT_DIR
    distributed.wait_for_everyone()  # every process has loaded the best model from `work`
    if main:
        with atomic_dir(checkpoint) as tmp:  # trainer.model is the best one (load_best_model_at_end)
            trainer.model.save_pretrained(tmp)
            extractor.save_pretrained(tmp)
        shutil.rmtree(work, ignore_errors=True)
    history = jsonable(trainer.state.log_history)
    best = best_validation(history, trainer.state.best_global_step)
    scores = (
        f"accuracy {best.get('accuracy', math.nan):.3f}, macro-F1 {best.get(METRIC_FOR_BEST, math.nan):.3f}"
    )
    report(progress, STAGE, 1.0, f"done: validation {scores}")
    return FinetuneResult(checkpoint, best, history, train_seconds, source)


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


def _table_digest(table: pd.DataFrame) -> str:
    rows = sorted(f"{p}\t{int(t)}" for p, t in zip(table["path"], table["target"]))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _load_waveforms(
    table: pd.DataFrame, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]
) -> list[np.ndarray]:
    """Decode every clip once, up front: each is used once per epoch, and decoding costs more than a crop."""
    check_cancel(cancel, "loading the clips for fine-tuning")
    report(progress, STAGE, 0.0, f"loading {len(table)} clips")
    return [load_audio(path) for path in table["path"]]


@dataclass
class ClipDataset(torch.utils.data.Dataset):
    """Clips as model inputs; training clips get a new random augmentation every epoch.

    Clip i in epoch e is augmented with a generator seeded by (seed, e, i), so a resumed
    run sees exactly the clips the uninterrupted one would. Trainer calls `set_epoch`.
    """

    waveforms: Sequence[np.ndarray]
    targets: Sequence[int]
    extractor: Any
    augment: Optional[AugmentConfig] = None
    seed: int = 0
    epoch: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.targets = [int(t) for t in self.targets]  # a Series would index by its labels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, index: int) -> dict[str, Any]:
        waveform = self.waveforms[index]
        if self.augment is not None:
            waveform = augment_clip(
                waveform, self.augment, np.random.default_rng([self.seed, self.epoch, index])
            )
        features = self.extractor(waveform, sampling_rate=SAMPLE_RATE, return_tensors="np")
        return {**{key: value[0] for key, value in features.items()}, "labels": self.targets[index]}


def compute_metrics(
    eval_prediction: transformers.EvalPrediction, classes: tuple[str, ...] = ANIMALS.names
) -> dict[str, float]:
    """Accuracy and macro-F1 over all classes, from `animal_audio.metrics` like every other score."""
    predictions = np.argmax(eval_prediction.predictions, axis=-1)
    scores = classification_metrics(
        [classes[i] for i in eval_prediction.label_ids], [classes[i] for i in predictions], classes
    )
    return {"accuracy": scores["accuracy"], METRIC_FOR_BEST: scores["macro_f1"]}


def best_validation(history: list[dict], best_step: Optional[int]) -> dict[str, float]:
    """The validation scores of the checkpoint kept as best, without the `eval_` prefixes."""
    chosen = next((e for e in history if "eval_loss" in e and e["step"] == best_step), None)
    if chosen is None:
        return {}
    keys = ("eval_loss", "eval_accuracy", f"eval_{METRIC_FOR_BEST}", "epoch", "step")
    return {key.removeprefix("eval_"): chosen[key] for key in keys}


class _TrainerProgress(TrainerCallback):
    """Trainer events -> our progress events; a cancel request stops after the step, with a checkpoint.

    Not inside a validation pass: a step that closes an epoch still gets its score,
    so the resumed run keeps every epoch for early stopping and the best checkpoint.
    """

    def __init__(self, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]) -> None:
        self.progress, self.cancel = progress, cancel
        self.loss: Optional[float] = None
        self.cancelled = False

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.loss = float(logs["loss"]) if logs and "loss" in logs else self.loss

    def on_step_end(self, args, state, control, **kwargs):
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        epoch = f"epoch {state.epoch or 0:.2f}/{state.num_train_epochs}"
        self._report(state, f"{epoch}, step {state.global_step}/{state.max_steps}{loss}")
        if self.cancel is not None and self.cancel():
            self.cancelled = control.should_training_stop = control.should_save = True

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        accuracy, f1 = metrics.get("eval_accuracy", 0), metrics.get(f"eval_{METRIC_FOR_BEST}", 0)
        self._report(
            state, f"validation after step {state.global_step}: accuracy {accuracy:.3f}, macro-F1 {f1:.3f}"
        )

    def _report(self, state, message: str) -> None:
        report(self.progress, STAGE, state.global_step / state.max_steps, message)


class TrainingClock(TrainerCallback, ExportableState):
    """Training seconds, carried across a stop in the checkpoint's trainer_state.json."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.before = seconds
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def state(self) -> dict:
        return {"args": {"seconds": self.seconds()}, "attributes": {}}


def _resume_point(work: Path, run: dict) -> Optional[str]:
    """The newest complete checkpoint of a stopped run with these settings; anything else is discarded."""
    if work.is_dir() and read_json(work / RUN_FILE) == run:
        while (checkpoint := get_last_checkpoint(work)) is not None:
            # Trainer writes it last into a checkpoint: a checkpoint without it was cut short.
            if read_json(Path(checkpoint) / TRAINER_STATE_NAME) is not None:
                log.info("resuming fine-tuning from %s", checkpoint)
                return checkpoint
            log.warning("ignoring the incomplete checkpoint %s", checkpoint)
            shutil.rmtree(checkpoint)
    elif work.exists():
        log.info("discarding %s: it belongs to a run with other settings", work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_json(work / RUN_FILE, run)
    return None
