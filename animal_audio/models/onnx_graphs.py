"""ONNX graphs of torch modules, exported once (optionally int8) under `settings.cache_dir()/onnx/` and run in
ONNX Runtime: exporting HuBERT-Base takes seconds. ONNX files hold no code: nothing here unpickles."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from animal_audio import settings
from animal_audio.fileio import atomic_dir, sweep_temp_dirs

log = logging.getLogger(__name__)

#: Opset understood by every onnxruntime >= 1.16.
OPSET = 17
#: Only these ops are quantised: ConvInteger was measured slower than fp32 Conv on x86.
INT8_OPS = ("MatMul", "Gemm")
#: Layers left in fp32 (name substrings). HuBERT's feature projection reads CNN features with
#: outlier channels (~400x the mean) that per-tensor int8 crushes: embedding cosine fell to 0.17.
#: The head (projector, classifier) is tiny next to the encoder; quantised, it moved every frame's
#: probabilities (~1e-4), which the timeline then shows.
INT8_EXCLUDE = ("feature_projection", "projector", "classifier")
#: Bump when what int8 quantises changes, so cached int8 graphs are rebuilt.
INT8_LAYOUT = "matmul, fp32 feature projection and head, v5"
#: Each fp32 graph is as large as its checkpoint: keep only the most recently used ones.
MAX_CACHED_GRAPHS = 4
GRAPH_FILE = "model.onnx"
META_FILE = "meta.json"
INPUT_NAME = "input_values"
OUTPUT_NAME = "output"
#: Example input for the export (batch and time axes stay dynamic): 1 s of 16 kHz audio.
EXAMPLE_SHAPE = (1, 16_000)

_lock = threading.Lock()


def onnxruntime_available() -> bool:
    """True when onnxruntime and onnx are installed (the ORT backend needs both)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def graph_key(key_parts: dict, *, fast: bool, **extra: Any) -> str:
    """Stable id of a graph: what was exported, from which weights, how, by which library versions."""
    from importlib.metadata import version  # not importing torch: a cached graph needs none

    parts = {**key_parts, **extra, "int8_layout": INT8_LAYOUT if fast else None, "opset": OPSET}
    parts.update({name: version(name) for name in ("torch", "transformers", "onnxruntime")})
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class OnnxRunner:
    """One ORT session: float32 [batch, ...] in, one float32 array out. Thread-safe."""

    def __init__(self, path: Path, *, int8: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.cpu_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle ORT threads otherwise spin, taking the CPU from torch/TF (YAMNet runs right after).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.name = "onnxruntime-int8" if int8 else "onnxruntime-fp32"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(input_values, dtype=np.float32)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]


def cached_runner(
    module: Any, *, key: str, int8: bool, example_shape: tuple[int, ...] = EXAMPLE_SHAPE
) -> OnnxRunner:
    """The ORT runner for `module`, exported on first use; `key` must change whenever its outputs would.
    Export or quantisation failures propagate: callers fall back to torch."""
    runner = find_graph(key, int8=int8)
    if runner is not None:
        return runner
    folder = _graph_folder(key, int8=int8)
    with _lock:
        if not (folder / META_FILE).is_file():
            _build(module, folder, int8=int8, example_shape=example_shape)
        os.utime(folder / META_FILE)  # most recently used: survives pruning
        _prune(folder.parent, keep=folder)
    return OnnxRunner(folder / GRAPH_FILE, int8=int8)


def find_graph(key: str, *, int8: bool) -> OnnxRunner | None:
    """The runner of the graph exported earlier under `key`, or None; a graph ORT cannot open is removed."""
    folder = _graph_folder(key, int8=int8)
    with _lock:
        if not (folder / META_FILE).is_file():
            return None
        os.utime(folder / META_FILE)  # most recently used: survives pruning
        try:
            return OnnxRunner(folder / GRAPH_FILE, int8=int8)
        except Exception as error:  # any ORT load failure means "not usable": export it again
            log.warning("cached graph %s cannot be opened (%s); exporting it again", folder.name, error)
            shutil.rmtree(folder, ignore_errors=True)
            return None


def _graph_folder(key: str, *, int8: bool) -> Path:
    return settings.cache_dir() / "onnx" / f"{key}-{'int8' if int8 else 'fp32'}"


def _build(module: Any, folder: Path, *, int8: bool, example_shape: tuple[int, ...]) -> None:
    """Export (and quantise) into a temp folder published atomically: never half a graph."""
    started = time.perf_counter()
    try:
        with atomic_dir(folder) as tmp:
            fp32 = tmp / ("fp32.onnx" if int8 else GRAPH_FILE)
            export(module, fp32, example_shape=example_shape)
            if int8:
                quantize_int8(fp32, tmp / GRAPH_FILE)
                fp32.unlink()
            meta = {"int8": int8, "int8_ops": list(INT8_OPS) if int8 else [], "opset": OPSET}
            (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    except OSError:
        if not (folder / META_FILE).is_file():
            raise  # not "another process published the same graph meanwhile"
    log.info("exported %s (int8=%s) in %.1f s", folder.name, int8, time.perf_counter() - started)


def export(module: Any, path: Path, *, example_shape: tuple[int, ...] = EXAMPLE_SHAPE) -> None:
    """Trace `module` to ONNX with dynamic batch and time axes, in (last) and out ([batch, frames, d]),
    with the TorchScript exporter."""
    import torch

    module.eval()  # the exporter restores the *wrapper's* mode afterwards, so it must be eval too
    example = torch.zeros(*example_shape, dtype=torch.float32)
    time_axis = len(example_shape) - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "batch", time_axis: "time"},
                OUTPUT_NAME: {0: "batch", 1: "frames"},
            },
            do_constant_folding=True,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 weights for MatMul/Gemm; activations quantised per call (no calibration data)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    excluded = [n.name for n in graph.node if any(part in n.name for part in INT8_EXCLUDE)]
    root = logging.getLogger()
    root.addFilter(_not_from_root)  # the quantiser logs a line per tensor on the root logger
    try:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=list(INT8_OPS),
            nodes_to_exclude=excluded,
            weight_type=QuantType.QInt8,
        )
    finally:
        root.removeFilter(_not_from_root)


def _not_from_root(record: logging.LogRecord) -> bool:
    """Keeps our named loggers' records, drops the root logger's own (`logging.info(...)`) below ERROR."""
    return record.name != "root" or record.levelno >= logging.ERROR


def _prune(root: Path, *, keep: Path) -> None:
    """Keep the most recently used graphs; drop what exports killed mid-way left (~360 MB each)."""
    sweep_temp_dirs(root)
    graphs = sorted(
        (p for p in root.iterdir() if not p.name.startswith(".") and (p / META_FILE).is_file()),
        key=lambda p: (p / META_FILE).stat().st_mtime,
        reverse=True,
    )
    for old in graphs[MAX_CACHED_GRAPHS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
