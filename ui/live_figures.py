"""The live monitor's figures (kept apart from ui/figures.py, which draws a finished analysis)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.windows.spectrogram import Spectrogram


def live_spectrogram(spec: Spectrogram, offset_s: float = 0.0, height: int = 220) -> go.Figure:
    """The latest seconds of audio as a log-mel spectrogram on the stream's own time axis (`offset_s`: stream time
    of its first sample, so it lines up with the window track). Mel rows are drawn evenly spaced, as on the Analyze
    page, and labelled with their centre frequency in Hz."""
    bands = np.arange(len(spec.freqs_hz))
    hz = np.repeat(spec.freqs_hz[:, None], spec.db.shape[1], axis=1)
    fig = go.Figure(go.Heatmap(x=spec.times_s + offset_s, y=bands, z=spec.db, customdata=hz, colorscale="Viridis",
                               zmin=-80, zmax=0, colorbar=dict(title="dB", thickness=12),
                               hovertemplate="%{x:.1f} s · %{customdata:.0f} Hz · %{z:.0f} dB<extra></extra>"))
    ticks = np.unique(np.linspace(0, len(bands) - 1, 6).round().astype(int)) if len(bands) else np.zeros(0, int)
    fig.update_yaxes(title_text="Hz (mel scale)", tickvals=ticks.tolist(),
                     ticktext=[f"{spec.freqs_hz[t]:.0f}" for t in ticks])
    fig.update_xaxes(title_text="stream time (s)")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig
