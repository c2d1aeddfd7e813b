"""Fast CPU inference for torch audio models: ONNX Runtime graphs, int8 and bf16, cached on disk.

What was measured (2-core AMD EPYC, full-size HuBERT-Base, 5 s clip; benchmarks/README.md):

- exact path: ORT fp32 runs the same graph 1.2-1.3x faster than torch eager, same numbers
  (logits within ~2e-4). Conv1d-as-MatMul and Conv1d-as-Conv2d (NCHWc) rewrites: no gain;
  channels-last strided MatMuls and a polyphase Winograd F(2,2) encoder conv: slower
  (their extra memory passes cost more than the multiplies saved). OpenVINO fp32 on the
  same graph: same speed as ORT. Flushing denormals: no change. torch.compile (inductor,
  freezing): same as torch eager, after 35 s of compiling. Attention fused by hand into
  ORT's contrib Attention op, GroupNorm's affine folded into InstanceNormalization: same.
  Also no gain within noise (+-3%, interleaved runs): onnxruntime.transformers' BERT
  fusions (SkipLayerNorm, BiasGelu, Gelu apply; its Attention fusion does not match
  HuBERT's graph, sdpa or eager export), a fixed [1, 80000] input shape, spinning ORT
  threads, and normalising in numpy instead of the HF feature extractor (0.15 ms of
  ~430 ms). The graph is compute-bound: ~70 GFLOP per 5 s clip at ~165 GFLOP/s on 2 cores.
- fast path: ORT dynamic int8 MatMuls make the transformer ~3.5x faster. The CNN encoder
  cannot go int8: ORT's ConvInteger is slower than fp32 Conv, torch has no dynamic int8
  conv, and rewriting the convs as int8 MatMuls wrecked the features (embedding cosine
  ~0.1: per-tensor int8 zeroes its sparse GELU activations). On CPUs with bf16
  instructions the encoder runs in torch bf16 instead (2x faster, cosine >= 0.999) and
  the rest of the model in the int8 graph (`SplitRunner`). HuBERT's feature projection
  stays fp32 (see INT8_EXCLUDE).

Exporting HuBERT-Base takes ~5-10 s, so each graph is written once to
`settings.cache_dir()/onnx/<key>/` (atomic: temp folder, then rename) and reused; only
the `MAX_CACHED_GRAPHS` most recently used graphs are kept, because each fp32 graph
is as large as the checkpoint. ONNX files hold no code: nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from animal_audio import settings

log = logging.getLogger(__name__)

#: Opset understood by every onnxruntime >= 1.16.
OPSET = 17
#: Only these ops are quantised: ConvInteger was measured slower than fp32 Conv on x86.
INT8_OPS = ("MatMul", "Gemm")
#: Layers left in fp32 (name substrings). HuBERT's feature projection reads the CNN
#: features, whose few outlier channels (max ~400x the mean) per-tensor int8 activations
#: crush: quantising it dropped embedding cosine to 0.17 on real clips, leaving it out
#: keeps >= 0.9998, for <1% of the MatMul work.
INT8_EXCLUDE = ("feature_projection",)
#: Bump when what int8 quantises changes, so cached int8 graphs are rebuilt.
INT8_LAYOUT = "matmul, fp32 feature projection, v4"
#: /proc/cpuinfo flags of native bf16 support (x86).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
MAX_CACHED_GRAPHS = 4
GRAPH_FILE = "model.onnx"
META_FILE = "meta.json"
INPUT_NAME = "input_values"
OUTPUT_NAME = "output"

_lock = threading.Lock()


def onnxruntime_available() -> bool:
    """True when onnxruntime and onnx are installed (the ORT backend needs both)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def graph_key(**parts: Any) -> str:
    """Stable id of a graph: what was exported, from which weights, by which library versions."""
    from importlib.metadata import version  # not importing torch: a cached graph needs none

    parts = dict(parts, torch=version("torch"), transformers=version("transformers"))
    parts["onnxruntime"] = version("onnxruntime")
    parts["opset"] = OPSET
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class OnnxRunner:
    """One ORT session: float32 [batch, samples] in, one float32 array out. Thread-safe."""

    def __init__(self, path: Path, *, int8: bool, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or settings.cpu_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle ORT threads otherwise spin, taking the CPU from torch/TF (YAMNet runs right after).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.int8 = int8
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @property
    def name(self) -> str:
        return "onnxruntime-int8" if self.int8 else "onnxruntime-fp32"

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(input_values, dtype=np.float32)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]


def cached_runner(
    module: Any,
    *,
    key: str,
    int8: bool,
    example_shape: tuple[int, ...] = (1, 16_000),
    cache_root: Path | None = None,
) -> OnnxRunner:
    """The ORT runner for `module` (one float32 tensor in, batch and last axis dynamic, one out).

    `key` must change whenever the module's outputs would (see `graph_key`). Export or
    quantisation failures propagate; callers fall back to torch.
    """
    runner = exported_runner(key, int8=int8, cache_root=cache_root)
    if runner is not None:
        return runner
    folder = _graph_folder(key, int8=int8, cache_root=cache_root)
    with _lock:
        if not (folder / META_FILE).is_file():
            _build(module, folder, int8=int8, example_shape=example_shape)
        os.utime(folder / META_FILE)  # most recently used: survives pruning
        _prune(folder.parent, keep=folder)
    return OnnxRunner(folder / GRAPH_FILE, int8=int8)


def exported_runner(key: str, *, int8: bool, cache_root: Path | None = None) -> OnnxRunner | None:
    """The runner of the graph exported earlier under `key`, or None (never exports).

    A graph ORT cannot open (a damaged cache) is removed, so the next export replaces it.
    """
    folder = _graph_folder(key, int8=int8, cache_root=cache_root)
    with _lock:
        if not (folder / META_FILE).is_file():
            return None
        os.utime(folder / META_FILE)  # most recently used: survives pruning
        try:
            return OnnxRunner(folder / GRAPH_FILE, int8=int8)
        except Exception as error:  # any ORT load failure means "not usable"
            log.warning("cached graph %s cannot be opened (%s); exporting it again", folder.name, error)
            shutil.rmtree(folder, ignore_errors=True)
            return None


def _graph_folder(key: str, *, int8: bool, cache_root: Path | None) -> Path:
    return (cache_root or settings.cache_dir()) / "onnx" / f"{key}-{'int8' if int8 else 'fp32'}"


def _build(module: Any, folder: Path, *, int8: bool, example_shape: tuple[int, ...]) -> None:
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        fp32 = tmp / ("fp32.onnx" if int8 else GRAPH_FILE)
        export(module, fp32, example_shape=example_shape)
        if int8:
            quantize_int8(fp32, tmp / GRAPH_FILE)
            fp32.unlink()
        meta = {"int8": int8, "int8_ops": list(INT8_OPS) if int8 else [], "opset": OPSET}
        (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists() and not (folder / META_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)  # half-written by a process that crashed
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / META_FILE).is_file():
                raise  # not "another process finished first"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s (int8=%s) in %.1f s", folder.name, int8, time.perf_counter() - started)


def export(module: Any, path: Path, *, example_shape: tuple[int, ...] = (1, 16_000)) -> None:
    """Trace `module` to ONNX with dynamic batch and last (time) axes (TorchScript exporter)."""
    import torch

    was_training = module.training
    module.eval()  # the exporter restores the *wrapper's* mode, so it must be eval too
    example = torch.zeros(*example_shape, dtype=torch.float32)
    time_axis = len(example_shape) - 1
    try:
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
                dynamic_axes={INPUT_NAME: {0: "batch", time_axis: "time"}, OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True,
            )
    finally:
        module.train(was_training)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 weights for MatMul/Gemm; activations quantised per call (no calibration data)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    excluded = [n.name for n in graph.node if any(part in n.name for part in INT8_EXCLUDE)]
    quiet = _DropRootRecords()  # the quantiser logs a line per tensor on the root logger
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=list(INT8_OPS),
            nodes_to_exclude=excluded,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRootRecords(logging.Filter):
    """Drops records logged on the root logger itself (`logging.info(...)`), not our named loggers'."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or record.levelno >= logging.ERROR


def _prune(root: Path, *, keep: Path) -> None:
    graphs = sorted(
        (p for p in root.iterdir() if (p / META_FILE).is_file()),
        key=lambda p: (p / META_FILE).stat().st_mtime,
        reverse=True,
    )
    for old in graphs[MAX_CACHED_GRAPHS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16 / AMX), where bf16 convolutions are fast.

    Elsewhere bf16 is emulated and slower than fp32, so the fast path keeps fp32 there.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def detach_feature_encoder(model: Any) -> Any | None:
    """Take the wav2vec2-style CNN encoder out of `model`, in place; `model` then reads its output.

    After this, the model's "input_values" are the encoder's features [batch, channels,
    frames]. Returns the encoder, or None (model untouched) when there is none.
    """
    import torch

    class Features(torch.nn.Module):
        is_feature_placeholder = True

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features

    return _swap_feature_encoder(model, lambda encoder: Features())


def restore_feature_encoder(model: Any, encoder: Any) -> None:
    """Undo `detach_feature_encoder`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if getattr(child, "is_feature_placeholder", False):
                setattr(parent, name, encoder)


def bf16_feature_encoder(model: Any) -> bool:
    """Run the CNN encoder of `model` under bf16 autocast (torch path), in place; False if none."""
    import torch

    class Bf16(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.inner(input_values).float()

    return _swap_feature_encoder(model, Bf16) is not None


def _swap_feature_encoder(model: Any, make: Any) -> Any | None:
    import torch

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(getattr(child, "conv_layers", None), torch.nn.ModuleList):
                setattr(parent, name, make(child))
                return child
    return None


class SplitRunner:
    """CNN encoder in torch bf16, then the rest as an int8 ONNX Runtime graph.

    Why: per-tensor int8 activations wreck the CNN encoder (its GELU outputs are sparse
    spikes; measured embedding cosine fell to ~0.1), but bf16 keeps relative precision and
    halves the encoder's time on CPUs with bf16 instructions (cosine >= 0.999).
    """

    name = "torch-bf16-cnn+onnxruntime-int8"

    def __init__(self, encoder: Any, rest: OnnxRunner) -> None:
        self.encoder = encoder.eval()
        self.rest = rest

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(input_values, dtype=np.float32))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            features = self.encoder(batch)
        return self.rest(features.float().numpy())


def torch_int8(model: Any) -> Any:
    """Fallback fast path without onnxruntime: torch dynamic int8 (Linear layers only)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = {
            name
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not any(part in name for part in INT8_EXCLUDE)
        }
        return torch.ao.quantization.quantize_dynamic(model, layers, dtype=torch.qint8)
