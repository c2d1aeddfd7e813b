"""Accuracy benchmark: every available model on ESC-50's 400 animal clips, fold split and 5-fold CV.

    python -m benchmarks.accuracy --data DIR                 # prepared clips (animals.csv)
    python -m benchmarks.accuracy --esc50-dir ESC-50-master  # prepared into the cache first
    python -m benchmarks.accuracy --models yamnet-zeroshot,yamnet-probe --protocols folds

Writes benchmarks/results/accuracy.json and accuracy.md. A model whose weights cannot
be loaded here (HuBERT offline) is not run: its row says "needs the real weights",
unless an earlier accuracy.json holds its numbers, which are kept (with their date).
The runs go to <runs>/benchmarks/ and do not move the app's latest.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

if __package__ in (None, ""):  # `python benchmarks/accuracy.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from animal_audio import esc50, settings  # noqa: E402
from animal_audio.compare_config import MODEL_NAMES, PROTOCOLS, CompareConfig, parse_models  # noqa: E402
from animal_audio.errors import AnimalAudioError  # noqa: E402
from animal_audio.estimate import estimate_seconds  # noqa: E402
from animal_audio.fileio import read_json, write_json, write_text  # noqa: E402
from animal_audio.formatting import duration, percent  # noqa: E402
from animal_audio.pipeline import run_comparison  # noqa: E402
from animal_audio.run_results import machine, versions  # noqa: E402

log = logging.getLogger("benchmarks.accuracy")

RESULTS_DIR = Path(__file__).resolve().parent / "results"
JSON_FILE = "accuracy.json"
MARKDOWN_FILE = "accuracy.md"
NEEDS_WEIGHTS = "needs the real weights"
PROTOCOL_TITLES = {"folds": "folds 1-3 / 4 / 5", "cv": "5-fold CV"}
KEPT_KEYS = (
    "accuracy",
    "accuracy_std",
    "macro_f1",
    "macro_f1_std",
    "train_seconds",
    "inference_seconds_per_clip",
)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", help="prepared data (animals.csv + audio/)")
    parser.add_argument(
        "--esc50-dir", help="ESC-50 release to prepare (into the cache) when --data is not given"
    )
    parser.add_argument(
        "--models", default=",".join(MODEL_NAMES), help="comma-separated (default: all available)"
    )
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="folds,cv (default both)")
    parser.add_argument("--hubert", help=f"HuBERT hub id or directory (default {settings.DEFAULT_HUBERT})")
    parser.add_argument("--yamnet", help="YAMNet TF Hub handle, SavedModel dir or .tflite file")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-steps", type=int, help="cap fine-tuning steps (smoke runs only)")
    parser.add_argument("--device", help="torch device (default: best available)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs-dir", help="where the run directories go (default <runs>/benchmarks)")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="HuBERT in fast mode (int8, as ANIMAL_AUDIO_FAST=1); writes accuracy_fast.json / .md "
        "beside the exact table",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for accuracy.json / accuracy.md")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    try:
        return run(args)
    except AnimalAudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    models = parse_models(args.models)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise AnimalAudioError(f"--protocols: use {', '.join(PROTOCOLS)} (got {args.protocols!r}).")
    data_dir = prepared_data(args)
    unavailable = {name: reason for name in models if (reason := unavailable_reason(name, args))}
    runnable = tuple(m for m in models if m not in unavailable)
    out = Path(args.out)
    json_file, markdown_file = result_files(args.fast)
    previous = read_json(out / json_file) or {}
    runs_dir = Path(args.runs_dir) if args.runs_dir else settings.runs_dir() / "benchmarks"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")

    results: dict[str, Any] = {}
    for protocol in protocols:
        if not runnable:
            break
        config = CompareConfig(
            data_dir=data_dir,
            out_dir=runs_dir / f"accuracy-{protocol}-{stamp}",
            models=runnable,
            protocol=protocol,
            hubert=args.hubert,
            yamnet=args.yamnet,
            epochs=args.epochs,
            device=args.device,
            seed=args.seed,
            max_steps=args.max_steps,
            fast=True if args.fast else None,
            update_latest=False,
        )
        log.info("%s: %s, expected ~%s", protocol, ", ".join(runnable), duration(estimate_seconds(config)))
        started = time.perf_counter()
        result = run_comparison(config)
        results[protocol] = {
            "run_dir": str(result.run_dir),
            "seconds": round(time.perf_counter() - started, 1),
            "models": {
                name: {k: entry.get(k) for k in KEPT_KEYS} for name, entry in result.metrics["models"].items()
            },
        }
    for protocol in protocols:
        _keep_previous(results, previous, protocol, unavailable)

    document = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": str(data_dir),
        "clips": len(esc50.load_manifest(data_dir)),
        "settings": {
            "epochs": args.epochs,
            "max_steps": args.max_steps,
            "seed": args.seed,
            "hubert": args.hubert or settings.DEFAULT_HUBERT,
            "yamnet": args.yamnet,
            "fast": bool(args.fast),
        },
        "machine": machine(args.device, any(m.startswith("hubert") for m in runnable)),
        "versions": versions(),
        "protocols": results,
        "unavailable": unavailable,
    }
    write_json(out / json_file, document)
    write_text(out / markdown_file, markdown(document, models, protocols))
    print(markdown(document, models, protocols))
    return 0


def result_files(fast: bool) -> tuple[str, str]:
    """Fast mode's table goes beside the exact one, never over it."""
    if not fast:
        return JSON_FILE, MARKDOWN_FILE
    return (JSON_FILE.replace(".json", "_fast.json"), MARKDOWN_FILE.replace(".md", "_fast.md"))


def prepared_data(args: argparse.Namespace) -> Path:
    """--data as is; else prepare --esc50-dir (or ANIMAL_AUDIO_ESC50) into the cache, reusing it next time."""
    if args.data:
        return Path(args.data)
    target = settings.cache_dir() / "benchmark-esc50-animals"
    esc50.prepare(settings.esc50_dir(args.esc50_dir), target)
    return target


def unavailable_reason(model: str, args: argparse.Namespace) -> Optional[str]:
    """Why a model cannot run here (weights unreachable), or None when it can."""
    if model == "ensemble":  # loads nothing: it combines the others (the run says when too few ran)
        return None
    try:
        if model.startswith("yamnet"):
            from animal_audio.models.yamnet import YamnetModel

            YamnetModel.load(args.yamnet)
        else:
            from animal_audio.models.hubert import HubertEmbedder

            HubertEmbedder.load(args.hubert or settings.DEFAULT_HUBERT, device=args.device)
    except AnimalAudioError as error:
        log.warning("%s is left out: %s", model, error)
        return str(error)
    except ImportError as error:  # this checkout lacks the model's code or its framework
        log.warning("%s is left out: %s", model, error)
        return f"cannot import its code ({error})"
    return None


def markdown(document: dict[str, Any], models: tuple[str, ...], protocols: list[str]) -> str:
    head = "| Model |"
    rule = "|---|"
    for protocol in protocols:
        title = PROTOCOL_TITLES[protocol]
        head += f" Accuracy ({title}) | Macro-F1 ({title}) |"
        rule += "---:|---:|"
    head += " Training time | Inference per clip |"
    rule += "---:|---:|"
    lines = [
        "# Accuracy on ESC-50's 10 animal classes",
        "",
        f"{document['clips']} clips; created {document['created']} on {document['machine']['platform']} "
        f"({document['machine']['cpu_count']} CPUs, device {document['machine']['device']}).",
        "CV: mean ± sample std over the 5 test folds."
        + (" HuBERT in fast mode (int8, ANIMAL_AUDIO_FAST=1)." if document["settings"].get("fast") else ""),
        "",
        head,
        rule,
    ]
    for name in models:
        cells, timing = [], None
        for protocol in protocols:
            entry = document["protocols"].get(protocol, {}).get("models", {}).get(name)
            if entry is None:
                cells += [NEEDS_WEIGHTS if name in document["unavailable"] else "-", "-"]
                continue
            cv = protocol == "cv"
            cells.append(percent(entry["accuracy"], entry.get("accuracy_std") if cv else None))
            cells.append(percent(entry["macro_f1"], entry.get("macro_f1_std") if cv else None))
            timing = timing or entry
        times = (
            [duration(timing["train_seconds"]), f"{timing['inference_seconds_per_clip']:.3f} s"]
            if timing
            else ["-", "-"]
        )
        lines.append(f"| `{name}` | " + " | ".join(cells + times) + " |")
    kept = sorted(
        {n for p in document["protocols"].values() for n, e in p.get("models", {}).items() if e.get("from")}
    )
    if kept:
        lines += ["", f"Kept from an earlier benchmark (weights not reachable now): {', '.join(kept)}."]
    return "\n".join(lines) + "\n"


def _keep_previous(
    results: dict[str, Any], previous: dict[str, Any], protocol: str, unavailable: dict[str, str]
) -> None:
    """Numbers of models that cannot run now stay from the last benchmark that could run them."""
    old = previous.get("protocols", {}).get(protocol, {}).get("models", {})
    for name in unavailable:
        if name in old:
            entry = dict(old[name])
            entry.setdefault("from", previous.get("created"))
            results.setdefault(protocol, {"models": {}})["models"][name] = entry


if __name__ == "__main__":
    sys.exit(main())
