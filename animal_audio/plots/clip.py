"""Figures about one clip: class probabilities, waveform, spectrogram.

Both models' probability charts are drawn by the same function, so class order,
colours and axis range always match and a reader can compare them bar by bar.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from animal_audio.audio import SAMPLE_RATE
from animal_audio.i18n import DEFAULT, class_name, tr
from animal_audio.labels import ANIMALS, CLASSES, COLORS, LabelSet

CHART_HEIGHT = 340
#: A chart that only says why there are no bars: short, so a phone does not scroll past blank space.
MESSAGE_HEIGHT = 200
CLIP_FIGURE_HEIGHT = 220
DIMMED_OPACITY = 0.45
#: Waveforms are drawn as a min/max envelope over this many columns: enough for any screen.
WAVEFORM_COLUMNS = 1200
N_MELS = 64
FFT_SIZE = 1024
HOP = 256
#: Class names longer than this wrap before their bracket ("Насекомые<br>(летающие)"): a phone keeps room for bars.
WRAP_TICK_CHARS = 18
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=8, r=24, t=62 if "<br>" in title else 44, b=36),  # a subtitle line needs room
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
    )
    return fig


def probability_figure(
    probs: Sequence[float], title: str, lang: str = DEFAULT, labels: LabelSet = ANIMALS
) -> go.Figure:
    """Horizontal bars over the classes of `labels` (the ten animals unless told) in their order; the top class
    is highlighted. Another label set's classes by their display names, in `LabelSet.color`."""
    names_in_order = labels.names
    values = np.asarray(probs, dtype=float).reshape(-1)
    if values.shape != (len(names_in_order),):
        raise ValueError(f"expected {len(names_in_order)} probabilities, got {values.shape}")
    top = int(np.argmax(values))
    names = [wrapped_name(class_name(c, lang, labels)) for c in names_in_order]
    colors = [COLORS[c] for c in CLASSES] if labels.is_animals else [labels.color(c) for c in names_in_order]
    percent = values * 100
    fig = go.Figure(
        go.Bar(
            x=percent,
            y=names,
            orientation="h",
            marker=dict(
                color=colors,
                opacity=[1.0 if i == top else DIMMED_OPACITY for i in range(len(names))],
                line=dict(
                    color=["#111111" if i == top else "rgba(0,0,0,0)" for i in range(len(names))],
                    width=2,
                ),
            ),
            text=[f"<b>{p:.0f}%</b>" if i == top else f"{p:.0f}%" for i, p in enumerate(percent)],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 118], ticksuffix="%", showgrid=True, gridcolor="#eeeeee", fixedrange=True)
    fig.update_yaxes(autorange="reversed", fixedrange=True, tickfont=dict(size=13))
    return _layout(fig, title, CHART_HEIGHT if labels.is_animals else bars_height(len(names)))


def bars_height(classes: int) -> int:
    """A chart of fewer bars is shorter (bars as thick as the ten animals'), never taller than theirs."""
    return min(CHART_HEIGHT, 100 + 26 * classes)


def wrapped_name(name: str) -> str:
    """A long class name on two lines (an axis label): the chart keeps its room on a phone."""
    return name.replace(" (", "<br>(", 1) if len(name) > WRAP_TICK_CHARS else name


def message_figure(title: str, message: str, height: int = MESSAGE_HEIGHT) -> go.Figure:
    """A blank chart that says why there is nothing to show (e.g. a model is unavailable)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        align="center",
        font=dict(size=14, color="#555555"),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height)


def waveform_figure(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, lang: str = DEFAULT) -> go.Figure:
    """Min/max envelope of the clip: cheap to send to a browser however long the clip is."""
    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    columns = max(1, min(WAVEFORM_COLUMNS, wave.size))
    edges = np.linspace(0, wave.size, columns + 1).astype(int)
    lows = np.minimum.reduceat(wave, edges[:-1]) if wave.size else np.zeros(1)
    highs = np.maximum.reduceat(wave, edges[:-1]) if wave.size else np.zeros(1)
    times = edges[:-1] / sample_rate
    fig = go.Figure(
        [
            go.Scatter(
                x=times, y=highs, mode="lines", line=dict(width=0.5, color="#3b6ea8"), hoverinfo="skip"
            ),
            go.Scatter(
                x=times,
                y=lows,
                mode="lines",
                line=dict(width=0.5, color="#3b6ea8"),
                fill="tonexty",
                fillcolor="rgba(59,110,168,0.55)",
                hoverinfo="skip",
            ),
        ]
    )
    fig.update_xaxes(title_text=tr("time_axis", lang), showgrid=False)
    fig.update_yaxes(range=[-1, 1], showgrid=True, gridcolor="#eeeeee", zeroline=False)
    return _layout(fig, tr("waveform", lang), CLIP_FIGURE_HEIGHT)


def spectrogram_figure(
    waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, lang: str = DEFAULT
) -> go.Figure:
    """Log-mel spectrogram, the kind of picture both models start from."""
    import librosa

    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    mel = librosa.feature.melspectrogram(
        y=wave, sr=sample_rate, n_fft=FFT_SIZE, hop_length=HOP, n_mels=N_MELS, fmax=sample_rate / 2
    )
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sample_rate, hop_length=HOP)
    freqs = librosa.mel_frequencies(n_mels=N_MELS, fmax=sample_rate / 2)
    fig = go.Figure(
        go.Heatmap(
            z=np.round(db).astype(np.int16),  # whole dB: a third of the bytes, same picture
            x=times,
            y=np.arange(N_MELS),
            colorscale="Magma",
            zmin=-80,
            zmax=0,
            colorbar=dict(title=dict(text="dB"), thickness=10),
            hovertemplate="%{x:.2f} s: %{z} dB<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=tr("time_axis", lang))
    # Mel bands are evenly spaced in pitch, so label a few of them in Hz instead of a Hz axis.
    ticks = [hz for hz in (250, 500, 1000, 2000, 4000, 8000) if hz <= sample_rate / 2]
    fig.update_yaxes(
        title_text="Hz",
        tickvals=[int(np.argmin(np.abs(freqs - hz))) for hz in ticks],
        ticktext=[f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in ticks],
    )
    return _layout(fig, tr("spectrogram", lang), CLIP_FIGURE_HEIGHT + 40)
