"""A finished comparison run as the Train & compare tab shows it: summary, table, figures, mistakes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from animal_audio import settings
from animal_audio.formatting import duration, model_title, percent
from animal_audio.labels import display

RESULT_COLUMNS = ["model", "accuracy", "macro-F1", "trained on", "training time", "ms per clip"]
MISCLASSIFIED_COLUMNS = ["model", "clip", "true", "predicted", "confidence", "fold"]


@dataclass
class RunView:
    """A finished run, ready for the Train & compare tab."""

    run_dir: Path
    summary: str
    table: pd.DataFrame
    figures: dict[str, Any]
    models: list[str]
    misclassified: pd.DataFrame


def load_run_view(run_dir: Optional[Path] = None) -> Optional[RunView]:
    """The given run, or the latest finished one; None when there is none yet."""
    from animal_audio.pipeline import latest_run, load_run
    from animal_audio.plots import results as result_plots

    run_dir = run_dir or latest_run()
    if run_dir is None:
        return None
    run = load_run(run_dir)
    metrics = run.metrics
    models = list(metrics.get("models", {}))
    figures = {
        "accuracy": _fit_width(result_plots.accuracy_figure(metrics)),
        "per_class_f1": _fit_width(result_plots.per_class_f1_figure(metrics)),
        "confusion": {m: _fit_width(result_plots.confusion_figure(metrics, m)) for m in models},
    }
    return RunView(
        Path(run.run_dir),
        run_summary(metrics, Path(run.run_dir)),
        results_table(metrics),
        figures,
        models,
        misclassified_table(run.predictions, models),
    )


def _fit_width(figure: Any) -> Any:
    """Report figures have a fixed width for HTML files; in the app they follow the column's width."""
    figure.update_layout(width=None, autosize=True)
    return figure


def results_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per model: accuracy, macro-F1 (mean ± std in CV), training and inference time."""
    rows = []
    for name, entry in metrics.get("models", {}).items():
        rows.append(
            {
                "model": model_title(name),
                "accuracy": _percent(entry, "accuracy"),
                "macro-F1": _percent(entry, "macro_f1"),
                "trained on": entry.get("trained_on", ""),
                "training time": duration(entry.get("train_seconds", 0.0))
                if entry.get("train_seconds")
                else "none",
                "ms per clip": f"{entry.get('inference_seconds_per_clip', 0.0) * 1000:.0f}",
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _percent(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    return percent(value, entry.get(f"{key}_std"), digits=1)


def run_summary(metrics: dict[str, Any], run_dir: Path) -> str:
    """One line naming the run: when, which protocol, on which device, which seed."""
    protocol = metrics.get("protocol", {})
    description = (
        protocol.get("description", protocol.get("name", "")) if isinstance(protocol, dict) else str(protocol)
    )
    created = str(metrics.get("created", ""))[:16].replace("T", " ")
    machine = metrics.get("machine", {})
    device = machine.get("device", "cpu") if isinstance(machine, dict) else "cpu"
    return (
        f"**Run** `{run_dir.name}` · {created} UTC · {description} · device: {device} · "
        f"seed {metrics.get('seed', '-')}"
    )


def misclassified_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every (model, clip) the model got wrong, with what it said and how sure it was."""
    rows = []
    for name in models:
        column = f"{name}:label"
        if column not in predictions.columns:
            continue
        wrong = predictions[predictions[column] != predictions["true_label"]]
        for row in wrong.itertuples(index=False):
            record = dict(zip(predictions.columns, row))
            predicted = record[column]
            confidence = record.get(f"{name}:p_{predicted}")
            rows.append(
                {
                    "model": model_title(name),
                    "clip": record["filename"],
                    "true": display(record["true_label"]),
                    "predicted": display(predicted),
                    "confidence": f"{float(confidence) * 100:.0f}%" if confidence is not None else "",
                    "fold": int(record.get("fold", 0)),
                }
            )
    return pd.DataFrame(rows, columns=MISCLASSIFIED_COLUMNS)


def clip_path(filename: str, data_dir: Optional[Path] = None) -> Optional[Path]:
    """Where a prepared clip is, for playing a misclassified one; None if it is not on this machine."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        return None
    path = settings.data_dir(data_dir) / "audio" / filename
    return path if path.is_file() else None
