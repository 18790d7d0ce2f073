"""The live monitor's figures (kept apart from ui/figures.py, which draws a finished analysis)."""
from __future__ import annotations

import plotly.graph_objects as go

from core.windows.spectrogram import Spectrogram
from ui.figures import hz_axis, mel_heatmap


def live_spectrogram(spec: Spectrogram, offset_s: float = 0.0, height: int = 220) -> go.Figure:
    """The latest seconds of audio as a log-mel spectrogram on the stream's own time axis (`offset_s`: stream time
    of its first sample, so it lines up with the window track). Mel rows are drawn evenly spaced, as on the Analyze
    page, and labelled with their centre frequency in Hz."""
    fig = go.Figure(mel_heatmap(spec, offset_s, colorbar=dict(title="dB", thickness=12)))
    fig.update_yaxes(**hz_axis(spec))
    fig.update_xaxes(title_text="stream time (s)")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig
