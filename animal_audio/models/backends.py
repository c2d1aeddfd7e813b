"""How HuBERT runs: in torch, or as an exported ONNX graph in ONNX Runtime (fp32, or int8 for fast mode).
What was measured and tried for speed: benchmarks/README.md."""

from __future__ import annotations

import logging
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

from animal_audio.audio import SAMPLE_RATE
from animal_audio.errors import AudioError, ModelUnavailableError, short_error
from animal_audio.models import onnx_graphs
from animal_audio.models.onnx_graphs import INT8_EXCLUDE, OnnxRunner

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")
#: /proc/cpuinfo flags of native bf16 support (x86); elsewhere bf16 is emulated and slower than fp32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: CNN frames (1 s of audio) in the example input of the split graph's export.
EXAMPLE_FRAMES = 49
#: Clips per forward pass: enough to amortise overhead, small enough for a laptop's memory.
MAX_BATCH = 8
#: The shortest input HuBERT's convolutional front end accepts (one 25 ms frame).
MIN_SAMPLES = 400

Layer = Union[int, str]
Runner = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- choosing a runner


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")


def make_runner(module: Any, *, device: str, fast: bool, backend: str, key_parts: dict) -> Runner:
    """ONNX Runtime on CPU when available (1.2-1.3x faster, same answers), else torch."""
    if _uses_onnx(device, backend):
        try:
            return _onnx_runner(module, fast=fast, key_parts=key_parts)
        except Exception as error:  # export is best effort: torch gives the same answers, slower
            if backend == "onnx":
                raise ModelUnavailableError(
                    f"Cannot run HuBERT with ONNX Runtime ({short_error(error)}). Install onnxruntime "
                    "and onnx (pip install -r requirements.txt) or use backend='torch'."
                ) from error
            log.warning("ONNX export failed (%s); running HuBERT in torch", short_error(error))
    return TorchRunner(module, device=device, fast=fast)


def exported_runner(*, device: str, fast: bool, backend: str, key_parts: dict) -> Runner | None:
    """The ORT runner of a graph exported earlier from these exact weights, or None: no torch
    weights to load (~2 s of every start). Never for the bf16 CNN split, which needs them."""
    if not _uses_onnx(device, backend) or (fast and native_bf16()):
        return None
    return onnx_graphs.find_graph(onnx_graphs.graph_key(key_parts, fast=fast), int8=fast)


def runner_name(runner: Runner) -> str:
    return str(getattr(runner, "name", type(runner).__name__))


def _uses_onnx(device: str, backend: str) -> bool:
    return backend == "onnx" or (
        backend == "auto" and device == "cpu" and onnx_graphs.onnxruntime_available()
    )


def _onnx_runner(module: Any, *, fast: bool, key_parts: dict) -> Runner:
    """fp32 graph; fast: int8 graph, with the CNN encoder split off to torch bf16 where that is fast."""
    import torch

    found = _feature_encoder(module) if fast and native_bf16() else None
    if found is None:
        return onnx_graphs.cached_runner(module, key=onnx_graphs.graph_key(key_parts, fast=fast), int8=fast)
    parent, attribute, encoder = found
    setattr(parent, attribute, torch.nn.Identity())  # the graph then reads the encoder's features
    try:
        channels = int(encoder.conv_layers[-1].conv.out_channels)
        rest = onnx_graphs.cached_runner(
            module,
            key=onnx_graphs.graph_key(key_parts, fast=fast, split="bf16 cnn features"),
            int8=True,
            example_shape=(1, channels, EXAMPLE_FRAMES),
        )
    except Exception:
        setattr(parent, attribute, encoder)  # the torch fallback needs it whole
        raise
    return SplitRunner(encoder, rest)


# --------------------------------------------------------------------------- torch


def exportable(model: Any, *, layer: Layer | None = None) -> Any:
    """One row per frame out [batch, frames, d]: the projector output and, in the last columns, its logits (or
    hidden `layer`; "mean": their average; "all": all side by side), so one pass gives the clip's answer and embedding and the timeline's."""
    # The mean of frame logits is the clip's logits because the head (projector, classifier) is linear.
    import torch

    class FrameOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            if layer is None:  # the classifier's own forward, up to its pooling (no hooks: threads share it)
                weighted = getattr(self.model.config, "use_weighted_layer_sum", False)
                outputs = self.model.base_model(input_values, output_hidden_states=weighted)
                if weighted:
                    weights = torch.nn.functional.softmax(self.model.layer_weights, dim=-1)
                    hidden = (torch.stack(outputs.hidden_states, dim=1) * weights.view(-1, 1, 1)).sum(dim=1)
                else:
                    hidden = outputs.last_hidden_state
                projected = self.model.projector(hidden)
                return torch.cat([projected, self.model.classifier(projected)], dim=-1)
            hidden = self.model(input_values, output_hidden_states=True).hidden_states
            if (
                layer == "all"
            ):  # every hidden state side by side: one pass for the layer choice (hubert_layers.py)
                return torch.cat(hidden, dim=-1)
            return torch.stack(hidden).mean(0) if layer == "mean" else hidden[layer]

    if layer is None and not all(hasattr(model, part) for part in ("projector", "classifier")):
        raise ModelUnavailableError(
            f"{type(model).__name__} has no projector + classifier head (HuBERT's and wav2vec2's): "
            "this program runs HuBERT-style audio classifiers only."
        )
    if isinstance(layer, int) and not model.config.do_stable_layer_norm:
        # Layers above `layer` would be computed and thrown away. (Pre-LN models apply a
        # final norm after the last layer, so they keep all.)
        model.encoder.layers = model.encoder.layers[:layer]
    return FrameOutput().eval()


class TorchRunner:
    """torch inference on any device. Fast: int8 Linear (+ bf16 CNN) on CPU, float16 on accelerators."""

    def __init__(self, module: Any, *, device: str, fast: bool) -> None:
        import torch

        self.dtype = torch.float32
        if fast and device == "cpu":
            module = torch_int8(module)
            self.name = "torch-int8"
            found = _feature_encoder(module) if native_bf16() else None
            if found is not None:
                parent, attribute, encoder = found
                setattr(parent, attribute, _bf16(encoder))
                self.name = "torch-bf16-cnn+int8"
        elif fast:
            self.dtype = torch.float16
            module = module.to(device=device, dtype=self.dtype)
            self.name = "torch-fp16"
        else:
            module = module.to(device)
            self.name = "torch-fp32"
        self.module = module.eval()
        self.device = device

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(input_values, dtype=np.float32))
            out = self.module(batch.to(device=self.device, dtype=self.dtype))
            return out.float().cpu().numpy()


def torch_int8(model: Any) -> Any:
    """The fast path without onnxruntime: torch dynamic int8 (Linear layers only)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = {
            name
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not any(part in name for part in INT8_EXCLUDE)
        }
        return torch.ao.quantization.quantize_dynamic(model, layers, dtype=torch.qint8)


def native_bf16() -> bool:
    """True on CPUs with bf16 instructions, where bf16 convolutions are twice as fast as fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def _feature_encoder(model: Any) -> tuple[Any, str, Any] | None:
    """(parent, attribute name, module) of the wav2vec2-style CNN encoder inside `model`, or None."""
    import torch

    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(getattr(child, "conv_layers", None), torch.nn.ModuleList):
                return parent, name, child
    return None


def _bf16(module: Any) -> Any:
    """`module` under bf16 autocast, float32 out: the CNN encoder twice as fast, cosine >= 0.999."""
    import torch

    class Bf16(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.inner(input_values).float()

    return Bf16().eval()


class SplitRunner:
    """CNN encoder in torch bf16 (int8 wrecks its sparse GELU outputs: cosine ~0.1), the rest in int8 ORT."""

    name = "torch-bf16-cnn+onnxruntime-int8"

    def __init__(self, encoder: Any, rest: OnnxRunner) -> None:
        self.encoder = _bf16(encoder)
        self.rest = rest

    def __call__(self, input_values: np.ndarray) -> np.ndarray:
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(input_values, dtype=np.float32))
        with torch.inference_mode():
            features = self.encoder(batch)
        return self.rest(features.numpy())


# --------------------------------------------------------------------------- batching


def run_batched(
    runner: Runner, extractor: Any, waveforms: Sequence[np.ndarray], max_batch: int = MAX_BATCH
) -> tuple[list[np.ndarray], list[float]]:
    """Each clip's output [frames, d] in input order, and its share of the wall time of its batch."""
    clips = [_as_waveform(w) for w in waveforms]
    outputs: list[np.ndarray | None] = [None] * len(clips)
    seconds = [0.0] * len(clips)
    for indices in _equal_length_batches([len(c) for c in clips], max_batch):
        started = time.perf_counter()
        features = extractor([clips[i] for i in indices], sampling_rate=SAMPLE_RATE, return_tensors="np")
        result = runner(features["input_values"])
        share = (time.perf_counter() - started) / len(indices)
        for row, index in zip(result, indices):
            outputs[index] = row
            seconds[index] = share
    return outputs, seconds  # type: ignore[return-value]


def _equal_length_batches(lengths: Sequence[int], max_batch: int) -> Iterator[list[int]]:
    """Indices grouped by clip length, at most `max_batch` per group: HuBERT-Base has no attention mask
    and zero padding shifts its group norm, so equal lengths only keep batch = one-by-one results."""
    groups: dict[int, list[int]] = defaultdict(list)
    for index, length in enumerate(lengths):
        groups[length].append(index)
    for _, indices in sorted(groups.items(), key=lambda item: -len(item[1])):
        for start in range(0, len(indices), max_batch):
            yield indices[start : start + max_batch]


def _as_waveform(waveform: np.ndarray) -> np.ndarray:
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise AudioError(f"expected a mono waveform (1-D), got shape {array.shape}; use audio.load_audio")
    if array.size < MIN_SAMPLES:
        raise AudioError(
            f"clip too short for HuBERT ({array.size} samples; at least {MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} ms)"
        )
    return array
