"""Fine-tuning on several processes: `torchrun` or `accelerate launch` start them, `Trainer` runs DDP.

TrainingArguments reads the launcher's environment (RANK, WORLD_SIZE, ...) through accelerate's
PartialState, so nothing here starts a process group; it only answers what our code must know:
how many processes share an epoch, which one writes files, and what --precision asks of Trainer.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, TypeVar

from animal_audio.errors import DeviceError

#: --precision: "no" trains in float32; bf16 and fp16 are torch autocast on a CUDA GPU.
PRECISIONS = ("no", "bf16", "fp16")
DEFAULT_PRECISION = "no"
#: Where `accelerate launch --mixed_precision` (or `accelerate config`) puts its choice; Trainer reads it.
ACCELERATE_PRECISION = "ACCELERATE_MIXED_PRECISION"

T = TypeVar("T")


def precision_args(precision: Optional[str], device: str) -> dict[str, bool]:
    """TrainingArguments' fp16/bf16 flags for `precision`, else the launcher's choice, else float32.

    Refused off a GPU rather than silently training otherwise than asked (CPU autocast is slow)."""
    launcher = os.environ.get(ACCELERATE_PRECISION, DEFAULT_PRECISION)
    if precision and launcher not in (DEFAULT_PRECISION, precision):
        raise DeviceError(
            f"--precision {precision} and accelerate's mixed precision {launcher} disagree: give one of them."
        )
    precision = precision or launcher
    if precision not in PRECISIONS:
        raise DeviceError(f"Unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}.")
    if precision != DEFAULT_PRECISION and device.startswith("cpu"):
        raise DeviceError(
            f"--precision {precision} is mixed precision for GPUs, and this run is on the CPU "
            "(no CUDA device was found, or --device cpu was given). Leave --precision out to train "
            "in float32 on the CPU, or run on a machine whose GPU torch can see."
        )
    return {"fp16": precision == "fp16", "bf16": precision == "bf16"}


def evaluate_each_epoch(args: Any, clips: int, max_steps: Optional[int]) -> None:
    """Validate and save by steps, once per epoch of `clips` (`args`: TrainingArguments, whose step
    takes a batch on every process, `gradient_accumulation_steps` times); a max_steps run shorter
    than an epoch is still scored (Trainer also evaluates at the last step)."""
    batches = math.ceil(clips / (args.per_device_train_batch_size * args.world_size))
    steps = max(math.ceil(batches / args.gradient_accumulation_steps), 1)
    args.eval_steps = args.save_steps = min(steps, max_steps) if max_steps else steps


def from_main(value: T) -> T:
    """The main process's `value` on every process, so that all of them resume from the same checkpoint."""
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def wait_for_everyone() -> None:
    """A barrier: e.g. no process may still read `.work` while the main one removes it."""
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def is_main_process() -> bool:
    """Whether this process writes files and prints: rank 0 of a launch, or the only process.

    Call it after TrainingArguments exists (it set up the launch's state); before, it would
    set up one of its own."""
    from accelerate import PartialState

    return PartialState().is_main_process


def process_count() -> int:
    """How many processes train together (1 without a launcher); after TrainingArguments, as above."""
    from accelerate import PartialState

    return PartialState().num_processes
