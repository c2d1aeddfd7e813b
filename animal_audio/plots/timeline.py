"""When each model hears what: the clip's waveform above one heatmap per model (class x time), on one time axis.

A model's timeline rows are overlapping windows (YAMNet 0.96 s every 0.48 s, HuBERT ~1 s every 0.5 s), which
a heatmap cannot draw one over another: each cell holds its window's centre and reaches halfway to its
neighbours', the first from 0 s and the last to the clip's end, so the cells tile the clip; the hover names
the window's real span (the last one clamped to the clip's end).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from animal_audio.audio import SAMPLE_RATE
from animal_audio.formatting import answer_title
from animal_audio.i18n import DEFAULT, class_name, tr
from animal_audio.labels import CLASSES
from animal_audio.plots.clip import FONT, waveform_figure, wrapped_name

WAVEFORM_HEIGHT = 110
HEATMAP_HEIGHT = 240
#: A model without a timeline gets a short row with its reason.
MESSAGE_ROW_HEIGHT = 70
TITLE_HEIGHT = 40
#: The colour scale: a short horizontal bar above the first row, at the right.
COLORBAR_HEIGHT = 46
COLORBAR_PIXELS = 150
BOTTOM_MARGIN = 30
#: White (nothing) to dark blue (sure): reads in greyscale too, and is not the bar charts' class colours.
COLORSCALE = "Blues"

#: A model's timeline (Timeline.as_dict(): start_seconds, window_seconds, probabilities) or why it has none.
Row = Union[Mapping[str, Any], str, None]


def timeline_figure(
    waveform: np.ndarray,
    models: Mapping[str, Row],
    sample_rate: int = SAMPLE_RATE,
    *,
    title: str = "",
    lang: str = DEFAULT,
) -> go.Figure:
    """The waveform on top, then per model (title -> timeline, or a line saying why there is none) a heatmap
    of its ten probabilities over time; every row shares the time axis in seconds, so they line up.
    `title`: the figure's own (none in the app, whose accordion names it); `lang`: its words' language."""
    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    seconds = max(wave.size / sample_rate, 1.0 / sample_rate)
    titles = list(models)
    heights = [WAVEFORM_HEIGHT] + [
        HEATMAP_HEIGHT if isinstance(models[t], Mapping) else MESSAGE_ROW_HEIGHT for t in titles
    ]
    figure = make_subplots(
        rows=len(heights),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.16 / len(heights),
        row_heights=heights,
        subplot_titles=["", *titles],  # the waveform needs no title: the colour scale sits above it
    )
    for trace in waveform_figure(wave, sample_rate).data:
        figure.add_trace(trace, row=1, col=1)
    figure.update_yaxes(range=[-1, 1], showticklabels=False, showgrid=False, zeroline=False, row=1, col=1)
    # Row titles at the right: a long one runs left over the class names, not off a phone's screen.
    figure.update_annotations(x=1, xanchor="right", font={"size": 13})
    for row, name in enumerate(titles, start=2):
        timeline = models[name]
        if isinstance(timeline, Mapping):
            figure.add_trace(_heatmap(timeline, seconds, name, lang), row=row, col=1)
            figure.update_yaxes(autorange="reversed", tickfont={"size": 11}, row=row, col=1)
        else:
            _message(figure, row, str(timeline or ""))
    top = TITLE_HEIGHT + COLORBAR_HEIGHT if title else COLORBAR_HEIGHT  # the colour scale sits above the rows
    figure.update_xaxes(range=[0, seconds], showgrid=False)
    figure.update_xaxes(
        ticksuffix=tr("time_suffix", lang), row=len(heights), col=1
    )  # no axis title: it fell on the ticks
    figure.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        height=top + BOTTOM_MARGIN + int(sum(heights) * 1.12),
        margin={"l": 8, "r": 20, "t": top, "b": BOTTOM_MARGIN},
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
        coloraxis={
            "colorscale": COLORSCALE,
            "cmin": 0.0,
            "cmax": 1.0,
            # Across the top right, not down the side: on a phone the heatmaps keep the width.
            "colorbar": {
                "title": {"text": tr("probability", lang), "side": "top"},
                "orientation": "h",
                "tickformat": ".0%",
                "dtick": 0.5,
                "thickness": 8,
                "lenmode": "pixels",
                "len": COLORBAR_PIXELS,
                "x": 1.0,
                "xanchor": "right",
                "y": 1.0,
                "yanchor": "bottom",
                "yref": "paper",
            },
        },
    )
    return figure


def cell_edges(start_seconds: np.ndarray, window_seconds: float, seconds: float) -> np.ndarray:
    """Edges of the cells (one more than windows): 0, halfway between window centres, the clip's end."""
    starts = np.asarray(start_seconds, dtype=np.float64).reshape(-1)
    stops = np.minimum(starts + window_seconds, seconds)
    centres = (starts + stops) / 2
    return np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [seconds]])


def _heatmap(timeline: Mapping[str, Any], seconds: float, title: str, lang: str) -> go.Heatmap:
    starts = np.asarray(timeline["start_seconds"], dtype=np.float64).reshape(-1)
    probs = np.asarray(timeline["probabilities"], dtype=np.float64).reshape(len(starts), len(CLASSES))
    window = float(timeline["window_seconds"])
    stops = np.minimum(starts + window, seconds)
    spans = [tr("window_span", lang, start=f"{a:.2f}", stop=f"{b:.2f}") for a, b in zip(starts, stops)]
    return go.Heatmap(
        z=np.round(probs.T, 3),
        x=cell_edges(starts, window, seconds),
        y=[wrapped_name(class_name(c, lang)) for c in CLASSES],  # a phone keeps the cells' room
        customdata=[spans] * len(CLASSES),
        coloraxis="coloraxis",
        xgap=1,
        hovertemplate="%{y}: %{z:.0%}<br>%{customdata}<extra>" + title + "</extra>",
    )


def _message(figure: go.Figure, row: int, message: str) -> None:
    """A row with only a line of text: why this model has no timeline."""
    low, high = figure.layout[f"yaxis{row if row > 1 else ''}"].domain
    figure.add_annotation(  # in paper units: the page's plotly.js put an axis-domain one on the first row
        text=message,
        x=0.5,
        y=(low + high) / 2,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 13, "color": "#555555"},
    )
    figure.update_yaxes(visible=False, row=row, col=1)


def heatmaps(figure: go.Figure) -> list[Any]:
    """The figure's heatmap traces, one per model with a timeline (for tests and callers)."""
    return [trace for trace in figure.data if trace.type == "heatmap"]


def timeline_rows(
    entries: Mapping[str, Mapping[str, Any]], titles: Mapping[str, str], lang: str = DEFAULT
) -> dict[str, Row]:
    """The app's answer (side -> entry) as rows: a model's title and timeline, or its title and state."""
    from animal_audio.demo.text import state_text

    rows: dict[str, Row] = {}
    for side, entry in entries.items():
        timeline: Optional[Mapping[str, Any]] = entry.get("timeline") if entry.get("available") else None
        title = answer_title(entry, lang, titles.get(side, side))
        rows[title] = (
            timeline
            if timeline
            else f"{titles.get(side, side)}: {state_text(str(entry.get('state', 'unavailable')), lang)}"
        )
    return rows
