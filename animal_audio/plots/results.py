"""Figures of a comparison run's metrics (metrics.json), shared by the run's HTML files and the app.

Every function takes the whole metrics document (`{"models": {...}, ...}`), so the
app can draw a run straight from `runs.load_run(...).metrics`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from animal_audio.fileio import write_text
from animal_audio.formatting import model_title
from animal_audio.i18n import DEFAULT, tr, translate_error
from animal_audio.labels import LabelSet
from animal_audio.plots.clip import wrapped_name

#: One colour per model, the same in every chart (Okabe-Ito, colour-blind friendly).
MODEL_COLORS = {
    "hubert-finetune": "#0072B2",
    "hubert-probe": "#56B4E9",
    "yamnet-zeroshot": "#D55E00",
    "yamnet-probe": "#E69F00",
    "ensemble": "#009E73",
}
FALLBACK_COLOR = "#999999"
#: Files write_figures puts in a run dir; they load plotly.js from a local file (they work offline).
FIGURE_FILES = ("accuracy.html", "confusion.html", "per_class_f1.html", "reliability.html")
#: plotly.js beside the figures of a run given its own folder (--out): the folder opens anywhere.
PLOTLY_BUNDLE = "plotly.min.js"
#: plotly.js shared by the runs in the runs folder (4.8 MB once, not per run); versioned, so an upgrade
#: of plotly never serves older reports a plotly.js they were not written for.
SHARED_BUNDLE = "plotly-{version}.min.js"
SHARED_BUNDLE_GLOB = "plotly-*.min.js"
CONFUSION_SCALE = "Blues"
DIAGONAL_COLOR = "#555555"


def confusion_figure(metrics: dict[str, Any], model: str, lang: str = DEFAULT) -> go.Figure:
    """One model's confusion matrix: rows true class, columns predicted, counts written in."""
    figure = go.Figure(_confusion_trace(metrics, model, show_scale=True, lang=lang))
    title = tr("chart_confusion", lang, model=model_title(model, lang))
    figure.update_layout(title=title, **_confusion_layout(), height=520, width=600)
    figure.update_yaxes(autorange="reversed", title=tr("true_class", lang))
    figure.update_xaxes(title=tr("predicted_class", lang))
    return figure


def confusion_grid_figure(metrics: dict[str, Any]) -> go.Figure:
    """Every model's confusion matrix side by side (two per row), on one colour scale."""
    models = list(metrics["models"])
    columns = min(2, len(models))
    rows = math.ceil(len(models) / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[model_title(m) for m in models],
        horizontal_spacing=0.12,
        vertical_spacing=0.14,
    )
    for i, model in enumerate(models):
        figure.add_trace(
            _confusion_trace(metrics, model, show_scale=i == 0), row=i // columns + 1, col=i % columns + 1
        )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        title="Confusion matrices (rows: true class, columns: predicted)",
        **_confusion_layout(),
        height=460 * rows + 80,
        width=560 * columns + 80,
    )
    return figure


def per_class_f1_figure(metrics: dict[str, Any], lang: str = DEFAULT) -> go.Figure:
    """F1 per class, one bar per model in each class group."""
    figure = go.Figure()
    labels = LabelSet.from_dict(metrics.get("labels"))
    for model, entry in metrics["models"].items():
        figure.add_trace(
            go.Bar(
                name=model_title(model, lang),
                x=[wrapped_name(_class_text(c, lang, labels)) for c in labels.names],
                y=[entry["per_class"][c]["f1"] for c in labels.names],
                marker_color=MODEL_COLORS.get(model, FALLBACK_COLOR),
                hovertemplate="%{x}: F1 %{y:.2f}<extra>" + model_title(model, lang) + "</extra>",
            )
        )
    figure.update_layout(
        title=tr("chart_f1", lang),
        barmode="group",
        yaxis={"title": "F1", "range": [0, 1.05]},
        legend={"orientation": "h", "y": -0.15},
        height=460,
    )
    return figure


def accuracy_figure(metrics: dict[str, Any], lang: str = DEFAULT) -> go.Figure:
    """Accuracy and macro-F1, one bar per model (its colour); error bars: std over folds in CV."""
    figure = go.Figure()
    metric_names = {"accuracy": tr("chart_accuracy_bar", lang), "macro_f1": "Macro-F1"}
    for model, entry in metrics["models"].items():
        values = [entry[key] for key in metric_names]
        stds = [entry.get(f"{key}_std") for key in metric_names]
        figure.add_trace(
            go.Bar(
                name=model_title(model, lang),
                x=list(metric_names.values()),
                y=values,
                marker_color=MODEL_COLORS.get(model, FALLBACK_COLOR),
                text=[f"{v:.2%}" for v in values],
                textposition="inside",
                insidetextanchor="middle",
                error_y={"type": "data", "array": [s or 0.0 for s in stds], "visible": any(stds)},
                hovertemplate="%{x}: %{y:.2%}<extra>" + model_title(model, lang) + "</extra>",
            )
        )
    protocol = translate_error(metrics.get("protocol", {}).get("description", ""), lang)
    figure.update_layout(
        title=f"{tr('chart_accuracy', lang)}<br><sup>{protocol}</sup>",
        barmode="group",
        yaxis={"title": tr("chart_score", lang), "range": [0, 1.05], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.12},
        height=460,
    )
    return figure


def reliability_figure(metrics: dict[str, Any], lang: str = DEFAULT) -> go.Figure:
    """How sure vs how right, one panel per model: accuracy per confidence bin against the diagonal, ECE in the title."""
    models = [m for m, e in metrics["models"].items() if e.get("reliability")]
    columns = max(1, min(2, len(models)))
    rows = max(1, math.ceil(len(models) / columns))
    titles = [f"{model_title(m, lang)} (ECE {metrics['models'][m]['ece']:.3f})" for m in models]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles or None, vertical_spacing=0.16)
    for i, model in enumerate(models):
        bins = metrics["models"][model]["reliability"]
        width = bins["lower"][1] - bins["lower"][0] if len(bins["lower"]) > 1 else 1.0
        centres = [low + width / 2 for low in bins["lower"]]
        where = {"row": i // columns + 1, "col": i % columns + 1}
        figure.add_trace(
            go.Bar(
                x=centres,
                y=bins["accuracy"],
                width=width * 0.9,
                customdata=list(zip(bins["count"], bins["confidence"])),
                marker_color=MODEL_COLORS.get(model, FALLBACK_COLOR),
                name=model_title(model, lang),
                showlegend=False,
                hovertemplate="%{x:.0%} → %{y:.0%} (n = %{customdata[0]})<extra>"
                + model_title(model, lang)
                + "</extra>",
            ),
            **where,
        )
        figure.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line={"dash": "dash", "color": DIAGONAL_COLOR},
                name=tr("reliability_diagonal", lang),
                showlegend=i == 0,
                hoverinfo="skip",
            ),
            **where,
        )
    figure.update_xaxes(range=[0, 1], tickformat=".0%", title=tr("reliability_x", lang))
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%", title=tr("reliability_y", lang))
    figure.update_layout(
        title=tr("chart_reliability", lang),
        legend={"orientation": "h", "y": -0.12},
        height=420 * rows + 80,
        width=560 * columns + 80,
    )
    return figure


def write_figures(
    metrics: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    shared_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """The run's HTML figures, written atomically, sharing one local plotly.js (no CDN needed): the one in
    `shared_dir` (the runs folder), referenced by a relative path, else a copy in `out_dir`."""
    out_dir = Path(out_dir)
    include = plotly_include(out_dir, shared_dir)
    figures = dict(
        zip(
            FIGURE_FILES,
            (
                accuracy_figure(metrics),
                confusion_grid_figure(metrics),
                per_class_f1_figure(metrics),
                reliability_figure(metrics),
            ),
        )
    )
    written = []
    for name, figure in figures.items():
        html = figure.to_html(include_plotlyjs=include, full_html=True)
        written.append(write_text(out_dir / name, html))
    return written


def plotly_include(out_dir: Path, shared_dir: str | os.PathLike[str] | None) -> str:
    """`include_plotlyjs` for a figure in `out_dir`: the runs folder's shared plotly.js by a relative path, else
    a copy beside it ("directory"); writes the bundle when it is missing."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    if shared_dir is None:
        bundle, include = Path(out_dir) / PLOTLY_BUNDLE, "directory"
    else:
        bundle = Path(shared_dir) / SHARED_BUNDLE.format(version=get_plotlyjs_version())
        include = Path(os.path.relpath(bundle, out_dir)).as_posix()  # plotly takes a str ending .js as src
    if not bundle.is_file():
        write_text(bundle, get_plotlyjs())
    return include


def _confusion_trace(
    metrics: dict[str, Any], model: str, *, show_scale: bool, lang: str = DEFAULT
) -> go.Heatmap:
    entry = metrics["models"][model]
    counts = entry["confusion"]
    labels = LabelSet.from_dict(metrics.get("labels"))
    names = [wrapped_name(_class_text(c, lang, labels)) for c in labels.names]
    # Colour by share of the true class, so classes with fewer test clips read the same.
    shares = [[c / max(sum(row), 1) for c in row] for row in counts]
    return go.Heatmap(
        z=shares,
        x=names,
        y=names,
        text=counts,
        texttemplate="%{text}",
        colorscale=CONFUSION_SCALE,
        zmin=0,
        zmax=1,
        showscale=show_scale,
        colorbar={"title": tr("chart_share", lang)} if show_scale else None,
        hovertemplate=tr("hover_confusion", lang) + "<extra>" + model_title(model, lang) + "</extra>",
    )


def _confusion_layout() -> dict[str, Any]:
    return {"margin": {"l": 110, "r": 30, "t": 80, "b": 90}}


def _class_text(label: str, lang: str, labels: LabelSet) -> str:
    """An animal's name in `lang` (no emoji: axis labels stay short); another label set's display name."""
    return tr(f"class_{label}", lang) if labels.is_animals else labels.display(label)
