"""Where weights, data and runs live, and which device to use.

Order of precedence everywhere: an explicit argument, then an environment
variable, then the default below. Nothing here touches the network; the disk only to
tell a folder from a Hub id (`is_hub_id`) and to look for GPU device files.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DEFAULT_HUBERT = "facebook/hubert-base-ls960"
#: The built-in YAMNet (TFLite, int8 weights) shipped in the repository: works offline, without TensorFlow.
BUNDLED_YAMNET = Path(__file__).resolve().parent.parent / "assets" / "yamnet" / "yamnet.tflite"
DEFAULT_YAMNET = str(BUNDLED_YAMNET)
#: The float YAMNet on TF Hub: ANIMAL_AUDIO_YAMNET or --yamnet set to it (needs TensorFlow and the internet).
TFHUB_YAMNET = "https://tfhub.dev/google/yamnet/1"
ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/refs/heads/master.zip"

ENV_HOME = "ANIMAL_AUDIO_HOME"
ENV_HUBERT = "ANIMAL_AUDIO_HUBERT"
ENV_YAMNET = "ANIMAL_AUDIO_YAMNET"
ENV_ESC50 = "ANIMAL_AUDIO_ESC50"
ENV_DATA = "ANIMAL_AUDIO_DATA"
ENV_FAST = "ANIMAL_AUDIO_FAST"
ENV_DEVICE = "ANIMAL_AUDIO_DEVICE"
ENV_THREADS = "ANIMAL_AUDIO_THREADS"
ENV_WARM_START = "ANIMAL_AUDIO_WARM_START"
#: Public mode (a web page open to anyone): training needs the operator, uploads and runs are bounded.
ENV_PUBLIC = "ANIMAL_AUDIO_PUBLIC"
ENV_KEEP_RUNS = "ANIMAL_AUDIO_KEEP_RUNS"
#: The "Teach it your sounds" tab: on unless the operator turns it off.
ENV_TEACH = "ANIMAL_AUDIO_TEACH"
#: Set by Hugging Face Spaces: there nobody is at hand to train HuBERT, so the app does it at start-up.
ENV_SPACE_ID = "SPACE_ID"
#: Either one set means transformers and huggingface_hub never download.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: What a yes/no environment variable counts as "yes".
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
#: What a yes/no environment variable that defaults to yes counts as "no".
FALSE_VALUES = frozenset({"0", "false", "no", "off"})
#: A Hugging Face Hub repository id: "name" or "owner/name" (no path-like start: ".", "/", "~").
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def env_flag(env: str) -> bool:
    """Whether the yes/no environment variable `env` says yes."""
    return os.environ.get(env, "").strip().lower() in TRUE_VALUES


def offline() -> bool:
    """Whether the Hugging Face libraries are told never to download."""
    return any(env_flag(name) for name in OFFLINE_VARIABLES)


def is_hub_id(source: str) -> bool:
    """Whether `source` names a Hub repository rather than a folder: the one rule every loader shares."""
    return bool(HUB_ID.match(source or "")) and not Path(source).expanduser().exists()


def chosen(explicit: str | os.PathLike[str] | None, env: str) -> str | None:
    """What a person set (the argument, else the environment variable); None leaves the default."""
    if explicit is not None and str(explicit) != "":
        return str(explicit)
    return os.environ.get(env) or None


def _pick(explicit: str | os.PathLike[str] | None, env: str, default: str) -> str:
    return chosen(explicit, env) or default


def home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Root for everything the program writes (data, caches, runs)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "animal-audio"
    return Path(_pick(explicit, ENV_HOME, str(default))).expanduser()


def hubert_source(explicit: str | None = None) -> str:
    """Hub id or local directory of the HuBERT classifier to load."""
    return _pick(explicit, ENV_HUBERT, DEFAULT_HUBERT)


def yamnet_source(explicit: str | None = None) -> str:
    """TF Hub handle, SavedModel directory or .tflite file of YAMNet; default: the built-in TFLite file."""
    return _pick(explicit, ENV_YAMNET, DEFAULT_YAMNET)


def esc50_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ESC-50 release (folder holding meta/ and audio/), downloaded or local."""
    return Path(_pick(explicit, ENV_ESC50, str(home() / "ESC-50-master"))).expanduser()


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The prepared animal subset (16 kHz WAVs + animals.csv)."""
    return Path(_pick(explicit, ENV_DATA, str(home() / "esc50-animals"))).expanduser()


def runs_dir() -> Path:
    return home() / "runs"


def cache_dir() -> Path:
    """Embedding and converted-audio caches: safe to delete, rebuilt on demand."""
    return home() / "cache"


def fast_mode(explicit: bool | None = None) -> bool:
    """int8 HuBERT inference: faster, may change predictions slightly (see README)."""
    if explicit is not None:
        return explicit
    return env_flag(ENV_FAST)


def warm_start(explicit: bool | None = None) -> bool:
    """Whether the app trains HuBERT's quick head at start-up when it has none: on by default on Spaces."""
    if explicit is not None:
        return explicit
    value = os.environ.get(ENV_WARM_START, "").strip().lower()
    return value in TRUE_VALUES if value else bool(os.environ.get(ENV_SPACE_ID))


def public_mode(explicit: bool | None = None) -> bool:
    """Whether the app is open to anyone: ANIMAL_AUDIO_PUBLIC, else on when running on Hugging Face Spaces."""
    if explicit is not None:
        return explicit
    value = os.environ.get(ENV_PUBLIC, "").strip().lower()
    return value in TRUE_VALUES if value else bool(os.environ.get(ENV_SPACE_ID))


def teach_enabled(explicit: bool | None = None) -> bool:
    """Whether the app offers "Teach it your sounds": on unless ANIMAL_AUDIO_TEACH is off (also in public mode,
    where each visitor's clips live only in their session)."""
    if explicit is not None:
        return explicit
    return os.environ.get(ENV_TEACH, "").strip().lower() not in FALSE_VALUES


def keep_runs(explicit: int | None = None) -> int:
    """How many finished runs the app keeps (besides the one in use): 10, or 5 in public mode."""
    value = explicit if explicit is not None else os.environ.get(ENV_KEEP_RUNS, "").strip()
    if isinstance(value, int) or str(value).isdigit():
        return max(1, int(value))
    return 5 if public_mode() else 10


def cpu_threads() -> int:
    """Threads each framework may use, so torch and TF do not oversubscribe the CPU."""
    value = os.environ.get(ENV_THREADS)
    if value and value.isdigit() and int(value) > 0:
        return int(value)
    return usable_cpus()


def usable_cpus() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def torch_device(explicit: str | None = None) -> str:
    """Best available torch device: cuda, then mps, then cpu (or what the user asked)."""
    choice = _pick(explicit, ENV_DEVICE, "auto")
    if choice != "auto":
        return choice
    if "torch" not in sys.modules and not _may_have_accelerator():
        return "cpu"  # without importing torch (~2 s): the cached ONNX graph may need none of it
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _may_have_accelerator() -> bool:
    """False only where torch cannot see a GPU: Linux without NVIDIA (/dev/nvidia*), ROCm (/dev/kfd) or
    WSL (/dev/dxg) device files. Elsewhere (macOS: mps, Windows) torch is asked."""
    if not sys.platform.startswith("linux"):
        return True
    dev = Path("/dev")
    return any(dev.glob("nvidia*")) or (dev / "kfd").exists() or (dev / "dxg").exists()
