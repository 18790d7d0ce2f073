"""Plotly figures the pages share; they read typed results from core and never compute model outputs."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.answers.analyzer import AnalysisResult, HeadOutput, Placement
from core.heads.artifacts import Projection


#: distinct label colours (Streamlit's own plotly theme would draw every class in a shade of blue)
LABEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def spectrogram_with_track(result: AnalysisResult, head: HeadOutput) -> go.Figure:
    """The clip's spectrogram, and under it on the same time axis one column per window: the head's class
    probabilities, with windows that failed the quality gate greyed out."""
    spec = result.spectrogram
    centres = np.array([w.start_s + min(w.end_s - w.start_s, max(w.content_s, 0.0)) / 2 for w in result.windows])
    usable = np.array([q.usable for q in result.quality])
    probs = np.asarray(head.window_probs, float)
    shown = np.where(usable[:, None], probs, np.nan).T  # [k, n]
    k = len(head.labels)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.62, 0.38])
    # rows are mel bands, drawn evenly spaced (a log axis would stretch the top band) and labelled in Hz
    bands = np.arange(len(spec.freqs_hz))
    hz = np.repeat(spec.freqs_hz[:, None], spec.db.shape[1], axis=1)
    fig.add_trace(go.Heatmap(x=spec.times_s, y=bands, z=spec.db, customdata=hz, colorscale="Viridis", zmin=-80, zmax=0,
                             colorbar=dict(title="dB", len=0.58, y=0.72), name="spectrogram",
                             hovertemplate="%{x:.2f} s · %{customdata:.0f} Hz · %{z:.0f} dB<extra></extra>"),
                  row=1, col=1)
    ticks = np.unique(np.linspace(0, len(bands) - 1, 6).round().astype(int))
    text = np.where(np.isnan(shown), "", np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(shown)))
    fig.add_trace(go.Heatmap(x=centres, y=list(head.labels), z=shown, zmin=0, zmax=1, colorscale="Blues",
                             colorbar=dict(title="p", len=0.36, y=0.18), text=text,
                             texttemplate="%{text}" if len(centres) <= 30 and k <= 8 else None,
                             hovertemplate="window at %{x:.1f} s · %{y}: %{z:.2f}<extra></extra>",
                             name=head.name), row=2, col=1)
    # one clickable marker per window along the top of the spectrogram: selecting it plays that 2-s segment
    fig.add_trace(go.Scatter(x=centres, y=[len(bands) - 3] * len(centres), mode="markers", name="windows",
                             marker=dict(symbol="triangle-down", size=11, color="white",
                                         line=dict(width=1, color="black")),
                             customdata=np.arange(len(centres)),
                             hovertext=[f"window {i}: {w.start_s:.1f}-{w.end_s:.1f} s (click to play)"
                                        for i, w in enumerate(result.windows)], hoverinfo="text"), row=1, col=1)
    bad = centres[~usable]
    if len(bad):
        fig.add_trace(go.Scatter(x=bad, y=[head.labels[k // 2]] * len(bad), mode="markers",
                                 marker=dict(symbol="x", size=10, color="grey"), name="failed quality gate",
                                 hovertext=[result.quality[i].reason() for i in np.flatnonzero(~usable)],
                                 hoverinfo="text"), row=2, col=1)
    fig.update_yaxes(title_text="Hz (mel scale)", tickvals=ticks.tolist(),
                     ticktext=[f"{spec.freqs_hz[t]:.0f}" for t in ticks], row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", range=[0, max(result.duration_s, 2.0)], row=2, col=1)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


def pca_placement(placement: Placement, projection: Projection, unit: str, people: str = "person") -> go.Figure:
    """The head's training units in their first two principal components, coloured by label (hover: id and
    person), with this clip's windows and its overall position on top."""
    fig = go.Figure()
    coords = projection.coords
    for j, lab in enumerate(sorted(set(projection.labels.tolist()))):
        m = projection.labels == lab
        fig.add_trace(go.Scattergl(
            x=coords[m, 0], y=coords[m, 1], mode="markers", name=f"training: {lab}",
            marker=dict(size=5, opacity=0.5, color=LABEL_COLOURS[j % len(LABEL_COLOURS)]),
            customdata=np.stack([projection.groups[m], projection.uids[m], projection.splits[m]], axis=1),
            hovertemplate=f"{lab}<br>{people} %{{customdata[0]}}<br>%{{customdata[1]}} (%{{customdata[2]}})"
                          "<extra></extra>"))
    if len(placement.window_coords):
        fig.add_trace(go.Scatter(x=placement.window_coords[:, 0], y=placement.window_coords[:, 1], mode="markers",
                                 name="this clip: windows", marker=dict(size=8, symbol="circle-open", color="black"),
                                 text=[f"window {i}" for i in placement.window_index],
                                 hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[placement.clip_coords[0]], y=[placement.clip_coords[1]], mode="markers",
                             name="this clip", marker=dict(size=16, symbol="star", color="crimson",
                                                           line=dict(width=1, color="black")),
                             hovertemplate="this clip<extra></extra>"))
    ev = projection.explained
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title=f"PC1 ({ev[0]:.0%} of variance)", yaxis_title=f"PC2 ({ev[1]:.0%} of variance)",
                      legend=dict(orientation="h", y=-0.2))
    return fig
