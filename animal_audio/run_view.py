"""A finished run as the Train & compare tab shows it: summary line, results table, figures, mistakes.

Every visitor sees it: the reasons a model did not run are shown without server folders or raw causes."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from animal_audio.errors import AnimalAudioError
from animal_audio.formatting import (
    MODEL_TITLES,
    duration,
    first_sentence,
    model_title,
    not_run_markdown,
    percent,
)
from animal_audio.i18n import DEFAULT, class_name, tr, translate_error, translate_words
from animal_audio.labels import CLASSES, display
from animal_audio.paired import describe
from animal_audio.public_text import redact, visible
from animal_audio.robustness_run import ROBUSTNESS_FILE, read_robustness
from animal_audio.runs import METRICS_FILE, PREDICTIONS_FILE, latest_run, load_run

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["model", "accuracy", "macro-F1", "trained on", "training time", "ms per clip"]
#: Run views kept for the pages that poll them (the latest run, and a few a page asked for).
VIEWS_KEPT = 8  # in either language
ROBUSTNESS_COLUMNS = ["change", "level"]
MISCLASSIFIED_COLUMNS = ["model", "clip", "true", "predicted", "confidence", "fold"]
#: Each column's key in the catalogue (animal_audio/i18n); "macro-F1" is a technical name and stays.
COLUMN_KEYS = {
    "model": "col_model",
    "accuracy": "col_accuracy",
    "trained on": "col_trained_on",
    "training time": "col_training_time",
    "ms per clip": "col_ms_per_clip",
    "clip": "col_clip",
    "true": "col_true",
    "predicted": "col_predicted",
    "confidence": "col_confidence",
    "fold": "col_fold",
}


@dataclass
class RunView:
    """A finished run, ready for the Train & compare tab."""

    run_dir: Path
    summary: str
    table: pd.DataFrame
    figures: dict[str, Any]
    models: list[str]
    misclassified: pd.DataFrame
    #: Accuracy under changed sound (robustness.json), once the run was scored; its chart is figures["robustness"].
    robustness: Optional[pd.DataFrame] = None
    lang: str = DEFAULT

    @property
    def model_choices(self) -> list[tuple[str, str]]:
        """(title, name) of each model, for a picker."""
        return [(model_title(m, self.lang), m) for m in self.models]


def load_run_view(run_dir: Optional[Path] = None, lang: str = DEFAULT) -> Optional[RunView]:
    """The given run, or the latest finished one; None when there is none yet. `lang`: its figures' words."""
    from animal_audio.plots import results as result_plots

    run_dir = run_dir or latest_run()
    if run_dir is None:
        return None
    run = load_run(run_dir)
    metrics, run_dir = run.metrics, Path(run.run_dir)
    models = list(metrics.get("models", {}))
    figures = {
        "accuracy": _fit_width(result_plots.accuracy_figure(metrics, lang)),
        "per_class_f1": _fit_width(result_plots.per_class_f1_figure(metrics, lang)),
        "confusion": {m: _fit_width(result_plots.confusion_figure(metrics, m, lang)) for m in models},
    }
    if any(entry.get("reliability") for entry in metrics.get("models", {}).values()):  # runs before it: none
        figures["reliability"] = _fit_width(result_plots.reliability_figure(metrics, lang))
    summary, table = run_summary(metrics, run_dir, lang), results_table(metrics)
    wrong = misclassified_table(run.predictions, models)
    robustness = read_robustness(run_dir)
    if robustness is None:
        return RunView(run_dir, summary, table, figures, models, wrong, lang=lang)
    from animal_audio.plots.robustness import robustness_figure

    figure = _fit_width(robustness_figure(robustness, lang))
    figures["robustness"] = figure.update_layout(
        title=None, margin={"l": 8, "r": 8, "t": 40, "b": 8}
    )  # see Results
    return RunView(run_dir, summary, table, figures, models, wrong, robustness_table(robustness, lang), lang)


def try_run_view(
    run_dir: Optional[Path] = None, lang: str = DEFAULT
) -> tuple[Optional[RunView], Optional[str]]:
    """(the view, None), or (None, what is wrong with the run) for the page; other failures are only logged.
    Every page polls: while a run's files stay the same, they all get the one view built for it."""
    try:
        run_dir = Path(run_dir) if run_dir else latest_run()
        return (_view_of(run_dir, _stamp(run_dir), lang) if run_dir else None), None
    except AnimalAudioError as error:
        return None, visible(error)
    except Exception:
        log.exception("could not load the run %s", run_dir)
        return None, None


@functools.lru_cache(maxsize=VIEWS_KEPT)
def _view_of(run_dir: Path, stamp: tuple[int, ...], lang: str = DEFAULT) -> Optional[RunView]:
    return load_run_view(run_dir, lang)


def _stamp(run_dir: Path) -> tuple[int, ...]:
    """When the run's result files last changed (a rerun into the same folder rewrites them)."""
    return tuple(
        (run_dir / name).stat().st_mtime_ns if (run_dir / name).exists() else 0
        for name in (METRICS_FILE, PREDICTIONS_FILE, ROBUSTNESS_FILE)
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
    for name, why in (metrics.get("unavailable") or {}).items():  # chosen, but could not run
        why = first_sentence(redact(why))  # a path or an unexpected failure's cause: not for visitors
        rows.append({"model": model_title(name), "accuracy": "not run", "trained on": why})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).fillna("-")


def robustness_table(document: dict[str, Any], lang: str = DEFAULT) -> pd.DataFrame:
    """robustness.json as the Results show it: a row per transform and level (first the unchanged clips),
    a column per model, accuracies in percent; `lang`: its words."""
    from animal_audio.plots.robustness import transform_words

    rows = document.get("rows") or []
    names = list(dict.fromkeys(r["model"] for r in rows))
    meta, baseline = document.get("transforms") or {}, document.get("baseline") or {}
    accuracy = {(r["model"], r["transform"], r["level"]): r["accuracy"] for r in rows}
    table = [
        [
            tr("unchanged", lang),
            "",
            *(percent(baseline[n], digits=0) if n in baseline else "-" for n in names),
        ]
    ]
    for name, level in dict.fromkeys((r["transform"], r["level"]) for r in rows):
        title, unit = transform_words(name, meta, lang)
        cells = (
            percent(accuracy[(n, name, level)], digits=0) if (n, name, level) in accuracy else "-"
            for n in names
        )
        table.append([title, f"{level:g} {unit}".strip(), *cells])
    headers = [tr(f"col_{c}", lang) for c in ROBUSTNESS_COLUMNS]
    return pd.DataFrame(table, columns=headers + [model_title(n, lang) for n in names])


def _percent(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    return percent(value, entry.get(f"{key}_std"), digits=1)


def run_summary(metrics: dict[str, Any], run_dir: Path, lang: str = DEFAULT) -> str:
    """One line naming the run (when, which protocol, on which device, which seed), then each pair in plain words."""
    protocol = metrics.get("protocol", {})
    description = (
        protocol.get("description", protocol.get("name", "")) if isinstance(protocol, dict) else str(protocol)
    )
    created = str(metrics.get("created", ""))[:16].replace("T", " ")
    machine = metrics.get("machine", {})
    device = machine.get("device", "cpu") if isinstance(machine, dict) else "cpu"
    seed = metrics.get("seed", "-")
    line = tr(
        "run_line",
        lang,
        name=run_dir.name,
        created=created,
        description=translate_error(description, lang),
        device=device,
        seed=seed,
    )
    pairs = paired_markdown(metrics, lang)
    line = f"{line}  \n{pairs}" if pairs else line
    unavailable = metrics.get("unavailable") or {}
    return (
        redact(f"{line}  \n{translate_error(not_run_markdown(unavailable), lang)}") if unavailable else line
    )


def paired_markdown(metrics: dict[str, Any], lang: str = DEFAULT) -> str:
    """Is each difference real? One plain-words line per pair of models (metrics.json "paired")."""
    entries = metrics.get("paired") or []
    return "  \n".join(f"⚖️ {describe(entry, lang)}" for entry in entries if isinstance(entry, dict))


def clip_in_row(table: Any, row: Any) -> Optional[str]:
    """The clip named in row `row` (a selection's index) of a misclassified table sent back by a page."""
    try:
        line = table.iloc[row[0] if isinstance(row, (list, tuple)) else row]
        return str(line.iloc[MISCLASSIFIED_COLUMNS.index("clip")])  # by place: the headers may be translated
    except (TypeError, IndexError, KeyError, AttributeError, ValueError):
        return None


def misclassified_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every (model, clip) the model got wrong, with what it said and how sure it was."""
    # Here, not at the top: run_results imports scikit-learn, ~0.8 s more before the page is up.
    from animal_audio.run_results import prediction_column, probability_column

    rows = []
    for name in models:
        column = prediction_column(name)
        if column not in predictions.columns:
            continue
        wrong = predictions[predictions[column] != predictions["true_label"]]
        for row in wrong.itertuples(index=False):
            record = dict(zip(predictions.columns, row))
            predicted = record[column]
            confidence = record.get(probability_column(name, predicted))
            rows.append(
                {
                    "model": model_title(name),
                    "clip": record["filename"],
                    "true": display(record["true_label"]),
                    "predicted": display(predicted),
                    "confidence": percent(float(confidence), digits=0) if confidence is not None else "",
                    "fold": int(record.get("fold", 0)),
                }
            )
    return pd.DataFrame(rows, columns=MISCLASSIFIED_COLUMNS)


def in_language(table: pd.DataFrame, lang: str = DEFAULT) -> pd.DataFrame:
    """A results or misclassified table with its headers and class names in `lang` (the run's files keep English)."""
    if lang == DEFAULT:
        return table
    names = {display(c): class_name(c, lang) for c in CLASSES}
    shown = table.replace({column: names for column in ("true", "predicted") if column in table.columns})
    if "model" in shown.columns:
        shown["model"] = shown["model"].replace({model_title(m): model_title(m, lang) for m in MODEL_TITLES})
    for column in ("accuracy", "trained on", "training time"):  # "not run", "nothing", "2.8 s"
        if column in shown.columns:
            shown[column] = shown[column].map(lambda v: _cell(v, lang))
    return shown.rename(columns={c: tr(k, lang) for c, k in COLUMN_KEYS.items()})


def _cell(value: Any, lang: str) -> Any:
    return translate_words(translate_error(value, lang), lang) if isinstance(value, str) else value
