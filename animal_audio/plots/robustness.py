"""Figures of the robustness lab: a run's accuracy per transform level, and one clip's sweep."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from animal_audio.formatting import model_title
from animal_audio.i18n import DEFAULT, messages, tr
from animal_audio.plots.results import FALLBACK_COLOR, MODEL_COLORS

COLUMNS = 3
ROW_HEIGHT = 300


def robustness_figure(document: dict[str, Any], lang: str = DEFAULT) -> go.Figure:
    """Accuracy vs level, one panel per transform, one line per model (its colour); the dotted line at
    the left of each panel's levels is the model's accuracy on the unchanged clips. `lang`: its words."""
    rows = document["rows"]
    transforms = list(dict.fromkeys(r["transform"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    meta = document.get("transforms", {})
    grid_rows = max(1, -(-len(transforms) // COLUMNS))
    figure = make_subplots(
        rows=grid_rows,
        cols=COLUMNS,
        subplot_titles=[transform_words(t, meta, lang)[0] for t in transforms],
        shared_yaxes=True,  # one accuracy scale: panels keep their width on a phone
        horizontal_spacing=0.04,
        vertical_spacing=0.22,
    )
    for i, name in enumerate(transforms):
        row, col = i // COLUMNS + 1, i % COLUMNS + 1
        unit = transform_words(name, meta, lang)[1]
        figure.update_xaxes(title={"text": unit, "font": {"size": 11}, "standoff": 4}, row=row, col=col)
        for model in models:
            points = [r for r in rows if r["transform"] == name and r["model"] == model]
            color = MODEL_COLORS.get(model, FALLBACK_COLOR)
            figure.add_trace(
                go.Scatter(
                    x=[f"{p['level']:g}" for p in points],
                    y=[p["accuracy"] for p in points],
                    mode="lines+markers",
                    name=model_title(model, lang),
                    legendgroup=model,
                    showlegend=i == 0,
                    line={"color": color},
                    hovertemplate="%{x}: %{y:.1%}<extra>" + model_title(model, lang) + "</extra>",
                ),
                row=row,
                col=col,
            )
            baseline = (document.get("baseline") or {}).get(model)
            if baseline is not None:
                figure.add_hline(
                    y=baseline, line={"color": color, "dash": "dot", "width": 1}, row=row, col=col
                )
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%")
    figure.update_xaxes(type="category")
    figure.update_layout(
        title=tr(
            "chart_robustness", lang, fold=document.get("test_fold", "?"), clips=document.get("clips", "?")
        ),
        legend={"orientation": "h", "y": -0.12},
        height=ROW_HEIGHT * grid_rows + 140,
    )
    return figure


def transform_words(name: str, meta: dict[str, Any], lang: str = DEFAULT) -> tuple[str, str]:
    """(title, unit) of a scored transform in `lang`; robustness.json's own words for one the catalogue lacks."""
    info, key = meta.get(name) or {}, name.replace("-", "_")
    if lang == DEFAULT or f"transform_{key}" not in messages(lang):
        return info.get("title", name), info.get("unit", "")
    return tr(f"transform_{key}", lang), tr(f"unit_{key}", lang)


def sweep_figure(result: dict[str, Any], lang: str = DEFAULT) -> go.Figure:
    """One clip's sweep (robustness.sweep): each model's probability for its original answer per level;
    `lang`: the axis' words (the transform and its unit come in `result` as they should read)."""
    figure = go.Figure()
    for entry in result["models"]:
        model = entry["model"]
        figure.add_trace(
            go.Scatter(
                x=[f"{level:g}" for level in result["levels"]],
                y=entry["probabilities"],
                mode="lines+markers",
                name=f"{model_title(model, lang)}: {entry['class']}",
                line={"color": MODEL_COLORS.get(model, FALLBACK_COLOR)},
                hovertemplate="%{x}: %{y:.1%}<extra>" + model_title(model, lang) + "</extra>",
            )
        )
    figure.update_layout(
        title=tr("sweep_title", lang),
        xaxis={"title": f"{result['transform']} ({result['unit']})", "type": "category"},
        yaxis={"title": tr("probability", lang), "range": [0, 1.05], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.2},
        height=380,
    )
    return figure
