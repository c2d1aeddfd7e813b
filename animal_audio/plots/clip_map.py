"""The map of a run's ESC-50 clips in one model's embedding space, with a visitor's clip as a star, and its
nearest clips as table rows. The two models' maps side by side show which animals each keeps apart."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from animal_audio.clip_map import ClipIndex
from animal_audio.i18n import DEFAULT, class_name, tr
from animal_audio.labels import CLASSES, COLORS
from animal_audio.plots.clip import FONT, wrapped_name

MAP_HEIGHT = 460
#: Fixed-width legend entries: three animals a row on a phone, five on a desktop column; no scrolling box.
LEGEND_ENTRY_WIDTH = 96
POINT_SIZE = 7
STAR_SIZE = 22
STAR_COLOR = "#111111"
#: The nearest clips' columns (catalogue keys, animal_audio/i18n).
NEIGHBOUR_HEADERS = ("col_clip", "col_animal", "col_distance")


def map_figure(
    index: ClipIndex, query_xy: Optional[Sequence[float]], title: str, lang: str = DEFAULT
) -> go.Figure:
    """The clips coloured by class (one legend entry per animal; hover: clip name and animal), and the
    visitor's clip (`query_xy`, from `clip_map.place`) as a big star; None draws the clips only."""
    fig = go.Figure()
    yours = tr("your_clip", lang)
    for label in CLASSES:
        rows = index.labels == label
        if not rows.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=index.xy[rows, 0],
                y=index.xy[rows, 1],
                mode="markers",
                name=wrapped_name(class_name(label, lang)),  # fits its legend entry's width
                marker=dict(color=COLORS[label], size=POINT_SIZE, opacity=0.8),
                customdata=np.stack([index.clips[rows], [class_name(label, lang)] * int(rows.sum())], axis=1),
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            )
        )
    if query_xy is not None:
        fig.add_trace(
            go.Scatter(
                x=[float(query_xy[0])],
                y=[float(query_xy[1])],
                mode="markers",
                name=yours,
                marker=dict(
                    symbol="star", size=STAR_SIZE, color=STAR_COLOR, line=dict(color="white", width=2)
                ),
                hovertemplate=yours + "<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
        height=MAP_HEIGHT,
        margin=dict(l=8, r=8, t=44, b=8),
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend=dict(
            orientation="h", yanchor="top", y=-0.02, x=0, entrywidth=LEGEND_ENTRY_WIDTH, font=dict(size=11)
        ),
    )
    # The PCA axes have no units a visitor could read: only where the clips lie relative to each other.
    # Not to scale (the panel is filled): the clouds, not the exact distances, are what a visitor compares.
    axes = dict(
        showticklabels=False, zeroline=False, showgrid=False, title_text="", showline=True, mirror=True
    )
    fig.update_xaxes(**axes, linecolor="#dddddd")
    fig.update_yaxes(**axes, linecolor="#dddddd")
    return fig


def neighbour_rows(neighbours: Optional[Sequence[dict[str, Any]]], lang: str = DEFAULT) -> list[list[Any]]:
    """The nearest clips of an answer's "neighbours" as rows under NEIGHBOUR_HEADERS ([] when none);
    `examples.clip_path(row[0])` gives a clip's file for a player."""
    return [
        [n["clip"], class_name(n["label"], lang), round(float(n["distance"]), 3)] for n in neighbours or ()
    ]
