"""Thread limits for torch and TensorFlow, so the two share the CPU instead of fighting over it.

Both size their pools to every core by default: with HuBERT and YAMNet in one process, that is
twice as many busy threads as cores. Every model loader calls `configure_threads()` first.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading

from animal_audio import settings

log = logging.getLogger(__name__)

#: Both models are chains of ops; one inter-op thread per framework avoids oversubscription.
INTEROP_THREADS = 1

# Read by TensorFlow when its runtime starts: covers a TF imported after this call.
_TF_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")

_lock = threading.Lock()
_done: set[str] = set()


def configure_threads() -> None:
    """Cap intra-op threads at `settings.cpu_threads()` for torch and TF; idempotent, any thread.

    Never imports a framework (TF takes seconds): one not imported yet gets the environment
    variables it reads at start-up, and is configured by the next call after its import."""
    threads = settings.cpu_threads()
    with _lock:
        if "torch" not in _done and _importable("torch"):
            if "torch" in sys.modules:
                _configure_torch(threads)
                _done.add("torch")
            else:
                os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        if "tensorflow" not in _done and _importable("tensorflow"):
            os.environ.setdefault(_TF_ENV[0], str(threads))
            os.environ.setdefault(_TF_ENV[1], str(INTEROP_THREADS))
            if "tensorflow" in sys.modules:
                _configure_tensorflow(threads)
                _done.add("tensorflow")


def _importable(module: str) -> bool:
    try:
        return module in sys.modules or importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _configure_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        # Can be set once per process, and only before any parallel work: whoever came first wins.
        torch.set_num_interop_threads(INTEROP_THREADS)
    except RuntimeError:
        log.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())
    log.debug("torch threads: %d intra-op", threads)


def _configure_tensorflow(threads: int) -> None:
    import tensorflow as tf

    try:
        # Only allowed before TF's runtime initialises (its first op); after that they are fixed.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(INTEROP_THREADS)
    except RuntimeError:
        log.debug(
            "TensorFlow already initialised with %d intra-op threads; left as is",
            tf.config.threading.get_intra_op_parallelism_threads(),
        )
        return
    log.debug("TensorFlow threads: %d intra-op, %d inter-op", threads, INTEROP_THREADS)
